"""The periods a growth or a comparison is shown over: a year, quarter or month beside the one before it, a
range of exactly two, a period widened by one bucket."""

from __future__ import annotations

import re
from datetime import date

from companybrain.semantic.period import parse_period

EXPLICIT_GRAIN = re.compile(r"\b(?:by|per|each|every) (?:year|quarter|month|week|day)\b|\b(?:month|quarter)ly\b")


def with_one_before(period: str, grain: str, today: date) -> str | None:
    """A period widened by one bucket of `grain` at its start (2025 by quarter: 2024-10-01..2025-12-31)."""
    found = parse_period(period, today)
    months = {"year": 12, "quarter": 3, "month": 1}.get(grain)
    if months is None:
        return None
    index = found.start.year * 12 + found.start.month - 1 - months
    start = date(index // 12, index % 12 + 1, 1)
    return f"{start.isoformat()}..{date.fromordinal(found.end.toordinal() - 1).isoformat()}"


def two_periods(period: str | None, grain: str) -> list[str] | None:
    """A range of exactly two whole years, quarters or months, as the two periods, latest first."""
    if period is None or ".." not in period:
        return None
    start, end = (date.fromisoformat(d) for d in period.split(".."))
    months = (end.year - start.year) * 12 + end.month - start.month + 1
    step = {"year": 12, "quarter": 3, "month": 1}.get(grain)
    if step is None or start.day != 1 or months != 2 * step:
        return None
    later = date(start.year + (start.month - 1 + step) // 12, (start.month - 1 + step) % 12 + 1, 1)

    def label(d: date) -> str:
        if grain == "year":
            return str(d.year)
        return f"{d.year}-Q{(d.month - 1) // 3 + 1}" if grain == "quarter" else f"{d.year}-{d.month:02d}"

    return [label(later), label(start)]


def growth_period(period: str | None, grain: str | None, today: date) -> tuple[str | None, str] | None:
    """The period and grain that show growth: a year, quarter or month beside the one before it; a range or
    an explicit grain as asked; None when the question does not say over what."""
    if period is None and grain in ("year", "quarter", "month"):
        # "year over year": the last complete periods, never the one still running
        count = {"year": 2, "quarter": 4, "month": 12}[grain]
        if grain == "year":
            return f"{today.year - count}-01-01..{today.year - 1}-12-31", grain
        months = 3 if grain == "quarter" else 1
        end = _month_start(today.year, today.month, -((today.month - 1) % months))
        start = _month_start(end.year, end.month, -count * months)
        return f"{start}..{date.fromordinal(end.toordinal() - 1)}", grain
    if period is None or ".." in period:
        return (period, grain) if grain else None
    relative = {"last_year": str(today.year - 1), "this_year": None, "last_quarter": _quarter(today, -1),
                "this_quarter": None, "last_month": _month(today, -1)}  # fmt: skip
    period = relative.get(period, period)
    if period is None:
        return None
    if re.fullmatch(r"\d{4}", period):
        year = int(period)
        return f"{year - 1}-01-01..{year}-12-31", "year"
    if m := re.fullmatch(r"(\d{4})-Q([1-4])", period):
        year, quarter = int(m[1]), int(m[2])
        prev_year, prev_quarter = (year, quarter - 1) if quarter > 1 else (year - 1, 4)
        end = date(year + (quarter == 4), quarter * 3 % 12 + 1, 1)
        return f"{date(prev_year, prev_quarter * 3 - 2, 1)}..{date.fromordinal(end.toordinal() - 1)}", "quarter"
    if m := re.fullmatch(r"(\d{4})-(\d{2})", period):
        year, month = int(m[1]), int(m[2])
        start = _month_start(year, month, -1)
        end = _month_start(year, month, 1)
        return f"{start}..{date.fromordinal(end.toordinal() - 1)}", "month"
    return None


def _month_start(year: int, month: int, shift: int) -> date:
    index = year * 12 + month - 1 + shift
    return date(index // 12, index % 12 + 1, 1)


def _quarter(today: date, shift: int) -> str:
    index = today.year * 4 + (today.month - 1) // 3 + shift
    return f"{index // 4}-Q{index % 4 + 1}"


def _month(today: date, shift: int) -> str:
    start = _month_start(today.year, today.month, shift)
    return f"{start.year}-{start.month:02d}"

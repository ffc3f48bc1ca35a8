"""Periods (`2025-Q4`, `2025-03`, `2025`, `ytd`, `last_quarter`, `2025-01-01..2025-06-30`) and time grains."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta

from sqlglot import exp

from companybrain.errors import QueryError


@dataclass(frozen=True)
class Period:
    """A half-open date range [start, end) with the text it came from; `relative` says in words what a
    period counted from today covers (None for a calendar period written as dates)."""

    text: str
    start: date
    end: date
    relative: str | None = None

    def condition(self, time: exp.Expr) -> exp.Expr:
        start = exp.Cast(this=exp.Literal.string(self.start.isoformat()), to=exp.DataType.build("DATE"))
        end = exp.Cast(this=exp.Literal.string(self.end.isoformat()), to=exp.DataType.build("DATE"))
        return exp.and_(exp.GTE(this=time.copy(), expression=start), exp.LT(this=time.copy(), expression=end))

    @property
    def last(self) -> date:
        return self.end - timedelta(days=1)

    def as_dict(self) -> dict[str, str]:
        return {"period": self.text, "from": self.start.isoformat(), "to": self.last.isoformat()}

    def describe(self, today: date) -> str | None:
        """What a relative period covers, in words, for the answer (None for a period written as dates)."""
        if self.relative is None:
            return None
        days = (self.end - self.start).days
        text = f"{self.text} is {self.start.isoformat()} to {self.last.isoformat()} ({days} days): {self.relative}"
        after = (self.end - (today + timedelta(days=1))).days
        if after > 0:
            text += f"; {after} of its days are after today ({today.isoformat()})"
        return text


def _quarter_start(d: date) -> date:
    return date(d.year, 3 * ((d.month - 1) // 3) + 1, 1)


def _add_months(d: date, months: int) -> date:
    index = d.year * 12 + d.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def parse_period(text: str, today: date) -> Period:
    """Parse a period; relative ones (last_quarter, ytd, ...) count from `today`."""
    t = text.strip().lower()
    if m := re.fullmatch(r"(\d{4})-?q([1-4])", t):
        start = date(int(m[1]), 3 * int(m[2]) - 2, 1)
        return Period(text, start, _add_months(start, 3))
    if m := re.fullmatch(r"(\d{4})-(\d{2})", t):
        start = date(int(m[1]), int(m[2]), 1)
        return Period(text, start, _add_months(start, 1))
    if m := re.fullmatch(r"(\d{4})", t):
        return Period(text, date(int(m[1]), 1, 1), date(int(m[1]) + 1, 1, 1))
    if m := re.fullmatch(r"(\d{4}-\d{2}-\d{2})\.\.(\d{4}-\d{2}-\d{2})", t):
        start, last = date.fromisoformat(m[1]), date.fromisoformat(m[2])
        if last < start:
            raise QueryError(f"period {text!r} ends before it starts")
        return Period(text, start, last + timedelta(days=1))
    this_month, this_quarter = date(today.year, today.month, 1), _quarter_start(today)
    tomorrow = today + timedelta(days=1)
    relative = {
        "today": (today, tomorrow, "today only"),
        "yesterday": (today - timedelta(days=1), today, "the day before today"),
        "this_month": (this_month, _add_months(this_month, 1), "the whole calendar month, not month-to-date (mtd)"),
        "last_month": (_add_months(this_month, -1), this_month, "the last full calendar month"),
        "this_quarter": (
            this_quarter,
            _add_months(this_quarter, 3),
            "the whole calendar quarter, not quarter-to-date (qtd)",
        ),
        "last_quarter": (_add_months(this_quarter, -3), this_quarter, "the last full calendar quarter"),
        "this_year": (
            date(today.year, 1, 1),
            date(today.year + 1, 1, 1),
            "the whole calendar year, not year-to-date (ytd)",
        ),
        "last_year": (date(today.year - 1, 1, 1), date(today.year, 1, 1), "the last full calendar year"),
        "ytd": (date(today.year, 1, 1), tomorrow, "the calendar year to date, today included"),
        "qtd": (this_quarter, tomorrow, "the calendar quarter to date, today included"),
        "mtd": (this_month, tomorrow, "the calendar month to date, today included"),
    }
    if t in relative:
        start, end, words = relative[t]
        return Period(text, start, end, words)
    if m := re.fullmatch(r"last_(\d+)_(days|weeks|months)", t):
        n = int(m[1])
        if n < 1:
            raise QueryError(f"period {text!r} covers no time; count at least one {m[2][:-1]}")
        if m[2] == "months":
            words = f"the {n} full calendar months before this one, and this month to date (today included)"
            return Period(text, _add_months(this_month, -n), tomorrow, words)
        days = n if m[2] == "days" else 7 * n
        return Period(text, tomorrow - timedelta(days=days), tomorrow, f"the {days} days up to today, today included")
    raise QueryError(
        f"unknown period {text!r}",
        hint="use 2025-Q4, 2025-03, 2025, 2025-01-01..2025-06-30, ytd, qtd, mtd, last_quarter, last_month, "
        "last_year, this_quarter, this_year, last_90_days, last_6_months",
    )


def trailing_year(today: date) -> Period:
    """The 12 months to today, today included: the span of a rate over time when no period is given."""
    start = date(today.year - 1, today.month, 1) + timedelta(days=today.day)  # the day after a year ago
    if today.month == 2 and today.day == 29:
        start = date(today.year - 1, 3, 1)
    text = f"{start.isoformat()}..{today.isoformat()}"
    return Period(text, start, today + timedelta(days=1), "no period was given: the 12 months up to today")


# grain -> (months per bucket, or None for days and weeks)
_MONTHS = {"month": 1, "quarter": 3, "year": 12, "fiscal_quarter": 3, "fiscal_year": 12}


def buckets(period: Period, name: str, fiscal_start_month: int) -> list[tuple[date | str, date, date]]:
    """The buckets of a time grain that meet a period: (label as `grain` writes it, first day, day after
    the last), each cut to the period."""
    found: list[tuple[date | str, date, date]] = []
    day = period.start
    while day < period.end:
        if name == "day":
            first, after = day, day + timedelta(days=1)
        elif name == "week":  # ISO weeks start on Monday, as date_trunc('week') does in every engine
            first = day - timedelta(days=day.weekday())
            after = first + timedelta(days=7)
        else:
            step = _MONTHS[name]
            anchor = fiscal_start_month - 1 if name.startswith("fiscal_") else 0
            index = day.year * 12 + day.month - 1
            start_index = index - (index - anchor) % step
            first = date(start_index // 12, start_index % 12 + 1, 1)
            after = _add_months(first, step)
        found.append((_label(name, first, fiscal_start_month), max(first, period.start), min(after, period.end)))
        day = after
    return found


def _label(name: str, first: date, fiscal_start_month: int) -> date | str:
    if not name.startswith("fiscal_"):
        return first
    shifted = _add_months(first, (13 - fiscal_start_month) % 12)
    label = f"FY{shifted.year}"
    return label if name == "fiscal_year" else f"{label}-Q{(shifted.month - 1) // 3 + 1}"


def grain(name: str, time: exp.Expr, fiscal_start_month: int) -> exp.Expr:
    """The time column truncated to a grain; fiscal grains are labels like FY2026-Q1."""
    if name in ("day", "week", "month", "quarter", "year"):
        return exp.Cast(
            this=exp.DateTrunc(unit=exp.Literal.string(name), this=time.copy()), to=exp.DataType.build("DATE")
        )
    shift = (13 - fiscal_start_month) % 12
    shifted = time.copy()
    if shift:
        shifted = exp.Add(
            this=exp.Cast(this=time.copy(), to=exp.DataType.build("DATE")),
            expression=exp.Interval(this=exp.Literal.string(str(shift)), unit=exp.var("MONTH")),
        )
    year = exp.Cast(this=exp.Extract(this=exp.var("YEAR"), expression=shifted), to=exp.DataType.build("INT"))
    label = exp.func("concat", exp.Literal.string("FY"), exp.Cast(this=year, to=exp.DataType.build("VARCHAR")))
    if name == "fiscal_year":
        return label
    quarter = exp.Cast(
        this=exp.Extract(this=exp.var("QUARTER"), expression=shifted.copy()), to=exp.DataType.build("INT")
    )
    return exp.func("concat", label, exp.Literal.string("-Q"), exp.Cast(this=quarter, to=exp.DataType.build("VARCHAR")))

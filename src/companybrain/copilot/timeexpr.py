"""Time expressions in questions ("last quarter", "Q4 2025", "2025 vs 2024", "since March") mapped
to the periods and time grains the query path accepts (see semantic/period.py)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, timedelta

MONTHS = {
    m: i + 1
    for i, names in enumerate(
        [
            ("january", "jan"),
            ("february", "feb"),
            ("march", "mar"),
            ("april", "apr"),
            ("may",),
            ("june", "jun"),
            ("july", "jul"),
            ("august", "aug"),
            ("september", "sep", "sept"),
            ("october", "oct"),
            ("november", "nov"),
            ("december", "dec"),
        ]
    )
    for m in names
}
_MONTH = r"(" + "|".join(sorted(MONTHS, key=len, reverse=True)) + r")"
_GRAINS = [
    (r"\b(?:by|per|each|every) (day|week|month|quarter|year)\b", None),
    (r"\bdaily\b", "day"),
    (r"\bweekly\b", "week"),
    (r"\bmonthly\b|\bmonth by month\b|\bover time\b|\btrend(?:s|ing)?\b", "month"),
    (r"\bquarterly\b|\bquarter by quarter\b", "quarter"),
    (r"\byearly\b|\bannual(?:ly)?\b|\byear by year\b|\byear over year\b|\byoy\b", "year"),
    (r"\bby fiscal (year|quarter)\b", "fiscal"),
]
_RELATIVE = [
    (r"\b(?:last|previous|prior) quarter\b", "last_quarter"),
    (r"\b(?:this|current) quarter\b|\bqtd\b|\bquarter to date\b", "qtd"),
    (r"\b(?:last|previous|prior) month\b", "last_month"),
    (r"\b(?:this|current) month\b|\bmtd\b|\bmonth to date\b", "mtd"),
    (r"\bytd\b|\byear to date\b|\bso far this year\b|\bthis year so far\b", "ytd"),
    (r"\b(?:this|current) year\b", "this_year"),
    (r"\b(?:last|previous|prior) year\b", "last_year"),
    (r"\byesterday\b", "yesterday"),
    (r"\btoday\b", "today"),
]


@dataclass
class TimeParse:
    """The period and grain found in a question, and the text spans they used."""

    period: str | None = None
    grain: str | None = None
    spans: list[tuple[int, int]] = field(default_factory=list)


def _last_completed(month: int, today: date) -> int:
    """The year of the latest `month` that has started by `today`."""
    return today.year if month <= today.month else today.year - 1


def _end(d: date) -> str:
    return (d - timedelta(days=1)).isoformat()


def parse_time(text: str, today: date) -> TimeParse:
    """Find one period and one grain in lower-case `text`; first match of the most specific kind wins."""
    found = TimeParse()

    def take(m: re.Match[str], period: str | None = None, grain: str | None = None) -> None:
        found.spans.append(m.span())
        if period is not None and found.period is None:
            found.period = period
        if grain is not None and found.grain is None:
            found.grain = grain

    for m in re.finditer(r"\b(20\d\d)\s*(?:vs\.?|versus|compared (?:to|with)|against|and)\s*(20\d\d)\b", text):
        a, b = sorted((int(m[1]), int(m[2])))
        take(m, f"{a}-01-01..{b}-12-31", "year")
    for m in re.finditer(r"\bq([1-4])\s*(?:of\s*)?(20\d\d)\b|\b(20\d\d)\s*-?\s*q([1-4])\b", text):
        quarter, year = (m[1], m[2]) if m[1] else (m[4], m[3])
        take(m, f"{year}-Q{quarter}")
    for m in re.finditer(r"\b(?:h([12])|(first|second) half(?: of)?)\s*(20\d\d)\b", text):
        half = 1 if (m[1] == "1" or m[2] == "first") else 2
        start = date(int(m[3]), 1 if half == 1 else 7, 1)
        end = date(int(m[3]), 7, 1) if half == 1 else date(int(m[3]) + 1, 1, 1)
        take(m, f"{start.isoformat()}..{_end(end)}")
    for m in re.finditer(rf"\bsince {_MONTH}(?:\s+(20\d\d))?\b", text):
        month = MONTHS[m[1]]
        year = int(m[2]) if m[2] else _last_completed(month, today)
        take(m, f"{date(year, month, 1).isoformat()}..{today.isoformat()}")
    for m in re.finditer(r"\bsince (20\d\d)\b", text):
        take(m, f"{m[1]}-01-01..{today.isoformat()}")
    for m in re.finditer(rf"\b{_MONTH}\s+(20\d\d)\b", text):
        take(m, f"{m[2]}-{MONTHS[m[1]]:02d}")
    for m in re.finditer(r"\b(?:last|past|previous) (\d+) (day|week|month)s?\b", text):
        take(m, f"last_{m[1]}_{m[2]}s")
    for m in re.finditer(r"\b(?:last|past) (week|twelve months|year)\b", text):
        if m[1] == "week":
            take(m, "last_7_days")
        elif m[1] == "twelve months":
            take(m, "last_12_months")
    for pattern, period in _RELATIVE:
        for m in re.finditer(pattern, text):
            take(m, period)
    for m in re.finditer(r"\bq([1-4])\b", text):
        quarter = int(m[1])
        year = _last_completed(3 * quarter, today) if 3 * quarter - 2 <= today.month else today.year - 1
        take(m, f"{year}-Q{quarter}")
    for m in re.finditer(rf"\b(?:in|for|during) {_MONTH}\b", text):
        month = MONTHS[m[1]]
        take(m, f"{_last_completed(month, today)}-{month:02d}")
    for m in re.finditer(r"\b(20\d\d)\b", text):
        if not any(s <= m.start() < e for s, e in found.spans):
            take(m, m[1])
    for pattern, grain in _GRAINS:
        for m in re.finditer(pattern, text):
            if grain == "fiscal":
                take(m, grain=f"fiscal_{m[1]}")
            else:
                take(m, grain=grain or m[1])
    return found

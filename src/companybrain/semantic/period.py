"""Periods (`2025-Q4`, `2025-03`, `2025`, `ytd`, `last_quarter`, `2025-01-01..2025-06-30`) and time grains."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta

from sqlglot import exp

from companybrain.errors import QueryError


@dataclass(frozen=True)
class Period:
    """A half-open date range [start, end) with the text it came from."""

    text: str
    start: date
    end: date

    def condition(self, time: exp.Expr) -> exp.Expr:
        start = exp.Cast(this=exp.Literal.string(self.start.isoformat()), to=exp.DataType.build("DATE"))
        end = exp.Cast(this=exp.Literal.string(self.end.isoformat()), to=exp.DataType.build("DATE"))
        return exp.and_(exp.GTE(this=time.copy(), expression=start), exp.LT(this=time.copy(), expression=end))

    def as_dict(self) -> dict[str, str]:
        return {"period": self.text, "from": self.start.isoformat(), "to": (self.end - timedelta(days=1)).isoformat()}


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
    relative = {
        "today": (today, today + timedelta(days=1)),
        "yesterday": (today - timedelta(days=1), today),
        "this_month": (this_month, _add_months(this_month, 1)),
        "last_month": (_add_months(this_month, -1), this_month),
        "this_quarter": (this_quarter, _add_months(this_quarter, 3)),
        "last_quarter": (_add_months(this_quarter, -3), this_quarter),
        "this_year": (date(today.year, 1, 1), date(today.year + 1, 1, 1)),
        "last_year": (date(today.year - 1, 1, 1), date(today.year, 1, 1)),
        "ytd": (date(today.year, 1, 1), today + timedelta(days=1)),
        "qtd": (this_quarter, today + timedelta(days=1)),
        "mtd": (this_month, today + timedelta(days=1)),
    }
    if t in relative:
        return Period(text, *relative[t])
    if m := re.fullmatch(r"last_(\d+)_(days|weeks|months)", t):
        n = int(m[1])
        start = today - timedelta(days=n) if m[2] == "days" else today - timedelta(weeks=n)
        if m[2] == "months":
            start = _add_months(this_month, -n)
        return Period(text, start, today + timedelta(days=1))
    raise QueryError(
        f"unknown period {text!r}",
        hint="use 2025-Q4, 2025-03, 2025, 2025-01-01..2025-06-30, ytd, qtd, mtd, last_quarter, last_month, "
        "last_year, this_quarter, last_90_days, last_6_months",
    )


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

"""What a cockpit page is asked for in its address: the period (the query path's own periods, relative ones
included), filters by the dimensions the viewer may use, and links to the same page with something changed."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from urllib.parse import urlencode

from companybrain.errors import BrainError
from companybrain.semantic.period import Period, parse_period

FILTER = "f."  # a filter's parameter: f.region=EMEA
# the period picker: the query path's relative periods, in words ("" is the default: the last 12 full months)
PERIODS = (
    ("", "Last 12 full months"),
    ("last_6_months", "Last 6 months"),
    ("last_90_days", "Last 90 days"),
    ("ytd", "Year to date"),
    ("qtd", "Quarter to date"),
    ("mtd", "Month to date"),
    ("last_month", "Last month"),
    ("last_quarter", "Last quarter"),
    ("last_year", "Last year"),
    ("this_year", "This year"),
)


def _month_start(d: date) -> bool:
    return d.day == 1


def _add_months(d: date, months: int) -> date:
    index = d.year * 12 + d.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def trailing_months(today: date, months: int = 12) -> Period:
    """The `months` full months before the current one (2025-03-01..2026-02-28 on 2026-03-15)."""
    end = date(today.year, today.month, 1)
    start = _add_months(end, -months)
    text = f"{start.isoformat()}..{(end - timedelta(days=1)).isoformat()}"
    return Period(text, start, end, f"the last {months} full months")


def previous(period: Period) -> Period:
    """The period of the same length just before: the months before, for whole months; else the days before."""
    if _month_start(period.start) and _month_start(period.end):
        months = (period.end.year - period.start.year) * 12 + period.end.month - period.start.month
        start = _add_months(period.start, -months)
    else:
        start = period.start - (period.end - period.start)
    last = period.start - timedelta(days=1)
    return Period(f"{start.isoformat()}..{last.isoformat()}", start, period.start)


def grain_for(period: Period) -> str:
    """The time grain a trend over the period is drawn by: days, weeks or months."""
    days = (period.end - period.start).days
    return "day" if days <= 45 else "week" if days <= 180 else "month"


@dataclass
class View:
    """One page's address: its own parameters, the period and the filters."""

    path: str
    params: dict[str, str]
    period_choice: str  # a preset's name, "custom", or "" (the default)
    period: Period
    filters: dict[str, str] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    dates: tuple[str, str] = ("", "")

    @property
    def period_text(self) -> str:
        """The period as the query path takes it: dates, so that every panel and export reads the same days."""
        return f"{self.period.start.isoformat()}..{self.period.last.isoformat()}"

    @property
    def previous(self) -> Period:
        return previous(self.period)

    @property
    def previous_text(self) -> str:
        before = self.previous
        return f"{before.start.isoformat()}..{before.last.isoformat()}"

    @property
    def grain(self) -> str:
        return grain_for(self.period)

    @property
    def period_words(self) -> str:
        label = dict(PERIODS).get(self.period_choice, "") if self.period_choice != "custom" else ""
        span = f"{self.period.start.isoformat()} to {self.period.last.isoformat()}"
        return f"{label} ({span})" if label else span

    def where(self, extra: dict[str, str] | None = None) -> str | None:
        """The filters as a filter of the query path (parsed into a tree there, never pasted into SQL)."""
        from companybrain.delivery.web.reads import quote

        both = {**self.filters, **(extra or {})}
        return " AND ".join(f"{d} = {quote(v)}" for d, v in both.items()) or None

    def query(self) -> dict[str, str]:
        """The address's parameters that carry over to another page: period and filters."""
        out = {}
        if self.period_choice:
            out["period"] = self.period_choice
            if self.period_choice == "custom":
                out["from"], out["to"] = self.dates
        out.update({FILTER + d: v for d, v in self.filters.items()})
        return out

    def url(self, path: str | None = None, drop: tuple[str, ...] = (), **changes: str | None) -> str:
        """This page (or `path`) with the same period and filters, its parameters changed (None removes)."""
        params = {**self.params, **self.query()} if path is None else dict(self.query())
        for key in drop:
            params.pop(key, None)
        for key, value in changes.items():
            key = key.replace("__", ".")  # f__region= -> f.region=
            if value is None:
                params.pop(key, None)
            else:
                params[key] = value
        encoded = urlencode(params)
        return (path or self.path) + (f"?{encoded}" if encoded else "")

    def filtered(self, dimension: str, value: str | None, **changes: str | None) -> str:
        """This page with a filter added (or removed, with None)."""
        return self.url(None, (), **{f"f__{dimension}": value}, **changes)


def parse_view(path: str, query: dict[str, str], today: date, dimensions: set[str], own: tuple[str, ...]) -> View:
    """The view of a page's address; an unknown period or dimension is said, never an error page."""
    problems: list[str] = []
    choice = query.get("period", "")
    start, end = query.get("from", ""), query.get("to", "")
    period = trailing_months(today)
    if choice == "custom":
        try:
            period = parse_period(f"{start}..{end}", today)
        except (BrainError, ValueError):
            problems.append(f"The dates {start or '?'} to {end or '?'} are not a period; showing the default.")
            choice = ""
    elif choice:
        try:
            period = parse_period(choice, today)
        except BrainError as exc:
            problems.append(f"{exc.message}; showing the last 12 full months.")
            choice = ""
    filters = {}
    for key, value in query.items():
        if key.startswith(FILTER) and value:
            name = key[len(FILTER) :]
            if name in dimensions:
                filters[name] = value
            else:
                problems.append(f"There is no filter {name!r} you may use; it was left out.")
    added, value = query.get("fdim", ""), query.get("fval", "").strip()
    if added and value:  # the filter bar's "add a filter"
        if added in dimensions:
            filters[added] = value
        else:
            problems.append(f"There is no filter {added!r} you may use; it was left out.")
    params = {k: v for k, v in query.items() if k in own and v}
    return View(path, params, choice, period, filters, problems, (start, end))

"""Forecast questions: 'what demand do we expect for industrial valves next week, plant by plant', 'forecast for
bearings at Wroclaw over the next 4 weeks' - read from the rows a forecast use case wrote (DemandForecast), as the
asking user may see them, summed over the weeks asked. Nothing about the future is computed here: what the factory
forecast is read, and a week past its horizon is said, not invented."""

from __future__ import annotations

import re
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

from companybrain.copilot.plan import ClarifyPlan, ForecastPlan
from companybrain.copilot.timeexpr import _MONTH, MONTHS

if TYPE_CHECKING:
    from companybrain.brain import Brain
    from companybrain.copilot.reading import Reading
    from companybrain.copilot.vocabulary import Vocabulary
    from companybrain.governance.principal import Principal

# a question about what is expected ahead: the factory's forecast, not what happened
ASKED = re.compile(
    r"\bforecast|\bexpect(?:ed|ing|s)?\b|\bprojected\b|\bwill (?:we|they) (?:sell|ship|need|order)\b|\boutlook\b"
)
_DEMAND = {"demand", "forecast", "forecasted", "unit", "sell", "sold", "order", "ordered", "need"}
_NUMBER = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "eight": 8, "ten": 10, "twelve": 12}
_WEEKLY = re.compile(r"\bweekly\b|\bweek by week\b|\beach week\b|\bper week\b|\bby week\b|\bevery week\b")


def plan_forecast(reading: Reading, vocab: Vocabulary, today: date) -> ForecastPlan | ClarifyPlan | None:
    """The forecast plan for a question about expected demand that a forecast use case answers, or None."""
    question = reading.question.lower()
    if not vocab.forecasts or not ASKED.search(question):
        return None
    named = {t.name for m in reading.mentions for t in m.of("metric")}
    words = set(reading.tokens)
    for usecase, (_, metric, by, columns) in sorted(vocab.forecasts.items()):
        if named - {metric} or not (words & _DEMAND or metric in named):
            continue  # "pipeline expected to close": another figure, not this forecast
        weeks = forecast_weeks(question, today)
        if weeks is None:
            return ClarifyPlan(question="Which weeks? e.g. 'next week', 'the next 4 weeks' or 'the weeks starting "
                               "in April'.", options=["next week", "the next 4 weeks"])  # fmt: skip
        where: dict[str, list[str]] = {}
        grouped: list[str] = []
        for mention in reading.mentions:
            for term in mention.of("value", "dimension"):
                if term.name not in by:
                    continue
                column = columns[by.index(term.name)]  # the forecast rows keep each dimension as a column
                if term.kind == "value" and term.value is not None and not mention.by:
                    where.setdefault(column, [])
                    if term.value not in where[column]:
                        where[column].append(term.value)
                elif mention.by and column not in grouped:
                    grouped.append(column)
        weekly = not grouped or bool(_WEEKLY.search(question))
        return ForecastPlan(usecase=usecase, where=where, by=grouped, weeks=list(weeks), weekly=weekly)
    return None


def forecast_weeks(question: str, today: date) -> tuple[date, date] | None:
    """The first and last Monday of the weeks asked: 'next week', 'the next 4 weeks', 'next month', 'the weeks
    starting in April (2026)', 'the week of 2 March 2026'; None when the question names none."""
    monday = today + timedelta(days=7 - today.weekday())  # the next week's Monday
    if m := re.search(r"\bweek of (\d{1,2})(?:st|nd|rd|th)? " + _MONTH + r"(?:,? (20\d\d))?", question):
        return _week_of(date(_year(m[3], MONTHS[m[2]], today), MONTHS[m[2]], int(m[1])))
    if m := re.search(r"\bweek of " + _MONTH + r" (\d{1,2})(?:st|nd|rd|th)?(?:,? (20\d\d))?", question):
        return _week_of(date(_year(m[3], MONTHS[m[1]], today), MONTHS[m[1]], int(m[2])))
    if m := re.search(r"\bweek of (20\d\d)-(\d\d)-(\d\d)\b", question):
        return _week_of(date(int(m[1]), int(m[2]), int(m[3])))
    if m := re.search(r"\b(?:next|coming|following) (\d{1,2}|" + "|".join(_NUMBER) + r") weeks?\b", question):
        n = int(m[1]) if m[1].isdigit() else _NUMBER[m[1]]
        return (monday, monday + timedelta(weeks=n - 1)) if 1 <= n <= 52 else None
    if re.search(r"\b(?:next|coming) week\b", question):
        return monday, monday
    if m := re.search(r"\b(?:in|for|during|of) " + _MONTH + r"(?: (20\d\d))?\b", question):
        month = MONTHS[m[1]]
        return _mondays_of(_year(m[2], month, today), month)
    if re.search(r"\bnext month\b", question):
        first = date(today.year + today.month // 12, today.month % 12 + 1, 1)
        return _mondays_of(first.year, first.month)
    return None


def _year(written: str | None, month: int, today: date) -> int:
    """The year of a month named ahead: as written, else this year's, or next year's once it has passed."""
    if written:
        return int(written)
    return today.year if month >= today.month else today.year + 1


def _week_of(day: date) -> tuple[date, date]:
    start = day - timedelta(days=day.weekday())
    return start, start


def _mondays_of(year: int, month: int) -> tuple[date, date]:
    """The weeks starting in a month: its first and last Monday."""
    first = date(year, month, 1)
    first += timedelta(days=(7 - first.weekday()) % 7)
    last = first
    while (last + timedelta(weeks=1)).month == month:
        last += timedelta(weeks=1)
    return first, last


def run(brain: Brain, plan: ForecastPlan, user: str | Principal | None) -> dict[str, Any]:
    """The forecast rows of the weeks asked, as the user may read them, summed by what was asked for."""
    import pyarrow.compute as pc

    uc = brain.project.usecases[plan.usecase]
    assert uc.output.object is not None and uc.series is not None
    first, last = plan.weeks
    where = " AND ".join(p for p in (plan.where_sql(), f"period BETWEEN DATE '{first}' AND DATE '{last}'") if p)
    keys = [*plan.by, *(["period"] if plan.weekly else [])]
    table = brain.read(uc.output.object, where, user=user, columns=[*plan.by, "period", "forecast", "model_version"])
    if table.num_rows == 0:
        horizon = brain.read(uc.output.object, None, user=user, columns=["period"])
        reach = pc.max(horizon["period"]).as_py() if horizon.num_rows else None
        said = f"the forecast reaches the week of {reach}" if reach else "no forecast rows are there for you"
        return {"columns": [*keys, "forecast"], "rows": [], "text": f"No forecast for those weeks: {said}."}
    if keys:
        summed = table.group_by(keys).aggregate([("forecast", "sum")]).to_pylist()
        rows = sorted(([*(r[k] for k in keys), r["forecast_sum"]] for r in summed), key=lambda r: [str(c) for c in r])
    else:
        rows = [[pc.sum(table["forecast"]).as_py()]]
    version = table["model_version"][0].as_py()
    span = f"the week of {first}" if first == last else f"the weeks of {first} to {last}"
    scope = "; ".join(f"{k} {', '.join(v)}" for k, v in plan.where.items())
    if len(rows) == 1:
        head = f"{rows[0][-1]:,.0f}"
    else:  # a few rows said one by one, more summed
        listed = "; ".join(f"{' / '.join(str(c) for c in r[:-1])} {r[-1]:,.0f}" for r in rows[:6])
        head = f"{listed}{'; ...' if len(rows) > 6 else ''} ({sum(r[-1] for r in rows):,.0f} in all)"
    text = (
        f"Forecast {uc.series.metric.replace('_', ' ')} for {span}{f' ({scope})' if scope else ''}: {head} "
        f"(use case {plan.usecase}, {version}; a forecast, not what happened)."
    )
    return {"columns": [*keys, "forecast"], "rows": rows, "text": text}

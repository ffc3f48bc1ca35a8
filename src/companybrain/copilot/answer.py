"""Ask the brain: plan a question, run the plan through the governed query path as the asking
user, and answer with the evidence (table, chart, words, definitions, SQL, freshness, policy); a
proposal goes through the action desk as the asking user and waits for its approvers."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, RootModel

import companybrain.copilot.forecasts as forecasts
import companybrain.copilot.predictions as predictions
from companybrain.copilot.compare import compared
from companybrain.copilot.intents import recognise
from companybrain.copilot.intents import run as run_intent
from companybrain.copilot.lexicon import project_lexicon
from companybrain.copilot.parser import plan_question, screen
from companybrain.copilot.plan import (
    AnyPlan,
    ClarifyPlan,
    CountPlan,
    ForecastPlan,
    LookupPlan,
    MetricPlan,
    PredictionListPlan,
    ProposePlan,
    ReasonsPlan,
    RefusePlan,
    ReplanPlan,
    ScenarioPlan,
    WhatIfPlan,
    parse_plan,
    validate_count,
    validate_plan,
    validate_propose,
)
from companybrain.copilot.vocabulary import tokens, vocabulary
from companybrain.errors import BrainError, PolicyDenied
from companybrain.specs import yaml_loader

if TYPE_CHECKING:
    from companybrain.brain import Brain
    from companybrain.governance.principal import Principal
    from companybrain.semantic.query import Result

ENGINES = ("embedded", "llm")
TIME_GRAINS = ("day", "week", "month", "quarter", "year", "fiscal_quarter", "fiscal_year")


class VerifiedQuestion(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    question: str
    plan: dict[str, Any]


class VerifiedFile(RootModel[list[VerifiedQuestion]]):
    """copilot/verified.yaml: a list of question -> plan pairs."""


@dataclass
class Answer:
    """The copilot's answer: a plan, and for a metric plan its result and evidence."""

    question: str
    user: str
    plan: AnyPlan
    text: str
    result: Result | None = None
    chart: dict[str, Any] | None = None
    source: str = "parser"  # parser | verified | llm
    seconds: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)
    reading: str | None = None  # how the question was read, and what was ignored

    @property
    def kind(self) -> str:
        answered = self.result is not None or "count" in self.extra or "table" in self.extra
        return "answer" if answered else self.plan.kind

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "question": self.question,
            "user": self.user,
            "kind": self.kind,
            "answer": self.text,
            "plan": self.plan.model_dump(),
            "source": self.source,
            "seconds": round(self.seconds, 4),
        }
        if self.reading:
            out["reading"] = self.reading
        if "count" in self.extra:
            out.update(
                table={"columns": ["count"], "rows": [[self.extra["count"]]]},
                filters=self.plan.model_dump().get("where"),
                policy={"user": self.user, "objects": self.extra["object"]},
            )
        if "table" in self.extra:
            out.update(table=self.extra["table"], policy={"user": self.user})
        if self.result is not None:
            r = self.result
            out.update(
                table={"columns": r.columns, "rows": r.rows},
                chart=self.chart,
                definitions=r.definitions,
                filters=self.plan.model_dump().get("where"),
                period=r.period,
                sql=r.sql,
                freshness=r.freshness,
                policy=r.policy,
                notes=r.notes,
            )
        return out


class Copilot:
    """The copilot over one Brain, with the embedded engine or the project's LLM (brain.yaml `copilot`);
    stateless between questions."""

    def __init__(
        self, brain: Brain, engine: str | None = None, *, dry_run: bool = False, can_propose: bool = True
    ) -> None:
        """`dry_run`: a proposal is checked exactly as for real and nothing is stored (the evaluation);
        `can_propose`: whether the caller's credentials may submit actions (an API token's scopes)."""
        self.brain = brain
        self.dry_run = dry_run
        self.can_propose = can_propose
        self.engine = engine or brain.project.spec.copilot.engine
        if self.engine not in ENGINES:
            hint = f"use one of: {', '.join(ENGINES)}"
            raise BrainError(f"engine={self.engine!r} is not a copilot engine", hint=hint)
        self._verified: dict[tuple[str, ...], dict[str, Any]] | None = None
        self._examples: list[tuple[str, dict[str, Any]]] = []
        self._reading: str | None = None

    def plan(
        self, question: str, user: str | Principal | None = None, previous: MetricPlan | None = None
    ) -> tuple[AnyPlan, str]:
        """The validated plan for a question, and where it came from (verified example or parser)."""
        if previous is None and (example := self.verified_plan(question)) is not None:
            plan = parse_plan(example)
            source = "verified"
            if isinstance(plan, MetricPlan | CountPlan | ProposePlan):
                plan = self._checked(plan, user)
        elif self.engine == "llm":
            from companybrain.copilot.llm import LLMPlanner

            self.verified()
            plan, source = LLMPlanner(self.brain, self._examples).plan(question, user, previous), "llm"
        elif previous is None and screen(question) is None and (intent := recognise(self.brain, question, user)):
            plan, source = intent, "parser"
        else:
            today = self.brain.project.spec.today or date.today()
            understood = plan_question(
                question,
                vocabulary(self.brain, user),
                today,
                lambda p: self._validate(p, user),
                previous,
                project_lexicon(self.brain),
            )
            plan, source = understood.plan, "parser"
            self._reading = understood.reading
        return plan, source

    def _validate(self, plan: MetricPlan | CountPlan, user: str | Principal | None) -> None:
        if isinstance(plan, CountPlan):
            validate_count(self.brain, plan, user)
        else:
            validate_plan(self.brain, plan, user)

    def ask(self, question: str, user: str | Principal | None = None, previous: MetricPlan | None = None) -> Answer:
        """Answer a question as `user`; `previous` is the plan a follow-up modifies."""
        started = time.perf_counter()
        name = self.brain.principal(user).user
        self._reading = None
        plan, source = self.plan(question, user, previous)
        answer = self.run(question, plan, user)
        answer.source, answer.user = source, name
        if self._reading and answer.kind == "answer":
            answer.reading = self._reading
            answer.text = f"{answer.text} ({self._reading})"
        answer.seconds = time.perf_counter() - started
        return answer

    def run(self, question: str, plan: AnyPlan, user: str | Principal | None = None) -> Answer:
        """Run a plan through the governed query path; a denial becomes a refusal naming the policy."""
        name = self.brain.principal(user).user
        if isinstance(plan, ClarifyPlan):
            options = f" Options: {', '.join(plan.options)}." if plan.options else ""
            return Answer(question, name, plan, plan.question + options)
        if isinstance(plan, RefusePlan):
            policy = f" (policy: {plan.policy})" if plan.policy else ""
            return Answer(question, name, plan, f"I can't answer that: {plan.reason}{policy}")
        if isinstance(plan, ProposePlan):
            return self._propose(question, plan, user)
        try:
            if isinstance(plan, ScenarioPlan | ReplanPlan | ReasonsPlan | LookupPlan | WhatIfPlan):
                done = run_intent(self.brain, plan, user)
                table = {"columns": done["columns"], "rows": done["rows"]}
                return Answer(question, name, plan, done["text"], extra={"table": table})
            if isinstance(plan, CountPlan) and plan.by:
                rows = self.brain.count_by(plan.object, plan.by, plan.where_sql(), user)
                table = {"columns": [*plan.by, "count"], "rows": [[r[c] for c in (*plan.by, "count")] for r in rows]}
                text = f"{plan.object} objects you can see, counted by {', '.join(plan.by)}: {len(rows)} groups."
                return Answer(question, name, plan, text, extra={"table": table})
            if isinstance(plan, CountPlan):
                count = self.brain.count_objects(plan.object, plan.where_sql(), user)
                extra = {"count": count, "object": plan.object}
                return Answer(question, name, plan, count_text(plan, count), extra=extra)
            if isinstance(plan, ForecastPlan):
                done = forecasts.run(self.brain, plan, user)
                table = {"columns": done["columns"], "rows": done["rows"]}
                return Answer(question, name, plan, done["text"], extra={"table": table})
            if isinstance(plan, PredictionListPlan):
                done = predictions.run(self.brain, plan, user)
                table = {"columns": done["columns"], "rows": done["rows"]}
                return Answer(question, name, plan, done["text"], extra={"table": table})
            if plan.compare:
                done = compared(self.brain, plan, user)
                return Answer(question, name, plan, done["text"], extra={"table": done["table"]})
            result = self._query(plan, user)
            if plan.where and result.policy.get("row_filters") and _no_data(plan, result):
                raise PolicyDenied(
                    f"nothing for {describe_filters(plan)} is in the rows you may see "
                    f"({'; '.join(result.policy['row_filters'])})",
                    policy="row-filter",
                )
            if plan.period and _no_data(plan, result) and (before := self._before_records(plan, user)):
                refusal = RefusePlan(reason=before, policy=None)
                return Answer(question, name, refusal, f"I can't answer that: {before}")
        except PolicyDenied as exc:
            refusal = RefusePlan(reason=exc.message, policy=exc.policy)
            return Answer(question, name, refusal, f"I can't answer that: {exc.message} (policy: {exc.policy})")
        except BrainError as exc:
            clarify = ClarifyPlan(question=f"I cannot answer that as asked: {exc.message}")
            return Answer(question, name, clarify, clarify.question)
        return Answer(question, name, plan, describe(plan, result), result, chart_spec(plan, result))

    def _before_records(self, plan: MetricPlan, user: str | Principal | None) -> str | None:
        """'revenue in 2019' when the records start in 2023: said, not answered as an empty figure."""
        from companybrain.semantic.period import parse_period
        from companybrain.semantic.query import MetricQuery

        today = self.brain.project.spec.today or date.today()
        try:
            span = parse_period(plan.period or "", today)
        except BrainError:
            return None
        # the records of the same kind, whatever the figure's own filter keeps (the open pipeline's close dates
        # are all ahead, the opportunities go back years)
        project, model = self.brain.project, self.brain.semantic
        objects = {project.metrics[b].object for m in plan.metrics for b in model.base_metrics(m)}
        kin = [n for n, spec in project.metrics.items() if spec.object in objects and model.timed(n)]
        starts: list[date] = []
        for name in dict.fromkeys([*plan.metrics, *kin]):  # one read each: a figure the user may not read is skipped
            try:
                months = self.brain.query(MetricQuery((name,), by=("month",)), user)
            except BrainError:
                continue
            found = [r[0] for r in months.rows if r[0] is not None and r[1] not in (None, 0)]
            if not found:
                continue
            start = min(d if isinstance(d, date) else date.fromisoformat(str(d)[:10]) for d in found)
            if start < span.end:
                return None  # records before the period's end: the figure is truly empty there
            starts.append(start)
        if not starts:
            return None
        first = min(starts)
        kinds, asked = "/".join(sorted(str(o) for o in objects)), ", ".join(plan.metrics)
        return (
            f"the company's {kinds} records start in {first:%B %Y}; {plan.period} is before them, so the data "
            f"cannot say what {asked} was."
        )

    def _query(self, plan: MetricPlan, user: str | Principal | None) -> Result:
        """The plan's result; a ranking leaves out the group of rows with no value for what is ranked (a
        'sales play' of none is not the best play)."""
        ranked = [d for d in plan.by if d not in TIME_GRAINS]
        if not (plan.order_by and plan.limit and ranked):
            return self.brain.query(plan.metric_query(), user)
        result = self.brain.query(plan.model_copy(update={"limit": None}).metric_query(), user)
        keep = [i for i, c in enumerate(result.columns) if c in ranked]
        rows = [r for r in result.rows if any(r[i] is not None for i in keep)]
        result.rows = rows[: plan.limit]
        return result

    def _propose(self, question: str, plan: ProposePlan, user: str | Principal | None) -> Answer:
        """Submit the proposal as the user (or check it, in a dry run); a denial is a refusal naming the
        policy, anything else that stops it (no such order, a failed check) says what to fix."""
        from companybrain.copilot import proposals

        name = self.brain.principal(user).user
        if not self.can_propose:
            refusal = proposals.refusal_without_scope()
            return Answer(question, name, refusal, f"I can't do that: {refusal.reason} (policy: {refusal.policy})")
        try:
            done = proposals.run(self.brain, plan, user, dry_run=self.dry_run)
        except PolicyDenied as exc:
            refusal = RefusePlan(reason=exc.message, policy=exc.policy)
            return Answer(question, name, refusal, f"I can't propose that: {exc.message} (policy: {exc.policy})")
        except BrainError as exc:
            hint = f" ({exc.hint})" if exc.hint else ""
            clarify = ClarifyPlan(question=f"I cannot propose that: {exc.message}{hint}.")
            return Answer(question, name, clarify, clarify.question)
        table = {"columns": done["columns"], "rows": done["rows"]}
        return Answer(question, name, plan, done["text"], extra={"table": table})

    def verified(self) -> dict[tuple[str, ...], dict[str, Any]]:
        """The project's verified question -> plan pairs (copilot/verified.yaml), by normalised question."""
        if self._verified is None:
            self._verified = {}
            path = Path(self.brain.project.root) / "copilot" / "verified.yaml"
            if path.exists():
                verified = yaml_loader.load(VerifiedFile, path, "copilot/verified.yaml")  # file:line errors
                for item in verified.root:
                    self._verified[tuple(tokens(item.question))] = item.plan
                    self._examples.append((item.question, item.plan))
        return self._verified

    def verified_plan(self, question: str) -> dict[str, Any] | None:
        """The verified plan of the same question, or of a near-identical wording (fuzzy ratio >= 95)."""
        examples = self.verified()
        key = tuple(tokens(question))
        if key in examples:
            return examples[key]
        from rapidfuzz import fuzz, process

        match = process.extractOne(" ".join(key), [" ".join(k) for k in examples], scorer=fuzz.ratio, score_cutoff=95)
        if not match:
            return None
        # "top 12" is not "top 10": a near wording must carry the same numbers
        numbers = [t for t in key if t.isdigit()]
        if numbers != [t for t in match[0].split() if t.isdigit()]:
            return None
        return examples[tuple(match[0].split())]

    def _checked(self, plan: MetricPlan | CountPlan | ProposePlan, user: str | Principal | None) -> AnyPlan:
        try:
            if isinstance(plan, ProposePlan):
                from companybrain.copilot.proposals import needs

                validate_propose(self.brain, plan, user)
                return needs(self.brain, plan) or plan
            if isinstance(plan, CountPlan):
                validate_count(self.brain, plan, user)
            else:
                validate_plan(self.brain, plan, user)
        except PolicyDenied as exc:
            return RefusePlan(reason=exc.message, policy=exc.policy)
        return plan


def _no_data(plan: MetricPlan, result: Result) -> bool:
    records = result.records()
    return not records or all(all(r.get(m) in (None, 0) for m in plan.metrics) for r in records)


def describe_filters(plan: MetricPlan) -> str:
    return "; ".join(f"{d} = {', '.join(v)}" for d, v in sorted(plan.where.items()))


def count_text(plan: CountPlan, count: int) -> str:
    """'You can see 412 Customer objects (region EMEA).'"""
    parts = [f"{prop} {', '.join(values)}" for prop, values in sorted(plan.where.items())]
    if plan.dated and len(plan.between) == 2:
        start, end = plan.between
        parts.append(f"{plan.dated} from {start} to {end - timedelta(days=1)}")
    scope = "; ".join(parts)
    return f"You can see {count:,} {plan.object} objects{f' ({scope})' if scope else ''}."


def chart_spec(plan: MetricPlan, result: Result) -> dict[str, Any] | None:
    """A Vega-Lite-like spec where a chart helps: a line over time, bars across a dimension."""
    if not plan.by or len(result.rows) < 2:
        return None
    grain = next((d for d in plan.by if d in TIME_GRAINS), None)
    other = [d for d in plan.by if d != grain]
    x = grain or other[0]
    spec: dict[str, Any] = {"type": "line" if grain else "bar", "x": x, "y": list(plan.metrics)}
    if grain and other:
        spec["color"] = other[0]
    elif not grain and len(other) > 1:
        spec["color"] = other[1]
    return spec


def fmt(value: Any, form: str) -> str:
    """A number as people read it: $1.2M, 12.3%, 1,234."""
    if value is None:
        return "no value"
    if not isinstance(value, int | float):
        return str(value)
    if form == "percent":
        return f"{value:.1%}"
    if form == "currency":
        sign, value = ("-" if value < 0 else ""), abs(value)
        for size, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
            if value >= size:
                return f"{sign}${value / size:,.2f}{suffix}"
        return f"{sign}${value:,.0f}"
    if form == "count":
        return f"{value:,.0f}"
    return f"{value:,.1f}"


def describe(plan: MetricPlan, result: Result) -> str:
    """One paragraph in words: the headline figure, or the extremes across the breakdown."""
    forms = {m: result.definitions.get(m, {}).get("format", "number") for m in plan.metrics}
    scope = []
    if result.period:
        scope.append(f"from {result.period['from']} to {result.period['to']}")
    scope.extend(f"{dim} {', '.join(values)}" for dim, values in sorted(plan.where.items()))
    scope_text = f" ({'; '.join(scope)})" if scope else ""
    records = result.records()
    limited = result.policy.get("row_filters")
    tail = f" Rows are limited by your policy: {'; '.join(limited)}." if limited else ""
    if not records or all(all(r.get(m) is None for m in plan.metrics) for r in records):
        return f"No data{scope_text} is visible to you for {', '.join(plan.metrics)}.{tail}"
    if not plan.by:
        parts = [f"{m.replace('_', ' ')} was {fmt(records[0][m], forms[m])}" for m in plan.metrics]
        text = "; ".join(parts)
        return f"{text[0].upper()}{text[1:]}{scope_text}.{tail}"
    metric = plan.order_by[0].lstrip("-") if plan.order_by else plan.metrics[0]
    label = ", ".join(plan.by)
    shown = [r for r in records if r.get(metric) is not None]
    if plan.order_by and plan.limit:
        head = "; ".join(f"{_key(r, plan.by)}: {fmt(r[metric], forms[metric])}" for r in shown[:5])
        return f"Ranked by {metric.replace('_', ' ')}{scope_text}: {head}.{tail}"
    top = max(shown, key=lambda r: r[metric])
    low = min(shown, key=lambda r: r[metric])
    return (
        f"{_title(metric)} by {label}{scope_text} over {len(records)} rows: highest "
        f"{_key(top, plan.by)} ({fmt(top[metric], forms[metric])}), lowest {_key(low, plan.by)} "
        f"({fmt(low[metric], forms[metric])}).{_change(plan, shown, metric, forms[metric])}{tail}"
    )


def _change(plan: MetricPlan, records: list[dict[str, Any]], metric: str, form: str) -> str:
    """Over one time grain, the change from the first period to the last (percentage points for rates)."""
    if len(plan.by) != 1 or plan.by[0] not in TIME_GRAINS or len(records) < 2 or ".." not in (plan.period or ""):
        return ""  # only over closed ranges (growth, "2025 vs 2024"): a running period is not a change
    ordered = sorted(records, key=lambda r: str(r[plan.by[0]]))
    first, last = ordered[0], ordered[-1]
    a, b = first[metric], last[metric]
    if form == "percent":
        delta = f"{(b - a) * 100:+.1f} pts"
    elif a:
        delta = f"{(b - a) / abs(a):+.1%}"
    else:
        return ""
    since, until = _period_label(first[plan.by[0]], plan.by[0]), _period_label(last[plan.by[0]], plan.by[0])
    return f" From {since} to {until}: {fmt(a, form)} -> {fmt(b, form)} ({delta})."


def _period_label(start: Any, grain: str) -> str:
    """A period's start as people name it: 2025, 2025-Q4, 2025-03 (other grains as they are)."""
    text = str(start)
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}.*", text):
        return text
    if grain == "year":
        return text[:4]
    if grain == "quarter":
        return f"{text[:4]}-Q{(int(text[5:7]) - 1) // 3 + 1}"
    return text[:7] if grain == "month" else text[:10]


def _title(metric: str) -> str:
    words = metric.replace("_", " ")
    return words[0].upper() + words[1:]


def _key(record: dict[str, Any], by: list[str]) -> str:
    return " / ".join(str(record.get(d)) for d in by)

"""The copilot's plans: what a question becomes before anything runs.

A plan is a metric query over the semantic model (never SQL), a count of objects, a what-if
scenario, a replan, a prediction's reasons, a proposal of a declared action, a clarifying question,
or a refusal.
Filters are structured (dimension -> allowed values), so a plan cannot carry free SQL; the
`where` string the query path takes is built here with quoted literals.
"""

from __future__ import annotations

import re
from datetime import date
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, field_validator
from sqlglot import exp

from companybrain.governance.policy import Policy
from companybrain.semantic.compiler import compile_query
from companybrain.semantic.query import MetricQuery

if TYPE_CHECKING:
    from companybrain.brain import Brain
    from companybrain.governance.principal import Principal


class _Plan(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")


def _names(where: dict[str, list[str]]) -> dict[str, list[str]]:
    # a plan may come from a file (--context) or a model: its keys must be names, never SQL
    for dimension in where:
        if not _NAME.fullmatch(dimension):
            raise ValueError(f"{dimension!r} is not a dimension name")
    return where


def _where_sql(where: dict[str, list[str]]) -> str | None:
    """The filter as the query path's `where` text: names checked, every value a quoted literal."""
    parts = []
    for dimension, values in sorted(where.items()):
        column = exp.column(*reversed(dimension.split(".")))
        parts.append(column.isin(*[exp.Literal.string(v) for v in values]).sql(dialect="duckdb"))
    return " AND ".join(parts) or None


class MetricPlan(_Plan):
    """Metrics by dimensions, filtered on dimension values, over a period (or periods set side by side in
    `compare`, each with the change from the last one), optionally ranked."""

    kind: Literal["metric_query"] = "metric_query"
    metrics: list[str] = Field(min_length=1)
    by: list[str] = []
    where: dict[str, list[str]] = {}
    period: str | None = None
    compare: list[str] = Field(default=[], max_length=12)
    order_by: list[str] = []
    limit: int | None = Field(default=None, ge=1, le=1000)

    _check_where = field_validator("where")(_names)

    @field_validator("metrics")
    @classmethod
    def _once(cls, metrics: list[str]) -> list[str]:
        return list(dict.fromkeys(metrics))  # "top reps by closed-won amount" names one metric twice

    def where_sql(self) -> str | None:
        return _where_sql(self.where)

    def metric_query(self, period: str | None = None) -> MetricQuery:
        return MetricQuery(
            tuple(self.metrics),
            tuple(self.by),
            self.where_sql(),
            period or self.period,
            tuple(self.order_by),
            self.limit,
        )


class CountPlan(_Plan):
    """How many objects of a type the user may see, filtered on values of its properties or of linked
    objects' (a link path), optionally per value of some dimensions, and optionally those whose date
    property `dated` falls in `period` (from `between[0]`, up to but not including `between[1]`)."""

    kind: Literal["object_count"] = "object_count"
    object: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    where: dict[str, list[str]] = {}
    by: list[str] = []
    dated: str | None = Field(default=None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    period: str | None = None
    between: list[date] = Field(default=[], max_length=2)

    _check_where = field_validator("where")(_names)

    @field_validator("by")
    @classmethod
    def _by_names(cls, by: list[str]) -> list[str]:
        for name in by:
            if not _NAME.fullmatch(name):
                raise ValueError(f"{name!r} is not a dimension name")
        return by

    def where_sql(self) -> str | None:
        where = _where_sql(self.where)
        if self.dated is None or len(self.between) != 2:
            return where
        column = exp.column(self.dated)
        start, end = (exp.Literal.string(d.isoformat()) for d in self.between)
        span = exp.and_(exp.GTE(this=column, expression=start), exp.LT(this=column.copy(), expression=end))
        return " AND ".join(filter(None, [where, span.sql(dialect="duckdb")]))


class ClarifyPlan(_Plan):
    """The question has several readings (or none we know): ask which one was meant."""

    kind: Literal["clarify"] = "clarify"
    question: str
    options: list[str] = []


class RefusePlan(_Plan):
    """The question is out of scope or asks for what the user may not see."""

    kind: Literal["refuse"] = "refuse"
    reason: str
    policy: str | None = None


class ScenarioPlan(_Plan):
    """Run a declared what-if scenario (scenarios/*.yaml) and read its KPIs against the baseline."""

    kind: Literal["scenario"] = "scenario"
    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    kpis: list[Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$")]] = []  # the KPIs asked for (all when none)


class ReplanPlan(_Plan):
    """Replan the network for a capacity loss at a site (or one of its lines) from a day, for some days."""

    kind: Literal["replan"] = "replan"
    site: str = Field(max_length=64)
    line: str | None = Field(None, max_length=32)
    start: date
    days: int = Field(ge=1, le=91)
    capacity: float = Field(0.0, ge=0, le=1)


class ReasonsPlan(_Plan):
    """Why an object's prediction is what it is: the score, its reasons and the model version."""

    kind: Literal["prediction_reasons"] = "prediction_reasons"
    object: str = Field(pattern=r"^[A-Z][A-Za-z0-9]*$")
    key: str = Field(max_length=64)
    property: str = Field(pattern=r"^[a-z][a-z0-9_]*$")


class LookupPlan(_Plan):
    """One object by its key, with its properties as the user may see them."""

    kind: Literal["object_lookup"] = "object_lookup"
    object: str = Field(pattern=r"^[A-Z][A-Za-z0-9]*$")
    key: str = Field(max_length=64)


class WhatIfPlan(_Plan):
    """A what-if in the question's words: one change of a kind scenarios declare (specs/scenarios.py), run as
    a scenario of this question only over `period`."""

    kind: Literal["what_if"] = "what_if"
    change: dict[str, Any]
    period: str = Field(pattern=r"^[0-9A-Za-z_.:-]{1,40}$")


class PredictionListPlan(_Plan):
    """The objects a use case scored highest (or at least a threshold), as the user may see them."""

    kind: Literal["prediction_list"] = "prediction_list"
    usecase: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    where: dict[str, list[str]] = {}
    limit: int | None = Field(default=None, ge=1, le=1000)
    at_least: float | None = None
    count: bool = False  # "how many machines have a risk of 20% or more": the number of them

    _check_where = field_validator("where")(_names)

    def where_sql(self) -> str | None:
        return _where_sql(self.where)


class ForecastPlan(_Plan):
    """What a forecast use case expects for the weeks asked (first and last Monday), as the user may read its
    rows, summed by the series' dimensions asked for (and week by week when `weekly`)."""

    kind: Literal["forecast"] = "forecast"
    usecase: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    where: dict[str, list[str]] = {}
    by: list[Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$")]] = []
    weeks: list[date] = Field(min_length=2, max_length=2)
    weekly: bool = True

    _check_where = field_validator("where")(_names)

    def where_sql(self) -> str | None:
        return _where_sql(self.where)


class ProposePlan(_Plan):
    """Propose an action of a type declared in actions/*.yaml with the parameters the question gives; the
    rest are read from the company's data (`of:`) or computed (`expr:`) when it runs, never guessed."""

    kind: Literal["propose_action"] = "propose_action"
    action: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    parameters: dict[str, str | int | float | bool] = {}

    @field_validator("parameters")
    @classmethod
    def _parameter_names(cls, parameters: dict[str, Any]) -> dict[str, Any]:
        for name in parameters:
            if not re.fullmatch(r"[a-z][a-z0-9_]*", name):
                raise ValueError(f"{name!r} is not a parameter name")
        return parameters


AnyPlan = (
    MetricPlan
    | CountPlan
    | ClarifyPlan
    | RefusePlan
    | ScenarioPlan
    | ReplanPlan
    | ReasonsPlan
    | LookupPlan
    | PredictionListPlan
    | ForecastPlan
    | WhatIfPlan
    | ProposePlan
)
Plan = Annotated[AnyPlan, Field(discriminator="kind")]
PLAN_ADAPTER: TypeAdapter[AnyPlan] = TypeAdapter(Plan)


def parse_plan(data: dict[str, Any]) -> AnyPlan:
    """A plan from its JSON form (pydantic validates the shape; `validate_plan` the names)."""
    return PLAN_ADAPTER.validate_python(data)


def validate_plan(brain: Brain, plan: MetricPlan, user: str | Principal | None) -> None:
    """Compile the plan as `user` without running it: unknown names, unreachable dimensions, bad
    periods raise QueryError/NotFound, and what the user may not read raises PolicyDenied."""
    for name in plan.order_by:
        if name.lstrip("-") not in (*plan.metrics, *plan.by):
            from companybrain.errors import QueryError

            raise QueryError(f"order_by={name!r} is neither a metric nor a dimension of the plan")
    policy = Policy(brain.project, brain.principal(user))
    today = brain.project.spec.today or date.today()
    periods: list[str | None] = [*plan.compare] or [plan.period]
    for period in periods:
        compile_query(brain.semantic, plan.metric_query(period), policy, today)


def validate_count(brain: Brain, plan: CountPlan, user: str | Principal | None) -> None:
    """A count plan names a known object type the user may read, and properties of that type."""
    from companybrain.errors import PolicyDenied, QueryError

    obj = brain.project.object_type(plan.object)  # NotFound names the types
    for prop in plan.where:
        if "." not in prop and prop not in obj.properties and prop not in brain.project.dimensions:
            raise QueryError(f"{plan.object} has no property {prop!r}")
    if plan.dated is not None:
        dates = sorted(p for p, spec in obj.properties.items() if spec.type == "date")
        if plan.dated not in dates:
            raise QueryError(
                f"{plan.object} has no date property {plan.dated!r}; its dates: {', '.join(dates) or 'none'}"
            )
        if len(plan.between) != 2 or plan.between[0] >= plan.between[1]:
            raise QueryError("a count by date needs `between`: the first day and the day after the last")
    policy = Policy(brain.project, brain.principal(user))
    if not policy.can_read_object(plan.object):
        raise PolicyDenied(f"user {policy.principal.user!r} may not read {plan.object} objects", policy="objects")
    from companybrain.semantic import objects as objects_mod

    plan_, _ = objects_mod.scope(brain.semantic, policy, plan.object, plan.where_sql())  # filters resolve
    for name in plan.by:
        brain.semantic.dimension(name, plan_)


def validate_propose(brain: Brain, plan: ProposePlan, user: str | Principal | None) -> None:
    """A proposal plan names a declared action type the user may submit and only its parameters: NotFound
    or QueryError name what is unknown (with the near names), PolicyDenied says who may submit."""
    from companybrain.errors import QueryError
    from companybrain.errors import did_you_mean as near

    desk = brain.actions
    spec = desk.action_type(plan.action)  # NotFound with "did you mean"
    unknown = sorted(set(plan.parameters) - set(spec.parameters))
    if unknown:
        raise QueryError(
            f"action type {plan.action!r} has no parameter {unknown[0]!r}; {near(unknown[0], spec.parameters)}"
        )
    desk.require_submit(plan.action, brain.principal(user), dict(plan.parameters))

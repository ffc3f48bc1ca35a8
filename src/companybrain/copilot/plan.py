"""The copilot's plans: what a question becomes before anything runs.

A plan is a metric query over the semantic model (never SQL), a clarifying question, or a refusal.
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


class _Plan(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class MetricPlan(_Plan):
    """Metrics by dimensions, filtered on dimension values, over a period, optionally ranked."""

    kind: Literal["metric_query"] = "metric_query"
    metrics: list[str] = Field(min_length=1)
    by: list[str] = []
    where: dict[str, list[str]] = {}
    period: str | None = None
    order_by: list[str] = []
    limit: int | None = Field(default=None, ge=1, le=1000)

    @field_validator("where")
    @classmethod
    def _names(cls, where: dict[str, list[str]]) -> dict[str, list[str]]:
        # a plan may come from a file (--context): its keys must be names, never SQL
        for dimension in where:
            if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*", dimension):
                raise ValueError(f"{dimension!r} is not a dimension name")
        return where

    def where_sql(self) -> str | None:
        """The filter as the query path's `where` text: names checked, every value a quoted literal."""
        parts = []
        for dimension, values in sorted(self.where.items()):
            column = exp.column(*reversed(dimension.split(".")))
            parts.append(column.isin(*[exp.Literal.string(v) for v in values]).sql(dialect="duckdb"))
        return " AND ".join(parts) or None

    def metric_query(self) -> MetricQuery:
        return MetricQuery(
            tuple(self.metrics), tuple(self.by), self.where_sql(), self.period, tuple(self.order_by), self.limit
        )


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


Plan = Annotated[MetricPlan | ClarifyPlan | RefusePlan, Field(discriminator="kind")]
PLAN_ADAPTER: TypeAdapter[MetricPlan | ClarifyPlan | RefusePlan] = TypeAdapter(Plan)


def parse_plan(data: dict[str, Any]) -> MetricPlan | ClarifyPlan | RefusePlan:
    """A plan from its JSON form (pydantic validates the shape; `validate_plan` the names)."""
    return PLAN_ADAPTER.validate_python(data)


def validate_plan(brain: Brain, plan: MetricPlan, user: str | None) -> None:
    """Compile the plan as `user` without running it: unknown names, unreachable dimensions, bad
    periods raise QueryError/NotFound, and what the user may not read raises PolicyDenied."""
    for name in plan.order_by:
        if name.lstrip("-") not in (*plan.metrics, *plan.by):
            from companybrain.errors import QueryError

            raise QueryError(f"order_by={name!r} is neither a metric nor a dimension of the plan")
    policy = Policy(brain.project, brain.principal(user))
    today = brain.project.spec.today or date.today()
    compile_query(brain.semantic, plan.metric_query(), policy, today)

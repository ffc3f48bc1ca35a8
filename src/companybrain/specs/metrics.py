"""metrics/*.yaml: metrics over object types, named dimensions, and the fiscal calendar.

A metric is an aggregate over one object type (`sum(net_amount)` on OrderLine), optionally
filtered, or an arithmetic expression over other metrics (`revenue - cogs`). Expressions may
reach properties of linked objects by link path: `order.customer.region`.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from companybrain.specs.base import Spec
from companybrain.specs.ontology import OBJECT_NAME, SqlExpression

METRIC_NAME = r"^[a-z][a-z0-9_]*$"


class Metric(Spec):
    description: str = Field(description="What it measures, in the words of the business.")
    synonyms: list[str] = Field(default_factory=list, description="Other names people use (copilot).")
    object: Annotated[str, Field(pattern=OBJECT_NAME)] | None = Field(
        None, description="Object type it aggregates; omit for a metric derived from other metrics."
    )
    expr: SqlExpression = Field(
        description="sum(net_amount), count(*), count(distinct customer_id), or revenue - cogs."
    )
    where: SqlExpression | None = Field(None, description="Filter on the object's properties or link paths.")
    time: str | None = Field(None, description="Time property or path (default: the object type's time).")
    active_from: str | None = Field(
        None,
        description="For an average over time (an average headcount): the date property from which an object "
        "counts; the metric is then its count(*) or sum(...) on an average day of the period (of each time "
        "grain asked for), and without a period over the 12 months to today.",
    )
    active_until: str | None = Field(
        None, description="With active_from: the date from which the object no longer counts (null: still counts)."
    )
    snapshot: bool = Field(
        False,
        description="A figure of what stands open now (a backlog, open tickets): read as it stands today whatever "
        "the period asked, so it has no trend and no change over time; the date of its records (when an order was "
        "placed) does not place it in time.",
    )
    ahead: bool = Field(
        False,
        description="Its dates may lie ahead of today (an expected close date): a period in the future reads what "
        "is expected then, instead of being refused as not happened yet.",
    )
    format: Literal["number", "currency", "percent", "count"] = "number"
    unit: str | None = None
    label: str | None = Field(None, description="Its name for people (cockpit tiles, tables): On-time delivery.")
    target: float | None = Field(
        None, description="The value the business aims for, in the metric's own terms (0.95 for 95%): tiles show it."
    )
    better: Literal["higher", "lower"] | None = Field(
        None, description="Which way is good news (a cost: lower): colours changes and the gap to the target."
    )

    @property
    def derived(self) -> bool:
        return self.object is None

    @property
    def averaged_over_days(self) -> bool:
        """Counted on each day an object is active, averaged over the days of the period."""
        return self.active_from is not None

    def time_of(self, object_time: str | None) -> str | None:
        """What places its records in time: its own time, else its object type's (`object_time`); None for a
        snapshot, and for an average over days (spread on a calendar instead)."""
        if self.snapshot or self.averaged_over_days:
            return None
        return self.time or object_time

    @model_validator(mode="after")
    def _derived_has_no_filter(self) -> Metric:
        if self.object is None and (self.where or self.time or self.active_from or self.snapshot):
            raise ValueError("a derived metric (no object) takes where, time and snapshot from the metrics it uses")
        if self.snapshot and (self.time or self.active_from):
            raise ValueError("a snapshot is read as it stands today: it has no time and no active_from")
        if self.active_until and not self.active_from:
            raise ValueError("active_until needs active_from: the date from which an object counts")
        if self.active_from and self.time:
            raise ValueError("a metric averaged over the days an object is active (active_from) has no time")
        return self


class Dimension(Spec):
    description: str = ""
    label: str | None = Field(None, description="Its name for people (cockpit filters, tables): Sales region.")
    synonyms: list[str] = Field(default_factory=list)
    object: Annotated[str, Field(pattern=OBJECT_NAME)] = Field(description="Object type that holds it.")
    expr: SqlExpression = Field(description="A property of the object, or an expression over its properties.")
    paths: dict[str, str] = Field(
        default_factory=dict,
        description="Link path from an object type that reaches `object` in several ways, "
        "e.g. {OrderLine: production_line.site}.",
    )


class Calendar(Spec):
    fiscal_year_start_month: int = Field(1, ge=1, le=12, description="10 = the fiscal year starts in October.")


class MetricsFile(Spec):
    """One file under metrics/."""

    metrics: dict[Annotated[str, Field(pattern=METRIC_NAME)], Metric] = Field(default_factory=dict)
    dimensions: dict[Annotated[str, Field(pattern=METRIC_NAME)], Dimension] = Field(default_factory=dict)
    calendar: Calendar | None = None

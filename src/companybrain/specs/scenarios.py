"""scenarios/*.yaml: what-if scenarios, one per file - named overrides of the baseline company model.

A scenario changes prices, demand, capacity, headcount, adds capital projects or delays a
supplier; `brain scenario run NAME` stores the changed objects as overlays and reports the KPI
difference against the baseline over the scenario's `period`, then the forecast and the network
plan of the weeks ahead where the changes reach them (decisions/scenario_forecast.py, scenario_plan.py).
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from companybrain.specs.base import Spec

SCENARIO_NAME = r"^[a-z][a-z0-9_]*$"
Pct = Annotated[float, Field(gt=-100, le=1000, description="Change in percent: 5 = +5%, -20 = -20%.")]


class PriceChange(Spec):
    """A list price change for a product family and/or customer segment, with the volume response."""

    type: Literal["price"]
    family: list[str] | str | None = Field(None, description="Product family name or id (or a list).")
    segment: list[str] | str | None = Field(None, description="Customer segment (OEM, Distributor, ...).")
    change_pct: Pct
    elasticity: float | Literal["estimated"] = Field(
        description="Price elasticity of units (e.g. -1.2), or `estimated` from the order history."
    )


class DemandChange(Spec):
    """A demand shock: units and revenue of order lines in scope change by `change_pct`."""

    type: Literal["demand"]
    family: list[str] | str | None = None
    region: list[str] | str | None = Field(None, description="Customer region (NA, EMEA, APAC, LATAM).")
    change_pct: Pct


class CapacityChange(Spec):
    """A site's or one line's weekly capacity (units and hours) changes by `change_pct`."""

    type: Literal["capacity"]
    site: str = Field(description="Site id, name or city.")
    line: str | None = Field(None, description="Line id (MKE-L3) or name (L3); every line of the site if omitted.")
    change_pct: Pct


class Hiring(Spec):
    """People added at a site; Operations hires also add labour hours to the site's lines."""

    type: Literal["hiring"]
    site: str
    function: str = Field(description="Employee function: Operations, Engineering, Sales, ...")
    headcount: int = Field(gt=0, le=10_000)
    annual_cost_per_head: float = Field(gt=0, description="Salary plus on-costs, USD per year.")
    role: str | None = Field(None, description="Job title of the new people (default: the function).")


class CapitalProject(Spec):
    """A new production line at a site: its capacity reached after a linear ramp-up, and its capex."""

    type: Literal["capital_project"]
    site: str
    name: str = Field(description="Name of the new line, e.g. L5.")
    capacity_units_per_week: int = Field(gt=0)
    capacity_hours_per_week: float = Field(gt=0)
    capex: float = Field(ge=0, description="Investment, USD.")
    start: date | None = Field(None, description="First day in production (default: the period's start).")
    ramp_up_weeks: int = Field(0, ge=0, le=520)
    families: list[str] | str | None = Field(
        None, description="Product families it makes, for the plan (default: every family the site's lines make)."
    )


class SupplierDelay(Spec):
    """A supplier's purchase orders promised in the period arrive `days` later."""

    type: Literal["supplier_delay"]
    supplier: str = Field(description="Supplier id or name.")
    days: int = Field(ge=-365, le=365)


Change = Annotated[
    PriceChange | DemandChange | CapacityChange | Hiring | CapitalProject | SupplierDelay,
    Field(discriminator="type"),
]


class ScenarioSpec(Spec):
    """One file under scenarios/."""

    name: Annotated[str, Field(pattern=SCENARIO_NAME, max_length=48)]
    description: str = ""
    period: str = Field(description="The period the KPIs are compared over: 2025, 2025-Q4, 2025-01-01..2025-06-30.")
    changes: list[Change] = Field(min_length=1)

    @field_validator("period", mode="before")
    @classmethod
    def _year_as_text(cls, value: object) -> object:
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else value

    @model_validator(mode="after")
    def _scoped(self) -> ScenarioSpec:
        for change in self.changes:
            if isinstance(change, PriceChange | DemandChange) and change.change_pct == 0:
                raise ValueError(f"a {change.type} change of 0% changes nothing")
        return self

    @property
    def scenarios(self) -> dict[str, ScenarioSpec]:
        """The file as a project section (one scenario per file, keyed by its name)."""
        return {self.name: self}


def as_list(value: list[str] | str | None) -> list[str]:
    """A scope given as one value or a list, as a list (empty: no restriction)."""
    if value is None:
        return []
    return [value] if isinstance(value, str) else list(value)

"""apps/*.yaml: one app per file - a worklist of an object type that people open in the cockpit and the API.

An app ranks the objects of one type by a property (a use case's prediction, any number) or a metric per
object, narrowed by a filter over the type's properties; it shows chosen columns, the prediction's reasons,
a link to each object, the action types a person may propose from a row (parameters filled from the row's
columns), tiles at the use case's own thresholds and optional charts of metrics. Who may open it is who may
read its object type and what ranks it (and, when `audience` is given, is named there): every row and
column is read as the viewer, through the governed object and metric reads.
"""

from __future__ import annotations

import builtins
from typing import TYPE_CHECKING, Annotated, Literal

from pydantic import Field, model_validator

from companybrain.errors import Location, did_you_mean
from companybrain.specs.actions import Who
from companybrain.specs.base import Spec
from companybrain.specs.ontology import SqlExpression

if TYPE_CHECKING:
    from companybrain.project import Project

APP_NAME = r"^[a-z][a-z0-9_]*$"
PROP_NAME = r"^[a-z][a-z0-9_]*$"
MAX_ROWS = 500


class Rank(Spec):
    """What the worklist is ranked by first (a viewer may sort by any shown column instead): a property of
    the object type, or a metric per object over a period (read by the object's key)."""

    property: Annotated[str, Field(pattern=PROP_NAME)] | None = Field(
        None, description="A property of the object type, e.g. a use case's prediction (failure_risk_7d)."
    )
    metric: str | None = Field(None, description="A metric of metrics/*.yaml, per object, e.g. defect_rate.")
    period: str = Field("last_90_days", description="With metric: the period it is read over (query path periods).")
    order: Literal["desc", "asc"] = Field("desc", description="desc: highest first.")

    @model_validator(mode="after")
    def _one(self) -> Rank:
        if (self.property is None) == (self.metric is None):
            raise ValueError("rank by a `property` or a `metric`, one of them")
        return self

    @builtins.property  # `property` is a field of this model
    def column(self) -> str:
        """The worklist's column the rank is read in: the property, or the metric's name."""
        return self.property or self.metric or ""


class AppAction(Spec):
    """An action type a person may propose from a row, its parameters filled from the row's columns."""

    type: Annotated[str, Field(pattern=APP_NAME)] = Field(description="An action type of actions/*.yaml.")
    label: str = Field("", description="What the button says (default: the action type's description).")
    from_row: dict[Annotated[str, Field(pattern=PROP_NAME)], Annotated[str, Field(pattern=PROP_NAME)]] = Field(
        description="Action parameter -> the row's property that fills it, e.g. {machine_id: machine_id}."
    )


class Chart(Spec):
    """A chart beside the worklist: a metric by a time grain over the last year, or a use case's forecast
    against what happened (with its intervals), for the series the viewer filters to."""

    metric: str | None = Field(None, description="A metric of metrics/*.yaml.")
    grain: Literal["day", "week", "month"] = "month"
    forecast: str | None = Field(None, description="A forecast use case: its forecast vs actual, with intervals.")
    title: str = ""

    @model_validator(mode="after")
    def _one(self) -> Chart:
        if (self.metric is None) == (self.forecast is None):
            raise ValueError("a chart draws a `metric` or a `forecast` (a forecast use case), one of them")
        return self


class AppSpec(Spec):
    """One file under apps/."""

    name: Annotated[str, Field(pattern=APP_NAME, max_length=48)]
    title: str = Field("", description="The page's title (default: from the name).")
    description: str = ""
    object: Annotated[str, Field(pattern=r"^[A-Z][A-Za-z0-9]*$")] = Field(description="The object type listed.")
    usecase: str | None = Field(
        None, description="The use case whose predictions rank the list: its thresholds make the tiles."
    )
    rank: Rank
    filter: SqlExpression | None = Field(
        None, description='Which objects are listed, over the type\'s properties, e.g. "NOT is_closed".'
    )
    columns: list[Annotated[str, Field(pattern=PROP_NAME)]] = Field(
        min_length=1, description="Properties shown, in order (the key and the rank are added when left out)."
    )
    filters: list[Annotated[str, Field(pattern=PROP_NAME)]] = Field(
        default_factory=list, description="Columns a viewer may filter the list by (equality), e.g. [site_id]."
    )
    actions: list[AppAction] = Field(default_factory=list)
    charts: list[Chart] = Field(default_factory=list)
    audience: Who | None = Field(None, description="Who may open it (default: whoever may read what it lists).")
    limit: int = Field(50, ge=1, le=MAX_ROWS, description="Rows shown at most.")

    @property
    def apps(self) -> dict[str, AppSpec]:
        """The file as a project section (one app per file, keyed by its name)."""
        return {self.name: self}


def cross_check(project: Project) -> list[tuple[Location, str]]:
    """Names an app uses must exist: the object type and its properties, the use case, action types and
    their parameters, metrics, roles and users."""
    problems: list[tuple[Location, str]] = []
    for name, app in project.apps.items():
        problems += [(project.locate("apps", name, *path), msg) for path, msg in _app_problems(project, app)]
    return problems


def _unknown(what: str, name: str, known: object) -> str:
    return f"unknown {what} {name!r}; {did_you_mean(name, known)}"  # type: ignore[arg-type]


def _rank_problems(project: Project, app: AppSpec) -> list[tuple[tuple[str | int, ...], str]]:
    """A property to rank by is a number or a date of the type; a metric must reach the type by its key."""
    from datetime import date

    from companybrain.errors import BrainError
    from companybrain.semantic.joins import JoinPlan
    from companybrain.semantic.model import SemanticModel
    from companybrain.semantic.period import parse_period

    obj = project.objects[app.object]
    props = obj.properties
    prop, metric = app.rank.property, app.rank.metric
    if prop is not None:
        if prop not in props:
            return [(("rank", "property"), f"{app.object} has no property {prop!r}; {did_you_mean(prop, props)}")]
        if props[prop].type not in ("integer", "float", "decimal", "date", "timestamp"):
            return [(("rank", "property"), f"{app.object}.{prop} is not a number or a date: rank by one")]
        return []
    assert metric is not None
    if metric not in project.metrics:
        return [(("rank", "metric"), _unknown("metric", metric, project.metrics))]
    if metric in props:
        return [(("rank", "metric"), f"{app.object} has a property {metric!r} too: rank by `property:` instead")]
    try:
        parse_period(app.rank.period, project.spec.today or date.today())
        model = SemanticModel(project)
        for base in model.base_metrics(metric):
            owner = model.metric(base).object
            if owner is not None:
                model.dimension(f"{app.object}.{obj.key}", JoinPlan(project.objects, owner))
    except BrainError as exc:
        where = "period" if "period" in exc.message else "metric"
        return [(("rank", where), f"{metric} cannot be read per {app.object}: {exc.message}")]
    return []


def _filter_problems(project: Project, type_name: str, text: str) -> list[str]:
    """What the query path's filter parser and model refuse in an app's filter (it is read through them)."""
    from companybrain.errors import BrainError
    from companybrain.semantic.filters import parse_filter
    from companybrain.semantic.joins import JoinPlan
    from companybrain.semantic.model import SemanticModel

    try:
        SemanticModel(project).resolve(parse_filter(text), JoinPlan(project.objects, type_name), "filter")
    except BrainError as exc:
        return [exc.message]
    return []


def _app_problems(project: Project, app: AppSpec) -> list[tuple[tuple[str | int, ...], str]]:
    obj = project.objects.get(app.object)
    if obj is None:
        return [(("object",), _unknown("object type", app.object, project.objects))]
    props = obj.properties
    out: list[tuple[tuple[str | int, ...], str]] = []
    out += _rank_problems(project, app)
    if app.usecase is not None:
        uc = project.usecases.get(app.usecase)
        if uc is None:
            out.append((("usecase",), _unknown("use case", app.usecase, project.usecases)))
        elif app.object not in (uc.entity, uc.output.object):
            made = uc.entity or uc.output.object
            out.append((("usecase",), f"use case {app.usecase!r} predicts {made}, not {app.object}"))
    for i, column in enumerate(app.columns):
        if column not in props:
            out.append((("columns", i), f"{app.object} has no property {column!r}; {did_you_mean(column, props)}"))
    for i, column in enumerate(app.filters):
        if column not in app.columns:
            out.append((("filters", i), f"{column!r} is not one of the app's columns; add it to columns first"))
    if app.filter is not None:
        out += [(("filter",), msg) for msg in _filter_problems(project, app.object, app.filter)]
    for i, action in enumerate(app.actions):
        spec = project.actions.get(action.type)
        if spec is None:
            out.append((("actions", i, "type"), _unknown("action type", action.type, project.actions)))
            continue
        for param, column in action.from_row.items():
            if param not in spec.parameters:
                out.append((("actions", i, "from_row"), f"action type {action.type!r} has no parameter "
                            f"{param!r}; {did_you_mean(param, spec.parameters)}"))  # fmt: skip
            if column not in props:
                out.append((("actions", i, "from_row"), f"{app.object} has no property {column!r}; "
                            f"{did_you_mean(column, props)}"))  # fmt: skip
    for i, chart in enumerate(app.charts):
        if chart.metric is not None and chart.metric not in project.metrics:
            out.append((("charts", i, "metric"), _unknown("metric", chart.metric, project.metrics)))
        if chart.forecast is not None:
            uc = project.usecases.get(chart.forecast)
            if uc is None or uc.series is None:
                forecasts = [n for n, u in project.usecases.items() if u.series is not None]
                out.append((("charts", i, "forecast"), _unknown("forecast use case", chart.forecast, forecasts)))
            elif uc.output.object != app.object:
                out.append((("charts", i, "forecast"), f"use case {chart.forecast!r} writes "
                            f"{uc.output.object}, not the app's {app.object}"))  # fmt: skip
    if app.audience is not None:
        for role in app.audience.roles:
            if role not in project.roles:
                out.append((("audience", "roles"), _unknown("role", role, project.roles)))
        for user in app.audience.users:
            if user not in project.users:
                out.append((("audience", "users"), _unknown("user", user, project.users)))
    return out

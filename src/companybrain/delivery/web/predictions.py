"""The panels of the project's use cases: the objects a model scores highest (with its threshold and its
reasons in words), and forecasts against what happened; the Predictions page shows them all."""

from __future__ import annotations

from collections import defaultdict
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from companybrain.delivery.web import layout, reads
from companybrain.delivery.web.deps import Svc, Who
from companybrain.delivery.web.reads import NO_MODEL, NO_SCORES, metric
from companybrain.delivery.web.render import PREFIX, page
from companybrain.semantic.query import MetricQuery

if TYPE_CHECKING:
    from companybrain.delivery.app import BrainService
    from companybrain.delivery.web.session import Viewer
    from companybrain.specs.usecases import UseCase

router = APIRouter(include_in_schema=False)


def visible_usecases(svc: BrainService, viewer: Viewer, readable: dict[str, Any]) -> tuple[list[UseCase], list[str]]:
    """(use cases whose panels the viewer may read, descriptions of those hidden from them)."""
    project = svc.brain.project
    shown: list[UseCase] = []
    hidden: list[UseCase] = []
    from companybrain.governance.policy import Policy

    policy = Policy(project, viewer.principal)
    for uc in layout.scored_usecases(project):
        assert uc.entity is not None and uc.output.property is not None
        readable_scores = reads.can_read(svc, viewer, uc.entity) and not policy.masked(uc.entity, uc.output.property)
        (shown if readable_scores else hidden).append(uc)
    for uc in layout.forecast_usecases(project):
        assert uc.series is not None
        assert uc.output.object is not None
        readable_rows = uc.series.metric in readable and reads.can_read(svc, viewer, uc.output.object)
        (shown if readable_rows else hidden).append(uc)
    return shown, [uc.description.rstrip(".") or layout.humanize(uc.name) for uc in hidden]


def panel(svc: BrainService, viewer: Viewer, uc: UseCase, readable: dict[str, Any], top: int = 5) -> dict[str, Any]:
    """The panel of one use case, as the viewer may read it."""
    if uc.series is not None:
        return forecast(svc, viewer, uc, readable)
    return scored(svc, viewer, uc, top)


def scored(svc: BrainService, viewer: Viewer, uc: UseCase, top: int = 5) -> dict[str, Any]:
    """How many objects score at or above the use case's threshold, and the highest, with their reasons."""
    project = svc.brain.project
    assert uc.entity is not None and uc.output.property is not None
    entity, prop = uc.entity, uc.output.property
    level_name, level = layout.threshold(uc)
    form = layout.score_format(uc)
    out: dict[str, Any] = {
        "name": uc.name,
        "kind": "scored",
        "title": uc.description.rstrip(".") or layout.humanize(uc.name),
        "entity": entity,
        "entity_label": layout.humanize(entity),
        "rows": [],
        "threshold": f"{level_name} ({'≥ ' + reads_fmt(level, form)})",
        "form": form,
    }
    scored_count, problem = reads.count(svc, viewer, entity, f"{prop} IS NOT NULL")
    if problem or not scored_count:
        return {**out, "problem": problem or NO_SCORES}
    panel = reads.objects(svc, viewer, entity, f"{prop} >= {float(level)!r}", None)
    if not panel.ok:
        return {**out, "problem": panel.problem}
    high = len(panel.rows)
    if high < top:  # few score high: show the highest anyway, under the threshold
        panel = reads.objects(svc, viewer, entity, f"{prop} IS NOT NULL", None)
    rows = sorted(panel.rows, key=lambda r: -float(r.get(prop) or 0))
    key = project.objects[entity].key
    shown = [p for p in layout.shown_properties(project, entity) if p != key]
    out.update(
        problem=None,
        count=high,
        scored=scored_count,
        columns=[{"name": p, "label": layout.property_label(project, entity, p)} for p in shown],
        rows=[
            {
                "key": r.get(key),
                "href": f"{PREFIX}/objects/{entity}/{r.get(key)}",
                "values": [_linked(project, entity, p, r.get(p)) for p in shown],
                "score": r.get(prop),
                "high": float(r.get(prop) or 0) >= level,
                "reasons": layout.reasons(project, uc, r.get(f"{prop}_reasons")),
            }
            for r in rows[:top]
        ],
        export=f"{PREFIX}/export.csv?type={entity}&score={prop}&min={level!r}",
    )
    return out


def reads_fmt(value: float, form: str) -> str:
    from companybrain.delivery.web.charts import fmt

    return fmt(value, form)


def _linked(project: Any, entity: str, prop: str, value: Any) -> dict[str, Any]:
    target = layout.object_link(project, prop, entity)
    href = None
    if target is not None and value not in (None, "***"):
        type_name, key = target
        if key == project.objects[type_name].key:
            href = f"{PREFIX}/objects/{type_name}/{value}"
    return {"value": value, "href": href}


def forecast(svc: BrainService, viewer: Viewer, uc: UseCase, readable: dict[str, Any]) -> dict[str, Any]:
    """Forecast vs actual: the use case's forecast rows summed per period, after the metric's actual values
    over twice the horizon before them."""
    assert uc.series is not None and uc.output.object is not None
    name, grain = uc.series.metric, uc.series.grain
    out: dict[str, Any] = {
        "name": uc.name,
        "kind": "forecast",
        "title": uc.description.rstrip(".") or layout.humanize(uc.name),
    }
    rows = reads.objects(svc, viewer, uc.output.object, None, None)
    if not rows.ok or not rows.rows:
        return {**out, "problem": rows.problem or NO_SCORES}
    ahead: dict[Any, float] = defaultdict(float)
    for r in rows.rows:
        if isinstance(r.get("forecast"), int | float):
            ahead[r["period"]] += float(r["forecast"])
    if not ahead:
        return {**out, "problem": NO_SCORES}
    first = min(ahead)
    span = timedelta(days={"day": 1, "week": 7, "month": 31}.get(grain, 7) * 2 * len(ahead))
    period = f"{(first - span).isoformat()}..{(first - timedelta(days=1)).isoformat()}"
    actual = metric(svc, viewer, MetricQuery((name,), by=(grain,), period=period))
    info = readable[name]
    label = layout.metric_label(svc.brain.project, name)
    return {
        **out,
        "problem": actual.problem,
        "subtitle": f"{label} per {grain}: actual, then forecast",
        "series": [
            ("actual", [(r.get(grain), r.get(name)) for r in actual.rows]),
            ("forecast", sorted(ahead.items())),
        ],
        "form": info["format"],
        "unit": info["unit"],
    }


@router.get("/predictions", response_class=HTMLResponse)
def predictions(request: Request, svc: Svc, viewer: Who) -> HTMLResponse:
    """Every use case the viewer may read: the highest scores with their reasons, forecasts against actuals."""
    readable = reads.catalog(svc, viewer)
    shown, hidden = visible_usecases(svc, viewer, readable)
    panels = [panel(svc, viewer, uc, readable, top=12) for uc in shown]
    return page(
        request,
        svc,
        viewer,
        "predictions.html",
        readable=readable,
        title="Predictions",
        panels=panels,
        hidden=hidden,
        no_model=NO_MODEL,
    )

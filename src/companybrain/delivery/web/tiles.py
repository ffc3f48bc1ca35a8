"""KPI tiles: a metric over the page's period and filters, its change against the period before, its target
(where the project declares one) and its trend; a figure of today (a headcount, a backlog) as it stands today."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from companybrain.delivery.web import layout
from companybrain.delivery.web.charts import fmt
from companybrain.delivery.web.reads import Panel, metric, today
from companybrain.semantic.query import MetricQuery

if TYPE_CHECKING:
    from companybrain.delivery.app import BrainService
    from companybrain.delivery.web.session import Viewer
    from companybrain.delivery.web.view import View


def combined(svc: BrainService, viewer: Viewer, names: list[str], **query: Any) -> dict[str, Panel]:
    """One query for several metrics; when it fails, one per metric so that each says why."""
    if not names:
        return {}
    together = metric(svc, viewer, MetricQuery(tuple(names), **query))
    if together.ok or len(names) == 1:
        return dict.fromkeys(names, together)
    return {n: metric(svc, viewer, MetricQuery((n,), **query)) for n in names}


def tiles(
    svc: BrainService, viewer: Viewer, names: list[str], view: View, readable: dict[str, Any], link: str | None = None
) -> list[dict[str, Any]]:
    """A tile per metric: value, change, target, trend (the filters apply where they reach the metric); a figure
    of today (a headcount, a backlog) reads the same whatever the period: no change, no trend."""
    project = svc.brain.project
    model = svc.brain.semantic
    groups: dict[tuple[str, ...], list[str]] = {}
    for name in names:
        applies = tuple(d for d in view.filters if layout.dimensions_for(model, name, [d]))
        groups.setdefault(applies, []).append(name)
    current = {n for n in names if not model.timed(n)}
    totals: dict[str, Panel] = {}
    before: dict[str, Panel] = {}
    trends: dict[str, Panel] = {}
    for applies, group in groups.items():
        where = view.where() if len(applies) == len(view.filters) else _where(view, applies)
        periodic = [n for n in group if n not in current]
        totals |= combined(svc, viewer, periodic, where=where, period=view.period_text)
        before |= combined(svc, viewer, periodic, where=where, period=view.previous_text)
        trends |= combined(svc, viewer, periodic, by=(view.grain,), where=where, period=view.period_text)
        now = combined(svc, viewer, [n for n in group if n in current], where=where)
        totals |= now
        before |= dict.fromkeys(now, Panel())
        trends |= dict.fromkeys(now, Panel())
    out = []
    for applies, group in groups.items():
        skipped = [layout.dimension_label(project, d) for d in view.filters if d not in applies]
        for name in group:
            tile = _tile(project, name, readable[name], totals[name], before[name], trends[name], view, link)
            notes = []
            if name in current:
                notes.append(f"As it stands today ({today(svc).isoformat()}): the period does not apply.")
            if skipped:
                notes.append(f"Not filtered by {', '.join(skipped)}: it does not apply to this figure.")
            tile.update(today_only=name in current, note=" ".join(notes) or None)
            out.append(tile)
    order = {n: i for i, n in enumerate(names)}
    return sorted(out, key=lambda t: order[t["name"]])


def _where(view: View, applies: tuple[str, ...]) -> str | None:
    from companybrain.delivery.web.reads import quote

    return " AND ".join(f"{d} = {quote(view.filters[d])}" for d in applies) or None


def _value(panel: Panel, name: str) -> Any:
    return panel.rows[0].get(name) if panel.ok and panel.rows else None


def _tile(
    project: Any,
    name: str,
    info: dict[str, Any],
    total: Panel,
    before: Panel,
    trend: Panel,
    view: View,
    link: str | None,
) -> dict[str, Any]:
    spec = project.metrics[name]
    form, unit = info["format"], info["unit"]
    value, prior = _value(total, name), _value(before, name)
    tile: dict[str, Any] = {
        "name": name,
        "title": layout.metric_label(project, name),
        "description": spec.description,
        "value": value,
        "form": form,
        "unit": unit,
        "trend": [(r.get(view.grain), r.get(name)) for r in trend.rows] if trend.ok else [],
        "problem": total.problem,
        "href": link.format(metric=name) if link else None,
    }
    tile.update(change(value, prior, form, spec.better))
    tile.update(target(value, spec.target, form, unit, spec.better))
    return tile


def _sign(difference: float, better: str | None) -> str:
    if better is None or difference == 0:
        return "neutral"
    return "good" if (difference > 0) == (better == "higher") else "bad"


def change(value: Any, prior: Any, form: str, better: str | None) -> dict[str, Any]:
    """The change against the period before: in points for a percentage, else in per cent."""
    if not isinstance(value, int | float) or not isinstance(prior, int | float):
        return {"delta": None}
    difference = float(value) - float(prior)
    if form == "percent":
        text = f"{difference * 100:+.1f} pts"
    elif prior:
        text = f"{difference / abs(prior):+.1%}"
    else:
        return {"delta": None}
    return {"delta": text, "delta_class": _sign(difference, better), "prior": fmt(prior, form)}


def target(value: Any, goal: float | None, form: str, unit: str | None, better: str | None) -> dict[str, Any]:
    """The declared target and how far the value is from it."""
    if goal is None:
        return {"target": None}
    out: dict[str, Any] = {"target": fmt(goal, form, unit), "target_value": goal}
    if isinstance(value, int | float):
        difference = float(value) - goal
        if form == "percent":
            gap = f"{abs(difference) * 100:.1f} pts"
        elif goal:
            gap = f"{abs(difference) / abs(goal):.0%}"
        else:
            gap = fmt(abs(difference), form, unit)
        side = "above" if difference > 0 else "below" if difference < 0 else "on"
        out["target_gap"] = "on target" if side == "on" else f"{gap} {side} target"
        out["target_class"] = _sign(difference, better) if side != "on" else "good"
    return out

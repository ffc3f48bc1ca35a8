"""KPI tiles: a metric over the page's period and filters, its change against the period before, its target
(where the project declares one) and its trend; a figure of what is open today (a backlog) as it stands today."""

from __future__ import annotations

from datetime import timedelta
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
    """A tile per metric: value, change, target, trend (the filters apply where they reach the metric)."""
    project = svc.brain.project
    model = svc.brain.semantic
    groups: dict[tuple[str, ...], list[str]] = {}
    for name in names:
        applies = tuple(d for d in view.filters if layout.dimensions_for(model, name, [d]))
        groups.setdefault(applies, []).append(name)
    open_now = standing(svc, viewer, names, readable)
    totals: dict[str, Panel] = {}
    before: dict[str, Panel] = {}
    trends: dict[str, Panel] = {}
    for applies, group in groups.items():
        where = view.where() if len(applies) == len(view.filters) else _where(view, applies)
        periodic = [n for n in group if n not in open_now]
        totals |= combined(svc, viewer, periodic, where=where, period=view.period_text)
        before |= combined(svc, viewer, periodic, where=where, period=view.previous_text)
        trends |= combined(svc, viewer, periodic, by=(view.grain,), where=where, period=view.period_text)
        # what is open today reads the same whatever the period: no change against the period before, no trend
        now = combined(svc, viewer, [n for n in group if n in open_now], where=where)
        totals |= now
        before |= dict.fromkeys(now, Panel())
        trends |= dict.fromkeys(now, Panel())
    out = []
    for applies, group in groups.items():
        skipped = [layout.dimension_label(project, d) for d in view.filters if d not in applies]
        for name in group:
            out.append(_tile(project, name, readable[name], totals[name], before[name], trends[name], view, link))
            if name in open_now:
                out[-1].update(today_only=True, trend=[], delta=None, note=open_today_note(svc))
            if skipped:
                out[-1]["note"] = f"Not filtered by {', '.join(skipped)}: it does not apply to this figure."
    order = {n: i for i, n in enumerate(names)}
    return sorted(out, key=lambda t: order[t["name"]])


def open_today_note(svc: BrainService) -> str:
    """What a figure of what is open today says instead of a period."""
    return f"As it stands today ({today(svc).isoformat()}): everything open now, whatever the period."


def standing(svc: BrainService, viewer: Viewer, names: list[str], readable: dict[str, Any]) -> set[str]:
    """The figures of what is open today (open orders' value, open opportunities' amount): their own filter keeps
    records in a state they leave with time, so none of what they count is dated before the last 12 full months
    while other figures of the same records are. A period picks by date what such a figure counts (orders
    placed in it that are still open), which is not what its name says; it is read as it stands today instead.
    A figure of a project whose records are all recent stays a figure of the period."""
    project = svc.brain.project
    candidates: dict[str, list[str]] = {}  # object type -> its filtered, dated figures among `names`
    for name in names:
        spec = project.metrics.get(name)
        if spec is not None and spec.object and spec.where and _dated(project, name):
            candidates.setdefault(spec.object, []).append(name)
    if not candidates:
        return set()
    from companybrain.delivery.web.view import trailing_months

    older = f"1900-01-01..{(trailing_months(today(svc)).start - timedelta(days=1)).isoformat()}"
    found: set[str] = set()
    for obj, asked in candidates.items():
        dated = [
            m for m, spec in project.metrics.items() if spec.object == obj and m in readable and _dated(project, m)
        ]
        before = combined(svc, viewer, list(dict.fromkeys([*asked, *dated])), period=older)
        if any(_value(before[m], m) for m in dated):
            found |= {m for m in asked if before[m].ok and not _value(before[m], m)}
    return found


def _dated(project: Any, name: str) -> bool:
    """Whether a metric's records are placed in time by a date (its own, or its object type's)."""
    spec = project.metrics[name]
    if spec.object is None or spec.active_from:
        return False
    obj = project.objects.get(spec.object)
    return bool(spec.time or (obj is not None and obj.time))


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
    # a figure of today (a headcount, a coverage) has no period: no trend, no change, said so
    notes = total.result.notes if total.result is not None else []
    today_only = any("period does not apply" in n and name in n.split(":")[0].split(", ") for n in notes)
    tile: dict[str, Any] = {
        "name": name,
        "title": layout.metric_label(project, name),
        "description": spec.description,
        "value": value,
        "form": form,
        "unit": unit,
        "trend": [(r.get(view.grain), r.get(name)) for r in trend.rows] if trend.ok and not today_only else [],
        "problem": total.problem,
        "note": "As it stands today: the period does not apply." if today_only else None,
        "today_only": today_only,
        "href": link.format(metric=name) if link else None,
    }
    tile.update(change(value, None if today_only else prior, form, spec.better))
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

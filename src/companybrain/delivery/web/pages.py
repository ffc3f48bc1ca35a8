"""The cockpit's pages of figures: each viewer's overview, and a page per metrics file of the project (tiles,
a breakdown to drill into by the dimensions the viewer may use, the trend), all over a chosen period and
filters. What the viewer may not read is not drawn: the page says once what is hidden and why."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from companybrain.delivery.web import layout, reads
from companybrain.delivery.web.deps import Svc, Who
from companybrain.delivery.web.inbox import alerts_for
from companybrain.delivery.web.objects import object_href
from companybrain.delivery.web.predictions import panel, visible_usecases
from companybrain.delivery.web.reads import NO_MODEL, Panel, metric
from companybrain.delivery.web.render import PREFIX, page, refused
from companybrain.delivery.web.tiles import tiles
from companybrain.delivery.web.view import PERIODS, View, parse_view
from companybrain.semantic.query import MetricQuery

router = APIRouter(include_in_schema=False)
BREAKDOWN_ROWS = 40
AREA_TILES = 8


def view_of(request: Request, svc: Svc, viewer: Who, own: tuple[str, ...] = ()) -> View:
    """The period and filters asked for in the page's address."""
    return parse_view(
        request.url.path, dict(request.query_params), reads.today(svc), set(reads.dimensions(svc, viewer)), own
    )


def picker(svc: Svc, viewer: Who, view: View) -> dict[str, Any]:
    """What the period picker and the filter bar show."""
    project = svc.brain.project
    return {
        "periods": PERIODS,
        "view": view,
        "crumbs": [
            {"label": layout.dimension_label(project, d), "value": v, "remove": view.filtered(d, None)}
            for d, v in view.filters.items()
        ],
        "filter_dims": [(d, layout.dimension_label(project, d)) for d in reads.dimensions(svc, viewer)],
    }


@router.get("/", response_class=HTMLResponse)
def overview(request: Request, svc: Svc, viewer: Who) -> HTMLResponse:
    """The viewer's overview: the metrics declared for their role (or chosen from its grants), the models'
    highest scores they may read, their open alerts."""
    project = svc.brain.project
    readable = reads.catalog(svc, viewer)
    view = view_of(request, svc, viewer)
    chosen = layout.overview_for(project, viewer.principal, set(readable))
    link = _metric_link(svc, view)
    shown_tiles = tiles(svc, viewer, chosen.metrics, view, readable, link=None)
    for tile in shown_tiles:
        tile["href"] = link(tile["name"])
    usecases, hidden_models = visible_usecases(svc, viewer, readable)
    models = [panel(svc, viewer, uc, readable) for uc in usecases]
    hidden = []
    if chosen.hidden:
        names = ", ".join(layout.metric_label(project, m) for m in chosen.hidden)
        hidden.append(f"{names}: your roles do not grant them")
    if hidden_models:
        hidden.append(f"{'; '.join(hidden_models)}: your roles do not give access to what these models predict")
    return page(
        request,
        svc,
        viewer,
        "overview.html",
        readable=readable,
        title="Overview",
        why=chosen.why,
        tiles=shown_tiles,
        models=[m for m in models if not _untrained(m)][:4],
        untrained=[m["title"] for m in models if _untrained(m)],
        more_models=len(models) > 4,
        alerts=alerts_for(svc, viewer, status="open")[:8],
        hidden=hidden,
        no_model=NO_MODEL,
        **picker(svc, viewer, view),
    )


def _untrained(model: dict[str, Any]) -> bool:
    return str(model.get("problem") or "").startswith("No model")


def _metric_link(svc: Svc, view: View) -> Any:
    """A metric's page (its metrics file), with the same period and filters, the metric chosen."""
    where = {m: a.slug for a in layout.areas(svc.brain.project) for m in a.metrics}

    def link(name: str) -> str | None:
        return view.url(f"{PREFIX}/{where[name]}", metric=name) if name in where else None

    return link


def register_areas(router: APIRouter) -> None:
    """The page of each metrics file, at /cockpit/<file stem>; added after every fixed page."""

    @router.get("/{slug}", response_class=HTMLResponse)
    def area(slug: str, request: Request, svc: Svc, viewer: Who) -> HTMLResponse:
        return area_page(slug, request, svc, viewer)


def area_page(slug: str, request: Request, svc: Svc, viewer: Who) -> HTMLResponse:
    """A page of metrics: tiles, then one metric broken down (click to drill) and its trend."""
    project = svc.brain.project
    found = layout.area_of(project, slug)
    if found is None:
        message = f"There is no page {slug!r} in this cockpit: its pages are the project's metrics files."
        return page(request, svc, viewer, "refused.html", status=404, title="Not found", message=message)
    readable = reads.catalog(svc, viewer)
    if (denied := refused(request, svc, viewer, readable, slug)) is not None:
        return denied
    names = [m for m in found.metrics if m in readable]
    view = view_of(request, svc, viewer, own=("metric", "by"))
    chosen = view.params.get("metric", "")
    chosen = chosen if chosen in names else names[0]
    dims = layout.dimensions_for(svc.brain.semantic, chosen, reads.dimensions(svc, viewer))
    by = _breakdown_dimension(svc, chosen, dims, view)
    info = readable[chosen]
    # tiles for the first figures of the page (and the one chosen); the others are a click away
    tiled = list(dict.fromkeys([*names[:AREA_TILES], chosen]))
    shown_tiles = tiles(svc, viewer, tiled, view, readable, link=None)
    for tile in shown_tiles:
        tile["href"] = view.url(metric=tile["name"])
        tile["active"] = tile["name"] == chosen
    others = [{"label": layout.metric_label(project, m), "href": view.url(metric=m)} for m in names if m not in tiled]
    order = "-" + chosen
    today_only = not svc.brain.semantic.timed(chosen)  # a headcount of today, a backlog: no period, no trend
    period = None if today_only else view.period_text
    if by is not None:
        breakdown = metric(
            svc,
            viewer,
            MetricQuery(
                (chosen,), by=(by,), where=view.where(), period=period, order_by=(order,), limit=BREAKDOWN_ROWS
            ),
        )
    else:
        breakdown = Panel(error="This figure cannot be broken down by anything you may use.")
    trend = (
        Panel()
        if today_only
        else metric(svc, viewer, MetricQuery((chosen,), by=(view.grain,), where=view.where(), period=period))
    )
    bars, links = [], []
    nxt = _next_dimension(dims, view, by)
    for r in breakdown.rows:
        value = r.get(by or "")
        bars.append((_shown(value), r.get(chosen)))
        drill = view.filtered(by, str(value), by=nxt) if value is not None and by in dims and by and nxt else None
        links.append(drill)
    hidden_count = len(found.metrics) - len(names)
    return page(
        request,
        svc,
        viewer,
        "area.html",
        readable=readable,
        title=found.title,
        tiles=shown_tiles,
        others=others,
        chosen=chosen,
        chosen_label=layout.metric_label(project, chosen),
        info=info,
        by=by,
        by_label=layout.dimension_label(project, by) if by else "",
        dims=[
            {"name": d, "label": layout.dimension_label(project, d), "href": view.url(by=d), "active": d == by}
            for d in _tabs(svc, chosen, dims)
        ],
        breakdown=breakdown,
        bars=bars,
        links=links,
        table=_table(svc, breakdown, by, chosen, info, view, dims) if by else None,
        trend=[(r.get(view.grain), r.get(chosen)) for r in trend.rows] if trend.ok else [],
        trend_problem=None if today_only else trend.problem,
        today_only=today_only,
        grain=view.grain,
        export=_export(view, chosen, by, order),
        hidden=[f"{hidden_count} figure{'s' if hidden_count > 1 else ''} of this page: your roles do not grant them"]
        if hidden_count
        else [],
        **picker(svc, viewer, view),
    )


def _shown(value: Any) -> Any:
    return "Not recorded" if value is None or value == "" else value


def _record_level(svc: Svc, name: str) -> str | None:
    """`Type.key` of the records a metric counts (its own, or its first part's): the last drill level."""
    model = svc.brain.semantic
    for base in model.base_metrics(name):
        obj = model.metric(base).object
        if obj is not None:
            return f"{obj}.{svc.brain.project.objects[obj].key}"
    return None


def _tabs(svc: Svc, name: str, dims: list[str]) -> list[str]:
    level = _record_level(svc, name)
    return [*dims, *([level] if level else [])]


def _breakdown_dimension(svc: Svc, name: str, dims: list[str], view: View) -> str | None:
    asked = view.params.get("by", "")
    if asked in _tabs(svc, name, dims):
        return asked
    return _next_dimension(dims, view, None) or _record_level(svc, name)


def _next_dimension(dims: list[str], view: View, current: str | None) -> str | None:
    """Where a click on a bar leads: the next dimension not filtered yet, after the current one."""
    rest = [d for d in dims if d not in view.filters and d != current]
    if current in dims:
        after = dims[dims.index(current) + 1 :]
        rest = [d for d in after if d not in view.filters] + [d for d in rest if d not in after]
    return rest[0] if rest else None


def _table(
    svc: Svc, panel: Panel, by: str, name: str, info: dict[str, Any], view: View, dims: list[str]
) -> dict[str, Any]:
    """The figures under the chart: each value links to its object, or filters the page by it."""
    project = svc.brain.project
    target = layout.object_link(project, by)
    rows = []
    for r in panel.rows:
        value = r.get(by)
        href = None
        if value is not None and target is not None:
            type_name, prop = target
            key = project.objects[type_name].key
            href = object_href(type_name, value) if prop == key else object_href(type_name, None, {prop: value})
        rows.append({"label": _shown(value), "href": href, "value": r.get(name)})
    return {
        "by": layout.dimension_label(project, by),
        "metric": layout.metric_label(project, name),
        "form": info["format"],
        "unit": info["unit"],
        "rows": rows,
    }


def _export(view: View, name: str, by: str | None, order: str) -> str:
    from urllib.parse import urlencode

    params = {"m": name, **({"by": by} if by else {}), "order": order, "limit": str(BREAKDOWN_ROWS)}
    return f"{PREFIX}/export.csv?" + urlencode({**params, **view.query()})

"""Cockpit pages for the business: Overview, Margin explorer, Sales."""

from __future__ import annotations

from collections import defaultdict
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from companybrain.delivery.web import reads
from companybrain.delivery.web.deps import Svc, Who
from companybrain.delivery.web.inbox import alerts_for
from companybrain.delivery.web.reads import NO_MODEL, NO_SCORES, Panel, metric, quote
from companybrain.delivery.web.render import PREFIX, page, refused
from companybrain.semantic.query import MetricQuery

router = APIRouter(include_in_schema=False)

KPIS = [
    ("revenue", "Revenue"),
    ("gross_margin", "Gross margin"),
    ("cost_to_serve", "Cost to serve"),
    ("on_time_delivery", "On-time delivery"),
    ("backlog", "Backlog"),
]
# (type, property, what a high score means, properties shown beside it)
RISKS = [
    ("Order", "late_risk", "orders at risk of shipping late", ("order_id", "customer_id", "due_date")),
    ("Machine", "failure_risk_7d", "machines at risk of failing within 7 days", ("machine_id", "line_id")),
    ("Employee", "attrition_risk", "people at risk of leaving", ("employee_id", "site_id", "function")),
]
HIGH_RISK = 0.5
MARGIN_DIMS = ["region", "segment", "customer", "product", "family", "site"]
DRILL_NEXT = {"region": "segment", "segment": "customer", "family": "product", "site": "product"}
SALES_DIMS = {"sales_play": "Sales play", "sales_region": "Region", "segment": "Segment", "rep": "Rep"}


def _series(panel: Panel, dim: str, name: str) -> list[tuple[Any, float | None]]:
    return [(r[dim], r.get(name)) for r in panel.rows]


def _combined(svc: Svc, viewer: Who, names: list[str], **query: Any) -> dict[str, Panel]:
    """One query for several metrics; when it is denied, one per metric so each panel says why."""
    if not names:
        return {}
    together = metric(svc, viewer, MetricQuery(tuple(names), **query))
    if together.ok or len(names) == 1:
        return dict.fromkeys(names, together)
    return {n: metric(svc, viewer, MetricQuery((n,), **query)) for n in names}


@router.get("/", response_class=HTMLResponse)
def overview(request: Request, svc: Svc, viewer: Who) -> HTMLResponse:
    """The executive overview: five KPIs with their trend, top risks, open alerts."""
    period = reads.trailing_year(svc)
    readable = reads.catalog(svc, viewer)
    names = [n for n, _ in KPIS if n in readable]
    flows = [n for n in names if n != "backlog"]
    totals = _combined(svc, viewer, flows, period=period)
    if "backlog" in names:  # the order book today, whenever the orders were placed
        totals["backlog"] = metric(svc, viewer, MetricQuery(("backlog",)))
    trends = _combined(svc, viewer, names, by=("month",), period=period)
    tiles: list[dict[str, Any]] = []
    for name, title in KPIS:
        info = readable.get(name)
        if info is None:
            tiles.append({"name": name, "title": title, "problem": "Not available to you"})
            continue
        total, trend = totals[name], trends[name]
        value = total.rows[0][name] if total.ok and total.rows else None
        tiles.append(
            {
                "name": name,
                "title": title,
                "value": value,
                "form": info["format"],
                "unit": info["unit"],
                "trend": _series(trend, "month", name) if trend.ok else [],
                "problem": total.problem or trend.problem,
                "note": "open orders today; trend by order month" if name == "backlog" else None,
            }
        )
    past_due, past_due_problem = reads.count(
        svc, viewer, "Order", f"status = 'open' AND due_date < CAST({quote(reads.today(svc).isoformat())} AS DATE)"
    )
    risks = [_risk(svc, viewer, *spec) for spec in RISKS]
    forecast = _forecast(svc, viewer, readable)
    return page(
        request,
        svc,
        viewer,
        "overview.html",
        readable=readable,
        title="Overview",
        period=period,
        tiles=tiles,
        past_due=past_due,
        past_due_problem=past_due_problem,
        risks=risks,
        forecast=forecast,
        alerts=alerts_for(svc, viewer, status="open")[:8],
    )


def _risk(svc: Svc, viewer: Who, type_name: str, prop: str, label: str, shown: tuple[str, ...]) -> dict[str, Any]:
    """A prediction written back as a property: how many score high, and the highest ones."""
    if not reads.has_property(svc, type_name, prop):
        return {"label": label, "problem": NO_MODEL, "rows": []}
    scored, problem = reads.count(svc, viewer, type_name, f"{prop} IS NOT NULL")
    if problem or not scored:
        return {"label": label, "problem": problem or NO_SCORES, "rows": []}
    panel = reads.objects(svc, viewer, type_name, f"{prop} >= {HIGH_RISK}", None)
    rows = sorted(panel.rows, key=lambda r: -float(r.get(prop) or 0))
    reasons = f"{prop}_reasons"
    top = [{**{k: r.get(k) for k in shown}, "risk": r.get(prop), "reasons": r.get(reasons)} for r in rows[:5]]
    return {"label": label, "problem": panel.problem, "count": len(rows), "rows": top, "shown": shown}


def _forecast(svc: Svc, viewer: Who, readable: dict[str, Any]) -> dict[str, Any]:
    """Forecast vs actual: the first forecast use case's rows (an object type the factory writes) summed
    per period, after the metric's actual values over twice the horizon before them."""
    usecases = svc.brain.project.usecases
    uc = next((u for u in usecases.values() if u.output.object and u.series is not None), None)
    if uc is None or uc.series is None or uc.output.object is None:
        return {"problem": NO_MODEL}
    name, grain = uc.series.metric, uc.series.grain
    if name not in readable:
        return {"problem": f"Not available to you: the metric {name} is not granted to your roles"}
    rows = reads.objects(svc, viewer, uc.output.object, None, None)
    if not rows.ok or not rows.rows:
        return {"problem": rows.problem or NO_SCORES}
    ahead: dict[Any, float] = defaultdict(float)
    for r in rows.rows:
        if isinstance(r.get("forecast"), int | float):
            ahead[r["period"]] += float(r["forecast"])
    first = min(ahead)
    span = timedelta(days={"day": 1, "week": 7, "month": 31}.get(grain, 7) * 2 * len(ahead))
    period = f"{(first - span).isoformat()}..{(first - timedelta(days=1)).isoformat()}"
    actual = metric(svc, viewer, MetricQuery((name,), by=(grain,), period=period))
    info = readable[name]
    return {
        "problem": actual.problem,
        "title": f"{name} per {grain}: actual, then forecast ({uc.name})",
        "series": [("actual", _series(actual, grain, name)), ("forecast", sorted(ahead.items()))],
        "form": info["format"],
        "unit": info["unit"],
    }


@router.get("/margin", response_class=HTMLResponse)
def margin(request: Request, svc: Svc, viewer: Who) -> HTMLResponse:
    """True margin by region, segment, customer, product, family or site; drill down to orders."""
    params = request.query_params
    by = params.get("by", "region")
    if by not in [*MARGIN_DIMS, "order"]:
        by = "region"
    filters = {d: params[d] for d in MARGIN_DIMS if params.get(d)}
    where = " AND ".join(f"{d} = {quote(v)}" for d, v in filters.items()) or None
    readable = reads.catalog(svc, viewer)
    if (denied := refused(request, svc, viewer, readable, "margin")) is not None:
        return denied
    main = "true_margin" if "true_margin" in readable else "gross_margin"
    pct = f"{main}_pct" if main == "true_margin" else "margin_pct"
    names = [m for m in ("revenue", main, pct) if m in readable]
    period = reads.trailing_year(svc)
    dims = ("Order.order_id", "Order.order_date") if by == "order" else (by,)
    breakdown = (
        metric(
            svc,
            viewer,
            MetricQuery(tuple(names), by=dims, where=where, period=period, order_by=(f"-{main}",), limit=40),
        )
        if main in readable
        else Panel(denied="Not available to you: neither true nor gross margin is granted to your roles")
    )
    trend = (
        metric(svc, viewer, MetricQuery((pct,), by=("month",), where=where, period=period)) if pct in names else Panel()
    )

    def link(**extra: str) -> str:
        return f"{PREFIX}/margin?{urlencode({**filters, **extra})}"

    bars, links = [], []
    if by != "order":
        nxt = "order" if by in ("customer", "product") else DRILL_NEXT.get(by, "customer")
        for r in breakdown.rows:
            bars.append((r[by], r.get(main)))
            links.append(link(by=nxt, **{by: str(r[by])}) if r[by] is not None else None)
    crumbs = [
        {
            "dim": d,
            "value": v,
            "remove": f"{PREFIX}/margin?{urlencode({'by': by, **{k: x for k, x in filters.items() if k != d}})}",
        }
        for d, v in filters.items()
    ]
    return page(
        request,
        svc,
        viewer,
        "margin.html",
        readable=readable,
        title="Margin explorer",
        by=by,
        dims=[{"name": d, "href": link(by=d), "active": d == by} for d in [*MARGIN_DIMS, "order"]],
        crumbs=crumbs,
        main=main,
        pct=pct,
        names=names,
        note=None if main == "true_margin" else "True margin (after cost to serve) is not available to you.",
        breakdown=breakdown,
        bars=bars,
        links=links,
        trend=_series(trend, "month", pct) if trend.ok else [],
        trend_problem=trend.problem,
        period=period,
    )


@router.get("/sales", response_class=HTMLResponse)
def sales(request: Request, svc: Svc, viewer: Who) -> HTMLResponse:
    """Which plays work, by region, segment and rep: win rate, cycle time, won amount; and margin."""
    by = request.query_params.get("by", "sales_play")
    if by not in SALES_DIMS:
        by = "sales_play"
    readable = reads.catalog(svc, viewer)
    if (denied := refused(request, svc, viewer, readable, "sales")) is not None:
        return denied
    period = reads.trailing_year(svc)
    names = tuple(m for m in ("win_rate", "sales_cycle_days", "won_amount", "deals_closed") if m in readable)
    plays = (
        metric(svc, viewer, MetricQuery(names, by=(by,), period=period, order_by=("-deals_closed",), limit=30))
        if "deals_closed" in names
        else Panel(denied="Not available to you: the pipeline metrics are not granted to your roles")
    )
    margins = {
        dim: metric(
            svc,
            viewer,
            MetricQuery(("gross_margin", "margin_pct"), by=(dim,), period=period, order_by=("-gross_margin",)),
        )
        for dim in ("region", "segment")
    }
    win_prob: dict[str, Any] = {"problem": NO_MODEL, "rows": []}
    if reads.has_property(svc, "Opportunity", "win_probability"):
        panel = reads.objects(svc, viewer, "Opportunity", "NOT is_closed AND win_probability IS NOT NULL", None)
        rows = sorted(panel.rows, key=lambda r: -float(r.get("win_probability") or 0))[:10]
        win_prob = {"problem": panel.problem or (None if rows else NO_SCORES), "rows": rows}
    return page(
        request,
        svc,
        viewer,
        "sales.html",
        readable=readable,
        title="Sales",
        by=by,
        dims=[
            {"name": d, "title": t, "href": f"{PREFIX}/sales?by={d}", "active": d == by} for d, t in SALES_DIMS.items()
        ],
        plays=plays,
        margins=margins,
        win_prob=win_prob,
        period=period,
    )

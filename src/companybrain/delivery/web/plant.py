"""Cockpit pages for people and plants: Talent and Operations."""

from __future__ import annotations

from collections import defaultdict
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from companybrain.delivery.alerts import robust_z
from companybrain.delivery.web import reads
from companybrain.delivery.web.deps import Svc, Who
from companybrain.delivery.web.reads import NO_MODEL, NO_SCORES, Panel, metric, quote
from companybrain.delivery.web.render import PREFIX, page, refused
from companybrain.semantic.query import MetricQuery

router = APIRouter(include_in_schema=False)
ANOMALY_Z = 3.5
HIGH_RISK = 0.5


def _bars(panel: Panel, dim: str, name: str) -> list[tuple[Any, Any]]:
    return [(r[dim], r.get(name)) for r in panel.rows]


@router.get("/talent", response_class=HTMLResponse)
def talent(request: Request, svc: Svc, viewer: Who) -> HTMLResponse:
    """Headcount, attrition, skills gaps by site and function, and attrition risk with its reasons."""
    readable = reads.catalog(svc, viewer)
    if (denied := refused(request, svc, viewer, readable, "talent")) is not None:
        return denied
    period = reads.trailing_year(svc)
    by_site = metric(svc, viewer, MetricQuery(("headcount", "attrition_rate"), by=("site",), period=period))
    by_function = metric(svc, viewer, MetricQuery(("headcount", "attrition_rate"), by=("function",), period=period))
    coverage = metric(svc, viewer, MetricQuery(("skills_coverage",), by=("site",), order_by=("skills_coverage",)))
    gaps = metric(svc, viewer, MetricQuery(("skill_positions_needed", "skill_positions_covered"), by=("site", "skill")))
    gap_rows = sorted(
        ({**r, "gap": (r["skill_positions_needed"] or 0) - (r["skill_positions_covered"] or 0)} for r in gaps.rows),
        key=lambda r: -r["gap"],
    )
    return page(
        request,
        svc,
        viewer,
        "talent.html",
        readable=readable,
        title="Talent",
        period=period,
        by_site=by_site,
        by_function=by_function,
        coverage=coverage,
        gaps=gaps,
        gap_rows=[r for r in gap_rows if r["gap"] > 0][:15],
        risk=_attrition_risk(svc, viewer),
        bars=_bars,
    )


def _attrition_risk(svc: Svc, viewer: Who) -> dict[str, Any]:
    """Attrition risk (a prediction on Employee) averaged by site and function, the highest with reasons."""
    if not reads.has_property(svc, "Employee", "attrition_risk"):
        return {"problem": NO_MODEL}
    panel = reads.objects(svc, viewer, "Employee", "status = 'active' AND attrition_risk IS NOT NULL", None)
    if not panel.ok:
        return {"problem": panel.problem}
    rows = [r for r in panel.rows if isinstance(r.get("attrition_risk"), int | float)]
    if not rows:
        return {"problem": NO_SCORES}

    def mean_by(key: str) -> list[tuple[Any, float]]:
        groups: dict[Any, list[float]] = defaultdict(list)
        for r in rows:
            groups[r.get(key)].append(float(r["attrition_risk"]))
        return sorted(((k, sum(v) / len(v)) for k, v in groups.items()), key=lambda kv: -kv[1])

    top = sorted(rows, key=lambda r: -float(r["attrition_risk"]))[:12]
    return {
        "problem": None,
        "by_site": mean_by("site_id"),
        "by_function": mean_by("function"),
        "high": sum(1 for r in rows if float(r["attrition_risk"]) >= HIGH_RISK),
        "scored": len(rows),
        "top": [
            {
                "employee_id": r.get("employee_id"),
                "site_id": r.get("site_id"),
                "function": r.get("function"),
                "role": r.get("role"),
                "risk": r["attrition_risk"],
                "reasons": r.get("attrition_risk_reasons"),
            }
            for r in top
        ],
    }


@router.get("/operations", response_class=HTMLResponse)
def operations(request: Request, svc: Svc, viewer: Who) -> HTMLResponse:
    """Capacity and utilisation by site and line, downtime anomalies, failures, machine failure risk."""
    readable = reads.catalog(svc, viewer)
    if (denied := refused(request, svc, viewer, readable, "operations")) is not None:
        return denied
    period = reads.trailing_year(svc)
    names = ("capacity_utilisation", "hours_available", "hours_used", "downtime_hours")
    by_site = metric(svc, viewer, MetricQuery(names, by=("site",), period=period, order_by=("-capacity_utilisation",)))
    site = request.query_params.get("site") or (str(by_site.rows[0]["site"]) if by_site.rows else None)
    by_line = (
        metric(
            svc,
            viewer,
            MetricQuery(names, by=("line",), where=f"site = {quote(site)}", period=period, order_by=("line",)),
        )
        if site
        else Panel()
    )
    trend = metric(svc, viewer, MetricQuery(("capacity_utilisation",), by=("month",), period=period))
    failures = metric(svc, viewer, MetricQuery(("machine_failures",), by=("site",), period=period))
    return page(
        request,
        svc,
        viewer,
        "operations.html",
        readable=readable,
        title="Operations",
        period=period,
        by_site=by_site,
        site=site,
        site_links=[f"{PREFIX}/operations?{urlencode({'site': str(r['site'])})}" for r in by_site.rows],
        by_line=by_line,
        trend=trend,
        failures=failures,
        anomalies=_downtime_anomalies(svc, viewer),
        risk=_failure_risk(svc, viewer),
        bars=_bars,
    )


def _downtime_anomalies(svc: Svc, viewer: Who) -> dict[str, Any]:
    """Sites whose latest month of downtime is far outside their own history (robust z-score)."""
    panel = metric(svc, viewer, MetricQuery(("downtime_hours",), by=("site", "month"), order_by=("site", "month")))
    if not panel.ok:
        return {"problem": panel.problem, "rows": []}
    t = reads.today(svc)
    series: dict[Any, list[tuple[Any, float]]] = defaultdict(list)
    for r in panel.rows:
        month = r["month"]
        if r["downtime_hours"] is not None and (month.year, month.month) < (t.year, t.month):  # full months only
            series[r["site"]].append((month, float(r["downtime_hours"])))
    found = []
    for site, points in series.items():
        if len(points) < 6:
            continue
        (month, latest), history = points[-1], [v for _, v in points[:-1]]
        z = robust_z(latest, history)
        if abs(z) >= ANOMALY_Z:
            found.append(
                {"site": site, "month": month, "hours": latest, "z": z, "median": sorted(history)[len(history) // 2]}
            )
    return {"problem": None, "rows": sorted(found, key=lambda r: -abs(r["z"])), "threshold": ANOMALY_Z}


def _failure_risk(svc: Svc, viewer: Who) -> dict[str, Any]:
    """Machines with the highest predicted 7-day failure risk (a prediction on Machine)."""
    if not reads.has_property(svc, "Machine", "failure_risk_7d"):
        return {"problem": NO_MODEL, "rows": []}
    panel = reads.objects(svc, viewer, "Machine", "failure_risk_7d IS NOT NULL", None)
    rows = sorted(
        (r for r in panel.rows if isinstance(r.get("failure_risk_7d"), int | float)),
        key=lambda r: -float(r["failure_risk_7d"]),
    )
    if panel.ok and not rows:
        return {"problem": NO_SCORES, "rows": []}
    return {
        "problem": panel.problem,
        "rows": rows[:12],
        "high": sum(1 for r in rows if r["failure_risk_7d"] >= HIGH_RISK),
    }

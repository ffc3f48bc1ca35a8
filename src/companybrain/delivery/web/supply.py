"""The Supply page: projected component shortages by site and week (ProjectedShortage, written by
`brain supply project`), the riskiest suppliers and open purchase orders (PurchaseOrder.late_risk of
usecases/supplier_delay_risk.yaml), each with its reasons - all read as the viewer, so a plant manager
sees their own plant and no money their role does not unmask. `?site=` narrows the page to one of the
sites the viewer reads; anything else is refused in words."""

from __future__ import annotations

from collections import defaultdict
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from companybrain.delivery.web import reads
from companybrain.delivery.web.deps import Svc, Who
from companybrain.delivery.web.render import page

if TYPE_CHECKING:
    from companybrain.delivery.app import BrainService
    from companybrain.delivery.web.session import Viewer

router = APIRouter(include_in_schema=False)
SHORTAGES, ORDERS, RISK = "ProjectedShortage", "PurchaseOrder", "late_risk"
TOP = 15


@router.get("/supply", response_class=HTMLResponse)
def supply(request: Request, svc: Svc, viewer: Who) -> HTMLResponse:
    """Shortages by site and week, the largest with their reasons; the riskiest suppliers and POs."""
    panel = reads.objects(svc, viewer, SHORTAGES, None, None)
    sites = sorted({r["site_id"] for r in panel.rows})
    chosen = request.query_params.get("site") or None
    problems = []
    if chosen is not None and chosen not in sites:  # an allow-list: only a site the viewer reads
        problems.append(
            f"No projected shortages you may read at site {chosen[:40]!r}; choose one of: {', '.join(sites)}."
        )
        chosen = None
    rows = [r for r in panel.rows if chosen is None or r["site_id"] == chosen]
    weeks = sorted({r["week"] for r in rows})
    grid: dict[str, dict[Any, float]] = defaultdict(lambda: defaultdict(float))
    for r in rows:
        grid[r["site_id"]][r["week"]] += float(r["qty_short"] or 0)
    largest = sorted(rows, key=lambda r: (-_money(r["revenue_at_risk"]), -float(r["qty_short"] or 0)))[:TOP]
    risky, suppliers, risk_problem = _risky_orders(svc, viewer, chosen)
    return page(
        request,
        svc,
        viewer,
        "supply.html",
        title="Supply",
        problem=panel.problem,
        problems=problems + ([risk_problem] if risk_problem else []),
        sites=sites,
        chosen=chosen,
        weeks=weeks,
        grid=[{"site_id": s, "cells": [round(grid[s].get(w, 0.0), 1) for w in weeks]} for s in sorted(grid)],
        largest=largest,
        risky=risky,
        suppliers=suppliers,
    )


def _money(value: Any) -> float:
    return float(value) if isinstance(value, int | float) else 0.0  # masked ('***') sorts last


def _risky_orders(
    svc: BrainService, viewer: Viewer, site: str | None
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], str | None]:
    """The open POs with the highest late risk, and the suppliers by their open POs' mean risk."""
    where = f"{RISK} IS NOT NULL"
    scored = reads.objects(svc, viewer, ORDERS, where, None)
    if not scored.ok:
        return [], [], scored.problem
    if not scored.rows:
        return (
            [],
            [],
            f"No purchase order is scored yet — run `brain factory train supplier_delay_risk` ({reads.NO_MODEL}).",
        )
    rows = [r for r in scored.rows if site is None or r["site_id"] == site]
    names = {r["supplier_id"]: r["name"] for r in reads.objects(svc, viewer, "Supplier", None, None).rows}
    by_supplier: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        by_supplier[r["supplier_id"]].append(r)
    suppliers = []
    for supplier_id, pos in by_supplier.items():
        worst = max(pos, key=lambda r: r[RISK])
        suppliers.append(
            {
                "supplier_id": supplier_id,
                "name": names.get(supplier_id, supplier_id),
                "open_orders": len(pos),
                "mean_risk": sum(r[RISK] for r in pos) / len(pos),
                "reasons": worst.get(f"{RISK}_reasons") or "",
            }
        )
    suppliers.sort(key=lambda s: -s["mean_risk"])
    risky = sorted(rows, key=lambda r: -r[RISK])[:TOP]
    for r in risky:
        r["supplier"] = names.get(r["supplier_id"], r["supplier_id"])
    return risky, suppliers[:TOP], None

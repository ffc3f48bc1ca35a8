"""Parts for a plan: which components each site needs, week by week, and which must be expedited.

A site covers what it makes from its stock and the purchase orders already open for it. Beyond a
component's normal lead time a purchase order placed today arrives in time, so only the need that
falls *inside* the lead time and exceeds stock plus open orders is a shortage - the one thing a
planner must expedite, once per part and site: the first open order promised too late is pulled
in, and an expedited order from the component's supplier covers the rest. Material is checked
after the solve (the plan's lines and weeks are not changed by it); an item is counted as needing
its parts at the start of the week it completes in.

Shortages the plan shares with the undisrupted schedule are the regular buyers' business; the
replan proposes expedites only for the part of a shortage beyond that reference."""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

import numpy as np

from companybrain.errors import PolicyDenied

if TYPE_CHECKING:
    from companybrain.brain import Brain
    from companybrain.decisions.network import Network
    from companybrain.decisions.replan import Options
    from companybrain.governance.principal import Principal

# the object types a material check reads (a project without them plans without the check)
TYPES = ("BomLine", "Stock", "PurchaseOrder", "Component", "Supplier")


@dataclass(frozen=True)
class Receipt:
    po_id: int
    promised: date
    qty: float


@dataclass
class Materials:
    """Bills of materials, stock and open purchase orders by site, components and their suppliers."""

    bom: dict[str, list[tuple[str, float]]]  # product -> [(component, units per unit made)]
    stock: dict[tuple[str, str], float]  # (site, component) -> on hand
    receipts: dict[tuple[str, str], list[Receipt]]  # (site, component) -> open POs, by promised date
    components: dict[str, dict[str, Any]]
    suppliers: dict[str, dict[str, Any]]


@dataclass(frozen=True)
class Shortage:
    site_id: str
    component_id: str
    qty: float  # units short inside the lead time
    need_by: date  # start of the first week short
    weeks: tuple[int, ...] = field(default=())


def load_materials(brain: Brain, user: str | Principal | None) -> tuple[Materials | None, str | None]:
    """The material data as `user` reads it, or (None, why not) when the project has none or the
    user may not read it (the plan is still made, without the check)."""
    missing = [t for t in TYPES if t not in brain.project.objects]
    if missing:
        return None, f"no material check: the project has no {', '.join(missing)} objects"
    try:
        bom_rows = brain.read("BomLine", user=user).to_pylist()
        stock_rows = brain.read("Stock", user=user).to_pylist()
        po_rows = brain.read("PurchaseOrder", where="status = 'open'", user=user).to_pylist()
        comp_rows = brain.read("Component", user=user).to_pylist()
        supplier_rows = brain.read("Supplier", user=user).to_pylist()
    except PolicyDenied as exc:
        return None, f"no material check: {exc.message}"
    bom: dict[str, list[tuple[str, float]]] = defaultdict(list)
    for r in bom_rows:
        bom[r["product_id"]].append((r["component_id"], float(r["qty"] or 0.0)))
    receipts: dict[tuple[str, str], list[Receipt]] = defaultdict(list)
    for r in sorted(po_rows, key=lambda r: (r["promised_date"], r["po_id"])):
        receipts[(r["site_id"], r["component_id"])].append(Receipt(r["po_id"], r["promised_date"], float(r["qty"])))
    return (
        Materials(
            dict(bom),
            {(r["site_id"], r["component_id"]): float(r["on_hand"] or 0) for r in stock_rows},
            dict(receipts),
            {r["component_id"]: r for r in comp_rows},
            {r["supplier_id"]: r for r in supplier_rows},
        ),
        None,
    )


def shortages(net: Network, opts: Options, chosen: np.ndarray) -> dict[tuple[str, str], Shortage]:
    """(site, component) -> what the assignment needs inside the lead time beyond stock and open POs."""
    mat = net.materials
    if mat is None:
        return {}
    T = net.weeks
    part_item, part_comp, part_qty, components = net.flat_parts
    if not len(part_item):
        return {}
    sites = sorted(net.sites)
    line_site = np.array([sites.index(ln.site_id) for ln in net.lines] + [-1])  # [-1]: beyond the horizon
    line = opts.line[chosen][part_item]
    used = line >= 0
    key = line_site[line[used]] * len(components) + part_comp[used]
    week = np.minimum(opts.week[chosen][part_item][used], T - 1)
    keys, at = np.unique(key, return_inverse=True)
    need = np.zeros((len(keys), T))
    np.add.at(need, (at, week), part_qty[used])
    short = np.cumsum(need, axis=1)
    out = {}
    for n, k in enumerate(keys.tolist()):
        site, component = sites[k // len(components)], components[k % len(components)]
        info = mat.components.get(component)
        lead = int(info["lead_time_days"] or 0) if info else 0
        short[n] -= mat.stock.get((site, component), 0.0)
        for r in mat.receipts.get((site, component), ()):
            first = max(0, math.ceil((r.promised - net.start).days / 7))  # usable from the next week start
            if first < T:
                short[n, first:] -= r.qty
        inside = [t for t in range(min(T, math.ceil(lead / 7))) if short[n, t] > 1e-9]
        if inside:
            out[(site, component)] = Shortage(
                site, component, float(short[n, inside].max()), net.week_start(inside[0]), tuple(inside)
            )
    return out


def shortage_cost(net: Network, short: dict[tuple[str, str], Shortage]) -> float:
    """What expediting every shortage would cost: the premium on the parts' standard cost."""
    mat = net.materials
    if mat is None:
        return 0.0
    return sum(net.cost.expedite_premium * _unit_cost(mat, s.component_id) * math.ceil(s.qty) for s in short.values())


def _unit_cost(mat: Materials, component_id: str) -> float:
    cost = mat.components.get(component_id, {}).get("std_cost")
    return float(cost) if isinstance(cost, int | float) else 0.0  # masked for this user: '***'


def expedites(
    net: Network, short: dict[tuple[str, str], Shortage], before: dict[tuple[str, str], Shortage]
) -> list[dict[str, Any]]:
    """Expedite actions for the shortages beyond those `before` (the undisrupted schedule's): pull
    in open POs promised after the need date, then order the rest from the component's supplier."""
    mat = net.materials
    if mat is None:
        return []
    actions = []
    for key, s in sorted(short.items()):
        qty = math.ceil(s.qty - (before[key].qty if key in before else 0.0))
        if qty <= 0:
            continue
        comp = mat.components.get(s.component_id, {})
        supplier_id = comp.get("supplier_id")
        supplier = mat.suppliers.get(str(supplier_id), {})
        lead = int(comp.get("lead_time_days") or 0)
        unit = _unit_cost(mat, s.component_id)
        earliest = net.start + timedelta(days=max(net.cost.expedite_min_days, math.ceil(lead * net.cost.expedite_lead)))
        common = {
            "action": "expedite",
            "site_id": s.site_id,
            "component_id": s.component_id,
            "component": str(comp.get("name", s.component_id)),
            "supplier_id": supplier_id,
            "supplier": str(supplier.get("name", supplier_id)),
            "need_by": s.need_by.isoformat(),
            "earliest_arrival": earliest.isoformat(),
            "arrives_late_days": max(0, (earliest - s.need_by).days),
            "normal_lead_time_days": lead,
        }
        # an open order promised after the need date is pulled in first; a new order covers the rest
        late_po = next((r for r in mat.receipts.get(key, ()) if r.promised > s.need_by), None)
        pulled = min(qty, math.ceil(late_po.qty)) if late_po else 0
        parts = (
            [f"pull in PO {late_po.po_id} ({pulled} of {late_po.qty:.0f}, promised {late_po.promised})"]
            if late_po
            else []
        )
        parts += [f"a new expedited order of {qty - pulled}"] if qty > pulled else []
        actions.append(
            {
                **common,
                "qty": qty,
                "po_id": late_po.po_id if late_po else None,
                "promised_date": late_po.promised.isoformat() if late_po else None,
                "pulled_in_qty": pulled,
                "new_order_qty": qty - pulled,
                "expedite_cost": round(net.cost.expedite_premium * unit * qty, 2),
                "text": f"expedite {qty} x {s.component_id} ({common['component']}) from {common['supplier']} to "
                f"{s.site_id} by {s.need_by.isoformat()}: {' and '.join(parts)} (normal lead time {lead} days)",
            }
        )
    return actions

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
from dataclasses import dataclass
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

import numpy as np

from companybrain.decisions.shortages import expected_delays, inside_lead_time, supply_by_week
from companybrain.errors import PolicyDenied

if TYPE_CHECKING:
    from companybrain.brain import Brain
    from companybrain.decisions.network import Network
    from companybrain.decisions.replan import Options
    from companybrain.governance.principal import Principal

# the object types a material check reads (a project without them plans without the check), and the
# properties whose values it computes with (masked for the user: no check rather than a wrong one)
TYPES = ("BomLine", "Stock", "PurchaseOrder", "Component", "Supplier")
USED = {
    "BomLine": ("qty",),
    "Stock": ("on_hand",),
    "PurchaseOrder": ("qty", "promised_date"),
    "Component": ("lead_time_days", "std_cost"),
}


@dataclass(frozen=True)
class Receipt:
    po_id: int
    promised: date
    qty: float
    supplier_id: str = ""
    expected: date | None = None  # promised + the predicted delay (decisions/shortages.py)


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
    by_week: tuple[float, ...]  # units short at the start of each week (0 beyond the lead time)

    @property
    def qty(self) -> float:
        return max(self.by_week)


def load_materials(brain: Brain, user: str | Principal | None) -> tuple[Materials | None, str | None]:
    """The material data as `user` reads it, or (None, why not) when the project has none or the
    user may not read it (the plan is still made, without the check)."""
    from companybrain.governance.policy import Policy

    missing = [t for t in TYPES if t not in brain.project.objects]
    if missing:
        return None, f"no material check: the project has no {', '.join(missing)} objects"
    policy = Policy(brain.project, brain.principal(user))
    for type_name in TYPES:
        if policy.row_filter(type_name) is not None:  # hidden stock or orders would read as missing
            return None, f"no material check: {policy.principal.user!r} sees only some {type_name} rows"
        masked = [p for p in USED.get(type_name, ()) if policy.masked(type_name, p)]
        if masked:
            return None, f"no material check: {type_name}.{masked[0]} is masked for {policy.principal.user!r}"
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
    po_rows = [r for r in po_rows if r["promised_date"] is not None and r["qty"] is not None]
    delays = expected_delays(brain, user, po_rows)
    for r in sorted(po_rows, key=lambda r: (r["promised_date"], r["po_id"])):
        expected = r["promised_date"] + timedelta(days=round(delays.get(r["po_id"], 0.0)))
        receipt = Receipt(r["po_id"], r["promised_date"], float(r["qty"]), str(r["supplier_id"]), expected)
        receipts[(r["site_id"], r["component_id"])].append(receipt)
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
        arrivals = [(r.expected or r.promised, r.qty) for r in mat.receipts.get((site, component), ())]
        short[n] -= supply_by_week(mat.stock.get((site, component), 0.0), arrivals, net.start, T)
        inside = inside_lead_time(mat.components.get(component), T)  # before a normal order would arrive
        by_week = np.zeros(T)
        by_week[:inside] = np.maximum(short[n, :inside], 0.0)
        if by_week.max() > 1e-9:
            out[(site, component)] = Shortage(site, component, tuple(by_week.tolist()))
    return out


def shortage_cost(net: Network, short: dict[tuple[str, str], Shortage]) -> float:
    """What expediting every shortage would cost: the premium on the parts' standard cost."""
    mat = net.materials
    if mat is None:
        return 0.0
    return sum(net.cost.expedite_premium * _unit_cost(mat, s.component_id) * math.ceil(s.qty) for s in short.values())


def _unit_cost(mat: Materials, component_id: str) -> float:
    cost = mat.components.get(component_id, {}).get("std_cost")
    return float(cost or 0.0)  # never masked here: load_materials gives no check then


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
        # week by week beyond what the undisrupted schedule lacked at the same time
        extra = np.array(s.by_week) - (np.array(before[key].by_week) if key in before else 0.0)
        extra = np.maximum(extra, 0.0)
        qty = math.ceil(extra.max() - 1e-9)  # not 1 for a sum's 0.6000000000000001 against 0.6
        if qty <= 0:
            continue
        first = int(np.argmax(extra > 1e-9))
        need_by = net.week_start(first)
        comp = mat.components.get(s.component_id, {})
        supplier_id = comp.get("supplier_id")
        supplier = mat.suppliers.get(str(supplier_id), {})
        lead = int(comp.get("lead_time_days") or 0)
        unit = _unit_cost(mat, s.component_id)
        earliest = net.start + timedelta(days=max(net.cost.expedite_min_days, math.ceil(lead * net.cost.expedite_lead)))
        # the first open order promised after the need date is pulled in to it: it adds to the weeks
        # before it would have come (from then on the shortfall above already counts it); a new
        # expedited order covers what is still short
        late_po = next((r for r in mat.receipts.get(key, ()) if r.promised > need_by), None)
        if late_po is not None:
            arrives = min(net.weeks, max(0, math.ceil((late_po.promised - net.start).days / 7)))
            before_it = extra[:arrives].max(initial=0.0)
            pulled = min(math.ceil(late_po.qty), math.ceil(before_it - 1e-9))
            still = max(before_it - late_po.qty, extra[arrives:].max(initial=0.0))
        else:
            pulled, still = 0, extra.max()
        new = max(0, math.ceil(still - 1e-9))
        steps = [f"pull in PO {late_po.po_id} (promised {late_po.promised})"] if late_po and pulled else []
        steps += [f"a new expedited order of {new}"] if new else []
        actions.append(
            {
                "action": "expedite",
                "site_id": s.site_id,
                "component_id": s.component_id,
                "component": str(comp.get("name", s.component_id)),
                "supplier_id": supplier_id,
                "supplier": str(supplier.get("name", supplier_id)),
                "need_by": need_by.isoformat(),
                "earliest_arrival": earliest.isoformat(),
                "arrives_late_days": max(0, (earliest - need_by).days),
                "normal_lead_time_days": lead,
                "qty": qty,
                "po_id": late_po.po_id if late_po and pulled else None,
                "promised_date": late_po.promised.isoformat() if late_po and pulled else None,
                "pulled_in_qty": pulled,
                "new_order_qty": new,
                "expedite_cost": round(net.cost.expedite_premium * unit * (pulled + new), 2),
                "text": f"expedite {qty} x {s.component_id} ({comp.get('name', s.component_id)}) from "
                f"{supplier.get('name', supplier_id)} to {s.site_id} by {need_by.isoformat()}: "
                f"{' and '.join(steps)} (normal lead time {lead} days)",
            }
        )
    return actions

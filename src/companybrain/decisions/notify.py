"""Reading a plan out: its KPIs, its actions (move, delay, prioritise), and who must be told what,
each with a drafted message (plant managers of the sites involved, account owners of delayed
strategic and key customers)."""

from __future__ import annotations

from collections import defaultdict
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import numpy as np

from companybrain.decisions.materials import Shortage, shortage_cost
from companybrain.decisions.network import Network
from companybrain.errors import PolicyDenied

if TYPE_CHECKING:
    from companybrain.brain import Brain
    from companybrain.decisions.replan import Options, Plan
    from companybrain.governance.principal import Principal

TIERS = ("strategic", "key", "standard")
TOLD_TIERS = ("strategic", "key")


def kpis(net: Network, opts: Options, chosen: np.ndarray, short: dict[tuple[str, str], Shortage]) -> dict[str, Any]:
    """Revenue at risk, late orders by tier, lateness penalty, freight, parts to expedite and margin impact
    of an assignment (`short`: its material shortages)."""
    line_site = [ln.site_id for ln in net.lines]
    late_by_order: dict[int, float] = defaultdict(float)
    tier_of: dict[int, str] = {}
    at_risk = penalty = freight = production_delta = 0.0
    moved = moved_units = beyond = 0
    for o, item in zip(chosen, net.items, strict=True):
        late = float(opts.late_days[o])
        tier_of[item.order_id] = item.tier
        late_by_order[item.order_id] = max(late_by_order[item.order_id], late)
        freight += float(opts.freight[o]) * item.qty
        penalty += float(opts.cost[o] - opts.freight[o]) * item.qty
        if late > 0:
            at_risk += item.value
        line = int(opts.line[o])
        beyond += line < 0
        if line >= 0 and net.lines[line].line_id != item.line_id:
            moved += 1
            moved_units += item.qty
            dest, home = net.sites[line_site[line]], net.sites[item.site_id]
            production_delta += item.labour_hours * (dest.cost_per_labour_hour - home.cost_per_labour_hour)
    late_orders = {t: sum(1 for n, d in late_by_order.items() if d > 0 and tier_of[n] == t) for t in TIERS}
    expedite = shortage_cost(net, short)
    return {
        "revenue_at_risk": round(at_risk, 2),
        "late_orders": late_orders,
        "late_orders_total": sum(late_orders.values()),
        "weighted_lateness_days": round(sum(net.cost.tier_weight(tier_of[n]) * d for n, d in late_by_order.items()), 1),
        "lateness_penalty": round(penalty, 2),
        "extra_freight": round(freight, 2),
        "production_cost_delta": round(production_delta, 2),
        "parts_short": len(short),
        "expedite_cost": round(expedite, 2),
        "margin_impact": round(-(freight + production_delta + expedite), 2),
        "objective": round(penalty + freight, 2),
        "moved_items": moved,
        "moved_units": moved_units,
        "beyond_horizon_items": int(beyond),
    }


def actions_for(net: Network, opts: Options, chosen: np.ndarray, baseline: np.ndarray) -> list[dict[str, Any]]:
    """Move (to another line or site), delay (by N days) and prioritise (on time only if sequenced first)."""
    actions: list[dict[str, Any]] = []
    delays: dict[int, dict[str, Any]] = {}
    for n, (o, item) in enumerate(zip(chosen, net.items, strict=True)):
        line, week, late = int(opts.line[o]), int(opts.week[o]), float(opts.late_days[o])
        who = {
            "order_id": item.order_id,
            "customer_id": item.customer_id,
            "tier": item.tier,
            "customer": str(net.customers.get(item.customer_id, {}).get("name", item.customer_id)),
            "family": item.family,
            "qty": item.qty,
            "value": round(item.value, 2),
        }
        if line >= 0 and net.lines[line].line_id != item.line_id:
            dest = net.lines[line]
            actions.append(
                {
                    "action": "move",
                    **who,
                    "from_site": item.site_id,
                    "from_line": item.line_id,
                    "to_site": dest.site_id,
                    "to_line": dest.line_id,
                    "week": week + 1,
                    "week_start": net.week_start(week).isoformat(),
                    "transit_days": int(opts.transit[o]),
                    "freight": round(float(opts.freight[o]) * item.qty, 2),
                    "delay_days": late,
                    "text": f"move order {item.order_id} ({item.qty} x {item.family}) from {item.line_id} to "
                    f"{dest.line_id} in week {week + 1}"
                    + (
                        f", ship to {item.site_id} ({int(opts.transit[o])} days transit)"
                        if dest.site_id != item.site_id
                        else ""
                    ),
                }
            )
        if late > 0:
            d = delays.setdefault(item.order_id, {"action": "delay", **who, "qty": 0, "value": 0.0, "delay_days": 0.0})
            d["qty"] += item.qty
            d["value"] = round(d["value"] + item.value, 2)
            d["delay_days"] = max(d["delay_days"], late)
            d["beyond_horizon"] = d.get("beyond_horizon", False) or line < 0
            d["due_date"] = item.due.isoformat()
            d["new_date"] = (item.due + timedelta(days=int(d["delay_days"]))).isoformat()
            d["family"] = item.family if d["family"] == item.family else "several"
        elif opts.late_days[baseline[n]] > 0 and line >= 0 and net.lines[line].line_id == item.line_id:
            actions.append(
                {
                    "action": "prioritise",
                    **who,
                    "line": item.line_id,
                    "week": week + 1,
                    "week_start": net.week_start(week).isoformat(),
                    "due_date": item.due.isoformat(),
                    "text": f"prioritise order {item.order_id} ({item.qty} x {item.family}) on {item.line_id}: "
                    f"complete by week {week + 1} (due {item.due.isoformat()})",
                }
            )
    for d in delays.values():
        d["text"] = (
            f"delay order {d['order_id']} by {d['delay_days']:.0f} days (due {d['due_date']}, new {d['new_date']})"
        )
        actions.append(d)
    rank = {"strategic": 0, "key": 1, "standard": 2}
    kinds = {"move": 0, "prioritise": 1, "delay": 2}
    actions.sort(key=lambda a: (kinds[a["action"]], rank.get(a["tier"], 3), a["order_id"]))
    return actions


def notifications(brain: Brain, net: Network, plan: Plan, user: str | Principal | None) -> list[dict[str, Any]]:
    """Who must be told what: plant managers of the sites that lose and gain work or wait for parts,
    the account owners of strategic and key customers whose orders are delayed, and the contacts of
    the suppliers asked to expedite."""
    moves = [a for a in plan.actions if a["action"] == "move" and a["to_site"] != a["from_site"]]
    delays = [a for a in plan.actions if a["action"] == "delay"]
    parts = [a for a in plan.actions if a["action"] == "expedite"]
    hit_sites = {ln.site_id for ln in net.lines if ln.line_id in net.disrupted_lines}
    drafts: list[dict[str, Any]] = []
    sites = hit_sites | {a["from_site"] for a in moves} | {a["to_site"] for a in moves} | {a["site_id"] for a in parts}
    ships_from: dict[int, set[str]] = defaultdict(set)
    for i in net.items:
        ships_from[i.order_id].add(i.site_id)
    for site_id in sorted(sites):
        site = net.sites[site_id]
        out = [a for a in moves if a["from_site"] == site_id]
        into = [a for a in moves if a["to_site"] == site_id]
        late_here = [a for a in delays if site_id in ships_from[a["order_id"]]]
        lines = [f"Replan after the disruption of {', '.join(sorted(net.disrupted_lines))} from {net.start}."]
        if out:
            lines.append(
                f"{len(out)} order part(s), {sum(a['qty'] for a in out)} units, move from {site.name} to "
                + ", ".join(sorted({a["to_site"] for a in out}))
                + ": "
                + "; ".join(a["text"] for a in out[:10])
            )
        if into:
            lines.append(
                f"{site.name} takes {len(into)} order part(s), {sum(a['qty'] for a in into)} units: "
                + "; ".join(
                    f"{a['to_line']} week {a['week']}: order {a['order_id']} ({a['qty']} x "
                    f"{a['family']}), ship to {a['from_site']}"
                    for a in into[:10]
                )
            )
        if late_here:
            lines.append(f"{len(late_here)} order(s) shipping from {site.name} will be late; account owners are told.")
        expedited = [a for a in parts if a["site_id"] == site_id]
        if expedited:
            lines.append(
                f"{len(expedited)} part order(s) are expedited to {site.name}: "
                + "; ".join(f"{a['qty']} x {a['component_id']} by {a['need_by']}" for a in expedited[:10])
            )
        drafts.append(
            {
                "employee_id": site.plant_manager_id,
                "role": "plant manager",
                "about": site_id,
                "subject": f"Replan: {site.name}" + (" (disrupted)" if site_id in hit_sites else ""),
                "message": "\n".join(lines),
            }
        )
    by_customer: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for a in delays:
        if a["tier"] in TOLD_TIERS:
            by_customer[a["customer_id"]].append(a)
    for customer_id, late in sorted(by_customer.items()):
        customer = net.customers.get(customer_id, {})
        name = customer.get("name", customer_id)
        body = [
            f"{name} ({late[0]['tier']} customer): {len(late)} order(s) will ship late after the disruption of "
            f"{', '.join(sorted(net.disrupted_lines))}. Please tell the customer before they find out:"
        ]
        body += [
            f"- order {a['order_id']} ({a['family']}, {a['qty']} units, {a['value']:,.0f} USD): due "
            f"{a['due_date']}, now {a['new_date']} (+{a['delay_days']:.0f} days)"
            for a in late
        ]
        drafts.append(
            {
                "employee_id": customer.get("account_owner_id"),
                "role": "account owner",
                "about": customer_id,
                "subject": f"Delayed orders for {name}",
                "message": "\n".join(body),
            }
        )
    by_supplier: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for a in parts:
        if a["supplier_id"] is not None:  # a part with no supplier on record: its plant manager is told
            by_supplier[str(a["supplier_id"])].append(a)
    suppliers = net.materials.suppliers if net.materials else {}
    for supplier_id, asked in sorted(by_supplier.items()):
        supplier = suppliers.get(supplier_id, {})
        body = [f"{asked[0]['supplier']}: after a disruption in our network we need these parts sooner:"]
        body += [
            f"- {a['qty']} x {a['component_id']} ({a['component']}) at {a['site_id']} by {a['need_by']}: "
            + (f"pull in PO {a['po_id']} (promised {a['promised_date']})" if a["po_id"] is not None else "")
            + (" and " if a["po_id"] is not None and a["new_order_qty"] else "")
            + (f"a new order of {a['new_order_qty']}" if a["new_order_qty"] else "")
            for a in asked
        ]
        body.append("Please confirm the dates you can make, and the cost of expediting.")
        drafts.append(
            {
                "employee_id": None,
                "role": "supplier contact",
                "about": supplier_id,
                "subject": f"Expedite request: {len(asked)} part order(s)",
                "message": "\n".join(body),
                # a supplier's contact is personal data: masked ('***') unless the user's roles unmask pii
                "name": _unmasked(supplier.get("contact_name")),
                "email": _unmasked(supplier.get("contact_email")),
            }
        )
    _add_names(brain, drafts, user)
    return drafts


def _unmasked(value: Any) -> str | None:
    return str(value) if value not in (None, "***") else None


def _add_names(brain: Brain, drafts: list[dict[str, Any]], user: str | Principal | None) -> None:
    """Names and e-mail of the recipients, when the user may see them (personal data may be masked)."""
    ids = sorted({str(d["employee_id"]) for d in drafts if d["employee_id"]})
    people: dict[str, dict[str, Any]] = {}
    if ids:
        quoted = ", ".join("'" + i.replace("'", "''") + "'" for i in ids)
        try:
            rows = brain.read("Employee", where=f"employee_id IN ({quoted})", user=user).to_pylist()
        except PolicyDenied:
            rows = []  # the plan stands without names: the ids are enough to route the messages
        people = {r["employee_id"]: r for r in rows}
    for d in drafts:
        if d["employee_id"] is None and "name" in d:
            continue  # not an employee: named by its own record
        person = people.get(str(d["employee_id"]), {})
        # masked personal data reads '***': route by employee id instead
        d["name"] = person.get("full_name") if person.get("full_name") != "***" else None
        d["email"] = person.get("email") if person.get("email") != "***" else None

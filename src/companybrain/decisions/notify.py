"""Reading a plan out: its KPIs, its actions (move, delay, prioritise), and who must be told what,
each with a drafted message (plant managers of the sites involved, account owners of delayed
strategic and key customers).

A plan is computed as one user; `plan_for_reader` is what another reader may read of it: every
object it names read again as them (an action on an order they may not read is left out, a line,
site, customer or supplier they may not read is ***), amounts only if they may see money, the
network's totals only if they read every order, line, site and customer as the planner did, and
who to tell what drafted again from what is left, with their reads."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import numpy as np
from sqlglot import exp

from companybrain.decisions.materials import Shortage, shortage_cost
from companybrain.decisions.network import Network
from companybrain.errors import PolicyDenied
from companybrain.governance.policy import MASK, Policy
from companybrain.specs.ontology import SPEC_DIALECT

if TYPE_CHECKING:
    from companybrain.brain import Brain
    from companybrain.decisions.replan import Options, Plan
    from companybrain.governance.principal import Principal
    from companybrain.semantic.model import SemanticModel

TIERS = ("strategic", "key", "standard")
TOLD_TIERS = ("strategic", "key")
# what a plan is computed from: a reader who reads all of it as the planner did may see the network's totals
PLAN_TYPES = ("Order", "OrderLine", "Customer", "Site", "Line", "Product")
# what a reader's view of a plan reads (the shared-channel check compares readers on these)
VIEW_TYPES = (*PLAN_TYPES, "Employee", "Component", "Supplier", "PurchaseOrder")
# KPIs that count (orders, items, units, days); every other one is an amount, shown only to who may see money
COUNT_KPIS = frozenset(
    {"late_orders", "late_orders_total", "weighted_lateness_days", "parts_short", "moved_items", "moved_units"}
    | {"beyond_horizon_items"}
)
_IDS_PER_READ = 200  # a governed read's filter stays well under its length limit


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
            move = {
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
            }
            actions.append({**move, "text": action_text(move)})
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
            first = {
                "action": "prioritise",
                **who,
                "line": item.line_id,
                "week": week + 1,
                "week_start": net.week_start(week).isoformat(),
                "due_date": item.due.isoformat(),
            }
            actions.append({**first, "text": action_text(first)})
    for d in delays.values():
        d["text"] = action_text(d)
        actions.append(d)
    rank = {"strategic": 0, "key": 1, "standard": 2}
    kinds = {"move": 0, "prioritise": 1, "delay": 2}
    actions.sort(key=lambda a: (kinds[a["action"]], rank.get(a["tier"], 3), a["order_id"]))
    return actions


def action_text(a: dict[str, Any]) -> str:
    """An action in words, from its fields (as the reader may read them: hidden ones read ***)."""
    kind = a["action"]
    if kind == "move":
        text = (
            f"move order {a['order_id']} ({a['qty']} x {a['family']}) from {a['from_line']} to {a['to_line']} "
            f"in week {a['week']}"
        )
        if a["to_site"] != a["from_site"]:
            text += f", ship to {a['from_site']} ({a['transit_days']} days transit)"
        return text
    if kind == "delay":
        days = f"{a['delay_days']:.0f}" if isinstance(a["delay_days"], int | float) else a["delay_days"]
        return f"delay order {a['order_id']} by {days} days (due {a['due_date']}, new {a['new_date']})"
    if kind == "prioritise":
        return (
            f"prioritise order {a['order_id']} ({a['qty']} x {a['family']}) on {a['line']}: "
            f"complete by week {a['week']} (due {a['due_date']})"
        )
    # an expedite, as decisions/materials.py words it
    steps = [f"pull in PO {a['po_id']} (promised {a['promised_date']})"] if a.get("po_id") is not None else []
    steps += [f"a new expedited order of {a['new_order_qty']}"] if a.get("new_order_qty") else []
    return (
        f"expedite {a['qty']} x {a['component_id']} ({a['component']}) from {a['supplier']} to {a['site_id']} "
        f"by {a['need_by']}: {' and '.join(steps)} (normal lead time {a['normal_lead_time_days']} days)"
    )


@dataclass
class Facts:
    """What drafting who to tell what reads: the planner's network, or what one reader may read of it."""

    disrupted: list[str]
    start: str
    sites: dict[str, dict[str, Any]]  # site_id -> name, plant_manager_id
    hit_sites: set[str]
    customers: dict[str, dict[str, Any]]  # customer_id -> name, account_owner_id
    suppliers: dict[str, dict[str, Any]]  # supplier_id -> contact_name, contact_email
    ships_from: dict[int, set[str]]  # order -> the sites its open parts are made at


def notifications(brain: Brain, net: Network, plan: Plan, user: str | Principal | None) -> list[dict[str, Any]]:
    """Who must be told what: plant managers of the sites that lose and gain work or wait for parts,
    the account owners of strategic and key customers whose orders are delayed, and the contacts of
    the suppliers asked to expedite."""
    ships_from: dict[int, set[str]] = defaultdict(set)
    for i in net.items:
        ships_from[i.order_id].add(i.site_id)
    facts = Facts(
        disrupted=sorted(net.disrupted_lines),
        start=str(net.start),
        sites={s: {"name": info.name, "plant_manager_id": info.plant_manager_id} for s, info in net.sites.items()},
        hit_sites={ln.site_id for ln in net.lines if ln.line_id in net.disrupted_lines},
        customers=net.customers,
        suppliers=net.materials.suppliers if net.materials else {},
        ships_from=ships_from,
    )
    drafts = draft_messages(plan.actions, facts)
    _add_names(brain, drafts, user)
    return drafts


def draft_messages(actions: list[dict[str, Any]], facts: Facts) -> list[dict[str, Any]]:
    """The drafted messages (without the recipients' names) for these actions, from these facts."""
    moves = [a for a in actions if a["action"] == "move" and a["to_site"] != a["from_site"]]
    delays = [a for a in actions if a["action"] == "delay"]
    parts = [a for a in actions if a["action"] == "expedite"]
    hit_sites = facts.hit_sites
    drafts: list[dict[str, Any]] = []
    sites = hit_sites | {a["from_site"] for a in moves} | {a["to_site"] for a in moves} | {a["site_id"] for a in parts}
    for site_id in sorted(s for s in sites if s in facts.sites):
        site = facts.sites[site_id]
        out = [a for a in moves if a["from_site"] == site_id]
        into = [a for a in moves if a["to_site"] == site_id]
        late_here = [a for a in delays if site_id in facts.ships_from.get(a["order_id"], ())]
        lines = [f"Replan after the disruption of {', '.join(facts.disrupted)} from {facts.start}."]
        if out:
            lines.append(
                f"{len(out)} order part(s), {_total(a['qty'] for a in out)} units, move from {site['name']} to "
                + ", ".join(sorted({a["to_site"] for a in out}))
                + ": "
                + "; ".join(a["text"] for a in out[:10])
            )
        if into:
            lines.append(
                f"{site['name']} takes {len(into)} order part(s), {_total(a['qty'] for a in into)} units: "
                + "; ".join(
                    f"{a['to_line']} week {a['week']}: order {a['order_id']} ({a['qty']} x "
                    f"{a['family']}), ship to {a['from_site']}"
                    for a in into[:10]
                )
            )
        if late_here:
            lines.append(
                f"{len(late_here)} order(s) shipping from {site['name']} will be late; account owners are told."
            )
        expedited = [a for a in parts if a["site_id"] == site_id]
        if expedited:
            lines.append(
                f"{len(expedited)} part order(s) are expedited to {site['name']}: "
                + "; ".join(f"{a['qty']} x {a['component_id']} by {a['need_by']}" for a in expedited[:10])
            )
        drafts.append(
            {
                "employee_id": site.get("plant_manager_id"),
                "role": "plant manager",
                "about": site_id,
                "subject": f"Replan: {site['name']}" + (" (disrupted)" if site_id in hit_sites else ""),
                "message": "\n".join(lines),
            }
        )
    by_customer: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for a in delays:
        if a["tier"] in TOLD_TIERS and a["customer_id"] != MASK:
            by_customer[a["customer_id"]].append(a)
    for customer_id, late in sorted(by_customer.items()):
        customer = facts.customers.get(customer_id, {})
        name = customer.get("name", customer_id)
        body = [
            f"{name} ({late[0]['tier']} customer): {len(late)} order(s) will ship late after the disruption of "
            f"{', '.join(facts.disrupted)}. Please tell the customer before they find out:"
        ]
        body += [
            f"- order {a['order_id']} ({a['family']}, {a['qty']} units, {_amount(a['value'])} USD): due "
            f"{a['due_date']}, now {a['new_date']} (+{_days(a['delay_days'])} days)"
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
        if a["supplier_id"] is not None and a["supplier_id"] != MASK:  # none on record: the plant manager is told
            by_supplier[str(a["supplier_id"])].append(a)
    for supplier_id, asked in sorted(by_supplier.items()):
        supplier = facts.suppliers.get(supplier_id, {})
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
    return drafts


def _total(values: Iterable[Any]) -> Any:
    """A sum of quantities, or *** if one of them is hidden."""
    values = list(values)
    return MASK if any(not isinstance(v, int | float) for v in values) else sum(values)


def _amount(value: Any) -> str:
    return f"{value:,.0f}" if isinstance(value, int | float) else MASK


def _days(value: Any) -> str:
    return f"{value:.0f}" if isinstance(value, int | float) else MASK


def _unmasked(value: Any) -> str | None:
    return str(value) if value not in (None, MASK) else None


def _add_names(brain: Brain, drafts: list[dict[str, Any]], user: str | Principal | None) -> None:
    """Names and e-mail of the recipients, when the user may see them (personal data may be masked)."""
    ids = sorted({str(d["employee_id"]) for d in drafts if d["employee_id"] and d["employee_id"] != MASK})
    people = {str(r["employee_id"]): r for r in read_in(brain, user, "Employee", "employee_id", ids)}
    for d in drafts:
        if d["employee_id"] is None and "name" in d:
            continue  # not an employee: named by its own record
        person = people.get(str(d["employee_id"]), {})
        # masked personal data reads '***': route by employee id instead
        d["name"] = _unmasked(person.get("full_name"))
        d["email"] = _unmasked(person.get("email"))


# --- what another reader may read of a plan ---------------------------------------------------------


def read_in(
    brain: Brain, user: str | Principal | None, type_name: str, column: str, values: Iterable[Any]
) -> list[dict[str, Any]]:
    """The objects whose `column` is one of `values`, read through the governed path as `user` (audited;
    masked properties read ***); none when the user may not read the type."""
    obj = brain.project.objects.get(type_name)
    if obj is None or column not in obj.properties:
        return []
    integer = obj.properties[column].type == "integer"
    literals: list[exp.Expr] = []
    for v in dict.fromkeys(str(v) for v in values if v is not None and v != MASK):
        if integer:
            if v.lstrip("-").isdigit():
                literals.append(exp.Literal.number(int(v)))
        else:
            literals.append(exp.Literal.string(v))
    rows: list[dict[str, Any]] = []
    for start in range(0, len(literals), _IDS_PER_READ):
        where = exp.column(column).isin(*literals[start : start + _IDS_PER_READ]).sql(dialect=SPEC_DIALECT)
        try:
            rows += brain.read(type_name, where=where, user=user).to_pylist()
        except PolicyDenied:
            return []
    return rows


def rows_read(model: SemanticModel, policy: Policy, type_name: str) -> tuple[str, ...] | None:
    """The row filters that reach a type for this principal, as SQL (empty: every row); None: denied."""
    from companybrain.semantic.joins import JoinPlan
    from companybrain.semantic.policies import row_filter_conditions

    if type_name not in model.objects or not policy.can_read_object(type_name):
        return None
    try:
        conditions, _ = row_filter_conditions(model, policy, JoinPlan(model.objects, type_name))
    except PolicyDenied:  # a filter needs an attribute the principal lacks
        return None
    return tuple(sorted(c.sql(dialect=SPEC_DIALECT) for c in conditions))


@dataclass
class PlanView:
    """A plan as one reader may read it."""

    user: str
    complete: bool  # reads every order, line, site and customer the planner read: the totals are theirs too
    money: bool  # may see every amount (order values, freight, expedite premiums)
    kpis: dict[str, dict[str, Any]] | None  # the plan's KPIs (amounts *** without money); None unless complete
    gap: float | None
    actions: list[dict[str, Any]]
    notifications: list[dict[str, Any]]
    disrupted_lines: list[str]
    hidden: int = field(default=0, repr=False)  # actions left out (never shown: it would tell about them)


def plan_for_reader(brain: Brain, plan: Plan, reader: str | Principal) -> PlanView:
    """What `reader` may read of `plan`: each object it names read again as them (see the module)."""
    project = brain.project
    principal = brain.principal(reader)
    policy = Policy(project, principal)
    planner = Policy(project, brain.principal(plan.user))
    acts = plan.actions
    disrupted = list(plan.assumptions.get("disrupted_lines") or [])

    def keyed(type_name: str, column: str, values: Iterable[Any]) -> dict[str, dict[str, Any]]:
        return {str(r[column]): r for r in read_in(brain, principal, type_name, column, values)}

    orders = keyed("Order", "order_id", [a.get("order_id") for a in acts])
    customers = keyed(
        "Customer", "customer_id", [a.get("customer_id") for a in acts if str(a.get("order_id")) in orders]
    )
    delayed = [a["order_id"] for a in acts if a["action"] == "delay" and str(a["order_id"]) in orders]
    parts_made = read_in(brain, principal, "OrderLine", "order_id", delayed)
    named_lines = [a.get(k) for a in acts for k in ("from_line", "to_line", "line")]
    lines = keyed("Line", "line_id", [*named_lines, *disrupted, *(r.get("production_line_id") for r in parts_made)])
    named_sites = [a.get(k) for a in acts for k in ("from_site", "to_site", "site_id")]
    sites = keyed("Site", "site_id", [*named_sites, *(ln.get("site_id") for ln in lines.values())])
    components = keyed("Component", "component_id", [a.get("component_id") for a in acts])
    suppliers = keyed("Supplier", "supplier_id", [a.get("supplier_id") for a in acts])
    purchases = keyed("PurchaseOrder", "po_id", [a.get("po_id") for a in acts])
    # order values and freight are read from order lines, expedite premiums from parts' standard costs
    money = _unmasked_for(policy, "OrderLine", "net_amount")
    parts_money = _unmasked_for(policy, "Component", "std_cost")
    seen = _Seen(orders, customers, lines, sites, components, suppliers, set(purchases), money, parts_money, policy)
    shown = [v for v in (_for_reader(a, seen) for a in acts) if v is not None]
    ships_from: dict[int, set[str]] = defaultdict(set)
    for r in parts_made:
        line = lines.get(str(r.get("production_line_id")))
        if line is not None and str(line.get("site_id")) in sites:
            ships_from[r["order_id"]].add(str(line["site_id"]))
    visible_disrupted = [ln for ln in disrupted if ln in lines]
    facts = Facts(
        disrupted=visible_disrupted,
        start=str(plan.horizon.get("start")),
        sites=sites,
        hit_sites={str(lines[ln]["site_id"]) for ln in visible_disrupted} & set(sites),
        customers=customers,
        suppliers=suppliers,
        ships_from=ships_from,
    )
    drafts = draft_messages(shown, facts)
    _add_names(brain, drafts, principal)
    model = brain.semantic
    complete = all(
        (mine := rows_read(model, policy, t)) is not None and (mine == () or mine == rows_read(model, planner, t))
        for t in PLAN_TYPES
        if t in project.objects
    )
    kpis = None
    every_amount = money and parts_money  # the margin impact counts both
    if complete:
        kpis = {
            column: {k: v if k in COUNT_KPIS or every_amount else MASK for k, v in values.items()}
            for column, values in plan.kpis.items()
        }
    return PlanView(
        user=principal.user,
        complete=complete,
        money=every_amount,
        kpis=kpis,
        gap=plan.gap if complete and every_amount else None,
        actions=shown,
        notifications=drafts,
        disrupted_lines=visible_disrupted,
        hidden=len(acts) - len(shown),
    )


def _unmasked_for(policy: Policy, type_name: str, prop: str) -> bool:
    """True unless the property exists and is hidden or masked for the principal."""
    obj = policy.project.objects.get(type_name)
    if obj is None or prop not in obj.properties:
        return True
    return policy.can_read_object(type_name) and not policy.masked(type_name, prop)


@dataclass
class _Seen:
    orders: dict[str, dict[str, Any]]
    customers: dict[str, dict[str, Any]]
    lines: dict[str, dict[str, Any]]
    sites: dict[str, dict[str, Any]]
    components: dict[str, dict[str, Any]]
    suppliers: dict[str, dict[str, Any]]
    purchases: set[str]
    money: bool
    parts_money: bool
    policy: Policy


def _for_reader(a: dict[str, Any], seen: _Seen) -> dict[str, Any] | None:
    """The action as the reader may read it, or None when they may not read what it is about."""
    out = dict(a)
    if a["action"] == "expedite":
        component = seen.components.get(str(a.get("component_id")))
        if component is None or str(a.get("site_id")) not in seen.sites:
            return None
        out["component"] = component.get("name", a["component_id"])
        out["normal_lead_time_days"] = component.get("lead_time_days", a.get("normal_lead_time_days"))
        supplier = seen.suppliers.get(str(a.get("supplier_id")))
        if a.get("supplier_id") is not None:
            out["supplier_id"] = a["supplier_id"] if supplier is not None else MASK
            out["supplier"] = supplier.get("name", a["supplier"]) if supplier is not None else MASK
        if a.get("po_id") is not None and str(a["po_id"]) not in seen.purchases:
            out["po_id"], out["promised_date"] = MASK, MASK
        if not seen.parts_money:
            out["expedite_cost"] = MASK
        out["text"] = action_text(out)
        return out
    order = seen.orders.get(str(a.get("order_id")))
    if order is None:
        return None
    customer = seen.customers.get(str(a.get("customer_id")))
    if customer is None:
        out["customer_id"] = out["customer"] = out["tier"] = MASK
    else:
        out["customer"], out["tier"] = customer.get("name", MASK), customer.get("tier", MASK)
    if not _unmasked_for(seen.policy, "Product", "family_id"):
        out["family"] = MASK
    if not _unmasked_for(seen.policy, "OrderLine", "qty"):
        out["qty"] = MASK
    if order.get("due_date") == MASK:
        for k in ("due_date", "new_date", "delay_days"):
            if k in out:
                out[k] = MASK
    for k in ("from_line", "to_line", "line"):
        if k in out and str(out[k]) not in seen.lines:
            out[k] = MASK
    for k in ("from_site", "to_site"):
        if k in out and str(out[k]) not in seen.sites:
            out[k] = MASK
    if not seen.money:
        for k in ("value", "freight"):
            if k in out:
                out[k] = MASK
    out["text"] = action_text(out)
    return out

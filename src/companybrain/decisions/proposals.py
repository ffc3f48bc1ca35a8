"""A replan (or a scenario) turned into a batch of proposed actions, its expected impact in the value ledger.

Each of the plan's actions (move, delay, prioritise) becomes a proposal of the action type that
declares `from_replan: <kind>`, its parameters taken from the plan action's fields by name. The
ledger entry keeps the plan's KPI improvement over the local-scramble baseline, and for every
order the plan touches or the baseline had late: its value, due date and both predictions. A
scenario becomes one proposal per `from_scenario` action type; its ledger entry keeps the KPI
diffs and the baseline values they are measured against once the period's actuals are in.
"""

from __future__ import annotations

from collections import defaultdict
from typing import TYPE_CHECKING, Any

from companybrain.errors import NotFound

if TYPE_CHECKING:
    from companybrain.brain import Brain
    from companybrain.decisions.network import Disruption
    from companybrain.decisions.replan import Plan
    from companybrain.decisions.scenarios import ScenarioRun
    from companybrain.governance.principal import Principal


def expected_impact(plan: Plan) -> dict[str, Any]:
    """What the plan expects against the baseline (positive = better than the plants on their own)."""
    base, new = plan.kpis["baseline"], plan.kpis["plan"]
    return {
        "revenue_protected": round(base["revenue_at_risk"] - new["revenue_at_risk"], 2),
        "late_orders_avoided": base["late_orders_total"] - new["late_orders_total"],
        "weighted_lateness_days_avoided": round(base["weighted_lateness_days"] - new["weighted_lateness_days"], 1),
        "lateness_penalty_avoided": round(base["lateness_penalty"] - new["lateness_penalty"], 2),
        "extra_freight": round(new["extra_freight"] - base["extra_freight"], 2),
        "margin_impact": round(new["margin_impact"] - base["margin_impact"], 2),
        "revenue_at_risk_plan": new["revenue_at_risk"],
        "revenue_at_risk_baseline": base["revenue_at_risk"],
    }


def order_scope(net: Any, plan: Plan) -> list[dict[str, Any]]:
    """Per order the plan touches or either assignment has late: value, due date, both predictions."""
    from companybrain.decisions.replan import build_options

    opts = build_options(net)
    touched = {a["order_id"] for a in plan.actions if "order_id" in a}  # expedites concern parts
    orders: dict[int, dict[str, Any]] = {}
    late: dict[int, list[float]] = defaultdict(lambda: [0.0, 0.0])
    for n, item in enumerate(net.items):
        o = orders.setdefault(
            item.order_id,
            {"order_id": item.order_id, "tier": item.tier, "due_date": item.due.isoformat(), "value": 0.0},
        )
        o["value"] = round(o["value"] + item.value, 2)
        late[item.order_id][0] = max(late[item.order_id][0], float(opts.late_days[plan.baseline_assignment[n]]))
        late[item.order_id][1] = max(late[item.order_id][1], float(opts.late_days[plan.assignment[n]]))
    scope = []
    for order_id, o in sorted(orders.items()):
        base_late, plan_late = late[order_id]
        if order_id in touched or base_late > 0 or plan_late > 0:
            scope.append({**o, "baseline_late": base_late > 0, "plan_late": plan_late > 0})
    return scope


def plan_with_network(
    brain: Brain, disruption: Disruption, user: str | Principal | None = None, time_limit: float | None = None
) -> tuple[Plan, Any]:
    """The plan of a disruption, as `user` reads the network, and the network it was planned on (what
    `propose_plan` needs to record its expected value): what `brain replan` computes, within `time_limit`
    seconds (default: by size)."""
    from companybrain.decisions.network import load_network
    from companybrain.decisions.notify import notifications
    from companybrain.decisions.replan import plan_network

    net = load_network(brain, disruption, user)
    plan = plan_network(net, time_limit)
    plan.notifications = notifications(brain, net, plan, user)
    plan.user = brain.principal(user).user
    return plan, net


def propose_replan(
    brain: Brain,
    disruption: Disruption,
    user: str | Principal | None = None,
    submission: str | None = None,
    time_limit: float | None = None,
) -> tuple[Plan, list[dict[str, Any]], int | None]:
    """Replan, then propose the plan's actions as one batch; (plan, proposed actions, ledger entry)."""
    from companybrain.decisions.actions import ActionDesk

    desk = ActionDesk(brain)
    principal = brain.principal(user)
    for name in sorted({n for n, t in brain.project.actions.items() if t.from_replan}):
        desk.require_submit(name, principal)  # before planning: a user who may not propose learns it at once
    plan, net = plan_with_network(brain, disruption, principal, time_limit)
    proposed, entry = propose_plan(brain, disruption, plan, net, principal, submission)
    return plan, proposed, entry


def propose_plan(
    brain: Brain,
    disruption: Disruption,
    plan: Plan,
    net: Any,
    user: str | Principal | None = None,
    submission: str | None = None,
) -> tuple[list[dict[str, Any]], int | None]:
    """Propose a plan already computed (the one its proposer saw) as one batch, with its expected value in the
    ledger; (proposed actions, ledger entry). A `submission` key this user used before answers that batch
    and proposes nothing new (a second click on the same plan)."""
    from companybrain.decisions import action_store, ledger
    from companybrain.decisions.actions import ActionDesk

    desk = ActionDesk(brain)
    types = {t.from_replan: name for name, t in brain.project.actions.items() if t.from_replan}
    principal = brain.principal(user)
    if submission is not None:
        earlier = action_store.by_submission(brain.warehouse, principal.user, submission)
        if earlier:
            found = ledger.entries(brain, earlier[0]["batch_id"])
            return earlier, found[0]["entry_id"] if found else None
    for name in sorted(set(types.values())):
        desk.require_submit(name, principal)
    if not plan.actions:
        return [], None
    if "expedite" not in types:  # a project that plans parts but declares no way to act on them
        plan.actions = [a for a in plan.actions if a["action"] != "expedite"]
        plan.assumptions["expedites"] = "not proposed: no action type declares `from_replan: expedite`"
    kinds = sorted({a["action"] for a in plan.actions} - set(types))
    if kinds:
        raise NotFound(
            f"no action type turns replan {kinds[0]!r} actions into proposals",
            hint=f"declare one with `from_replan: {kinds[0]}` in actions/*.yaml (brain actions types)",
        )
    items = []
    for a in plan.actions:
        spec = brain.project.actions[types[a["action"]]]
        items.append((types[a["action"]], {p: a[p] for p in spec.parameters if a.get(p) is not None}))
    where = disruption.site + (f" {disruption.line}" if disruption.line else "")
    source = f"replan {where} from {disruption.start} for {disruption.days} days"
    proposed = desk.propose(items, principal, source=source, submission=submission)
    use_case = brain.project.actions[items[0][0]].use_case
    summary = plan_summary(plan.as_dict())
    entry = ledger.record(
        brain,
        proposed[0]["batch_id"],
        use_case,
        source,
        expected_impact(plan),
        order_scope(net, plan),
        principal.user,
        summary,
    )
    return proposed, entry


def scenario_fields(run: ScenarioRun, period: str) -> dict[str, Any]:
    """What a scenario run offers an action type's parameters: its name, period and each KPI readable."""
    fields: dict[str, Any] = {"scenario": run.name, "period": period, "description": run.description}
    for k in run.kpis:
        readable = k["status"] == "ok" and k["diff"] is not None  # else None: not readable by this user
        for part in ("baseline", "scenario", "diff"):
            fields[f"{k['kpi']}_{part}"] = k[part] if readable else None
    return fields


def propose_scenario(
    brain: Brain, name: str, user: str | Principal | None = None
) -> tuple[ScenarioRun, list[dict[str, Any]], int | None]:
    """Run a scenario, then propose adopting it (each `from_scenario` action type); the ledger keeps
    its KPI diffs as the expected impact and its baseline values to measure against later."""
    from companybrain.decisions import ledger
    from companybrain.decisions.actions import ActionDesk
    from companybrain.decisions.scenarios import run_scenario

    desk = ActionDesk(brain)
    types = sorted(n for n, t in brain.project.actions.items() if t.from_scenario)
    if not types:
        raise NotFound(
            "no action type turns a scenario into a proposal",
            hint="declare one with `from_scenario: true` in actions/*.yaml (brain actions types)",
        )
    principal = brain.principal(user)
    for type_name in types:
        desk.require_submit(type_name, principal)
    run = run_scenario(brain, name, principal)
    period = brain.project.scenarios[name].period
    # the desk fills the scenario's fields itself (its KPIs diffed as the proposer): one way for all callers
    proposed = desk.propose([(t, {"scenario": name}) for t in types], principal, source=f"scenario {name}")
    readable = [k for k in run.kpis if k["status"] == "ok" and k["diff"] is not None]
    expected = {f"{k['kpi']}_diff": k["diff"] for k in readable}
    scope = [
        {"kpi": k["kpi"], "period": period, "baseline": k["baseline"], "scenario": k["scenario"]} for k in readable
    ]
    title = f"scenario {name}" + (f": {run.description}" if run.description else "")
    use_case = brain.project.actions[types[0]].use_case
    entry = ledger.record(brain, proposed[0]["batch_id"], use_case, title, expected, scope, principal.user)
    return run, proposed, entry


def plan_summary(plan: dict[str, Any]) -> dict[str, Any]:
    """What a plan (`Plan.as_dict()`) comes to, before its thousand lines: its actions by kind, what moves
    where (order parts from line to line), the delays by customer tier, the customers it touches, the parts
    to expedite and the messages it drafts; for `brain replan` and the cockpit to show first."""
    actions = plan.get("actions", [])
    kinds: dict[str, int] = defaultdict(int)
    for a in actions:
        kinds[a["action"]] += 1
    flows: dict[tuple[str, str, str, str], dict[str, Any]] = {}
    for a in actions:
        if a["action"] != "move":
            continue
        key = (a["from_site"], a["from_line"], a["to_site"], a["to_line"])
        flow = flows.setdefault(
            key,
            {"from_site": key[0], "from_line": key[1], "to_site": key[2], "to_line": key[3], "parts": 0, "units": 0},
        )
        flow["parts"] += 1
        flow["units"] += int(a.get("qty") or 0)
        flow["value"] = round(flow.get("value", 0.0) + float(a.get("value") or 0), 2)
        flow["freight"] = round(flow.get("freight", 0.0) + float(a.get("freight") or 0), 2)
    delays = [a for a in actions if a["action"] == "delay"]
    by_tier: dict[str, dict[str, Any]] = {}
    for a in delays:
        tier = by_tier.setdefault(a.get("tier") or "unknown", {"orders": 0, "value": 0.0, "days": 0.0})
        tier["orders"] += 1
        tier["value"] = round(tier["value"] + float(a.get("value") or 0), 2)
        tier["days"] = max(tier["days"], float(a.get("delay_days") or 0))
    customers: dict[str, str] = {}
    for a in actions:
        if a.get("customer_id"):
            customers[a["customer_id"]] = a.get("tier") or "unknown"
    tiers: dict[str, int] = defaultdict(int)
    for name in customers.values():
        tiers[name] += 1
    parts = [a for a in actions if a["action"] == "expedite"]
    roles: dict[str, int] = defaultdict(int)
    for n in plan.get("notifications", []):
        roles[n["role"]] += 1
    return {
        "actions": len(actions),
        "by_kind": dict(sorted(kinds.items())),
        "flows": sorted(flows.values(), key=lambda f: (-f["parts"], f["from_line"], f["to_line"])),
        "delays": {"orders": len(delays), "by_tier": by_tier},
        "customers": {"total": len(customers), "by_tier": dict(sorted(tiers.items()))},
        "expedites": {"parts": len(parts), "premium": round(sum(float(a.get("expedite_cost") or 0) for a in parts), 2)},
        "messages": {"total": len(plan.get("notifications", [])), "by_role": dict(sorted(roles.items()))},
    }

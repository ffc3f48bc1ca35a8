"""The value ledger: every recommendation's expected impact, and its realised impact once actuals arrive.

A recommendation (a replan turned into a batch of proposed actions; later scenario decisions and
alerts) is recorded when proposed, with what it expects (from the plan's KPIs against what the
plants would do without it) and the orders it is about: for each, its value, due date, and
whether the local-scramble baseline and the plan had it late. Approving it makes the entry count;
rejecting or rolling it back takes it out. `measure` reads the actuals through the governed path
(shipments of those orders) and computes what was realised: an order is on time when it shipped
by its due date, late when it shipped after or is still unshipped past it, pending otherwise.
Realised revenue protected = revenue the baseline had late - revenue actually late, over the
orders measured so far.
"""

from __future__ import annotations

import json
import weakref
from collections import defaultdict
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

from sqlglot import exp

from companybrain.sources.load_log import META
from companybrain.warehouse.ddl import col, insert_values, literal, table

if TYPE_CHECKING:
    from companybrain.brain import Brain
    from companybrain.governance.principal import Principal

LEDGER = table(META, "value_ledger")
COLUMNS = {
    "entry_id": "integer",
    "batch_id": "integer",
    "use_case": "string",
    "title": "string",
    "status": "string",  # proposed | approved | partly approved | rejected | rolled back
    "proposed_by": "string",
    "proposed_at": "string",
    "approved_by": "string",
    "approved_at": "string",
    "expected": "string",
    "scope": "string",
    "summary": "string",  # what the recommendation comes to (a plan's flows, delays, customers), shown first
}
COUNTED = ("approved", "partly approved")


_ENSURED: weakref.WeakSet[Any] = weakref.WeakSet()  # connections whose ledger is as declared now


def _ensure(brain: Brain) -> None:
    """The ledger table as declared now (a ledger made before a column was added gets it), once per connection."""
    wh = brain.warehouse
    if wh in _ENSURED:
        return
    wh.ensure_schema(META)
    wh.ensure_table(LEDGER, COLUMNS)
    _ENSURED.add(wh)


def record(
    brain: Brain,
    batch_id: int,
    use_case: str,
    title: str,
    expected: dict[str, Any],
    scope: list[dict[str, Any]],
    user: str,
    summary: dict[str, Any] | None = None,
) -> int:
    """Record a recommendation with its expected impact and the orders it is about; returns its entry id."""
    _ensure(brain)
    wh = brain.warehouse
    with wh.transaction():
        entry = int(wh.scalar(exp.select(exp.func("max", col("entry_id"))).from_(LEDGER)) or 0) + 1
        row = {
            "entry_id": entry,
            "batch_id": batch_id,
            "use_case": use_case,
            "title": title,
            "status": "proposed",
            "proposed_by": user,
            "proposed_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "approved_by": None,
            "approved_at": None,
            "expected": json.dumps(expected, default=str),
            "scope": json.dumps(scope, default=str),
            "summary": json.dumps(summary, default=str) if summary is not None else None,
        }
        wh.execute(insert_values(LEDGER, row))
    return entry


def batch_changed(brain: Brain, batch_id: int, approved_by: str | None = None) -> None:
    """Update the entry of a batch from the state of its actions (applied, rejected, rolled back)."""
    from companybrain.decisions.action_store import ACTIONS

    _ensure(brain)
    wh = brain.warehouse
    where = col("batch_id").eq(literal(batch_id))
    if not wh.scalar(exp.select(exp.func("count", exp.Star())).from_(LEDGER).where(where)):
        return
    states = [r["status"] for r in wh.query_arrow(exp.select(col("status")).from_(ACTIONS).where(where)).to_pylist()]
    applied = states.count("applied")
    if applied == len(states):
        status = "approved"
    elif applied:
        status = "partly approved"
    elif "proposed" in states:
        status = "proposed"
    elif "rolled_back" in states:
        status = "rolled back"
    else:
        status = "rejected" if "rejected" in states else "failed"
    values: dict[str, Any] = {"status": status}
    if approved_by and status in COUNTED:
        values.update(approved_by=approved_by, approved_at=datetime.now(UTC).isoformat(timespec="seconds"))
    wh.execute(exp.update(LEDGER, {k: literal(v) for k, v in values.items()}, where=where))


def entries(brain: Brain, batch_id: int | None = None) -> list[dict[str, Any]]:
    _ensure(brain)
    query = exp.select("*").from_(LEDGER).order_by(col("entry_id"))
    if batch_id is not None:
        query = query.where(col("batch_id").eq(literal(batch_id)))
    rows = brain.warehouse.query_arrow(query).to_pylist()
    for r in rows:
        r["expected"], r["scope"] = json.loads(r["expected"]), json.loads(r["scope"])
        r["summary"] = json.loads(r["summary"]) if r.get("summary") else None
    return rows


def entry_of_batch(brain: Brain, batch_id: int, user: str | Principal | None = None) -> dict[str, Any] | None:
    """The ledger entry of one batch as `user` may read it (the same rule and audit as `report`: it sums
    orders of every region and their values), without its order scope; None when the batch has none."""
    _require_whole(brain, user, {"batch": batch_id})
    found = entries(brain, batch_id)
    if not found:
        return None
    entry = {k: v for k, v in found[0].items() if k != "scope"}
    entry["scope_items"] = len(found[0]["scope"])
    return entry


def _require_whole(brain: Brain, user: str | Principal | None, request: dict[str, Any]) -> Principal:
    """PolicyDenied (audited) unless the user may read orders unfiltered and unmasked; the read audited."""
    from companybrain.errors import PolicyDenied
    from companybrain.governance.policy import Policy

    principal = brain.principal(user)
    policy = Policy(brain.project, principal)
    whole = policy.can_read_object("Order") and not any(policy.row_filter(t) is not None for t in brain.project.objects)
    if not whole or policy.masked("Order", "order_total"):
        brain.audit.append(principal, "value", request, None, None, brain.data_version(), "denied: value-ledger")
        raise PolicyDenied(
            f"the value ledger sums every region's orders and their values, which {principal.user} may not read",
            policy="value-ledger",
            hint="ask someone with finance or executive rights",
        )
    brain.audit.append(principal, "value", request, None, None, brain.data_version(), "ok")
    return principal


def measure(brain: Brain, entry: dict[str, Any], user: str | Principal | None, today: date) -> dict[str, Any]:
    """The realised impact of one entry, from the shipments of its orders (read as `user`)."""
    scope = entry["scope"]
    if not scope:
        return {"status": "nothing to measure"}
    if "kpi" in scope[0]:
        return measure_kpis(brain, scope, user, today)
    ids = sorted({int(o["order_id"]) for o in scope})
    shipped: dict[int, date] = {}
    rows = brain.read("Shipment", where=f"order_id IN ({', '.join(str(i) for i in ids)})", user=user).to_pylist()
    for r in rows:
        if r["ship_date"] is not None:
            day = r["ship_date"] if isinstance(r["ship_date"], date) else date.fromisoformat(str(r["ship_date"]))
            shipped[r["order_id"]] = min(day, shipped.get(r["order_id"], day))
    measured = late_value = baseline_late_value = plan_late_value = 0.0
    counts: dict[str, int] = defaultdict(int)
    for o in scope:
        due = date.fromisoformat(str(o["due_date"]))
        ship = shipped.get(int(o["order_id"]))
        state = "pending" if ship is None and today <= due else "late"
        if ship is not None and ship <= due:
            state = "on time"
        counts[state] += 1
        if state == "pending":
            continue
        measured += 1
        late_value += o["value"] if state == "late" else 0.0
        baseline_late_value += o["value"] if o["baseline_late"] else 0.0
        plan_late_value += o["value"] if o["plan_late"] else 0.0
    done = counts["on time"] + counts["late"]
    return {
        "status": "measured" if not counts["pending"] else ("partly measured" if done else "pending"),
        "orders": len(scope),
        "orders_on_time": counts["on time"],
        "orders_late": counts["late"],
        "orders_pending": counts["pending"],
        "on_time_rate": round(counts["on time"] / done, 4) if done else None,
        "revenue_late": round(late_value, 2),
        "revenue_protected": round(baseline_late_value - late_value, 2) if done else None,
        "expected_revenue_protected_on_measured": round(baseline_late_value - plan_late_value, 2) if done else None,
    }


def measure_kpis(
    brain: Brain, scope: list[dict[str, Any]], user: str | Principal | None, today: date
) -> dict[str, Any]:
    """A scenario decision: each KPI over its period as it turned out, against the baseline recorded
    when it was proposed (pending until the period is over)."""
    from companybrain.errors import PolicyDenied
    from companybrain.semantic.period import parse_period
    from companybrain.semantic.query import MetricQuery

    period = str(scope[0]["period"])
    end = parse_period(period, today).end
    if end > today:
        return {"status": "pending", "until": end.isoformat()}
    out: dict[str, Any] = {"status": "measured", "period": period}
    for k in scope:
        if k["kpi"] not in brain.project.metrics:
            continue  # capex and the hires' cost come from the scenario itself: nothing to measure
        try:
            actual = brain.query(MetricQuery((k["kpi"],), period=period), user).rows[0][0]
        except PolicyDenied:
            continue
        if actual is not None and k["baseline"] is not None:
            out[f"{k['kpi']}_diff"] = round(float(actual) - float(k["baseline"]), 6)
    return out


def report(brain: Brain, user: str | Principal | None = None, use_case: str | None = None) -> dict[str, Any]:
    """Expected vs realised impact by use case (approved recommendations count; others are listed).

    The ledger sums orders of every customer and region, and their values: only a caller who may read
    orders unfiltered and unmasked gets it (fail closed), and every read of it is audited."""
    user = _require_whole(brain, user, {"use_case": use_case})
    today = brain.project.spec.today or date.today()
    out_entries = []
    totals: dict[str, dict[str, Any]] = {}
    for e in entries(brain):
        if use_case and e["use_case"] != use_case:
            continue
        realized = measure(brain, e, user, today) if e["status"] in COUNTED else None
        out_entries.append(
            {k: v for k, v in e.items() if k not in ("scope", "summary")}
            | {"scope_items": len(e["scope"]), "realized": realized}
        )
        t = totals.setdefault(
            e["use_case"],
            {
                "use_case": e["use_case"],
                "recommendations": 0,
                "approved": 0,
                "expected": defaultdict(float),
                "realized": defaultdict(float),
                "measured": 0,
                "orders_measured": 0,
                "orders_pending": 0,
            },
        )
        t["recommendations"] += 1
        if realized is None:
            continue
        t["approved"] += 1
        for k, v in e["expected"].items():
            if isinstance(v, int | float):
                t["expected"][k] += v
        if realized.get("revenue_protected") is not None:
            t["realized"]["revenue_protected"] += realized["revenue_protected"]
            t["realized"]["revenue_late"] += realized["revenue_late"]
            t["realized"]["expected_revenue_protected_on_measured"] += realized[
                "expected_revenue_protected_on_measured"
            ]
        for key, v in realized.items():
            if key.endswith("_diff") and isinstance(v, int | float):
                t["realized"][key] += v
        t["measured"] += realized["status"] == "measured"
        t["orders_measured"] += realized.get("orders_on_time", 0) + realized.get("orders_late", 0)
        t["orders_pending"] += realized.get("orders_pending", 0)
    use_cases = []
    for t in totals.values():
        t["expected"] = {k: round(v, 2) for k, v in t["expected"].items()}
        t["realized"] = {k: round(v, 2) for k, v in t["realized"].items()}
        use_cases.append(t)
    return {"as_of": today.isoformat(), "use_cases": use_cases, "entries": out_entries}

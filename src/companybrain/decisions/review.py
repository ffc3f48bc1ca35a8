"""A batch of proposed actions as the people deciding it see it, before and after: what it would do (what
moves where, which orders are delayed, the calls to the source systems, the messages), what it is expected
to bring (its value ledger entry), who may approve it and whether this user may do it in one step; once
decided, what applying did (the calls made, the messages sent, the ledger entry counted).

The cockpit's batch page and its preview read this; it reads the actions the user may see (those they
proposed, or whose type they may submit or approve) and the ledger entry only if they may read the ledger.
"""

from __future__ import annotations

import json
from collections import defaultdict
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from sqlglot import exp

from companybrain.decisions import approvals as ap
from companybrain.errors import NotFound, PolicyDenied, QueryError
from companybrain.specs.actions import NotifyEffect, WriteEffect

if TYPE_CHECKING:
    from companybrain.brain import Brain
    from companybrain.governance.principal import Principal


def batch_review(brain: Brain, batch_id: int, user: str | Principal | None = None) -> dict[str, Any]:
    """The batch for this user: status, summary, effects, approvers, what they may do, and what was done."""
    from companybrain.decisions import ledger

    principal = brain.principal(user)
    desk = brain.actions
    rows = desk.visible(desk.find(batch=batch_id, limit=1_000_000), principal)
    if not rows:
        raise NotFound(f"no batch {batch_id} that user {principal.user!r} may see", hint="brain actions list")
    statuses: dict[str, int] = defaultdict(int)
    for row in rows:
        statuses[row["status"]] += 1
    proposed = [r for r in rows if r["status"] == "proposed"]
    try:
        entry = ledger.entry_of_batch(brain, batch_id, principal)
        entry_problem = None
    except PolicyDenied as exc:
        entry, entry_problem = None, exc.message
    return {
        "batch_id": batch_id,
        "source": rows[0].get("source"),
        "proposed_by": rows[0]["proposed_by"],
        "proposed_at": rows[0]["proposed_at"],
        "actions": len(rows),
        "status": dict(sorted(statuses.items())),
        "state": _state(statuses, len(rows)),
        "decided_by": sorted({r["decided_by"] for r in rows if r.get("decided_by")}),
        "errors": sorted({r["error"] for r in rows if r["status"] == "failed" and r.get("error")}),
        "summary": _summary(rows),
        "effects": _effects(brain, rows),
        "approval": _approval(brain, proposed, principal),
        "done": _done(brain, rows),
        "ledger": entry,
        "ledger_problem": entry_problem,
    }


def _state(statuses: dict[str, int], total: int) -> str:
    """The batch in one word: proposed, applied, partly applied, rejected, failed, rolled back, mixed."""
    for status, word in (
        ("proposed", "awaiting approval"),
        ("applied", "applied"),
        ("rejected", "rejected"),
        ("failed", "failed"),
        ("rolled_back", "rolled back"),
    ):
        if statuses.get(status) == total:
            return word
    if statuses.get("proposed"):
        return "partly decided"
    return "partly applied" if statuses.get("applied") else "decided"


def _summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """What the actions do, from their parameters: by type, what moves where, delays by tier, the orders."""
    by_type: dict[str, int] = defaultdict(int)
    flows: dict[tuple[str, str], dict[str, Any]] = {}
    delays: dict[str, dict[str, Any]] = {}
    orders: set[Any] = set()
    for row in rows:
        by_type[row["action_type"]] += 1
        p = row["parameters"]
        if p.get("order_id") is not None:
            orders.add(p["order_id"])
        if p.get("from_line") and p.get("to_line"):
            key = (str(p["from_line"]), str(p["to_line"]))
            flow = flows.setdefault(
                key,
                {
                    "from_line": key[0],
                    "to_line": key[1],
                    "from_site": p.get("from_site"),
                    "to_site": p.get("to_site"),
                    "parts": 0,
                    "units": 0,
                    "value": 0.0,
                },
            )
            flow["parts"] += 1
            flow["units"] += int(p.get("qty") or 0)
            flow["value"] = round(flow["value"] + float(p.get("value") or 0), 2)
        elif p.get("new_date") and p.get("due_date"):
            tier = delays.setdefault(str(p.get("tier") or "unknown"), {"orders": 0, "value": 0.0, "days": 0.0})
            tier["orders"] += 1
            tier["value"] = round(tier["value"] + float(p.get("value") or 0), 2)
            tier["days"] = max(tier["days"], float(p.get("delay_days") or 0))
    return {
        "by_type": dict(sorted(by_type.items())),
        "flows": sorted(flows.values(), key=lambda f: (-f["parts"], f["from_line"], f["to_line"])),
        "delays": delays,
        "orders": len(orders),
    }


def _effects(brain: Brain, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """What applying the actions does, per action type and effect: write-back rows, calls, messages."""
    counts: dict[str, int] = defaultdict(int)
    for row in rows:
        counts[row["action_type"]] += 1
    out = []
    for name, n in sorted(counts.items()):
        spec = brain.project.actions.get(name)
        if spec is None:
            continue
        for effect in spec.effects:
            if isinstance(effect, WriteEffect):
                out.append({"type": name, "kind": "write", "count": n, "what": f"writeback.{effect.table}"})
            elif isinstance(effect, NotifyEffect):
                where = ", ".join(_channel(c) for c in effect.channels)
                out.append({"type": name, "kind": "message", "count": n, "what": where})
            else:
                call = f"{effect.method} {_host(effect.url)}{urlsplit(effect.url).path}"
                out.append({"type": name, "kind": "call", "count": n, "what": call})
    return out


def _host(url: str) -> str:
    parts = urlsplit(url.replace("{", "").replace("}", ""))
    return f"{parts.scheme}://{parts.netloc}" if parts.netloc else url


def _channel(url: str) -> str:
    """A channel as people read it: its scheme and where it goes, no credentials."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname or ''}{(':' + str(parts.port)) if parts.port else ''}{parts.path}"


def _approval(brain: Brain, proposed: list[dict[str, Any]], principal: Principal) -> dict[str, Any]:
    """Who may approve the proposed actions (named users, by the rule that applies), and this user's part."""
    project = brain.project
    desk = brain.actions
    groups: dict[tuple[str, str], dict[str, Any]] = {}
    mine = 0
    reasons: dict[str, int] = defaultdict(int)
    for row in proposed:
        spec = project.actions.get(row["action_type"])
        if spec is None:
            reasons[f"{row['action_type']} is no longer declared"] += 1
            continue
        try:
            rule = ap.rule_for(spec, row["parameters"])
        except (QueryError, PolicyDenied) as exc:
            reasons[str(getattr(exc, "message", exc))] += 1
            continue
        exclude = set() if spec.approval.self_approval else {row["proposed_by"]}
        described = desk.approval_needed(row["action_type"], row["parameters"])
        ways = ap.who_may_approve(project, rule, row["parameters"], row["approvals"], exclude)
        names = " or ".join(" and ".join(w) for w in ways) or "nobody"
        group = groups.setdefault(
            (row["action_type"], names), {"type": row["action_type"], "rule": described, "who": names, "count": 0}
        )
        group["count"] += 1
        if principal.user == row["proposed_by"] and not spec.approval.self_approval:
            reasons["proposed by you: another person approves them"] += 1
        elif any(a["user"] == principal.user for a in row["approvals"]):
            reasons["approved by you already: they wait for another approver"] += 1
        elif ap.counts(rule, ap.people(project, row["approvals"]), principal, row["parameters"]):
            mine += 1
        else:
            reasons[f"{_type_words(row['action_type'])}: need {names}"] += 1
    nobody = sum(g["count"] for g in groups.values() if g["who"] == "nobody")
    return {
        "proposed": len(proposed),
        "groups": sorted(groups.values(), key=lambda g: (g["type"], -g["count"])),
        "you_may_approve": mine,
        "you_may_approve_all": bool(proposed) and mine == len(proposed),
        "you_may_reject": bool(proposed) and _may_reject(brain, proposed, principal),
        "not_yours": [{"why": why, "count": n} for why, n in sorted(reasons.items(), key=lambda r: -r[1])],
        "nobody_can": nobody,
    }


def _may_reject(brain: Brain, rows: list[dict[str, Any]], principal: Principal) -> bool:
    """Whoever may approve an action may reject it (ActionDesk.reject): every one of these."""
    for row in rows:
        spec = brain.project.actions.get(row["action_type"])
        if spec is None:
            return False
        try:
            rule = ap.rule_for(spec, row["parameters"])
        except (QueryError, PolicyDenied):
            return False
        if not ap.could_approve(rule, principal, row["parameters"]):
            return False
    return True


def _type_words(name: str) -> str:
    return name.replace("_", " ")


def _done(brain: Brain, rows: list[dict[str, Any]]) -> dict[str, Any]:
    """What applying did: the calls made to the source systems, the messages of the outbox and their fate."""
    calls: dict[str, int] = defaultdict(int)
    written: dict[str, int] = defaultdict(int)
    applied = [r for r in rows if r["status"] in ("applied", "rolled_back")]
    for row in applied:
        for undo in row.get("undo") or []:
            if undo.get("type") == "webhook":
                call = undo["call"]
                calls[f"{call['method']} {_host(call['url'])}"] += 1
            elif undo.get("type") == "write":
                written[f"writeback.{undo['table']}"] += 1
    return {
        "applied": len(applied),
        "calls": [{"call": k, "count": n} for k, n in sorted(calls.items())],
        "written": [{"table": k, "rows": n} for k, n in sorted(written.items())],
        "messages": _messages(brain, [r["action_id"] for r in applied]),
    }


def _messages(brain: Brain, ids: list[int]) -> dict[str, Any]:
    """The outbox messages of these actions: how many sent, failed, pending or cancelled, and a few titles."""
    from companybrain.decisions.effects import OUTBOX
    from companybrain.warehouse.ddl import col, literal

    if not ids or "outbox" not in brain.warehouse.list_tables(OUTBOX.db):
        return {"total": 0, "by_status": {}, "channels": [], "examples": []}
    found: list[dict[str, Any]] = []
    for start in range(0, len(ids), 1000):
        chunk = ids[start : start + 1000]
        query = exp.select("*").from_(OUTBOX).where(col("action_id").isin(*[literal(i) for i in chunk]))
        found += brain.warehouse.query_arrow(query).to_pylist()
    by_status: dict[str, int] = defaultdict(int)
    channels: set[str] = set()
    for m in found:
        by_status[m["status"]] += 1
        channels.update(_channel(c) for c in json.loads(m["channels"] or "[]"))
    examples = [{"title": m["title"], "status": m["status"]} for m in sorted(found, key=lambda m: m["action_id"])[:5]]
    return {
        "total": len(found),
        "by_status": dict(sorted(by_status.items())),
        "channels": sorted(channels),
        "examples": examples,
    }

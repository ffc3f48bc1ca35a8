"""Actions: proposals of the action types in actions/*.yaml, their approval, write-back and rollback.

An action is proposed (checked: type, parameters, the objects they name as the proposer may see
them, the type's checks, who may submit), approved by the people its first matching approval
rule names, then applied: its effects run together with the other actions that became complete
in the same approval, inside one warehouse transaction; a failure undoes the webhooks already
made and leaves nothing half done. Every state change (proposed, approved, rejected, applied,
failed, rolled back) is a row update in `brain.actions` and a record in the audit log.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from companybrain.decisions import action_store as store
from companybrain.decisions import approvals as ap
from companybrain.decisions import effects as fx
from companybrain.decisions.parameters import Parameters
from companybrain.errors import BrainError, Conflict, NotFound, PolicyDenied, QueryError, did_you_mean
from companybrain.specs.actions import ActionType, NotifyEffect, WriteEffect

if TYPE_CHECKING:
    from companybrain.brain import Brain
    from companybrain.governance.principal import Principal


@dataclass
class Outcome:
    """What one call did to one action."""

    action_id: int
    status: str
    message: str

    def as_dict(self) -> dict[str, Any]:
        return {"action_id": self.action_id, "status": self.status, "message": self.message}


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class ActionDesk:
    """The actions of one brain: types, proposals, approvals, apply and rollback (all audited)."""

    def __init__(self, brain: Brain) -> None:
        self.brain = brain
        self.project = brain.project
        self.wh = brain.warehouse
        store.ensure(self.wh)
        self.parameters = Parameters(brain)

    # --- types --------------------------------------------------------------------------------

    def action_type(self, name: str) -> ActionType:
        found = self.project.actions.get(name)
        if found is None:
            raise NotFound(
                f"unknown action type {name!r}; {did_you_mean(name, self.project.actions)}", hint="brain actions types"
            )
        return found

    def types(self) -> list[dict[str, Any]]:
        return [
            {
                "name": name,
                "description": t.description,
                "use_case": t.use_case,
                "from_replan": t.from_replan,
                "parameters": {p: spec.model_dump(exclude_defaults=True) for p, spec in t.parameters.items()},
                "submit": t.submit.model_dump(),
                "approval": [ap.describe(r) for r in t.approval.rules],
                "effects": [
                    e.type + (f" writeback.{e.table}" if isinstance(e, WriteEffect) else "") for e in t.effects
                ],
            }
            for name, t in sorted(self.project.actions.items())
        ]

    # --- propose ------------------------------------------------------------------------------

    def propose(
        self,
        items: list[tuple[str, dict[str, Any]]],
        user: str | Principal | None,
        source: str = "manual",
        dry_run: bool = False,
        submission: str | None = None,
    ) -> list[dict[str, Any]]:
        """Check and record a batch of proposals (all or none); returns the recorded actions. A dry run
        checks exactly the same (submit rights, parameters, facts read, objects, checks) and records
        nothing: its actions carry no id and the status `dry_run`. A `submission` key the proposer used
        before returns that batch and records nothing (a second click, a request sent again)."""
        principal = self.brain.principal(user)
        if submission is not None and not dry_run:
            earlier = store.by_submission(self.wh, principal.user, submission)
            if earlier:
                return earlier
        if not items:
            raise QueryError("nothing to propose", hint="brain actions propose TYPE --param name=value ...")
        self.parameters.new_batch(dry_run)
        for name, params in items:
            self.require_submit(name, principal, params)
        self.parameters.prefetch(items, principal)
        checked = []
        for name, params in items:
            checked.append((name, self.parameters.checked(name, self.action_type(name), params, principal)))
        self.parameters.require_objects(checked, principal)
        if dry_run:
            return [
                store.decoded(
                    {
                        **dict.fromkeys(store.COLUMNS),
                        "action_type": name,
                        "parameters": json.dumps(params, default=str, sort_keys=True),
                        "status": "dry_run",
                        "source": source,
                        "proposed_by": principal.user,
                        "approvals": "[]",
                    }
                )
                for name, params in checked
            ]
        with self.wh.transaction():
            next_id, batch = store.next_ids(self.wh)
            rows = []
            for offset, (name, params) in enumerate(checked):
                row: dict[str, Any] = dict.fromkeys(store.COLUMNS)
                row.update(
                    action_id=next_id + offset,
                    batch_id=batch,
                    action_type=name,
                    parameters=json.dumps(params, default=str, sort_keys=True),
                    status="proposed",
                    source=source,
                    proposed_by=principal.user,
                    proposed_at=_now(),
                    approvals="[]",
                    submission=submission,
                )
                rows.append(row)
            store.insert_many(self.wh, rows)
        self._audit_many(principal, "action.propose", rows, "ok")
        return [store.decoded(r) for r in rows]

    def approval_needed(self, name: str, params: dict[str, Any]) -> str:
        """Who must approve an action of this type with these parameters (the first rule that holds)."""
        rule = ap.rule_for(self.action_type(name), params)
        filled = {
            group: [a.model_copy(update={"attributes": {k: str(fx.render(v, params)) for k, v in a.attributes.items()}})
                    for a in getattr(rule, group)]
            for group in ("all_of", "any_of")
        }  # fmt: skip
        return ap.describe(rule.model_copy(update=filled))

    def unfilled(self, name: str, given: dict[str, Any]) -> list[str]:
        """The required parameters a proposal still has to be told (none of given, default, `of:`, `expr:`)."""
        return self.parameters.unfilled(self.action_type(name), given)

    def require_submit(self, name: str, principal: Principal, given: dict[str, Any] | None = None) -> None:
        """PolicyDenied (audited) unless the principal may submit actions of this type."""
        spec = self.action_type(name)
        if ap.is_one_of(principal, spec.submit.roles, spec.submit.users):
            return
        denied = PolicyDenied(
            f"user {principal.user!r} may not submit {name!r} actions: submit is {spec.submit.model_dump()} "
            f"({self.project.locate('actions', name)})",
            policy=f"action-submit:{name}",
        )
        self._audit(principal, "action.propose", {"action_type": name, "parameters": given}, f"denied: {denied.policy}")
        raise denied

    # --- approve, reject, rollback -------------------------------------------------------------

    def approve(self, ids: list[int], user: str | Principal | None, note: str | None = None) -> list[Outcome]:
        """Record the user's approval of every action named (all may be approved by them, or none is);
        actions whose approval is then complete are applied together, or none of them."""
        principal = self.brain.principal(user)
        rows = store.rows(self.wh, ids)
        rules = {}
        for row in rows:  # every check first: a denial leaves no approval recorded
            self._require_status(row, "proposed", "approve")
            spec = self.action_type(row["action_type"])
            rules[row["action_id"]] = rule = ap.rule_for(spec, row["parameters"])
            where = self.project.locate("actions", row["action_type"], "approval")
            others = "; approve the others by id" if len(rows) > 1 else ""
            if principal.user == row["proposed_by"] and not spec.approval.self_approval:
                message = (
                    f"user {principal.user!r} proposed action {row['action_id']} and may not approve it: "
                    f"{row['action_type']} does not allow self-approval ({where}){others}"
                )
                self._deny(principal, row, "self-approval", message)
            if any(a["user"] == principal.user for a in row["approvals"]):
                raise Conflict(f"user {principal.user!r} already approved action {row['action_id']}")
            if not ap.counts(rule, ap.people(self.project, row["approvals"]), principal, row["parameters"]):
                message = (
                    f"user {principal.user!r} may not approve action {row['action_id']}: it needs "
                    f"{ap.describe(rule)} ({where}){others}"
                )
                self._deny(principal, row, "approval", message)
        outcomes: dict[int, Outcome] = {}
        ready = []
        at = _now()
        for row in rows:
            approvals = row["approvals"]
            approvals.append({"user": principal.user, "roles": list(principal.roles), "at": at, "note": note})
            if ap.missing(rules[row["action_id"]], ap.people(self.project, approvals), row["parameters"])[0]:
                ready.append(row)
            else:
                outcomes[row["action_id"]] = Outcome(row["action_id"], "proposed", "approval recorded; more needed")
        with self.wh.transaction():
            store.replace(self.wh, rows)
        self._audit_many(principal, "action.approve", rows, "ok")
        if ready:
            outcomes.update({o.action_id: o for o in self._apply(ready, principal)})
        return [outcomes[r["action_id"]] for r in rows]

    def reject(self, ids: list[int], user: str | Principal | None, reason: str | None = None) -> list[Outcome]:
        """Reject proposed actions (anyone who may approve them may reject them); nothing is applied."""
        principal = self.brain.principal(user)
        rows = store.rows(self.wh, ids)
        for row in rows:
            self._require_status(row, "proposed", "reject")
            rule = ap.rule_for(self.action_type(row["action_type"]), row["parameters"])
            if not ap.could_approve(rule, principal, row["parameters"]):
                self._deny(
                    principal,
                    row,
                    "approval",
                    f"user {principal.user!r} may not reject action {row['action_id']}: it needs {ap.describe(rule)}",
                )
        at = _now()
        for row in rows:
            row.update(status="rejected", decided_by=principal.user, decided_at=at, error=reason)
        with self.wh.transaction():
            store.replace(self.wh, rows)
        self._audit_many(principal, "action.reject", rows, "ok")
        self._ledger(rows)
        return [Outcome(r["action_id"], "rejected", reason or "rejected") for r in rows]

    def rollback(self, ids: list[int], user: str | Principal | None) -> list[Outcome]:
        """Undo applied actions (newest first): write-back rows restored, rollback webhooks called."""
        principal = self.brain.principal(user)
        rows = sorted(store.rows(self.wh, ids), key=lambda r: -r["action_id"])
        for row in rows:
            self._require_status(row, "applied", "roll back")
            spec = self.action_type(row["action_type"])
            rule = ap.rule_for(spec, row["parameters"])
            allowed = (
                ap.is_one_of(principal, spec.rollback_by.roles, spec.rollback_by.users)
                if spec.rollback_by
                else ap.could_approve(rule, principal, row["parameters"])
            )
            if not allowed:
                self._deny(
                    principal, row, "rollback", f"user {principal.user!r} may not roll back action {row['action_id']}"
                )
        allow = list(self.project.spec.egress.allow)
        at = _now()
        with self.wh.transaction(), fx.client() as http:
            for row in rows:
                for undo in reversed(row["undo"] or []):
                    if undo["type"] == "write":
                        fx.undo_write(self.wh, undo, row["action_id"], self.project.actions.get(row["action_type"]))
                    elif undo["type"] == "notify":
                        fx.cancel_notice(self.wh, undo)
                    elif undo.get("rollback"):
                        fx.send(undo["rollback"], allow, undo.get("timeout", 10.0), http)
                row.update(status="rolled_back", decided_by=principal.user, decided_at=at)
            store.replace(self.wh, rows)
        self._audit_many(principal, "action.rollback", rows, "ok")
        self._ledger(rows)
        return [Outcome(r["action_id"], "rolled_back", "effects undone") for r in rows]

    def _apply(self, rows: list[dict[str, Any]], principal: Principal) -> list[Outcome]:
        """Run the effects of these actions as one unit: all applied, or none (webhooks compensated).

        Each effect runs for every action of its type at once (a write-back of thousands of rows is a few
        statements; the webhooks a few at a time over one client), in the order the type declares them."""
        allow = list(self.project.spec.egress.allow)
        kinds = {row["action_type"]: self.action_type(row["action_type"]) for row in rows}
        for spec in kinds.values():
            for effect in spec.effects:
                if isinstance(effect, WriteEffect):
                    fx.ensure_writeback(self.wh, spec, effect)
                elif isinstance(effect, NotifyEffect):
                    fx.ensure_outbox(self.wh)
        values = {
            row["action_id"]: {
                **row["parameters"],
                "action_id": row["action_id"],
                "batch_id": row["batch_id"],
                "action_type": row["action_type"],
                "proposed_by": row["proposed_by"],
                "approved_by": principal.user,
            }
            for row in rows
        }
        undo: dict[int, list[dict[str, Any]]] = {row["action_id"]: [] for row in rows}
        made: list[dict[str, Any]] = []  # rollback calls of the webhooks already made
        waiting: dict[int, str] = {}
        try:
            with self.wh.transaction(), fx.client() as http:
                for name, spec in kinds.items():
                    mine = [(values[r["action_id"]], r["action_id"]) for r in rows if r["action_type"] == name]
                    for effect in spec.effects:
                        if isinstance(effect, WriteEffect):
                            done = fx.apply_writes(self.wh, spec, effect, mine, principal.user)
                        elif isinstance(effect, NotifyEffect):
                            done = fx.queue_notices(self.wh, effect, mine)
                        else:
                            done = self._call(effect, mine, allow, http, made)
                        for (_, action_id), entry in zip(mine, done, strict=True):
                            undo[action_id].append(entry)
                at = _now()
                for row in rows:
                    later = sorted(
                        {
                            u["object"]["type"]
                            for u in undo[row["action_id"]]
                            if not u.get("object", {}).get("shown", True)
                        }
                    )
                    if later:  # recorded in the write-back table; not yet on objects built otherwise
                        waiting[row["action_id"]] = (
                            f"; {', '.join(later)} is not built as declared now: the decision is on the "
                            "company model after the next `brain build`"
                        )
                    row.update(
                        status="applied",
                        decided_by=principal.user,
                        decided_at=at,
                        undo=json.dumps(undo[row["action_id"]], default=str),
                    )
                store.replace(self.wh, rows)
        except BrainError as exc:
            problems = [exc.message]
            with fx.client() as http:
                for back in reversed(made):
                    try:
                        fx.send(back, allow, back["timeout"], http)
                    except BrainError as undo_exc:  # the source system must be fixed by hand: say so loudly
                        problems.append(f"COULD NOT UNDO {back['method']} {back['url']}: {undo_exc.message}")
            error = "; ".join(problems)
            at = _now()
            for row in rows:
                row.update(status="failed", decided_by=principal.user, decided_at=at, error=error, undo=None)
            with self.wh.transaction():
                store.replace(self.wh, rows)
            self._audit_many(principal, "action.apply", rows, f"error: {error[:200]}")
            self._ledger(rows)
            return [Outcome(r["action_id"], "failed", f"nothing applied: {error}") for r in rows]
        self._audit_many(principal, "action.apply", rows, "ok")
        self._ledger(rows, approved_by=principal.user)
        return [Outcome(r["action_id"], "applied", "effects applied" + waiting.get(r["action_id"], "")) for r in rows]

    def _call(
        self,
        effect: Any,
        actions: list[tuple[dict[str, Any], int]],
        allow: list[str],
        http: Any,
        made: list[dict[str, Any]],
    ) -> list[dict[str, Any]]:
        """A webhook effect for these actions: every call made (a few at a time); the rollback calls of those
        that succeeded go to `made`, and the first failure raises (the caller undoes what was made)."""
        calls = [fx.rendered_call(effect, v) for v, _ in actions]
        backs = [fx.rendered_call(effect.rollback, v) if effect.rollback else None for v, _ in actions]
        errors = fx.send_many(calls, allow, effect.timeout_seconds, http)
        made.extend({**b, "timeout": effect.timeout_seconds} for b, e in zip(backs, errors, strict=True) if b and not e)
        failed = [e for e in errors if e is not None]
        if failed:
            more = f" (and {len(failed) - 1} more calls failed)" if len(failed) > 1 else ""
            raise fx.EffectFailed(failed[0].message + more)
        return [
            {"type": "webhook", "call": c, "rollback": b, "timeout": effect.timeout_seconds}
            for c, b in zip(calls, backs, strict=True)
        ]

    def _ledger(self, rows: list[dict[str, Any]], approved_by: str | None = None) -> None:
        """Bring the value ledger entries of these actions' batches up to date."""
        from companybrain.decisions.ledger import batch_changed

        for batch in sorted({r["batch_id"] for r in rows}):
            batch_changed(self.brain, batch, approved_by)

    # --- the store ----------------------------------------------------------------------------

    def find(self, status: str | None = None, batch: int | None = None, limit: int = 200) -> list[dict[str, Any]]:
        """Actions, newest last."""
        return store.find(self.wh, status, batch, limit)

    def visible(self, rows: list[dict[str, Any]], user: str | Principal | None) -> list[dict[str, Any]]:
        """The actions a user may see: those they proposed, or whose type they may submit or approve."""
        principal = self.brain.principal(user)

        def sees(row: dict[str, Any]) -> bool:
            spec = self.project.actions.get(row["action_type"])
            if principal.unrestricted or row["proposed_by"] == principal.user or spec is None:
                return principal.unrestricted or row["proposed_by"] == principal.user
            if ap.is_one_of(principal, spec.submit.roles, spec.submit.users):
                return True
            try:
                rule = ap.rule_for(spec, row["parameters"])
            except (QueryError, PolicyDenied):  # no rule decides it now (its type changed since): no approver
                return False
            return ap.could_approve(rule, principal, row["parameters"])

        return [r for r in rows if sees(r)]

    def get(self, action_id: int) -> dict[str, Any]:
        return store.rows(self.wh, [action_id])[0]

    def batch_ids(self, batch: int) -> list[int]:
        ids = [r["action_id"] for r in self.find(batch=batch, limit=100_000)]
        if not ids:
            raise NotFound(f"no batch {batch}", hint="brain actions list")
        return ids

    def _require_status(self, row: dict[str, Any], wanted: str, verb: str) -> None:
        if row["status"] != wanted:
            raise Conflict(
                f"action {row['action_id']} is {row['status']}; only a {wanted} action can be {verb}d"
                if verb != "roll back"
                else f"action {row['action_id']} is {row['status']}; only an applied action can be rolled back"
            )

    def _deny(self, principal: Principal, row: dict[str, Any], policy: str, message: str) -> None:
        self._audit(principal, f"action.{'rollback' if policy == 'rollback' else 'approve'}", row, f"denied: {policy}")
        raise PolicyDenied(message, policy=f"action-{policy}:{row['action_type']}")

    def _audit(self, principal: Principal, what: str, row: dict[str, Any], outcome: str) -> None:
        self._audit_many(principal, what, [row], outcome)

    def _audit_many(self, principal: Principal, what: str, rows: list[dict[str, Any]], outcome: str) -> None:
        """One audit record per action, written together (one head read, one write)."""
        entries = [(what, _request(row), outcome) for row in rows]
        self.brain.audit.append_many(principal, entries, self.brain.data_version())


def _request(row: dict[str, Any]) -> dict[str, Any]:
    """What an action's audit record keeps of it."""
    return {k: row.get(k) for k in ("action_id", "batch_id", "action_type", "parameters") if k in row}

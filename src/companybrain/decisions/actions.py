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
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlglot import exp

from companybrain.decisions import action_store as store
from companybrain.decisions import approvals as ap
from companybrain.decisions import effects as fx
from companybrain.errors import BrainError, Conflict, NotFound, PolicyDenied, QueryError, did_you_mean
from companybrain.specs.actions import SUM, ActionType, NotifyEffect, WriteEffect
from companybrain.specs.ontology import parse_expression
from companybrain.warehouse.ddl import literal

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
        self._read: dict[tuple[str, str, str], dict[str, Any]] = {}  # objects read for facts, per proposal batch

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
    ) -> list[dict[str, Any]]:
        """Check and record a batch of proposals (all or none); returns the recorded actions. A dry run
        checks exactly the same (submit rights, parameters, facts read, objects, checks) and records
        nothing: its actions carry no id and the status `dry_run`."""
        principal = self.brain.principal(user)
        if not items:
            raise QueryError("nothing to propose", hint="brain actions propose TYPE --param name=value ...")
        self._read = {}  # a replan's moves share their lines: each is read once per batch
        checked = [(name, self._checked(name, params, principal)) for name, params in items]
        self._require_objects(checked, principal)
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
                )
                store.insert(self.wh, row)
                rows.append(row)
        for row in rows:
            self._audit(principal, "action.propose", row, "ok")
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
        """The required parameters that neither `given`, a default, the data (`of:`) nor a computation
        (`expr:`) would fill: what a proposal still has to be told."""
        spec = self.action_type(name)
        have = {p for p, v in given.items() if v not in (None, "")}
        have |= {p for p, s in spec.parameters.items() if s.default is not None}
        grew = True
        while grew:
            before = len(have)
            for pname, p in spec.parameters.items():
                read = bool(p.of) and p.fact_source() in have and set(p.match.values()) <= have
                inputs = {c.name for c in parse_expression(p.expr).find_all(exp.Column)} if p.expr else None
                if read or (inputs is not None and inputs <= have):
                    have.add(pname)
            grew = len(have) > before
        return [p for p, s in spec.parameters.items() if s.required and p not in have]

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

    def _checked(self, name: str, given: dict[str, Any], principal: Principal) -> dict[str, Any]:
        spec = self.action_type(name)
        self.require_submit(name, principal, given)
        unknown = sorted(set(given) - set(spec.parameters))
        if unknown:
            raise QueryError(
                f"action type {name!r} has no parameter {unknown[0]!r}; {did_you_mean(unknown[0], spec.parameters)}"
            )
        params: dict[str, Any] = {}
        for pname, p in spec.parameters.items():
            value = given.get(pname, p.default)
            params[pname] = None if value is None or value == "" else _coerce(name, pname, p.type, value)
        params = self._computed(name, self._derived(name, params, principal))
        for pname, p in spec.parameters.items():
            v = params[pname]
            at = self.project.locate("actions", name, "parameters", pname)
            if v is None:
                if p.required:
                    raise QueryError(f"action {name!r} needs the parameter {pname!r} ({p.type}; declared at {at})")
                continue
            if p.choices is not None and v not in p.choices:
                raise QueryError(f"{name}.{pname}={v!r} is not one of {p.choices} ({at})")
            if (p.min is not None and v < p.min) or (p.max is not None and v > p.max):
                raise QueryError(f"{name}.{pname}={v!r} is outside {p.min}..{p.max} ({at})")
        for i, check in enumerate(spec.checks):
            if fx.evaluate(check.check, params) is not True:
                at = self.project.locate("actions", name, "checks", i)
                raise QueryError(f"{name}: {check.message or 'check failed'}: {check.check} ({at})")
        return params

    def _derived(self, name: str, params: dict[str, Any], principal: Principal) -> dict[str, Any]:
        """Parameters declared `of:` are read from the object another parameter names (as the proposer);
        a value the proposer gave must be the same (unless the parameter is `override:`), so nobody
        chooses the facts their approval rests on."""
        spec = self.action_type(name)
        out = dict(params)
        for pname, p in spec.parameters.items():
            source = p.fact_source()
            given = params.get(pname)
            if source is None or params.get(source) is None or (p.override and given is not None):
                continue  # nothing to read from (a missing source is reported as missing), or the value given wins
            type_name = spec.parameters[source].object
            assert type_name is not None  # checked when the project loads
            value = self._fact(name, pname, type_name, params, principal)
            if given is not None and str(given) != str(_coerce(name, pname, p.type, value)):
                raise QueryError(
                    f"{name}: {pname}={given!r}, but {p.of} is {value!r}",
                    hint=f"leave {pname} out: it is read from the {type_name}",
                )
            out[pname] = _coerce(name, pname, p.type, value)
        return out

    def _fact(self, name: str, pname: str, type_name: str, params: dict[str, Any], principal: Principal) -> Any:
        """The value an `of:` path reads, as the proposer: NotFound for a missing object, PolicyDenied for
        a fact they may not read."""
        p = self.action_type(name).parameters[pname]
        assert p.of is not None
        summed = SUM.fullmatch(p.of)
        source, *path = (summed.group(1) if summed else p.of).split(".")
        key = params[source]
        if summed:
            return self._sum(name, pname, type_name, key, path, params, principal)
        cached = (principal.user, type_name, str(key))
        if cached not in self._read:
            try:
                self._read[cached] = self.brain.object(type_name, str(key), principal)
            except NotFound:
                raise NotFound(f"no {type_name} {key!r} (or the proposer may not see it)") from None
        found = self._read[cached]
        node: Any = found["properties"]
        if len(path) == 2:  # one many-to-one link, then the property
            link = found["links"].get(path[0]) or {}
            if link.get("denied") or link.get("object") is None:
                raise _unreadable(name, pname, p.of, f"{principal.user} may not read")
            node = link["object"]
        value = node.get(path[-1])
        if value == "***":
            raise _unreadable(name, pname, p.of, f"is masked for {principal.user}")
        return value

    def _sum(
        self,
        name: str,
        pname: str,
        type_name: str,
        key: Any,
        path: list[str],
        params: dict[str, Any],
        principal: Principal,
    ) -> float:
        """`sum(param.reverse.property)`: the property summed over the objects linking to the named one
        (narrowed by `match`), read as the proposer."""
        p = self.action_type(name).parameters[pname]
        linked, via = next(
            (n, ln.via)
            for n, o in self.project.objects.items()
            for ln in o.links.values()
            if ln.to == type_name and ln.via and ln.reverse == path[0]
        )
        assert via is not None
        terms = [exp.column(via).eq(literal(key))]
        for prop, other in sorted(p.match.items()):
            if params.get(other) is None:
                raise QueryError(f"{name}.{pname} is the sum over {p.of} of one {other}: give {other!r}")
            terms.append(exp.column(prop).eq(literal(params[other])))
        where = exp.and_(*terms).sql(dialect="duckdb")
        values = self.brain.read(linked, where=where, user=principal).column(path[1]).to_pylist()
        if any(v == "***" for v in values):
            raise _unreadable(name, pname, p.of, f"is masked for {principal.user}")
        if not values:
            narrowed = "".join(f" with {prop} = {params[other]!r}" for prop, other in sorted(p.match.items()))
            raise NotFound(f"{type_name} {key!r} has no {linked}{narrowed} (or the proposer may not see it)")
        return float(sum(v or 0 for v in values))

    def _computed(self, name: str, params: dict[str, Any]) -> dict[str, Any]:
        """Parameters declared `expr:` and not given, computed from the others (dates and days)."""
        spec = self.action_type(name)
        out = dict(params)
        pending = [n for n, p in spec.parameters.items() if p.expr and out.get(n) is None]
        while pending:
            ready = [
                n for n in pending if _arithmetic(parse_expression(spec.parameters[n].expr or ""), out) is not None
            ]
            if not ready:
                break
            for pname in ready:
                p = spec.parameters[pname]
                out[pname] = _coerce(name, pname, p.type, _arithmetic(parse_expression(p.expr or ""), out))
            pending = [n for n in pending if n not in ready]
        return out

    def _require_objects(self, checked: list[tuple[str, dict[str, Any]]], principal: Principal) -> None:
        """Each object a parameter names must exist and be visible to the proposer (one read per type)."""
        wanted: dict[str, set[Any]] = defaultdict(set)
        for name, params in checked:
            for pname, p in self.action_type(name).parameters.items():
                if p.object and params.get(pname) is not None:
                    wanted[p.object].add(params[pname])
        for type_name, keys in sorted(wanted.items()):
            key = self.project.objects[type_name].key
            listed = ", ".join(literal(k).sql() for k in sorted(keys, key=str))
            found = self.brain.read(type_name, where=f"{key} IN ({listed})", user=principal)
            missing = sorted(keys - set(found.column(key).to_pylist()), key=str)
            if missing:
                raise NotFound(f"no {type_name} {missing[0]!r} (or the proposer may not see it)")

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
        for row in rows:
            approvals = row["approvals"]
            approvals.append({"user": principal.user, "roles": list(principal.roles), "at": _now(), "note": note})
            store.update(self.wh, row["action_id"], approvals=json.dumps(approvals))
            self._audit(principal, "action.approve", row, "ok")
            if ap.missing(rules[row["action_id"]], ap.people(self.project, approvals), row["parameters"])[0]:
                ready.append(row)
            else:
                outcomes[row["action_id"]] = Outcome(row["action_id"], "proposed", "approval recorded; more needed")
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
        for row in rows:
            store.update(
                self.wh, row["action_id"], status="rejected", decided_by=principal.user, decided_at=_now(), error=reason
            )
            self._audit(principal, "action.reject", row, "ok")
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
        outcomes = []
        with self.wh.transaction():
            for row in rows:
                for undo in reversed(row["undo"] or []):
                    if undo["type"] == "write":
                        fx.undo_write(self.wh, undo, row["action_id"])
                    elif undo["type"] == "notify":
                        fx.cancel_notice(self.wh, undo)
                    elif undo.get("rollback"):
                        fx.send(undo["rollback"], allow, undo.get("timeout", 10.0))
                store.update(
                    self.wh, row["action_id"], status="rolled_back", decided_by=principal.user, decided_at=_now()
                )
        for row in rows:
            self._audit(principal, "action.rollback", row, "ok")
            outcomes.append(Outcome(row["action_id"], "rolled_back", "effects undone"))
        self._ledger(rows)
        return outcomes

    def _apply(self, rows: list[dict[str, Any]], principal: Principal) -> list[Outcome]:
        """Run the effects of these actions as one unit: all applied, or none (webhooks compensated)."""
        allow = list(self.project.spec.egress.allow)
        for row in rows:
            for effect in self.action_type(row["action_type"]).effects:
                if isinstance(effect, WriteEffect):
                    fx.ensure_writeback(self.wh, self.action_type(row["action_type"]), effect)
                elif isinstance(effect, NotifyEffect):
                    fx.ensure_outbox(self.wh)
        made: list[dict[str, Any]] = []  # rollback calls of the webhooks already made
        try:
            with self.wh.transaction():
                for row in rows:
                    spec = self.action_type(row["action_type"])
                    values = {
                        **row["parameters"],
                        "action_id": row["action_id"],
                        "batch_id": row["batch_id"],
                        "action_type": row["action_type"],
                        "proposed_by": row["proposed_by"],
                        "approved_by": principal.user,
                    }
                    undo: list[dict[str, Any]] = []
                    for effect in spec.effects:
                        if isinstance(effect, WriteEffect):
                            undo.append(fx.apply_write(self.wh, spec, effect, values, row["action_id"], principal.user))
                            continue
                        if isinstance(effect, NotifyEffect):
                            undo.append(fx.queue_notice(self.wh, effect, values, row["action_id"]))
                            continue
                        call = fx.rendered_call(effect, values)
                        fx.send(call, allow, effect.timeout_seconds)
                        back = fx.rendered_call(effect.rollback, values) if effect.rollback else None
                        if back:
                            made.append({**back, "timeout": effect.timeout_seconds})
                        undo.append(
                            {"type": "webhook", "call": call, "rollback": back, "timeout": effect.timeout_seconds}
                        )
                    store.update(
                        self.wh,
                        row["action_id"],
                        status="applied",
                        decided_by=principal.user,
                        decided_at=_now(),
                        undo=json.dumps(undo, default=str),
                    )
        except BrainError as exc:
            problems = [exc.message]
            for back in reversed(made):
                try:
                    fx.send(back, allow, back["timeout"])
                except BrainError as undo_exc:  # the source system must be fixed by hand: say so loudly
                    problems.append(f"COULD NOT UNDO {back['method']} {back['url']}: {undo_exc.message}")
            error = "; ".join(problems)
            for row in rows:
                store.update(
                    self.wh,
                    row["action_id"],
                    status="failed",
                    decided_by=principal.user,
                    decided_at=_now(),
                    error=error,
                )
                self._audit(principal, "action.apply", row, f"error: {error[:200]}")
            self._ledger(rows)
            return [Outcome(r["action_id"], "failed", f"nothing applied: {error}") for r in rows]
        for row in rows:
            self._audit(principal, "action.apply", row, "ok")
        self._ledger(rows, approved_by=principal.user)
        return [Outcome(r["action_id"], "applied", "effects applied") for r in rows]

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
            rule = ap.rule_for(spec, row["parameters"])
            return ap.is_one_of(principal, spec.submit.roles, spec.submit.users) or ap.could_approve(
                rule, principal, row["parameters"]
            )

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
        request: dict[str, Any] = {
            k: row.get(k) for k in ("action_id", "batch_id", "action_type", "parameters") if k in row
        }
        self.brain.audit.append(principal, what, request, None, None, self.brain.data_version(), outcome)


def _coerce(action: str, name: str, kind: str, value: Any) -> Any:
    """A parameter value (from YAML, JSON or the command line) as its declared type."""
    try:
        if kind == "integer":
            if isinstance(value, float) and not value.is_integer():
                raise ValueError
            return int(value) if not isinstance(value, bool) else _bad()
        if kind == "number":
            return float(value) if not isinstance(value, bool) else _bad()
        if kind == "boolean":
            if isinstance(value, bool):
                return value
            return {"true": True, "false": False}[str(value).lower()]
        if kind == "date":
            return value if isinstance(value, date) else date.fromisoformat(str(value))
        return str(value)
    except (ValueError, KeyError, TypeError):
        raise QueryError(f"{action}.{name}={value!r} is not a valid {kind}") from None


def _bad() -> Any:
    raise ValueError


def _unreadable(action: str, pname: str, path: str | None, why: str) -> PolicyDenied:
    """The denial of a proposal resting on a fact the proposer may not read (fail closed)."""
    return PolicyDenied(f"{action}.{pname} is read from {path}, which {why}", policy=f"action-fact:{action}")


def _arithmetic(node: exp.Expr, params: dict[str, Any]) -> Any:
    """An `expr:` over the parameters: + and - over numbers and dates (date + days, date - date in days);
    None while a parameter it uses has no value yet."""
    if isinstance(node, exp.Paren):
        return _arithmetic(node.this, params)
    if isinstance(node, exp.Column):
        return params.get(node.name)
    if isinstance(node, exp.Literal) and not node.is_string:
        return float(node.this)
    if isinstance(node, exp.Neg):
        inner = _arithmetic(node.this, params)
        return None if inner is None else -inner
    if not isinstance(node, exp.Add | exp.Sub):
        raise QueryError(f"a parameter's expr may only add and subtract, not {node.sql()!r}")
    left, right = _arithmetic(node.this, params), _arithmetic(node.expression, params)
    if left is None or right is None:
        return None
    sign = 1 if isinstance(node, exp.Add) else -1
    if isinstance(left, date) and isinstance(right, date) and sign < 0:
        return (left - right).days
    if isinstance(left, date) and isinstance(right, int | float):
        return left + timedelta(days=sign * float(right))
    if isinstance(left, int | float) and isinstance(right, int | float):
        return left + sign * right
    raise QueryError(f"cannot compute {node.sql()!r} from {left!r} and {right!r}")

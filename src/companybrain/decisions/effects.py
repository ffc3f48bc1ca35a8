"""What an applied action does, and how it is undone: write-back rows and webhooks to source systems.

A `write` effect keeps one row per key in `writeback.<table>` (the decision as the company model
records it: an order's new line, its new promise date, its priority); applying remembers the row
it replaced, so a rollback restores it. A `webhook` calls the source system (JSON over HTTP, the
host checked against brain.yaml egress.allow first) and, if declared, its `rollback` call undoes it.
Conditions (`checks`, approval `when`) are SQL expressions evaluated over the parameters.
"""

from __future__ import annotations

import json
import operator
import string
from datetime import UTC, date, datetime
from typing import Any

from sqlglot import exp

from companybrain.errors import BrainError, QueryError
from companybrain.governance.egress import require_host
from companybrain.ontology import decisions
from companybrain.specs.actions import ActionType, HttpCall, NotifyEffect, WriteEffect, url_host
from companybrain.specs.ontology import ObjectType, parse_expression
from companybrain.warehouse.base import Warehouse
from companybrain.warehouse.ddl import col, create_table, insert_values, literal, table

WRITEBACK = decisions.WRITEBACK_SCHEMA
# messages of applied actions, written with them and delivered by the alert engine (delivery/)
OUTBOX = table("brain", "outbox")
OUTBOX_COLUMNS = {
    "message_id": "string",
    "action_id": "integer",
    "title": "string",
    "body": "string",
    "channels": "string",
    "status": "string",  # pending | sent | failed | cancelled
    "created_at": "string",
    "delivered_at": "string",
    "attempts": "string",
}
LOGICAL = decisions.LOGICAL


class EffectFailed(BrainError):
    """A step of applying an action failed (a source system refused or was unreachable)."""


# --- conditions ---------------------------------------------------------------------------------

_BINARY: dict[type[exp.Expr], Any] = {
    exp.EQ: operator.eq,
    exp.NEQ: operator.ne,
    exp.GT: operator.gt,
    exp.GTE: operator.ge,
    exp.LT: operator.lt,
    exp.LTE: operator.le,
    exp.Add: operator.add,
    exp.Sub: operator.sub,
    exp.Mul: operator.mul,
    exp.Div: operator.truediv,
}


def evaluate(text: str, params: dict[str, Any]) -> Any:
    """The value of a condition over the parameters (comparisons, arithmetic, AND/OR/NOT, IN, IS NULL)."""
    return _eval(parse_expression(text), params)


def _eval(node: exp.Expr, params: dict[str, Any]) -> Any:
    if isinstance(node, exp.Paren):
        return _eval(node.this, params)
    if isinstance(node, exp.Column):
        value = params.get(node.name)
        return value.isoformat() if isinstance(value, date) else value
    if isinstance(node, exp.Literal):
        return node.this if node.is_string else float(node.this)
    if isinstance(node, exp.Boolean):
        return bool(node.this)
    if isinstance(node, exp.Null):
        return None
    if isinstance(node, exp.Neg):
        return -_eval(node.this, params)
    if isinstance(node, exp.Not):
        return not _eval(node.this, params)
    if isinstance(node, exp.And):
        return bool(_eval(node.this, params)) and bool(_eval(node.expression, params))
    if isinstance(node, exp.Or):
        return bool(_eval(node.this, params)) or bool(_eval(node.expression, params))
    if isinstance(node, exp.Is):
        return _eval(node.this, params) is None
    if isinstance(node, exp.In):
        return _eval(node.this, params) in [_eval(e, params) for e in node.expressions]
    op = _BINARY.get(type(node))
    if op is not None:
        left, right = _eval(node.this, params), _eval(node.expression, params)
        if left is None or right is None:
            return None
        try:
            return op(left, right)
        except (TypeError, ZeroDivisionError):
            raise QueryError(f"cannot evaluate {node.sql()!r} with {left!r} and {right!r}") from None
    raise QueryError(f"conditions on action parameters cannot use {node.sql()!r}", hint="compare, add, AND, OR, IN")


# --- templates ----------------------------------------------------------------------------------


def render(template: Any, values: dict[str, Any]) -> Any:
    """Fill "{name}" templates: a template that is one name keeps the value's type; JSON bodies recurse."""
    if isinstance(template, dict):
        return {k: render(v, values) for k, v in template.items()}
    if isinstance(template, list):
        return [render(v, values) for v in template]
    if not isinstance(template, str):
        return template
    parts = list(string.Formatter().parse(template))
    if len(parts) == 1 and parts[0][0] == "" and parts[0][1] and not parts[0][2] and not parts[0][3]:
        value = values.get(parts[0][1])
        return value.isoformat() if isinstance(value, date) else value
    return "".join(text + ("" if name is None else str(_text(values.get(name)))) for text, name, _, _ in parts)


def _text(value: Any) -> Any:
    return value.isoformat() if isinstance(value, date) else ("" if value is None else value)


# --- write-back rows ----------------------------------------------------------------------------


def write_columns(action: ActionType, effect: WriteEffect) -> dict[str, str]:
    """The write-back table's columns and their logical types (a one-name template keeps the type)."""
    return decisions.writeback_columns(action, effect)


def ensure_writeback(wh: Warehouse, action: ActionType, effect: WriteEffect) -> None:
    decisions.ensure_tables(wh, action, effect)


def apply_write(
    wh: Warehouse, action: ActionType, effect: WriteEffect, values: dict[str, Any], action_id: int, user: str
) -> dict[str, Any]:
    """Replace the row of this key with the action's, and the decision object with it; return what
    undoing needs (the row replaced, and the decision type to refresh)."""
    target = table(WRITEBACK, effect.table)
    key = {k: _stored(values[k]) for k in effect.key}
    where = exp.and_(*[col(k).eq(literal(v)) for k, v in key.items()])
    previous = wh.query_arrow(exp.select("*").from_(target).where(where)).to_pylist()
    row: dict[str, Any] = dict.fromkeys(write_columns(action, effect))
    row.update(key)
    row.update({name: _stored(render(t, values)) for name, t in decisions.column_templates(action, effect).items()})
    row.update(
        action_id=action_id,
        action_type=values.get("action_type"),
        applied_at=datetime.now(UTC).isoformat(timespec="seconds"),
        applied_by=user,
    )
    wh.execute(exp.delete(target, where=where))
    wh.execute(insert_values(target, row))
    name, obj = decisions.decision_type(action, effect)
    shown = decisions.refresh(wh, name, obj, key)  # False: on the objects from the next build
    return {
        "type": "write",
        "table": effect.table,
        "key": key,
        "previous": [_stored_row(r) for r in previous],
        "object": {"type": name, "definition": obj.model_dump(mode="json", exclude_defaults=True), "shown": shown},
    }


def apply_writes(
    wh: Warehouse,
    action: ActionType,
    effect: WriteEffect,
    actions: list[tuple[dict[str, Any], int]],
    user: str,
) -> list[dict[str, Any]]:
    """`apply_write` for several actions of one type (their values and ids, in the order they apply), in a
    few statements per chunk of keys rather than four per action: each action's undo (the row it replaced,
    an earlier action's of this batch included, and its decision type), in that order."""
    target = table(WRITEBACK, effect.table)
    columns = write_columns(action, effect)
    templates = decisions.column_templates(action, effect)
    keys = [{k: _stored(values[k]) for k in effect.key} for values, _ in actions]
    current: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
    for chunk in _chunks(_distinct(keys)):
        found = wh.query_arrow(exp.select("*").from_(target).where(_keys_match(chunk))).to_pylist()
        for old in found:
            current.setdefault(tuple(str(old[k]) for k in effect.key), []).append(_stored_row(old))
    applied_at = datetime.now(UTC).isoformat(timespec="seconds")
    name, obj = decisions.decision_type(action, effect)
    definition = obj.model_dump(mode="json", exclude_defaults=True)
    undos: list[dict[str, Any]] = []
    final: dict[tuple[str, ...], dict[str, Any]] = {}
    for (values, action_id), key in zip(actions, keys, strict=True):
        row: dict[str, Any] = dict.fromkeys(columns)
        row.update(key)
        row.update({column: _stored(render(t, values)) for column, t in templates.items()})
        row.update(action_id=action_id, action_type=values.get("action_type"), applied_at=applied_at, applied_by=user)
        ident = tuple(str(v) for v in key.values())
        undos.append({"type": "write", "table": effect.table, "key": key, "previous": current.get(ident, [])})
        current[ident] = [row]
        final[ident] = row
    distinct = _distinct(keys)
    for chunk in _chunks(distinct):
        wh.execute(exp.delete(target, where=_keys_match(chunk)))
    wh.write_arrow(target, _arrow(wh, target, list(final.values())), create=False)
    shown = decisions.refresh_many(wh, name, obj, distinct)  # False: on the objects from the next build
    for undo in undos:
        undo["object"] = {"type": name, "definition": definition, "shown": shown}
    return undos


def _distinct(keys: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return list({tuple(str(v) for v in k.values()): k for k in keys}.values())


def _chunks(items: list[Any], size: int = 250) -> list[list[Any]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


def _keys_match(keys: list[dict[str, Any]]) -> exp.Expr:
    """Rows whose key is one of these (values from the brain's own records, as literals)."""
    if len(keys[0]) == 1:
        (name,) = keys[0]
        return col(name).isin(*[literal(k[name]) for k in keys])
    names = list(keys[0])
    rows = [exp.Tuple(expressions=[literal(k[c]) for c in names]) for k in keys]
    return exp.Tuple(expressions=[col(c) for c in names]).isin(*rows)


def _arrow(wh: Warehouse, target: exp.Table, rows: list[dict[str, Any]]) -> Any:
    """Rows as an Arrow table of the target's own column types (ISO dates as dates)."""
    import pyarrow as pa

    schema = wh.table_schema(target)
    assert schema is not None  # ensure_writeback made it
    arrays = []
    for field in schema:
        values = [r.get(field.name) for r in rows]
        try:
            arrays.append(pa.array(values, type=field.type))
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            arrays.append(pa.array(values).cast(field.type))
    return pa.Table.from_arrays(arrays, schema=schema)


def ensure_outbox(wh: Warehouse) -> None:
    wh.ensure_schema("brain")
    wh.execute(create_table(OUTBOX, OUTBOX_COLUMNS))


def queue_notice(wh: Warehouse, effect: NotifyEffect, values: dict[str, Any], action_id: int) -> dict[str, Any]:
    """Put the action's message in the outbox (inside the action's transaction); return its undo."""
    message_id = f"msg_{action_id}_{abs(hash((effect.title, effect.message))) % 10**8}"
    row = {
        "message_id": message_id,
        "action_id": action_id,
        "title": str(render(effect.title, values)),
        "body": str(render(effect.message, values)),
        "channels": json.dumps(effect.channels),
        "status": "pending",
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "delivered_at": None,
        "attempts": None,
    }
    wh.execute(insert_values(OUTBOX, row))
    return {"type": "notify", "message_id": message_id}


def queue_notices(
    wh: Warehouse, effect: NotifyEffect, actions: list[tuple[dict[str, Any], int]]
) -> list[dict[str, Any]]:
    """`queue_notice` for several actions, in one write; their undos in order."""
    import pyarrow as pa

    created = datetime.now(UTC).isoformat(timespec="seconds")
    suffix = abs(hash((effect.title, effect.message))) % 10**8
    rows = [
        {
            "message_id": f"msg_{action_id}_{suffix}",
            "action_id": action_id,
            "title": str(render(effect.title, values)),
            "body": str(render(effect.message, values)),
            "channels": json.dumps(effect.channels),
            "status": "pending",
            "created_at": created,
            "delivered_at": None,
            "attempts": None,
        }
        for values, action_id in actions
    ]
    schema = pa.schema([(c, pa.int64() if t == "integer" else pa.string()) for c, t in OUTBOX_COLUMNS.items()])
    wh.write_arrow(OUTBOX, pa.Table.from_pylist(rows, schema=schema), create=False)
    return [{"type": "notify", "message_id": r["message_id"]} for r in rows]


def cancel_notice(wh: Warehouse, undo: dict[str, Any]) -> None:
    """A rolled-back action's message that was not sent yet is never sent."""
    where = exp.and_(col("message_id").eq(literal(undo["message_id"])), col("status").eq(literal("pending")))
    wh.execute(exp.update(OUTBOX, {"status": literal("cancelled")}, where=where))


def undo_write(wh: Warehouse, undo: dict[str, Any], action_id: int, action: ActionType | None) -> None:
    """Put back the row the action replaced (or remove its row), unless a later action owns the key now;
    its decision objects follow, as the action type (`action`, as declared now) defines them."""
    target = table(WRITEBACK, undo["table"])
    where = exp.and_(*[col(k).eq(literal(v)) for k, v in undo["key"].items()])
    owner = wh.scalar(exp.select(col("action_id")).from_(target).where(where))
    if owner is not None and int(owner) != action_id:
        raise EffectFailed(
            f"writeback.{undo['table']} {undo['key']} was changed by action {owner} after action {action_id}",
            hint=f"roll back action {owner} first: brain actions rollback {owner}",
        )
    wh.execute(exp.delete(target, where=where))
    for row in undo["previous"]:
        wh.execute(insert_values(target, row))
    # the definition now if the decision type's table was built as declared now (a build since the type
    # changed), else the one at the approval (no build since, or the type no longer writes this table);
    # none before decisions were objects
    writes = [e for e in (action.effects if action else []) if isinstance(e, WriteEffect) and e.table == undo["table"]]
    if (
        action is not None
        and writes
        and decisions.refresh(wh, *decisions.decision_type(action, writes[0]), undo["key"])
    ):
        return
    if "object" in undo:
        definition = ObjectType.model_validate(undo["object"]["definition"])
        decisions.refresh(wh, undo["object"]["type"], definition, undo["key"])


def _stored(value: Any) -> Any:
    return value.isoformat() if isinstance(value, date) else value


def _stored_row(row: dict[str, Any]) -> dict[str, Any]:
    return {k: _stored(v) for k, v in row.items()}


# --- webhooks -----------------------------------------------------------------------------------


def check_egress(url: str, allow: list[str]) -> None:
    require_host(url_host(url), allow, f"webhook {url!r}", "the brain may write to that system")


def rendered_call(call: HttpCall, values: dict[str, Any]) -> dict[str, Any]:
    return {"url": render(call.url, values), "method": call.method, "body": render(call.body, values)}


def send(call: dict[str, Any], allow: list[str], timeout: float, http: Any = None) -> int:
    """Make one HTTP call (JSON body); EffectFailed unless the system answers 2xx. Straight to the allowed
    host: no proxy from the environment, no redirect followed (a redirect could lead anywhere). `http`: a
    client (`client`) shared by the calls of one apply."""
    import httpx2

    check_egress(call["url"], allow)
    try:
        if http is None:
            with client(timeout) as own:
                response = own.request(call["method"], call["url"], json=call["body"])
        else:
            response = http.request(call["method"], call["url"], json=call["body"], timeout=timeout)
    except httpx2.HTTPError as exc:
        raise EffectFailed(f"{call['method']} {call['url']} failed: {exc}") from None
    if not 200 <= response.status_code < 300:
        raise EffectFailed(f"{call['method']} {call['url']} answered {response.status_code} {response.reason_phrase}")
    return int(response.status_code)


def client(timeout: float = 10.0) -> Any:
    """An HTTP client for webhooks: no proxy from the environment, no redirects; made once per apply (a
    client's TLS set-up costs tens of milliseconds: not per call)."""
    import httpx2

    return httpx2.Client(timeout=timeout, trust_env=False, follow_redirects=False)


def send_many(
    calls: list[dict[str, Any]], allow: list[str], timeout: float, http: Any, workers: int = 8
) -> list[BrainError | None]:
    """Make these calls, a few at a time; for each, None when it was answered 2xx, else its error."""
    from concurrent.futures import ThreadPoolExecutor

    def one(call: dict[str, Any]) -> BrainError | None:
        try:
            send(call, allow, timeout, http)
        except BrainError as exc:
            return exc
        return None

    if len(calls) <= 1:
        return [one(c) for c in calls]
    with ThreadPoolExecutor(max_workers=min(workers, len(calls)), thread_name_prefix="webhook") as pool:
        return list(pool.map(one, calls))

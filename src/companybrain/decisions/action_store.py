"""The store of actions: one row per action in `brain.actions`, its JSON columns decoded on the way out."""

from __future__ import annotations

import json
import weakref
from typing import Any

from sqlglot import exp

from companybrain.errors import NotFound, QueryError
from companybrain.sources.load_log import META
from companybrain.warehouse.base import Warehouse
from companybrain.warehouse.ddl import col, insert_values, literal, table

ACTIONS = table(META, "actions")
COLUMNS = {
    "action_id": "integer",
    "batch_id": "integer",
    "action_type": "string",
    "parameters": "string",
    "status": "string",  # proposed | applied | rejected | failed | rolled_back
    "source": "string",
    "proposed_by": "string",
    "proposed_at": "string",
    "approvals": "string",
    "decided_by": "string",
    "decided_at": "string",
    "undo": "string",
    "error": "string",
    "submission": "string",  # the proposer's key of the submission: a repeated one proposes nothing new
}
JSON_COLUMNS = ("parameters", "approvals", "undo")


_ENSURED: weakref.WeakSet[Warehouse] = weakref.WeakSet()  # connections whose table is as declared now


def ensure(wh: Warehouse) -> None:
    """The actions table, as declared now (a table made before a column was added gets it); checked once per
    connection: every use of `brain.actions` asks."""
    if wh in _ENSURED:
        return
    wh.ensure_schema(META)
    wh.ensure_table(ACTIONS, COLUMNS)
    _ENSURED.add(wh)


def by_submission(wh: Warehouse, user: str, key: str) -> list[dict[str, Any]]:
    """The actions a user proposed under a submission key (a batch), or none."""
    query = (
        exp.select(*[col(c) for c in COLUMNS])
        .from_(ACTIONS)
        .where(exp.and_(col("submission").eq(literal(key)), col("proposed_by").eq(literal(user))))
        .order_by(col("action_id"))
    )
    return [decoded(r) for r in wh.query_arrow(query).to_pylist()]


def next_ids(wh: Warehouse) -> tuple[int, int]:
    """The next action id and batch id (call inside the transaction that inserts them)."""
    action = int(wh.scalar(exp.select(exp.func("max", col("action_id"))).from_(ACTIONS)) or 0) + 1
    batch = int(wh.scalar(exp.select(exp.func("max", col("batch_id"))).from_(ACTIONS)) or 0) + 1
    return action, batch


def insert(wh: Warehouse, row: dict[str, Any]) -> None:
    wh.execute(insert_values(ACTIONS, row))


def insert_many(wh: Warehouse, rows: list[dict[str, Any]]) -> None:
    """Insert several actions in one write (their JSON columns as text, as `insert` takes them)."""
    import pyarrow as pa

    if rows:
        wh.write_arrow(ACTIONS, pa.Table.from_pylist(rows, schema=_schema()), create=False)


def replace(wh: Warehouse, rows: list[dict[str, Any]]) -> None:
    """Write these actions anew (decoded rows, as `rows` returns them), in one delete and one insert: an
    approval of thousands of actions is two statements, not thousands. Call inside a transaction."""
    if not rows:
        return
    wh.execute(exp.delete(ACTIONS, where=col("action_id").isin(*[literal(r["action_id"]) for r in rows])))
    insert_many(wh, [encoded(r) for r in rows])


def encoded(row: dict[str, Any]) -> dict[str, Any]:
    """A decoded row as stored: its JSON columns as text."""
    return {
        k: (
            json.dumps(row.get(k), default=str)
            if k in JSON_COLUMNS and not isinstance(row.get(k), str | None)
            else row.get(k)
        )
        for k in COLUMNS
    }


def _schema() -> Any:
    import pyarrow as pa

    return pa.schema([(c, pa.int64() if t == "integer" else pa.string()) for c, t in COLUMNS.items()])


def find(wh: Warehouse, status: str | None = None, batch: int | None = None, limit: int = 200) -> list[dict[str, Any]]:
    """Actions, newest last (the latest `limit`)."""
    query = exp.select(*[col(c) for c in COLUMNS]).from_(ACTIONS)
    if status:
        query = query.where(col("status").eq(literal(status)))
    if batch is not None:
        query = query.where(col("batch_id").eq(literal(batch)))
    query = query.order_by(exp.Ordered(this=col("action_id"), desc=True)).limit(limit)
    return [decoded(r) for r in reversed(wh.query_arrow(query).to_pylist())]


def latest_batches(wh: Warehouse, limit: int = 10) -> list[int]:
    """The ids of the latest batches, newest first."""
    query = (
        exp.select(col("batch_id"))
        .from_(ACTIONS)
        .group_by(col("batch_id"))
        .order_by(exp.Ordered(this=col("batch_id"), desc=True))
        .limit(limit)
    )
    return [int(r["batch_id"]) for r in wh.query_arrow(query).to_pylist()]


def of_batches(wh: Warehouse, batches: list[int]) -> list[dict[str, Any]]:
    """Every action of these batches, by id."""
    if not batches:
        return []
    query = (
        exp.select(*[col(c) for c in COLUMNS])
        .from_(ACTIONS)
        .where(col("batch_id").isin(*[literal(b) for b in batches]))
        .order_by(col("action_id"))
    )
    return [decoded(r) for r in wh.query_arrow(query).to_pylist()]


def rows(wh: Warehouse, ids: list[int]) -> list[dict[str, Any]]:
    """These actions, in the order given; NotFound naming the first that does not exist."""
    if not ids:
        raise QueryError("name at least one action id", hint="brain actions list")
    query = (
        exp.select(*[col(c) for c in COLUMNS]).from_(ACTIONS).where(col("action_id").isin(*[literal(i) for i in ids]))
    )
    found = {r["action_id"]: decoded(r) for r in wh.query_arrow(query).to_pylist()}
    missing = [i for i in ids if i not in found]
    if missing:
        raise NotFound(f"no action {missing[0]}", hint="brain actions list")
    return [found[i] for i in dict.fromkeys(ids)]


def decoded(row: dict[str, Any]) -> dict[str, Any]:
    return {k: (json.loads(v) if k in JSON_COLUMNS and isinstance(v, str) else v) for k, v in row.items()}


def update(wh: Warehouse, action_id: int, **values: Any) -> None:
    wh.execute(
        exp.update(ACTIONS, {k: literal(v) for k, v in values.items()}, where=col("action_id").eq(literal(action_id)))
    )

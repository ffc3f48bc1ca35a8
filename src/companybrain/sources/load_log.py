"""The load log and the quarantine: where every load and every rejected row is recorded."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa
from sqlglot import exp

from companybrain.sources.base import Rejected
from companybrain.warehouse.base import Warehouse
from companybrain.warehouse.ddl import col, create_table, insert_values, literal, table

META = "brain"
LOAD_ID_COLUMN = "_load_id"  # on every raw row: the load that wrote it
LOAD_LOG = table(META, "load_log")
QUARANTINE = table(META, "quarantine")

LOAD_LOG_COLUMNS = {
    "load_id": "integer",
    "source": "string",
    "table_name": "string",
    "status": "string",
    "started_at": "timestamp",
    "seconds": "float",
    "rows_read": "integer",
    "rows_loaded": "integer",
    "rows_quarantined": "integer",
    "added_columns": "string",
    "state": "string",
    "message": "string",
}
QUARANTINE_COLUMNS = {
    "load_id": "integer",
    "source": "string",
    "table_name": "string",
    "location": "string",
    "reason": "string",
    "record": "string",
    "quarantined_at": "timestamp",
}


def ensure_tables(wh: Warehouse) -> None:
    wh.ensure_schema(META)
    wh.ensure_schema("raw")
    wh.execute(create_table(LOAD_LOG, LOAD_LOG_COLUMNS))
    wh.execute(create_table(QUARANTINE, QUARANTINE_COLUMNS))


def next_load_id(wh: Warehouse) -> int:
    top = wh.scalar(exp.select(exp.func("max", col("load_id"))).from_(LOAD_LOG))
    return int(top or 0) + 1


def last_state(wh: Warehouse, source: str, table_name: str) -> dict[str, Any]:
    """The state stored by the last load that succeeded (cursor value or file fingerprints)."""
    query = (
        exp.select(col("state"))
        .from_(LOAD_LOG)
        .where(exp.and_(col("source").eq(literal(source)), col("table_name").eq(literal(table_name))))
        .where(col("status").isin(literal("ok"), literal("unchanged")))
        .order_by(exp.Ordered(this=col("load_id"), desc=True))
        .limit(1)
    )
    value = wh.scalar(query)
    return json.loads(str(value)) if value else {}


def record_load(wh: Warehouse, row: dict[str, Any]) -> None:
    values = dict(row)
    values["state"] = json.dumps(values.get("state") or {}, default=str)
    values["started_at"] = values["started_at"].strftime("%Y-%m-%d %H:%M:%S.%f")
    wh.execute(insert_values(LOAD_LOG, {k: values.get(k) for k in LOAD_LOG_COLUMNS}))


def quarantine(wh: Warehouse, load_id: int, source: str, table_name: str, rows: list[Rejected]) -> None:
    if not rows:
        return
    now = datetime.now(UTC).replace(tzinfo=None)
    data = pa.table(
        {
            "load_id": pa.array([load_id] * len(rows), pa.int64()),
            "source": [source] * len(rows),
            "table_name": [table_name] * len(rows),
            "location": [r.location for r in rows],
            "reason": [r.reason for r in rows],
            "record": [r.record for r in rows],
            "quarantined_at": pa.array([now] * len(rows), pa.timestamp("us")),
        }
    )
    wh.write_arrow(QUARANTINE, data, create=False)


def history(wh: Warehouse, limit: int = 200) -> list[dict[str, Any]]:
    query = exp.select("*").from_(LOAD_LOG).order_by(exp.Ordered(this=col("load_id"), desc=True)).limit(limit)
    return wh.query_arrow(query).to_pylist()


def quarantined(wh: Warehouse, source: str, table_name: str | None, limit: int) -> list[dict[str, Any]]:
    query = exp.select("*").from_(QUARANTINE).where(col("source").eq(literal(source)))
    if table_name:
        query = query.where(col("table_name").eq(literal(table_name)))
    query = query.order_by(exp.Ordered(this=col("load_id"), desc=True), col("location")).limit(limit)
    return wh.query_arrow(query).to_pylist()

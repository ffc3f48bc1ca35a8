"""The load log and the quarantine: where every load and every rejected row is recorded."""

from __future__ import annotations

import json
import re
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
# text written here comes from outside (a source's bytes, a reader's error): capped, so one 20 MB line
# or error cannot bloat the log, and stored as `storable` text
MESSAGE_LIMIT = 2_000
REASON_LIMIT = 1_000
RECORD_LIMIT = 10_000

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


# NUL (PostgreSQL text cannot hold it), the other control bytes but tab and newline and the C1 controls
# (a terminal acts on them), the bidi overrides (they reorder what is shown), and the surrogates Python
# uses for bytes that were not UTF-8
_UNSTORABLE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")


def storable(text: str, limit: int) -> str:
    """`text` as every engine can store it and a terminal can show it: control bytes and bytes that
    were not UTF-8 written as \\xNN, at most `limit` characters (a longer one ends with how long it was).
    Storable text stays as it is."""
    cleaned = _UNSTORABLE.sub(_escape, text[:limit])
    if len(text) <= limit and len(cleaned) <= limit:
        return cleaned
    suffix = f"... ({len(text):,} characters in all)"
    return cleaned[: max(limit - len(suffix), 0)] + suffix


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    if 0xDC80 <= code <= 0xDCFF:  # surrogateescape: the byte that did not decode
        code -= 0xDC00
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def record_load(wh: Warehouse, row: dict[str, Any]) -> None:
    values = dict(row)
    values["state"] = json.dumps(values.get("state") or {}, default=str)
    for name in ("message", "added_columns"):
        if values.get(name) is not None:
            values[name] = storable(str(values[name]), MESSAGE_LIMIT)
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
            "location": [storable(r.location, REASON_LIMIT) for r in rows],
            "reason": [storable(r.reason, REASON_LIMIT) for r in rows],
            "record": [storable(r.record, RECORD_LIMIT) for r in rows],
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

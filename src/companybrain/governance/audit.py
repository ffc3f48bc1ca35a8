"""The audit log: one record per read, append-only and hash-chained so that tampering shows."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any

from sqlglot import exp

from companybrain.governance.principal import Principal
from companybrain.sources.load_log import META
from companybrain.warehouse.base import Warehouse
from companybrain.warehouse.ddl import col, create_table, insert_values, table

AUDIT = table(META, "audit_log")
COLUMNS = {
    "seq": "integer",
    "at": "string",
    "user_name": "string",
    "roles": "string",
    "purpose": "string",
    "action": "string",
    "request": "string",
    "sql": "string",
    "row_count": "integer",
    "data_version": "string",
    "outcome": "string",
    "prev_hash": "string",
    "hash": "string",
}
GENESIS = "0" * 64


def _digest(record: dict[str, Any]) -> str:
    body = {k: record[k] for k in COLUMNS if k != "hash"}
    return hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()


class AuditLog:
    """Append and verify; the records live in the warehouse beside the data they describe."""

    def __init__(self, wh: Warehouse) -> None:
        self.wh = wh
        self._ready = False

    def _ensure(self) -> None:
        if not self._ready:
            self.wh.ensure_schema(META)
            self.wh.execute(create_table(AUDIT, COLUMNS))
            self._ready = True

    def append(
        self,
        principal: Principal,
        action: str,
        request: dict[str, Any],
        sql: str | None,
        row_count: int | None,
        data_version: str | None,
        outcome: str = "ok",
    ) -> dict[str, Any]:
        """Write one record chained to the previous one; returns it."""
        self._ensure()
        with self.wh.transaction():
            last = self.wh.query_arrow(
                exp.select(col("seq"), col("hash"))
                .from_(AUDIT)
                .order_by(exp.Ordered(this=col("seq"), desc=True))
                .limit(1)
            ).to_pylist()
            record: dict[str, Any] = {
                "seq": (last[0]["seq"] + 1) if last else 1,
                "at": datetime.now(UTC).isoformat(timespec="microseconds"),
                "user_name": principal.user,
                "roles": ",".join(principal.roles),
                "purpose": principal.purpose,
                "action": action,
                "request": json.dumps(request, sort_keys=True, default=str),
                "sql": sql,
                "row_count": row_count,
                "data_version": data_version,
                "outcome": outcome,
                "prev_hash": last[0]["hash"] if last else GENESIS,
            }
            record["hash"] = _digest(record)
            self.wh.execute(insert_values(AUDIT, record))
        return record

    def tail(self, limit: int = 20) -> list[dict[str, Any]]:
        self._ensure()
        query = exp.select(*[col(c) for c in COLUMNS]).from_(AUDIT).order_by(exp.Ordered(this=col("seq"), desc=True))
        return list(reversed(self.wh.query_arrow(query.limit(limit)).to_pylist()))

    def verify(self, anchor: str | None = None) -> dict[str, Any]:
        """Recompute the chain: an edited, removed or inserted record breaks it at that point.

        `anchor` (`SEQ:HASH`, the head printed by an earlier verify and kept elsewhere) also
        catches records cut off the end: that record must still be there, unchanged.
        """
        self._ensure()
        rows = self.wh.query_arrow(exp.select(*[col(c) for c in COLUMNS]).from_(AUDIT).order_by(col("seq"))).to_pylist()
        problems = []
        previous, expected_seq = GENESIS, 1
        for row in rows:
            if row["seq"] != expected_seq:
                problems.append({"seq": row["seq"], "problem": f"expected record {expected_seq}: records are missing"})
            if row["prev_hash"] != previous:
                problems.append({"seq": row["seq"], "problem": "does not chain to the record before it"})
            if _digest(row) != row["hash"]:
                problems.append({"seq": row["seq"], "problem": "its content does not match its hash (edited)"})
            previous, expected_seq = row["hash"], row["seq"] + 1
        if anchor:
            seq_text, _, want = anchor.partition(":")
            found = next((r for r in rows if str(r["seq"]) == seq_text), None)
            if found is None or found["hash"] != want:
                problems.append(
                    {
                        "seq": int(seq_text) if seq_text.isdigit() else None,
                        "problem": "the anchored record is missing or changed (records were cut or rewritten)",
                    }
                )
        head = {"seq": rows[-1]["seq"], "hash": rows[-1]["hash"]} if rows else None
        return {"ok": not problems, "records": len(rows), "problems": problems, "head": head}

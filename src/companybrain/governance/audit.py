"""The audit log: one record per read, append-only and chained so that tampering shows.

Each record's hash covers its content and the previous record's hash. From the first record written
with an audit key (`AuditKey`, a file outside the warehouse), the hash is an HMAC under that key:
someone who can rewrite the warehouse (a stolen database password, an injected statement) can edit,
remove or re-chain records, but cannot compute the hashes, so `verify` catches even a whole chain
written anew. Someone who can also read the key file (the brain's host) is outside this protection;
the head printed by `verify`, kept elsewhere and passed back as an anchor, still catches a cut tail.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
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


KEY_ENV = "BRAIN_AUDIT_KEY_FILE"


@dataclass(frozen=True)
class AuditKey:
    """The secret the chain is keyed with, and the first record keyed with it (earlier ones are plain SHA-256)."""

    secret: bytes
    since: int

    @staticmethod
    def path_for(root: Path) -> Path:
        """$BRAIN_AUDIT_KEY_FILE, else .brain/audit.key in the project (outside the warehouse's tables)."""
        return Path(os.environ[KEY_ENV]) if os.environ.get(KEY_ENV) else root / ".brain" / "audit.key"

    @classmethod
    def load(cls, path: Path) -> AuditKey | None:
        if not path.is_file():
            return None
        data = json.loads(path.read_text())
        return cls(bytes.fromhex(data["key"]), int(data["since"]))

    @classmethod
    def create(cls, path: Path, since: int) -> AuditKey:
        """A new key, readable by its owner only; the file another process made first wins."""
        path.parent.mkdir(parents=True, exist_ok=True)
        key = cls(secrets.token_bytes(32), since)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            found = cls.load(path)
            assert found is not None
            return found
        with os.fdopen(fd, "w") as out:
            json.dump({"key": key.secret.hex(), "since": since}, out)
        return key


def _digest(record: dict[str, Any], key: AuditKey | None) -> str:
    body = json.dumps({k: record[k] for k in COLUMNS if k != "hash"}, sort_keys=True, default=str).encode()
    if key is not None and record["seq"] >= key.since:
        return hmac.new(key.secret, body, hashlib.sha256).hexdigest()
    return hashlib.sha256(body).hexdigest()


class AuditLog:
    """Append and verify; the records live in the warehouse beside the data they describe, the key
    outside it (`key_path`; None: a plain SHA-256 chain, for a brain without a project folder)."""

    def __init__(self, wh: Warehouse, key_path: Path | None = None) -> None:
        self.wh = wh
        self.key_path = key_path
        self._key = AuditKey.load(key_path) if key_path is not None else None
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
            [record] = self._chained(principal, [(action, request, sql, row_count, outcome)], data_version)
            self.wh.execute(insert_values(AUDIT, record))
        return record

    def append_many(
        self, principal: Principal, entries: list[tuple[str, dict[str, Any], str]], data_version: str | None
    ) -> list[dict[str, Any]]:
        """Write one record per (action, request, outcome) of one principal, chained in that order, in one
        transaction: what `append` writes for each, with one read of the head and one write for them all
        (a batch of thousands of actions records each of them in well under a second)."""
        import pyarrow as pa

        if not entries:
            return []
        self._ensure()
        with self.wh.transaction():
            records = self._chained(principal, [(a, r, None, None, o) for a, r, o in entries], data_version)
            types = {"integer": pa.int64(), "string": pa.string()}
            schema = pa.schema([(c, types[t]) for c, t in COLUMNS.items()])
            self.wh.write_arrow(AUDIT, pa.Table.from_pylist(records, schema=schema), create=False)
        return records

    def _chained(
        self,
        principal: Principal,
        entries: list[tuple[str, dict[str, Any], str | None, int | None, str]],
        data_version: str | None,
    ) -> list[dict[str, Any]]:
        """The records of (action, request, sql, row_count, outcome) entries, chained after the log's head
        (read in the caller's transaction)."""
        last = self.wh.query_arrow(
            exp.select(col("seq"), col("hash")).from_(AUDIT).order_by(exp.Ordered(this=col("seq"), desc=True)).limit(1)
        ).to_pylist()
        seq = (last[0]["seq"] + 1) if last else 1
        previous = last[0]["hash"] if last else GENESIS
        if self._key is None and self.key_path is not None:
            self._key = AuditKey.create(self.key_path, seq)
        records = []
        for action, request, sql, row_count, outcome in entries:
            record: dict[str, Any] = {
                "seq": seq,
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
                "prev_hash": previous,
            }
            record["hash"] = previous = _digest(record, self._key)
            records.append(record)
            seq += 1
        return records

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
        problems: list[dict[str, Any]] = []
        key = AuditKey.load(self.key_path) if self.key_path is not None else None
        if rows and key is None and self.key_path is not None:
            problems.append(
                {
                    "seq": None,
                    "problem": f"the audit key {self.key_path} is missing: the chain's hashes cannot be checked "
                    f"(restore the file, or point ${KEY_ENV} at it)",
                }
            )
        previous, expected_seq = GENESIS, 1
        for row in rows:
            if row["seq"] != expected_seq:
                problems.append({"seq": row["seq"], "problem": f"expected record {expected_seq}: records are missing"})
            if row["prev_hash"] != previous:
                problems.append({"seq": row["seq"], "problem": "does not chain to the record before it"})
            if _digest(row, key) != row["hash"]:
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
        keyed = {"since": key.since, "key_file": str(self.key_path)} if key is not None else None
        return {"ok": not problems, "records": len(rows), "problems": problems, "head": head, "keyed": keyed}

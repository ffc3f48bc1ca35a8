"""The demo's stand-ins for the systems Acme's brain writes to, as a small HTTP server of their own.

A real deployment points the action types' webhooks at the ERP's own API and the channels at Teams,
Slack or mail. The demo company has no such systems (its ERP is a SQLite file), so `brain demo serve`
starts these in a process beside the service, on the loopback addresses the demo's files name
(`actions/orders.yaml`, `alerts/*.yaml`; `egress.allow` lets only this machine in):

- the ERP's order API, 127.0.0.1:8099 `/erp/orders/{order_id}/production`: a move of an order part is
  recorded as a production instruction in the demo ERP's own database (`sources/erp.sqlite`, table
  `production_instructions`, beside the orders it names); an order the ERP does not know is a 404, as
  an ERP would answer, and a rollback (`"undo": true`) cancels the instruction it names;
- the chat bridge of the alerts (127.0.0.1:8099 `/alerts/{user}`) and the account team's inbox
  (127.0.0.1:8098 `/account-team`, where the approved delays are announced): each message received
  is kept, one JSON line each, in `.brain/stand-ins/messages.jsonl`.

`GET /erp/orders/{order_id}/production` and `GET /messages` show what was received. Nothing here is
part of the brain: it is the other side of its webhooks and channels, for the demo and its tests.
"""

from __future__ import annotations

import json
import re
import sqlite3
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

ERP_PORT = 8099
INBOX_PORT = 8098
MAX_BODY = 1_000_000
PRODUCTION = re.compile(r"^/erp/orders/(\d+)/production$")
INSTRUCTIONS = """CREATE TABLE IF NOT EXISTS production_instructions (
    instruction_id INTEGER PRIMARY KEY AUTOINCREMENT,
    order_id INTEGER NOT NULL,
    from_line TEXT, to_line TEXT, site TEXT, week INTEGER, qty INTEGER,
    brain_action INTEGER,
    status TEXT NOT NULL,  -- open | cancelled (a rollback)
    received_at TEXT NOT NULL,
    cancelled_at TEXT
)"""


@dataclass
class StandIns:
    """Where the stand-ins keep what they receive."""

    erp: Path  # the demo ERP's SQLite database
    messages: Path  # JSON lines, one per message received

    @classmethod
    def of(cls, project: Path) -> StandIns:
        return cls(project / "sources" / "erp.sqlite", project / ".brain" / "stand-ins" / "messages.jsonl")

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._db: sqlite3.Connection | None = None

    def _erp(self) -> sqlite3.Connection:
        """One connection to the ERP's database for the server's threads (under the lock); WAL, so that
        an instruction costs no full sync and the brain's ingest reads the ERP meanwhile."""
        if self._db is None:
            self._db = sqlite3.connect(self.erp, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode = WAL")
            self._db.execute("PRAGMA synchronous = NORMAL")
            self._db.execute(INSTRUCTIONS)
        return self._db

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None

    def production(self, order_id: int, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        """Record (or, with `undo`, cancel) a production instruction of an order the ERP knows."""
        with self._lock, self._erp() as db:
            if db.execute("SELECT 1 FROM orders WHERE order_id = ?", (order_id,)).fetchone() is None:
                return 404, {"error": f"no order {order_id}"}
            now = datetime.now(UTC).isoformat(timespec="seconds")
            if body.get("undo"):
                cancelled = db.execute(
                    "UPDATE production_instructions SET status = 'cancelled', cancelled_at = ? "
                    "WHERE order_id = ? AND brain_action = ? AND status = 'open'",
                    (now, order_id, body.get("brain_action")),
                ).rowcount
                return 200, {"order_id": order_id, "cancelled": cancelled}
            cursor = db.execute(
                "INSERT INTO production_instructions (order_id, from_line, to_line, site, week, qty, brain_action, "
                "status, received_at) VALUES (?, ?, ?, ?, ?, ?, ?, 'open', ?)",
                (
                    order_id,
                    body.get("from_line"),
                    body.get("line"),
                    body.get("site"),
                    body.get("week"),
                    body.get("qty"),
                    body.get("brain_action"),
                    now,
                ),
            )
            return 201, {"order_id": order_id, "instruction_id": cursor.lastrowid}

    def instructions(self, order_id: int) -> list[dict[str, Any]]:
        with self._lock:
            cursor = self._erp().execute(
                "SELECT * FROM production_instructions WHERE order_id = ? ORDER BY 1", (order_id,)
            )
            names = [d[0] for d in cursor.description]
            return [dict(zip(names, row, strict=True)) for row in cursor]

    def message(self, path: str, body: Any) -> None:
        self.messages.parent.mkdir(parents=True, exist_ok=True)
        line = json.dumps({"at": datetime.now(UTC).isoformat(timespec="seconds"), "to": path, "body": body})
        with self._lock, self.messages.open("a", encoding="utf-8") as out:
            out.write(line + "\n")

    def received(self) -> list[dict[str, Any]]:
        if not self.messages.is_file():
            return []
        with self._lock:
            return [json.loads(line) for line in self.messages.read_text(encoding="utf-8").splitlines() if line]


def _handler(stand_ins: StandIns) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "AcmeStandIn/1"

        def log_message(self, format: str, *args: Any) -> None:  # one quiet line per request
            pass

        def _answer(self, status: int, body: Any) -> None:
            data = json.dumps(body, default=str).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _body(self) -> Any:
            length = int(self.headers.get("Content-Length") or 0)
            if length > MAX_BODY:
                raise ValueError("body too large")
            raw = self.rfile.read(length) if length else b""
            return json.loads(raw) if raw else {}

        def do_GET(self) -> None:
            found = PRODUCTION.match(self.path)
            if found:
                self._answer(200, stand_ins.instructions(int(found.group(1))))
            elif self.path == "/messages":
                self._answer(200, stand_ins.received())
            else:
                self._answer(404, {"error": f"nothing at {self.path}"})

        def do_POST(self) -> None:
            try:
                body = self._body()
            except ValueError as exc:
                self._answer(400, {"error": f"not a JSON body: {exc}"})
                return
            found = PRODUCTION.match(self.path)
            if found:
                if not isinstance(body, dict):
                    self._answer(400, {"error": "a production instruction is a JSON object"})
                    return
                self._answer(*stand_ins.production(int(found.group(1)), body))
            else:
                stand_ins.message(self.path, body)
                self._answer(200, {"received": True})

        do_PUT = do_POST

    return Handler


class Servers:
    """The stand-ins listening on their ports until `close`."""

    def __init__(self, project: Path, host: str = "127.0.0.1", ports: tuple[int, ...] = (ERP_PORT, INBOX_PORT)):
        self.stand_ins = StandIns.of(project)
        handler = _handler(self.stand_ins)
        self.servers = [ThreadingHTTPServer((host, port), handler) for port in ports]
        self.threads = [threading.Thread(target=s.serve_forever, name="stand-in", daemon=True) for s in self.servers]
        for thread in self.threads:
            thread.start()

    @property
    def ports(self) -> list[int]:
        return [int(s.server_address[1]) for s in self.servers]

    def close(self) -> None:
        for server in self.servers:
            server.shutdown()
            server.server_close()
        self.stand_ins.close()

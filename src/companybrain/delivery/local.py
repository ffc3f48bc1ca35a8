"""How the brain CLI reaches the `brain serve` that holds this project's embedded warehouse.

DuckDB lets one process hold the warehouse file, so while the service runs, the CLI's commands that
open the warehouse send their work to it: `brain ingest` and `build` as jobs, `tokens` and `audit
verify`, and the reads and decisions (`query`, `objects`, `ask`, `replan`, `actions ...`; see
delivery/commands.py). At start the service writes `.brain/serve.json` (mode 0600: readable by the
user who runs it) with its process id, a loopback URL and a secret made for this run; the CLI sends
that secret as its bearer credential to that URL only, and the service takes it only from a loopback
client. The file goes when the service stops; one left by a killed service names a process that is
gone, and is ignored.

The secret's authority is the local operator's: whoever can read serve.json runs as the service's OS
user and can open the project's files (the warehouse, the audit key) once the service lets go of
them, and the CLI reads as any `--as` user without a credential. So the service lets the local secret
do what the CLI would do on the files: run these commands as the `--as` user (or the project's
default user), their policies applied and their reads audited as on the CLI. It is not an API
credential: no other route takes it, and it never leaves the machine.

No web framework is imported here: the CLI reads this on every command.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import decimal
import ipaddress
import json
import math
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from companybrain.errors import BrainError

CONTROL_FILE = "serve.json"
LOCAL_PREFIX = "cbl_"  # never an API token (cbt_) nor a JWT: the service tells them apart by it


@dataclass(frozen=True)
class ServedBy:
    """The running service of a project: where the CLI sends its work, and with what secret."""

    pid: int
    url: str
    secret: str
    warehouse: str


def new_secret() -> str:
    """A fresh local secret for one run of the service."""
    return LOCAL_PREFIX + secrets.token_urlsafe(32)


def control_path(root: Path) -> Path:
    return root / ".brain" / CONTROL_FILE


def is_loopback(host: str | None) -> bool:
    """True for 127.0.0.0/8, ::1 and an IPv4 loopback address mapped into IPv6."""
    if not host:
        return False
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_loopback


def loopback_url(host: str, port: int) -> str | None:
    """The loopback URL that reaches a server listening on `host`, or None when it listens on another
    interface only (then the service opens a loopback socket of its own for the CLI)."""
    if host in ("", "0.0.0.0", "localhost") or (is_loopback(host) and ":" not in host):
        return f"http://127.0.0.1:{port}"
    if host in ("::", "::1"):
        return f"http://[::1]:{port}"
    return None


def write_control(root: Path, url: str, secret: str, warehouse: str) -> Path:
    """Write .brain/serve.json for this process, readable by its owner only (created 0600, then moved in)."""
    if not is_loopback(urlsplit(url).hostname):
        raise ValueError(f"the local secret goes to a loopback address only, not {url}")
    path = control_path(root)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{CONTROL_FILE}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        json.dump({"pid": os.getpid(), "url": url, "secret": secret, "warehouse": warehouse}, out)
    os.replace(temporary, path)
    return path


def remove_control(root: Path, secret: str) -> None:
    """Remove .brain/serve.json if it is still this run's."""
    path = control_path(root)
    found = _read(path)
    if found is not None and found.secret == secret:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def served_by(root: Path) -> ServedBy | None:
    """The service that holds this project's warehouse, or None (no file, or its process is gone)."""
    path = control_path(root)
    try:
        found = _read(path)
    except PermissionError:
        raise BrainError(
            f"this project is served by another user's `brain serve`: {path} is not readable by you",
            hint="run the command as the user who runs `brain serve`",
        ) from None
    if found is None or not _alive(found.pid) or not is_loopback(urlsplit(found.url).hostname):
        return None
    return found


def _read(path: Path) -> ServedBy | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return ServedBy(int(data["pid"]), str(data["url"]), str(data["secret"]), str(data.get("warehouse", "")))
    except FileNotFoundError:
        return None
    except (ValueError, KeyError, TypeError):  # half-written by hand or truncated: not a service to talk to
        return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, but another user's: its file would not be readable either
        return True
    return True


# --- what a command's data looks like on the wire ---------------------------------------------------
# JSON with the types a table cell shows differently tagged, so that what the CLI prints from the
# service's answer is what it prints from its own: {"$": "date", "v": "2026-03-02"}. A dict that has a
# "$" key of its own travels as {"$": "dict", "v": [[key, value], ...]}.

_TAGS: dict[str, Any] = {
    "datetime": dt.datetime.fromisoformat,
    "date": dt.date.fromisoformat,
    "time": dt.time.fromisoformat,
    "decimal": decimal.Decimal,
    "bytes": bytes.fromhex,
    "float": float,
}


def to_wire(value: Any) -> Any:
    """A command's data as plain JSON (see above); numpy scalars and arrays as Python numbers and lists."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else {"$": "float", "v": repr(value)}
    if isinstance(value, dict):
        if "$" in value:
            return {"$": "dict", "v": [[to_wire(k), to_wire(v)] for k, v in value.items()]}
        return {str(k): to_wire(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_wire(v) for v in value]
    if isinstance(value, dt.datetime):  # before date: a datetime is a date
        return {"$": "datetime", "v": value.isoformat()}
    if isinstance(value, dt.date):
        return {"$": "date", "v": value.isoformat()}
    if isinstance(value, dt.time):
        return {"$": "time", "v": value.isoformat()}
    if isinstance(value, decimal.Decimal):
        return {"$": "decimal", "v": str(value)}
    if isinstance(value, bytes):
        return {"$": "bytes", "v": value.hex()}
    if hasattr(value, "tolist"):  # numpy: a scalar's tolist() is its Python number
        return to_wire(value.tolist())
    return str(value)


def from_wire(value: Any) -> Any:
    """The data `to_wire` encoded, with its dates, decimals and non-finite floats back."""
    if isinstance(value, list):
        return [from_wire(v) for v in value]
    if not isinstance(value, dict):
        return value
    tag = value.get("$")
    if tag is None:
        return {k: from_wire(v) for k, v in value.items()}
    if tag == "dict":
        return {from_wire(k): from_wire(v) for k, v in value["v"]}
    if tag not in _TAGS:
        raise ValueError(f"unknown wire tag {tag!r}")
    return _TAGS[tag](value["v"])

"""How the brain CLI reaches the `brain serve` that holds this project's embedded warehouse.

DuckDB lets one process hold the warehouse file, so while the service runs, `brain ingest`, `build`,
`tokens` and `audit verify` send their work to it. At start the service writes `.brain/serve.json`
(mode 0600: readable by the user who runs it) with its process id, a loopback URL and a secret made
for this run; the CLI sends that secret as its bearer credential to that URL only, and the service
takes it only from a loopback client. The file goes when the service stops; one left by a killed
service names a process that is gone, and is ignored.

No web framework is imported here: the CLI reads this on every command.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
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

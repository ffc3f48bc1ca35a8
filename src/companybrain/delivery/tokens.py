"""API tokens: random secrets shown once, stored as sha256 hashes in `brain.api_tokens`, scoped, revocable."""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlglot import exp

from companybrain.errors import NotFound, QueryError, did_you_mean
from companybrain.sources.load_log import META
from companybrain.warehouse.base import Warehouse
from companybrain.warehouse.ddl import col, create_table, insert_values, literal, table

API_TOKENS = table(META, "api_tokens")
COLUMNS = {
    "token_id": "string",
    "user_name": "string",
    "scopes": "string",
    "token_hash": "string",
    "created_at": "string",
    "expires_at": "string",
    "revoked_at": "string",
}
SCOPES = (
    "read:metrics",
    "read:objects",
    "read:audit",
    "write:events",
    "write:actions",
    "write:factory",
    "admin:data",  # land the sources and build the objects through the service (POST /api/v1/jobs/...)
)
DEFAULT_SCOPES = ("read:metrics", "read:objects")
ADMIN_SCOPE = "admin:data"
PREFIX = "cbt_"
# a verified token is trusted this long before the table is read again: revocation by another
# process (possible on PostgreSQL) takes effect within it; revocation in this process at once
CACHE_SECONDS = 5.0


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class ApiToken:
    """A stored token, without its secret."""

    token_id: str
    user: str
    scopes: tuple[str, ...]
    created_at: str
    expires_at: str | None
    revoked_at: str | None

    def state(self, now: datetime | None = None) -> str:
        """active, expired or revoked."""
        if self.revoked_at:
            return "revoked"
        if self.expires_at and datetime.fromisoformat(self.expires_at) <= (now or _now()):
            return "expired"
        return "active"

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.token_id,
            "user": self.user,
            "scopes": list(self.scopes),
            "created_at": self.created_at,
            "expires_at": self.expires_at,
            "revoked_at": self.revoked_at,
            "state": self.state(),
        }

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> ApiToken:
        return cls(
            row["token_id"],
            row["user_name"],
            tuple(s for s in (row["scopes"] or "").split(",") if s),
            row["created_at"],
            row["expires_at"],
            row["revoked_at"],
        )


class TokenStore:
    """Create, list, revoke and verify API tokens in the warehouse; `lock` guards its warehouse use."""

    def __init__(self, wh: Warehouse, lock: AbstractContextManager[Any] | None = None) -> None:
        self.wh = wh
        self._db_lock = lock or nullcontext()
        self._ready = False
        self._verified: dict[str, tuple[float, ApiToken | None]] = {}
        self._cache_lock = threading.Lock()

    def _ensure(self) -> None:
        if not self._ready:
            self.wh.ensure_schema(META)
            self.wh.execute(create_table(API_TOKENS, COLUMNS))
            self._ready = True

    def create(
        self, user: str, scopes: list[str] | tuple[str, ...] = DEFAULT_SCOPES, expires_days: int | None = 90
    ) -> tuple[str, ApiToken]:
        """A new token for `user`: returns the secret (shown once, never stored) and its record."""
        for scope in scopes:
            if scope not in SCOPES:
                raise QueryError(f"unknown scope {scope!r}; {did_you_mean(scope, SCOPES)}")
        if expires_days is not None and expires_days <= 0:
            raise QueryError(f"--expires-days must be positive; got {expires_days}", hint="omit it for no expiry")
        secret = PREFIX + secrets.token_urlsafe(32)
        now = _now()
        record: dict[str, object] = {
            "token_id": "tok_" + secrets.token_hex(6),
            "user_name": user,
            "scopes": ",".join(dict.fromkeys(scopes)),
            "token_hash": hash_token(secret),
            "created_at": now.isoformat(timespec="seconds"),
            "expires_at": (now + timedelta(days=expires_days)).isoformat(timespec="seconds") if expires_days else None,
            "revoked_at": None,
        }
        with self._db_lock:
            self._ensure()
            self.wh.execute(insert_values(API_TOKENS, record))
        return secret, ApiToken.from_row(record)

    def all_tokens(self) -> list[ApiToken]:
        """Every token issued, oldest first (without hashes)."""
        with self._db_lock:
            self._ensure()
            rows = self.wh.query_arrow(
                exp.select(*[col(c) for c in COLUMNS if c != "token_hash"])
                .from_(API_TOKENS)
                .order_by(col("created_at"))
            ).to_pylist()
        return [ApiToken.from_row(r) for r in rows]

    def revoke(self, token_id: str) -> ApiToken:
        """Mark a token revoked (kept for the record); it stops working at once in this process."""
        known = {t.token_id: t for t in self.all_tokens()}
        if token_id not in known:
            raise NotFound(f"no API token with id {token_id!r}; {did_you_mean(token_id, known)}")
        revoked_at = _now().isoformat(timespec="seconds")
        with self._db_lock:
            self.wh.execute(
                exp.update(
                    API_TOKENS,
                    {"revoked_at": literal(revoked_at)},
                    where=exp.and_(col("token_id").eq(literal(token_id)), col("revoked_at").is_(exp.null())),
                )
            )
        with self._cache_lock:
            self._verified.clear()
        return next(t for t in self.all_tokens() if t.token_id == token_id)

    def recently_verified(self, secret: str) -> tuple[bool, ApiToken | None]:
        """(True, record or None) when the secret was looked up in the last CACHE_SECONDS; no warehouse use."""
        with self._cache_lock:
            hit = self._verified.get(hash_token(secret))
        if hit is not None and time.monotonic() - hit[0] < CACHE_SECONDS:
            return True, hit[1]
        return False, None

    def lookup(self, secret: str) -> ApiToken | None:
        """The stored record of a token secret, or None when it was never issued (cached briefly)."""
        known, token = self.recently_verified(secret)
        if known:
            return token
        digest = hash_token(secret)
        with self._db_lock:
            self._ensure()
            rows = self.wh.query_arrow(
                exp.select(*[col(c) for c in COLUMNS]).from_(API_TOKENS).where(col("token_hash").eq(literal(digest)))
            ).to_pylist()
        found = ApiToken.from_row(rows[0]) if rows else None
        with self._cache_lock:
            if len(self._verified) > 10_000:
                self._verified.clear()
            self._verified[digest] = (time.monotonic(), found)
        return found

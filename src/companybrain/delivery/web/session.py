"""Cockpit sign-in: an API token pasted once (or a sign-in at the company's identity provider, web/sso.py)
becomes a server-side session behind an HttpOnly cookie.

The cookie holds only a random session id; the token stays in this process's memory and is
checked against the token store on every request, so a revoked or expired token ends the
session at once (within the store's few seconds of caching). Forms carry a per-session CSRF
value, and the cookie is SameSite=Strict.
"""

from __future__ import annotations

import hmac
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlsplit

from fastapi import Request

from companybrain.delivery.tokens import PREFIX
from companybrain.errors import BrainError
from companybrain.governance.principal import Principal

if TYPE_CHECKING:
    from companybrain.delivery.app import BrainService

COOKIE = "brain_cockpit"
SESSION_SECONDS = 12 * 3600
NEEDED_SCOPE = "read:metrics"
SSO_SCOPES = ("read:metrics", "read:objects")


class SignInRequired(Exception):
    """No valid session: the page redirects to the sign-in form."""

    def __init__(self, next_url: str, reason: str | None = None) -> None:
        super().__init__(reason or "sign in")
        self.next_url = next_url
        self.reason = reason


class BadForm(Exception):
    """A form arrived without this session's CSRF value."""


@dataclass
class Session:
    """One signed-in browser: its user, the token it signed in with, and what it worked on."""

    sid: str
    user: str
    token: str
    token_id: str
    scopes: frozenset[str]
    csrf: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    started: float = field(default_factory=time.monotonic)
    data: dict[str, Any] = field(default_factory=dict)  # last plan, scenario runs, snoozes


@dataclass(frozen=True)
class Viewer:
    """The signed-in user of a request: their principal (the policies) and their session."""

    principal: Principal
    session: Session

    @property
    def user(self) -> str:
        return self.principal.user


class Sessions:
    """Sessions in this process's memory (a restart signs everyone out)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_id: dict[str, Session] = {}

    def sign_in(self, svc: BrainService, token: str) -> Session:
        """A new session for a valid API token; BrainError saying why otherwise."""
        token = token.strip()
        if not token.startswith(PREFIX):
            raise BrainError("that is not an API token (they start with cbt_)", hint="brain tokens create USER")
        record = svc.tokens.lookup(token)
        if record is None:
            raise BrainError("unknown API token", hint="brain tokens create USER")
        if record.state() != "active":
            raise BrainError(f"API token {record.token_id} is {record.state()}", hint="brain tokens create USER")
        if NEEDED_SCOPE not in record.scopes:
            raise BrainError(f"API token {record.token_id} lacks the scope {NEEDED_SCOPE!r} the cockpit reads with")
        svc.brain.principal(record.user)  # a user the project no longer declares cannot sign in
        session = Session(secrets.token_urlsafe(32), record.user, token, record.token_id, frozenset(record.scopes))
        with self._lock:
            self._expire()
            self._by_id[session.sid] = session
        return session

    def sign_in_as(self, svc: BrainService, user: str, via: str) -> Session:
        """A new session for a user the company's identity provider signed in (web/sso.py): no API token, so
        it reads (read:metrics, read:objects) and writes nothing; BrainError when the project does not know them."""
        svc.brain.principal(user)
        session = Session(secrets.token_urlsafe(32), user, "", via, frozenset(SSO_SCOPES))
        with self._lock:
            self._expire()
            self._by_id[session.sid] = session
        return session

    def sign_out(self, sid: str | None) -> None:
        with self._lock:
            self._by_id.pop(sid or "", None)

    def viewer(self, request: Request, svc: BrainService) -> Viewer:
        """The signed-in user of the request, or SignInRequired."""
        next_url = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        sid = request.cookies.get(COOKIE)
        with self._lock:
            session = self._by_id.get(sid or "")
        if session is None or time.monotonic() - session.started > SESSION_SECONDS:
            raise SignInRequired(next_url)
        if session.token:  # a session of the identity provider's has no token: it lasts SESSION_SECONDS
            record = svc.tokens.lookup(session.token)
            if record is None or record.state() != "active":
                self.sign_out(session.sid)
                raise SignInRequired(next_url, "your token was revoked or has expired; sign in again")
        try:
            principal = svc.brain.principal(session.user)
        except BrainError:
            self.sign_out(session.sid)
            raise SignInRequired(next_url, f"user {session.user!r} is no longer declared") from None
        return Viewer(principal, session)

    def _expire(self) -> None:
        now = time.monotonic()
        for sid in [s for s, v in self._by_id.items() if now - v.started > SESSION_SECONDS]:
            del self._by_id[sid]


async def form_data(request: Request) -> dict[str, str]:
    """An url-encoded form body as a dict (the last value of a repeated field wins); a form posted from
    another site (its Origin names another host) is refused, sign-in included."""
    return {key: values[-1] for key, values in (await form_lists(request)).items()}


async def form_lists(request: Request) -> dict[str, list[str]]:
    """An url-encoded form body with every value of a repeated field (a multiple choice), checked as form_data."""
    origin = request.headers.get("origin")
    if origin and origin != "null" and urlsplit(origin).netloc != request.headers.get("host", ""):
        raise BadForm("this form was sent from another site")
    body = (await request.body()).decode("utf-8", errors="replace")
    found: dict[str, list[str]] = {}
    for key, value in parse_qsl(body, keep_blank_values=True):
        found.setdefault(key, []).append(value)
    return found


def check_csrf(viewer: Viewer, form: dict[str, str]) -> None:
    if not hmac.compare_digest(form.get("csrf", ""), viewer.session.csrf):
        raise BadForm("this form has expired; reload the page and try again")


def set_session_cookie(response: Any, request: Request, sid: str, path: str) -> None:
    """The cockpit's session cookie: HTTP-only, same-site strict, secure over HTTPS."""
    response.set_cookie(
        COOKIE,
        sid,
        max_age=SESSION_SECONDS,
        path=path,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )

"""Single sign-on in the cockpit: the OpenID Connect authorization code flow with PKCE (requests-oauthlib) at
the issuer brain.yaml names under auth.oidc.sign_in. The ID token is verified as the API verifies bearer JWTs
(OIDCVerifier: the issuer's JWKS signature, iss, aud = the client id, exp) plus this sign-in's nonce; its
user claim names the project user, whose policies then apply. Sign-in with an API token stays.

The state, nonce and PKCE verifier of a sign-in under way stay in this process's memory, keyed by the state,
which a short-lived cookie also holds: a callback is honoured only in the browser that began it, once."""

from __future__ import annotations

import hmac
import html
import secrets
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from companybrain.delivery.auth import OIDCVerifier
from companybrain.delivery.web.render import PREFIX, bare
from companybrain.delivery.web.session import Sessions, set_session_cookie
from companybrain.errors import BrainError
from companybrain.project import expand_env

if TYPE_CHECKING:
    from companybrain.delivery.app import BrainService
    from companybrain.project import Project

STATE_COOKIE = "brain_sso"
PENDING_SECONDS = 600  # a sign-in not finished in ten minutes starts again
CALLBACK = f"{PREFIX}/sso/callback"


@dataclass
class _Pending:
    oauth: Any  # the OAuth2Session that made the authorization URL: it holds the PKCE verifier
    nonce: str
    next_url: str
    started: float


class SingleSignOn:
    """The cockpit's client of one OIDC issuer."""

    def __init__(self, project: Project) -> None:
        oidc = project.spec.auth.oidc
        assert oidc is not None and oidc.sign_in is not None
        client = oidc.sign_in
        self.client_id = expand_env(client.client_id)
        self.client_secret = expand_env(client.client_secret) if client.client_secret else None
        self.authorization_endpoint = expand_env(client.authorization_endpoint)
        self.token_endpoint = expand_env(client.token_endpoint)
        self.scopes = client.scopes
        verifier = OIDCVerifier.from_project(project)
        assert verifier is not None
        # an ID token's audience is the client it was issued to, whatever audience the API's JWTs carry
        self.verifier = OIDCVerifier(verifier.issuer, _jwks(project), self.client_id, verifier.user_claim)
        self._pending: dict[str, _Pending] = {}
        self._lock = threading.Lock()

    @classmethod
    def from_project(cls, project: Project) -> SingleSignOn | None:
        oidc = project.spec.auth.oidc
        return cls(project) if oidc is not None and oidc.sign_in is not None else None

    def begin(self, redirect_uri: str, next_url: str) -> tuple[str, str]:
        """The issuer's authorization URL (with the PKCE challenge) and the state that ends the sign-in."""
        from requests_oauthlib import OAuth2Session

        oauth = OAuth2Session(self.client_id, redirect_uri=redirect_uri, scope=self.scopes, pkce="S256")
        nonce = secrets.token_urlsafe(24)
        url, state = oauth.authorization_url(self.authorization_endpoint, nonce=nonce)
        now = time.monotonic()
        with self._lock:
            for key in [k for k, p in self._pending.items() if now - p.started > PENDING_SECONDS]:
                del self._pending[key]
            self._pending[state] = _Pending(oauth, nonce, next_url, now)
        return url, state

    def finish(self, state: str, browser_state: str, code: str) -> tuple[str, str]:
        """The project user the issuer signed in, and where they were going; BrainError saying why not."""
        if not state or not hmac.compare_digest(state, browser_state):
            raise BrainError("this sign-in was not begun in this browser", hint="start again from the sign-in page")
        with self._lock:
            pending = self._pending.pop(state, None)
        if pending is None or time.monotonic() - pending.started > PENDING_SECONDS:
            raise BrainError("this sign-in has expired or was already used", hint="start again from the sign-in page")
        try:
            token = pending.oauth.fetch_token(
                self.token_endpoint, code=code, client_secret=self.client_secret, include_client_id=True, timeout=15
            )
        except Exception as exc:  # the issuer's refusal or an unreachable issuer, in its own words
            raise BrainError(f"the identity provider did not issue tokens: {exc}") from None
        id_token = token.get("id_token")
        if not id_token:
            raise BrainError("the identity provider returned no ID token (is the scope 'openid' asked for?)")
        claims = self.verifier.claims(id_token)
        if not hmac.compare_digest(str(claims.get("nonce", "")), pending.nonce):
            raise BrainError("the ID token does not carry this sign-in's nonce")
        return str(claims[self.verifier.user_claim]), pending.next_url


def _jwks(project: Project) -> str:
    oidc = project.spec.auth.oidc
    assert oidc is not None
    jwks = expand_env(oidc.jwks)
    return jwks if jwks.startswith(("https://", "http://")) else str(project.resolve_path(jwks))


def sso_router(safe_next: Any, service: Any, sessions: Any) -> APIRouter:
    """/cockpit/sso (to the issuer) and /cockpit/sso/callback (back, signed in)."""
    router = APIRouter(include_in_schema=False)

    def client(request: Request) -> SingleSignOn | None:
        svc: BrainService = service(request)
        if not hasattr(request.app.state, "cockpit_sso"):
            request.app.state.cockpit_sso = SingleSignOn.from_project(svc.brain.project)
        found: SingleSignOn | None = request.app.state.cockpit_sso
        return found

    @router.get(f"{PREFIX}/sso")
    def begin(request: Request) -> Response:
        sso = client(request)
        if sso is None:
            return bare("message.html", status=404, title="No single sign-on", message=_NOT_CONFIGURED)
        url, state = sso.begin(str(request.url_for("sso_callback")), safe_next(request.query_params.get("next")))
        response = RedirectResponse(url, status_code=303)
        # Lax, not Strict: the browser comes back from the issuer's site with a top-level GET
        response.set_cookie(STATE_COOKIE, state, max_age=PENDING_SECONDS, path=CALLBACK, httponly=True, samesite="lax")
        return response

    @router.get(CALLBACK, name="sso_callback")
    async def callback(request: Request) -> Response:
        sso = client(request)
        if sso is None:
            return bare("message.html", status=404, title="No single sign-on", message=_NOT_CONFIGURED)
        query = request.query_params
        state, code = query.get("state", ""), query.get("code", "")
        try:
            if query.get("error"):
                raise BrainError(
                    f"the identity provider refused: {query.get('error')} {query.get('error_description', '')}"
                )
            user, next_url = await run_in_threadpool(sso.finish, state, request.cookies.get(STATE_COOKIE, ""), code)
            registry: Sessions = sessions(request)
            session = await run_in_threadpool(
                registry.sign_in_as, service(request), user, f"oidc:{sso.verifier.issuer}"
            )
        except BrainError as exc:
            return bare(
                "signin.html", status=401, next=f"{PREFIX}/", sso=True, message=f"Sign-in failed: {exc.message}"
            )
        # a page of ours that moves on, not a redirect: the browser arrived from the issuer's site, and a
        # SameSite=Strict cookie is sent only on a navigation this site starts
        target = html.escape(next_url, quote=True)
        response = HTMLResponse(
            f'<!doctype html><meta http-equiv="refresh" content="0;url={target}"><a href="{target}">Continue</a>'
        )
        response.delete_cookie(STATE_COOKIE, path=CALLBACK)
        set_session_cookie(response, request, session.sid, PREFIX)
        return response

    return router


_NOT_CONFIGURED = "Single sign-on is not configured: auth.oidc.sign_in in brain.yaml names the issuer's client."

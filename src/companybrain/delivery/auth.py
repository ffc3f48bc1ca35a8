"""Who is calling: API tokens or OIDC bearer JWTs, turned into the project's Principal by a dependency.

OIDC is configured in brain.yaml (`auth: {oidc: {issuer, jwks, audience}}`; `${ENV}` expands).
The JWT's `preferred_username`, else its `sub`, names the project user.
"""

from __future__ import annotations

import hmac
import json
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from companybrain.delivery.errors import ScopeDenied, Unauthenticated
from companybrain.delivery.local import LOCAL_PREFIX, is_loopback
from companybrain.delivery.tokens import ADMIN_SCOPE, PREFIX, SCOPES
from companybrain.errors import BrainError, ConfigError, Location
from companybrain.governance.principal import Principal
from companybrain.project import expand_env

if TYPE_CHECKING:
    from companybrain.delivery.app import BrainService
    from companybrain.project import Project

bearer = HTTPBearer(auto_error=False, description="An API token (`brain tokens create`) or an OIDC JWT.")
_ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"]


@dataclass(frozen=True)
class Caller:
    """An authenticated caller: the project's principal and what the credentials allow."""

    principal: Principal
    scopes: frozenset[str]
    via: str  # "token:<id>" or "oidc:<issuer>"


class OIDCVerifier:
    """Validates bearer JWTs against one issuer's JWKS (a file read once, or a URL cached by PyJWT)."""

    def __init__(self, issuer: str, jwks: str, audience: str | None = None, user_claim: str = "sub") -> None:
        import jwt  # a declared dependency, imported when OIDC is configured

        self.issuer = issuer
        self.audience = audience
        self.user_claim = user_claim
        self._jwt = jwt
        self._client: Any = None
        self._keys: dict[str, Any] = {}
        self._lock = threading.Lock()
        if jwks.startswith(("https://", "http://")):
            self._client = jwt.PyJWKClient(jwks, cache_keys=True, lifespan=300)
        else:
            path = Path(jwks).expanduser()
            try:
                keyset = jwt.PyJWKSet.from_dict(json.loads(path.read_text(encoding="utf-8")))
            except (OSError, ValueError, jwt.PyJWTError) as exc:
                where = Location("brain.yaml", key="auth.oidc.jwks")
                raise ConfigError.at(where, f"cannot read the JWKS: {exc}") from None
            self._keys = {k.key_id or "": k for k in keyset.keys}

    @classmethod
    def from_project(cls, project: Project) -> OIDCVerifier | None:
        """The verifier brain.yaml configures under auth.oidc, or None when OIDC is not set up."""
        oidc = project.spec.auth.oidc
        if oidc is None:
            return None
        jwks = expand_env(oidc.jwks)
        if not jwks.startswith(("https://", "http://")):
            jwks = str(project.resolve_path(jwks))
        audience = expand_env(oidc.audience) if oidc.audience else None
        return cls(expand_env(oidc.issuer), jwks, audience, oidc.user_claim)

    def _key(self, token: str) -> Any:
        jwt = self._jwt
        if self._client is not None:
            with self._lock:
                return self._client.get_signing_key_from_jwt(token)
        kid = jwt.get_unverified_header(token).get("kid") or ""
        if kid in self._keys:
            return self._keys[kid]
        if not kid and len(self._keys) == 1:
            return next(iter(self._keys.values()))
        raise jwt.PyJWTError(f"no key {kid!r} in the issuer's JWKS")

    def claims(self, token: str) -> dict[str, Any]:
        """The verified claims of a JWT; Unauthenticated when the signature, issuer, audience or time is wrong."""
        jwt = self._jwt
        try:
            key = self._key(token)
            algorithm = getattr(key, "algorithm_name", None)
            claims: dict[str, Any] = jwt.decode(
                token,
                key.key,
                algorithms=[algorithm] if algorithm else _ALGORITHMS,
                issuer=self.issuer,
                audience=self.audience,
                options={"require": ["exp", "iss", "sub"], "verify_aud": self.audience is not None},
                leeway=30,
            )
        except jwt.PyJWTError as exc:
            raise Unauthenticated(f"the bearer JWT was rejected: {exc}") from None
        return claims


async def service(request: Request) -> BrainService:
    """The process's one BrainService."""
    found: BrainService = request.app.state.service
    return found


async def authenticate(
    request: Request,
    credentials: HTTPAuthorizationCredentials | None = Depends(bearer),
    svc: BrainService = Depends(service),
) -> Caller:
    """The caller of a request, from `Authorization: Bearer ...`; 401 for anything not valid."""
    if credentials is None or credentials.scheme.lower() != "bearer" or not credentials.credentials:
        raise Unauthenticated("this route needs `Authorization: Bearer <token>`", hint="brain tokens create USER")
    secret = credentials.credentials
    if secret.startswith(LOCAL_PREFIX):
        raise Unauthenticated(
            "the local secret of `brain serve` is for the brain CLI's ingest, build, tokens and audit verify, "
            "not for reads",
            hint="brain tokens create USER",
        )
    if secret.startswith(PREFIX):
        known, token = svc.tokens.recently_verified(secret)
        if not known:  # the warehouse is read in a worker thread, never on the event loop
            token = await run_in_threadpool(svc.tokens.lookup, secret)
        if token is None:
            raise Unauthenticated("unknown API token")
        state = token.state()
        if state != "active":
            raise Unauthenticated(f"API token {token.token_id} is {state}", hint="brain tokens create USER")
        return Caller(_principal(svc, token.user), frozenset(token.scopes), f"token:{token.token_id}")
    if svc.oidc is None:
        raise Unauthenticated("not an API token, and OIDC sign-in is not configured (auth.oidc in brain.yaml)")
    claims = await run_in_threadpool(svc.oidc.claims, secret)  # may fetch the JWKS
    user = claims.get(svc.oidc.user_claim)
    raw = claims.get("scope", claims.get("scp"))
    # a JWT that names no scopes may read (its user's policies still decide what), not write nor administer
    readable = [s for s in SCOPES if s.startswith("read:")]
    listed = raw.split() if isinstance(raw, str) else list(raw) if isinstance(raw, list) else readable
    return Caller(_principal(svc, str(user)), frozenset(s for s in listed if s in SCOPES), f"oidc:{svc.oidc.issuer}")


def _principal(svc: BrainService, user: str) -> Principal:
    try:
        return svc.brain.principal(user)
    except BrainError:
        # a valid credential for someone the project does not know is not a sign-in
        raise Unauthenticated(f"user {user!r} is not declared in the project's policies") from None


def require(scope: str) -> Callable[..., Awaitable[Caller]]:
    """A dependency: the authenticated caller, whose credentials must carry `scope`."""

    async def dependency(caller: Caller = Depends(authenticate)) -> Caller:
        if scope not in caller.scopes:
            raise ScopeDenied(f"the credentials ({caller.via}) do not carry the scope {scope!r}", scope=scope)
        return caller

    return dependency


@dataclass(frozen=True)
class Operator:
    """Who runs landing work: the brain CLI on the service's machine, or a caller whose credentials carry
    `admin:data`."""

    via: str  # "local" (the CLI), or "token:<id> (<user>)" / "oidc:<issuer> (<user>)"
    local: bool


def _local(request: Request, svc: BrainService, secret: str) -> Operator:
    """The CLI, when the secret is this run's and it comes over loopback; else 401."""
    client = request.client.host if request.client else None
    if not is_loopback(client):
        raise Unauthenticated("the local secret of `brain serve` is taken over the loopback address only")
    if not hmac.compare_digest(secret.encode(), svc.local_secret.encode()):
        raise Unauthenticated("not this service's local secret (the service was restarted?)", hint="retry")
    request.state.local_operator = True  # a server-side failure's message is then shown too: it is the operator
    return Operator("local", True)


async def operator(
    request: Request,
    credentials: HTTPAuthorizationCredentials | None = Depends(bearer),
    svc: BrainService = Depends(service),
) -> Operator:
    """A dependency: the brain CLI (local secret over loopback), or a caller with the `admin:data` scope."""
    if credentials is not None and credentials.credentials.startswith(LOCAL_PREFIX):
        return _local(request, svc, credentials.credentials)
    caller = await authenticate(request, credentials, svc)
    if ADMIN_SCOPE not in caller.scopes:
        raise ScopeDenied(f"the credentials ({caller.via}) do not carry the scope {ADMIN_SCOPE!r}", scope=ADMIN_SCOPE)
    return Operator(f"{caller.via} ({caller.principal.user})", False)


async def local_operator(
    request: Request,
    credentials: HTTPAuthorizationCredentials | None = Depends(bearer),
    svc: BrainService = Depends(service),
) -> Operator:
    """A dependency: the brain CLI on this machine, and nobody else."""
    if credentials is None or not credentials.credentials.startswith(LOCAL_PREFIX):
        raise Unauthenticated("this route is the brain CLI's: it takes the local secret of `brain serve` only")
    return _local(request, svc, credentials.credentials)

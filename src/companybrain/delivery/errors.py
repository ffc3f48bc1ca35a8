"""One map from error class to HTTP status, RFC 9457 problem bodies, and a request id on every response.

The request-id middleware is plain ASGI (no BaseHTTPMiddleware): it tags every response with
`X-Request-ID`, records the Prometheus figures, and turns any unexpected exception into a 500
problem that names the request id while the traceback goes to the server log only.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import iter_route_contexts
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from companybrain.copilot.llm import LLMUnavailable
from companybrain.errors import (
    BrainError,
    ConfigError,
    Conflict,
    ConnectorError,
    ContractFailed,
    MissingDependency,
    NotFound,
    PolicyDenied,
    ProjectNotFound,
    QueryError,
    SchemaDriftError,
    WarehouseError,
)

log = logging.getLogger("companybrain.delivery")

PROBLEM_JSON = "application/problem+json"
REQUEST_ID = "X-Request-ID"
_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")


class Unauthenticated(BrainError):
    """No credentials, or credentials that are unknown, expired, revoked or badly signed."""


class ScopeDenied(BrainError):
    """The credentials are valid but their scopes do not cover this route."""

    def __init__(self, message: str, *, scope: str) -> None:
        self.scope = scope
        super().__init__(message, hint=f"create a token with `brain tokens create USER --scope {scope}`")


# most specific first: the first class an error is an instance of decides its status
STATUS: list[tuple[type[BrainError], int, str]] = [
    (Unauthenticated, 401, "unauthenticated"),
    (ScopeDenied, 403, "insufficient-scope"),
    (PolicyDenied, 403, "policy-denied"),
    (NotFound, 404, "not-found"),
    (QueryError, 400, "invalid-query"),
    (ContractFailed, 409, "contract-failed"),
    (Conflict, 409, "conflict"),
    (SchemaDriftError, 409, "schema-drift"),
    (ConnectorError, 502, "source-unavailable"),
    (LLMUnavailable, 502, "llm-unavailable"),
    (WarehouseError, 503, "warehouse-unavailable"),
    (ConfigError, 500, "invalid-project"),
    (ProjectNotFound, 500, "project-not-found"),
    (MissingDependency, 500, "missing-dependency"),
    (BrainError, 500, "brain-error"),
]
TITLES = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    409: "Conflict",
    422: "Unprocessable Content",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
}


def status_of(exc: BrainError) -> tuple[int, str]:
    """The HTTP status and problem slug of an error (the first matching class in STATUS)."""
    for cls, status, slug in STATUS:
        if isinstance(exc, cls):
            return status, slug
    return 500, "brain-error"  # unreachable: BrainError is last


def request_id_of(request: Request) -> str:
    return str(request.scope.get("state", {}).get("request_id") or "")


def problem(
    request: Request | None,
    status: int,
    slug: str,
    detail: str,
    *,
    request_id: str | None = None,
    path: str | None = None,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    """An RFC 9457 problem response (with `headers`, e.g. the `Allow` of a 405)."""
    rid = request_id if request_id is not None else (request_id_of(request) if request else "")
    body: dict[str, Any] = {
        "type": f"urn:companybrain:problem:{slug}",
        "title": TITLES.get(status, "Error"),
        "status": status,
        "detail": detail,
        "instance": path if path is not None else (request.url.path if request else ""),
        "request_id": rid,
    }
    body.update({k: v for k, v in extra.items() if v is not None})
    headers = {**(headers or {}), **({"WWW-Authenticate": 'Bearer realm="companybrain"'} if status == 401 else {})}
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers or None)


async def _brain_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, BrainError)
    status, slug = status_of(exc)
    if status >= 500 and not getattr(request.state, "local_operator", False):
        # server-side failures name hosts, paths and SQL: the log gets them, the client the request id
        # (but the brain CLI on the service's machine, which may read the log anyway, gets the message)
        log.error("request %s failed: %s", request_id_of(request), exc.message)
        return problem(request, status, slug, "the server could not answer; quote the request id to the operators")
    extra: dict[str, Any] = {"hint": exc.hint}
    if isinstance(exc, PolicyDenied):
        extra["policy"] = exc.policy
    return problem(request, status, slug, exc.message, **extra)


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [
        {"loc": [str(part) for part in e.get("loc", ())], "msg": str(e.get("msg", "")), "type": str(e.get("type", ""))}
        for e in exc.errors()
    ]
    return problem(request, 422, "invalid-request", "the request does not match the API's schema", errors=errors)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    slug = {404: "not-found", 405: "method-not-allowed"}.get(exc.status_code, "http-error")
    headers = dict(exc.headers or {})
    if exc.status_code == 405:  # RFC 9110: the methods the path allows, from every route of it
        headers["Allow"] = ", ".join(_allowed_methods(request)) or headers.get("Allow", "")
    return problem(request, exc.status_code, slug, str(exc.detail), headers=headers)


def _allowed_methods(request: Request) -> list[str]:
    """Every method some route answers on this path (the router names only the first route's)."""
    allowed: set[str] = set()
    for route in iter_route_contexts(request.app.routes):  # the routes of included routers too
        methods = route.methods
        if methods and route.matches(request.scope)[0] is not Match.NONE:
            allowed |= set(methods)
    return sorted(allowed)


def install_error_handlers(app: FastAPI) -> None:
    """Every error leaves as application/problem+json."""
    app.add_exception_handler(BrainError, _brain_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)


class RequestContext:
    """ASGI middleware: request id in and out, Prometheus figures, and a 500 problem for the unexpected."""

    def __init__(self, app: ASGIApp, observe: Any) -> None:
        self.app = app
        self.observe = observe  # (method, route, status, seconds) -> None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        sent = next((v.decode("latin-1") for k, v in scope.get("headers", []) if k == b"x-request-id"), "")
        rid = sent if _VALID_REQUEST_ID.match(sent) else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = rid
        started = time.perf_counter()
        status = 500
        response_started = False

        async def send_with_id(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                response_started = True
                status = message["status"]
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"x-request-id"]
                message["headers"] = [*headers, (b"x-request-id", rid.encode("latin-1"))]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            log.exception("request %s %s %s failed", rid, scope.get("method"), scope.get("path"))
            status = 500
            if not response_started:
                response = problem(
                    None,
                    500,
                    "internal-error",
                    f"an unexpected error occurred; quote request id {rid} to the operator",
                    request_id=rid,
                    path=scope.get("path", ""),
                )
                await response(scope, receive, send_with_id)
        finally:
            self.observe(scope.get("method", ""), route_template(scope), status, time.perf_counter() - started)


def route_template(scope: Scope) -> str:
    """The matched route as declared (`/api/v1/objects/{object_type}`), or `unmatched`: a bounded label set.

    A route inside an included router knows its path without the router's prefix; the prefix is
    the part of the request path before the segments the route's own path accounts for.
    """
    template = getattr(scope.get("route"), "path", None)
    if not template:
        return "unmatched"
    own = template.strip("/").split("/")
    parts = str(scope.get("path", "")).strip("/").split("/")
    prefix = parts[: max(len(parts) - len(own), 0)]
    return "/" + "/".join([*prefix, *own])

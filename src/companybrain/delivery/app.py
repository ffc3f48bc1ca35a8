"""The service: one Brain per process behind a lock, a result cache, the landing jobs, and the FastAPI app."""

from __future__ import annotations

import functools
import logging
import threading
import time
import weakref
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from prometheus_client import CollectorRegistry, Counter, Histogram

from companybrain.brain import Brain
from companybrain.delivery.auth import OIDCVerifier
from companybrain.delivery.errors import PROBLEM_JSON, RequestContext, install_error_handlers
from companybrain.delivery.jobs import JobRunner
from companybrain.delivery.local import new_secret, remove_control, write_control
from companybrain.delivery.mcp_server import mount_mcp
from companybrain.delivery.routes import (
    actions,
    alerts,
    apps,
    ask,
    audit,
    events,
    health,
    jobs,
    local,
    metrics,
    objects,
    replan,
    scenarios,
    usecases,
)
from companybrain.delivery.tokens import TokenStore
from companybrain.delivery.web import mount_cockpit
from companybrain.governance.principal import Principal
from companybrain.semantic.query import MetricQuery, Result
from companybrain.warehouse.duckdb import DuckDBWarehouse

log = logging.getLogger("companybrain.delivery")

API_PREFIX = "/api/v1"
RESULT_CACHE_SIZE = 1024
DATA_VERSION_SECONDS = 1.0
AUDIT_FLUSH_SECONDS = 1.0
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


_LOCKS: weakref.WeakKeyDictionary[Brain, threading.RLock] = weakref.WeakKeyDictionary()
_LOCKS_GUARD = threading.Lock()


def _lock_of(brain: Brain) -> threading.RLock:
    """The one lock of a Brain's connection, whichever service holds it."""
    with _LOCKS_GUARD:
        return _LOCKS.setdefault(brain, threading.RLock())


class BrainService:
    """The process's Brain, its token store, result cache and request figures.

    A DuckDB connection must not be used by two threads at once and FastAPI runs sync routes in a
    thread pool, so every use of the Brain holds `lock`. A repeated query is answered from the
    cache without touching the warehouse; its reads are still audited, coalesced into one record
    per user, query and data version per AUDIT_FLUSH_SECONDS (with the number of hits), because one
    hash-chained warehouse write per cached answer would cost more than the answer.

    Ingest and build run as `jobs` on a connection of their own (delivery/jobs.py), so reads go on
    during a load; `local_secret` lets the brain CLI on this machine send them (delivery/local.py).
    """

    def __init__(self, brain: Brain, oidc: OIDCVerifier | None = None, ingest_every: float | None = None) -> None:
        self.brain = brain
        self.oidc = oidc
        self.lock = _lock_of(brain)  # services sharing one Brain (tests, an embedding app) share its lock
        self.tokens = TokenStore(brain.warehouse, self.lock)
        self.local_secret = new_secret()
        self.jobs = JobRunner(self, ingest_every)
        self.model_lock = threading.Lock()  # a build job, or a change to built objects (`changing`); never readers
        self._announced = 0  # bumped by every announced version: a re-read begun before it is stale
        self._published = False
        self._cache_lock = threading.Lock()
        self._results: OrderedDict[CacheKey, Result] = OrderedDict()
        self._hits: dict[CacheKey, _Hits] = {}
        self._version: tuple[float, str | None] = (-DATA_VERSION_SECONDS, None)
        self._stop = threading.Event()
        self._flusher: threading.Thread | None = None
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "brain_http_requests", "HTTP requests served.", ["method", "route", "status"], registry=self.registry
        )
        self.latency = Histogram(
            "brain_http_request_duration_seconds",
            "Time to serve a request.",
            ["method", "route", "status"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )

    @contextmanager
    def use(self) -> Iterator[Brain]:
        """The Brain, held by this thread alone."""
        with self.lock:
            yield self.brain

    @contextmanager
    def changing(self) -> Iterator[Brain]:
        """The Brain, for a change to the built objects (an approval or rollback, scores written onto
        objects): it waits for a build job to commit first. A build replaces the tables it rebuilds with
        what its transaction read when it began, so a change committed meanwhile would be lost."""
        with self.model_lock, self.lock:
            yield self.brain

    def data_version(self, wait: bool = True) -> str | None:
        """`build-N` of the last successful build, re-read at most every DATA_VERSION_SECONDS (another
        process may build a PostgreSQL warehouse); a build job of this service announces its version
        at once (`announce_data_version`).

        With wait=False it never blocks: while another thread holds the Brain it answers the version
        it read last (None before the first read), which is what the event loop needs."""
        at, version = self._version
        if time.monotonic() - at < DATA_VERSION_SECONDS:
            return version
        if not self.lock.acquire(blocking=wait):
            return version
        try:
            announced = self._announced
            version = self.brain.data_version()
            if announced == self._announced:  # else a build committed meanwhile: keep what it announced
                self._version = (time.monotonic(), version)
        finally:
            self.lock.release()
        return self._version[1]

    def announce_data_version(self, version: str | None) -> None:
        """What a build just committed is what readers read from now: cached answers of the build
        before stop being served."""
        self._announced += 1
        self._version = (time.monotonic(), version)

    def cached(self, query: MetricQuery, principal: Principal) -> Result | None:
        """The cached result of a query this user asked of the current data version, or None.

        Never waits for the Brain: safe to call on the event loop."""
        version = self.data_version(wait=False)
        if version is None:
            return None
        key = (principal.user, principal.purpose, query, _dated(version))
        with self._cache_lock:
            hit = self._results.get(key)
            if hit is not None:
                self._results.move_to_end(key)
                self._hits.setdefault(key, _Hits(principal, hit, datetime.now(UTC))).count += 1
        if hit is not None:
            self._start_flusher()
        return hit

    def query(self, query: MetricQuery, principal: Principal) -> tuple[Result, bool]:
        """The result of a metric query, from the cache when this user asked it of this data version."""
        hit = self.cached(query, principal)
        if hit is not None:
            return hit, True
        with self.lock:
            result = self.brain.query(query, principal)
        key = (principal.user, principal.purpose, query, _dated(str(result.freshness.get("data_version") or "")))
        with self._cache_lock:
            self._results[key] = result
            while len(self._results) > RESULT_CACHE_SIZE:
                self._results.popitem(last=False)
        return result, False

    def flush_audit(self) -> int:
        """Write the pending audit records of cached answers; returns how many were written."""
        with self._cache_lock:
            pending, self._hits = self._hits, {}
        until = datetime.now(UTC).isoformat(timespec="microseconds")
        written = []
        try:
            with self.lock:
                for key, hits in pending.items():
                    (_, _, query, version) = key
                    cached = {"hits": hits.count, "from": hits.first.isoformat(timespec="microseconds"), "to": until}
                    request = {**query.as_dict(), "cached": cached}
                    result = hits.result
                    self.brain.audit.append(hits.principal, "query", request, result.sql, len(result.rows), version)
                    written.append(key)
        finally:
            unwritten = {k: v for k, v in pending.items() if k not in written}
            if unwritten:  # keep them for the next flush: reads are never dropped from the audit log
                with self._cache_lock:
                    for key, hits in unwritten.items():
                        again = self._hits.get(key)
                        if again is None:
                            self._hits[key] = hits
                        else:
                            again.count += hits.count
                            again.first = min(again.first, hits.first)
        return len(written)

    def _start_flusher(self) -> None:
        if self._flusher is None:
            with self._cache_lock:
                if self._flusher is None:
                    self._flusher = threading.Thread(target=self._flush_loop, name="audit-flush", daemon=True)
                    self._flusher.start()

    def _flush_loop(self) -> None:
        while not self._stop.wait(AUDIT_FLUSH_SECONDS):
            try:
                self.flush_audit()
            except Exception:  # keep flushing later records; the failure is in the server log
                log.exception("could not write the audit records of cached answers")

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        self.requests.labels(method, route, str(status)).inc()
        self.latency.labels(method, route, str(status)).observe(seconds)

    def publish_local(self, url: str) -> None:
        """Tell the brain CLI on this machine where to send its work (.brain/serve.json, until `stop`)."""
        write_control(self.brain.project.root, url, self.local_secret, self.brain.warehouse.url)
        self._published = True

    def unpublish_local(self) -> None:
        if self._published:
            remove_control(self.brain.project.root, self.local_secret)
            self._published = False

    @property
    def embedded(self) -> bool:
        """True when the warehouse is a DuckDB file this process holds: then the CLI sends its work here."""
        wh = self.brain.warehouse
        return isinstance(wh, DuckDBWarehouse) and str(wh.path) != ":memory:"

    def stop(self) -> bool:
        """Stop the jobs and the flusher, and write what the audit log still owes. False when a job is still
        running (it has its own connection: the warehouse must then stay open until the process ends)."""
        self.unpublish_local()  # from here on the CLI opens the warehouse itself, once this process lets go
        idle = self.jobs.stop()
        self._stop.set()
        if self._flusher is not None:
            self._flusher.join()
            self._flusher = None
        self._stop.clear()
        self.flush_audit()
        return idle

    def close(self) -> None:
        """Stop, then close the warehouse (unless a job still uses a connection to it)."""
        if self.stop():
            with self.lock:
                self.brain.close()


CacheKey = tuple[str, str | None, MetricQuery, str]


@dataclass
class _Hits:
    """Cached answers of one query to one user since the last flush."""

    principal: Principal
    result: Result
    first: datetime
    count: int = 0


def create_app(
    project_dir: str | Path | None = None, *, brain: Brain | None = None, ingest_every: float | None = None
) -> FastAPI:
    """The FastAPI app for a project (or for an open Brain, which the caller then closes); with
    `ingest_every` (seconds) it lands the sources on that schedule, and builds when rows landed."""
    owned = brain is None
    brain = brain or Brain.open(project_dir)
    svc = BrainService(brain, OIDCVerifier.from_project(brain.project), ingest_every)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> Any:
        svc.jobs.start()
        async with mcp.running():  # the MCP tools at /mcp (delivery/mcp_server.py)
            yield
        if owned:
            svc.close()
        else:
            svc.stop()

    app = FastAPI(
        title="Company Brain",
        version="1",
        description="Governed metrics, objects and the audit log of one brain project. Every read runs "
        "as the caller's principal: their policies apply and the audit log records it.",
        lifespan=lifespan,
        docs_url=None,  # served below from the package's own files: FastAPI's pages load them from a CDN
        redoc_url=None,
    )
    app.state.service = svc
    install_error_handlers(app)
    app.add_middleware(RequestContext, observe=svc.observe)
    app.include_router(health.router)
    app.include_router(metrics.router, prefix=API_PREFIX)
    app.include_router(objects.router, prefix=API_PREFIX)
    app.include_router(audit.router, prefix=API_PREFIX)
    app.include_router(events.router, prefix=API_PREFIX)
    mount_cockpit(app)  # the web cockpit at /cockpit (delivery/web/)
    app.include_router(ask.router, prefix=API_PREFIX)
    app.include_router(scenarios.router, prefix=API_PREFIX)
    app.include_router(replan.router, prefix=API_PREFIX)
    app.include_router(actions.router, prefix=API_PREFIX)
    app.include_router(actions.value_router, prefix=API_PREFIX)
    app.include_router(usecases.router, prefix=API_PREFIX)
    app.include_router(apps.router, prefix=API_PREFIX)
    app.include_router(alerts.router, prefix=API_PREFIX)
    app.include_router(jobs.router, prefix=API_PREFIX)
    app.include_router(local.router, prefix=API_PREFIX)
    mcp = mount_mcp(app, svc)
    mount_docs(app)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = _problems_as_problem_json(
                get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
            )
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app


DOCS_ASSETS = "/docs-assets"
DOCS_CSP = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data: blob:; font-src 'self' data:; worker-src 'self' blob:; connect-src 'self'"
)


def mount_docs(app: FastAPI) -> None:
    """/docs (Swagger UI) and /redoc, whose scripts, styles and icon come from this service (the
    fastapi-offline package ships them): the pages work with no internet and ask no other host."""
    from importlib.resources import files

    from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
    from fastapi.responses import HTMLResponse, Response
    from fastapi.staticfiles import StaticFiles

    assets = str(files("fastapi_offline") / "static")
    app.mount(DOCS_ASSETS, StaticFiles(directory=assets), name="docs-assets")
    redirect = app.swagger_ui_oauth2_redirect_url or "/docs/oauth2-redirect"

    def offline(page: HTMLResponse) -> HTMLResponse:
        # the browser may fetch nothing from another host (ReDoc's sidebar links a logo on its CDN)
        page.headers["Content-Security-Policy"] = DOCS_CSP
        return page

    @app.get("/docs", include_in_schema=False)
    def swagger_ui() -> HTMLResponse:
        return offline(
            get_swagger_ui_html(
                openapi_url=app.openapi_url or "/openapi.json",
                title=f"{app.title} - API",
                oauth2_redirect_url=redirect,
                swagger_js_url=f"{DOCS_ASSETS}/swagger-ui-bundle.js",
                swagger_css_url=f"{DOCS_ASSETS}/swagger-ui.css",
                swagger_favicon_url="/cockpit/static/favicon.svg",
                swagger_ui_parameters={"validatorUrl": None},  # the spec is never sent to an outside validator
            )
        )

    @app.get(redirect, include_in_schema=False)
    def swagger_ui_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()

    @app.get("/docs/redoc.js", include_in_schema=False)
    def redoc_script() -> Response:
        return Response(_redoc_script(assets), media_type="text/javascript", headers={"Cache-Control": "max-age=86400"})

    @app.get("/redoc", include_in_schema=False)
    def redoc() -> HTMLResponse:
        return offline(
            get_redoc_html(
                openapi_url=app.openapi_url or "/openapi.json",
                title=f"{app.title} - API reference",
                redoc_js_url="/docs/redoc.js",
                redoc_favicon_url="/cockpit/static/favicon.svg",
                with_google_fonts=False,
            )
        )


@functools.cache
def _redoc_script(assets: str) -> bytes:
    """ReDoc's script with the one outside file it shows (the Redocly logo in its sidebar) taken from here."""
    script = (Path(assets) / "redoc.standalone.js").read_bytes()
    return script.replace(b"https://cdn.redoc.ly/redoc/logo-mini.svg", b"/cockpit/static/favicon.svg")


LOG_LEVELS = ("debug", "info", "warning", "error")


def configure_logging(level: str) -> dict[str, Any]:
    """One log level for the service: the brain's own loggers and uvicorn's (its access log is on at info and
    debug). Returns uvicorn's logging config, for `uvicorn.Config(log_config=...)`."""
    import copy

    from uvicorn.config import LOGGING_CONFIG

    name = level.lower()
    if name not in LOG_LEVELS:
        from companybrain.errors import BrainError

        raise BrainError(f"unknown log level {level!r}", hint=f"use one of {', '.join(LOG_LEVELS)}")
    config: dict[str, Any] = copy.deepcopy(LOGGING_CONFIG)
    for formatter in config["formatters"].values():  # a time on every line: the access log is a record
        formatter["fmt"] = "%(asctime)s " + formatter["fmt"]
    config["loggers"]["companybrain"] = {"handlers": ["default"], "level": name.upper(), "propagate": False}
    for logger in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        config["loggers"].setdefault(logger, {})["level"] = name.upper()
    return config


def _problems_as_problem_json(spec: dict[str, Any]) -> dict[str, Any]:
    """Error responses are documented as application/problem+json, which is what they are sent as."""
    for operations in spec.get("paths", {}).values():
        for operation in operations.values():
            for response in operation.get("responses", {}).values():
                content = response.get("content", {})
                schema = content.get("application/json", {}).get("schema", {})
                if schema.get("$ref", "").endswith("/Problem"):
                    content[PROBLEM_JSON] = content.pop("application/json")
    return spec


def _dated(version: str) -> str:
    """The cache's data version plus today's date: `ytd` or `last_month` mean another range tomorrow."""
    return f"{version}@{date.today().isoformat()}"

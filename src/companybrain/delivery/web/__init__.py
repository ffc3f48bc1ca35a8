"""The web cockpit: server-rendered pages over the Brain facade, served by `brain serve` under /cockpit.

Every page reads as the signed-in user (an API token pasted once, kept in a server-side session),
so the same policies, row filters, masking and audit apply as on the API. Charts are SVG drawn
on the server; the only CSS and JavaScript are this package's own, so the pages work offline.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from companybrain.delivery.web import apps, decide, inbox, objects, pages, predictions, supply
from companybrain.delivery.web.render import PREFIX, bare, environment
from companybrain.delivery.web.session import (
    COOKIE,
    BadForm,
    Sessions,
    SignInRequired,
    form_data,
    set_session_cookie,
)
from companybrain.delivery.web.sso import sso_router
from companybrain.errors import BrainError

if TYPE_CHECKING:
    from companybrain.delivery.app import BrainService

STATIC = Path(__file__).parent / "static"


def mount_cockpit(app: FastAPI) -> None:
    """Add the cockpit's pages, its static files and its sign-in to the service's app."""
    environment()  # fail at start-up, not on the first page, when Jinja2 is missing
    app.state.cockpit_sessions = Sessions()
    app.mount(f"{PREFIX}/static", StaticFiles(directory=STATIC), name="cockpit-static")
    app.include_router(_signin_router())
    app.include_router(sso_router(_safe_next, _service, _sessions))  # single sign-on at the company's issuer
    for module in (pages, predictions, objects, decide, inbox, apps, supply):
        app.include_router(module.router, prefix=PREFIX)
    areas = APIRouter(include_in_schema=False)
    pages.register_areas(areas)  # /cockpit/<page>: after every fixed page, so that none is taken for one
    app.include_router(areas, prefix=PREFIX)
    app.add_exception_handler(SignInRequired, _to_signin)
    app.add_exception_handler(BadForm, _bad_form)


def _service(request: Request) -> BrainService:
    found: BrainService = request.app.state.service
    return found


def _sessions(request: Request) -> Sessions:
    found: Sessions = request.app.state.cockpit_sessions
    return found


def _safe_next(target: str | None) -> str:
    """Only a path inside the cockpit: never an open redirect to another site."""
    if target and target.startswith(f"{PREFIX}/") and not target.startswith("//") and "\\" not in target:
        return target
    return f"{PREFIX}/"


def _signin_router() -> APIRouter:
    router = APIRouter(include_in_schema=False)

    @router.get("/")
    def root() -> RedirectResponse:
        return RedirectResponse(f"{PREFIX}/", status_code=303)

    @router.get(PREFIX)
    def cockpit_root() -> RedirectResponse:
        return RedirectResponse(f"{PREFIX}/", status_code=303)

    @router.get(f"{PREFIX}/signin", response_class=HTMLResponse)
    def signin_form(request: Request) -> HTMLResponse:
        nxt = _safe_next(request.query_params.get("next"))
        sso = _service(request).brain.project.spec.auth.oidc
        return bare("signin.html", next=nxt, message=request.query_params.get("reason"), sso=bool(sso and sso.sign_in))

    @router.post(f"{PREFIX}/signin")
    async def signin(request: Request) -> Response:
        form = await form_data(request)
        nxt = _safe_next(form.get("next"))
        svc = _service(request)
        try:
            from fastapi.concurrency import run_in_threadpool

            session = await run_in_threadpool(_sessions(request).sign_in, svc, form.get("token", ""))
        except BrainError as exc:
            hint = f" ({exc.hint})" if exc.hint else ""
            return bare("signin.html", status=401, next=nxt, message=f"Sign-in failed: {exc.message}{hint}")
        response = RedirectResponse(nxt, status_code=303)
        set_session_cookie(response, request, session.sid, PREFIX)
        return response

    @router.post(f"{PREFIX}/signout")
    def signout(request: Request) -> RedirectResponse:
        _sessions(request).sign_out(request.cookies.get(COOKIE))
        response = RedirectResponse(f"{PREFIX}/signin?reason=Signed+out.", status_code=303)
        response.delete_cookie(COOKIE, path=PREFIX)
        return response

    return router


async def _to_signin(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, SignInRequired)
    from urllib.parse import urlencode

    query = {"next": exc.next_url, **({"reason": exc.reason} if exc.reason else {})}
    return RedirectResponse(f"{PREFIX}/signin?{urlencode(query)}", status_code=303)


async def _bad_form(request: Request, exc: Exception) -> Response:
    return bare("message.html", status=400, title="Form expired", message=str(exc))

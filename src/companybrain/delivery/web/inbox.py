"""Cockpit pages for the viewer's own traffic: the Alerts inbox (acknowledge, snooze) and Ask."""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse

from companybrain.delivery.web.deps import Svc, Who
from companybrain.delivery.web.reads import guarded
from companybrain.delivery.web.render import PREFIX, page
from companybrain.delivery.web.session import check_csrf, form_data

router = APIRouter(include_in_schema=False)
SNOOZE_HOURS = (1, 4, 24)


def alerts_for(svc: Svc, viewer: Who, status: str | None = None, limit: int = 200) -> list[dict[str, Any]]:
    """The alerts told to the viewer (their rule's audience, or its escalation once escalated, named them),
    each as the viewer was told it (computed with their own rights), newest first, minus snoozed ones."""
    from companybrain.delivery.alerts import AlertEngine

    def read() -> list[dict[str, Any]]:
        with svc.use() as brain:
            engine = AlertEngine(brain)
            try:
                return engine.addressed_to(viewer.user, limit, status=status)
            finally:
                engine.close()

    rows, _, _ = guarded(read)
    snoozed = _snoozed(viewer)
    mine = [{**r, "snoozed_until": snoozed.get(r["alert_id"])} for r in rows or []]
    # the overview asks for open alerts: snoozed ones stay out of it until they wake
    return [r for r in mine if status is None or r["snoozed_until"] is None]


def _snoozed(viewer: Who) -> dict[str, float]:
    """alert id -> until when (epoch seconds) the viewer hid it; kept in the session, expired ones dropped."""
    snoozes: dict[str, float] = viewer.session.data.setdefault("snoozes", {})
    now = time.time()
    for alert_id in [a for a, until in snoozes.items() if until <= now]:
        del snoozes[alert_id]
    return snoozes


@router.get("/alerts", response_class=HTMLResponse)
def alerts(request: Request, svc: Svc, viewer: Who) -> HTMLResponse:
    """The viewer's alerts: open ones first, with acknowledge and snooze."""
    rows = alerts_for(svc, viewer)
    rows.sort(key=lambda r: (r["snoozed_until"] is not None, r["status"] != "open", _desc(r["fired_at"])))
    return page(
        request,
        svc,
        viewer,
        "alerts.html",
        title="Alerts",
        alerts=rows,
        snooze_hours=SNOOZE_HOURS,
        message=viewer.session.data.pop("alert_message", None),
        now=time.time(),
    )


def _desc(text: str | None) -> str:
    """Sort key for newest first inside an ascending sort."""
    return "".join(chr(0x10FFFF - ord(c)) for c in text or "")


@router.post("/alerts/{alert_id}/ack")
async def ack(alert_id: str, request: Request, svc: Svc, viewer: Who) -> RedirectResponse:
    """Acknowledge an alert addressed to the viewer: it will not be escalated."""
    from companybrain.delivery.alerts import AlertEngine

    form = await form_data(request)
    check_csrf(viewer, form)
    mine = {r["alert_id"] for r in await run_in_threadpool(alerts_for, svc, viewer)}

    def acknowledge() -> dict[str, Any]:
        with svc.use() as brain:
            engine = AlertEngine(brain)
            try:
                return engine.ack(alert_id, viewer.user)
            finally:
                engine.close()

    if alert_id not in mine:
        message = f"Alert {alert_id} is not addressed to you."
    else:
        _, denied, error = await run_in_threadpool(guarded, acknowledge)
        message = denied or error or f"Acknowledged {alert_id}."
    viewer.session.data["alert_message"] = message
    return RedirectResponse(f"{PREFIX}/alerts", status_code=303)


@router.post("/alerts/{alert_id}/snooze")
async def snooze(alert_id: str, request: Request, viewer: Who) -> RedirectResponse:
    """Hide an alert from the viewer's inbox for some hours (this session only; escalation still runs)."""
    form = await form_data(request)
    check_csrf(viewer, form)
    hours = int(form.get("hours") or 4) if (form.get("hours") or "4").isdigit() else 4
    hours = hours if hours in SNOOZE_HOURS else 4
    _snoozed(viewer)[alert_id] = time.time() + hours * 3600
    viewer.session.data["alert_message"] = f"Snoozed {alert_id} for {hours} h."
    return RedirectResponse(f"{PREFIX}/alerts", status_code=303)


@router.get("/ask", response_class=HTMLResponse)
def ask_form(request: Request, svc: Svc, viewer: Who) -> HTMLResponse:
    return page(
        request,
        svc,
        viewer,
        "ask.html",
        title="Ask",
        question="",
        answer=None,
        history=_history(viewer),
        suggestions=suggestions(svc, viewer),
        choices=[],
        labels={},
    )


def suggestions(svc: Svc, viewer: Who, count: int = 4) -> list[str]:
    """Questions to start from: the viewer's overview figures, by a dimension they may use or by month."""
    from companybrain.delivery.web import layout, reads

    readable = reads.catalog(svc, viewer)
    names = layout.overview_for(svc.brain.project, viewer.principal, set(readable)).metrics[:count]
    dims = reads.dimensions(svc, viewer)
    out = []
    for i, name in enumerate(names):
        words = name.replace("_", " ")
        reach = layout.dimensions_for(svc.brain.semantic, name, dims)
        if not svc.brain.semantic.timed(name):  # a figure of today (a headcount): no period to ask for
            out.append(f"{words} by {reach[0].replace('_', ' ')}" if reach else words)
        elif reach and i % 2 == 0:
            out.append(f"{words} by {reach[0].replace('_', ' ')} last quarter")
        else:
            out.append(f"{words} by month last year")
    return out


def _labels(svc: Svc, answer: dict[str, Any] | None) -> dict[str, str]:
    """The answer's columns as people name them (Order, not Order.order_id)."""
    from companybrain.delivery.web.layout import column_label

    columns = ((answer or {}).get("table") or {}).get("columns") or []
    return {str(c): column_label(svc.brain.project, str(c)) for c in columns}


def choices(question: str, answer: dict[str, Any] | None) -> list[tuple[str, str]]:
    """A clarifying answer's options as questions to click: (what the button says, the question it asks)."""
    if not answer or answer.get("kind") != "clarify":
        return []
    options = (answer.get("plan") or {}).get("options") or []
    return [(str(o).replace("_", " "), f"{question} {str(o).replace('_', ' ')}") for o in options]


@router.post("/ask", response_class=HTMLResponse)
async def ask(request: Request, svc: Svc, viewer: Who) -> HTMLResponse:
    """Answer a question with the embedded copilot, as the viewer (never free SQL, never code)."""
    from companybrain.copilot import Copilot

    form = await form_data(request)
    check_csrf(viewer, form)
    question = (form.get("question") or "").strip()[:500]

    def answer() -> dict[str, Any]:
        with svc.use() as brain:
            return Copilot(brain).ask(question, viewer.user).as_dict()

    found: dict[str, Any] | None = None
    denied: str | None = None
    error: str | None = "Type a question first."
    if question:
        found, denied, error = await run_in_threadpool(guarded, answer)
    if found is not None:
        _history(viewer).insert(0, {"question": question, "answer": found["answer"]})
        del _history(viewer)[10:]
    return await run_in_threadpool(
        lambda: page(
            request,
            svc,
            viewer,
            "ask.html",
            title="Ask",
            question=question,
            answer=found,
            failure=denied or error,
            history=_history(viewer)[1:] if found else _history(viewer),
            suggestions=[] if found else suggestions(svc, viewer),
            labels=_labels(svc, found),
            choices=choices(question, found),
        )
    )


def _history(viewer: Who) -> list[dict[str, str]]:
    history: list[dict[str, str]] = viewer.session.data.setdefault("questions", [])
    return history

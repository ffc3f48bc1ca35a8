"""The cockpit's headline decision: a line goes down, the brain proposes a plan, the right person approves it in
one step, it is applied to the source systems, people are told, and its expected value is in the ledger.

`/disruption`: declare a capacity loss (site, line, capacity kept, from, days) and see the recommended plan
summarised first (what it saves, what it costs, the customers it touches, what moves where), its details
below; **Submit for approval** proposes exactly that plan as one batch. The plan's id is the submission's
key: a second click, or the same form sent again, answers the batch the first made.

`/disruption/batches/N`: the batch as the people deciding it see it (decisions/review.py): the preview (what
approving does: the moves, delays, write-back rows, calls to the ERP, messages; the value expected; who must
approve), **Approve** and **Reject** for whoever may decide all of it in one step, and once decided what was
applied, the messages sent and the ledger entry. Deciding a batch that is no longer proposed (a second
click) says what became of it; it decides nothing twice.
"""

from __future__ import annotations

import secrets
from datetime import date, timedelta
from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError

from companybrain.delivery.web import reads
from companybrain.delivery.web.deps import Svc, Who
from companybrain.delivery.web.flow_chart import flow_chart
from companybrain.delivery.web.reads import guarded
from companybrain.delivery.web.render import PREFIX, page
from companybrain.delivery.web.session import check_csrf, form_data

router = APIRouter(include_in_schema=False)
PLAN_KPIS = ("revenue_at_risk", "lateness_penalty", "extra_freight", "margin_impact")
RECENT_BATCHES = 8
NO_WRITE = (
    "Not recorded: the token you signed in with does not carry the scope write:actions, which proposing and "
    "approving actions need (brain tokens create USER --scope write:actions)."
)


def _invalid(exc: ValidationError) -> str:
    return "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())


def _defaults(svc: Svc) -> dict[str, Any]:
    today = reads.today(svc)
    monday = today + timedelta(days=(7 - today.weekday()) % 7 or 7)
    return {"site": "", "line": "", "capacity": "0", "start": monday.isoformat(), "days": "10"}


# --- the disruption page -----------------------------------------------------------------------------


def _disruption_page(request: Request, svc: Svc, viewer: Who, **context: Any) -> HTMLResponse:
    sites = reads.objects(svc, viewer, "Site", None, None)
    lines = reads.objects(svc, viewer, "Line", None, None)
    context.setdefault("form", _asked(request) or viewer.session.data.get("disruption_form") or _defaults(svc))
    return page(
        request,
        svc,
        viewer,
        "disruption.html",
        title="Disruption response",
        sites=sites,
        lines=lines,
        plan=viewer.session.data.get("plan"),
        approval=viewer.session.data.pop("approval", None),
        batches=_batches(svc, viewer),
        events=_line_down_events(svc, {str(r.get("site_id")) for r in sites.rows}),
        rules=_rules(svc),
        kpis=PLAN_KPIS,
        plan_series=_plan_series,
        flow_chart=flow_chart,
        can_write="write:actions" in viewer.session.scopes,
        **context,
    )


def _asked(request: Request) -> dict[str, str] | None:
    """A disruption given in the address (`?site=MKE&line=MKE-L3&start=...&days=...`: a line-down event's
    link), to fill the form with; None when the address names none."""
    query = request.query_params
    if not query.get("site"):
        return None
    fields = ("site", "line", "capacity", "start", "days")
    return {k: query.get(k, "") for k in fields} | {"capacity": query.get("capacity") or "0"}


def _line_down_events(svc: Svc, sites: set[str], limit: int = 5) -> list[dict[str, Any]]:
    """The latest `line_down` events received (MQTT or POST /api/v1/events) at the sites the viewer may read,
    each with the disruption it suggests: its line at capacity 0 from its day for its expected duration."""
    import json
    import math

    from sqlglot import exp

    from companybrain.delivery.events import EVENTS
    from companybrain.warehouse.ddl import col, literal

    with svc.use() as brain:
        if "events" not in brain.warehouse.list_tables(EVENTS.db):
            return []
        query = (
            exp.select(col("site_id"), col("line_id"), col("ts"), col("payload"), col("received_at"))
            .from_(EVENTS)
            .where(col("type").eq(literal("line_down")))
            .order_by(exp.Ordered(this=col("received_at"), desc=True))
            .limit(limit * 10)
        )
        rows = brain.warehouse.query_arrow(query).to_pylist()
    found = []
    for r in rows:
        if r["site_id"] not in sites or not r["ts"]:
            continue
        try:
            payload = json.loads(r["payload"] or "{}")
        except ValueError:
            payload = {}
        hours = payload.get("expected_duration_hours")
        days = max(1, math.ceil(float(hours) / 24)) if isinstance(hours, int | float) else 7
        found.append(
            {
                "site": r["site_id"],
                "line": r["line_id"] or "",
                "start": str(r["ts"])[:10],
                "days": days,
                "reason": payload.get("reason") or payload.get("description") or "",
                "received_at": str(r["received_at"])[:19].replace("T", " "),
            }
        )
        if len(found) == limit:
            break
    return found


def _plan_series(plan: dict[str, Any]) -> list[tuple[str, list[float | None]]]:
    """The cost KPIs without the disruption, with today's local scramble and with the plan."""
    names = (("no disruption", "no_disruption"), ("local scramble", "baseline"), ("plan", "plan"))
    return [(label, [plan["kpis"][key].get(k) for k in PLAN_KPIS]) for label, key in names]


def _rules(svc: Svc) -> list[dict[str, Any]]:
    """The approval rules of the action types a plan becomes, in words (what submitting leads to)."""
    with svc.use() as brain:
        types = [t for t in brain.actions.types() if t["from_replan"]]
    return [{"type": t["name"], "description": t["description"], "approval": t["approval"]} for t in types]


def _batches(svc: Svc, viewer: Who) -> dict[str, Any]:
    """The latest batches the viewer may see: those awaiting a decision, and those decided."""
    from companybrain.decisions import action_store

    def read() -> list[dict[str, Any]]:
        with svc.use() as brain:
            desk = brain.actions
            ids = action_store.latest_batches(brain.warehouse, RECENT_BATCHES * 2)
            rows = desk.visible(action_store.of_batches(brain.warehouse, ids), viewer.principal)
        return rows

    rows, denied, error = guarded(read)
    batches: dict[int, dict[str, Any]] = {}
    for row in rows or []:
        b = batches.setdefault(
            row["batch_id"],
            {
                "batch_id": row["batch_id"],
                "source": row.get("source"),
                "by": row["proposed_by"],
                "types": {},
                "status": {},
            },
        )
        b["types"][row["action_type"]] = b["types"].get(row["action_type"], 0) + 1
        b["status"][row["status"]] = b["status"].get(row["status"], 0) + 1
    listed = sorted(batches.values(), key=lambda b: -b["batch_id"])[:RECENT_BATCHES]
    for b in listed:
        b["pending"] = "proposed" in b["status"]
        b["mine"] = b["by"] == viewer.user
    return {
        "pending": [b for b in listed if b["pending"]],
        "decided": [b for b in listed if not b["pending"]],
        "problem": denied or error,
    }


@router.get("/disruption", response_class=HTMLResponse)
def disruption(request: Request, svc: Svc, viewer: Who) -> HTMLResponse:
    """Declare a disruption; the last recommended plan of this session stays on the page."""
    return _disruption_page(request, svc, viewer)


@router.post("/disruption", response_class=HTMLResponse)
async def declare(request: Request, svc: Svc, viewer: Who) -> HTMLResponse:
    """Replan the network for the declared disruption, as the viewer (their policies apply)."""
    from companybrain.decisions.network import Disruption

    form = await form_data(request)
    check_csrf(viewer, form)
    viewer.session.data["disruption_form"] = {k: v for k, v in form.items() if k != "csrf"}
    try:
        disruption = Disruption(
            site=form.get("site", ""),
            line=form.get("line") or None,
            capacity=float(form.get("capacity") or 0) / 100.0,
            start=date.fromisoformat(form.get("start", "")),
            days=int(form.get("days") or 0),
        )
    except ValidationError as exc:
        return await run_in_threadpool(_disruption_page, request, svc, viewer, form=form, failure=_invalid(exc))
    except ValueError as exc:
        return await run_in_threadpool(_disruption_page, request, svc, viewer, form=form, failure=str(exc))

    def replan() -> tuple[dict[str, Any], Any]:
        from companybrain.decisions.proposals import plan_summary, plan_with_network

        with svc.use() as brain:
            plan, net = plan_with_network(brain, disruption, viewer.principal)
        shown = plan.as_dict()
        shown["summary"] = plan_summary(shown)
        return shown, (plan, net, disruption)

    done, denied, error = await run_in_threadpool(guarded, replan)
    if done is not None:
        shown, computed = done
        shown["plan_id"] = "plan_" + secrets.token_hex(6)  # also the key of its submission
        viewer.session.data["plan"] = shown
        viewer.session.data["computed"] = {shown["plan_id"]: computed}  # what Submit proposes: this plan
    return await run_in_threadpool(_disruption_page, request, svc, viewer, form=form, failure=denied or error)


PLAN_PARTS = {"actions": "the moves, delays and priorities", "parts": "the parts to expedite"}
PLAN_PARTS |= {"notifications": "who must be told what"}


@router.get("/disruption/plan.csv", response_model=None)
def plan_csv(request: Request, viewer: Who, part: str = "actions") -> Response:
    """All of a part of the plan on the page (the page shows the first rows), as CSV."""
    from companybrain.delivery.web.layout import humanize
    from companybrain.delivery.web.objects import csv_response

    plan = viewer.session.data.get("plan")
    if part not in PLAN_PARTS:
        return Response(f"no part {part!r} of a plan: {', '.join(PLAN_PARTS)}\n", status_code=404)
    if plan is None:
        return Response("no plan on the disruption page of this session: declare a disruption first\n", 404)
    if part == "notifications":
        rows = list(plan.get("notifications") or [])
    else:
        expedite = part == "parts"
        rows = [a for a in plan.get("actions") or [] if (a.get("action") == "expedite") == expedite]
    columns = list(dict.fromkeys(k for r in rows for k in r))
    return csv_response(f"plan-{part}", [humanize(c) for c in columns], [[r.get(c) for c in columns] for r in rows])


@router.post("/disruption/approve")
async def submit(request: Request, svc: Svc, viewer: Who) -> RedirectResponse:
    """Submit the plan on the page as one batch of proposals (the plan's id is the submission's key)."""
    form = await form_data(request)
    check_csrf(viewer, form)
    plan_id = form.get("plan_id", "")
    computed = (viewer.session.data.get("computed") or {}).get(plan_id)
    if "write:actions" not in viewer.session.scopes:
        return _back(viewer, NO_WRITE)
    if computed is None:
        return _back(viewer, "That plan is no longer the current one; declare the disruption again.")
    batch, message = await run_in_threadpool(_submit, svc, viewer, plan_id, computed)
    if batch is None:
        return _back(viewer, message)
    return _back(viewer, message, f"/disruption/batches/{batch}", ok=True)


def _submit(svc: Svc, viewer: Who, plan_id: str, computed: tuple[Any, Any, Any]) -> tuple[int | None, str]:
    from companybrain.decisions.proposals import propose_plan

    plan, net, disruption = computed

    def propose() -> tuple[list[dict[str, Any]], int | None]:
        with svc.use() as brain:  # one proposal at a time: a second click finds the batch of the first
            return propose_plan(brain, disruption, plan, net, viewer.principal, submission=plan_id)

    done, denied, error = guarded(propose)
    if done is None:
        return None, f"Plan {plan_id} was not submitted: {denied or error}"
    proposed, entry = done
    if not proposed:
        return None, f"Plan {plan_id} has no actions to approve."
    batch = int(proposed[0]["batch_id"])
    ledger = f"; expected value in ledger entry {entry}" if entry is not None else ""
    return batch, (
        f"Plan {plan_id} submitted as batch {batch}: {len(proposed)} proposed actions{ledger}. They apply once "
        "approved by the people their rules name (below)."
    )


def _back(viewer: Who, message: str, to: str = "/disruption", ok: bool = False) -> RedirectResponse:
    """Back to a page that says what happened (green when it was done, amber when not)."""
    viewer.session.data["approval"] = {"text": message, "ok": ok}
    return RedirectResponse(f"{PREFIX}{to}#approval", status_code=303)


# --- a batch: preview, decide, what was done ------------------------------------------------------------


@router.get("/disruption/batches/{batch_id}", response_class=HTMLResponse)
def batch(batch_id: int, request: Request, svc: Svc, viewer: Who) -> HTMLResponse:
    """The batch as the viewer may decide it: the preview, Approve and Reject, and once decided what was done."""
    from companybrain.decisions.review import batch_review

    def read() -> dict[str, Any]:
        with svc.use() as brain:
            return batch_review(brain, batch_id, viewer.principal)

    review, denied, error = guarded(read)
    flash = viewer.session.data.pop("approval", None)
    return page(
        request,
        svc,
        viewer,
        "batch.html",
        status=200 if review is not None else 404,
        title=f"Batch {batch_id}",
        batch_id=batch_id,
        review=review,
        failure=denied or error,
        flash=flash,
        flow_chart=flow_chart,
        can_write="write:actions" in viewer.session.scopes,
    )


@router.post("/disruption/batches/{batch_id}/approve")
async def approve(batch_id: int, request: Request, svc: Svc, viewer: Who) -> RedirectResponse:
    """Approve every proposed action of the batch as the viewer, in one step; complete ones are applied together
    (the ERP called, the messages queued and sent), or none of them."""
    return await _decided(batch_id, request, svc, viewer, "approve", "note")


@router.post("/disruption/batches/{batch_id}/reject")
async def reject(batch_id: int, request: Request, svc: Svc, viewer: Who) -> RedirectResponse:
    """Reject every proposed action of the batch as the viewer, with the reason given: nothing is applied."""
    return await _decided(batch_id, request, svc, viewer, "reject", "reason")


async def _decided(batch_id: int, request: Request, svc: Svc, viewer: Who, verb: str, field: str) -> RedirectResponse:
    """The form's decision on the batch (its `field`: the approver's note, the rejection's reason), back to it."""
    form = await form_data(request)
    check_csrf(viewer, form)
    if "write:actions" not in viewer.session.scopes:
        return _back(viewer, NO_WRITE)
    message, ok = await run_in_threadpool(_decide, svc, viewer, batch_id, verb, form.get(field) or None)
    return _back(viewer, message, f"/disruption/batches/{batch_id}", ok)


def _decide(svc: Svc, viewer: Who, batch_id: int, verb: str, note: str | None) -> tuple[str, bool]:
    """Approve or reject the batch's proposed actions, all of them or none; what became of them, in words,
    and whether that is what was asked."""
    from companybrain.decisions.review import batch_review

    def decide() -> tuple[str, bool]:
        with svc.changing() as brain:  # an approval waits for a build to commit, or the build would undo it
            review = batch_review(brain, batch_id, viewer.principal)
            approval = review["approval"]
            if not approval["proposed"]:  # decided already (a second click): say what became of it
                return f"Batch {batch_id} was decided already: {_counts(review['status'])}.", True
            allowed = approval["you_may_approve_all"] if verb == "approve" else approval["you_may_reject"]
            if not allowed:
                why = "; ".join(f"{r['count']} x {r['why']}" for r in approval["not_yours"]) or "your roles do not"
                return f"Batch {batch_id} not {verb}d: you may not {verb} all of it ({why}).", False
            desk = brain.actions
            ids = [r["action_id"] for r in desk.find(status="proposed", batch=batch_id, limit=1_000_000)]
            if verb == "approve":
                outcomes = desk.approve(ids, viewer.principal, note=note or "approved in the cockpit")
            else:
                outcomes = desk.reject(ids, viewer.principal, note or "rejected in the cockpit")
        if verb == "approve" and any(o.status == "applied" for o in outcomes):
            from companybrain.delivery.alerts import deliver_action_messages

            with svc.use() as brain:  # the messages of what was applied (notify effects), now
                deliver_action_messages(brain)
        counts: dict[str, int] = {}
        for o in outcomes:
            counts[o.status] = counts.get(o.status, 0) + 1
        failed = next((o.message for o in outcomes if o.status == "failed"), None)
        text = f"Batch {batch_id}: {_counts(counts)} by {viewer.user}" + (f" — {failed}" if failed else ".")
        return text, failed is None

    done, denied, error = guarded(decide)
    return done or (f"Batch {batch_id} not {verb}d: {denied or error}", False)


def _counts(counts: dict[str, int]) -> str:
    words = {"rolled_back": "rolled back"}
    return ", ".join(f"{n} {words.get(status, status)}" for status, n in sorted(counts.items()))

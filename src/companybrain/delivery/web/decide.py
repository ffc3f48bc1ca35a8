"""Cockpit pages for decisions: Disruption response (replan, approve) and what-if Scenarios."""

from __future__ import annotations

import secrets
from datetime import date, timedelta
from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import ValidationError

from companybrain.delivery.web import reads
from companybrain.delivery.web.deps import Svc, Who
from companybrain.delivery.web.reads import guarded
from companybrain.delivery.web.render import PREFIX, page
from companybrain.delivery.web.session import check_csrf, form_data

router = APIRouter(include_in_schema=False)
PLAN_KPIS = ("revenue_at_risk", "lateness_penalty", "extra_freight", "margin_impact")
CHANGE_KINDS = ("demand", "price", "capacity", "hiring")
MAX_RUNS = 6


def _invalid(exc: ValidationError) -> str:
    return "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())


def _disruption_defaults(svc: Svc) -> dict[str, Any]:
    today = reads.today(svc)
    monday = today + timedelta(days=(7 - today.weekday()) % 7 or 7)
    return {"site": "", "line": "", "capacity": "0", "start": monday.isoformat(), "days": "10"}


def _disruption_page(request: Request, svc: Svc, viewer: Who, **context: Any) -> HTMLResponse:
    sites = reads.objects(svc, viewer, "Site", None, None)
    lines = reads.objects(svc, viewer, "Line", None, None)
    context.setdefault("form", viewer.session.data.get("disruption_form") or _disruption_defaults(svc))
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
        pending=_pending(svc, viewer),
        kpis=PLAN_KPIS,
        plan_series=_plan_series,
        **context,
    )


def _plan_series(plan: dict[str, Any]) -> list[tuple[str, list[float | None]]]:
    """The cost KPIs without the disruption, with today's local scramble and with the plan."""
    names = (("no disruption", "no_disruption"), ("local scramble", "baseline"), ("plan", "plan"))
    return [(label, [plan["kpis"][key].get(k) for k in PLAN_KPIS]) for label, key in names]


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

    def replan() -> dict[str, Any]:
        with svc.use() as brain:
            return brain.replan(disruption, viewer.principal).as_dict()

    plan, denied, error = await run_in_threadpool(guarded, replan)
    if plan is not None:
        plan["plan_id"] = "plan_" + secrets.token_hex(5)
        viewer.session.data["plan"] = plan
    return await run_in_threadpool(_disruption_page, request, svc, viewer, form=form, failure=denied or error)


NO_WRITE = (
    "Not recorded: the token you signed in with does not carry the scope write:actions, which proposing and "
    "approving actions need (brain tokens create USER --scope write:actions)."
)


@router.post("/disruption/approve")
async def approve(request: Request, svc: Svc, viewer: Who) -> RedirectResponse:
    """Approve the recommended plan as actions: recorded only when the brain has an actions API."""
    form = await form_data(request)
    check_csrf(viewer, form)
    plan = viewer.session.data.get("plan")
    if "write:actions" not in viewer.session.scopes:
        message = NO_WRITE
    elif plan is None or plan.get("plan_id") != form.get("plan_id"):
        message = "That plan is no longer the current one; declare the disruption again."
    else:
        message = await run_in_threadpool(_record_approval, svc, viewer, plan)
    viewer.session.data["approval"] = message
    return RedirectResponse(f"{PREFIX}/disruption#approval", status_code=303)


def _record_approval(svc: Svc, viewer: Who, plan: dict[str, Any]) -> str:
    """Submit the plan's actions (move, delay, prioritise) as one batch of proposals through the brain's
    actions API; they are applied once the people their approval rules name approve them."""
    from companybrain.decisions.network import Disruption

    with svc.use() as brain:
        propose = brain.propose_replan
        disruption = Disruption.model_validate(plan["disruption"])
        done, denied, error = guarded(lambda: propose(disruption, viewer.principal))
    if done is None:
        return f"Plan {plan['plan_id']} was not submitted: {denied or error}"
    _, proposed, entry = done
    if not proposed:
        return f"Plan {plan['plan_id']} has no actions to approve."
    ledger = f"; expected value in ledger entry {entry}" if entry is not None else ""
    return (
        f"Plan {plan['plan_id']} submitted as batch {proposed[0]['batch_id']}: {len(proposed)} proposed actions"
        f"{ledger}. They apply once approved by the people their rules name (Pending actions below)."
    )


def _pending(svc: Svc, viewer: Who) -> dict[str, Any]:
    """Proposed actions the viewer may see, by batch (empty when the brain has no actions API)."""
    with svc.use() as brain:

        def read() -> list[dict[str, Any]]:
            desk = brain.actions
            return desk.visible(desk.find(status="proposed", limit=1000), viewer.principal)

        rows, denied, error = guarded(read)
    batches: dict[Any, dict[str, Any]] = {}
    for row in rows or []:
        batch = batches.setdefault(
            row["batch_id"],
            {"batch_id": row["batch_id"], "source": row.get("source"), "by": row.get("proposed_by"), "types": {}},
        )
        batch["types"][row["action_type"]] = batch["types"].get(row["action_type"], 0) + 1
    return {"available": True, "batches": list(batches.values())[-10:], "problem": denied or error}


@router.post("/disruption/batches/{batch_id}/approve")
async def approve_batch(batch_id: int, request: Request, svc: Svc, viewer: Who) -> RedirectResponse:
    """Approve a batch of proposed actions as the viewer; complete ones are applied together."""
    form = await form_data(request)
    check_csrf(viewer, form)
    if "write:actions" not in viewer.session.scopes:
        viewer.session.data["approval"] = NO_WRITE
        return RedirectResponse(f"{PREFIX}/disruption#approval", status_code=303)

    def approve_all() -> str:
        with svc.changing() as brain:  # an approval waits for a build to commit, or the build would undo it
            desk = brain.actions
            outcomes = desk.approve(desk.batch_ids(batch_id), viewer.principal, note="approved in the cockpit")
        counts: dict[str, int] = {}
        for outcome in outcomes:
            counts[outcome.status] = counts.get(outcome.status, 0) + 1
        return f"Batch {batch_id}: " + ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))

    done, denied, error = await run_in_threadpool(guarded, approve_all)
    viewer.session.data["approval"] = done or f"Batch {batch_id} not approved: {denied or error}"
    return RedirectResponse(f"{PREFIX}/disruption#approval", status_code=303)


# --- what-if scenarios ---------------------------------------------------------------------------


def _runs(viewer: Who) -> dict[str, dict[str, Any]]:
    runs: dict[str, dict[str, Any]] = viewer.session.data.setdefault("runs", {})
    return runs


def _scenarios_page(request: Request, svc: Svc, viewer: Who, **context: Any) -> HTMLResponse:
    from companybrain.decisions.scenarios import list_scenarios

    def declared() -> list[dict[str, Any]]:
        with svc.use() as brain:
            return [s for s in list_scenarios(brain) if not s["name"].startswith("cockpit_")]

    scenarios, denied, error = guarded(declared)
    runs = _runs(viewer)
    chosen = [n for n in request.query_params.getlist("compare") if n in runs] or list(runs)[-3:]
    compared = [runs[n] for n in chosen]
    kpis = [k["kpi"] for k in compared[0]["kpis"]] if compared else []
    # the chart shows what moved; the table below keeps every KPI
    moved = [i for i, _ in enumerate(kpis) if any(r["kpis"][i]["diff_pct"] for r in compared)]
    series = [(r["name"], [r["kpis"][i]["diff_pct"] for i in moved]) for r in compared]
    if context.get("form") is None:
        context["form"] = {"kind": "demand", "change_pct": "10", "period": str(reads.today(svc).year - 1)}
    return page(
        request,
        svc,
        viewer,
        "scenarios.html",
        title="Scenarios",
        scenarios=scenarios or [],
        list_problem=denied or error,
        runs=runs,
        compared=compared,
        compare_kpis=kpis,
        chart_kpis=[kpis[i] for i in moved],
        compare_series=series,
        kinds=CHANGE_KINDS,
        **context,
    )


@router.get("/scenarios", response_class=HTMLResponse)
def scenarios(request: Request, svc: Svc, viewer: Who) -> HTMLResponse:
    """Declared scenarios, a what-if builder, and this session's runs side by side."""
    return _scenarios_page(request, svc, viewer)


def _change(form: dict[str, str]) -> dict[str, Any]:
    """One scenario change from the builder's fields (validated by the scenario spec)."""
    kind = form.get("kind", "demand")
    pct = float(form.get("change_pct") or 0)
    pick = {k: form[k] for k in ("family", "segment", "region", "site", "line", "function") if form.get(k)}
    if kind == "price":
        elasticity: float | str = form.get("elasticity") or "estimated"
        if elasticity != "estimated":
            elasticity = float(elasticity)
        return {"type": "price", "change_pct": pct, "elasticity": elasticity, **_only(pick, "family", "segment")}
    if kind == "capacity":
        return {"type": "capacity", "change_pct": pct, **_only(pick, "site", "line")}
    if kind == "hiring":
        return {
            "type": "hiring",
            "headcount": int(form.get("headcount") or 0),
            "annual_cost_per_head": float(form.get("cost_per_head") or 0),
            "function": pick.get("function", "Operations"),
            **_only(pick, "site"),
        }
    return {"type": "demand", "change_pct": pct, **_only(pick, "family", "region")}


def _only(values: dict[str, str], *keys: str) -> dict[str, str]:
    return {k: values[k] for k in keys if k in values}


@router.post("/scenarios/run", response_class=HTMLResponse)
async def run(request: Request, svc: Svc, viewer: Who) -> HTMLResponse:
    """Run a declared scenario, or build one from the form's fields and run it, as the viewer."""
    from companybrain.decisions.scenarios import run_scenario
    from companybrain.specs.scenarios import ScenarioSpec

    form = await form_data(request)
    check_csrf(viewer, form)
    name = form.get("name", "")
    if not name:  # a what-if from the builder: kept in this process, never written to the project
        name = f"cockpit_{viewer.user}_{len(_runs(viewer)) + 1}"[:48].lower()
        try:
            change = _change(form)
            spec = ScenarioSpec(
                name=name,
                description=form.get("description") or f"What-if built in the cockpit by {viewer.user}",
                period=form.get("period") or str(reads.today(svc).year - 1),
                changes=[change],
            )
        except (ValidationError, ValueError) as exc:
            problem = _invalid(exc) if isinstance(exc, ValidationError) else str(exc)
            return await run_in_threadpool(_scenarios_page, request, svc, viewer, form=form, failure=problem)
    else:
        spec = None

    def execute() -> dict[str, Any]:
        with svc.use() as brain:
            if spec is not None:
                brain.project.scenarios[spec.name] = spec
            return run_scenario(brain, name, viewer.principal).as_dict()

    result, denied, error = await run_in_threadpool(guarded, execute)
    if result is not None:
        runs = _runs(viewer)
        runs.pop(name, None)
        runs[name] = result
        while len(runs) > MAX_RUNS:
            runs.pop(next(iter(runs)))
    builder = form if spec is not None else None  # a declared run leaves the builder as it was
    return await run_in_threadpool(_scenarios_page, request, svc, viewer, form=builder, failure=denied or error)

"""Cockpit pages for decisions: what-if Scenarios here, and Disruption response (replan, submit, approve,
applied) from disruption.py."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse
from pydantic import ValidationError

from companybrain.delivery.web import disruption, layout, reads, whatif
from companybrain.delivery.web.deps import Svc, Who
from companybrain.delivery.web.reads import guarded
from companybrain.delivery.web.render import page, run_label
from companybrain.delivery.web.session import check_csrf, form_lists

router = APIRouter(include_in_schema=False)
MAX_RUNS = 6


def _invalid(exc: ValidationError) -> str:
    """What the scenario spec refused, by the builder's labels ("Change %: ..."), not the spec's path."""
    from companybrain.delivery.web.layout import humanize

    def where(loc: tuple[Any, ...]) -> str:
        named = [str(p) for p in loc if isinstance(p, str) and p not in ("changes",)]
        return humanize(named[-1]) if named else "The what-if"

    return "; ".join(f"{where(tuple(e['loc']))}: {e['msg']}" for e in exc.errors())


router.include_router(disruption.router)  # /disruption and its batches: the headline decision (disruption.py)


# --- what-if scenarios ---------------------------------------------------------------------------


def _runs(viewer: Who) -> dict[str, dict[str, Any]]:
    runs: dict[str, dict[str, Any]] = viewer.session.data.setdefault("runs", {})
    return runs


def _scenarios_page(
    request: Request, svc: Svc, viewer: Who, offered: list[whatif.Kind] | None = None, **context: Any
) -> HTMLResponse:
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
    series = [(run_label(r["name"]), [r["kpis"][i]["diff_pct"] for i in moved]) for r in compared]
    project = svc.brain.project
    labels = {k: layout.metric_label(project, k) if k in project.metrics else layout.humanize(k) for k in kpis}
    refusal = whatif.build_refusal(svc, viewer)
    kinds = [] if refusal else offered if offered is not None else whatif.kinds(svc, viewer)
    if context.get("form") is None:
        context["form"] = whatif.defaults(kinds, str(reads.today(svc).year - 1))
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
        chart_kpis=[labels[kpis[i]] for i in moved],
        kpi_labels=labels,
        compare_series=series,
        kinds=kinds,
        build_refusal=refusal,
        slider=whatif.SLIDER,
        **context,
    )


@router.get("/scenarios", response_class=HTMLResponse)
def scenarios(request: Request, svc: Svc, viewer: Who) -> HTMLResponse:
    """Declared scenarios, a what-if builder, and this session's runs side by side."""
    return _scenarios_page(request, svc, viewer)


@router.post("/scenarios/run", response_class=HTMLResponse)
async def run(request: Request, svc: Svc, viewer: Who) -> HTMLResponse:
    """Run a declared scenario, or build one from the form's fields and run it, as the viewer."""
    from companybrain.decisions.scenarios import run_scenario
    from companybrain.specs.scenarios import ScenarioSpec

    lists = await form_lists(request)
    form = {key: values[-1] for key, values in lists.items()}
    check_csrf(viewer, form)
    name = form.get("name", "")
    offered: list[whatif.Kind] | None = None  # read once per request: each field's choices are a query
    if not name:  # a what-if from the builder: kept in this process, never written to the project
        name = f"cockpit_{viewer.user}_{len(_runs(viewer)) + 1}"[:48].lower()
        try:
            refusal = await run_in_threadpool(whatif.build_refusal, svc, viewer)
            if refusal:
                raise ValueError(refusal)
            offered = await run_in_threadpool(whatif.kinds, svc, viewer)
            change = whatif.change(next((k for k in offered if k.name == form.get("kind")), None), lists)
            spec = ScenarioSpec(
                name=name,
                description=form.get("description") or f"What-if built in the cockpit by {viewer.user}",
                period=form.get("period") or str(reads.today(svc).year - 1),
                changes=[change],
            )
        except (ValidationError, ValueError) as exc:
            problem = _invalid(exc) if isinstance(exc, ValidationError) else str(exc)
            return await run_in_threadpool(_scenarios_page, request, svc, viewer, offered, form=form, failure=problem)
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
    return await run_in_threadpool(
        _scenarios_page, request, svc, viewer, offered, form=builder, failure=denied or error
    )

"""/api/v1/scenarios: the what-if scenarios, a run against the baseline, several side by side.

Runs read through the governed query path as the caller (their policies apply to a scenario as
to the baseline, and to its forecast and plan sections); building overlays needs full read access
to the types they change.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Depends, Path, Query
from fastapi.concurrency import run_in_threadpool
from pydantic import Field

from companybrain.delivery.auth import Caller, require, service
from companybrain.delivery.errors import ScopeDenied
from companybrain.delivery.models import ApiModel, jsonable, problem_responses

if TYPE_CHECKING:
    from companybrain.delivery.app import BrainService

router = APIRouter(prefix="/scenarios", tags=["scenarios"], responses=problem_responses(401, 403, 422, 500, 503))
ScenarioCaller = Annotated[Caller, Depends(require("read:metrics"))]
Service = Annotated["BrainService", Depends(service)]
Name = Annotated[str, Path(pattern=r"^[a-z][a-z0-9_]*$", max_length=48)]


class ScenarioInfo(ApiModel):
    name: str
    period: str
    changes: str
    overlays: str = Field(description="current, stale: ..., or not run.")
    description: str


class ScenarioRunResult(ApiModel):
    """A scenario's KPIs against the baseline over its period."""

    name: str
    description: str
    period: dict[str, str]
    build: int
    overlays: dict[str, int] = Field(description="Changed or added objects per type.")
    kpis: list[dict[str, Any]] = Field(description="kpi, baseline, scenario, diff, diff_pct, status, format.")
    assumptions: list[str]
    warnings: list[str]
    seconds: dict[str, float] = Field(description="overlays, kpis, forecast and plan.")
    forecast: dict[str, Any] = Field(
        default_factory=dict,
        description="The forecast use cases refit on the scenario's series: status (recomputed, unchanged, "
        "not recomputed, denied for this user, failed, not applicable), reason, and per use case the totals over "
        "its horizon, per period and per series, baseline against scenario.",
    )
    plan: dict[str, Any] = Field(
        default_factory=dict,
        description="The network plan of the weeks ahead with the scenario's capacity and forecasted demand: "
        "status, reason, horizon, changes, kpis (late_orders, revenue_at_risk, lateness_penalty, extra_freight, "
        "utilisation, gap_to_bound; baseline, scenario, diff), and both plans' figures.",
    )
    supply: dict[str, Any] = Field(
        default_factory=dict,
        description="Component shortages ahead when the scenario's suppliers slip: status (ok, unchanged, "
        "skipped, failed), reason, slips (supplier -> days) and kpis (shortages, qty_short, units_at_risk, "
        "orders_at_risk, revenue_at_risk, margin_at_risk; baseline, scenario, diff).",
    )
    proposed: list[dict[str, Any]] = Field(default_factory=list, description="Adoption proposed (propose=true).")
    ledger_entry: int | None = Field(None, description="The value ledger entry of the proposal.")


@router.get("", response_model=list[ScenarioInfo], summary="The declared scenarios and their overlay status")
def list_scenarios(caller: ScenarioCaller, svc: Service) -> list[ScenarioInfo]:
    with svc.use() as brain:
        rows = brain.scenarios()
    return [ScenarioInfo.model_validate(jsonable(r)) for r in rows]


@router.get(
    "/compare",
    response_model=list[ScenarioRunResult],
    summary="Several scenarios side by side (overlays reused; built when missing)",
    responses=problem_responses(400, 404),
)
def compare(
    caller: ScenarioCaller,
    svc: Service,
    name: Annotated[list[str], Query(min_length=1, max_length=10, description="A scenario (repeat).")],
) -> list[ScenarioRunResult]:
    with svc.use() as brain:
        runs = brain.compare_scenarios(name, caller.principal)
    return [ScenarioRunResult.model_validate(jsonable(r.as_dict())) for r in runs]


@router.post(
    "/{name}/run",
    response_model=ScenarioRunResult,
    summary="Rebuild a scenario's overlays and diff its KPIs against the baseline",
    responses=problem_responses(404),
)
async def run(
    name: Name,
    caller: ScenarioCaller,
    svc: Service,
    propose: Annotated[bool, Query(description="Also propose adopting it (needs write:actions).")] = False,
) -> ScenarioRunResult:
    if propose and "write:actions" not in caller.scopes:
        raise ScopeDenied(f"proposing needs the scope 'write:actions' ({caller.via})", scope="write:actions")

    def work() -> dict[str, Any]:
        with svc.use() as brain:
            if not propose:
                return brain.run_scenario(name, caller.principal).as_dict()
            result, proposed, entry = brain.propose_scenario(name, caller.principal)
            return {**result.as_dict(), "proposed": proposed, "ledger_entry": entry}

    return ScenarioRunResult.model_validate(jsonable(await run_in_threadpool(work)))

"""/api/v1/replan: the network plan after a capacity loss; with `propose`, its actions as one batch.

The replan reads orders, lines and sites as the caller (scope `read:objects`; their policies
apply); proposing also needs `write:actions` and the right to submit each action type.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Depends
from pydantic import Field, StrictBool, StrictFloat, StrictInt

from companybrain.delivery.auth import Caller, require, service
from companybrain.delivery.errors import ScopeDenied
from companybrain.delivery.models import ApiModel, jsonable, problem_responses

if TYPE_CHECKING:
    from companybrain.delivery.app import BrainService

router = APIRouter(prefix="/replan", tags=["replan"], responses=problem_responses(401, 403, 422, 500, 503))
ReplanCaller = Annotated[Caller, Depends(require("read:objects"))]
Service = Annotated["BrainService", Depends(service)]


class DisruptionBody(ApiModel):
    """Capacity lost at a site (or one of its lines) for some days."""

    site: str = Field(min_length=1, max_length=100, examples=["Milwaukee"])
    line: str | None = Field(None, max_length=100, examples=["L3"])
    capacity: StrictFloat = Field(0.0, ge=0.0, le=1.0, description="Fraction of capacity kept (0 = line down).")
    start: dt.date = Field(ge=dt.date(1900, 1, 1), le=dt.date(2999, 12, 31), examples=["2026-03-02"])
    days: StrictInt = Field(gt=0, le=91)
    propose: StrictBool = Field(
        False, description="Also propose the plan's actions as one batch (needs write:actions)."
    )


class PlanResult(ApiModel):
    """The plan: actions, KPIs (no disruption / baseline / plan), bound and gap, who to tell."""

    disruption: dict[str, Any] | None
    horizon: dict[str, Any]
    cost: float
    lower_bound: float
    bound_kind: str | None = Field(None, description="What the lower bound is (e.g. the LP relaxation).")
    gap: float
    solve_seconds: float
    total_seconds: float
    items: int
    classes: int
    options: int
    kpis: dict[str, Any]
    improvement: dict[str, float]
    actions: list[dict[str, Any]]
    notifications: list[dict[str, Any]]
    user: str | None
    assumptions: dict[str, Any]
    proposed: list[dict[str, Any]] = Field(default_factory=list, description="The proposed actions (propose=true).")
    ledger_entry: int | None = Field(None, description="The value ledger entry of the proposal.")


@router.post(
    "",
    response_model=PlanResult,
    summary="Replan the network after a capacity loss",
    responses=problem_responses(400, 404),
)
def replan(body: DisruptionBody, caller: ReplanCaller, svc: Service) -> PlanResult:
    from companybrain.decisions.network import Disruption

    if body.propose and "write:actions" not in caller.scopes:
        raise ScopeDenied(f"proposing needs the scope 'write:actions' ({caller.via})", scope="write:actions")
    disruption = Disruption(**body.model_dump(exclude={"propose"}))
    proposed: list[dict[str, Any]] = []
    entry = None
    with svc.use() as brain:
        if body.propose:
            plan, proposed, entry = brain.propose_replan(disruption, caller.principal)
        else:
            plan = brain.replan(disruption, caller.principal)
    return PlanResult.model_validate(jsonable({**plan.as_dict(), "proposed": proposed, "ledger_entry": entry}))

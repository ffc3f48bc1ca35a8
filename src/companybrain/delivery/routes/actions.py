"""/api/v1/actions: action types, proposals, approvals, rejections and rollbacks; /api/v1/value: the ledger.

Reading needs `read:objects` (a caller sees the actions they proposed or whose type they may
submit or approve); changing needs `write:actions`, and the action type's policies decide the rest
(who submits, who approves, no self-approval). Every change is in the audit log with the caller.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query
from pydantic import Field, StrictInt

from companybrain.delivery.auth import Caller, require, service
from companybrain.delivery.models import ApiModel, jsonable, problem_responses
from companybrain.errors import NotFound, QueryError

if TYPE_CHECKING:
    from companybrain.delivery.app import BrainService

router = APIRouter(prefix="/actions", tags=["actions"], responses=problem_responses(401, 403, 422, 500, 503))
value_router = APIRouter(prefix="/value", tags=["value"], responses=problem_responses(401, 403, 422, 500, 503))
Reader = Annotated[Caller, Depends(require("read:objects"))]
Writer = Annotated[Caller, Depends(require("write:actions"))]
Service = Annotated["BrainService", Depends(service)]
Status = Literal["proposed", "applied", "rejected", "failed", "rolled_back"]
ActionId = Annotated[StrictInt, Field(ge=1, le=2**31 - 1)]


class ActionTypeInfo(ApiModel):
    name: str
    description: str
    use_case: str
    from_replan: str | None
    parameters: dict[str, dict[str, Any]]
    submit: dict[str, Any]
    approval: list[str] = Field(description="The approval rules in words, first matching applies.")
    effects: list[str]


class Action(ApiModel):
    action_id: int
    batch_id: int
    action_type: str
    parameters: dict[str, Any]
    status: str
    source: str | None
    proposed_by: str
    proposed_at: str
    approvals: list[dict[str, Any]]
    decided_by: str | None
    decided_at: str | None
    undo: list[dict[str, Any]] | None = Field(description="What applying did, as needed to undo it.")
    error: str | None
    submission: str | None = Field(None, description="The proposer's key of the submission that made it.")


class ProposeBody(ApiModel):
    action_type: str = Field(min_length=1, max_length=64, examples=["delay_order"])
    parameters: dict[str, str | int | float | bool | None] = Field(max_length=50)
    submission: str | None = Field(
        None,
        min_length=8,
        max_length=100,
        description="A key of the caller's choosing: sending the same key again answers the actions it proposed "
        "and proposes nothing new (a retried request, a second click).",
    )


class DecideBody(ApiModel):
    ids: list[ActionId] = Field(default_factory=list, max_length=1000)
    batch: ActionId | None = Field(None, description="Every action of this batch.")
    note: str | None = Field(None, max_length=2000, description="Recorded with an approval; the reason of a rejection.")


class Outcome(ApiModel):
    action_id: int
    status: str
    message: str


class ValueReport(ApiModel):
    as_of: str
    use_cases: list[dict[str, Any]] = Field(description="Per use case: expected vs realised, approved, measured.")
    entries: list[dict[str, Any]]


def _ids(brain: Any, body: DecideBody) -> list[int]:
    ids = list(body.ids) + (brain.actions.batch_ids(body.batch) if body.batch is not None else [])
    if not ids:
        raise QueryError("name action ids or a batch", hint='{"ids": [12]} or {"batch": 3}')
    return ids


@router.get("/types", response_model=list[ActionTypeInfo], summary="The declared action types")
def types(caller: Reader, svc: Service) -> list[ActionTypeInfo]:
    with svc.use() as brain:
        found = brain.actions.types()
    return [ActionTypeInfo.model_validate(jsonable(t)) for t in found]


@router.get("", response_model=list[Action], summary="Actions the caller may see, newest last")
def list_actions(
    caller: Reader,
    svc: Service,
    status: Annotated[Status | None, Query()] = None,
    batch: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[Action]:
    with svc.use() as brain:
        rows = brain.actions.visible(brain.actions.find(status, batch, limit), caller.principal)
    return [Action.model_validate(jsonable(r)) for r in rows]


# `:int` so that /approve, /reject and /rollback never match here: a GET on them is a 405, not a 422
@router.get("/{action_id:int}", response_model=Action, summary="One action", responses=problem_responses(404))
def get_action(action_id: Annotated[int, Path(ge=1, le=2**31 - 1)], caller: Reader, svc: Service) -> Action:
    with svc.use() as brain:
        rows = brain.actions.visible([brain.actions.get(action_id)], caller.principal)
    if not rows:
        raise NotFound(f"no action {action_id} that user {caller.principal.user!r} may see")
    return Action.model_validate(jsonable(rows[0]))


@router.post("", response_model=list[Action], summary="Propose an action", responses=problem_responses(400, 404))
def propose(body: ProposeBody, caller: Writer, svc: Service) -> list[Action]:
    with svc.use() as brain:
        rows = brain.actions.propose(
            [(body.action_type, dict(body.parameters))], caller.principal, source="api", submission=body.submission
        )
    return [Action.model_validate(jsonable(r)) for r in rows]


@router.post(
    "/approve",
    response_model=list[Outcome],
    summary="Approve actions; complete ones are applied together or not at all",
    responses=problem_responses(400, 404, 409),
)
def approve(body: DecideBody, caller: Writer, svc: Service) -> list[Outcome]:
    from companybrain.delivery.alerts import deliver_action_messages

    with svc.changing() as brain:
        outcomes = brain.actions.approve(_ids(brain, body), caller.principal, body.note)
        if any(o.status == "applied" for o in outcomes):
            deliver_action_messages(brain)  # the notify effects of what was applied
    return [Outcome.model_validate(o.as_dict()) for o in outcomes]


@router.post(
    "/reject",
    response_model=list[Outcome],
    summary="Reject proposed actions",
    responses=problem_responses(400, 404, 409),
)
def reject(body: DecideBody, caller: Writer, svc: Service) -> list[Outcome]:
    with svc.changing() as brain:
        outcomes = brain.actions.reject(_ids(brain, body), caller.principal, body.note)
    return [Outcome.model_validate(o.as_dict()) for o in outcomes]


@router.post(
    "/rollback",
    response_model=list[Outcome],
    summary="Undo applied actions",
    responses=problem_responses(400, 404, 409),
)
def rollback(body: DecideBody, caller: Writer, svc: Service) -> list[Outcome]:
    with svc.changing() as brain:
        outcomes = brain.actions.rollback(_ids(brain, body), caller.principal)
    return [Outcome.model_validate(o.as_dict()) for o in outcomes]


@value_router.get("", response_model=ValueReport, summary="Expected vs realised impact by use case")
def value(
    caller: Annotated[Caller, Depends(require("read:metrics"))],
    svc: Service,
    use_case: Annotated[str | None, Query(max_length=64)] = None,
) -> ValueReport:
    with svc.use() as brain:
        report = brain.value(caller.principal, use_case)
    return ValueReport.model_validate(jsonable(report))

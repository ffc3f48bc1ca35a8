"""/api/v1/usecases: the AI factory's use cases, their versions and backtests, and their predictions.

Predictions are properties (or, for forecasts, objects) of the ontology, so they are read like any
object: as the caller, through the policies (an HR-tagged risk is masked for those who may not see
it, a regional caller sees their region). Training and scoring need the `write:factory` scope.
"""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query
from pydantic import Field, StrictInt

from companybrain.delivery.auth import Caller, require, service
from companybrain.delivery.models import ApiModel, jsonable, problem_responses
from companybrain.errors import PolicyDenied

if TYPE_CHECKING:
    from companybrain.brain import Brain
    from companybrain.delivery.app import BrainService

router = APIRouter(prefix="/usecases", tags=["usecases"], responses=problem_responses(401, 403, 404, 422, 500, 503))
ReadCaller = Annotated[Caller, Depends(require("read:objects"))]
WriteCaller = Annotated[Caller, Depends(require("write:factory"))]
Service = Annotated["BrainService", Depends(service)]
Name = Annotated[str, Path(pattern=r"^[a-z][a-z0-9_]*$", max_length=48)]


class UseCaseInfo(ApiModel):
    usecase: str
    task: str
    output: str | None
    owner: str
    versions: int
    champion: int | None
    metric: str
    champion_score: float | None
    baseline_score: float | None
    schedule: str


class UseCaseDetail(ApiModel):
    """A use case's definition, versions, its champion's backtest and lineage, drift and live accuracy."""

    usecase: str
    description: str
    owner: str
    task: str
    entity: str | None
    output: str | None
    model_family: str
    baseline: str
    schedule: str
    registry: str
    champion: dict[str, Any] | None
    versions: list[dict[str, Any]]
    backtest: dict[str, Any] | None = None
    lineage: dict[str, Any] | None = None
    drift: dict[str, Any] | None = None
    live_accuracy: dict[str, Any] | None = None


class Predictions(ApiModel):
    usecase: str
    output: str = Field(description="Type.property scored, or the forecast object type.")
    predictions: list[dict[str, Any]] = Field(description="Highest scores first (forecasts by series and period).")


class PromoteRequest(ApiModel):
    version: StrictInt = Field(ge=1, description="The version to make the champion.")
    reason: str = Field(min_length=1, max_length=5000, description="Why: kept on the version and audited.")


class Promoted(ApiModel):
    usecase: str
    status: str
    champion: int
    previous: int | None
    promoted_by: str
    reason: str
    hint: str


class LabelRequest(ApiModel):
    key: str = Field(min_length=1, max_length=200, description="The scored object's key.")
    verdict: Literal["confirmed", "dismissed"] = Field(description="It was an anomaly, or it was not.")
    as_of: date | None = Field(None, description="The score judged (default: the object's latest).")
    reason: str | None = Field(None, max_length=5000, description="What was found (recorded).")


class Labelled(ApiModel):
    usecase: str
    entity_key: str
    as_of: date
    verdict: str
    labelled_by: str
    reason: str


class StepResult(ApiModel):
    results: list[dict[str, Any]] = Field(description="One report per use case: status, version, backtest or scored.")


def _readable(brain: Brain, caller: Caller, name: str) -> bool:
    """A use case is the caller's to see when they may read what it scores (or forecasts)."""
    from companybrain.governance.policy import Policy

    uc = brain.project.usecases[name]
    scored = uc.entity or uc.output.object
    return scored is not None and Policy(brain.project, caller.principal).can_read_object(scored)


@router.get("", response_model=list[UseCaseInfo], summary="The use cases with their champion and its backtest")
def list_usecases(caller: ReadCaller, svc: Service) -> list[UseCaseInfo]:
    from companybrain import factory

    with svc.use() as brain:
        rows = [r for r in factory.list_usecases(brain) if _readable(brain, caller, r["usecase"])]
    return [UseCaseInfo.model_validate(jsonable(r)) for r in rows]


@router.get("/{name}", response_model=UseCaseDetail, summary="Versions, backtest, lineage, drift, live accuracy")
def show_usecase(name: Name, caller: ReadCaller, svc: Service) -> UseCaseDetail:
    from companybrain import factory

    with svc.use() as brain:
        uc = factory.usecase(brain, name)
        if not _readable(brain, caller, name):
            raise PolicyDenied(
                f"use case {name} scores {uc.entity or uc.output.object}, which {caller.principal.user} may not read",
                policy="object",
            )
        report = factory.show(brain, name)
    return UseCaseDetail.model_validate(jsonable(report))


@router.get("/{name}/predictions", response_model=Predictions, summary="Latest predictions, as the caller sees them")
def predictions(
    name: Name, caller: ReadCaller, svc: Service, limit: Annotated[int, Query(ge=1, le=1000)] = 20
) -> Predictions:
    from companybrain import factory

    with svc.use() as brain:
        uc = factory.usecase(brain, name)
        if uc.output.object:
            rows = brain.objects(uc.output.object, None, limit, caller.principal)
            return Predictions(usecase=name, output=uc.output.object, predictions=jsonable(rows))
        found = factory.top_predictions(brain, uc, caller.principal, limit=limit)
    return Predictions(usecase=name, output=f"{uc.entity}.{uc.output.property}", predictions=jsonable(found))


@router.post("/train", response_model=StepResult, summary="Train use cases (all, or those named)")
def train(
    caller: WriteCaller, svc: Service, usecase: Annotated[list[str] | None, Query(max_length=50)] = None
) -> StepResult:
    from companybrain import factory

    with svc.changing() as brain:
        return StepResult(results=jsonable(factory.train(brain, usecase)))


@router.post("/score", response_model=StepResult, summary="Score use cases with their champions")
def score(
    caller: WriteCaller, svc: Service, usecase: Annotated[list[str] | None, Query(max_length=50)] = None
) -> StepResult:
    from companybrain import factory

    with svc.changing() as brain:
        return StepResult(results=jsonable(factory.score(brain, usecase)))


@router.post("/{name}/promote", response_model=Promoted, summary="Make a version the champion, with a reason")
def promote(name: Name, body: PromoteRequest, caller: WriteCaller, svc: Service) -> Promoted:
    """A person's decision (audited as the caller): for what the backtest cannot decide, e.g. an anomaly
    use case without labels."""
    from companybrain import factory

    with svc.changing() as brain:
        result = factory.promote(brain, name, body.version, caller.principal, body.reason)
    return Promoted.model_validate(jsonable(result))


@router.post("/{name}/labels", response_model=Labelled, summary="Confirm or dismiss an anomaly score")
def label(name: Name, body: LabelRequest, caller: WriteCaller, svc: Service) -> Labelled:
    """A person's verdict on an anomaly score (audited as the caller): the label the next training
    compares a retrained version and the champion on."""
    from companybrain import factory

    with svc.changing() as brain:
        result = factory.label(brain, name, body.key, body.verdict, caller.principal, body.as_of, body.reason)
    return Labelled.model_validate({k: v for k, v in jsonable(result).items() if k in Labelled.model_fields})

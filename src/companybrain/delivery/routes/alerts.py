"""/api/v1/alerts: the caller's alert inbox (the alerts told to them, each as they were told it: computed
with their own rights) and acknowledgement."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query
from pydantic import Field

from companybrain.delivery.auth import Caller, require, service
from companybrain.delivery.models import ApiModel, jsonable, problem_responses
from companybrain.errors import NotFound

if TYPE_CHECKING:
    from companybrain.delivery.app import BrainService

router = APIRouter(prefix="/alerts", tags=["alerts"], responses=problem_responses(401, 403, 404, 422, 500, 503))
Reader = Annotated[Caller, Depends(require("read:metrics"))]
Service = Annotated["BrainService", Depends(service)]
AlertId = Annotated[str, Path(pattern=r"^al_[0-9a-f]+$", max_length=40)]


class Alert(ApiModel):
    alert_id: str
    rule: str
    key: str | None
    title: str
    message: str | None = Field(None, description="What the caller was told (computed with their rights).")
    severity: str | None = None
    status: str
    fired_at: str
    acked_at: str | None = None
    acked_by: str | None = None
    escalated_at: str | None = None
    recipients: list[str] = Field(description="Who the alert is addressed to (its audience, then its escalation).")
    extra: dict[str, Any] = Field(default_factory=dict)


def _alert(row: dict[str, Any]) -> Alert:
    known = set(Alert.model_fields) - {"extra"}
    return Alert(**{k: v for k, v in row.items() if k in known}, extra={k: v for k, v in row.items() if k not in known})


@router.get("", response_model=list[Alert], summary="The alerts addressed to the caller, newest first")
def inbox(
    caller: Reader,
    svc: Service,
    status: Annotated[Literal["open", "acked"] | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[Alert]:
    from companybrain.delivery.alerts import AlertEngine

    with svc.use() as brain:
        engine = AlertEngine(brain)
        try:
            rows = engine.addressed_to(caller.principal.user, limit, status=status)
        finally:
            engine.close()
    return [_alert(jsonable(r)) for r in rows]


@router.post("/{alert_id}/ack", response_model=Alert, summary="Acknowledge an alert addressed to the caller")
def acknowledge(alert_id: AlertId, caller: Reader, svc: Service) -> Alert:
    from companybrain.delivery.alerts import AlertEngine

    with svc.use() as brain:
        engine = AlertEngine(brain)
        try:
            user = caller.principal.user
            if alert_id not in {r["alert_id"] for r in engine.addressed_to(user, 1000)}:
                # not yours and not there read the same: nothing to learn by probing
                raise NotFound(f"no alert {alert_id} addressed to {user}")
            engine.ack(alert_id, user)
            row = next(r for r in engine.addressed_to(user, 1000) if r["alert_id"] == alert_id)
        finally:
            engine.close()
    return _alert(jsonable(row))

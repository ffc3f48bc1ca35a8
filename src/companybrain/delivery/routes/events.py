"""/api/v1/events: real-time events (telemetry, line_down, ...) posted by machines and systems.

One JSON object or a list of them per request; every event is logged in `brain.events`, then
the project's event rules run (alerts, replans). Needs the `write:events` scope.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Body, Depends
from pydantic import Field

from companybrain.delivery.auth import Caller, require, service
from companybrain.delivery.events import ingest_events
from companybrain.delivery.models import ApiModel, jsonable, problem_responses
from companybrain.errors import QueryError

if TYPE_CHECKING:
    from companybrain.delivery.app import BrainService

MAX_EVENTS = 10_000

router = APIRouter(prefix="/events", tags=["events"], responses=problem_responses(401, 403, 422, 500, 503))
EventsCaller = Annotated[Caller, Depends(require("write:events"))]
Service = Annotated["BrainService", Depends(service)]
Events = Annotated[
    dict[str, Any] | list[dict[str, Any]],
    Body(description="One event or a list; each a JSON object with a `type` (telemetry, line_down, ...)."),
]


class EventsAccepted(ApiModel):
    received: int = Field(description="Events in the request.")
    logged: int = Field(description="Events written to the event log (always all of them).")
    types: dict[str, int]
    machines_updated: int
    rescored: dict[str, int] = Field(description="Use case -> entities scored again from these events (live:).")
    alerts: int = Field(description="Alerts the events fired (their content goes to each rule's audience).")
    plans: int = Field(description="Replans the events triggered (their content goes to each rule's audience).")
    seconds: float


@router.post(
    "",
    response_model=EventsAccepted,
    summary="Log events and run the event rules",
    responses=problem_responses(400),
)
def post_events(body: Events, caller: EventsCaller, svc: Service) -> EventsAccepted:
    events = [body] if isinstance(body, dict) else body
    if len(events) > MAX_EVENTS:
        raise QueryError(f"at most {MAX_EVENTS} events per request, got {len(events)}", hint="send smaller batches")
    with svc.use() as brain:
        summary = ingest_events(brain, events, source=f"http:{caller.principal.user}")
    # the caller may only write events: what the rules computed (as their own users) goes to
    # the rules' audiences, never back to the caller
    accepted = jsonable(summary)
    accepted["alerts"], accepted["plans"] = len(accepted.get("alerts", [])), len(accepted.get("plans", []))
    return EventsAccepted.model_validate(accepted)

"""Route dependencies of the cockpit: the process's service and the signed-in viewer."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

from fastapi import Depends, Request

from companybrain.delivery.web.session import Sessions, Viewer

if TYPE_CHECKING:
    from companybrain.delivery.app import BrainService


def service(request: Request) -> BrainService:
    found: BrainService = request.app.state.service
    return found


def viewer(request: Request) -> Viewer:
    """The signed-in user (run in a worker thread: checking the token may read the warehouse)."""
    sessions: Sessions = request.app.state.cockpit_sessions
    return sessions.viewer(request, service(request))


Svc = Annotated["BrainService", Depends(service)]
Who = Annotated[Viewer, Depends(viewer)]

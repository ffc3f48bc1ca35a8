"""Probes and figures for the operator: /healthz (process up), /readyz (can serve), /metrics (Prometheus)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse, PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlglot import exp

from companybrain.delivery.auth import service
from companybrain.delivery.models import Health, Readiness
from companybrain.errors import BrainError

if TYPE_CHECKING:
    from companybrain.delivery.app import BrainService

log = logging.getLogger("companybrain.delivery")
router = APIRouter(tags=["operations"])
Service = Annotated["BrainService", Depends(service)]


@router.get("/healthz", response_model=Health, summary="The process is up")
def healthz() -> Health:
    return Health(status="ok")


@router.get(
    "/readyz",
    response_model=Readiness,
    summary="The warehouse answers and the ontology is built",
    responses={503: {"model": Readiness, "description": "Not ready: see `detail`."}},
)
def readyz(svc: Service) -> Readiness | JSONResponse:
    warehouse, version, detail = False, None, None
    try:
        with svc.use() as brain:
            brain.warehouse.scalar(exp.select(exp.Literal.number(1)))
            warehouse = True
            version = svc.data_version()
    except BrainError as exc:  # the reason goes to the log: /readyz is not authenticated
        log.warning("not ready: %s", exc.message)
        detail = "the warehouse does not answer"
    if version is None and detail is None:
        detail = "the ontology has not been built yet: run `brain ingest` then `brain build`"
    ready = Readiness(
        status="ready" if version else "not ready",
        warehouse=warehouse,
        built=version is not None,
        data_version=version,
        detail=detail,
    )
    if version is None:
        return JSONResponse(ready.model_dump(), status_code=503)
    return ready


@router.get(
    "/metrics",
    response_class=PlainTextResponse,
    summary="Request counts and latencies in the Prometheus text format",
    responses={200: {"content": {CONTENT_TYPE_LATEST.split(";")[0]: {"schema": {"type": "string"}}}}},
)
def prometheus(svc: Service) -> PlainTextResponse:
    return PlainTextResponse(generate_latest(svc.registry), media_type=CONTENT_TYPE_LATEST)

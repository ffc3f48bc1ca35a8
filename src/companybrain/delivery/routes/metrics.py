"""/api/v1/metrics: the catalog the caller may read, and metric queries (GET is the cacheable form)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

from fastapi import APIRouter, Depends, Query, Response
from fastapi.concurrency import run_in_threadpool

from companybrain.delivery.auth import Caller, require, service
from companybrain.delivery.models import MetricQueryBody, MetricsCatalog, QueryResult, jsonable, problem_responses

if TYPE_CHECKING:
    from companybrain.delivery.app import BrainService

router = APIRouter(prefix="/metrics", tags=["metrics"], responses=problem_responses(401, 403, 422, 500, 503))
MetricsCaller = Annotated[Caller, Depends(require("read:metrics"))]
Service = Annotated["BrainService", Depends(service)]


@router.get("", response_model=MetricsCatalog, summary="The metrics and dimensions the caller may read")
def list_metrics(caller: MetricsCaller, svc: Service) -> MetricsCatalog:
    with svc.use() as brain:
        catalog = brain.metrics_catalog(caller.principal)
    return MetricsCatalog.model_validate(jsonable(catalog))


@router.post("/query", response_model=QueryResult, summary="Run a metric query", responses=problem_responses(400, 404))
def post_query(body: MetricQueryBody, caller: MetricsCaller, svc: Service) -> QueryResult:
    result, cached = svc.query(body.to_query(), caller.principal)
    return QueryResult.of(result, cached)


@router.get(
    "/query",
    response_model=QueryResult,
    summary="Run a metric query given in the URL (cacheable)",
    responses=problem_responses(400, 404),
)
async def get_query(
    caller: MetricsCaller,
    svc: Service,
    response: Response,
    metric: Annotated[list[str], Query(min_length=1, max_length=50, description="A metric (repeat).")],
    by: Annotated[list[str], Query(max_length=20, description="A dimension, time grain or Type.property.")] = [],  # noqa: B006
    where: Annotated[str | None, Query(max_length=2000, description="Filter, e.g. region = 'EMEA'.")] = None,
    period: Annotated[str | None, Query(max_length=100, description="2025-Q4, 2025-03, ytd, A..B, ...")] = None,
    order_by: Annotated[list[str], Query(max_length=20, description="Sort by a name; -name descends.")] = [],  # noqa: B006
    limit: Annotated[int | None, Query(ge=1, le=100_000)] = None,
) -> QueryResult:
    body = MetricQueryBody(metrics=metric, by=by, where=where, period=period, order_by=order_by, limit=limit)
    query = body.to_query()
    # a cached answer is served on the event loop; computing one runs in a worker thread
    hit = svc.cached(query, caller.principal)
    result, cached = (hit, True) if hit is not None else await run_in_threadpool(svc.query, query, caller.principal)
    response.headers["Cache-Control"] = "private, max-age=0, must-revalidate"
    return QueryResult.of(result, cached)

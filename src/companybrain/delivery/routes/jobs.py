"""/api/v1/jobs: land the sources and build the objects while the service serves (scope `admin:data`).

A job runs beside the reads, on a warehouse connection of its own; readers see the last committed
build until the new one commits (delivery/jobs.py). `POST` answers 202 with the job at once; `GET
/jobs/{id}?wait=30` answers when it is done (or after 30 s); `result` is what `brain ingest` or
`brain build` print with `--format json`. The brain CLI sends its work here when the service holds
the embedded warehouse, with the service's local secret (delivery/local.py).
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from pydantic import Field, StrictBool

from companybrain.delivery.auth import Operator, operator, service
from companybrain.delivery.models import ApiModel, problem_responses

if TYPE_CHECKING:
    from companybrain.delivery.app import BrainService
    from companybrain.delivery.jobs import Job

router = APIRouter(prefix="/jobs", tags=["jobs"], responses=problem_responses(401, 403, 422, 500, 503))
Admin = Annotated[Operator, Depends(operator)]
Service = Annotated["BrainService", Depends(service)]
SourceName = Annotated[str, Field(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9_\-]+(\.[A-Za-z0-9_\-]+)?$")]
MAX_WAIT_SECONDS = 60


class IngestJobBody(ApiModel):
    """Which sources to land, and whether to build afterwards."""

    sources: list[SourceName] | None = Field(
        None, max_length=500, description="`source` or `source.table` names; every source when absent."
    )
    build: StrictBool = Field(False, description="Then build the objects, when the load landed rows.")


class BuildJobBody(ApiModel):
    """What to build."""

    full: StrictBool = Field(False, description="Rebuild every object type, changed or not.")
    factory: StrictBool = Field(True, description="Then train and score the use cases that are due.")


class JobError(ApiModel):
    type: str = Field(description="The problem slug of the error (as the API's problems).")
    status: int = Field(description="The HTTP status the error maps to.")
    message: str
    hint: str | None


class JobInfo(ApiModel):
    """A job and, once done, its result (ok) or error (failed)."""

    job_id: int
    kind: Literal["ingest", "build"]
    status: Literal["queued", "running", "ok", "failed"]
    trigger: Literal["request", "schedule"]
    requested_by: str
    params: dict[str, Any]
    queued_at: str
    started_at: str | None
    finished_at: str | None
    result: dict[str, Any] | None = Field(description="What `brain ingest|build --format json` prints.")
    error: JobError | None


def _info(job: Job, who: Operator) -> JobInfo:
    return JobInfo.model_validate(job.as_dict(full_error=who.local))


def _accepted(job: Job, who: Operator, request: Request, response: Response) -> JobInfo:
    jobs_path = request.url.path.rsplit("/", 1)[0]  # /api/v1/jobs, wherever the router is mounted
    response.headers["Location"] = f"{jobs_path}/{job.job_id}"
    return _info(job, who)


@router.post(
    "/ingest",
    status_code=202,
    response_model=JobInfo,
    summary="Land the sources (a job)",
    responses=problem_responses(409),
)
def ingest(body: IngestJobBody, who: Admin, svc: Service, request: Request, response: Response) -> JobInfo:
    params = {"sources": body.sources, "build": body.build}
    return _accepted(svc.jobs.submit("ingest", params, who.via), who, request, response)


@router.post(
    "/build",
    status_code=202,
    response_model=JobInfo,
    summary="Build the objects (a job)",
    responses=problem_responses(409),
)
def build(body: BuildJobBody, who: Admin, svc: Service, request: Request, response: Response) -> JobInfo:
    params = {"full": body.full, "factory": body.factory}
    return _accepted(svc.jobs.submit("build", params, who.via), who, request, response)


@router.get("", response_model=list[JobInfo], summary="The latest jobs, newest first")
def list_jobs(who: Admin, svc: Service, limit: Annotated[int, Query(ge=1, le=100)] = 20) -> list[JobInfo]:
    return [_info(job, who) for job in svc.jobs.recent(limit)]


@router.get("/{job_id:int}", response_model=JobInfo, summary="One job", responses=problem_responses(404))
async def get_job(
    job_id: Annotated[int, Path(ge=1, le=2**31 - 1)],
    who: Admin,
    svc: Service,
    wait: Annotated[
        float, Query(ge=0, le=MAX_WAIT_SECONDS, description="Answer when the job is done, or after this many seconds.")
    ] = 0,
) -> JobInfo:
    job = svc.jobs.get(job_id)
    deadline = time.monotonic() + wait
    while not job.done.is_set() and time.monotonic() < deadline:  # on the event loop: no thread waits
        await asyncio.sleep(0.05)
    return _info(job, who)

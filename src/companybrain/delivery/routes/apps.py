"""/api/v1/apps: the apps (apps/*.yaml) the caller may open, each app's worklist as JSON, and proposing one of
its actions from a row.

The worklist is the one the cockpit draws (companybrain/apps/worklist.py), read as the caller: their row
filters pick the rows, columns hidden from them are left out (and named), and a sort key, filter or field
that is not one of the app's own is refused with those that are.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import Field

from companybrain.delivery.auth import Caller, require, service
from companybrain.delivery.models import ApiModel, jsonable, problem_responses
from companybrain.errors import QueryError

if TYPE_CHECKING:
    from companybrain.delivery.app import BrainService

router = APIRouter(prefix="/apps", tags=["apps"], responses=problem_responses(400, 401, 403, 404, 422, 500, 503))
Reader = Annotated[Caller, Depends(require("read:objects"))]
Writer = Annotated[Caller, Depends(require("write:actions"))]
Service = Annotated["BrainService", Depends(service)]
Name = Annotated[str, Path(pattern=r"^[a-z][a-z0-9_]*$", max_length=48)]
FILTER = "filter."
OWN_PARAMS = {"sort", "limit", "charts"}


class AppInfo(ApiModel):
    name: str
    title: str
    description: str
    object: str
    usecase: str | None
    href: str = Field(description="The app's worklist in this API.")


class Worklist(ApiModel):
    name: str
    title: str
    description: str
    object: str
    key: str
    rank: dict[str, Any]
    columns: list[str] = Field(description="The columns the caller sees, in order.")
    hidden_columns: list[str] = Field(description="The app's columns hidden from the caller's roles.")
    sort: str
    filters: dict[str, Any]
    filter_columns: list[str] = Field(description="Columns the caller may filter by: ?filter.<column>=value.")
    matching: int = Field(description="Rows the caller sees that match, before the limit.")
    tiles: list[dict[str, Any]] = Field(description="Per threshold of the use case: how many score at or above it.")
    rows: list[dict[str, Any]]
    actions: list[dict[str, Any]] = Field(description="What the caller may propose from a row.")
    charts: list[dict[str, Any]] | None = None


class ProposeFromRow(ApiModel):
    action_type: str = Field(min_length=1, max_length=64)
    key: str = Field(min_length=1, max_length=200, description="The row's object key.")
    fields: dict[str, str] = Field(default_factory=dict, max_length=50, description="The fields a person fills in.")
    submission: str | None = Field(None, min_length=8, max_length=100)


@router.get("", response_model=list[AppInfo], summary="The apps the caller may open")
def list_apps(caller: Reader, svc: Service) -> list[AppInfo]:
    from companybrain.apps.worklist import open_apps, title

    return [
        AppInfo(
            name=a.name,
            title=title(a),
            description=a.description,
            object=a.object,
            usecase=a.usecase,
            href=f"/api/v1/apps/{a.name}",
        )
        for a in open_apps(svc.brain, caller.principal)
    ]


@router.get("/{name}", response_model=Worklist, summary="An app's worklist, as the caller may see it")
def get_worklist(
    name: Name,
    request: Request,
    caller: Reader,
    svc: Service,
    sort: Annotated[str | None, Query(max_length=64, description="A column; -column for descending.")] = None,
    limit: Annotated[int | None, Query(ge=1, le=500)] = None,
    charts: Annotated[bool, Query(description="Add the app's charts.")] = False,
) -> Worklist:
    from companybrain.apps import worklist as wl

    params = request.query_params
    unknown = [k for k in params if k not in OWN_PARAMS and not k.startswith(FILTER)]
    if unknown:
        raise QueryError(f"unknown parameter {unknown[0][:60]!r}; use sort, limit, charts or filter.<column>")
    filters = {k[len(FILTER) :]: v for k, v in params.items() if k.startswith(FILTER)}
    with svc.use() as brain:
        app = wl.find_app(brain.project, name)
        asked = wl.parse_asked(brain.project, app, caller.principal, sort, filters, limit)
        found = wl.worklist(brain, app, caller.principal, asked)
        if charts:
            found["charts"] = wl.charts(brain, app, caller.principal, asked)
    for row in found["rows"]:
        row["href"] = f"/api/v1/objects/{found['object']}/{row['key']}"
    return Worklist.model_validate(jsonable(found))


@router.post(
    "/{name}/propose",
    response_model=list[dict[str, Any]],
    summary="Propose one of the app's actions from a row",
    responses=problem_responses(409),
)
def propose(name: Name, body: ProposeFromRow, caller: Writer, svc: Service) -> list[dict[str, Any]]:
    from companybrain.apps import worklist as wl

    with svc.use() as brain:
        app = wl.find_app(brain.project, name)
        rows = wl.propose_from_row(
            brain, app, caller.principal, body.action_type, body.key, dict(body.fields), body.submission
        )
    result: list[dict[str, Any]] = jsonable(rows)
    return result

"""/api/v1/objects: search, count and fetch objects of a type, as the caller may see them."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

from fastapi import APIRouter, Depends, Query

from companybrain.delivery.auth import Caller, require, service
from companybrain.delivery.models import ObjectCount, ObjectDetail, ObjectList, jsonable, problem_responses

if TYPE_CHECKING:
    from companybrain.delivery.app import BrainService

router = APIRouter(prefix="/objects", tags=["objects"], responses=problem_responses(400, 401, 403, 404, 422, 500, 503))
ObjectsCaller = Annotated[Caller, Depends(require("read:objects"))]
Service = Annotated["BrainService", Depends(service)]
Where = Annotated[str | None, Query(max_length=2000, description="Filter on properties, e.g. region = 'EMEA'.")]


@router.get("/{object_type}", response_model=ObjectList, summary="Objects of a type")
def search_objects(
    object_type: str,
    caller: ObjectsCaller,
    svc: Service,
    where: Where = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 20,
) -> ObjectList:
    with svc.use() as brain:
        found = brain.objects(object_type, where, limit, caller.principal)
    return ObjectList(type=object_type, objects=jsonable(found))


@router.get("/{object_type}/count", response_model=ObjectCount, summary="How many objects of a type the caller sees")
def count_objects(object_type: str, caller: ObjectsCaller, svc: Service, where: Where = None) -> ObjectCount:
    with svc.use() as brain:
        count = brain.count_objects(object_type, where, caller.principal)
    return ObjectCount(type=object_type, where=where, count=count)


@router.get("/{object_type}/{key}", response_model=ObjectDetail, summary="One object with its links")
def get_object(object_type: str, key: str, caller: ObjectsCaller, svc: Service) -> ObjectDetail:
    with svc.use() as brain:
        found = brain.object(object_type, key, caller.principal)
    return ObjectDetail.model_validate(jsonable(found))

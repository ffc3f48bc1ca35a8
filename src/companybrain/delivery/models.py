"""The API's response and request models: the public contract, kept apart from the domain dataclasses."""

from __future__ import annotations

import datetime as dt
import decimal
import math
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt

from companybrain.semantic.query import MetricQuery, Result


class ApiModel(BaseModel):
    """Unknown keys are an error. Request bodies type booleans and numbers strictly (StrictBool, StrictInt,
    StrictFloat): a JSON 0 is not false, true is not 1 and "5" is not 5."""

    model_config = ConfigDict(extra="forbid")


class Problem(ApiModel):
    """An RFC 9457 problem: what went wrong, with the request id to quote."""

    type: str = Field(description="urn:companybrain:problem:<slug>")
    title: str
    status: int
    detail: str
    instance: str = Field(description="The request path.")
    request_id: str
    hint: str | None = Field(None, description="What to do next.")
    policy: str | None = Field(None, description="The policy that denied the read (403 policy-denied).")
    errors: list[dict[str, Any]] | None = Field(None, description="Each invalid part of the request (422).")


# --- health -------------------------------------------------------------------------------------


class Health(ApiModel):
    status: Literal["ok"]


class Readiness(ApiModel):
    status: Literal["ready", "not ready"]
    warehouse: bool = Field(description="The warehouse answered a query.")
    built: bool = Field(description="The ontology has a successful build.")
    data_version: str | None = None
    detail: str | None = None


# --- metrics ------------------------------------------------------------------------------------


class MetricInfo(ApiModel):
    name: str
    description: str
    synonyms: list[str]
    object: str | None
    derived: bool
    expr: str
    where: str | None
    format: str
    unit: str | None
    on: list[str] = Field(description="The object types it is computed from.")


class DimensionInfo(ApiModel):
    name: str
    description: str
    synonyms: list[str]
    object: str
    expr: str


class MetricsCatalog(ApiModel):
    """The metrics and dimensions the caller may read."""

    metrics: list[MetricInfo]
    dimensions: list[DimensionInfo]
    time_grains: list[str]


class MetricQueryBody(ApiModel):
    """A metric query: metrics by dimensions, filtered, over a period, ordered and cut."""

    metrics: list[str] = Field(min_length=1, max_length=50, examples=[["revenue", "orders"]])
    by: list[str] = Field(default_factory=list, max_length=20, examples=[["region"]])
    where: str | None = Field(None, max_length=2000, examples=["region = 'EMEA'"])
    period: str | None = Field(None, max_length=100, examples=["2025-Q4"])
    order_by: list[str] = Field(default_factory=list, max_length=20, description="Names; a leading '-' descends.")
    limit: StrictInt | None = Field(None, ge=1, le=100_000)

    def to_query(self) -> MetricQuery:
        return MetricQuery(
            tuple(self.metrics), tuple(self.by), self.where, self.period, tuple(self.order_by), self.limit
        )


class QueryResult(ApiModel):
    """Rows with their evidence: the SQL that ran, freshness, the policy that applied."""

    columns: list[str]
    rows: list[list[Any]]
    sql: str
    freshness: dict[str, Any]
    policy: dict[str, Any]
    definitions: dict[str, Any]
    period: dict[str, str] | None
    notes: list[str]
    seconds: float = Field(description="Time to compute the result (the first time, when cached).")
    cached: bool = Field(description="Served from the service's result cache for this user and data version.")

    @classmethod
    def of(cls, result: Result, cached: bool) -> QueryResult:
        body = jsonable(result.as_dict())
        return cls(**body, cached=cached)


# --- objects ------------------------------------------------------------------------------------


class ObjectList(ApiModel):
    type: str
    objects: list[dict[str, Any]] = Field(description="Properties by name; masked ones read ***.")


class ObjectCount(ApiModel):
    type: str
    where: str | None
    count: int


class ObjectDetail(ApiModel):
    type: str
    key: Any
    properties: dict[str, Any]
    masked: list[str] = Field(description="Properties masked for the caller.")
    links: dict[str, Any] = Field(description="Linked objects by link name; denied ones say so.")


# --- audit --------------------------------------------------------------------------------------


class AuditRecord(ApiModel):
    seq: int
    at: str
    user_name: str
    roles: str | None
    purpose: str | None
    action: str
    request: str | None
    sql: str | None
    row_count: int | None
    data_version: str | None
    outcome: str
    prev_hash: str
    hash: str


class AuditTail(ApiModel):
    records: list[AuditRecord]


def jsonable(value: Any) -> Any:
    """Warehouse values as JSON: decimals as numbers, dates as ISO text, bytes as hex."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, float) and not math.isfinite(value):  # NaN and infinity have no JSON form
        return None
    return value


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The OpenAPI entries of the problems a route may answer with (moved to application/problem+json)."""
    return {status: {"model": Problem} for status in statuses}

"""The one query path's request and answer: MetricQuery in, Result out."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class MetricQuery:
    """Metrics, broken down by dimensions, filtered, over a period; optionally ordered and cut."""

    metrics: tuple[str, ...]
    by: tuple[str, ...] = ()
    where: str | None = None
    period: str | None = None
    order_by: tuple[str, ...] = ()  # names; a leading '-' sorts descending
    limit: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "metrics": list(self.metrics),
            "by": list(self.by),
            "where": self.where,
            "period": self.period,
            "order_by": list(self.order_by),
            "limit": self.limit,
        }


@dataclass
class Result:
    """Rows with their evidence: the SQL that ran, how fresh the data is, which policy applied."""

    columns: list[str]
    rows: list[list[Any]]
    sql: str
    freshness: dict[str, Any] = field(default_factory=dict)
    policy: dict[str, Any] = field(default_factory=dict)
    definitions: dict[str, Any] = field(default_factory=dict)
    period: dict[str, str] | None = None
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "columns": self.columns,
            "rows": self.rows,
            "sql": self.sql,
            "freshness": self.freshness,
            "policy": self.policy,
            "definitions": self.definitions,
            "period": self.period,
            "notes": self.notes,
            "seconds": round(self.seconds, 4),
        }

    def records(self) -> list[dict[str, Any]]:
        return [dict(zip(self.columns, row, strict=True)) for row in self.rows]

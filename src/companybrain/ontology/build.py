"""Materialize the object types: stage every table, check the contracts, then swap atomically."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlglot import exp

from companybrain.errors import ContractFailed, WarehouseError
from companybrain.ontology.contracts import ContractResult, run_contracts
from companybrain.ontology.model import NEXT, SCHEMA, link_query, link_table, materialize_query, object_table
from companybrain.project import Project
from companybrain.sources.load_log import META
from companybrain.warehouse.base import Warehouse
from companybrain.warehouse.ddl import (
    count_rows,
    create_table,
    create_table_as,
    drop_table,
    insert_values,
    rename_table,
    table,
)

BUILDS = table(META, "builds")
BUILD_COLUMNS = {
    "build_id": "integer",
    "started_at": "timestamp",
    "seconds": "float",
    "status": "string",
    "objects": "integer",
    "rows": "integer",
    "contracts_passed": "integer",
    "contracts_failed": "integer",
    "message": "string",
}

Progress = Callable[[str, int, int], None]


@dataclass
class BuildReport:
    status: str
    seconds: float
    objects: dict[str, int]
    contracts: list[ContractResult] = field(default_factory=list)
    message: str | None = None

    @property
    def blocking_failures(self) -> list[ContractResult]:
        return [c for c in self.contracts if not c.passed and c.severity == "blocking"]

    def as_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "seconds": self.seconds,
            "objects": self.objects,
            "contracts": {
                "passed": sum(c.passed for c in self.contracts),
                "failed": sum(not c.passed for c in self.contracts),
                "results": [asdict(c) for c in self.contracts if not c.passed],
            },
            "message": self.message,
        }


def build(project: Project, wh: Warehouse, progress: Progress | None = None) -> BuildReport:
    """Rebuild every object type; keep the last good version if a blocking contract fails."""
    started_at = datetime.now(UTC).replace(tzinfo=None)
    started = time.perf_counter()
    wh.ensure_schema(SCHEMA)
    wh.ensure_schema(META)
    wh.execute(create_table(BUILDS, BUILD_COLUMNS))
    _drop_staged(wh)
    objects = project.objects
    counts: dict[str, int] = {}
    try:
        for i, (name, obj) in enumerate(objects.items()):
            staged = object_table(name, staged=True)
            wh.execute(create_table_as(staged, materialize_query(obj)))
            for link_name, link in obj.links.items():
                if link.through:
                    wh.execute(create_table_as(link_table(name, link_name, staged=True), link_query(obj, link_name)))
            counts[name] = int(wh.scalar(count_rows(staged)) or 0)
            if progress:
                progress(name, i + 1, len(objects))
    except WarehouseError as exc:
        _drop_staged(wh)
        raise WarehouseError(f"build failed while materializing {name}: {exc.message}", hint=_HINT) from None
    results = run_contracts(wh, objects, staged=True)
    report = BuildReport("ok", 0.0, counts, results)
    if report.blocking_failures:
        _drop_staged(wh)
        report.status = "failed"
        report.message = "; ".join(f"{c.object} {c.contract}({c.target}): {c.detail}" for c in report.blocking_failures)
        report.seconds = round(time.perf_counter() - started, 3)
        _record(wh, report, started_at)
        raise ContractFailed(
            f"{len(report.blocking_failures)} blocking contract(s) failed; the previous objects were kept:\n  "
            + report.message.replace("; ", "\n  "),
            hint="run `brain contracts` after fixing the source data or the contract",
        )
    with wh.transaction():
        for name in wh.list_tables(SCHEMA):
            if name.startswith(NEXT):
                live = table(SCHEMA, name[len(NEXT) :])
                wh.execute(drop_table(live))
                wh.execute(rename_table(table(SCHEMA, name), live.name))
        report.seconds = round(time.perf_counter() - started, 3)
        _record(wh, report, started_at)
    return report


_HINT = "check the object's source, sql and property expressions in ontology/, then `brain check`"


def _drop_staged(wh: Warehouse) -> None:
    for name in wh.list_tables(SCHEMA):
        if name.startswith(NEXT):
            wh.execute(drop_table(table(SCHEMA, name)))


def _record(wh: Warehouse, report: BuildReport, started_at: datetime) -> None:
    top = wh.scalar(exp.select(exp.func("max", exp.column("build_id"))).from_(BUILDS))
    row = {
        "build_id": int(top or 0) + 1,
        "started_at": started_at.strftime("%Y-%m-%d %H:%M:%S.%f"),
        "seconds": report.seconds,
        "status": report.status,
        "objects": len(report.objects),
        "rows": sum(report.objects.values()),
        "contracts_passed": sum(c.passed for c in report.contracts),
        "contracts_failed": sum(not c.passed for c in report.contracts),
        "message": report.message,
    }
    wh.execute(insert_values(BUILDS, row))

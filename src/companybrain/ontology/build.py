"""Materialize the object types: stage every table, check the contracts, then swap atomically."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

import sqlglot
from sqlglot import exp

from companybrain.errors import ConfigError, ContractFailed, Location, NotFound, WarehouseError, did_you_mean
from companybrain.ontology.contracts import ContractResult, run_contracts
from companybrain.ontology.model import (
    BRAIN_SCHEMAS,
    NEXT,
    SCHEMA,
    brain_tables,
    link_query,
    link_table,
    materialize_query,
    object_table,
    raw_ref,
)
from companybrain.project import Project
from companybrain.sources import load_log
from companybrain.sources.load_log import LOAD_ID_COLUMN, META
from companybrain.specs.ontology import SPEC_DIALECT, ObjectType, parse_expression
from companybrain.warehouse.base import Warehouse
from companybrain.warehouse.ddl import (
    col,
    count_rows,
    create_table,
    create_table_as,
    drop_table,
    insert_select,
    insert_values,
    rename_table,
    table,
)

BUILDS = table(META, "builds")
VERSIONS = table(META, "object_versions")
VERSION_COLUMNS = {"object_type": "string", "definition": "string", "input_version": "integer"}
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
    rebuilt: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)

    @property
    def blocking_failures(self) -> list[ContractResult]:
        return [c for c in self.contracts if not c.passed and c.severity == "blocking"]

    def as_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "seconds": self.seconds,
            "objects": self.objects,
            "rebuilt": self.rebuilt,
            "updated": self.updated,
            "contracts": {
                "passed": sum(c.passed for c in self.contracts),
                "failed": sum(not c.passed for c in self.contracts),
                "results": [asdict(c) for c in self.contracts if not c.passed],
            },
            "message": self.message,
        }


def build(project: Project, wh: Warehouse, progress: Progress | None = None, full: bool = False) -> BuildReport:
    """Bring the objects up to date with the raw layer, all in one transaction.

    An object type whose definition changed (or every type, with `full`) is rebuilt into a staged
    table and swapped in; one whose only change is new or updated rows in an incremental SQL
    source gets just those rows replaced; the others are left alone. Contracts run on the result
    before the commit: a blocking failure rolls everything back, so the last good version stays.
    """
    started_at = datetime.now(UTC).replace(tzinfo=None)
    started = time.perf_counter()
    wh.ensure_schema(SCHEMA)
    wh.ensure_schema(META)
    wh.execute(create_table(BUILDS, BUILD_COLUMNS))
    wh.execute(create_table(VERSIONS, VERSION_COLUMNS))
    _drop_staged(wh)
    objects = project.objects
    for t, columns in brain_tables(objects).items():
        wh.ensure_table(t, columns)
    wanted = _versions(project, wh)
    built = {r["object_type"]: r for r in wh.query_arrow(exp.select("*").from_(VERSIONS)).to_pylist()}
    live = set(wh.list_tables(SCHEMA))
    plan: dict[str, str] = {}  # object type -> "rebuild" | "update"
    for name in objects:
        was = built.get(name)
        if (
            full
            or object_table(name).name not in live
            or was is None
            or was["definition"] != wanted[name]["definition"]
        ):
            plan[name] = "rebuild"
        elif was["input_version"] != wanted[name]["input_version"]:
            plan[name] = "update" if _upsert_only(project, objects[name]) else "rebuild"
    _require_inputs(wh, objects, plan)
    missing = raw_column_problems(project, wh, plan)
    if missing:
        raise ConfigError(missing)
    counts: dict[str, int] = {}
    report = BuildReport(
        "ok",
        0.0,
        counts,
        rebuilt=[n for n, how in plan.items() if how == "rebuild"],
        updated=[n for n, how in plan.items() if how == "update"],
    )
    try:
        with wh.transaction():
            for i, (name, how) in enumerate(plan.items()):
                obj = objects[name]
                try:
                    if how == "rebuild":
                        _stage(wh, name, obj)
                    else:
                        _update_changed_rows(wh, name, obj, int(built[name]["input_version"]))
                except WarehouseError as exc:
                    raise WarehouseError(
                        f"build failed while materializing {name}: {exc.message}", hint=_HINT
                    ) from None
                if progress:
                    progress(name, i + 1, len(plan))
            staged = set(report.rebuilt)
            report.contracts = run_contracts(wh, objects, staged=staged, changed=set(plan))
            for name in objects:
                counts[name] = int(wh.scalar(count_rows(object_table(name, name in staged))) or 0)
            if report.blocking_failures:
                report.status = "failed"
                report.message = "; ".join(
                    f"{c.object} {c.contract}({c.target}): {c.detail}" for c in report.blocking_failures
                )
                raise ContractFailed(
                    f"{len(report.blocking_failures)} blocking contract(s) failed; the previous objects were kept:\n  "
                    + report.message.replace("; ", "\n  "),
                    hint="run `brain contracts` after fixing the source data or the contract",
                )
            for name in staged:
                for staged_name in [object_table(name, True).name, *_link_tables(name, objects[name], staged=True)]:
                    live_name = staged_name[len(NEXT) :]
                    wh.execute(drop_table(table(SCHEMA, live_name)))
                    wh.execute(rename_table(table(SCHEMA, staged_name), live_name))
            for name in plan:
                wh.analyze(object_table(name))
                wh.execute(exp.delete(VERSIONS, where=exp.column("object_type").eq(exp.Literal.string(name))))
                wh.execute(insert_values(VERSIONS, {"object_type": name, **wanted[name]}))
            report.seconds = round(time.perf_counter() - started, 3)
            _record(wh, report, started_at)
    except ContractFailed:
        report.seconds = round(time.perf_counter() - started, 3)
        _record(wh, report, started_at)
        raise
    return report


def _stage(wh: Warehouse, name: str, obj: ObjectType) -> None:
    wh.execute(create_table_as(object_table(name, staged=True), materialize_query(obj)))
    for link_name, link in obj.links.items():
        if link.through:
            wh.execute(create_table_as(link_table(name, link_name, staged=True), link_query(obj, link_name)))


def _link_tables(name: str, obj: ObjectType, staged: bool) -> list[str]:
    return [link_table(name, ln, staged).name for ln, link in obj.links.items() if link.through]


def _update_changed_rows(wh: Warehouse, name: str, obj: ObjectType, since: int) -> None:
    """Replace the objects whose raw rows were written by a load after `since`."""
    changed = materialize_query(obj).where(exp.column(LOAD_ID_COLUMN) > exp.Literal.number(since))
    key = col(obj.key)
    target = object_table(name)
    wh.execute(exp.delete(target, where=key.isin(query=exp.select(key).from_(changed.subquery("changed")))))
    wh.execute(insert_select(target, list(obj.properties), changed))


def _upsert_only(project: Project, obj: ObjectType) -> bool:
    """True when the object maps one raw table that only ever gains or updates rows (a SQL table
    with a cursor): then the changed rows are exactly those of the loads since the last build."""
    if obj.source is None or any(link.through for link in obj.links.values()):
        return False
    for source in project.spec.sources:
        for t in source.tables:
            if f"raw.{source.name}__{t.name}" == obj.source:
                return source.type == "sql" and t.cursor is not None and (t.mode or "incremental") == "incremental"
    return False


def _require_inputs(wh: Warehouse, objects: dict[str, ObjectType], plan: dict[str, str]) -> None:
    present = {f"{schema}.{t}" for schema in ("raw", *BRAIN_SCHEMAS) for t in wh.list_tables(schema)}
    missing = {name: sorted(inputs_of(objects[name]) - present) for name in plan}
    listed = "; ".join(f"{name} needs {', '.join(tables)}" for name, tables in missing.items() if tables)
    if listed:
        raise NotFound(f"cannot build: raw tables not loaded yet ({listed})", hint="run `brain ingest` first")


def raw_column_problems(
    project: Project, wh: Warehouse, names: Iterable[str] | None = None
) -> list[tuple[Location, str]]:
    """Where an object type (all, or those `names`) mapped from a raw table reads a column that table does
    not have: the ontology file and line, the column and what to do. Tables not loaded yet are skipped."""
    columns: dict[str, list[str] | None] = {}

    def columns_of(ref: str) -> list[str] | None:
        if ref not in columns:
            schema = wh.table_schema(raw_ref(ref)) if ref.partition(".")[0] == "raw" else None
            columns[ref] = None if schema is None else list(schema.names)
        return columns[ref]

    problems: list[tuple[Location, str]] = []
    for name in project.objects if names is None else names:
        obj = project.objects[name]
        for ref, path, wanted in _columns_read(obj):
            have = columns_of(ref)
            lowered = {c.lower() for c in have or ()}
            for column in wanted:
                if have is None or column.lower() in lowered:  # DuckDB's names ignore case
                    continue
                what = ".".join([name, *path[1:]] if path[0] == "properties" else [name, *path])
                msg = f"{what} reads column {column!r}, which {ref} does not have ({did_you_mean(column, have)})"
                msg += "; map it to a column the table has (`column:` or `expr:`), or bring the column back"
                msg += " in the source and `brain ingest`"
                problems.append((project.locate("objects", name, *path), msg))
    return problems


def _columns_read(obj: ObjectType) -> Iterator[tuple[str, tuple[str, ...], list[str]]]:
    """(raw table, where in the declaration, the columns read there) of an object type."""
    if obj.source is not None and obj.sql is None:
        for prop_name, prop in obj.properties.items():
            if prop.predicted_by is None:
                wanted = _expression_columns(prop.expr) if prop.expr else [prop.column or prop_name]
                yield obj.source, ("properties", prop_name), wanted
        if obj.where:
            yield obj.source, ("where",), _expression_columns(obj.where)
    for link_name, link in obj.links.items():
        if link.through and link.from_column and link.to_column:
            yield link.through, ("links", link_name, "from_column"), [link.from_column]
            yield link.through, ("links", link_name, "to_column"), [link.to_column]


def _expression_columns(text: str) -> list[str]:
    """The plain column names an expression reads; none when it has a subquery or a lambda, whose names
    may be their own."""
    tree = parse_expression(text)
    if tree.find(exp.Query, exp.Lambda):
        return []
    return sorted({c.name for c in tree.find_all(exp.Column) if not c.table})


def inputs_of(obj: ObjectType) -> set[str]:
    """The raw tables an object type is built from (its source or sql, and its link tables)."""
    found = {obj.source} if obj.source else set()
    if obj.sql:
        for t in sqlglot.parse_one(obj.sql, dialect=SPEC_DIALECT).find_all(exp.Table):
            if t.db:
                found.add(f"{t.db}.{t.name}")
    found |= {link.through for link in obj.links.values() if link.through}
    return found


def _versions(project: Project, wh: Warehouse) -> dict[str, dict[str, Any]]:
    """What each object type would be built from now: its definition and its inputs' last change."""
    load_log.ensure_tables(wh)
    changed = wh.query_arrow(
        exp.select(
            exp.column("source"), exp.column("table_name"), exp.func("max", exp.column("load_id")).as_("load_id")
        )
        .from_(load_log.LOAD_LOG)
        .where(exp.and_(exp.column("status").eq(exp.Literal.string("ok")), exp.column("rows_loaded") > 0))
        .group_by(exp.column("source"), exp.column("table_name"))
    ).to_pylist()
    last = {f"raw.{r['source']}__{r['table_name']}": int(r["load_id"]) for r in changed}
    return {
        name: {
            "definition": definition_digest(obj),
            "input_version": max((last.get(t, 0) for t in inputs_of(obj)), default=0),
        }
        for name, obj in project.objects.items()
    }


def definition_digest(obj: ObjectType) -> str:
    """What a built type is recorded with: a changed definition is rebuilt by the next build."""
    return hashlib.sha256(obj.model_dump_json().encode()).hexdigest()


def changed_since_built(project: Project, wh: Warehouse) -> list[str]:
    """The object types declared otherwise (ontology/, or actions/ for decisions) than last built, or not
    built yet, once something was built."""
    if "object_versions" not in wh.list_tables(VERSIONS.db):
        return []
    built = {r["object_type"]: r["definition"] for r in wh.query_arrow(exp.select("*").from_(VERSIONS)).to_pylist()}
    return sorted(n for n, obj in project.objects.items() if built.get(n) != definition_digest(obj))


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

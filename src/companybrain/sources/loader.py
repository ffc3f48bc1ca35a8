"""Land sources in the raw layer: incremental, idempotent, atomic, logged, bad rows quarantined."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from sqlglot import exp

from companybrain.errors import BrainError, ConnectorError, SchemaDriftError
from companybrain.project import Project
from companybrain.sources import load_log
from companybrain.sources.base import Connector, Extract, Rejected
from companybrain.sources.files import FILE_COLUMN, FileConnector
from companybrain.sources.load_log import LOAD_ID_COLUMN
from companybrain.sources.sql import SqlConnector
from companybrain.sources.validate import INTERNAL, check_rows
from companybrain.specs.project import FileSource, SourceTable, SqlSource
from companybrain.warehouse.base import Warehouse
from companybrain.warehouse.ddl import (
    add_column,
    col,
    count_rows,
    drop_table,
    insert_select,
    literal,
    rename_table,
    table,
)
from companybrain.warehouse.types import logical_type, normalize_arrow

Progress = Callable[[str, int], None]
SAMPLE_ROWS = 100  # bad rows of a load that failed on max_quarantined kept in the quarantine, to look at


class QuarantineLimit(BrainError):
    """A load quarantined more of what it read than its table's `max_quarantined` allows: nothing of it
    was written, the previous state (rows, cursor, files) stays, and a sample of the bad rows is kept."""

    def __init__(self, message: str, *, hint: str, sample: list[Rejected]) -> None:
        super().__init__(message, hint=hint)
        self.sample = sample


@dataclass
class TableLoad:
    source: str
    table: str
    status: str = "ok"  # ok | unchanged | failed
    rows_read: int = 0
    rows_loaded: int = 0
    rows_quarantined: int = 0
    seconds: float = 0.0
    added_columns: list[str] = field(default_factory=list)
    message: str | None = None


@dataclass
class SourceLoad:
    name: str
    status: str
    rows_loaded: int
    rows_quarantined: int
    seconds: float
    tables: list[TableLoad]
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def open_connector(project: Project, spec: SqlSource | FileSource) -> Connector:
    from companybrain.project import expand_env

    if isinstance(spec, SqlSource):
        return SqlConnector(spec, expand_env(spec.url), project.root)
    return FileConnector(spec, project.resolve_path(spec.path))


def ingest(
    project: Project, wh: Warehouse, names: list[str] | None = None, progress: Progress | None = None
) -> list[SourceLoad]:
    """Load the named sources (`source` or `source.table`; all when None). A failing table fails alone."""
    selected = select_tables(project, names)
    load_log.ensure_tables(wh)
    results = []
    for spec in project.spec.sources:
        tables = selected.get(spec.name)
        if not tables:
            continue
        started = time.perf_counter()
        loads: list[TableLoad] = []
        error = None
        try:
            connector = open_connector(project, spec)
        except BrainError as exc:
            connector, error = None, exc.message
        for tspec in tables:
            if connector is None:
                loads.append(TableLoad(spec.name, tspec.name, status="failed", message=error))
                continue
            loads.append(load_table(wh, connector, tspec, progress))
        failed = [t for t in loads if t.status == "failed"]
        status = "failed" if failed else ("unchanged" if all(t.status == "unchanged" for t in loads) else "ok")
        results.append(
            SourceLoad(
                name=spec.name,
                status=status,
                rows_loaded=sum(t.rows_loaded for t in loads),
                rows_quarantined=sum(t.rows_quarantined for t in loads),
                seconds=round(time.perf_counter() - started, 3),
                tables=loads,
                error="; ".join(f"{t.table}: {t.message}" for t in failed) or None,
            )
        )
    return results


def select_tables(project: Project, names: list[str] | None) -> dict[str, list[SourceTable]]:
    from companybrain.errors import NotFound, did_you_mean

    by_source = {s.name: s for s in project.spec.sources}
    if not names:
        return {name: list(s.tables) for name, s in by_source.items()}
    chosen: dict[str, list[SourceTable]] = {}
    for name in names:
        source_name, _, table_name = name.partition(".")
        if source_name not in by_source:
            raise NotFound(f"unknown source {source_name!r}; {did_you_mean(source_name, by_source)}")
        tables = by_source[source_name].tables
        if table_name:
            match = [t for t in tables if t.name == table_name]
            if not match:
                suggestion = did_you_mean(table_name, [t.name for t in tables])
                raise NotFound(f"source {source_name} has no table {table_name!r}; {suggestion}")
            tables = match
        chosen.setdefault(source_name, [])
        chosen[source_name].extend(t for t in tables if t not in chosen[source_name])
    return chosen


def load_table(wh: Warehouse, connector: Connector, spec: SourceTable, progress: Progress | None) -> TableLoad:
    """One table in one transaction: on any failure the previous raw table and state stay, and the
    failure is recorded; it never stops the other tables."""
    result = TableLoad(connector.name, spec.name)
    started_at = datetime.now(UTC).replace(tzinfo=None)
    started = time.perf_counter()
    state: dict[str, Any] = {}
    try:
        previous = load_log.last_state(wh, connector.name, spec.name)
        extract = connector.extract(spec, previous)
        with wh.transaction():
            load_id = load_log.next_load_id(wh)
            if extract.unchanged:
                result.status = "unchanged"
            else:
                _Landing(wh, connector.name, spec, extract, load_id, result, progress).run()
                if result.rows_loaded:
                    wh.analyze(table("raw", f"{connector.name}__{spec.name}"))
            state = extract.state
            result.seconds = round(time.perf_counter() - started, 3)
            load_log.record_load(wh, _log_row(load_id, result, started_at, state))
    except BrainError as exc:
        _record_failure(wh, result, started_at, started, exc)
    except Exception as exc:  # a reader's or driver's own error on some input: it fails this table alone
        detail = str(exc).strip() or "no detail"
        failure = ConnectorError(
            f"{connector.name}.{spec.name}: the load failed on {type(exc).__name__}: {detail}",
            hint="check the source's data; the table's previous state was kept",
        )
        _record_failure(wh, result, started_at, started, failure)
    return result


def _record_failure(wh: Warehouse, result: TableLoad, started_at: datetime, started: float, exc: BrainError) -> None:
    """Log a failed load (its message storable on every engine) and the sample of bad rows it kept."""
    sample = exc.sample if isinstance(exc, QuarantineLimit) else []
    result.status = "failed"
    result.message = load_log.storable(str(exc), load_log.MESSAGE_LIMIT)
    result.rows_loaded, result.rows_quarantined = 0, len(sample)
    result.added_columns = []
    result.seconds = round(time.perf_counter() - started, 3)
    with wh.transaction():
        load_id = load_log.next_load_id(wh)
        load_log.record_load(wh, _log_row(load_id, result, started_at, {}))
        load_log.quarantine(wh, load_id, result.source, result.table, sample)


def _log_row(load_id: int, result: TableLoad, started_at: datetime, state: dict[str, Any]) -> dict[str, Any]:
    return {
        "load_id": load_id,
        "source": result.source,
        "table_name": result.table,
        "status": result.status,
        "started_at": started_at,
        "seconds": result.seconds,
        "rows_read": result.rows_read,
        "rows_loaded": result.rows_loaded,
        "rows_quarantined": result.rows_quarantined,
        "added_columns": ",".join(result.added_columns) or None,
        "state": state,
        "message": result.message,
    }


class _Landing:
    """The body of one load, inside the caller's transaction."""

    def __init__(
        self,
        wh: Warehouse,
        source: str,
        spec: SourceTable,
        extract: Extract,
        load_id: int,
        result: TableLoad,
        progress: Progress | None,
    ) -> None:
        self.wh, self.source, self.spec, self.extract = wh, source, spec, extract
        self.load_id, self.result, self.progress = load_id, result, progress
        self.label = f"{source}.{spec.name}"
        self.raw = table("raw", f"{source}__{spec.name}")
        self.target = table("raw", f"__next__{source}__{spec.name}") if extract.replace else self.raw
        self.stage = table("raw", f"__stage__{source}__{spec.name}")
        self.existing = wh.table_schema(self.raw)
        self.current: pa.Schema | None = None if extract.replace else self.existing
        self.created_here = False
        self.units: dict[str, list[int]] = {}  # file ("" for a SQL table) -> [rows read, rows quarantined]
        self.sample: list[Rejected] = []

    def run(self) -> None:
        wh = self.wh
        if self.extract.replace:
            wh.execute(drop_table(self.target))
        elif self.extract.replaced_files and self.existing is not None:
            files = [literal(name) for name in self.extract.replaced_files]
            wh.execute(exp.delete(self.raw, where=col(FILE_COLUMN).isin(*files)))
        for batch in self.extract.batches:
            self._land(batch)
        self._count(self.extract.rejected, read=True)
        self._check_quarantine_limit()
        load_log.quarantine(wh, self.load_id, self.source, self.spec.name, self.extract.rejected)
        self.result.rows_quarantined += len(self.extract.rejected)
        if self.extract.replace:
            if self.current is None:  # the source is empty now: so is the table
                if self.existing is not None:
                    wh.execute(exp.delete(self.raw))
                return
            wh.execute(drop_table(self.raw))
            wh.execute(rename_table(self.target, self.raw.name))

    def _land(self, batch: pa.Table) -> None:
        self._check_names(batch)
        offset = self.result.rows_read
        self.result.rows_read += batch.num_rows
        checked = check_rows(
            batch,
            key=self.spec.primary_key,
            declared=dict(self.spec.columns),
            offset=offset,
            keys_unique=self.extract.keys_unique,
        )
        if FILE_COLUMN in batch.column_names:
            counts = pc.value_counts(batch[FILE_COLUMN]).to_pylist()
            for count in counts:
                self.units.setdefault(str(count["values"]), [0, 0])[0] += count["counts"]
        else:
            self.units.setdefault("", [0, 0])[0] += batch.num_rows
        self._count(checked.bad, read=False)
        load_log.quarantine(self.wh, self.load_id, self.source, self.spec.name, checked.bad)
        self.result.rows_quarantined += len(checked.bad)
        data = normalize_arrow(checked.good)
        if data.num_rows:
            # every raw row remembers the load that wrote it: builds pick up just the changed rows
            data = data.append_column(LOAD_ID_COLUMN, pa.repeat(pa.scalar(self.load_id, pa.int64()), data.num_rows))
            self._write(self._reconcile(data))
        if self.progress:
            self.progress(self.label, self.result.rows_read)

    def _check_names(self, batch: pa.Table) -> None:
        """Column names the load can hold apart from each other and from the brain's own columns."""
        names = batch.column_names
        clash = sorted({n for n in names if names.count(n) > 1 or n == LOAD_ID_COLUMN or n.startswith(INTERNAL)})
        if clash:
            where = f"{self._file_with(batch, clash[0])}: " if FILE_COLUMN in names and batch.num_rows else ""
            raise SchemaDriftError(
                f"{self.label}: {where}column name(s) {clash} are repeated or the brain's own "
                f"({LOAD_ID_COLUMN}, {FILE_COLUMN}, names starting with {INTERNAL})",
                hint="rename the columns in the source",
            )

    @staticmethod
    def _file_with(batch: pa.Table, name: str) -> str:
        """The first file of a batch (which may hold several) whose rows have a value in the column."""
        first = 0
        if batch.column_names.count(name) == 1:
            first = max(pc.index(pc.is_valid(batch[name]), True).as_py(), 0)
        return str(batch[FILE_COLUMN][first].as_py())

    def _count(self, bad: list[Rejected], *, read: bool) -> None:
        """Count bad rows per file (`read`: rows the reader rejected, not counted as read yet)."""
        for row in bad:
            unit = self.units.setdefault(row.unit, [0, 0])
            unit[0] += read
            unit[1] += 1
        self.sample += bad[: SAMPLE_ROWS - len(self.sample)]

    def _check_quarantine_limit(self) -> None:
        """A load, or one file of it, that quarantines more than `max_quarantined` of its rows is refused:
        a changed export, a wrong declared type or another encoding must not empty a table, nor move the
        cursor or the files' state past rows that were never loaded."""
        limit = self.spec.max_quarantined
        over = sorted((unit, read, bad) for unit, (read, bad) in self.units.items() if bad > limit * read)
        if not over:
            return
        unit, read, bad = over[0]
        of = f"of {unit} " if unit else ""
        message = f"{self.label}: {bad:,} of the {read:,} rows {of}were quarantined"
        message += f", more than max_quarantined: {limit:g} allows"
        example = next((r for r in self.sample if r.unit == unit), None)
        if example is not None:
            message += f" (e.g. {example.location}: {load_log.storable(example.reason, 200)})"
        if len(over) > 1:
            message += f"; {len(over) - 1} other file(s) too"
        message += "; nothing was loaded and the previous state was kept"
        raise QuarantineLimit(
            message,
            hint=f"see the first bad rows with `brain sources quarantine {self.source}.{self.spec.name}`; fix the "
            "source or the types under `columns:`, or raise the table's `max_quarantined` in brain.yaml if that "
            "many bad rows are expected",
            sample=self.sample,
        )

    def _reconcile(self, data: pa.Table) -> pa.Table:
        """Check the batch against the table: keys present, no type changed; add new columns."""
        missing_keys = [k for k in self.spec.primary_key if k not in data.column_names]
        if missing_keys:
            raise SchemaDriftError(
                f"{self.label}: key column(s) {missing_keys} are missing from the source",
                hint="restore the column in the source, or change primary_key in brain.yaml",
            )
        reference = self.current if self.current is not None else self.existing
        if reference is None:
            return data
        for name in data.column_names:
            if name not in reference.names:
                continue
            was, now = logical_type(reference.field(name).type), logical_type(data.schema.field(name).type)
            if was != now and data[name].null_count < data.num_rows:
                raise SchemaDriftError(
                    f"{self.label}: column {name!r} changed type from {was} to {now}",
                    hint="fix the source, or declare the type under `columns:` so bad values are quarantined",
                )
        if self.current is None:
            return data
        for name in data.column_names:
            if name not in self.current.names:
                kind = logical_type(data.schema.field(name).type)
                self.wh.execute(add_column(self.target, name, kind))
                self.result.added_columns.append(name)
        if self.result.added_columns:
            self.current = self.wh.table_schema(self.target)
            assert self.current is not None
        # exactly the table's columns, in its order and types, so that appends are positional-safe
        columns = []
        for field_ in self.current:
            if field_.name in data.column_names and logical_type(data.schema.field(field_.name).type) != "null":
                columns.append(data[field_.name])
            else:
                columns.append(pa.nulls(data.num_rows, field_.type))
        return pa.table(columns, schema=pa.schema([pa.field(f.name, f.type) for f in self.current]))

    def _write(self, data: pa.Table) -> None:
        wh, key = self.wh, self.spec.primary_key
        if self.current is None:
            wh.write_arrow(self.target, data, create=True)
            self.current = wh.table_schema(self.target)
            self.created_here = True
            self.result.rows_loaded += data.num_rows
            return
        if not key or self.extract.replace or (self.created_here and self.extract.keys_unique):
            wh.write_arrow(self.target, data, create=False)
            self.result.rows_loaded += data.num_rows
            return
        # upsert by key through a stage table
        wh.execute(drop_table(self.stage))
        wh.write_arrow(self.stage, data, create=True)
        same_key = exp.and_(*[col(k, "s").eq(col(k, "r")) for k in key])
        if self.spec.cursor:
            # rows at the cursor boundary that are already here are not changes
            held = (
                exp.select("1")
                .from_(self.raw.as_("r"))
                .where(exp.and_(same_key, col(self.spec.cursor, "s").eq(col(self.spec.cursor, "r"))))
            )
            wh.execute(exp.delete(self.stage.as_("s"), where=exp.Exists(this=held)))
        changed = int(wh.scalar(count_rows(self.stage)) or 0)
        if changed:
            newer = exp.select("1").from_(self.stage.as_("s")).where(same_key)
            wh.execute(exp.delete(self.raw.as_("r"), where=exp.Exists(this=newer)))
            names = list(data.column_names)
            wh.execute(insert_select(self.raw, names, exp.select(*[col(n) for n in names]).from_(self.stage)))
        wh.execute(drop_table(self.stage))
        self.result.rows_loaded += changed

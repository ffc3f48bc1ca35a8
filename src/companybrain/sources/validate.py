"""Row checks before landing: text no engine can store, null keys, values that do not cast to the
declared type, duplicates.

Good rows go on, cast to the declared types; bad rows are returned with their reason so the
loader can quarantine them. DuckDB in memory does the work as an Arrow compute engine.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc
from sqlglot import exp

from companybrain.sources.base import Rejected
from companybrain.sources.files import FILE_COLUMN
from companybrain.warehouse.ddl import col
from companybrain.warehouse.types import sql_type

# the checks' own columns, beside the source's: a source column may not start with INTERNAL
INTERNAL = "__brain_"
POS = f"{INTERNAL}pos"
REASON = f"{INTERNAL}reason"
TEXT = f"{INTERNAL}text"


@dataclass
class Checked:
    good: pa.Table
    bad: list[Rejected]


def check_rows(
    batch: pa.Table, *, key: list[str], declared: dict[str, str], offset: int, keys_unique: bool = False
) -> Checked:
    """Split a batch into loadable rows and quarantined ones; `offset` numbers rows across batches.

    `keys_unique` says the source guarantees unique keys (a SQL table's primary key): the
    duplicate check, the costliest one, is then skipped.
    """
    batch, text = _text_problems(batch)
    present_key = [k for k in key if k in batch.column_names]
    casts = {name: kind for name, kind in declared.items() if name in batch.column_names}
    if text is None and not casts and not _has_null_or_duplicate_key(batch, present_key, keys_unique):
        return Checked(batch, [])
    return _check_in_duckdb(batch, present_key, casts, offset, text)


def _text_problems(batch: pa.Table) -> tuple[pa.Table, pa.Array | None]:
    """Strings no engine stores alike: bytes that are not UTF-8 (DuckDB refuses them) and NUL (PostgreSQL
    text cannot hold it). Returns the batch with undecodable bytes written as \\xNN, so that its rows can
    still be shown, and per row the reason (null when the row's text is fine), or None when all is."""
    reasons: list[list[str]] | None = None
    columns = list(batch.columns)
    for i, field in enumerate(batch.schema):
        if not (pa.types.is_string(field.type) or pa.types.is_large_string(field.type)):
            continue
        column = batch.column(i)
        flagged: list[tuple[int, str]] = []
        try:
            column.validate(full=True)
        except pa.ArrowInvalid:
            column, bad = _decoded(column)
            flagged += [(row, f"{field.name}: not UTF-8 text") for row in bad]
            columns[i] = column
        nul = pc.match_substring(column, "\x00")
        if pc.any(nul).as_py():
            rows = pc.indices_nonzero(pc.fill_null(nul, False)).to_pylist()
            flagged += [(row, f"{field.name}: holds a NUL byte, which a text column cannot store") for row in rows]
        for row, reason in flagged:
            reasons = reasons or [[] for _ in range(batch.num_rows)]
            reasons[row].append(reason)
    if reasons is None:
        return batch, None
    cleaned = pa.table(columns, schema=batch.schema)
    return cleaned, pa.array(["; ".join(r) if r else None for r in reasons], pa.string())


def _decoded(column: pa.ChunkedArray) -> tuple[pa.ChunkedArray, list[int]]:
    """The column with the bytes that are not UTF-8 written as \\xNN, and the rows that had some."""
    values: list[str | None] = []
    bad: list[int] = []
    for row, raw in enumerate(column.cast(pa.large_binary()).to_pylist()):
        if raw is None:
            values.append(None)
            continue
        try:
            values.append(raw.decode("utf-8"))
        except UnicodeDecodeError:
            values.append(raw.decode("utf-8", "backslashreplace"))
            bad.append(row)
    return pa.chunked_array([pa.array(values, column.type)]), bad


def _has_null_or_duplicate_key(batch: pa.Table, key: list[str], keys_unique: bool) -> bool:
    if not key or batch.num_rows == 0:
        return False
    if any(batch[k].null_count for k in key):
        return True
    if keys_unique:
        return False
    if len(key) == 1:
        return pc.count_distinct(batch[key[0]]).as_py() != batch.num_rows
    return batch.group_by(key).aggregate([]).num_rows != batch.num_rows


def _check_in_duckdb(
    batch: pa.Table, key: list[str], casts: dict[str, str], offset: int, text: pa.Array | None
) -> Checked:
    import duckdb

    indexed = batch.append_column(POS, pa.array(range(batch.num_rows), pa.int64()))
    reasons: list[exp.Expr] = []
    if text is not None:
        indexed = indexed.append_column(TEXT, text)
        reasons.append(col(TEXT))
    for name in key:
        reasons.append(_when(col(name).is_(exp.null()), exp.Literal.string(f"missing key column {name}")))
    for name, kind in casts.items():
        bad_cast = exp.and_(
            col(name).is_(exp.null()).not_(),
            exp.TryCast(this=col(name), to=sql_type(kind)).is_(exp.null()),
        )
        message = exp.func(
            "concat", exp.Literal.string(f"{name}: "), col(name), exp.Literal.string(f" is not a valid {kind}")
        )
        reasons.append(_when(bad_cast, message))
    if key:
        newest_first = exp.Window(
            this=exp.func("row_number"),
            partition_by=[col(k) for k in key],
            order=exp.Order(expressions=[exp.Ordered(this=col(POS), desc=True)]),
        )
        any_null = exp.or_(*[col(k).is_(exp.null()) for k in key])
        duplicate = exp.and_(exp.GT(this=newest_first, expression=exp.Literal.number(1)), exp.not_(any_null))
        reasons.append(_when(duplicate, exp.Literal.string("duplicate key: a later row with the same key wins")))
    projections: list[exp.Expr] = []
    for name in batch.column_names:
        if name in casts:
            projections.append(exp.TryCast(this=col(name), to=sql_type(casts[name])).as_(name, quoted=True))
        else:
            projections.append(col(name))
    checks = [exp.alias_(r, f"{REASON}{i}", quoted=True) for i, r in enumerate(reasons)]
    query = exp.select(*projections, col(POS), *checks).from_("batch")
    con = duckdb.connect()
    try:
        con.register("batch", indexed)
        result = con.execute(query.sql(dialect="duckdb")).to_arrow_table()
    finally:
        con.close()
    result = result.sort_by(POS)
    check_names = [f"{REASON}{i}" for i in range(len(reasons))]
    ok = functools.reduce(pc.and_, [pc.is_null(result[c]) for c in check_names])
    good = result.filter(ok).drop_columns([POS, *check_names])
    flagged = result.filter(pc.invert(ok))
    bad = []
    if flagged.num_rows:
        originals = batch.take(flagged[POS])
        first_of_file: dict[str, int] = {}  # a batch may hold several files, each a run of rows
        for i, record in enumerate(originals.to_pylist()):
            pos = flagged[POS][i].as_py()
            if FILE_COLUMN in record:
                name = record[FILE_COLUMN]
                if name not in first_of_file:
                    first_of_file[name] = pc.index(batch[FILE_COLUMN], name).as_py()
                where = f"{name} record {pos - first_of_file[name] + 1}"
            else:
                where = f"record {offset + pos + 1}"
            reason = "; ".join(r for c in check_names if (r := flagged[c][i].as_py()) is not None)
            unit = str(record.get(FILE_COLUMN) or "")
            bad.append(Rejected(where, reason, json.dumps(record, default=str), unit=unit))
    return Checked(good, bad)


def _when(condition: exp.Expr, value: exp.Expr) -> exp.Expr:
    return exp.Case(ifs=[exp.If(this=condition, true=value)])

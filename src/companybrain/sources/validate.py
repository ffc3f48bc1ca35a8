"""Row checks before landing: null keys, values that do not cast to the declared type, duplicates.

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

POS = "__pos"
REASON = "__reason"


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
    present_key = [k for k in key if k in batch.column_names]
    casts = {name: kind for name, kind in declared.items() if name in batch.column_names}
    if not casts and not _has_null_or_duplicate_key(batch, present_key, keys_unique):
        return Checked(batch, [])
    return _check_in_duckdb(batch, present_key, casts, offset)


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


def _check_in_duckdb(batch: pa.Table, key: list[str], casts: dict[str, str], offset: int) -> Checked:
    import duckdb

    indexed = batch.append_column(POS, pa.array(range(batch.num_rows), pa.int64()))
    reasons: list[exp.Expr] = []
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
        for i, record in enumerate(originals.to_pylist()):
            pos = flagged[POS][i].as_py()
            where = f"{record[FILE_COLUMN]} record {pos + 1}" if FILE_COLUMN in record else f"record {offset + pos + 1}"
            reason = "; ".join(r for c in check_names if (r := flagged[c][i].as_py()) is not None)
            bad.append(Rejected(where, reason, json.dumps(record, default=str)))
    return Checked(good, bad)


def _when(condition: exp.Expr, value: exp.Expr) -> exp.Expr:
    return exp.Case(ifs=[exp.If(this=condition, true=value)])

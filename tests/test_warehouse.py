"""One suite for the warehouse interface, run against every engine (DuckDB, PostgreSQL)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pyarrow as pa
import pytest
from sqlglot import exp

from companybrain.errors import WarehouseError
from companybrain.warehouse import Warehouse, connect
from companybrain.warehouse.ddl import add_column, col, drop_table, rename_table, table

DATA = pa.table(
    {
        "id": pa.array([1, 2, 3], pa.int64()),
        "name": ["a", None, "c"],
        "amount": [1.5, 2.5, None],
        "day": pa.array([dt.date(2025, 1, 1), None, dt.date(2025, 3, 1)], pa.date32()),
        "at": pa.array([dt.datetime(2025, 1, 1, 8), None, None], pa.timestamp("us")),
        "flag": [True, False, None],
    }
)


@pytest.fixture
def wh(warehouse_url: str, tmp_path: Path) -> Warehouse:
    w = connect(warehouse_url, tmp_path)
    w.ensure_schema("raw")
    yield w
    w.close()


def rows(wh: Warehouse, t: exp.Table) -> list[dict]:
    return wh.query_arrow(exp.select("*").from_(t).order_by(col("id"))).to_pylist()


def test_arrow_round_trip_keeps_types_and_nulls(wh: Warehouse) -> None:
    t = table("raw", "round_trip")
    wh.write_arrow(t, DATA, create=True)
    assert rows(wh, t) == DATA.to_pylist()
    kinds = [str(f.type) for f in wh.table_schema(t)]
    assert kinds == ["int64", "string", "double", "date32[day]", "timestamp[us]", "bool"]


def test_append_matches_columns_by_name(wh: Warehouse) -> None:
    t = table("raw", "appended")
    wh.write_arrow(t, DATA, create=True)
    wh.write_arrow(t, DATA.select(["name", "id"]).slice(0, 1), create=False)
    assert [(r["id"], r["name"], r["amount"]) for r in rows(wh, t)] == [
        (1, "a", 1.5),
        (1, "a", None),
        (2, None, 2.5),
        (3, "c", None),
    ]


def test_transaction_rolls_back_data_and_ddl(wh: Warehouse) -> None:
    t = table("raw", "tx")
    wh.write_arrow(t, DATA, create=True)
    with pytest.raises(RuntimeError), wh.transaction():
        wh.write_arrow(t, DATA, create=False)
        wh.execute(add_column(t, "extra", "string"))
        wh.execute(rename_table(t, "tx_renamed"))
        raise RuntimeError("killed")
    assert wh.list_tables("raw") == ["tx"]
    assert len(rows(wh, t)) == 3 and "extra" not in wh.table_schema(t).names


def test_catalog(wh: Warehouse) -> None:
    assert wh.table_schema(table("raw", "missing")) is None
    wh.write_arrow(table("raw", "b_table"), DATA, create=True)
    wh.write_arrow(table("raw", "a_table"), DATA, create=True)
    assert wh.list_tables("raw") == ["a_table", "b_table"]
    assert wh.list_tables("no_such_schema") == []
    wh.execute(drop_table(table("raw", "a_table")))
    assert wh.list_tables("raw") == ["b_table"]


def test_refused_statement_is_a_warehouse_error(wh: Warehouse) -> None:
    with pytest.raises(WarehouseError, match="refused"):
        wh.query_arrow(exp.select("*").from_(table("raw", "missing")))
    assert wh.scalar(exp.select(exp.Literal.number(1))) == 1  # the connection is still usable


@pytest.mark.services
def test_unreachable_postgres_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(WarehouseError, match="cannot connect to the PostgreSQL warehouse"):
        connect("postgresql://postgres@127.0.0.1:1/nothing", tmp_path)

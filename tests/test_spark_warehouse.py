"""The warehouse suite on a local Spark session, and what Spark adds: staging and swap for its
promises (a failed change leaves the last good tables; a restart finishes or discards a half-done
swap) and hostile URLs and values."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest
from sqlglot import exp

from companybrain.errors import ConfigError, WarehouseError
from companybrain.warehouse import Warehouse, connect
from companybrain.warehouse.ddl import bound, drop_table, insert_values, table
from companybrain.warehouse.spark import DROPPED, MARKER, STAGE, SWAPS, SparkWarehouse
from tests import test_warehouse as shared
from tests.conftest import SPARK_LOCAL
from tests.test_warehouse import DATA, rows

# the shared suite, collected here on Spark
wh = shared.wh
test_arrow_round_trip_keeps_types_and_nulls = shared.test_arrow_round_trip_keeps_types_and_nulls
test_append_matches_columns_by_name = shared.test_append_matches_columns_by_name
test_transaction_rolls_back_data_and_ddl = shared.test_transaction_rolls_back_data_and_ddl
test_catalog = shared.test_catalog
test_refused_statement_is_a_warehouse_error = shared.test_refused_statement_is_a_warehouse_error

pytestmark = [pytest.mark.slow, pytest.mark.spark, pytest.mark.timeout(600)]  # the first test also starts the JVM


@pytest.fixture
def warehouse_url() -> str:
    return SPARK_LOCAL


def test_update_and_delete_are_rewrites_with_the_same_answers(wh: Warehouse) -> None:
    t = table("raw", "changed")
    wh.write_arrow(t, DATA, create=True)
    wh.execute(exp.update(t, {"name": bound("it's; DROP TABLE x --")}, where=exp.column("id").eq(2)))
    wh.execute(exp.delete(t.copy().as_("r"), where=exp.column("amount", "r").is_(exp.null())))
    assert [(r["id"], r["name"]) for r in rows(wh, t)] == [(1, "a"), (2, "it's; DROP TABLE x --")]
    other = table("raw", "names")
    wh.write_arrow(other, pa.table({"id": [1], "name": ["from other"]}), create=True)
    wh.execute(
        exp.Update(
            this=t.copy(),
            expressions=[exp.EQ(this=exp.column("name"), expression=exp.column("name", "s"))],
            from_=exp.From(this=other.copy().as_("s")),
            where=exp.Where(this=exp.column("id", "s").eq(exp.column("id", "changed"))),
        )
    )
    assert [r["name"] for r in rows(wh, t)] == ["from other", "it's; DROP TABLE x --"]


def test_readers_see_the_last_good_table_until_commit(wh: Warehouse, tmp_path: Path) -> None:
    t = table("raw", "loaded")
    log = table("raw", "load_log")
    wh.write_arrow(t, DATA, create=True)
    wh.execute(
        exp.Create(
            this=exp.Schema(
                this=log, expressions=[exp.ColumnDef(this=exp.to_identifier("n"), kind=exp.DataType.build("BIGINT"))]
            ),
            kind="TABLE",
        )
    )
    reader = connect(SPARK_LOCAL, tmp_path)
    with wh.transaction():
        wh.write_arrow(t, DATA, create=False)
        wh.execute(insert_values(log, {"n": 6}))
        assert len(rows(wh, t)) == 6  # the transaction reads its own staging table
        assert len(rows(reader, t)) == 3 and reader.scalar(exp.select("count(*)").from_(log)) == 0
    assert len(rows(reader, t)) == 6 and reader.scalar(exp.select("count(*)").from_(log)) == 1
    assert not [n for n in wh.list_tables("raw") if STAGE in n or DROPPED in n]


def _crash_after_staging(spark: SparkWarehouse, t: exp.Table) -> None:
    spark._begin()
    spark.write_arrow(t, DATA.slice(0, 1), create=False)
    spark.execute(drop_table(table("raw", "other")))


def test_restart_discards_an_uncommitted_swap_and_finishes_a_committed_one(tmp_path: Path) -> None:
    first = connect(SPARK_LOCAL, tmp_path)
    assert isinstance(first, SparkWarehouse)
    first.ensure_schema("raw")
    t = table("raw", "swapped")
    first.write_arrow(t, DATA, create=True)
    first.write_arrow(table("raw", "other"), DATA, create=True)
    _crash_after_staging(first, t)  # the process dies before commit
    first._staged = None
    again = connect(SPARK_LOCAL, tmp_path)
    assert len(rows(again, t)) == 3 and again.list_tables("raw") == ["other", "swapped"]
    assert not [n for _, n in again._brain_tables() if STAGE in n or DROPPED in n]

    _crash_after_staging(again, t)  # dies after writing its commit marker, before any swap
    tx = again._tx
    again._staged = None
    again.ensure_schema(SWAPS)
    again._sql(f"CREATE TABLE {again._ref(again._db(SWAPS), MARKER + tx)} (done BOOLEAN) USING parquet")
    restarted = connect(SPARK_LOCAL, tmp_path)
    assert len(rows(restarted, t)) == 4 and restarted.list_tables("raw") == ["swapped"]
    assert restarted.list_tables(SWAPS) == []


def test_a_failed_build_leaves_the_last_good_tables(wh: Warehouse) -> None:
    t = table("raw", "good")
    wh.write_arrow(t, DATA, create=True)
    with pytest.raises(WarehouseError), wh.transaction():
        wh.execute(drop_table(t))
        wh.write_arrow(t, DATA.select(["id"]), create=True)
        wh.query_arrow(exp.select("no_such_column").from_(t))
    assert rows(wh, t) == DATA.to_pylist()


@pytest.mark.parametrize(
    "url", ["spark:local[0]", "spark:local[2]; rm -rf /", "sc://host:15002/;x=`y`", "sc://", "spark://local"]
)
def test_hostile_or_malformed_urls_are_refused(url: str, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"sc://host:15002 \(Spark Connect\) or spark:local\[2\]"):
        connect(url, tmp_path)

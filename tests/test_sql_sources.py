"""One connector suite, run against every SQL source kind: SQLite, PostgreSQL and MariaDB."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlglot import exp

from companybrain import Brain
from companybrain.errors import ConnectorError
from companybrain.sources import load_log
from companybrain.sources.sql import SqlConnector
from companybrain.specs.project import SqlSource
from tests.shop import make_shop

T0 = datetime(2025, 1, 1)
DDL = [
    "CREATE TABLE customers (customer_id INTEGER PRIMARY KEY, name VARCHAR(100), region VARCHAR(10),"
    " updated_at TIMESTAMP)",
    "CREATE TABLE orders (order_id INTEGER PRIMARY KEY, customer_id INTEGER, amount DOUBLE PRECISION,"
    " updated_at TIMESTAMP)",
]


def _rows(n_customers: int = 20, n_orders: int = 500) -> dict[str, list[tuple[Any, ...]]]:
    return {
        "customers": [
            (i, f"C{i}", ["NA", "EMEA", "APAC"][i % 3], T0 + timedelta(minutes=i)) for i in range(1, n_customers + 1)
        ],
        "orders": [(i, 1 + i % n_customers, float(i), T0 + timedelta(minutes=i)) for i in range(1, n_orders + 1)],
    }


class Database:
    """A source database reached through its own DB-API driver (what the source system would use)."""

    def __init__(self, url: str, connect: Callable[[], Any], placeholder: str) -> None:
        self.url, self._connect, self.ph = url, connect, placeholder

    def run(self, sql: str, rows: list[tuple[Any, ...]] | None = None) -> None:
        con = self._connect()
        try:
            cur = con.cursor()
            if rows is None:
                cur.execute(sql.replace("?", self.ph))
            else:
                cur.executemany(sql.replace("?", self.ph), rows)
            con.commit()
        finally:
            con.close()

    def seed(self) -> None:
        for ddl in DDL:
            self.run(ddl)
        for name, rows in _rows().items():
            self.run(f"INSERT INTO {name} VALUES ({', '.join('?' * len(rows[0]))})", rows)


@pytest.fixture(
    params=[
        "sqlite",
        pytest.param("postgres", marks=pytest.mark.services),
        pytest.param("mariadb", marks=pytest.mark.services),
    ]
)
def source_db(request: pytest.FixtureRequest, tmp_path: Path) -> Database:
    if request.param == "sqlite":
        path = tmp_path / "erp.sqlite"
        db = Database(f"sqlite:///{path}", lambda: sqlite3.connect(path), "?")
    elif request.param == "postgres":
        import psycopg

        url = request.getfixturevalue("pg_url")
        db = Database(url, lambda: psycopg.connect(url), "%s")
    else:
        import pymysql

        url = request.getfixturevalue("mysql_url")
        name = url.rsplit("/", 1)[1]
        db = Database(url, lambda: pymysql.connect(host="127.0.0.1", user="root", password="", database=name), "%s")
    db.seed()
    return db


@pytest.fixture
def brain(tmp_path: Path, source_db: Database) -> Brain:
    root = make_shop(tmp_path / "shop", erp_url=source_db.url)
    b = Brain.open(root)
    yield b
    b.close()


def count(brain: Brain, table: str) -> int:
    return int(brain.warehouse.scalar(exp.select("count(*)").from_(exp.to_table(f"raw.{table}"))))


def test_loads_types_and_rows(brain: Brain) -> None:
    [erp] = brain.ingest(["erp"])
    assert erp.status == "ok" and erp.rows_loaded == 520
    schema = brain.warehouse.table_schema(exp.to_table("raw.erp__orders"))
    kinds = {f.name: str(f.type) for f in schema}
    assert kinds["order_id"] in ("int32", "int64") and kinds["amount"] == "double"
    assert kinds["updated_at"].startswith("timestamp")


def test_incremental_and_idempotent(brain: Brain, source_db: Database) -> None:
    brain.ingest(["erp"])
    [again] = brain.ingest(["erp"])
    assert again.rows_loaded == 0
    source_db.run("UPDATE orders SET amount = 1.5, updated_at = '2026-01-01 00:00:00' WHERE order_id = 7")
    source_db.run("INSERT INTO orders VALUES (?, ?, ?, ?)", [(9001, 1, 5.0, datetime(2026, 1, 2))])
    [erp] = brain.ingest(["erp.orders"])
    assert erp.rows_loaded == 2
    assert count(brain, "erp__orders") == 501
    amount = brain.warehouse.scalar(exp.select("amount").from_(exp.to_table("raw.erp__orders")).where("order_id = 7"))
    assert amount == 1.5


def test_unreachable_database_fails_that_source_only(tmp_path: Path) -> None:
    spec = SqlSource(type="sql", name="erp", url="postgresql://nobody@127.0.0.1:1/none", tables=[{"name": "orders"}])
    connector = SqlConnector(spec, spec.url, tmp_path)
    extract = connector.extract(spec.tables[0], {})
    with pytest.raises(ConnectorError, match=re.escape("cannot read from postgresql://nobody@127.0.0.1:1/none")):
        list(extract.batches)


def test_missing_table_is_a_clear_error(brain: Brain, source_db: Database) -> None:
    source_db.run("DROP TABLE customers")
    results = {t.table: t for s in brain.ingest(["erp"]) for t in s.tables}
    assert results["customers"].status == "failed" and "erp.customers" in results["customers"].message
    assert results["orders"].status == "ok"


def test_a_batch_of_bad_rows_does_not_move_the_cursor(tmp_path: Path, source_db: Database) -> None:
    """A load that quarantines more than max_quarantined of its rows keeps the cursor: when the source is
    fixed in place (or the declared type), the rows are read again. A few bad rows are quarantined and the
    cursor moves on (a fix in the source moves their cursor too)."""
    source_db.run("CREATE TABLE readings (reading_id INTEGER, value VARCHAR(20), updated_at TIMESTAMP)")
    insert = "INSERT INTO readings VALUES (?, ?, ?)"
    source_db.run(insert, [(i, f"{i}.5", T0 + timedelta(minutes=i)) for i in range(1, 11)])
    root = make_shop(tmp_path / "shop", erp_url=source_db.url)
    orders = "- {name: orders, primary_key: [order_id], cursor: updated_at}"
    readings = "- {name: readings, primary_key: [reading_id], cursor: updated_at, columns: {value: float}}"
    (root / "brain.yaml").write_text((root / "brain.yaml").read_text().replace(orders, f"{orders}\n      {readings}"))
    with Brain.open(root) as brain:
        [erp] = brain.ingest(["erp.readings"])
        assert (erp.status, erp.rows_loaded) == ("ok", 10)
        cursor = load_log.last_state(brain.warehouse, "erp", "readings")["cursor"]
        source_db.run(insert, [(i, "n/a", T0 + timedelta(days=1, minutes=i)) for i in range(11, 14)])
        [erp] = brain.ingest(["erp.readings"])
        # read: the row at the last cursor again (>=) and the 3 new ones
        assert erp.status == "failed" and "erp.readings: 3 of the 4 rows were quarantined" in (erp.error or "")
        assert load_log.last_state(brain.warehouse, "erp", "readings")["cursor"] == cursor
        assert count(brain, "erp__readings") == 10
        source_db.run("UPDATE readings SET value = '7.25' WHERE reading_id > 10")  # updated_at untouched
        [erp] = brain.ingest(["erp.readings"])
        assert (erp.status, erp.rows_loaded) == ("ok", 3)
        assert count(brain, "erp__readings") == 13
        more = [(i, "n/a" if i == 20 else "1", T0 + timedelta(days=2, minutes=i)) for i in range(14, 24)]
        source_db.run(insert, more)
        [erp] = brain.ingest(["erp.readings"])
        assert (erp.status, erp.rows_loaded, erp.rows_quarantined) == ("ok", 9, 1)  # 1 of 11: under 0.2
        assert load_log.last_state(brain.warehouse, "erp", "readings")["cursor"] > cursor
        assert count(brain, "erp__readings") == 22

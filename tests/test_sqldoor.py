"""The SQL door for BI tools: psql, psycopg and pandas (through SQLAlchemy) read governed metrics over the
PostgreSQL wire protocol with a user's API token; each answer is the one governed query path's answer for
that user (row filters, withheld masked values, HR refused, audit), and hostile SQL is refused."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd
import psycopg
import pytest
import sqlalchemy as sa

from companybrain import Brain
from companybrain.delivery.app import BrainService
from companybrain.delivery.sqldoor import SqlDoor
from companybrain.semantic.query import MetricQuery

pytestmark = pytest.mark.services  # a real server on a socket; psql from PostgreSQL's client

USERS = ["ceo", "emea_rep", "data_steward", "emea_hrbp"]


class Door:
    def __init__(self, brain: Brain, svc: BrainService, door: SqlDoor, tokens: dict[str, str]) -> None:
        self.brain, self.svc, self.door, self.tokens = brain, svc, door, tokens

    def dsn(self, user: str, password: str | None = None) -> str:
        secret = self.tokens[user] if password is None else password
        return f"host=127.0.0.1 port={self.door.port} user={user} password={secret} dbname=brain"

    def rows(self, user: str, sql: str) -> list[tuple[Any, ...]]:
        with psycopg.connect(self.dsn(user)) as conn:
            return conn.execute(sql).fetchall()

    def governed(self, user: str, query: MetricQuery) -> list[tuple[Any, ...]]:
        with self.svc.use() as brain:
            return [tuple(r) for r in brain.query(query, user).rows]


@pytest.fixture(scope="module")
def door(small_demo: Callable[[str], Path]) -> Iterator[Door]:
    brain = Brain.open(small_demo("sqldoor"))
    svc = BrainService(brain)
    tokens = {user: svc.tokens.create(user)[0] for user in USERS}
    server = SqlDoor(svc, "127.0.0.1", 0).start()
    try:
        yield Door(brain, svc, server, tokens)
    finally:
        server.stop()
        svc.close()


def _rounded(rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    return [tuple(round(v, 4) if isinstance(v, float) else v for v in row) for row in rows]


def test_psql_reads_a_metric_set_as_the_governed_path_answers(door: Door) -> None:
    sql = (
        "SELECT region, SUM(revenue) AS revenue FROM order_line "
        "WHERE month >= '2025-01-01' AND month < '2025-04-01' GROUP BY region ORDER BY region"
    )
    env = {**os.environ, "PGPASSWORD": door.tokens["ceo"]}
    args = ["psql", "-h", "127.0.0.1", "-p", str(door.door.port), "-U", "ceo", "-d", "brain", "--csv", "-c"]
    out = subprocess.run([*args, sql], env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.strip().splitlines()
    assert lines[0] == "region,revenue"
    got = [(r, round(float(v), 2)) for r, v in (line.split(",") for line in lines[1:])]
    query = MetricQuery(("revenue",), ("region",), period="2025-01-01..2025-03-31", order_by=("region",))
    expected = [(r, round(v, 2)) for r, v in door.governed("ceo", query)]
    assert got == expected and len(got) >= 3
    listed = subprocess.run([*args[:-2], "-c", r"\dt"], env=env, capture_output=True, text=True, timeout=60)
    assert listed.returncode == 0, listed.stderr
    assert "public | order_line" in listed.stdout


def test_pandas_read_sql_through_sqlalchemy_with_a_time_grain(door: Door) -> None:
    url = f"postgresql+psycopg://emea_rep:{door.tokens['emea_rep']}@127.0.0.1:{door.door.port}/brain"
    engine = sa.create_engine(url)
    try:
        frame = pd.read_sql(
            "SELECT month, MEASURE(revenue) AS revenue, MEASURE(units_sold) AS units_sold FROM order_line "
            "WHERE month BETWEEN DATE '2025-01-01' AND DATE '2025-06-01' GROUP BY month ORDER BY month",
            engine,
        )
    finally:
        engine.dispose()
    query = MetricQuery(("revenue", "units_sold"), ("month",), period="2025-01-01..2025-06-30", order_by=("month",))
    expected = door.governed("emea_rep", query)
    assert list(frame.columns) == ["month", "revenue", "units_sold"]
    assert [date.fromisoformat(str(m)[:10]) for m in frame["month"]] == [r[0] for r in expected]
    assert frame["revenue"].round(4).tolist() == [round(r[1], 4) for r in expected]
    assert len(frame) == 6


def test_catalog_queries_a_bi_tool_sends_on_connect(door: Door) -> None:
    with psycopg.connect(door.dsn("emea_rep")) as conn:
        assert conn.execute("SELECT version()").fetchone()[0].startswith("PostgreSQL 16")  # type: ignore[index]
        assert conn.execute("SHOW search_path").fetchone() == ("public",)
        assert conn.execute("SELECT current_schema()").fetchone() == ("public",)
        conn.execute("SET extra_float_digits = 3")
        columns = conn.execute(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = 'public' AND table_name = 'order_line' ORDER BY ordinal_position"
        ).fetchall()
        names = [c for c, _ in columns]
        assert {"region", "month", "revenue", "gross_margin"} <= set(names)
        assert dict(columns)["month"] == "DATE" and dict(columns)["revenue"] == "DOUBLE"
        tables = {t for (t,) in conn.execute("SELECT relname FROM pg_catalog.pg_class WHERE relkind = 'r'")}
        assert "order_line" in tables
        assert "employee" not in tables  # a sales rep reads no HR metric: the catalog does not list it
        cursor = conn.execute("SELECT * FROM order_line LIMIT 0")
        assert [d.name for d in cursor.description or []] == names and cursor.fetchall() == []


def test_leaks_policies_apply_as_on_every_other_path(door: Door) -> None:
    rep = door.rows("emea_rep", "SELECT region, MEASURE(revenue) FROM order_line GROUP BY region")
    assert [r for r, _ in rep] == ["EMEA"]
    # an OR that would widen the filter is the user's filter; the row filter still holds
    widened = door.rows(
        "emea_rep", "SELECT region, MEASURE(revenue) FROM order_line WHERE region = 'NA' OR 1 = 1 GROUP BY region"
    )
    assert [r for r, _ in widened] == ["EMEA"]
    with pytest.raises(psycopg.errors.InsufficientPrivilege, match="may not read the metric 'headcount'"):
        door.rows("emea_rep", "SELECT site, MEASURE(headcount) FROM employee GROUP BY site")
    with pytest.raises(psycopg.errors.InsufficientPrivilege, match="HR data"):
        door.rows("data_steward", "SELECT function, MEASURE(headcount_cost) FROM employee GROUP BY function")
    # masked values stay masked: each customer's revenue is withheld from a user who may not unmask it
    masked = door.rows("data_steward", "SELECT customer, SUM(revenue) FROM order_line GROUP BY customer")
    assert masked and all(v is None for _, v in masked)
    assert masked == door.governed("data_steward", MetricQuery(("revenue",), ("customer",)))
    hr = door.rows("emea_hrbp", "SELECT site, MEASURE(headcount_cost) FROM employee GROUP BY site ORDER BY site")
    assert _rounded(hr) == _rounded(
        door.governed("emea_hrbp", MetricQuery(("headcount_cost",), ("site",), None, None, ("site",)))
    )
    assert hr and all(v is not None for _, v in hr)
    with door.svc.use() as brain:
        brain.audit  # noqa: B018 - opened
        records = brain.audit.tail(50)
    reads = [r for r in records if r["user_name"] == "emea_hrbp" and r["action"] == "query"]
    assert reads and "headcount_cost" in str(reads[-1]["request"])


@pytest.mark.parametrize(
    ("sql", "refusal"),
    [
        ("SELECT region, SUM(revenue) FROM order_line GROUP BY region; DROP TABLE x", "one statement at a time"),
        ("DROP TABLE order_line", "only reads: DROP"),
        ("CREATE TABLE t (a INT)", "only reads: CREATE"),
        ("INSERT INTO order_line (region) VALUES ('x')", "only reads: INSERT"),
        ("COPY order_line TO '/tmp/x.csv'", "only reads"),
        ("ATTACH '/tmp/warehouse.duckdb' AS w", "cannot parse|only reads"),
        ("SELECT * FROM read_csv('/etc/passwd')", "table function"),
        ("SELECT pg_read_file('/etc/passwd')", "may not call pg_read_file()"),
        ("SELECT relname FROM pg_catalog.pg_class, read_parquet('x.parquet')", "table function"),
        ("SELECT region, SUM(revenue) FROM order_line /* ; DROP */ GROUP BY region", "comment inside it"),
        ("SELECT region, SUM(revenue) FROM order_line GROUP BY region -- trailing", "comment inside it"),
        ("SELECT region\u200b, SUM(revenue) FROM order_line GROUP BY region", "U\\+200B"),
        ("SELECT region, SUM(revenue) FROM order_line WHERE region = '\u202eAEME' GROUP BY region", "U\\+202E"),
        ("SELECT region, SUM(revenue) FROM \u043erder_line GROUP BY region", "no metric set named"),
        ("SELECT region, SUM(revenue) FROM order_line GROUP BY region\uff1b DROP TABLE x", "cannot"),
        ("SELECT * FROM order_line", "SELECT \\* reads no metric"),
        ("SELECT region, COUNT(*) FROM order_line GROUP BY region", "cannot map"),
        ("SELECT region, MIN(revenue) FROM order_line GROUP BY region", "MIN\\(revenue\\) is not revenue"),
        ("SELECT region, SUM(margin_pct) FROM order_line GROUP BY region", "SUM\\(margin_pct\\) is not"),
        ("SELECT region, SUM(revenue) FROM order_line", "GROUP BY must name exactly"),
        ("SELECT o.region, SUM(o.revenue) FROM order_line o JOIN employee e ON 1 = 1 GROUP BY 1", "may not use JOINS"),
        ("SELECT region, SUM(revenue) FROM (SELECT * FROM order_line) s GROUP BY region", "one metric set"),
        ("WITH s AS (SELECT 1) SELECT region, SUM(revenue) FROM order_line GROUP BY region", "may not use WITH"),
        ("SELECT region, SUM(revenue) FROM order_line GROUP BY region HAVING SUM(revenue) > 0", "HAVING"),
        ("SELECT region, SUM(revenue) FROM order_line WHERE revenue > 0 GROUP BY region", "measure is not filtered"),
        ("SELECT region, SUM(revenue) FROM order_line WHERE lower(region) IN (SELECT 'x') GROUP BY 1", "SELECT"),
        ("SELECT month, SUM(revenue) FROM order_line WHERE month >= '2025-01-15' GROUP BY 1", "does not start a month"),
        ("SELECT region, SUM(revenue) FROM warehouse.main.order_line GROUP BY region", "schema"),
        ("SELECT region, SUM(revenue) FROM pg_catalog.pg_class, order_line GROUP BY region", "not both"),
    ],
)
def test_hostile_sql_is_refused_before_it_reaches_anything(door: Door, sql: str, refusal: str) -> None:
    with psycopg.connect(door.dsn("ceo")) as conn, pytest.raises(psycopg.Error, match=refusal):
        conn.execute(sql)


def test_the_catalog_mirror_stays_locked_whatever_is_set(door: Door) -> None:
    with psycopg.connect(door.dsn("ceo"), autocommit=True) as conn:
        conn.execute("SET enable_external_access = true")  # answered, never applied
        assert conn.execute("SELECT current_setting('enable_external_access')").fetchone() == (False,)
        with pytest.raises(psycopg.Error, match="table function"):
            conn.execute("SELECT * FROM read_text('/etc/hostname')")


@pytest.mark.parametrize(
    ("user", "password", "refusal"),
    [
        ("ceo", "not-a-token", "API token as the password"),
        ("ceo", "cbt_made_up", "unknown, expired or revoked"),
        ("ceo", None, "connect as user 'emea_rep'"),  # emea_rep's token, signing in as the ceo
    ],
)
def test_sign_in_needs_the_users_own_valid_token(door: Door, user: str, password: str | None, refusal: str) -> None:
    secret = door.tokens["emea_rep"] if password is None else password
    with pytest.raises(psycopg.OperationalError, match=refusal):
        psycopg.connect(door.dsn(user, secret)).close()


def test_a_token_without_read_metrics_or_revoked_is_refused(door: Door) -> None:
    secret, token = door.svc.tokens.create("ceo", scopes=["read:objects"])
    with pytest.raises(psycopg.OperationalError, match="read:metrics"):
        psycopg.connect(door.dsn("ceo", secret)).close()
    secret, token = door.svc.tokens.create("ceo")
    psycopg.connect(door.dsn("ceo", secret)).close()
    door.svc.tokens.revoke(token.token_id)
    with pytest.raises(psycopg.OperationalError, match="revoked"):
        psycopg.connect(door.dsn("ceo", secret)).close()


@pytest.mark.parametrize(
    ("where", "period"),
    [
        ("month >= '2025-01-01' AND month < '2025-04-01'", "2025-01-01..2025-03-31"),
        ("month > '2025-01-01' AND month <= '2025-03-01'", "2025-02-01..2025-03-31"),
        ("quarter = DATE '2025-04-01'", "2025-04-01..2025-06-30"),
        ("'2025-01-01' <= day AND day < '2025-01-08'", "2025-01-01..2025-01-07"),
        ("day BETWEEN '2024-12-30' AND TIMESTAMP '2025-01-05 00:00:00'", "2024-12-30..2025-01-05"),
        ("week = '2024-12-30'", "2024-12-30..2025-01-05"),
        ("year = '2025-01-01' AND month >= '2025-10-01'", "2025-10-01..2025-12-31"),
    ],
)
def test_date_conditions_become_the_period_they_mean(door: Door, where: str, period: str) -> None:
    from companybrain.delivery.sqldoor_sql import MetricRead, translate

    statement = translate(
        f"SELECT region, SUM(revenue) FROM order_line WHERE {where} AND region <> 'x' GROUP BY region",
        door.door.tables,
        date(2026, 3, 1),
    )
    assert isinstance(statement, MetricRead) and statement.query is not None
    assert statement.query.period == period
    assert statement.query.where == "region <> 'x'"


def test_a_bound_parameter_is_a_value_never_sql(door: Door) -> None:
    sql = "SELECT region, MEASURE(revenue) FROM order_line WHERE region = %s GROUP BY region"
    with psycopg.connect(door.dsn("ceo")) as conn:
        assert [r for r, _ in conn.execute(sql, ["EMEA"]).fetchall()] == ["EMEA"]
        assert conn.execute(sql, ["EMEA' OR 1 = 1 --"]).fetchall() == []  # a region of that name: none
    from companybrain.delivery.sqldoor_sql import translate
    from companybrain.errors import QueryError

    with pytest.raises(QueryError, match=r"\$2 has no value bound \(1 are\)"):
        translate(sql.replace("%s", "$2"), door.door.tables, date(2026, 3, 1), ["EMEA"])


def test_a_catalog_read_that_runs_too_long_is_stopped(door: Door, monkeypatch: pytest.MonkeyPatch) -> None:
    from companybrain.delivery import sqldoor

    monkeypatch.setattr(sqldoor, "CATALOG_SECONDS", 0.5)
    heavy = "SELECT count(*) FROM pg_catalog.pg_proc a, pg_catalog.pg_proc b, pg_catalog.pg_proc c"
    started = time.perf_counter()
    with psycopg.connect(door.dsn("ceo")) as conn, pytest.raises(psycopg.Error, match=r"longer than 0\.5 s"):
        conn.execute(heavy)
    assert time.perf_counter() - started < 10

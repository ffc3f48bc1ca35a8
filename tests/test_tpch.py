"""TPC-H Q1, Q3, Q4, Q5, Q6, Q7, Q8, Q9, Q10, Q12, Q14 and Q19 through the governed query path equal
the official answers at SF 0.1, on DuckDB and on PostgreSQL.

Nothing here computes an expected figure: the data comes from the TPC's dbgen and the answers
from the TPC's answer files, both embedded in DuckDB's tpch extension (PyPI `duckdb-extension-tpch`),
and the project is examples/tpch as shipped. The README's `brain query` commands are run too.
"""

from __future__ import annotations

import importlib.util
import json
import re
import shlex
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import sqlglot

from companybrain import Brain
from companybrain.semantic.query import MetricQuery
from tests.conftest import PG_ADMIN, _pg_admin

pytestmark = pytest.mark.slow

SF = 0.1
EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "tpch"
NUMBER = re.compile(r"-?\d+(\.\d+)?")
Q1_METRICS = ("sum_qty", "sum_base_price", "sum_disc_price", "sum_charge", "avg_qty", "avg_price", "avg_disc")


@dataclass(frozen=True)
class TpchQuery:
    """A TPC-H query asked of the brain, and the official answer's column names where they differ."""

    query: MetricQuery
    renamed: dict[str, str] = field(default_factory=dict)  # official column -> column of the brain's result


QUERIES = {
    1: TpchQuery(
        MetricQuery(
            metrics=(*Q1_METRICS, "count_order"),
            by=("return_flag", "line_status"),
            where="shipdate <= DATE '1998-09-02'",
        ),
        {"l_returnflag": "return_flag", "l_linestatus": "line_status"},
    ),
    3: TpchQuery(
        MetricQuery(
            metrics=("revenue",),
            by=("Orders.orderkey", "Orders.orderdate", "Orders.shippriority"),
            where="Customer.mktsegment = 'BUILDING' AND Orders.orderdate < DATE '1995-03-15' "
            "AND shipdate > DATE '1995-03-15'",
            order_by=("-revenue", "Orders.orderdate"),
            limit=10,
        ),
        {"l_orderkey": "Orders.orderkey", "o_orderdate": "Orders.orderdate", "o_shippriority": "Orders.shippriority"},
    ),
    5: TpchQuery(
        MetricQuery(
            metrics=("revenue",),
            by=("supplier.nation.name",),
            where="supplier.nation.region.name = 'ASIA' AND order.customer.nationkey = supplier.nationkey",
            period="1994",
            order_by=("-revenue",),
        ),
        {"n_name": "supplier.nation.name"},
    ),
    4: TpchQuery(
        MetricQuery(metrics=("orders_received_late",), by=("Orders.orderpriority",), period="1993-Q3"),
        {"o_orderpriority": "Orders.orderpriority", "order_count": "orders_received_late"},
    ),
    6: TpchQuery(
        MetricQuery(
            metrics=("discount_amount",),
            where="discount BETWEEN 0.06 - 0.01 AND 0.06 + 0.01 AND quantity < 24",
            period="1994",
        ),
        {"revenue": "discount_amount"},
    ),
    7: TpchQuery(
        MetricQuery(
            metrics=("sum_disc_price",),
            by=("supplier_nation", "customer_nation", "ship_year"),
            where="(supplier_nation = 'FRANCE' AND customer_nation = 'GERMANY') "
            "OR (supplier_nation = 'GERMANY' AND customer_nation = 'FRANCE')",
            period="1995-01-01..1996-12-31",
        ),
        {
            "supp_nation": "supplier_nation",
            "cust_nation": "customer_nation",
            "l_year": "ship_year",
            "revenue": "sum_disc_price",
        },
    ),
    8: TpchQuery(
        MetricQuery(
            metrics=("brazil_market_share",),
            by=("order_year",),
            # the market: customers in America, four links away from a line item
            where="order.customer.nation.region.name = 'AMERICA' AND part.type = 'ECONOMY ANODIZED STEEL'",
            period="1995-01-01..1996-12-31",
        ),
        {"o_year": "order_year", "mkt_share": "brazil_market_share"},
    ),
    9: TpchQuery(
        MetricQuery(
            metrics=("profit",),
            by=("supplier_nation", "order_year"),
            where="part.name LIKE '%green%'",
            order_by=("supplier_nation", "-order_year"),
        ),
        {"nation": "supplier_nation", "o_year": "order_year", "sum_profit": "profit"},
    ),
    10: TpchQuery(
        MetricQuery(
            metrics=("revenue",),
            by=(
                "Customer.custkey",
                "Customer.name",
                "Customer.acctbal",
                "Customer.phone",
                "order.customer.nation.name",
                "Customer.address",
                "Customer.comment",
            ),
            where="returnflag = 'R'",
            period="1993-Q4",
            order_by=("-revenue",),
            limit=20,
        ),
        {
            "c_custkey": "Customer.custkey",
            "c_name": "Customer.name",
            "c_acctbal": "Customer.acctbal",
            "n_name": "order.customer.nation.name",
            "c_address": "Customer.address",
            "c_phone": "Customer.phone",
            "c_comment": "Customer.comment",
        },
    ),
    12: TpchQuery(
        MetricQuery(
            metrics=("high_priority_lines", "low_priority_lines"),
            by=("Lineitem.shipmode",),
            where="shipmode IN ('MAIL', 'SHIP') AND commitdate < receiptdate AND shipdate < commitdate",
            period="1994",
        ),
        {
            "l_shipmode": "Lineitem.shipmode",
            "high_line_count": "high_priority_lines",
            "low_line_count": "low_priority_lines",
        },
    ),
    14: TpchQuery(MetricQuery(metrics=("promo_revenue",), period="1995-09")),
    19: TpchQuery(
        MetricQuery(
            metrics=("sum_disc_price",),
            where=" OR ".join(
                f"(part.brand = '{brand}' AND part.container IN ({containers}) "
                f"AND quantity BETWEEN {low} AND {low} + 10 AND part.size BETWEEN 1 AND {size} "
                "AND shipmode IN ('AIR', 'AIR REG') "
                "AND shipinstruct = 'DELIVER IN PERSON')"
                for brand, containers, low, size in (
                    ("Brand#12", "'SM CASE', 'SM BOX', 'SM PACK', 'SM PKG'", 1, 5),
                    ("Brand#23", "'MED BAG', 'MED BOX', 'MED PKG', 'MED PACK'", 10, 10),
                    ("Brand#34", "'LG CASE', 'LG BOX', 'LG PACK', 'LG PKG'", 20, 15),
                )
            ),
        ),
        {"revenue": "sum_disc_price"},
    ),
}
# a metric whose filter reaches four links away (not part of the example)
FOUR_LINKS = """
metrics:
  revenue_of_american_customers:
    description: Revenue of line items ordered by customers in America.
    object: Lineitem
    expr: sum(extendedprice * (1 - discount))
    where: order.customer.nation.region.name = 'AMERICA'
    time: order.orderdate
"""
REVENUE_BY_CUSTOMER_REGION_SQL = """
SELECT r.r_name AS region, SUM(l.l_extendedprice * (1 - l.l_discount)) AS revenue
FROM raw.tpch__lineitem l
JOIN raw.tpch__orders o ON o.o_orderkey = l.l_orderkey
JOIN raw.tpch__customer c ON c.c_custkey = o.o_custkey
JOIN raw.tpch__nation n ON n.n_nationkey = c.c_nationkey
JOIN raw.tpch__region r ON r.r_regionkey = n.n_regionkey
WHERE o.o_orderdate >= DATE '1994-01-01' AND o.o_orderdate < DATE '1995-01-01'
GROUP BY r.r_name ORDER BY r.r_name
"""


def load_generator() -> ModuleType:
    """examples/tpch/generate.py, imported by path (examples are not a package)."""
    spec = importlib.util.spec_from_file_location("tpch_generate", EXAMPLE / "generate.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def generator() -> ModuleType:
    return load_generator()


@pytest.fixture(scope="module")
def tpch_data(tmp_path_factory: pytest.TempPathFactory, generator: ModuleType) -> Path:
    """The eight tables at SF 0.1, generated once."""
    data = tmp_path_factory.mktemp("tpch-data")
    generator.generate(data, SF)
    return data


def built_copy(root: Path, data: Path, warehouse: str | None = None) -> Path:
    """A copy of examples/tpch (and a test metric) over `data`, ingested and built."""
    shutil.copytree(EXAMPLE, root, dirs_exist_ok=True, ignore=shutil.ignore_patterns("data", ".brain", "__pycache__"))
    shutil.copytree(data, root / "data")
    (root / "metrics" / "four_links.yaml").write_text(FOUR_LINKS, encoding="utf-8")
    if warehouse is not None:
        text = (root / "brain.yaml").read_text(encoding="utf-8")
        (root / "brain.yaml").write_text(text.replace("duckdb:///.brain/warehouse.duckdb", warehouse), encoding="utf-8")
    with Brain.open(root) as brain:
        loads = brain.ingest()
        assert all(r.status == "ok" and r.rows_quarantined == 0 for r in loads), [r.as_dict() for r in loads]
        report = brain.build()
    assert report.objects["Lineitem"] == 600_572 and not report.blocking_failures  # partsupp resolves too
    return root


@pytest.fixture(scope="module")
def tpch_duckdb(tmp_path_factory: pytest.TempPathFactory, tpch_data: Path) -> Path:
    return built_copy(tmp_path_factory.mktemp("tpch"), tpch_data)


@pytest.fixture(scope="module")
def tpch_postgres(tmp_path_factory: pytest.TempPathFactory, tpch_data: Path) -> Iterator[Path]:
    """The same project in a fresh PostgreSQL database, dropped afterwards."""
    name = f"cb_tpch_{uuid.uuid4().hex[:10]}"
    with _pg_admin() as con:
        con.execute(f'CREATE DATABASE "{name}"')
    try:
        yield built_copy(tmp_path_factory.mktemp("tpch-pg"), tpch_data, PG_ADMIN.rsplit("/", 1)[0] + f"/{name}")
    finally:
        with _pg_admin() as con:
            con.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="module", params=["duckdb", pytest.param("postgres", marks=pytest.mark.services)])
def tpch_root(request: pytest.FixtureRequest) -> Path:
    """The built project on every warehouse engine."""
    return request.getfixturevalue(f"tpch_{request.param}")


def same(expected: str, got: Any) -> bool:
    """A value of the brain's result against the official answer's text."""
    if isinstance(got, bool) or got is None:
        return False
    if isinstance(got, int | float | Decimal):
        return float(got) == pytest.approx(float(expected), rel=1e-9)
    if isinstance(got, date):
        return got.isoformat() == expected
    if isinstance(got, str) and NUMBER.fullmatch(got) and NUMBER.fullmatch(expected):
        return Decimal(got) == Decimal(expected)  # PostgreSQL's NUMERIC arrives as its text ('6322.0900')
    return str(got) == expected


def assert_matches_official(generator: ModuleType, number: int, columns: list[str], rows: list[list[Any]]) -> None:
    """Every row, in order, and every column of the official answer, by the brain's column names."""
    official_columns, official_rows = generator.official_answer(number, SF)
    renamed = QUERIES[number].renamed
    wanted = [renamed.get(c, c) for c in official_columns]
    assert sorted(wanted) == sorted(columns), f"Q{number}: columns {columns}, official {official_columns}"
    assert len(rows) == len(official_rows), f"Q{number}: {len(rows)} rows, the official answer has {len(official_rows)}"
    position = {name: i for i, name in enumerate(columns)}
    for i, (row, official) in enumerate(zip(rows, official_rows, strict=True)):
        for name, expected in zip(wanted, official, strict=True):
            got = row[position[name]]
            assert same(expected, got), f"Q{number} row {i + 1} {name}: got {got!r}, official {expected!r}"


@pytest.mark.parametrize("number", sorted(QUERIES), ids=[f"Q{n}" for n in sorted(QUERIES)])
def test_query_equals_official_answer(tpch_root: Path, generator: ModuleType, number: int) -> None:
    with Brain.open(tpch_root) as brain:
        result = brain.query(QUERIES[number].query)
    assert_matches_official(generator, number, result.columns, result.rows)


def readme_commands() -> dict[int, list[str]]:
    """The `brain query` command under each `# Q<n>` comment of the README, as argv."""
    text = (EXAMPLE / "README.md").read_text(encoding="utf-8").replace("\\\n", " ")
    found = re.findall(r"^# Q(\d+)\b.*\n(brain query .*)$", text, flags=re.MULTILINE)
    return {int(n): shlex.split(command)[1:] for n, command in found}


def test_readme_commands_equal_official_answers(tpch_duckdb: Path, generator: ModuleType, run_cli) -> None:
    commands = readme_commands()
    assert sorted(commands) == sorted(QUERIES)
    for number, argv in commands.items():
        code, out, err = run_cli("-p", str(tpch_duckdb), *argv, "--format", "json")
        assert code == 0, f"Q{number}: {err}"
        data = json.loads(out)
        assert_matches_official(generator, number, data["columns"], data["rows"])


def test_four_link_paths_in_by_where_and_a_metric_filter(tpch_root: Path) -> None:
    path = "order.customer.nation.region.name"
    with Brain.open(tpch_root) as brain:
        hand_written = brain.warehouse.query_arrow(sqlglot.parse_one(REVENUE_BY_CUSTOMER_REGION_SQL, dialect="duckdb"))
        expected = [[r["region"], float(r["revenue"])] for r in hand_written.to_pylist()]
        by = brain.query(MetricQuery(("revenue",), by=(path,), period="1994")).rows
        assert [[r[0], pytest.approx(float(r[1]), rel=1e-12)] for r in by] == expected
        [[america]] = brain.query(MetricQuery(("revenue",), where=f"{path} = 'AMERICA'", period="1994")).rows
        [[declared]] = brain.query(MetricQuery(("revenue_of_american_customers",), period="1994")).rows
    assert america == declared == pytest.approx(dict((r[0], r[1]) for r in expected)["AMERICA"], rel=1e-12)


def test_a_type_reached_in_several_ways_is_refused_with_the_ways(tpch_duckdb: Path, run_cli) -> None:
    # a line item reaches Region through its supplier and through its order's customer: the brain
    # used to take the shorter (the supplier's) without a word
    code, _, err = run_cli("-p", str(tpch_duckdb), "query", "revenue", "--by", "Region.name")
    assert code == 1
    for way in ("supplier.nation.region.name", "order.customer.nation.region.name"):
        assert way in err
    assert "partsupp" not in err  # the line item's supplier is the default way to Supplier

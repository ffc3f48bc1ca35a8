"""TPC-H Q1, Q3, Q5, Q6 and Q10 through the governed query path equal the official answers at SF 0.1.

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
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from companybrain import Brain
from companybrain.semantic.query import MetricQuery

pytestmark = pytest.mark.slow

SF = 0.1
EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "tpch"
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
    6: TpchQuery(
        MetricQuery(
            metrics=("discount_amount",),
            where="discount BETWEEN 0.06 - 0.01 AND 0.06 + 0.01 AND quantity < 24",
            period="1994",
        ),
        {"revenue": "discount_amount"},
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
}


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
def tpch_root(tmp_path_factory: pytest.TempPathFactory, generator: ModuleType) -> Path:
    """A copy of examples/tpch with SF 0.1 data, ingested and built once for the module."""
    root = tmp_path_factory.mktemp("tpch")
    shutil.copytree(EXAMPLE, root, dirs_exist_ok=True, ignore=shutil.ignore_patterns("data", ".brain", "__pycache__"))
    generator.generate(root / "data", SF)
    with Brain.open(root) as brain:
        loads = brain.ingest()
        assert all(r.status == "ok" and r.rows_quarantined == 0 for r in loads), [r.as_dict() for r in loads]
        report = brain.build()
    assert report.objects["Lineitem"] == 600_572 and not report.blocking_failures
    return root


def same(expected: str, got: Any) -> bool:
    """A value of the brain's result against the official answer's text."""
    if isinstance(got, bool) or got is None:
        return False
    if isinstance(got, int | float | Decimal):
        return float(got) == pytest.approx(float(expected), rel=1e-9)
    if isinstance(got, date):
        return got.isoformat() == expected
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


def test_readme_commands_equal_official_answers(tpch_root: Path, generator: ModuleType, run_cli) -> None:
    commands = readme_commands()
    assert sorted(commands) == sorted(QUERIES)
    for number, argv in commands.items():
        code, out, err = run_cli("-p", str(tpch_root), *argv, "--format", "json")
        assert code == 0, f"Q{number}: {err}"
        data = json.loads(out)
        assert_matches_official(generator, number, data["columns"], data["rows"])

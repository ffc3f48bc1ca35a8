"""The one query path: metric results equal independent figures, no fan-out, periods, grains — on every engine."""

from __future__ import annotations

import dataclasses
import json
from datetime import date, datetime
from pathlib import Path

import pytest
import sqlglot
from sqlglot import exp

from companybrain import Brain
from companybrain.errors import ConfigError, QueryError
from companybrain.governance.policy import Policy
from companybrain.governance.principal import Principal
from companybrain.project import Project
from companybrain.semantic.compiler import compile_query
from companybrain.semantic.joins import AmbiguousPath
from companybrain.semantic.model import SemanticModel
from companybrain.semantic.period import buckets, parse_period
from companybrain.semantic.query import MetricQuery
from companybrain.specs.ontology import Link, ObjectType, Property
from tests.semantic_shop import expected_by_region, orders, region_of


@pytest.fixture
def brain(semantic_brain: Brain) -> Brain:
    return semantic_brain


def by_key(brain: Brain, query: MetricQuery, user: str | None = None) -> dict:
    result = brain.query(query, user)
    n = len(query.by)
    return {
        tuple(r[:n]) if n > 1 else (r[0] if n else None): dict(zip(result.columns[n:], r[n:], strict=True))
        for r in result.rows
    }


def test_metrics_equal_independent_figures_without_fan_out(brain: Brain) -> None:
    expected = expected_by_region()
    got = by_key(brain, MetricQuery(("revenue", "order_amount", "orders", "big_orders"), by=("region",)))
    assert set(got) == set(expected)
    for region, values in got.items():
        # order_amount lives on Order, revenue on OrderLine: mixing them must not multiply Order rows
        assert values["order_amount"] == pytest.approx(expected[region]["order_amount"])
        assert values["revenue"] == pytest.approx(expected[region]["revenue"])
        assert values["orders"] == expected[region]["orders"]
        assert values["big_orders"] == expected[region]["big_orders"]


def test_totals_and_ratios_roll_up_from_components(brain: Brain) -> None:
    expected = expected_by_region()
    [total] = brain.query(MetricQuery(("revenue", "orders", "revenue_per_order", "big_share"))).rows
    revenue = sum(v["revenue"] for v in expected.values())
    count = sum(v["orders"] for v in expected.values())
    assert total[0] == pytest.approx(revenue) and total[1] == count
    assert total[2] == pytest.approx(revenue / count)  # a ratio of sums, not an average of ratios
    assert total[3] == pytest.approx(sum(v["big_orders"] for v in expected.values()) / count)
    got = by_key(brain, MetricQuery(("revenue_per_order", "avg_line_value"), by=("region",)))
    for region, values in got.items():
        assert values["revenue_per_order"] == pytest.approx(expected[region]["revenue_per_order"])
        assert values["avg_line_value"] == pytest.approx(expected[region]["avg_line_value"])


def test_distinct_counts_are_not_summed_across_grains(brain: Brain) -> None:
    [[total]] = brain.query(MetricQuery(("buying_customers",))).rows
    assert total == 50
    per_day = brain.query(MetricQuery(("buying_customers",), by=("day",))).rows
    assert len(per_day) == 3 and sum(r[1] for r in per_day) > 50  # the same customers buy on several days


def test_periods_and_time_grains(brain: Brain) -> None:
    rows = brain.query(MetricQuery(("orders", "revenue"), by=("day",), period="2025-01-02..2025-01-02")).rows
    day = [o for o in orders() if o["ordered_at"].date() == datetime(2025, 1, 2).date()]
    assert [(r[0].isoformat(), r[1]) for r in rows] == [("2025-01-02", len(day))]
    assert brain.query(MetricQuery(("orders",), period="ytd")).rows == [[3000]]  # today is 2025-03-15
    assert brain.query(MetricQuery(("orders",), period="last_quarter")).rows == [[0]]
    [[label, n]] = brain.query(MetricQuery(("orders",), by=("fiscal_quarter",))).rows
    assert (label, n) == ("FY2025-Q2", 3000)  # the fiscal year starts in October


def test_a_snapshot_reads_as_it_stands_today_whatever_the_period(brain: Brain, tmp_path: Path) -> None:
    """A snapshot (a backlog) is not placed in time by its records' date: a period does not pick what it counts
    (said in a note), it has no trend by a time grain (refused, saying why), and it cannot also take a time."""
    big = sum(1 for o in orders() if o["amount"] > 100)
    result = brain.query(MetricQuery(("orders", "big_orders_open"), period="last_quarter"))  # no order then
    assert result.rows == [[0, big]]
    assert any("big_orders_open: as it stands today; the period does not apply" in n for n in result.notes)
    with pytest.raises(QueryError, match=r"big_orders_open: read as it stands today .* no trend by month"):
        brain.query(MetricQuery(("big_orders_open",), by=("month",)))
    root = Path(brain.project.root)
    metrics = (root / "metrics" / "shop.yaml").read_text()
    (root / "metrics" / "shop.yaml").write_text(
        metrics.replace("    snapshot: true\n", "    snapshot: true\n    time: ordered_at\n")
    )
    with pytest.raises(ConfigError, match="a snapshot is read as it stands today: it has no time"):
        Project.load(root)


def test_type_property_dimensions_filters_and_order(brain: Brain) -> None:
    expected = expected_by_region()
    query = MetricQuery(("revenue",), by=("Customer.region",), where="region <> 'NA'", order_by=("-revenue",), limit=1)
    [[region, revenue]] = brain.query(query).rows
    best = max((r for r in expected if r != "NA"), key=lambda r: expected[r]["revenue"])
    assert region == best and revenue == pytest.approx(expected[best]["revenue"])


def test_clear_errors(brain: Brain) -> None:
    with pytest.raises(QueryError, match="did you mean 'revenue'"):
        brain.query(MetricQuery(("revenu",)))
    with pytest.raises(QueryError, match="did you mean 'region'"):
        brain.query(MetricQuery(("orders",), by=("regoin",)))
    with pytest.raises(QueryError, match="unknown period"):
        brain.query(MetricQuery(("orders",), period="next tuesday"))
    with pytest.raises(QueryError, match="may not use"):
        brain.query(MetricQuery(("orders",), where="region IN (SELECT 'NA')"))
    with pytest.raises(QueryError, match="cannot be reached from Employee"):
        brain.query(MetricQuery(("payroll",), by=("region",)), "hrbp")


def test_cli_query_json_shape(brain: Brain, run_cli) -> None:
    root = str(brain.project.root)
    brain.close()
    code, out, _ = run_cli("-p", root, "query", "revenue", "orders", "--by", "region", "--format", "json")
    data = json.loads(out)
    assert code == 0
    assert {"columns", "rows", "sql", "freshness", "policy"} <= set(data)
    assert data["columns"] == ["region", "revenue", "orders"] and len(data["rows"]) == 3
    assert data["freshness"]["data_version"] == "build-1" and "raw.ops__order_lines" in data["freshness"]["sources"]
    assert data["policy"]["user"] == "ceo"
    code, out, _ = run_cli("-p", root, "metrics", "--format", "json")
    names = [m["name"] for m in json.loads(out)["metrics"]]
    assert "revenue" in names and "payroll" not in names  # the CEO may not read HR data


SEMI_JOIN = """
metrics:
  customers_with_big_early_orders:
    description: Customers with an order over 190 among the first thousand orders.
    object: Customer
    expr: count(*)
    where: exists(orders, amount > 190 AND order_id <= 1000)
    format: count
"""


def test_a_semi_join_counts_the_objects_that_have_a_linked_object(brain: Brain) -> None:
    root = brain.project.root
    brain.close()
    (root / "metrics" / "semi_join.yaml").write_text(SEMI_JOIN, encoding="utf-8")
    policies = root / "policies" / "shop.yaml"
    policies.write_text(
        policies.read_text().replace("metrics: [revenue,", "metrics: [customers_with_big_early_orders, revenue,")
    )
    buyers = {o["customer_id"] for o in orders() if o["amount"] > 190 and o["order_id"] <= 1000}
    with Brain.open(root) as shop:
        [[everyone]] = shop.query(MetricQuery(("customers_with_big_early_orders",))).rows
        as_rep = shop.query(MetricQuery(("customers_with_big_early_orders",)), "emea_rep")
        dialect = shop.warehouse.dialect
    assert everyone == len(buyers) > 0
    assert as_rep.rows == [[len([c for c in buyers if region_of(c) == "EMEA"])]]
    # the reader's row filter holds on the objects the semi-join reads too (here the orders' customers)
    semi_join = sqlglot.parse_one(as_rep.sql, dialect=dialect).find(exp.Exists)
    assert semi_join is not None and exp.Literal.string("EMEA") in set(semi_join.find_all(exp.Literal))


# --- link paths, checked on the TPC-H example's model (compiled, not run: no data needed) -----------

TPCH = Path(__file__).resolve().parents[1] / "examples" / "tpch"


@pytest.fixture(scope="module")
def tpch() -> Project:
    return Project.load(TPCH)


def compile_tpch(project: Project, query: MetricQuery) -> str:
    model = SemanticModel(project)
    compiled = compile_query(model, query, Policy(project, Principal("local", unrestricted=True)), date(2026, 3, 1))
    return compiled.tree.sql(dialect="duckdb")


def test_a_type_reached_in_several_ways_is_never_chosen_silently(tpch: Project) -> None:
    # a line item reaches Region through its supplier and through its order's customer
    ways = ["supplier.nation.region.name", "order.customer.nation.region.name"]
    for query in (
        MetricQuery(("revenue",), by=("Region.name",)),
        MetricQuery(("revenue",), where="Region.name = 'ASIA'"),
        MetricQuery(("revenue",), by=("Customer.name",), where="Region.name = 'ASIA'"),
    ):
        with pytest.raises(AmbiguousPath) as caught:
            compile_tpch(tpch, query)
        assert caught.value.candidates == [tuple(w.split(".")[:-1]) for w in ways]
        assert all(way in caught.value.message for way in ways)
    # in a metric's definition too
    project = dataclasses.replace(tpch)
    asian = tpch.metrics["revenue"].model_copy(update={"where": "Region.name = 'ASIA'"})
    project.metrics = {**tpch.metrics, "asian_revenue": asian}
    with pytest.raises(AmbiguousPath, match="metric asian_revenue: Lineitem reaches Region in 2 ways"):
        SemanticModel(project).check_metric("asian_revenue")
    # one way only: named by type
    assert '"t1"."orderdate"' in compile_tpch(tpch, MetricQuery(("revenue",), by=("Orders.orderdate",)))


def test_a_default_link_or_a_dimensions_paths_say_which_way(tpch: Project) -> None:
    # Lineitem.supplier is the default way to Supplier: partsupp.supplier (the same supplier) is no rival
    sql = compile_tpch(tpch, MetricQuery(("revenue",), by=("Supplier.name", "supplier_nation")))
    assert "part_supp" not in sql and sql.count("JOIN") == 3  # the order (for the time), supplier, nation
    # without it, Supplier.name and the dimension supplier_nation are refused, with the ways
    project = dataclasses.replace(tpch, objects=dict(tpch.objects))
    lineitem = tpch.objects["Lineitem"]
    links = {**lineitem.links, "supplier": lineitem.links["supplier"].model_copy(update={"default": False})}
    project.objects["Lineitem"] = lineitem.model_copy(update={"links": links})
    with pytest.raises(AmbiguousPath, match=r"Lineitem reaches Supplier in 2 ways, so Supplier\.name could mean"):
        compile_tpch(project, MetricQuery(("revenue",), by=("Supplier.name",)))
    with pytest.raises(AmbiguousPath, match="dimension supplier_nation: Lineitem reaches Supplier in 2 ways") as caught:
        compile_tpch(project, MetricQuery(("revenue",), by=("supplier_nation",)))
    assert caught.value.candidates == [("supplier",), ("partsupp", "supplier")]
    assert "paths: {Lineitem: supplier}" in (caught.value.hint or "")
    declared = tpch.dimensions["supplier_nation"].model_copy(update={"paths": {"Lineitem": "partsupp.supplier"}})
    project.dimensions = {**tpch.dimensions, "supplier_nation": declared}
    assert "part_supp" in compile_tpch(project, MetricQuery(("revenue",), by=("supplier_nation",)))
    # a type has one default way to a type
    with pytest.raises(ValueError, match="both the default way to Supplier"):
        ObjectType(
            key="k",
            source="raw.x",
            properties={"k": Property(), "s": Property(), "t": Property()},
            links={"a": Link(to="Supplier", via="s", default=True), "b": Link(to="Supplier", via="t", default=True)},
        )


def test_link_paths_of_any_length(tpch: Project) -> None:
    four = "order.customer.nation.region.name"
    sql = compile_tpch(tpch, MetricQuery(("revenue",), by=(four,), where=f"{four} <> 'ASIA'"))
    assert sql.count("JOIN") == 4  # order, customer, nation, region; the time (order.orderdate) shares the first
    compile_tpch(
        tpch, MetricQuery(("revenue",), by=("partsupp.supplier.nation.region.name", "Customer.nation.region.name"))
    )
    project = dataclasses.replace(tpch)
    project.metrics = {**tpch.metrics, "r": tpch.metrics["revenue"].model_copy(update={"where": f"{four} = 'ASIA'"})}
    assert '"t4"."name" = \'ASIA\'' in compile_tpch(project, MetricQuery(("r",)))
    # an error names the real problem
    with pytest.raises(QueryError, match=r"ends at a link \(Nation.region, to Region\), not at a property") as caught:
        compile_tpch(tpch, MetricQuery(("revenue",), by=("order.customer.nation.region",)))
    assert "order.customer.nation.region.name" in (caught.value.hint or "")
    with pytest.raises(QueryError, match="Region has no property 'nme'; did you mean 'name'"):
        compile_tpch(tpch, MetricQuery(("revenue",), where="order.customer.nation.region.nme = 'ASIA'"))


def test_semi_joins_and_links_on_two_columns(tpch: Project) -> None:
    sql = compile_tpch(tpch, MetricQuery(("orders_received_late",)))
    assert 'EXISTS(SELECT 1 FROM "ontology"."lineitem" AS "t_0_0" WHERE "t_0_0"."orderkey" = "t0"."orderkey"' in sql
    on = 'ON "t0"."partkey" = "t2"."partkey" AND "t0"."suppkey" = "t2"."suppkey"'  # t1: the order, for the time
    assert on in compile_tpch(tpch, MetricQuery(("profit",)))
    project = dataclasses.replace(tpch)
    for where, error in (
        ("exists(customer, mktsegment = 'BUILDING')", "Orders.customer is many-to-one"),
        ("exists(lineitem, commitdate < receiptdate)", "Orders has no link 'lineitem'; did you mean 'lineitems'"),
        ("exists(lineitems, comitdate < receiptdate)", "Lineitem has no property 'comitdate'"),
    ):
        project.metrics = {
            **tpch.metrics,
            "m": tpch.metrics["orders_received_late"].model_copy(update={"where": where}),
        }
        with pytest.raises(QueryError, match=error):
            compile_tpch(project, MetricQuery(("m",)))
    with pytest.raises(ValueError, match="needs to_keys"):
        Link(to="PartSupp", via=["partkey", "suppkey"])
    with pytest.raises(ValueError, match="via has 2 properties but to_keys 1"):
        Link(to="PartSupp", via=["partkey", "suppkey"], to_keys=["partkey"])


def test_relative_periods_say_what_they_cover() -> None:
    today = date(2026, 3, 1)
    this_year = parse_period("this_year", today)
    assert (this_year.start, this_year.last) == (date(2026, 1, 1), date(2026, 12, 31))
    assert "not year-to-date" in (this_year.describe(today) or "") and "305 of its days are after today" in (
        this_year.describe(today) or ""
    )
    assert parse_period("ytd", today).last == today and "after today" not in (
        parse_period("ytd", today).describe(today) or ""
    )
    ninety = parse_period("last_90_days", today)
    assert (ninety.end - ninety.start).days == 90 and ninety.last == today
    assert parse_period("2025-Q4", today).describe(today) is None  # a period written as dates says itself
    assert [b[0] for b in buckets(parse_period("2025-08-15..2025-11-02", today), "fiscal_quarter", 10)] == [
        "FY2025-Q4",
        "FY2026-Q1",
    ]

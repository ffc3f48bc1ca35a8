"""The demo's metric set against hand-written SQL over the raw tables, its users' policies as a
matrix, and the same answers from DuckDB and PostgreSQL."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from companybrain import Brain
from companybrain.errors import PolicyDenied
from companybrain.semantic.query import MetricQuery

pytestmark = pytest.mark.slow

MARGIN_BY_REGION_SQL = """
SELECT c.region,
       SUM(ol.net_amount) AS revenue,
       SUM(ol.qty * (p.std_material_cost + p.labour_hours_per_unit
           * (s.labour_rate_per_hour + s.overhead_rate_per_labour_hour))) AS cogs
FROM raw.erp__order_lines ol
JOIN raw.erp__orders o ON o.order_id = ol.order_id
JOIN raw.erp__customers c ON c.customer_id = o.customer_id
JOIN raw.erp__products p ON p.product_id = ol.product_id
JOIN raw.erp__lines l ON l.line_id = ol.production_line_id
JOIN raw.erp__sites s ON s.site_id = l.site_id
WHERE o.status <> 'cancelled' AND o.order_date >= DATE '2025-01-01' AND o.order_date < DATE '2026-01-01'
GROUP BY c.region ORDER BY c.region
"""

COST_TO_SERVE_SQL = """
SELECT SUM(sh.freight_cost) AS freight
FROM raw.erp__shipments sh JOIN raw.erp__orders o ON o.order_id = sh.order_id
WHERE o.status <> 'cancelled'
"""

ON_TIME_BY_SITE_SQL = """
SELECT s.name,
       COUNT(*) FILTER (WHERE sh.delivered_date <= o.due_date) * 1.0 / COUNT(*) AS on_time
FROM raw.erp__shipments sh
JOIN raw.erp__orders o ON o.order_id = sh.order_id
JOIN raw.erp__sites s ON s.site_id = sh.site_id
WHERE sh.delivered_date IS NOT NULL
GROUP BY s.name ORDER BY s.name
"""


@pytest.fixture(scope="module")
def demo(small_demo: Callable[[str], Path]) -> Iterator[Brain]:
    brain = Brain.open(small_demo("demo-metrics"))
    yield brain
    brain.close()


def raw_sql(brain: Brain, sql: str) -> list[tuple]:
    return brain.warehouse._con.execute(sql).fetchall()  # type: ignore[attr-defined]  # hand-written, on purpose


def test_margin_equals_hand_written_sql(demo: Brain) -> None:
    result = demo.query(MetricQuery(("revenue", "cogs", "gross_margin", "margin_pct"), by=("region",), period="2025"))
    expected = raw_sql(demo, MARGIN_BY_REGION_SQL)
    assert [r[0] for r in result.rows] == [e[0] for e in expected]
    for (_, revenue, cogs, margin, pct), (_, rev, cost) in zip(result.rows, expected, strict=True):
        assert revenue == pytest.approx(rev) and cogs == pytest.approx(cost)
        assert margin == pytest.approx(rev - cost) and pct == pytest.approx((rev - cost) / rev)


def test_freight_allocation_adds_up_to_the_shipments(demo: Brain) -> None:
    [[freight]] = demo.query(MetricQuery(("freight_cost",))).rows
    [(expected,)] = raw_sql(demo, COST_TO_SERVE_SQL)
    assert freight == pytest.approx(expected, rel=1e-9)  # allocated to lines, nothing lost or made up


def test_on_time_delivery_equals_hand_written_sql(demo: Brain) -> None:
    result = demo.query(MetricQuery(("on_time_delivery",), by=("Site.name",)))
    expected = raw_sql(demo, ON_TIME_BY_SITE_SQL)
    assert [(r[0], pytest.approx(r[1])) for r in result.rows] == [(e[0], e[1]) for e in expected]


def test_every_demo_metric_computes(demo: Brain) -> None:
    for name in demo.project.metrics:
        user = "emea_hrbp" if "hr" in demo.semantic.tags_read(name) else "cfo"
        [[value]] = demo.query(MetricQuery((name,)), user).rows
        assert value is not None and value == value, name  # neither NULL nor NaN


# user -> metrics they may read (True) or not (False)
METRICS = {
    "ceo": {"revenue": True, "true_margin_pct": True, "attrition_rate": True, "headcount": True, "win_rate": True},
    "cfo": {"revenue": True, "cogs": True, "attrition_rate": False, "headcount": True, "capacity_utilisation": True},
    "emea_rep": {
        "revenue": True,
        "margin_pct": True,
        "win_rate": True,
        "cogs": False,
        "attrition_rate": False,
        "capacity_utilisation": False,
    },
    "mke_plant_manager": {
        "capacity_utilisation": True,
        "defect_rate": True,
        "revenue": True,
        "win_rate": False,
        "margin_pct": False,
        "attrition_rate": False,
    },
    "emea_hrbp": {"attrition_rate": True, "headcount": True, "skills_coverage": True, "revenue": False},
    "data_steward": {"revenue": True, "headcount": True, "attrition_rate": False},
}
# user -> object types they may read (True) or not (False)
OBJECTS = {
    "ceo": {"Customer": True, "Employee": True, "Order": True},
    "emea_rep": {"Customer": True, "Opportunity": True, "Employee": False, "Machine": False},
    "mke_plant_manager": {"Machine": True, "Employee": True, "Customer": False, "Opportunity": False},
    "emea_hrbp": {"Employee": True, "OvertimeMonth": True, "Customer": False, "Order": False},
}


@pytest.mark.parametrize("user", sorted(METRICS))
def test_users_x_metrics(demo: Brain, user: str) -> None:
    for metric, allowed in METRICS[user].items():
        if allowed:
            assert demo.query(MetricQuery((metric,)), user).rows, (user, metric)
        else:
            with pytest.raises(PolicyDenied):
                demo.query(MetricQuery((metric,)), user)


@pytest.mark.parametrize("user", sorted(OBJECTS))
def test_users_x_objects(demo: Brain, user: str) -> None:
    for type_name, allowed in OBJECTS[user].items():
        if allowed:
            assert demo.count_objects(type_name, user=user) > 0, (user, type_name)
        else:
            with pytest.raises(PolicyDenied):
                demo.objects(type_name, limit=1, user=user)


def test_what_each_user_sees(demo: Brain) -> None:
    # the rep: EMEA customers only, their contacts' emails visible, no salaries anywhere
    assert {c["region"] for c in demo.objects("Customer", limit=500, user="emea_rep")} == {"EMEA"}
    [[all_revenue]] = demo.query(MetricQuery(("revenue",), period="2025"), "ceo").rows
    by_region = dict(demo.query(MetricQuery(("revenue",), by=("region",), period="2025"), "ceo").rows)
    [[rep_revenue]] = demo.query(MetricQuery(("revenue",), period="2025"), "emea_rep").rows
    assert rep_revenue == pytest.approx(by_region["EMEA"]) and rep_revenue < all_revenue
    # the plant manager: Milwaukee only
    sites = demo.query(MetricQuery(("units_produced",), by=("site",)), "mke_plant_manager").rows
    assert [s[0] for s in sites] == ["Milwaukee Works"]
    [employee] = demo.objects("Employee", limit=1, user="mke_plant_manager")
    assert employee["site_id"] == "MKE" and employee["full_name"] == "***" and employee["salary"] == "***"
    # the HR partner: EMEA people, with pay
    people = demo.objects("Employee", limit=200, user="emea_hrbp")
    assert {p["region"] for p in people} == {"EMEA"} and all(isinstance(p["salary"], float) for p in people)
    # the CEO: attrition yes, a person's salary no
    [ceo_view] = demo.objects("Employee", limit=1, user="ceo")
    assert ceo_view["salary"] == "***" and ceo_view["exit_reason"] == "***"


@pytest.mark.services
def test_duckdb_and_postgres_agree_on_the_demo(demo: Brain, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    pg_url = request.getfixturevalue("pg_url")
    root = tmp_path / "acme_pg"
    shutil.copytree(demo.project.root, root, ignore=shutil.ignore_patterns(".brain"))
    text = (root / "brain.yaml").read_text().replace("duckdb:///.brain/warehouse.duckdb", pg_url)
    (root / "brain.yaml").write_text(text)
    queries = [
        MetricQuery(("revenue", "gross_margin", "true_margin_pct"), by=("region", "quarter"), period="2025"),
        MetricQuery(("on_time_delivery", "capacity_utilisation"), by=("site",), period="last_quarter"),
        MetricQuery(("win_rate", "sales_cycle_days", "pipeline"), by=("sales_play",)),
        MetricQuery(("customers_buying", "average_order_value"), by=("segment", "fiscal_year")),
    ]
    with Brain.open(root) as pg:
        pg.ingest()
        pg.build()
        for query in queries:
            a, b = demo.query(query, "cfo"), pg.query(query, "cfo")
            assert a.columns == b.columns
            assert len(a.rows) == len(b.rows) > 0, query
            for x, y in zip(a.rows, b.rows, strict=True):
                assert x[: len(query.by)] == y[: len(query.by)]
                for u, v in zip(x[len(query.by) :], y[len(query.by) :], strict=True):
                    assert u == v if u is None or v is None else u == pytest.approx(v, rel=1e-9), query


def test_every_metric_and_dimension_is_described_for_people(demo: Brain) -> None:
    for name, metric in demo.project.metrics.items():
        assert metric.description and metric.synonyms, name
    for name, dim in demo.project.dimensions.items():
        assert dim.description and dim.synonyms, name

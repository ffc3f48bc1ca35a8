"""The demo's metric set against hand-written SQL over the raw tables, its users' policies as a
matrix, and the same answers from DuckDB and PostgreSQL."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path

import pytest

from companybrain import Brain
from companybrain.errors import PolicyDenied
from companybrain.governance.principal import Principal
from companybrain.semantic.joins import AmbiguousPath
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


# metrics written for these tests: semi-joins over a many-to-many link, from both of its sides
SEMI_JOINS = """
metrics:
  people_with_a_production_skill:
    description: Active employees with at least one skill of the Production category.
    synonyms: [production-skilled people]
    object: Employee
    expr: count(*)
    where: status = 'active' AND exists(skills, category = 'Production')
    format: count
  skills_held:
    description: Skills at least one active employee has.
    synonyms: [skills in use]
    object: Skill
    expr: count(*)
    where: exists(employees, status = 'active')
    format: count
"""
PRODUCTION_SKILLED_SQL = """
SELECT COUNT(*) FROM raw.hris__employees e
WHERE e.status = 'active' AND e.employee_id IN (
  SELECT es.employee_id FROM raw.hris__employee_skills es JOIN raw.hris__skills s ON s.skill_id = es.skill_id
  WHERE s.category = 'Production')
"""
SKILLS_HELD_SQL = """
SELECT COUNT(DISTINCT es.skill_id) FROM raw.hris__employee_skills es
JOIN raw.hris__employees e ON e.employee_id = es.employee_id
JOIN raw.hris__skills s ON s.skill_id = es.skill_id
WHERE e.status = 'active'
"""
RETURNS_BY_DATE_SQL = """
SELECT SUM(r.credit_amount) FILTER (WHERE o.order_date >= DATE '2025-01-01' AND o.order_date < DATE '2026-01-01'),
       SUM(r.credit_amount) FILTER (WHERE r.return_date >= DATE '2025-01-01' AND r.return_date < DATE '2026-01-01'),
       SUM(r.credit_amount)
FROM raw.erp__returns r
JOIN raw.erp__order_lines ol ON ol.order_line_id = r.order_line_id
JOIN raw.erp__orders o ON o.order_id = ol.order_id
WHERE o.status <> 'cancelled'
"""
PEOPLE_SQL = "SELECT site_id, region, hire_date, exit_date FROM raw.hris__employees"
SITES_SQL = "SELECT site_id, name FROM raw.erp__sites"


@pytest.fixture(scope="module")
def demo(small_demo: Callable[[str], Path]) -> Iterator[Brain]:
    root = small_demo("demo-metrics")
    (root / "metrics" / "semi_joins.yaml").write_text(SEMI_JOINS, encoding="utf-8")
    brain = Brain.open(root)
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
    # a shipment reaches Site through its own site and through its order's (and more): the
    # dimension `site` says which (paths: {Shipment: site}); Site.name does not, and is refused
    with pytest.raises(AmbiguousPath, match="Shipment reaches Site in 4 ways") as caught:
        demo.query(MetricQuery(("on_time_delivery",), by=("Site.name",)))
    assert ("site",) in caught.value.candidates and ("order", "ship_from") in caught.value.candidates
    result = demo.query(MetricQuery(("on_time_delivery",), by=("site",)))
    assert result.rows == demo.query(MetricQuery(("on_time_delivery",), by=("site.name",))).rows
    expected = raw_sql(demo, ON_TIME_BY_SITE_SQL)
    assert [(r[0], pytest.approx(r[1])) for r in result.rows] == [(e[0], e[1]) for e in expected]


def test_every_demo_metric_computes(demo: Brain) -> None:
    for name in demo.project.metrics:
        readers = [u for u in ("cfo", "emea_hrbp") if name in names_readable(demo, u)]
        # average_headcount is read through attrition_rate: no demo role names it by itself
        reader: str | Principal = readers[0] if readers else Principal("test", unrestricted=True)
        [[value]] = demo.query(MetricQuery((name,)), reader).rows
        assert value is not None and value == value, name  # neither NULL nor NaN


def names_readable(demo: Brain, user: str) -> set[str]:
    return {m["name"] for m in demo.metrics_catalog(user)["metrics"]}


def test_attrition_is_exits_over_the_average_headcount_of_the_period(demo: Brain) -> None:
    result = demo.query(MetricQuery(("exits", "attrition_rate"), by=("site",), period="2025"), "emea_hrbp")
    # by hand: every EMEA employee counts on each day of 2025 from their hire date up to their exit date
    first, after = date(2025, 1, 1), date(2026, 1, 1)
    sites = dict(raw_sql(demo, SITES_SQL))
    days: dict[str, int] = {}
    exits: dict[str, int] = {}
    for site_id, region, hired, left in raw_sql(demo, PEOPLE_SQL):
        if region != "EMEA":
            continue
        site = sites[site_id]
        start, end = max(hired, first), min(left or after, after)
        days[site] = days.get(site, 0) + max((end - start).days, 0)
        exits[site] = exits.get(site, 0) + (left is not None and first <= left < after)
    expected = [[site, exits[site] or None, exits[site] / (days[site] / 365)] for site in sorted(days) if days[site]]
    assert [[r[0], r[1], pytest.approx(r[2], rel=1e-12)] for r in result.rows] == expected
    assert result.policy["row_filters"] == ["Employee: region = 'EMEA'"]
    # without a period: the 12 months to today (2026-03-01), said in the answer
    whole = demo.query(MetricQuery(("attrition_rate",)), "emea_hrbp")
    assert whole.period == {"period": "2025-03-02..2026-03-01", "from": "2025-03-02", "to": "2026-03-01"}
    assert any("no period was given: the 12 months up to today" in note for note in whole.notes)


def test_returns_are_placed_by_the_order_date_or_by_their_own(demo: Brain) -> None:
    [[by_order, by_return]] = demo.query(
        MetricQuery(("returns_cost", "returns_cost_by_return_date"), period="2025"), "cfo"
    ).rows
    [(expected_by_order, expected_by_return, total)] = raw_sql(demo, RETURNS_BY_DATE_SQL)
    assert by_order == pytest.approx(expected_by_order) and by_return == pytest.approx(expected_by_return)
    assert by_order != pytest.approx(by_return)
    [[all_by_order, all_by_return]] = demo.query(
        MetricQuery(("returns_cost", "returns_cost_by_return_date")), "cfo"
    ).rows
    assert all_by_order == pytest.approx(total) == pytest.approx(all_by_return)  # the same credits, other dates
    [[margin_returns]] = demo.query(MetricQuery(("cost_to_serve",), period="2025"), "cfo").rows
    [[freight, warranty]] = demo.query(MetricQuery(("freight_cost", "warranty_cost"), period="2025"), "cfo").rows
    assert margin_returns == pytest.approx(freight + by_order + warranty)  # the margin counts by order date


def test_semi_joins_over_a_many_to_many_link(demo: Brain) -> None:
    [[people]] = demo.query(MetricQuery(("people_with_a_production_skill",)), "ceo").rows
    [[skills]] = demo.query(MetricQuery(("skills_held",)), "ceo").rows
    [(expected_people,)] = raw_sql(demo, PRODUCTION_SKILLED_SQL)
    [(expected_skills,)] = raw_sql(demo, SKILLS_HELD_SQL)
    assert (people, skills) == (expected_people, expected_skills) and people > 0 and skills > 0


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
        (MetricQuery(("revenue", "gross_margin", "true_margin_pct"), by=("region", "quarter"), period="2025"), "cfo"),
        (MetricQuery(("on_time_delivery", "capacity_utilisation"), by=("site",), period="last_quarter"), "cfo"),
        (MetricQuery(("win_rate", "sales_cycle_days", "pipeline"), by=("sales_play",)), "cfo"),
        (MetricQuery(("customers_buying", "average_order_value"), by=("segment", "fiscal_year")), "cfo"),
        (MetricQuery(("exits", "attrition_rate"), by=("site", "quarter"), period="2025"), "emea_hrbp"),
        (MetricQuery(("exits", "attrition_rate"), by=("function", "fiscal_quarter")), "emea_hrbp"),
        (MetricQuery(("people_with_a_production_skill", "skills_held")), "ceo"),
        (MetricQuery(("people_with_a_production_skill",), by=("site",)), "ceo"),
        (MetricQuery(("returns_cost", "returns_cost_by_return_date"), by=("month",)), "cfo"),
    ]
    with Brain.open(root) as pg:
        pg.ingest()
        pg.build()
        for query, user in queries:
            a, b = demo.query(query, user), pg.query(query, user)
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

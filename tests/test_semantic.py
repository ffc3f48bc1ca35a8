"""The one query path: metric results equal independent figures, no fan-out, periods, grains — on every engine."""

from __future__ import annotations

import json
from datetime import datetime

import pytest

from companybrain import Brain
from companybrain.errors import QueryError
from companybrain.semantic.query import MetricQuery
from tests.semantic_shop import expected_by_region, orders


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

"""What-if scenarios: exact diffs for simple overrides, copy-on-write overlays, the estimated
elasticity against the ground truth, located errors, policies on a scenario, staleness, speed."""

from __future__ import annotations

import csv
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from companybrain import Brain
from companybrain.decisions.elasticity import estimate_elasticities, order_history
from companybrain.decisions.scenarios import list_scenarios, run_scenario
from companybrain.demo.generate import generate_demo
from companybrain.errors import ConfigError, PolicyDenied
from companybrain.governance.principal import Principal
from companybrain.project import Project
from companybrain.semantic.query import MetricQuery
from tests.conftest import write

pytestmark = pytest.mark.slow

EXTRA = {
    "price_exact.yaml": """
        name: price_exact
        period: "2025"
        changes:
          - {type: price, family: Hydraulic Pumps, change_pct: 5, elasticity: 0}
    """,
    "emea_slump.yaml": """
        name: emea_slump
        period: "2025"
        changes:
          - {type: demand, region: EMEA, change_pct: -10}
    """,
    "unknown_family.yaml": """
        name: unknown_family
        period: "2025"
        changes:
          - type: price
            family: Pumpz
            change_pct: 5
            elasticity: -1
    """,
}
SYSTEM = Principal("system", unrestricted=True)


@pytest.fixture(scope="module")
def demo(small_demo: Callable[[str], Path]) -> Iterator[Brain]:
    root = small_demo("scenarios")
    for name, text in EXTRA.items():
        write(root / "scenarios" / name, text)
    brain = Brain.open(root)
    yield brain
    brain.close()


def by(brain: Brain, metrics: tuple[str, ...], dim: str, scenario: str | None = None, user: object = None) -> dict:
    result = brain.query(MetricQuery(metrics, by=(dim,), period="2025"), user, scenario=scenario)  # type: ignore[arg-type]
    return {row[0]: row[1:] for row in result.rows}


def test_price_with_zero_elasticity_is_exactly_the_price_change_on_that_family(demo: Brain) -> None:
    before = by(demo, ("revenue", "units_sold"), "family")
    run_scenario(demo, "price_exact")
    after = by(demo, ("revenue", "units_sold"), "family", scenario="price_exact")
    assert after.keys() == before.keys()
    for family, (revenue, units) in before.items():
        factor = 1.05 if family == "Hydraulic Pumps" else 1.0
        assert after[family][0] == pytest.approx(revenue * factor, rel=1e-9)
        assert after[family][1] == units


def test_demand_shock_on_a_region(demo: Brain) -> None:
    before = by(demo, ("revenue", "units_sold"), "region")
    run = run_scenario(demo, "emea_slump")
    after = by(demo, ("revenue", "units_sold"), "region", scenario="emea_slump")
    for region, (revenue, units) in before.items():
        factor = 0.9 if region == "EMEA" else 1.0
        assert after[region][0] == pytest.approx(revenue * factor, rel=1e-9)
        assert after[region][1] == pytest.approx(units * factor, abs=1)
    revenue = next(k for k in run.kpis if k["kpi"] == "revenue")
    assert revenue["diff"] == pytest.approx(-0.1 * before["EMEA"][0], rel=1e-9)


def test_overlays_are_copy_on_write(demo: Brain) -> None:
    con = demo.warehouse._con  # type: ignore[attr-defined]  # hand-written checks, on purpose
    base_sql = "SELECT count(*), sum(net_amount) FROM ontology.order_line"
    base_before = con.execute(base_sql).fetchone()
    metrics_before = by(demo, ("revenue", "gross_margin"), "region")
    run = run_scenario(demo, "price_exact")
    in_scope = con.execute(
        "SELECT count(*) FROM ontology.order_line ol JOIN ontology.product p USING (product_id) "
        "JOIN ontology.\"order\" o USING (order_id) WHERE p.family_id = 'PUMP' "
        "AND o.order_date >= DATE '2025-01-01' AND o.order_date < DATE '2026-01-01'"
    ).fetchone()[0]
    assert run.overlays == {"OrderLine": in_scope}
    overlay = con.execute("SELECT count(*) FROM scenario__price_exact.order_line").fetchone()[0]
    assert overlay == in_scope < base_before[0] / 5  # only the changed rows, not a copy
    assert con.execute(base_sql).fetchone() == base_before
    assert by(demo, ("revenue", "gross_margin"), "region") == metrics_before


def test_estimated_elasticity_is_close_to_the_ground_truth(demo: Brain) -> None:
    with (demo.project.root / "ground_truth" / "price_elasticity.csv").open() as f:
        truth = {r["family_id"]: float(r["elasticity"]) for r in csv.DictReader(f)}
    estimates = estimate_elasticities(order_history(demo, "ceo"))
    for family in ("BEAR", "VALVE", "FILT", "MOTOR", "PUMP"):  # sold in volume (ground_truth README)
        assert estimates[family] == pytest.approx(truth[family], abs=0.15), family


def test_the_order_history_is_the_inner_join_of_what_the_user_may_read(demo: Brain) -> None:
    history = order_history(demo, "emea_rep")  # a row filter: EMEA's customers, so their orders and lines
    lines = demo.read("OrderLine", where="qty > 0", user="emea_rep")
    orders = demo.read("Order", where="status <> 'cancelled'", user="emea_rep")
    joined = (
        lines.select(["order_id", "product_id", "qty", "net_amount"])
        .join(orders.select(["order_id", "customer_id"]), "order_id", join_type="inner")
        .join(
            demo.read("Customer", user="emea_rep").select(["customer_id", "segment"]), "customer_id", join_type="inner"
        )
        .join(
            demo.read("Product", user="emea_rep").select(["product_id", "family_id"]), "product_id", join_type="inner"
        )
    )
    columns = ["order_id", "product_id", "qty", "net_amount", "segment", "family_id"]
    order = [(c, "ascending") for c in columns]
    assert 0 < history.num_rows == joined.num_rows < lines.num_rows + 1
    assert history.select(columns).sort_by(order).to_pylist() == joined.select(columns).sort_by(order).to_pylist()
    with pytest.raises(PolicyDenied, match=r"OrderLine\.net_amount is masked for this user"):
        order_history(demo, "data_steward")  # order values masked: no estimate from placeholders


def test_customers_of_no_segment_are_a_segment_of_their_own() -> None:
    """Order lines whose customer has no segment are compared within their product, like any segment's
    (not pooled across products, where the products' price levels would pass for a price response)."""
    import numpy as np
    import pyarrow as pa

    rng = np.random.default_rng(1)
    n = 20_000
    product = rng.integers(0, 50, n)
    list_price = np.exp(rng.normal(3, 1, 50))[product]
    price = list_price * np.exp(rng.normal(0, 0.1, n))
    qty = np.maximum(1, np.round(np.exp(2 - 1.5 * np.log(price / list_price) + rng.normal(0, 0.2, n))))
    for segment in (pa.array(["Industrial"] * n), pa.nulls(n, pa.string())):
        history = pa.table(
            {
                "product_id": pa.array(product.astype(str)),
                "segment": segment,
                "family_id": pa.array(["F"] * n),
                "qty": qty,
                "net_amount": qty * price,
            }
        )
        assert estimate_elasticities(history)["F"] == pytest.approx(-1.5, abs=0.05)


def test_estimated_elasticity_drives_the_price_scenario(demo: Brain) -> None:
    run = run_scenario(demo, "pumps_price_up")
    assert any("PUMP -1." in a for a in run.assumptions)
    kpi = {k["kpi"]: k for k in run.kpis}
    assert kpi["revenue"]["diff"] < 0 < kpi["gross_margin"]["diff"]  # elastic: fewer sales, better margin


def test_a_malformed_scenario_file_is_rejected_with_file_and_line(demo: Brain, tmp_path: Path) -> None:
    bad = write(
        demo.project.root / "scenarios" / "zz_bad.yaml",
        """
        name: bad
        period: "2025"
        changes:
          - type: capacity
            site: Milwaukee
            change_pct: -20
            lines: L3
        """,
    )
    try:
        with pytest.raises(ConfigError) as caught:
            Project.load(demo.project.root)
    finally:
        bad.unlink()
    assert "scenarios/zz_bad.yaml:7" in str(caught.value) and "'lines'" in str(caught.value)


def test_an_unknown_family_is_located_in_the_file(demo: Brain) -> None:
    with pytest.raises(ConfigError, match=r"scenarios/unknown_family\.yaml:5.*Pumpz"):
        run_scenario(demo, "unknown_family")


def test_policies_apply_on_a_scenario(demo: Brain) -> None:
    run_scenario(demo, "emea_slump")
    rows = by(demo, ("revenue",), "region", scenario="emea_slump", user="emea_rep")
    assert list(rows) == ["EMEA"]
    with pytest.raises(PolicyDenied):
        demo.query(MetricQuery(("headcount",)), "emea_rep", scenario="emea_slump")
    record = demo.audit.tail(5)[-1]
    assert "emea_slump" in str(record["request"])
    # a rep sees only EMEA rows, and overlays are shared and built from all of them: not theirs to build
    with pytest.raises(PolicyDenied, match="built from all of them"):
        run_scenario(demo, "emea_slump", "emea_rep")


def test_hiring_adds_people_cost_and_line_hours(demo: Brain) -> None:
    run = run_scenario(demo, "bologna_operators", SYSTEM)
    kpi = {k["kpi"]: k for k in run.kpis}
    assert kpi["headcount"]["diff"] == 40
    assert kpi["headcount_cost"]["diff"] == pytest.approx(40 * 52_000)
    assert kpi["added_people_cost"]["diff"] == pytest.approx(40 * 52_000)
    assert kpi["hours_available"]["diff"] > 0 > kpi["capacity_utilisation"]["diff"]
    # HR data: the data team's role does not name headcount_cost, so its run does not show it
    team = {k["kpi"]: k for k in run_scenario(demo, "bologna_operators", "data_steward").kpis}
    assert team["headcount_cost"]["status"] == "denied for this user" and team["headcount"]["diff"] == 40


def test_capital_project_and_supplier_delay(demo: Brain) -> None:
    kpi = {k["kpi"]: k for k in run_scenario(demo, "pune_new_line").kpis}
    assert kpi["capex"]["diff"] == 18_000_000
    assert kpi["hours_available"]["diff"] > 0
    assert kpi["supplier_delay_days"]["diff"] > 0


def test_overlays_are_stale_after_a_build(demo: Brain) -> None:
    run_scenario(demo, "milwaukee_l3_down")
    assert {s["name"]: s["overlays"] for s in list_scenarios(demo)}["milwaukee_l3_down"] == "current"
    demo.build(full=True)
    status = {s["name"]: s["overlays"] for s in list_scenarios(demo)}["milwaukee_l3_down"]
    assert status.startswith("stale") and "build" in status
    assert any("rebuilt the stale overlays" in w for w in run_scenario(demo, "milwaukee_l3_down").warnings)


@pytest.mark.slow
def test_a_scenario_on_the_small_demo_runs_in_a_few_seconds(demo: Brain) -> None:
    started = time.perf_counter()
    run_scenario(demo, "pumps_price_up")
    assert time.perf_counter() - started < 5


@pytest.mark.services
def test_the_same_diffs_on_postgres(demo: Brain, tmp_path: Path, pg_url: str) -> None:
    root = tmp_path / "acme"
    generate_demo(root, scale="small", seed=7)
    for name, text in EXTRA.items():
        write(root / "scenarios" / name, text)
    config = root / "brain.yaml"
    config.write_text(
        "\n".join(
            f"warehouse: {pg_url}" if ln.startswith("warehouse:") else ln for ln in config.read_text().splitlines()
        )
    )
    with Brain.open(root) as pg:
        pg.ingest()
        pg.build()
        for name in ("emea_slump", "pune_new_line"):
            on_pg = {k["kpi"]: k["diff"] for k in run_scenario(pg, name).kpis}
            on_duckdb = {k["kpi"]: k["diff"] for k in run_scenario(demo, name).kpis}
            assert on_pg.keys() == on_duckdb.keys()
            for kpi, diff in on_duckdb.items():
                expected = None if diff is None else pytest.approx(diff, rel=1e-6, abs=1e-6)  # None: denied
                assert on_pg[kpi] == expected, (name, kpi)


def test_cli_list_run_and_compare(demo: Brain) -> None:
    import json
    from types import SimpleNamespace

    import typer
    from typer.testing import CliRunner

    from companybrain.cli import scenario_cmds

    app = typer.Typer()
    scenario_cmds.register(app, SimpleNamespace(project=str(demo.project.root), debug=False))
    runner = CliRunner()
    listed = runner.invoke(app, ["scenario", "list", "--format", "json"])
    assert listed.exit_code == 0, listed.output
    assert {"pumps_price_up", "milwaukee_l3_down"} <= {s["name"] for s in json.loads(listed.stdout)}
    ran = runner.invoke(app, ["scenario", "run", "emea_slump", "--as", "cfo", "--format", "json"])
    assert ran.exit_code == 0, ran.output
    overlays = json.loads(ran.stdout)["overlays"]
    assert set(overlays) == {"OrderLine"} and overlays["OrderLine"] > 0  # only the EMEA lines in scope
    compared = runner.invoke(app, ["scenario", "compare", "emea_slump", "price_exact", "--format", "json"])
    assert compared.exit_code == 0, compared.output
    assert [r["name"] for r in json.loads(compared.stdout)] == ["emea_slump", "price_exact"]
    table = runner.invoke(app, ["scenario", "run", "milwaukee_l3_down"])
    assert table.exit_code == 0 and "(changed or added objects): Line 1" in table.stdout

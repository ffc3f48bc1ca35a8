"""The value ledger: a replan's expected impact recorded with its proposal, counted once approved,
and its realised impact computed from the shipments that arrive later (through the ERP, ingested
and built like any other data); rejected or rolled back recommendations do not count."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from datetime import date, timedelta
from pathlib import Path

import pytest

from companybrain import Brain
from companybrain.decisions.network import Disruption
from companybrain.decisions.proposals import expected_impact
from companybrain.errors import NotFound, PolicyDenied
from tests.test_actions import FakeErp

pytestmark = pytest.mark.slow

DISRUPTION = Disruption(site="Milwaukee", line="L3", capacity=0.0, start=date(2026, 3, 2), days=10)


@pytest.fixture(scope="module")
def root(small_demo: Callable[[str], Path]) -> Iterator[Path]:
    erp = FakeErp()
    root = small_demo("ledger")
    path = root / "actions" / "orders.yaml"
    path.write_text(path.read_text().replace("127.0.0.1:8099", f"127.0.0.1:{erp.port}"))
    yield root
    erp.close()


def test_expected_at_approval_and_realised_from_later_shipments(root: Path) -> None:
    with Brain.open(root) as brain:
        plan, proposed, entry_id = brain.propose_replan(DISRUPTION, "cfo")
        assert proposed and entry_id is not None
        [entry] = [e for e in brain.value("cfo")["entries"] if e["entry_id"] == entry_id]
        assert entry["status"] == "proposed" and entry["realized"] is None
        assert entry["expected"] == expected_impact(plan)
        base, new = plan.kpis["baseline"], plan.kpis["plan"]
        assert entry["expected"]["revenue_protected"] == pytest.approx(base["revenue_at_risk"] - new["revenue_at_risk"])
        assert brain.value("cfo")["use_cases"][0]["approved"] == 0  # a proposal alone is not value

        outcomes = brain.actions.approve(brain.actions.batch_ids(proposed[0]["batch_id"]), "ceo")
        assert {o.status for o in outcomes} == {"applied"}
        report = brain.value("cfo")
        [entry] = [e for e in report["entries"] if e["entry_id"] == entry_id]
        assert entry["status"] == "approved" and entry["approved_by"] == "ceo"
        # nothing has shipped yet (today is 2026-03-01): orders already past due count as late
        assert entry["realized"]["status"] in ("pending", "partly measured")
        assert entry["realized"]["orders_on_time"] == 0
        scope = next(e for e in _raw_entries(brain) if e["entry_id"] == entry_id)["scope"]
        assert {o["order_id"] for o in scope} >= {a["order_id"] for a in plan.actions}

    # the actuals arrive: every other order ships on its due date, the rest three days late
    late = {o["order_id"] for i, o in enumerate(sorted(scope, key=lambda o: o["order_id"])) if i % 2}
    _ship(root, scope, late)
    text = (root / "brain.yaml").read_text().replace("today: 2026-03-01", "today: 2026-04-30")
    (root / "brain.yaml").write_text(text)
    with Brain.open(root) as brain:
        brain.ingest(["erp.shipments"])
        brain.build()
        report = brain.value("cfo")
    [entry] = [e for e in report["entries"] if e["entry_id"] == entry_id]
    realized = entry["realized"]
    late_value = sum(o["value"] for o in scope if o["order_id"] in late)
    baseline_late = sum(o["value"] for o in scope if o["baseline_late"])
    plan_late = sum(o["value"] for o in scope if o["plan_late"])
    assert realized["status"] == "measured"
    assert (realized["orders_on_time"], realized["orders_late"]) == (len(scope) - len(late), len(late))
    assert realized["revenue_late"] == pytest.approx(late_value, abs=0.01)
    assert realized["revenue_protected"] == pytest.approx(baseline_late - late_value, abs=0.01)
    assert realized["expected_revenue_protected_on_measured"] == pytest.approx(baseline_late - plan_late, abs=0.01)
    [replan] = [u for u in report["use_cases"] if u["use_case"] == "replan"]
    assert replan["approved"] == 1 and replan["orders_measured"] == len(scope)
    assert replan["realized"]["revenue_protected"] == pytest.approx(baseline_late - late_value, abs=0.01)


def test_rejected_and_rolled_back_recommendations_do_not_count(root: Path) -> None:
    with Brain.open(root) as brain:
        before = brain.value("cfo")["use_cases"][0]
        _, proposed, rejected_entry = brain.propose_replan(DISRUPTION, "cfo")
        brain.actions.reject(brain.actions.batch_ids(proposed[0]["batch_id"]), "ceo", reason="not now")
        _, proposed, rolled_entry = brain.propose_replan(DISRUPTION, "cfo")
        ids = brain.actions.batch_ids(proposed[0]["batch_id"])
        brain.actions.approve(ids, "ceo")
        brain.actions.rollback(ids, "ceo")
        report = brain.value("cfo")
    status = {e["entry_id"]: e["status"] for e in report["entries"]}
    assert (status[rejected_entry], status[rolled_entry]) == ("rejected", "rolled back")
    after = report["use_cases"][0]
    assert after["recommendations"] == before["recommendations"] + 2
    assert after["approved"] == before["approved"]
    assert after["expected"] == before["expected"]


def _raw_entries(brain: Brain) -> list[dict]:
    from companybrain.decisions.ledger import entries

    return entries(brain)


def _ship(root: Path, scope: list[dict], late: set[int]) -> None:
    """Shipments of the scope's orders written into the ERP, as the ERP would record them."""
    con = sqlite3.connect(root / "sources" / "erp.sqlite")
    try:
        next_id = con.execute("SELECT max(shipment_id) FROM shipments").fetchone()[0] + 1
        for i, o in enumerate(scope):
            due = date.fromisoformat(o["due_date"])
            shipped = due + timedelta(days=3 if o["order_id"] in late else 0)
            con.execute(
                "INSERT INTO shipments VALUES (?, ?, 'MKE', 'J.B. Hunt', ?, NULL, 'in_transit', 100.0, ?)",
                (next_id + i, o["order_id"], shipped.isoformat(), "2026-04-01 08:00:00"),
            )
        con.commit()
    finally:
        con.close()


def test_a_scenario_adopted_expects_its_kpi_diffs_and_is_measured_after_its_period(root: Path) -> None:
    from tests.conftest import write

    for name, period in (("pumps_up_2025", "2025"), ("pumps_up_next", "2026-Q3")):
        write(
            root / "scenarios" / f"{name}.yaml",
            f"""
            name: {name}
            period: "{period}"
            changes:
              - {{type: price, family: Hydraulic Pumps, change_pct: 5, elasticity: 0}}
            """,
        )
    with Brain.open(root) as brain:
        with pytest.raises(PolicyDenied, match="may not submit 'adopt_scenario' actions"):
            brain.propose_scenario("pumps_up_2025", "mke_plant_manager")
        run, proposed, entry_id = brain.propose_scenario("pumps_up_2025", "cfo")
        [action] = proposed
        revenue = next(k for k in run.kpis if k["kpi"] == "revenue")
        assert action["action_type"] == "adopt_scenario"
        assert action["parameters"]["revenue_diff"] == pytest.approx(revenue["diff"])
        assert 0 < revenue["diff"] < 0.05 * revenue["baseline"]  # +5% on pumps, a part of revenue
        assert brain.actions.approve([action["action_id"]], "ceo")[0].status == "applied"
        _, later, later_id = brain.propose_scenario("pumps_up_next", "cfo")
        brain.actions.approve([later[0]["action_id"]], "ceo")
        report = brain.value("cfo", use_case="scenario")
    entries = {e["entry_id"]: e for e in report["entries"]}
    past, future = entries[entry_id], entries[later_id]
    assert past["expected"]["revenue_diff"] == pytest.approx(revenue["diff"])
    # 2025 is over: measured against the baseline recorded at the proposal (the data did not change)
    assert past["realized"]["status"] == "measured" and past["realized"]["revenue_diff"] == pytest.approx(0.0)
    assert future["realized"] == {"status": "pending", "until": "2026-10-01"}
    [scenario] = report["use_cases"]
    assert scenario["approved"] == 2 and scenario["measured"] == 1


def test_a_scenarios_figures_are_computed_for_the_proposal_not_typed(root: Path) -> None:
    from companybrain.decisions.approvals import rule_for
    from companybrain.decisions.scenarios import overlay_status
    from companybrain.errors import Conflict, QueryError
    from tests.conftest import write

    write(
        root / "scenarios" / "blq_new_line.yaml",
        """
        name: blq_new_line
        period: 2026-Q3
        changes:
          - {type: capital_project, site: Bologna, name: L9, capacity_units_per_week: 500,
             capacity_hours_per_week: 2000, capex: 9000000, start: 2026-07-01}
        """,
    )
    with Brain.open(root) as brain:
        desk = brain.actions
        # a dry run builds nothing, the scenario's shared overlays included
        with pytest.raises(Conflict, match="scenario 'blq_new_line': its overlays are not built, and a dry run"):
            desk.propose([("adopt_scenario", {"scenario": "blq_new_line"})], "cfo", dry_run=True)
        assert overlay_status(brain, "blq_new_line") is None
        # typing a small capex to have finance approve alone what is the executive's call
        with pytest.raises(QueryError, match=r"capex_diff=0.0, but scenario 'blq_new_line' gives 9000000.0"):
            desk.propose([("adopt_scenario", {"scenario": "blq_new_line", "capex_diff": 0})], "cfo")
        with pytest.raises(NotFound, match="no scenario 'blq_new_lin'; did you mean 'blq_new_line'"):
            desk.propose([("adopt_scenario", {"scenario": "blq_new_lin"})], "cfo")
        [action] = desk.propose([("adopt_scenario", {"scenario": "blq_new_line"})], "cfo", dry_run=True)
        params = action["parameters"]
        assert params["capex_diff"] == 9_000_000 and params["period"] == "2026-Q3"
        assert rule_for(brain.project.actions["adopt_scenario"], params).when == "capex_diff > 1000000"
        # what `--propose` records is the same: the desk fills the figures from the scenario
        run, [proposed], _ = brain.propose_scenario("blq_new_line", "cfo")
        kpis = {k["kpi"]: k for k in run.kpis}
        assert proposed["parameters"]["capex_diff"] == kpis["capex"]["diff"] == 9_000_000
        assert proposed["parameters"]["revenue_diff"] == pytest.approx(kpis["revenue"]["diff"])


def test_the_ledger_is_for_those_who_may_read_every_order_and_its_value(root: Path) -> None:
    with Brain.open(root) as brain:
        assert "use_cases" in brain.value("cfo")
        for user in ("emea_rep", "data_steward"):  # a region filter; order values masked
            with pytest.raises(PolicyDenied, match="value ledger"):
                brain.value(user)
        outcomes = [r["outcome"] for r in brain.audit.tail(500) if r["action"] == "value"]
    assert outcomes.count("denied: value-ledger") == 2 and outcomes.count("ok") >= 1  # every read audited

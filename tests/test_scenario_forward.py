"""A scenario carried forward: the forecast refit on the series it changes, and the 13-week network plan
with its capacity and forecasted demand, next to the baseline's - on the small demo, real Brain and CLI."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlglot import exp

from companybrain import Brain, factory
from companybrain.decisions.planner import LAGRANGIAN_BOUND, LP_BOUND, MIP_BOUND
from companybrain.decisions.scenario_forecast import changed_series
from companybrain.decisions.scenarios import compare_scenarios, run_scenario
from companybrain.factory.forecast_line import history
from tests.conftest import write
from tests.test_replan import KNOWN_OPTIMUM

BOUND_KINDS = (LP_BOUND, LAGRANGIAN_BOUND, MIP_BOUND)

pytestmark = pytest.mark.slow

HORIZON = "2026-03-01..2026-05-31"  # the demo's today is 2026-03-01: the plan's 13 weeks
SCENARIOS = {
    # the last year's pump orders 30% larger: the history the forecast is fitted on changes
    "pumps_demand_up.yaml": """
        name: pumps_demand_up
        period: 2025-03-01..2026-02-28
        changes:
          - {type: demand, family: Hydraulic Pumps, change_pct: 30}
    """,
    "mke_cut.yaml": f"""
        name: mke_cut
        description: Milwaukee at 5% of its capacity over the weeks ahead.
        period: {HORIZON}
        changes:
          - {{type: capacity, site: Milwaukee, change_pct: -95}}
    """,
    "mke_cut_new_line.yaml": f"""
        name: mke_cut_new_line
        period: {HORIZON}
        changes:
          - {{type: capacity, site: Milwaukee, change_pct: -95}}
          - {{type: capital_project, site: Milwaukee, name: L9, capacity_units_per_week: 900,
             capacity_hours_per_week: 3000, capex: 9000000, start: 2026-03-01}}
    """,
    "mke_new_line.yaml": f"""
        name: mke_new_line
        period: {HORIZON}
        changes:
          - type: capital_project
            site: Milwaukee
            name: L9
            capacity_units_per_week: 2000
            capacity_hours_per_week: 4000
            capex: 5000000
            start: 2026-03-01
    """,
}
# the keys `--format json` had before the forecast and plan sections: scripts read them
RUN_KEYS = {"name", "description", "period", "build", "overlays", "kpis", "assumptions", "warnings", "seconds"}
SECTIONS = {"forecast", "plan", "supply"}  # added to a run's keys, never in place of them
KPI_KEYS = {"kpi", "baseline", "scenario", "diff", "diff_pct", "status", "format"}


@pytest.fixture(scope="module")
def demo(small_demo: Callable[[str], Path]) -> Iterator[Brain]:
    """The small demo with the demand forecast trained (a champion to refit) and the scenarios above."""
    root = small_demo("scenario-forward")
    for name, text in SCENARIOS.items():
        write(root / "scenarios" / name, text)
    brain = Brain.open(root)
    trained = factory.train(brain, ["demand_forecast"])[0]
    assert trained["status"] == "ok" and trained["promotion"] == "champion", trained
    yield brain
    brain.close()


def usecase(run: Any, name: str = "demand_forecast") -> dict[str, Any]:
    return next(u for u in run.forecast["usecases"] if u["usecase"] == name)


def plan_kpis(run: Any) -> dict[str, dict[str, Any]]:
    assert run.plan["status"] == "recomputed", run.plan
    return {k["kpi"]: k for k in run.plan["kpis"]}


def test_a_demand_rise_raises_that_familys_forecast_and_leaves_the_others(demo: Brain) -> None:
    run = run_scenario(demo, "pumps_demand_up", "cfo")
    fc = usecase(run)
    assert run.forecast["status"] == fc["status"] == "recomputed", run.forecast
    assert fc["champion"] == "demand_forecast@v1" and fc["horizon"] == 13 and len(fc["periods"]) == 13
    refit = {r["series"]: r for r in fc["series"]}
    assert refit and all(s.startswith("Hydraulic Pumps | ") for s in refit), sorted(refit)
    assert all(r["scenario"] > r["baseline"] for r in refit.values()), fc["series"]
    assert fc["total"]["diff"] > 0 and fc["series_refit"] == len(refit) < fc["series_total"]
    # the other families' series were not refit because their history is the same in both worlds
    base = history(demo, demo.project.usecases["demand_forecast"], "cfo", None)
    scen = history(demo, demo.project.usecases["demand_forecast"], "cfo", "pumps_demand_up")
    assert changed_series(base, scen) == sorted(refit)
    other = base["unique_id"].str.startswith("Gearboxes | ")
    assert (
        other.any()
        and base[other]["y"].tolist() == scen[scen["unique_id"].isin(base[other]["unique_id"])]["y"].tolist()
    )
    # more pumps forecast: the plan's open pump orders grow with it
    kpis = plan_kpis(run)
    assert run.plan["scenario"]["units"] > run.plan["baseline"]["units"]
    assert any("scaled by their scenario / baseline forecast" in c for c in run.plan["changes"])
    assert kpis["late_orders"]["scenario"] >= kpis["late_orders"]["baseline"]


def test_a_capacity_cut_makes_the_plan_no_better_and_leaves_the_forecast(demo: Brain) -> None:
    before = demo.audit.tail(1)[-1]["seq"]
    run = run_scenario(demo, "mke_cut", "cfo")
    assert run.forecast["status"] == "unchanged"
    assert usecase(run)["reason"] == "unchanged (does not depend on capacity)"
    assert "series" not in usecase(run)
    # not refit: the forecast's history (units_sold by family, site and week) was not even read
    after = [str(r["request"]) for r in demo.audit.tail(5_000) if r["seq"] > before]
    assert any("units_sold" in r for r in after)  # the KPIs were
    assert [r for r in after if "units_sold" in r and "week" in r] == []
    kpis = plan_kpis(run)
    mke = sum(r["capacity_units_per_week"] for r in demo.objects("Line", "site_id = 'MKE'", None, "cfo"))
    lost = run.plan["baseline"]["capacity_units"] - run.plan["scenario"]["capacity_units"]
    assert lost == pytest.approx(0.95 * 13 * mke, abs=0.2)  # capacity_units is rounded to 0.1
    assert kpis["late_orders"]["scenario"] >= kpis["late_orders"]["baseline"]
    assert kpis["revenue_at_risk"]["scenario"] >= kpis["revenue_at_risk"]["baseline"]
    # 95% off a plant shows: its open orders move (freight) or wait (penalty)
    assert kpis["lateness_penalty"]["diff"] + kpis["extra_freight"]["diff"] > 0
    assert run.plan["horizon"] == {"start": "2026-03-01", "weeks": 13, "end": "2026-05-31"}
    assert run.plan["scenario"]["gap_to_bound"] >= 0 and run.plan["baseline"]["gap_to_bound"] >= 0
    assert {run.plan["scenario"]["bound_kind"], run.plan["baseline"]["bound_kind"]} <= set(BOUND_KINDS)


def test_a_scenario_is_planned_by_the_replan_planner() -> None:
    """One planner behind replan and scenarios: on a network whose lots are large against capacity (the
    replan test's known optimum, tests/test_replan.py) the scenario's plan is near it, where the LP's
    rounding alone was 14% above it."""
    from companybrain.decisions.network import synthetic_network
    from companybrain.decisions.scenario_plan import solve

    plan = solve(synthetic_network(50, seed=1), time_limit=10)
    assert plan["lower_bound"] <= KNOWN_OPTIMUM + 0.01 <= plan["cost"] + 0.02
    assert plan["cost"] <= 1.02 * KNOWN_OPTIMUM and plan["bound_kind"] in BOUND_KINDS


def test_a_new_line_makes_the_plan_no_worse(demo: Brain) -> None:
    run = run_scenario(demo, "mke_new_line", "cfo")
    kpis = plan_kpis(run)
    assert run.plan["scenario"]["capacity_units"] == pytest.approx(run.plan["baseline"]["capacity_units"] + 13 * 2000)
    assert kpis["late_orders"]["scenario"] <= kpis["late_orders"]["baseline"]
    assert kpis["revenue_at_risk"]["scenario"] <= kpis["revenue_at_risk"]["baseline"]
    assert kpis["utilisation"]["scenario"] < kpis["utilisation"]["baseline"]
    assert any("new line MKE-L9" in c for c in run.plan["changes"])
    # after the same cut, a new line at the plant takes back work: no worse than the cut alone
    cut = plan_kpis(run_scenario(demo, "mke_cut", "cfo"))
    relieved = plan_kpis(run_scenario(demo, "mke_cut_new_line", "cfo"))
    for kpi in ("late_orders", "revenue_at_risk"):
        assert relieved[kpi]["scenario"] <= cut[kpi]["scenario"]
    assert relieved["extra_freight"]["scenario"] + relieved["lateness_penalty"]["scenario"] < (
        cut["extra_freight"]["scenario"] + cut["lateness_penalty"]["scenario"]
    )


def test_the_refit_uses_the_champion_recorded_by_training_and_scoring(demo: Brain) -> None:
    from companybrain.factory.forecast_line import CHAMPIONS, recorded_champion
    from companybrain.factory.registry import Registry

    champion = Registry(demo.project).get("demand_forecast")
    label, settings = recorded_champion(demo.warehouse, "demand_forecast") or ("", {})
    assert label == champion.label and settings["name"] == "demand_forecast"
    demo.warehouse.execute(exp.delete(CHAMPIONS))  # e.g. trained by an older brain: nothing recorded yet
    run = run_scenario(demo, "pumps_demand_up", "cfo")
    assert (
        usecase(run)["status"] == "not recomputed" and "brain factory score demand_forecast" in usecase(run)["reason"]
    )
    assert factory.score(demo, ["demand_forecast"])[0]["status"] == "ok"  # scoring the champion records it
    assert recorded_champion(demo.warehouse, "demand_forecast") == (label, settings)


def test_changes_outside_the_horizon_leave_the_plan(demo: Brain) -> None:
    run = run_scenario(demo, "milwaukee_l3_down", "cfo")  # period 2025: before the weeks ahead
    assert run.plan["status"] == "unchanged" and "outside the horizon" in run.plan["reason"]
    assert run.forecast["status"] == "unchanged"


def test_a_user_who_may_not_read_them_gets_denied_sections(demo: Brain) -> None:
    run_scenario(demo, "mke_cut", "cfo")  # overlays built by someone who may; the HR partner compares
    (cut,) = compare_scenarios(demo, ["mke_cut"], "emea_hrbp")
    assert cut.plan["status"] == "denied for this user" and "Order" in cut.plan["reason"]
    (pumps,) = compare_scenarios(demo, ["pumps_demand_up"], "emea_hrbp")
    assert usecase(pumps)["status"] == "denied for this user"
    assert all(k["status"] == "denied for this user" for k in pumps.kpis if k["kpi"] == "revenue")


def test_cli_json_keeps_its_keys_and_adds_the_sections(demo: Brain, run_cli: Any) -> None:
    root = str(demo.project.root)
    code, out, err = run_cli("-p", root, "scenario", "run", "mke_cut", "--as", "cfo", "--format", "json")
    assert code == 0, err
    result = json.loads(out)
    assert RUN_KEYS | {"forecast", "plan"} <= set(result) <= RUN_KEYS | SECTIONS
    assert {"overlays", "kpis"} <= set(result["seconds"]) and all(set(k) == KPI_KEYS for k in result["kpis"])
    assert result["plan"]["status"] == "recomputed" and result["forecast"]["status"] == "unchanged"
    code, out, err = run_cli("-p", root, "scenario", "compare", "mke_cut", "mke_new_line", "--as", "cfo", "-f", "json")
    assert code == 0, err
    runs = json.loads(out)
    assert all(RUN_KEYS | {"forecast", "plan"} <= set(r) <= RUN_KEYS | SECTIONS for r in runs) and len(runs) == 2
    # one baseline plan for both: the same figures
    assert runs[0]["plan"]["baseline"] == runs[1]["plan"]["baseline"] | {
        "seconds": runs[0]["plan"]["baseline"]["seconds"]
    }
    code, out, err = run_cli("-p", root, "scenario", "run", "mke_cut", "--kpis-only", "--as", "cfo", "-f", "json")
    assert code == 0, err
    quick = json.loads(out)
    assert RUN_KEYS | {"forecast", "plan"} <= set(quick) <= RUN_KEYS | SECTIONS and quick["kpis"] == result["kpis"]
    assert quick["forecast"]["status"] == quick["plan"]["status"] == "skipped"
    code, out, _ = run_cli("-p", root, "scenario", "compare", "mke_cut", "pumps_demand_up", "--as", "cfo")
    assert code == 0 and "ahead: forecast and plan" in out and "plan late_orders" in out
    code, out, _ = run_cli("-p", root, "scenario", "run", "mke_cut", "--as", "cfo")
    assert code == 0 and "plan: 13 weeks from 2026-03-01" in out
    assert "forecast demand_forecast: unchanged (does not depend on capacity)" in out


def test_the_api_and_the_cockpit_show_the_sections(demo: Brain) -> None:
    import re

    from fastapi.testclient import TestClient

    from companybrain.delivery.app import create_app

    app = create_app(brain=demo)
    token, _ = app.state.service.tokens.create("cfo", ["read:metrics", "read:objects"])
    with TestClient(app) as client:
        response = client.post("/api/v1/scenarios/mke_cut/run", headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 200, response.text
        body = response.json()
        assert RUN_KEYS | {"forecast", "plan"} <= set(body)
        assert body["plan"]["status"] == "recomputed" and body["forecast"]["status"] == "unchanged"
        signin = client.post("/cockpit/signin", data={"token": token, "next": "/cockpit/"}, follow_redirects=False)
        assert signin.status_code == 303
        csrf = re.search(r'name="csrf" value="([^"]+)"', client.get("/cockpit/scenarios").text)
        assert csrf is not None
        page = client.post("/cockpit/scenarios/run", data={"csrf": csrf.group(1), "name": "mke_new_line"})
        assert page.status_code == 200 and 'id="forward-table"' in page.text
        late = next(k for k in plan_kpis_of(body) if k["kpi"] == "late_orders")
        assert 'data-kpi="plan_late_orders"' in page.text and late["baseline"] is not None


def plan_kpis_of(body: dict[str, Any]) -> list[dict[str, Any]]:
    kpis: list[dict[str, Any]] = body["plan"]["kpis"]
    return kpis

"""The copilot asked to decide or explain: a what-if scenario, a replan, why a prediction is what it is."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from pathlib import Path

import pytest

from companybrain import Brain, factory
from companybrain.copilot import Copilot
from companybrain.decisions.network import Disruption
from companybrain.decisions.scenarios import run_scenario

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def brain(small_demo: Callable[[str], Path]) -> Brain:
    b = Brain.open(small_demo("copilot-decisions"))
    assert factory.train(b, ["machine_failure_risk"])[0]["status"] == "ok"
    factory.score(b, ["machine_failure_risk"])
    return b


def test_a_what_if_runs_the_scenario_it_names_as_the_asker(brain: Brain) -> None:
    answer = Copilot(brain).ask("what if we raise pump prices by 5%?", "cfo").as_dict()
    assert answer["kind"] == "answer" and answer["plan"] == {"kind": "scenario", "name": "pumps_price_up", "kpis": []}
    direct = {k["kpi"]: k["diff"] for k in run_scenario(brain, "pumps_price_up", "cfo").kpis}
    assert {row[0]: row[3] for row in answer["table"]["rows"]} == direct
    vague = Copilot(brain).ask("what if it rains?", "cfo").as_dict()
    assert vague["kind"] == "clarify" and set(vague["plan"]["options"]) == set(brain.project.scenarios)
    refused = Copilot(brain).ask("what if we raise pump prices by 5%?", "emea_rep").as_dict()
    assert refused["kind"] == "refuse"  # overlays read every region: not for a regional rep


def test_a_line_down_is_replanned(brain: Brain) -> None:
    answer = Copilot(brain).ask("Milwaukee line L3 is down for 10 days from 2026-03-02, what now?", "cfo").as_dict()
    assert answer["plan"] == {
        "kind": "replan", "site": "MKE", "line": "L3", "start": date(2026, 3, 2), "days": 10, "capacity": 0.0
    }  # fmt: skip
    plan = brain.replan(Disruption(site="MKE", line="L3", capacity=0.0, start="2026-03-02", days=10), "cfo")
    moves = sum(1 for a in plan.as_dict()["actions"] if a["action"] == "move")
    assert answer["kind"] == "answer" and (f"{moves} moves" in answer["answer"] or moves == 0)
    assert Copilot(brain).ask("Bologna is down", "cfo").as_dict()["kind"] == "clarify"  # for how long?


def test_why_a_prediction_is_what_it_is_under_the_policies(brain: Brain) -> None:
    machine = max(brain.objects("Machine", limit=None, user="data_steward"), key=lambda m: m["failure_risk_7d"])
    question = f"why is machine {machine['machine_id']} at risk?"
    answer = Copilot(brain).ask(question, "data_steward").as_dict()
    assert answer["kind"] == "answer" and answer["plan"]["kind"] == "prediction_reasons"
    assert machine["failure_risk_7d_reasons"] in answer["answer"] and "machine_failure_risk@v1" in answer["answer"]
    refused = Copilot(brain).ask(question, "emea_rep").as_dict()  # a sales rep may not read machines
    assert refused["kind"] == "refuse"
    unknown = Copilot(brain).ask("why is it at risk?", "data_steward").as_dict()
    assert unknown["kind"] == "clarify"


def test_one_object_by_its_key_as_the_asker_sees_it(brain: Brain) -> None:
    answer = Copilot(brain).ask("show order 42", "cfo").as_dict()
    assert answer["plan"] == {"kind": "object_lookup", "object": "Order", "key": "42"}
    shown = brain.object("Order", "42", "cfo")["properties"]
    assert dict(answer["table"]["rows"]) == shown
    other = next(c for c in brain.objects("Customer", limit=50, user="cfo") if c["region"] != "EMEA")
    hidden = Copilot(brain).ask(f"tell me about customer {other['customer_id']}", "emea_rep").as_dict()
    assert hidden["kind"] != "answer" and other["name"] not in hidden["answer"]  # another region's customer


@pytest.mark.parametrize(
    ("question", "asked"),
    [
        ("what if prices go up?", "Which products"),
        ("raise gearbox prices", "By how much"),
        ("what if demand changes in APAC?", "By how much"),
        ("what if a supplier is late?", "Which supplier"),
        ("open a second line in Monterrey", "capacity"),
        ("what if a line goes down?", "Which site"),
        ("what if Milwaukee L3 goes down?", "For how long"),
    ],
)
def test_a_what_if_with_a_slot_missing_asks_for_it(brain: Brain, question: str, asked: str) -> None:
    answer = Copilot(brain).ask(question, "cfo").as_dict()
    assert answer["kind"] == "clarify" and asked in answer["answer"], answer["answer"]
    assert answer["plan"].get("name") is None  # never another declared scenario


def test_a_what_if_in_other_words_runs_as_asked(brain: Brain) -> None:
    answer = Copilot(brain).ask("raise gearbox prices by 3%", "cfo").as_dict()
    assert answer["kind"] == "answer"
    assert answer["plan"]["change"] == {
        "type": "price",
        "elasticity": "estimated",
        "family": "Gearboxes",
        "change_pct": 3.0,
    }
    assert "prices +3% (family Gearboxes)" in answer["answer"] and answer["table"]["rows"]
    assert "ask_" not in " ".join(brain.project.scenarios)  # run for this question only
    down = Copilot(brain).ask("Milwaukee line L3 stopped for five days from the 16th, what now?", "cfo").as_dict()
    assert down["plan"] == {
        "kind": "replan",
        "site": "MKE",
        "line": "L3",
        "start": date(2026, 3, 16),
        "days": 5,
        "capacity": 0.0,
    }

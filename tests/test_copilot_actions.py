"""Asking the brain to change something: a question becomes a proposal of a declared action type, its
unstated parameters read from the company's data (`of:`) or computed (`expr:`), submitted through the
action desk as the asking user (submit rights, facts, objects, checks, audit) and never applied; what
the asker may not do is refused, what the question leaves open is asked, and a dry run stores nothing."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx2
import pytest

from companybrain import Brain
from companybrain.copilot import Copilot
from companybrain.copilot.evaluate import GoldenSet, default_golden, evaluate, load_golden
from companybrain.copilot.plan import ProposePlan, parse_plan
from companybrain.errors import ConfigError, NotFound, QueryError
from companybrain.project import Project
from tests.conftest import write

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def root(small_demo: Callable[[str], Path]) -> Path:
    return small_demo("copilot_actions")


@pytest.fixture(scope="module")
def brain(root: Path) -> Iterator[Brain]:
    opened = Brain.open(root)
    yield opened
    opened.close()


@pytest.fixture(scope="module")
def open_orders(brain: Brain) -> dict[str, Any]:
    """Open Milwaukee orders: one of a strategic customer, one of another tier, each with its lines."""
    strategic = set(brain.read("Customer", where="tier = 'strategic'", user="ceo").column("customer_id").to_pylist())
    orders = brain.read("Order", where="status = 'open' AND site_id = 'MKE'", user="ceo").to_pylist()
    ids = ", ".join(str(o["order_id"]) for o in orders)
    lines = brain.read("OrderLine", where=f"order_id IN ({ids})", user="ceo").to_pylist()
    return {
        "strategic": next(o for o in orders if o["customer_id"] in strategic),
        "other": next(o for o in orders if o["customer_id"] not in strategic),
        "lines": lines,
    }


def proposals(brain: Brain) -> list[dict[str, Any]]:
    return brain.actions.find(limit=100_000)


def table(answer: dict[str, Any]) -> dict[str, tuple[Any, str]]:
    return {row[0]: (row[1], row[2]) for row in answer["table"]["rows"]}


def test_a_delay_is_proposed_as_the_asker_with_the_facts_read_from_the_order(
    root: Path, brain: Brain, open_orders: dict[str, Any], run_cli: Callable[..., tuple[int, str, str]]
) -> None:
    order = open_orders["strategic"]
    before = len(proposals(brain))
    code, out, err = run_cli("-p", str(root), "ask", f"delay order {order['order_id']} by 5 days", "--as", "cfo",
                             "--format", "json")  # fmt: skip
    assert code == 0, err
    answer = json.loads(out)
    assert answer["kind"] == "answer" and answer["user"] == "cfo"
    assert answer["plan"] == {
        "kind": "propose_action",
        "action": "delay_order",
        "parameters": {"order_id": order["order_id"], "delay_days": 5},
    }
    rows = table(answer)
    assert rows["due_date"] == (order["due_date"].isoformat(), "read from data")
    assert rows["value"] == (order["order_total"], "read from data")
    assert rows["tier"] == ("strategic", "read from data")
    assert rows["new_date"] == ((order["due_date"] + timedelta(days=5)).isoformat(), "computed")
    assert rows["delay_days"] == (5.0, "asked")
    assert rows["status"][0] == "proposed"
    # a strategic customer's delay: the rule that applies names the executive, and the answer says so
    assert rows["approval"][0] == "when tier = 'strategic': any of: role executive"
    assert "Who must approve: when tier = 'strategic': any of: role executive" in answer["answer"]
    assert "read from data: due_date" in answer["answer"].lower()

    stored = proposals(brain)
    assert len(stored) == before + 1
    action = stored[-1]
    assert action["action_id"] == rows["action_id"][0]
    assert (action["status"], action["proposed_by"], action["source"]) == ("proposed", "cfo", "copilot")
    assert action["parameters"]["new_date"] == (order["due_date"] + timedelta(days=5)).isoformat()
    audit = [r for r in brain.audit.tail(200) if r["action"] == "action.propose"]
    assert json.loads(audit[-1]["request"])["action_id"] == action["action_id"] and audit[-1]["user_name"] == "cfo"
    # proposed is all: nothing applied until an executive approves it (the proposer may not)
    with pytest.raises(Exception, match="self-approval"):
        brain.actions.approve([action["action_id"]], "cfo")
    assert brain.actions.get(action["action_id"])["status"] == "proposed"
    brain.actions.reject([action["action_id"]], "ceo", reason="test")


def test_a_new_date_a_priority_and_a_move_fill_the_rest_from_the_data(
    brain: Brain, open_orders: dict[str, Any]
) -> None:
    copilot = Copilot(brain)
    order = open_orders["other"]
    new_date = order["due_date"] + timedelta(days=9)
    pushed = copilot.ask(f"push order {order['order_id']} to {new_date.isoformat()}", "ceo").as_dict()
    assert pushed["kind"] == "answer", pushed["answer"]
    assert table(pushed)["delay_days"] == (9.0, "computed")
    assert "otherwise: any of: role executive; role finance; role plant_manager" in table(pushed)["approval"][0]

    key = order["order_id"]
    mine = [r for r in open_orders["lines"] if r["order_id"] == key]
    line = mine[0]["production_line_id"]
    part = [r for r in mine if r["production_line_id"] == line]
    value = sum(r["net_amount"] for r in part)
    prioritised = copilot.ask(f"prioritise order {key} on {line} in week 2", "cfo").as_dict()
    assert prioritised["plan"]["parameters"] == {"order_id": key, "line": line, "week": 2}
    assert table(prioritised)["value"][0] == pytest.approx(value)

    target = "BLQ-L1"
    moved = copilot.ask(f"move order {key} from {line} to {target} in week 3", "cfo").as_dict()
    rows = table(moved)
    assert rows["from_site"] == ("MKE", "read from data") and rows["to_site"] == ("BLQ", "read from data")
    assert rows["qty"] == (sum(r["qty"] for r in part), "read from data")
    assert rows["value"][0] == pytest.approx(value)
    # the approvers' attributes are the proposal's own sites, not templates
    assert "role plant_manager with site = MKE" in rows["approval"][0]
    for answer in (pushed, prioritised, moved):
        action = brain.actions.get(table(answer)["action_id"][0])
        assert action["status"] == "proposed" and action["source"] == "copilot"


@pytest.mark.parametrize(
    ("question", "user", "kind", "reason"),
    [
        ("delay order {other} by 5 days", "emea_rep", "refuse", "may not submit 'delay_order' actions"),
        ("delay order {strategic} by 3 days", "mke_plant_manager", "refuse", "which is masked for mke_plant_manager"),
        ("delay order {other} by 4 days", "data_steward", "refuse", "which is masked for data_steward"),
        ("delay order 99999 by 5 days", "cfo", "clarify", "no Order 99999"),
        ("delay order {other}", "cfo", "clarify", "by how many days"),
        ("delay order {other} by 5 days to 2026-05-01", "cfo", "clarify", "Say one, not both"),
        ("prioritise order {other}", "ceo", "clarify", "on which line"),
        ("move order {other} to MKE-L4 in week 3", "cfo", "clarify", "from which line"),
        ("move order {other} from MKE-L99 to MKE-L4 in week 3", "cfo", "clarify", "no Line 'MKE-L99'"),
        ("move order {other} from {line} to {line} in week 2", "cfo", "clarify", "moves to another line"),
        ("delay the order by 5 days", "cfo", "clarify", "Which order?"),
    ],
)
def test_what_may_not_be_proposed_is_refused_and_what_is_missing_is_asked(
    brain: Brain, open_orders: dict[str, Any], question: str, user: str, kind: str, reason: str
) -> None:
    other = open_orders["other"]["order_id"]
    line = next(r["production_line_id"] for r in open_orders["lines"] if r["order_id"] == other)
    keys = {"other": other, "strategic": open_orders["strategic"]["order_id"], "line": line}
    before = len(proposals(brain))
    answer = Copilot(brain).ask(question.format(**keys), user)
    assert answer.kind == kind and reason in answer.text, answer.text
    assert len(proposals(brain)) == before  # never a guess, never a half proposal


def test_a_denied_submission_is_audited_with_its_policy(brain: Brain, open_orders: dict[str, Any]) -> None:
    answer = Copilot(brain).ask(f"delay order {open_orders['other']['order_id']} by 5 days", "emea_rep").as_dict()
    assert answer["plan"] == {
        "kind": "refuse",
        "reason": answer["plan"]["reason"],
        "policy": "action-submit:delay_order",
    }
    denied = [r for r in brain.audit.tail(50) if r["action"] == "action.propose" and r["user_name"] == "emea_rep"]
    assert denied and denied[-1]["outcome"] == "denied: action-submit:delay_order"


def test_a_dry_run_checks_the_same_and_stores_nothing(brain: Brain, open_orders: dict[str, Any]) -> None:
    before = len(proposals(brain))
    dry = Copilot(brain, dry_run=True)
    key = open_orders["other"]["order_id"]
    answer = dry.ask(f"delay order {key} by 5 days", "cfo").as_dict()
    assert answer["kind"] == "answer" and answer["answer"].startswith("Checked, not stored (dry run)")
    assert table(answer)["status"] == ("dry_run", "store") and table(answer)["action_id"][0] is None
    assert dry.ask(f"delay order {key} by 5 days", "emea_rep").kind == "refuse"
    assert dry.ask("delay order 99999 by 5 days", "cfo").kind == "clarify"
    assert len(proposals(brain)) == before


def test_the_golden_actions_leave_no_proposal_behind(brain: Brain) -> None:
    golden = load_golden(default_golden(brain))
    actions = [q for q in golden.questions if q.domain == "actions"]
    assert len(actions) >= 12
    assert {q.expect.kind for q in actions} >= {"propose_action", "clarify"}
    before = len(proposals(brain))
    report = evaluate(brain, GoldenSet(questions=actions))
    assert report["misses"] == [] and report["answerable"] >= 6 and report["must_abstain"] >= 6
    assert (report["exact_accuracy"], report["abstention_accuracy"], report["wrong_rate"]) == (1.0, 1.0, 0.0)
    assert len(proposals(brain)) == before


def test_a_plan_names_only_declared_actions_and_parameters(brain: Brain) -> None:
    plan = parse_plan({"kind": "propose_action", "action": "delay_order", "parameters": {"order_id": 1}})
    assert isinstance(plan, ProposePlan)
    with pytest.raises(ValueError, match="not a parameter name"):
        parse_plan({"kind": "propose_action", "action": "delay_order", "parameters": {"x; drop": 1}})
    copilot = Copilot(brain)
    bad = ProposePlan(action="delay_ordr", parameters={"order_id": 1})
    with pytest.raises(NotFound, match="did you mean 'delay_order'"):
        copilot.run("q", copilot._checked(bad, "cfo"), "cfo")
    answer = copilot.run("q", ProposePlan(action="delay_order", parameters={"order_idd": 1}), "cfo")
    assert answer.kind == "clarify" and "has no parameter 'order_idd'; did you mean 'order_id'" in answer.text


def test_facts_read_must_match_what_is_typed_unless_the_value_may_be_given(
    brain: Brain, open_orders: dict[str, Any]
) -> None:
    key = open_orders["other"]["order_id"]
    line = next(r["production_line_id"] for r in open_orders["lines"] if r["order_id"] == key)
    move = {"order_id": key, "from_line": line, "to_line": "BLQ-L1", "week": 2}
    with pytest.raises(QueryError, match=r"to_site='MKE', but to_line\.site_id is 'BLQ'"):
        brain.actions.propose([("move_order", {**move, "to_site": "MKE"})], "cfo", dry_run=True)
    [given] = brain.actions.propose([("move_order", {**move, "qty": 1, "value": 5.0})], "cfo", dry_run=True)
    assert (given["parameters"]["qty"], given["parameters"]["value"]) == (1, 5.0)  # a replan's part, as given
    assert brain.actions.unfilled("delay_order", {"order_id": key}) == ["new_date", "delay_days"]
    assert brain.actions.unfilled("delay_order", {"order_id": key, "new_date": "2026-04-01"}) == []


def test_of_paths_sums_and_computations_are_checked_with_file_and_line(small_demo: Callable[[str], Path]) -> None:
    root = small_demo("copilot_actions_bad")
    write(
        root / "actions" / "bad.yaml",
        """
        actions:
          split_order:
            parameters:
              order_id: {type: integer, object: Order}
              line: {type: string, object: Line}
              qty: {type: integer, of: sum(order_id.lnes.qty), match: {production_line_id: line}}
              value: {type: number, of: sum(order_id.lines.net_amount), match: {production_line: lin}}
              until: {type: date, expr: order_date + dayz}
              note: {type: string, override: true}
              total: {type: number, of: order_id.order_total, override: true}
            submit: {roles: [executive]}
            approval:
              rules:
                - when: "total > 1000"
                  any_of: [{role: executive}]
                - any_of: [{role: executive}]
            effects:
              - {type: write, table: order_splits, key: [order_id]}
        """,
    )
    with pytest.raises(ConfigError) as err:
        Project.load(root)
    text = str(err.value)
    assert "actions/bad.yaml:6 (split_order.parameters.qty.of): of: Order has no one-to-many link 'lnes'" in text
    assert "did you mean 'lines'" in text
    assert "unknown property 'production_line'; did you mean 'production_line_id'" in text
    assert "unknown parameter 'lin'; did you mean 'line'" in text
    assert "unknown parameter 'order_date'" in text and "unknown parameter 'dayz'" in text
    assert "match: and override: go with of:" in text
    # a rule a proposer could choose by typing the value it rests on
    assert "actions/bad.yaml:14 (split_order.approval.rules.0.when): the rule rests on 'total'" in text


def test_asking_over_the_api_and_mcp_proposes_only_with_the_write_scope(
    root: Path, brain: Brain, open_orders: dict[str, Any]
) -> None:
    from companybrain.delivery.app import BrainService, create_app
    from tests.live_service import serve
    from tests.test_mcp_http import session

    key = open_orders["other"]["order_id"]
    question = f"delay order {key} by 6 days"
    app = create_app(brain=brain)
    svc: BrainService = app.state.service
    reader = svc.tokens.create("cfo", ["read:metrics", "read:objects"])[0]
    writer = svc.tokens.create("cfo", ["read:metrics", "read:objects", "write:actions"])[0]
    before = len(proposals(brain))
    with serve(app) as base, httpx2.Client(base_url=base, timeout=60) as http:

        def ask(token: str) -> dict[str, Any]:
            response = http.post(
                "/api/v1/ask", json={"question": question}, headers={"Authorization": f"Bearer {token}"}
            )
            assert response.status_code == 200, response.text
            return dict(response.json())

        refused = ask(reader)
        assert refused["kind"] == "refuse" and "write:actions" in refused["answer"]
        assert len(proposals(brain)) == before
        made = ask(writer)
        assert made["kind"] == "answer" and made["plan"]["kind"] == "propose_action"
        assert len(proposals(brain)) == before + 1
        _, (over_mcp_read, over_mcp_write) = session(
            base, reader, [(None, "ask", {"question": question}), (writer, "ask", {"question": question})]
        )
    assert over_mcp_read["kind"] == "refuse" and "write:actions" in over_mcp_read["answer"]
    assert over_mcp_write["kind"] == "answer" and over_mcp_write["user"] == "cfo"
    stored = proposals(brain)
    assert len(stored) == before + 2 and {a["proposed_by"] for a in stored[-2:]} == {"cfo"}
    assert all(a["status"] == "proposed" for a in stored[-2:])
    assert date.fromisoformat(stored[-1]["parameters"]["new_date"]) == open_orders["other"]["due_date"] + timedelta(
        days=6
    )


@pytest.mark.parametrize(
    "question",
    [
        "did we delay order {other}?",
        "how many days did we delay order {other}",
        "which suppliers delay our orders most",
    ],
)
def test_a_question_about_a_change_is_not_a_request_for_one(
    brain: Brain, open_orders: dict[str, Any], question: str
) -> None:
    before = len(proposals(brain))
    answer = Copilot(brain).ask(question.format(other=open_orders["other"]["order_id"]), "cfo")
    assert answer.plan.kind != "propose_action"
    assert len(proposals(brain)) == before

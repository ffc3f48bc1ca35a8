"""The copilot's LLM engine against a real local server speaking the OpenAI chat completions API:
plans validated before they run and run as the asking user, invalid plans refused with the reason,
the egress allow-list enforced before any connection, and privacy mode sending no company data."""

from __future__ import annotations

import json
import socket
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from companybrain import Brain
from companybrain.copilot import Copilot, MetricPlan
from companybrain.copilot.llm import SYSTEM, LLMUnavailable, plan_schema
from companybrain.errors import ConfigError
from companybrain.governance.egress import EgressDenied
from companybrain.semantic.query import MetricQuery
from tests.fake_llm import FakeLLM, fake_llm, use_llm

REVENUE_BY_REGION = {"kind": "metric_query", "metrics": ["revenue"], "by": ["region"], "period": "2025"}


@pytest.fixture(scope="module")
def llm() -> Iterator[FakeLLM]:
    with fake_llm() as server:
        yield server


@pytest.fixture(scope="module")
def root(small_demo: Callable[[str], Path], llm: FakeLLM) -> Path:
    root = small_demo("copilot_llm")
    use_llm(root, llm.url)
    return root


@pytest.fixture(scope="module")
def brain(root: Path) -> Iterator[Brain]:
    opened = Brain.open(root)
    yield opened
    opened.close()


@pytest.fixture
def server(llm: FakeLLM) -> FakeLLM:
    llm.requests.clear()
    llm.raw.clear()
    return llm


def queries_run(brain: Brain) -> int:
    return sum(1 for r in brain.audit.tail(100_000) if r["action"] == "query")


def test_the_models_plan_is_validated_and_run_as_the_asking_user(brain: Brain, server: FakeLLM) -> None:
    server.answer(REVENUE_BY_REGION)
    copilot = Copilot(brain)  # brain.yaml says engine: llm
    assert copilot.engine == "llm"
    rep = copilot.ask("how much did we sell per region last year?", "emea_rep")
    assert rep.kind == "answer" and rep.source == "llm"
    assert rep.result is not None and [row[0] for row in rep.result.rows] == ["EMEA"]
    assert rep.result.policy["user"] == "emea_rep" and rep.result.policy["row_filters"]
    ceo = copilot.ask("how much did we sell per region last year?", "ceo")
    assert ceo.result is not None and len(ceo.result.rows) == 4
    expected = brain.query(MetricQuery(("revenue",), ("region",), None, "2025"), "ceo")
    assert ceo.result.rows == expected.rows
    assert brain.audit.tail(2)[0]["user_name"] == "ceo"

    path, body = server.requests[0]
    assert path == "/v1/chat/completions" and body["model"] == "fake-model" and body["temperature"] == 0
    assert body["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "copilot_plan", "schema": plan_schema(), "strict": True},
    }
    assert body["messages"][0]["content"].startswith(SYSTEM)
    assert server.question(0) == "how much did we sell per region last year?"
    # the model learns only what the asking user may read
    assert '"headcount_cost"' not in body["messages"][0]["content"]
    assert '"headcount_cost"' in server.requests[1][1]["messages"][0]["content"]


def test_filter_values_are_grounded_locally_and_follow_ups_carry_the_plan(brain: Brain, server: FakeLLM) -> None:
    server.answer({"kind": "metric_query", "metrics": ["revenue"], "where": {"region": ["emea"]}, "period": "2025"})
    answer = Copilot(brain, "llm").ask("revenue in europe in 2025", "ceo")
    assert isinstance(answer.plan, MetricPlan) and answer.plan.where == {"region": ["EMEA"]}
    server.answer({"kind": "metric_query", "metrics": ["revenue"], "by": ["segment"], "where": {"region": ["EMEA"]}})
    follow = Copilot(brain, "llm").ask("and by segment?", "ceo", answer.plan)
    assert follow.kind == "answer" and follow.result is not None and len(follow.result.rows) > 1
    sent = json.loads(server.requests[-1][1]["messages"][-1]["content"])
    masked = answer.plan.model_copy(update={"where": {"region": ["@region_1"]}})  # privacy: a placeholder
    assert json.loads(sent["previous_plan"]) == masked.model_dump(exclude_defaults=True)
    server.answer({"kind": "metric_query", "metrics": ["revenue"], "where": {"region": ["Atlantis"]}})
    unknown = Copilot(brain, "llm").ask("revenue in atlantis", "ceo")
    assert unknown.kind == "clarify" and "Atlantis" in unknown.text


@pytest.mark.parametrize(
    ("reply", "reason"),
    [
        ("Sure! Revenue was about $12M.", "not a valid plan"),
        ('```json\n{"kind": "metric_query", "metrics": ["revenue"]', "not a valid plan"),
        ({"kind": "metric_query", "metrics": ["revenue"], "sql": "SELECT * FROM hr.employee"}, "not a valid plan"),
        ({"kind": "metric_query", "metrics": ["revenue"], "where": {"1=1 OR region": ["x"]}}, "not a valid plan"),
        ({"kind": "run_sql", "sql": "DROP TABLE audit_log"}, "not a valid plan"),
        ({"kind": "metric_query", "metrics": ["revenue"], "limit": 10_000_000}, "not a valid plan"),
        ({"kind": "metric_query", "metrics": []}, "not a valid plan"),
        ({"kind": "metric_query", "metrics": ["employee_salaries"]}, "does not fit the semantic model"),
        ({"kind": "metric_query", "metrics": ["revenue"], "by": ["password"]}, "does not fit the semantic model"),
        ({"kind": "metric_query", "metrics": ["revenue"], "period": "since the dawn of time"}, "does not fit"),
        ({"kind": "metric_query", "metrics": ["headcount_cost"]}, "may not read"),
        ({"kind": "metric_query", "metrics": ["revenue"], "by": ["function"]}, "can't answer"),
    ],
)
def test_an_invalid_plan_from_the_model_is_refused_with_the_reason(
    brain: Brain, server: FakeLLM, reply: str | dict[str, Any], reason: str
) -> None:
    server.answer(reply)
    copilot = Copilot(brain, "llm")
    copilot.ask("warm up the vocabulary", "emea_rep")
    before = queries_run(brain)
    answer = copilot.ask("what was revenue?", "emea_rep")
    assert answer.kind == "refuse" and answer.result is None, answer.text
    assert reason in answer.text
    assert queries_run(brain) == before  # refused before anything ran


def test_object_counts_from_the_model_are_checked_and_counted_as_the_user(brain: Brain, server: FakeLLM) -> None:
    server.answer({"kind": "object_count", "object": "Customer"})
    rep = Copilot(brain, "llm").ask("how many accounts do we serve?", "emea_rep")
    assert rep.kind == "answer" and rep.extra["count"] == brain.count_objects("Customer", "region = 'EMEA'", "ceo")
    context = server.requests[-1][1]["messages"][0]["content"]
    assert '"name": "Customer"' in context and '"name": "Employee"' not in context  # what the rep may read
    server.answer({"kind": "object_count", "object": "Employee"})
    assert Copilot(brain, "llm").ask("how many people are there?", "emea_rep").kind == "refuse"
    server.answer({"kind": "object_count", "object": "Customer", "where": {"credit_score": ["high"]}})
    assert "does not fit" in Copilot(brain, "llm").ask("how many good customers?", "ceo").text


def test_a_proposal_from_the_model_is_validated_before_anything_runs(brain: Brain, server: FakeLLM) -> None:
    order = brain.read("Order", where="status = 'open'", limit=1, user="ceo").to_pylist()[0]
    key = order["order_id"]

    def proposals_and_attempts() -> tuple[int, int]:
        attempts = sum(1 for r in brain.audit.tail(100_000) if r["action"] == "action.propose")
        return len(brain.actions.find(limit=100_000)), attempts

    before = proposals_and_attempts()
    for plan, reason in [
        ({"action": "delay_ordr", "parameters": {"order_id": key, "delay_days": 5}}, "did you mean 'delay_order'"),
        ({"action": "delay_order", "parameters": {"order_id": key, "delay_dayz": 5}}, "no parameter 'delay_dayz'"),
        ({"action": "delay_order", "parameters": {"order_id": key, "days; DROP TABLE x": 5}}, "not a valid plan"),
    ]:
        server.answer({"kind": "propose_action", **plan})
        answer = Copilot(brain, "llm").ask(f"delay order {key} by 5 days", "cfo")
        assert answer.kind == "refuse" and reason in answer.text, answer.text
        assert proposals_and_attempts() == before  # refused before the action desk saw it
    server.answer({"kind": "propose_action", "action": "delay_order", "parameters": {"order_id": key}})
    asked = Copilot(brain, "llm").ask(f"delay order {key} a little", "cfo")
    assert asked.kind == "clarify" and "by how many days" in asked.text  # never filled in by the model
    # the model is told the action types the asker may submit, and which parameters the data fills
    context = server.requests[-1][1]["messages"][0]["content"]
    assert '"name": "delay_order"' in context and '"tier": {"type": "string", "read": true}' in context
    server.answer({"kind": "propose_action", "action": "delay_order", "parameters": {"order_id": key, "delay_days": 5}})
    rep = Copilot(brain, "llm").ask(f"delay order {key} by 5 days", "emea_rep")
    assert rep.kind == "refuse" and "may not submit 'delay_order'" in rep.text
    assert '"name": "delay_order"' not in server.requests[-1][1]["messages"][0]["content"]
    made = Copilot(brain, "llm").ask(f"delay order {key} by 5 days", "cfo")
    assert made.kind == "answer" and made.source == "llm", made.text
    action = brain.actions.find(limit=100_000)[-1]
    assert (action["action_type"], action["status"], action["proposed_by"]) == ("delay_order", "proposed", "cfo")
    assert action["parameters"]["due_date"] == order["due_date"].isoformat()  # read, not from the model


def test_a_model_refusal_is_a_refusal(brain: Brain, server: FakeLLM) -> None:
    server.answer({"kind": "refuse", "reason": "no metric for the weather"})
    answer = Copilot(brain, "llm").ask("what's the weather in Bologna?", "ceo")
    assert answer.kind == "refuse" and "weather" in answer.text


def test_an_endpoint_off_the_allow_list_is_refused_before_any_connection(
    brain: Brain, server: FakeLLM, monkeypatch: pytest.MonkeyPatch
) -> None:
    connections: list[Any] = []
    real_connect = socket.socket.connect

    def connect(self: socket.socket, address: Any) -> Any:
        connections.append(address)
        return real_connect(self, address)

    monkeypatch.setattr(socket.socket, "connect", connect)
    for url in ("http://llm.elsewhere.example/v1", "https://api.openai.com/v1", "http://127.0.0.2:9/v1"):
        spec = brain.project.spec
        llm = spec.copilot.llm
        assert llm is not None
        copilot = spec.copilot.model_copy(update={"llm": llm.model_copy(update={"url": url})})
        monkeypatch.setattr(brain.project, "spec", spec.model_copy(update={"copilot": copilot}))
        with pytest.raises(EgressDenied, match=r"egress\.allow"):
            Copilot(brain).ask("what was revenue in 2025?", "ceo")
    assert connections == [] and server.requests == []


def company_values(brain: Brain) -> set[str]:
    """Values read from the company's data: customer names and ids, order ids and totals, revenue
    figures, ticket texts."""
    found: set[str] = set()
    customers = brain.read("Customer", user="ceo").to_pylist()
    found |= {c["name"] for c in customers} | {c["customer_id"] for c in customers}
    for order in brain.read("Order", limit=300, user="ceo").to_pylist():
        found |= {f"{order['order_total']}", f"ORD-{order['order_id']}", f"order {order['order_id']}"}
    for metric in ("revenue", "gross_margin"):
        result = brain.query(MetricQuery((metric,), ("customer",), None, "2025"), "ceo")
        for _, value in result.rows[:100]:
            found |= {f"{value}", f"{value:.2f}", f"{round(value):d}"} if isinstance(value, float) else set()
    for ticket in brain.read("Ticket", limit=200, user="ceo").to_pylist():
        found |= {ticket["subject"], ticket["body"][:40]}
    return {v for v in found if v and len(v) >= 5}


def test_privacy_mode_sends_no_company_data(brain: Brain, server: FakeLLM, monkeypatch: pytest.MonkeyPatch) -> None:
    values = company_values(brain)
    assert len(values) > 500
    plans = {
        "top 10 customers by revenue last year": {
            "kind": "metric_query",
            "metrics": ["revenue"],
            "by": ["customer"],
            "period": "2025",
            "order_by": ["-revenue"],
            "limit": 10,
        },
        "margin by site in 2025": {"kind": "metric_query", "metrics": ["gross_margin"], "by": ["site"]},
        "revenue for the Bologna plant": {"kind": "metric_query", "metrics": ["revenue"], "where": {"site": ["x"]}},
    }
    server.reply = lambda body: json.dumps(plans.get(json.loads(body["messages"][-1]["content"])["question"], {}))
    copilot = Copilot(brain, "llm")
    for user in ("ceo", "emea_rep"):
        answers = [copilot.ask(question, user) for question in plans]
        assert answers[0].kind == "answer" and answers[0].result is not None and answers[0].result.rows
        follow = copilot.ask("top 10 customers by revenue last year", user, answers[0].plan)  # type: ignore[arg-type]
        assert follow.kind == "answer"
    # a follow-up on a filter grounded in the data: the model sees a placeholder, which comes back as the value
    customer = answers[0].result.rows[0][0]  # type: ignore[union-attr]
    previous = MetricPlan(metrics=["revenue"], where={"customer": [customer]}, period="2025")

    def by_month(body: dict[str, Any]) -> str:  # the model keeps the previous filter as it was given
        sent = json.loads(json.loads(body["messages"][-1]["content"])["previous_plan"])
        return json.dumps({**sent, "kind": "metric_query", "by": ["month"]})

    server.reply = by_month
    follow = copilot.ask("and by month?", "ceo", previous)
    assert isinstance(follow.plan, MetricPlan) and follow.plan.where == {"customer": [customer]}
    assert follow.kind == "answer" and "@customer_1" in server.requests[-1][1]["messages"][-1]["content"]
    assert len(server.raw) == 9
    sent = "\n".join(server.raw + [json.dumps(body, ensure_ascii=False) for _, body in server.requests])
    leaked = sorted(v for v in values if v in sent)
    assert leaked == []

    # the same check sees values once privacy mode is off (the dimension values go to the model)
    llm = brain.project.spec.copilot.llm
    assert llm is not None
    copilot_spec = brain.project.spec.copilot.model_copy(update={"llm": llm.model_copy(update={"privacy": False})})
    monkeypatch.setattr(brain.project, "spec", brain.project.spec.model_copy(update={"copilot": copilot_spec}))
    server.answer(plans["margin by site in 2025"])
    Copilot(brain, "llm").ask("margin by site in 2025", "ceo")
    assert any(v in server.raw[-1] for v in values)


def test_brain_ask_engine_llm_on_the_cli(
    root: Path, server: FakeLLM, run_cli: Callable[..., tuple[int, str, str]]
) -> None:
    server.answer(REVENUE_BY_REGION)
    code, out, err = run_cli("-p", str(root), "ask", "sales per region in 2025", "--engine", "llm", "--as",
                             "emea_rep", "--format", "json")  # fmt: skip
    assert code == 0, err
    answer = json.loads(out)
    assert answer["source"] == "llm" and answer["kind"] == "answer" and answer["user"] == "emea_rep"
    assert [row[0] for row in answer["table"]["rows"]] == ["EMEA"] and answer["sql"]
    code, out, err = run_cli("-p", str(root), "ask", "sales per region in 2025", "--engine", "embedded",
                             "--format", "json")  # fmt: skip
    assert code == 0 and json.loads(out)["source"] == "parser" and len(server.requests) == 1
    assert run_cli("-p", str(root), "ask", "revenue", "--engine", "gpt")[0] != 0


def test_the_api_key_is_sent_and_an_endpoint_down_is_an_error(
    brain: Brain, server: FakeLLM, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = brain.project.spec
    llm = spec.copilot.llm
    assert llm is not None

    def point(**update: Any) -> None:
        copilot = spec.copilot.model_copy(update={"llm": llm.model_copy(update=update)})
        monkeypatch.setattr(brain.project, "spec", spec.model_copy(update={"copilot": copilot}))

    point(api_key_env="BRAIN_TEST_LLM_KEY")
    with pytest.raises(ConfigError, match="BRAIN_TEST_LLM_KEY"):
        Copilot(brain).ask("what was revenue in 2025?", "ceo")
    monkeypatch.setenv("BRAIN_TEST_LLM_KEY", "sk-local-test")
    server.answer(REVENUE_BY_REGION)
    assert Copilot(brain).ask("what was revenue in 2025?", "ceo").kind == "answer"
    assert server.headers[-1]["authorization"] == "Bearer sk-local-test"

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    point(url=f"http://127.0.0.1:{closed}/v1")
    with pytest.raises(LLMUnavailable, match="did not answer"):
        Copilot(brain).ask("what was revenue in 2025?", "ceo")


def test_the_golden_gate_runs_against_the_llm_engine(
    root: Path, server: FakeLLM, run_cli: Callable[..., tuple[int, str, str]], tmp_path: Path
) -> None:
    golden = tmp_path / "golden.yaml"
    golden.write_text(
        "questions:\n"
        "  - {question: sales per region in 2025, domain: sales, expect: {kind: metric_query, metrics: [revenue],"
        " by: [region], period: '2025'}, user: emea_rep}\n"
        "  - {question: what do our people cost, domain: hr, expect: {kind: refuse, reason: hr}, user: emea_rep}\n"
    )
    replies = {"sales per region in 2025": REVENUE_BY_REGION, "what do our people cost": {
        "kind": "metric_query", "metrics": ["headcount_cost"]}}  # fmt: skip
    server.reply = lambda body: json.dumps(replies[json.loads(body["messages"][-1]["content"])["question"]])
    code, out, err = run_cli("-p", str(root), "copilot", "eval", "--set", str(golden), "--engine", "llm",
                             "--format", "json")  # fmt: skip
    assert code == 0, err
    report = json.loads(out)
    assert report["exact_accuracy"] == 1.0 and report["abstention_accuracy"] == 1.0 and report["passed"]
    assert len(server.requests) == 2

"""POST /api/v1/ask on the real service (uvicorn on a loopback port): the token's user asks, the answer is
the JSON of `brain ask --format json`, policies and audit apply, follow-ups carry the previous answer."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest

from companybrain.brain import Brain
from companybrain.delivery.app import BrainService, create_app
from tests.live_service import serve

ASK = "/api/v1/ask"


@pytest.fixture(scope="module")
def root(small_demo: Callable[[str], Path]) -> Path:
    return small_demo("ask_api")


@pytest.fixture(scope="module")
def service(root: Path) -> Iterator[tuple[httpx2.Client, BrainService, dict[str, str]]]:
    brain = Brain.open(root)
    app = create_app(brain=brain)
    svc: BrainService = app.state.service
    tokens = {u: svc.tokens.create(u, ["read:metrics", "read:objects"])[0] for u in ("ceo", "emea_rep")}
    tokens["objects_only"] = svc.tokens.create("ceo", ["read:objects"])[0]
    try:
        with serve(app) as base, httpx2.Client(base_url=base, timeout=60) as http:
            yield http, svc, tokens
    finally:
        brain.close()


def ask(http: httpx2.Client, token: str, question: str, context: dict[str, Any] | None = None) -> httpx2.Response:
    body: dict[str, Any] = {"question": question}
    if context is not None:
        body["context"] = context
    return http.post(ASK, json=body, headers={"Authorization": f"Bearer {token}"})


def test_the_answer_is_the_cli_json_as_the_tokens_user(
    service: tuple[httpx2.Client, BrainService, dict[str, str]],
    root: Path,
    run_cli: Callable[..., tuple[int, str, str]],
) -> None:
    http, _, tokens = service
    response = ask(http, tokens["emea_rep"], "revenue by region in 2025")
    assert response.status_code == 200, response.text
    assert response.headers["x-request-id"]
    answer = response.json()
    assert answer["kind"] == "answer" and answer["user"] == "emea_rep" and answer["source"] == "parser"
    assert [row[0] for row in answer["table"]["rows"]] == ["EMEA"]
    assert answer["policy"]["user"] == "emea_rep" and answer["sql"] and answer["definitions"]["revenue"]

    code, out, err = run_cli("-p", str(root), "ask", "revenue by region in 2025", "--as", "emea_rep", "--format=json")
    assert code == 0, err
    cli = json.loads(out)
    assert {k: v for k, v in answer.items() if k != "seconds"} == {k: v for k, v in cli.items() if k != "seconds"}

    ceo = ask(http, tokens["ceo"], "revenue by region in 2025").json()
    assert len(ceo["table"]["rows"]) == 4 and ceo["user"] == "ceo"


def test_follow_ups_carry_the_previous_answer(service: tuple[httpx2.Client, BrainService, dict[str, str]]) -> None:
    http, _, tokens = service
    first = ask(http, tokens["emea_rep"], "revenue in 2025").json()
    follow = ask(http, tokens["emea_rep"], "and by segment?", first)
    assert follow.status_code == 200, follow.text
    body = follow.json()
    assert body["kind"] == "answer" and body["plan"]["by"] == ["segment"] and body["plan"]["period"] == "2025"
    only_plan = ask(http, tokens["emea_rep"], "and by segment?", first["plan"]).json()
    assert only_plan["table"] == body["table"]


def test_refusals_and_clarifications_are_answers(service: tuple[httpx2.Client, BrainService, dict[str, str]]) -> None:
    http, _, tokens = service
    salaries = ask(http, tokens["emea_rep"], "what are the salaries in EMEA?").json()
    assert salaries["kind"] == "refuse" and "table" not in salaries
    headcount = ask(http, tokens["emea_rep"], "headcount by site").json()
    assert headcount["kind"] == "refuse" and "may not read" in headcount["answer"]
    sql = ask(http, tokens["ceo"], "SELECT * FROM hr.employee; DROP TABLE audit_log").json()
    assert sql["kind"] == "refuse" and sql["plan"]["policy"] == "copilot-scope"
    vague = ask(http, tokens["ceo"], "how are we doing?").json()
    assert vague["kind"] == "clarify" and vague["plan"]["options"]


def test_credentials_scope_and_bad_requests_are_problems(
    service: tuple[httpx2.Client, BrainService, dict[str, str]],
) -> None:
    http, _, tokens = service
    anonymous = http.post(ASK, json={"question": "revenue"})
    assert anonymous.status_code == 401 and anonymous.headers["content-type"] == "application/problem+json"
    narrow = ask(http, tokens["objects_only"], "revenue in 2025")
    assert narrow.status_code == 403 and narrow.json()["type"].endswith("insufficient-scope")
    assert ask(http, tokens["ceo"], "").status_code == 422
    headers = {"Authorization": f"Bearer {tokens['ceo']}"}
    extra = http.post(ASK, json={"question": "revenue", "sql": "1"}, headers=headers)
    assert extra.status_code == 422
    bad = ask(http, tokens["ceo"], "and by segment?", {"plan": {"kind": "metric_query", "metrics": ["revenue"],
                                                                  "where": "1=1"}})  # fmt: skip
    assert bad.status_code == 400 and "not a copilot plan" in bad.json()["detail"]
    refusal = ask(http, tokens["ceo"], "and by segment?", {"kind": "refuse", "reason": "x"})
    assert refusal.status_code == 400 and "Traceback" not in refusal.text


def test_every_answer_is_audited_as_the_caller(service: tuple[httpx2.Client, BrainService, dict[str, str]]) -> None:
    http, svc, tokens = service
    answer = ask(http, tokens["emea_rep"], "gross margin by segment last quarter").json()
    assert answer["kind"] == "answer"
    with svc.use() as brain:
        last = [r for r in brain.audit.tail(50) if r["action"] == "query"][-1]
    assert last["user_name"] == "emea_rep" and last["sql"] == answer["sql"]

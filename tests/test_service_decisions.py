"""The decision routes of the service: scenarios, replan, actions (propose, approve, reject, roll back)
and the value ledger - credentials and scopes required, policies applied, problems for errors."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from companybrain.brain import Brain
from companybrain.delivery.app import BrainService, create_app
from tests.test_actions import FakeErp
from tests.test_service import assert_problem, auth

pytestmark = pytest.mark.slow

USERS = ["ceo", "cfo", "emea_rep", "mke_plant_manager", "data_steward"]
SCOPES = ["read:metrics", "read:objects", "write:actions"]
DISRUPTION = {"site": "Milwaukee", "line": "L3", "capacity": 0, "start": "2026-03-02", "days": 10}
# every decision route, with the scope that covers it
PROTECTED: list[tuple[str, str, dict[str, Any] | None, str]] = [
    ("GET", "/api/v1/scenarios", None, "read:metrics"),
    ("GET", "/api/v1/actions/types", None, "read:objects"),
    ("GET", "/api/v1/actions", None, "read:objects"),
    ("GET", "/api/v1/value", None, "read:metrics"),
    ("POST", "/api/v1/actions", {"action_type": "delay_order", "parameters": {}}, "write:actions"),
    ("POST", "/api/v1/actions/approve", {"ids": [1]}, "write:actions"),
    ("POST", "/api/v1/actions/reject", {"ids": [1]}, "write:actions"),
    ("POST", "/api/v1/actions/rollback", {"ids": [1]}, "write:actions"),
    ("POST", "/api/v1/replan", DISRUPTION, "read:objects"),
]


@pytest.fixture(scope="module")
def erp() -> Iterator[FakeErp]:
    server = FakeErp()
    yield server
    server.close()


@pytest.fixture(scope="module")
def app(small_demo: Callable[[str], Path], erp: FakeErp) -> Iterator[FastAPI]:
    root = small_demo("service-decisions")
    path = root / "actions" / "orders.yaml"
    path.write_text(path.read_text().replace("127.0.0.1:8099", f"127.0.0.1:{erp.port}"))
    brain = Brain.open(root)
    yield create_app(brain=brain)
    brain.close()


@pytest.fixture(scope="module")
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as c:
        yield c


@pytest.fixture(scope="module")
def svc(app: FastAPI) -> BrainService:
    found: BrainService = app.state.service
    return found


@pytest.fixture(scope="module")
def tokens(svc: BrainService) -> dict[str, str]:
    return {user: svc.tokens.create(user, SCOPES)[0] for user in USERS}


@pytest.mark.parametrize(("method", "url", "body", "scope"), PROTECTED)
def test_every_decision_route_requires_credentials_and_its_scope(
    client: TestClient, svc: BrainService, method: str, url: str, body: dict[str, Any] | None, scope: str
) -> None:
    assert_problem(client.request(method, url, json=body), 401)
    narrow, _ = svc.tokens.create("ceo", [s for s in SCOPES if s != scope])
    problem = assert_problem(client.request(method, url, json=body, headers=auth(narrow)), 403)
    assert problem["type"].endswith("insufficient-scope")


def test_replan_then_propose_approve_and_value_over_the_api(client: TestClient, tokens: dict[str, str]) -> None:
    plan = client.post("/api/v1/replan", json=DISRUPTION, headers=auth(tokens["cfo"]))
    assert plan.status_code == 200, plan.text
    assert plan.json()["proposed"] == [] and plan.json()["gap"] >= 0
    rep = client.post("/api/v1/replan", json=DISRUPTION, headers=auth(tokens["emea_rep"])).json()
    assert rep["user"] == "emea_rep" and rep["items"] < plan.json()["items"]  # EMEA customers' orders only
    no_write = client.post("/api/v1/replan", json={**DISRUPTION, "propose": True}, headers=auth(tokens["emea_rep"]))
    assert assert_problem(no_write, 403)["policy"].startswith("action-submit:")

    proposed = client.post("/api/v1/replan", json={**DISRUPTION, "propose": True}, headers=auth(tokens["cfo"])).json()
    batch = proposed["proposed"][0]["batch_id"]
    assert len(proposed["proposed"]) == len(proposed["actions"]) and proposed["ledger_entry"]
    mine = client.get(f"/api/v1/actions?batch={batch}", headers=auth(tokens["mke_plant_manager"])).json()
    assert len(mine) == len(proposed["actions"])  # plant managers may approve these types
    assert client.get(f"/api/v1/actions?batch={batch}", headers=auth(tokens["emea_rep"])).json() == []

    self_approval = client.post("/api/v1/actions/approve", json={"batch": batch}, headers=auth(tokens["cfo"]))
    assert "self-approval" in assert_problem(self_approval, 403)["policy"]
    approved = client.post("/api/v1/actions/approve", json={"batch": batch}, headers=auth(tokens["ceo"]))
    assert approved.status_code == 200 and {o["status"] for o in approved.json()} == {"applied"}
    again = client.post("/api/v1/actions/approve", json={"batch": batch}, headers=auth(tokens["ceo"]))
    assert assert_problem(again, 409)["type"].endswith(":conflict")

    value = client.get("/api/v1/value", headers=auth(tokens["cfo"])).json()
    entry = next(e for e in value["entries"] if e["entry_id"] == proposed["ledger_entry"])
    assert entry["status"] == "approved" and entry["approved_by"] == "ceo"
    assert value["use_cases"][0]["use_case"] == "replan" and value["use_cases"][0]["approved"] >= 1

    rolled = client.post("/api/v1/actions/rollback", json={"batch": batch}, headers=auth(tokens["ceo"]))
    assert {o["status"] for o in rolled.json()} == {"rolled_back"}


def test_propose_errors_are_problems(client: TestClient, tokens: dict[str, str]) -> None:
    headers = auth(tokens["cfo"])
    typo = client.post("/api/v1/actions", json={"action_type": "delay_ordr", "parameters": {}}, headers=headers)
    assert "did you mean 'delay_order'" in assert_problem(typo, 404)["detail"]
    missing = client.post("/api/v1/actions", json={"action_type": "delay_order", "parameters": {}}, headers=headers)
    assert "needs the parameter 'order_id'" in assert_problem(missing, 400)["detail"]
    denied = client.post(
        "/api/v1/actions", json={"action_type": "delay_order", "parameters": {}}, headers=auth(tokens["emea_rep"])
    )
    assert assert_problem(denied, 403)["policy"] == "action-submit:delay_order"
    assert_problem(client.post("/api/v1/actions/approve", json={"ids": [999_999]}, headers=headers), 404)
    assert_problem(client.post("/api/v1/actions/approve", json={}, headers=headers), 400)
    assert_problem(client.get("/api/v1/actions/999999", headers=headers), 404)


def test_one_proposal_over_the_api(client: TestClient, tokens: dict[str, str], svc: BrainService) -> None:
    with svc.use() as brain:
        order = brain.read("Order", where="status = 'open'", limit=1, user="cfo").to_pylist()[0]
    params = {"order_id": order["order_id"], "due_date": "2026-03-05", "new_date": "2026-03-12", "delay_days": 7,
              "value": 1000.0}  # fmt: skip
    made = client.post("/api/v1/actions", json={"action_type": "delay_order", "parameters": params},
                       headers=auth(tokens["data_steward"]))  # fmt: skip
    assert made.status_code == 200, made.text
    [action] = made.json()
    assert action["status"] == "proposed" and action["proposed_by"] == "data_steward"
    got = client.get(f"/api/v1/actions/{action['action_id']}", headers=auth(tokens["data_steward"])).json()
    assert got["parameters"]["new_date"] == "2026-03-12"
    rejected = client.post(
        "/api/v1/actions/reject", json={"ids": [action["action_id"]], "note": "customer agreed another date"},
        headers=auth(tokens["mke_plant_manager"]),
    )  # fmt: skip
    assert rejected.json()[0]["status"] == "rejected"


def test_scenarios_over_the_api(client: TestClient, tokens: dict[str, str], svc: BrainService) -> None:
    listed = client.get("/api/v1/scenarios", headers=auth(tokens["cfo"])).json()
    assert "pumps_price_up" in {s["name"] for s in listed}
    run = client.post("/api/v1/scenarios/pumps_price_up/run", headers=auth(tokens["cfo"]))
    assert run.status_code == 200, run.text
    assert {k["kpi"] for k in run.json()["kpis"]} >= {"revenue", "gross_margin"}
    adopted = client.post("/api/v1/scenarios/pumps_price_up/run?propose=true", headers=auth(tokens["cfo"])).json()
    [proposal] = adopted["proposed"]
    assert proposal["action_type"] == "adopt_scenario" and adopted["ledger_entry"]
    assert proposal["parameters"]["revenue_diff"] == pytest.approx(run.json()["kpis"][0]["diff"])
    read_only, _ = svc.tokens.create("cfo", ["read:metrics"])
    no_scope = client.post("/api/v1/scenarios/pumps_price_up/run?propose=true", headers=auth(read_only))
    assert assert_problem(no_scope, 403)["type"].endswith("insufficient-scope")
    compared = client.get("/api/v1/scenarios/compare?name=pumps_price_up", headers=auth(tokens["emea_rep"]))
    assert compared.status_code == 200 and compared.json()[0]["name"] == "pumps_price_up"
    assert_problem(client.post("/api/v1/scenarios/pumps_price_upp/run", headers=auth(tokens["cfo"])), 404)
    # overlays are built from whole object types: a rep with a row filter may not rebuild them
    assert_problem(client.post("/api/v1/scenarios/pumps_price_up/run", headers=auth(tokens["emea_rep"])), 403)


def test_a_proposal_sent_twice_with_its_submission_key_is_one(
    client: TestClient, tokens: dict[str, str], svc: BrainService
) -> None:
    with_key = {"action_type": "delay_order", "parameters": {}, "submission": "retry-0123456789"}
    order = client.get("/api/v1/objects/Order?limit=1&where=status%20%3D%20%27open%27", headers=auth(tokens["cfo"]))
    assert order.status_code == 200, order.text
    with_key["parameters"] = {"order_id": order.json()["objects"][0]["order_id"], "delay_days": 3}
    first = client.post("/api/v1/actions", json=with_key, headers=auth(tokens["cfo"]))
    again = client.post("/api/v1/actions", json=with_key, headers=auth(tokens["cfo"]))
    assert first.status_code == again.status_code == 200, first.text
    assert [a["action_id"] for a in again.json()] == [a["action_id"] for a in first.json()]
    assert first.json()[0]["submission"] == "retry-0123456789"
    client.post("/api/v1/actions/reject", json={"ids": [first.json()[0]["action_id"]]}, headers=auth(tokens["ceo"]))
    # a hostile key is a value like any other: kept byte for byte, matched as a whole, never SQL
    hostile = {**with_key, "submission": "x'); DELETE FROM brain.audit_log; --"}
    kept = client.post("/api/v1/actions", json=hostile, headers=auth(tokens["cfo"]))
    assert kept.status_code == 200 and kept.json()[0]["submission"] == hostile["submission"], kept.text
    assert kept.json()[0]["action_id"] != first.json()[0]["action_id"]
    with svc.use() as brain:
        assert brain.audit.verify()["ok"]
    client.post("/api/v1/actions/reject", json={"ids": [kept.json()[0]["action_id"]]}, headers=auth(tokens["ceo"]))
    for size in (7, 101):  # a key too short to be one's own, or too long: refused, with the field named
        refused = client.post(
            "/api/v1/actions", json={**with_key, "submission": "k" * size}, headers=auth(tokens["cfo"])
        )
        assert refused.status_code == 422 and "submission" in refused.text, refused.text


def test_the_cli_commands_go_through_the_local_route_as_the_named_user(svc: BrainService, app: FastAPI) -> None:
    """/api/v1/local/commands/{name}: the local secret over loopback runs a CLI command as its --as user (or the
    default user), governed and audited as on the CLI; an API token, another address or an unknown name: no."""
    import httpx2

    from companybrain.delivery.local import from_wire, to_wire
    from tests.live_service import serve

    secret = {"Authorization": f"Bearer {svc.local_secret}"}
    query = {"metrics": ["revenue"], "by": ["region"], "where": None, "period": "2025-Q4", "order": [], "limit": None}
    with serve(app) as url:

        def run(name: str, args: dict[str, Any], headers: dict[str, str]) -> httpx2.Response:
            return httpx2.post(f"{url}/api/v1/local/commands/{name}", json={"args": to_wire(args)}, headers=headers)

        rep = run("query", {**query, "user": "emea_rep"}, secret)
        assert rep.status_code == 200, rep.text
        result = from_wire(rep.json())
        assert result["policy"]["user"] == "emea_rep" and {r[0] for r in result["rows"]} == {"EMEA"}
        default = from_wire(run("query", {**query, "user": None}, secret).json())
        assert default["policy"]["user"] == "ceo" and len(default["rows"]) > 1  # the project's default user
        token, _ = svc.tokens.create("ceo", SCOPES)
        assert run("query", {**query, "user": None}, auth(token)).status_code == 401
        unknown = run("drop_everything", {}, secret)
        assert unknown.status_code == 404 and "no command" in unknown.json()["detail"]
        wrong = run("query", {"metric": "x"}, secret)
        assert wrong.status_code == 400 and "command 'query'" in wrong.json()["detail"]
    with svc.use() as brain:
        audited = [r for r in brain.audit.tail(20) if r["action"] == "query"]
    assert {"emea_rep", "ceo"} <= {r["user_name"] for r in audited}

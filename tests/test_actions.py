"""Actions: declared types validated with file and line, who may submit and approve, write-back and
its rollback, the source system's webhook (a local HTTP server stands in for the ERP), a failed
step leaving nothing applied, every state change audited, and a replan proposed as one batch."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from companybrain import Brain
from companybrain.decisions.effects import EffectFailed
from companybrain.errors import ConfigError, Conflict, NotFound, PolicyDenied, QueryError
from companybrain.project import Project
from tests.conftest import write

pytestmark = pytest.mark.slow

MORE_USERS = """
users:
  blq_plant_manager: {roles: [plant_manager], attributes: {function: Operations, site: BLQ}}
"""


class FakeErp:
    """A local HTTP server standing in for the ERP's order API: records calls, fails on request."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []
        self.fail_order: int | None = None
        erp = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"null")
                erp.calls.append({"path": self.path, "body": body})
                failing = erp.fail_order is not None and f"/{erp.fail_order}/" in self.path and not body.get("undo")
                self.send_response(500 if failing else 200)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def erp() -> Iterator[FakeErp]:
    server = FakeErp()
    yield server
    server.close()


@pytest.fixture(scope="module")
def demo(small_demo: Callable[[str], Path], erp: FakeErp) -> Iterator[Brain]:
    root = small_demo("actions")
    path = root / "actions" / "orders.yaml"
    path.write_text(path.read_text().replace("127.0.0.1:8099", f"127.0.0.1:{erp.port}"))
    write(root / "policies" / "more.yaml", MORE_USERS)
    brain = Brain.open(root)
    yield brain
    brain.close()


@pytest.fixture(scope="module")
def on_mke_l3(demo: Brain) -> dict[int, float]:
    """Open orders with a part made on MKE-L3 (what the tests move), and that part's net value."""
    open_ids = set(demo.read("Order", where="status = 'open'", user="cfo").column("order_id").to_pylist())
    value: dict[int, float] = {}
    for r in demo.read("OrderLine", where="production_line_id = 'MKE-L3'", user="cfo").to_pylist():
        if r["order_id"] in open_ids:
            value[r["order_id"]] = value.get(r["order_id"], 0.0) + r["net_amount"]
    return value


@pytest.fixture(scope="module")
def orders(demo: Brain, on_mke_l3: dict[int, float]) -> list[int]:
    """Orders whose part on MKE-L3 a move of 5 units worth up to 2,000 USD fits in (no move takes more
    than the order has on its line), under the 100,000 USD of the move rule's large moves."""
    qty: dict[int, int] = {}
    for r in demo.read("OrderLine", where="production_line_id = 'MKE-L3'", user="cfo").to_pylist():
        qty[r["order_id"]] = qty.get(r["order_id"], 0) + r["qty"]
    return sorted(o for o, v in on_mke_l3.items() if 2_000 <= v < 100_000 and qty[o] >= 5)[:20]


@pytest.fixture(scope="module")
def big_order(on_mke_l3: dict[int, float]) -> int:
    """The order with the most net value on MKE-L3 (more than the move rule's 100,000 USD)."""
    order_id = max(on_mke_l3, key=on_mke_l3.__getitem__)
    assert on_mke_l3[order_id] > 100_000
    return order_id


def move(order_id: int, value: float, to_site: str = "MKE", to_line: str = "MKE-L4") -> tuple[str, dict[str, Any]]:
    return (
        "move_order",
        {
            "order_id": order_id,
            "from_line": "MKE-L3",
            "to_line": to_line,
            "from_site": "MKE",
            "to_site": to_site,
            "week": 2,
            "qty": 5,
            "value": value,
        },
    )


def writeback(brain: Brain, table: str) -> list[dict[str, Any]]:
    if table not in brain.warehouse.list_tables("writeback"):
        return []
    return brain.warehouse.query_sql(f"SELECT * FROM writeback.{table} ORDER BY action_id").to_pylist()


def audit_of(brain: Brain, action_id: int) -> list[tuple[str, str, str]]:
    records = brain.audit.tail(10_000)
    return [
        (r["action"], r["user_name"], r["outcome"])
        for r in records
        if r["action"].startswith("action.") and json.loads(r["request"]).get("action_id") == action_id
    ]


# --- declarations --------------------------------------------------------------------------------


def test_action_files_are_validated_with_file_and_line(small_demo: Callable[[str], Path]) -> None:
    root = small_demo("actions-bad")
    write(
        root / "actions" / "bad.yaml",
        """
        actions:
          reprioritise:
            parameters:
              order_id: {type: integer, object: Ordr}
              urgent: {type: boolean, requird: true}
            submit: {roles: [sales_rep]}
            approval:
              rules:
                - any_of: [{role: plant_manger}]
            effects:
              - {type: webhook, url: "https://erp.example.com/orders/{order_idd}"}
        """,
    )
    with pytest.raises(ConfigError) as err:
        Project.load(root)
    assert "actions/bad.yaml:5 (actions.reprioritise.parameters.urgent.requird): unknown key 'requird'" in str(
        err.value
    )
    assert "did you mean 'required'?" in str(err.value)
    (root / "actions" / "bad.yaml").write_text(
        (root / "actions" / "bad.yaml").read_text().replace("requird", "required")
    )
    with pytest.raises(ConfigError) as err:
        Project.load(root)
    text = str(err.value)
    assert "actions/bad.yaml:4 (reprioritise.parameters.order_id.object): unknown object type 'Ordr'" in text
    assert "unknown role 'plant_manger'; did you mean 'plant_manager'?" in text
    assert "unknown parameter 'order_idd'; did you mean 'order_id'?" in text
    assert "webhook host='erp.example.com' is not in brain.yaml egress.allow" in text


def test_unknown_type_and_missing_or_bad_parameters_say_what_to_fix(demo: Brain, orders: list[int]) -> None:
    with pytest.raises(NotFound, match="unknown action type 'move_ordr'; did you mean 'move_order'"):
        demo.actions.propose([("move_ordr", {})], "cfo")
    name, params = move(orders[0], 100.0)
    del params["week"]
    with pytest.raises(QueryError, match=r"needs the parameter 'week' \(integer; declared at actions/orders.yaml:\d+"):
        demo.actions.propose([(name, params)], "cfo")
    with pytest.raises(QueryError, match=r"week=99 is outside 1\.0\.\.13\.0"):
        demo.actions.propose([(name, {**move(orders[0], 1.0)[1], "week": 99})], "cfo")
    with pytest.raises(QueryError, match="an order part moves to another line"):
        demo.actions.propose([(name, {**move(orders[0], 1.0)[1], "to_line": "MKE-L3"})], "cfo")
    with pytest.raises(NotFound, match="no Line 'MKE-L99'"):
        demo.actions.propose([move(orders[0], 1.0, to_line="MKE-L99")], "cfo")
    assert demo.actions.find("proposed", limit=1000) == [] or all(
        r["parameters"]["week"] != 99 for r in demo.actions.find("proposed", limit=1000)
    )


def test_only_declared_roles_may_submit(demo: Brain, orders: list[int]) -> None:
    with pytest.raises(PolicyDenied, match="may not submit 'move_order' actions") as err:
        demo.actions.propose([move(orders[0], 100.0)], "emea_rep")
    assert err.value.policy == "action-submit:move_order"
    last = demo.audit.tail(1)[0]
    assert (last["action"], last["user_name"], last["outcome"]) == (
        "action.propose",
        "emea_rep",
        "denied: action-submit:move_order",
    )


# --- approval, write-back, webhook, rollback -----------------------------------------------------


def test_approval_rules_write_back_and_rollback(demo: Brain, orders: list[int], erp: FakeErp) -> None:
    desk = demo.actions
    [action] = desk.propose([move(orders[1], 2_000.0)], "cfo")
    aid = action["action_id"]
    with pytest.raises(PolicyDenied, match=r"proposed action \d+ and may not approve it"):
        desk.approve([aid], "cfo")
    with pytest.raises(PolicyDenied, match="may not approve action"):
        desk.approve([aid], "emea_rep")
    with pytest.raises(PolicyDenied, match="may not approve action"):
        desk.approve([aid], "blq_plant_manager")  # the rule names the plant manager of the *from* site
    calls = len(erp.calls)
    [outcome] = desk.approve([aid], "mke_plant_manager", note="line 4 has room")
    assert outcome.status == "applied"
    [row] = [r for r in writeback(demo, "order_moves") if r["action_id"] == aid]
    assert (row["order_id"], row["to_line"], row["applied_by"]) == (orders[1], "MKE-L4", "mke_plant_manager")
    assert erp.calls[calls:] == [
        {
            "path": f"/erp/orders/{orders[1]}/production",
            "body": {"line": "MKE-L4", "from_line": "MKE-L3", "site": "MKE", "week": 2, "qty": 5, "brain_action": aid},
        }
    ]
    with pytest.raises(Conflict, match="is applied; only a proposed action can be approved"):
        desk.approve([aid], "ceo")

    with pytest.raises(PolicyDenied, match="may not roll back"):
        desk.rollback([aid], "emea_rep")
    assert desk.rollback([aid], "ceo")[0].status == "rolled_back"
    assert [r for r in writeback(demo, "order_moves") if r["order_id"] == orders[1]] == []
    assert erp.calls[-1]["body"]["undo"] is True and erp.calls[-1]["body"]["line"] == "MKE-L3"
    assert audit_of(demo, aid) == [
        ("action.propose", "cfo", "ok"),
        ("action.approve", "cfo", "denied: self-approval"),
        ("action.approve", "emea_rep", "denied: approval"),
        ("action.approve", "blq_plant_manager", "denied: approval"),
        ("action.approve", "mke_plant_manager", "ok"),
        ("action.apply", "mke_plant_manager", "ok"),
        ("action.rollback", "emea_rep", "denied: rollback"),
        ("action.rollback", "ceo", "ok"),
    ]
    assert demo.audit.verify()["ok"]


def test_a_large_move_across_sites_needs_both_plant_managers_or_an_executive(demo: Brain, big_order: int) -> None:
    desk = demo.actions
    # the rule rests on the order's value on the line as the data has it: typing a small value changes nothing
    big = move(big_order, 1.0, to_site="BLQ", to_line="BLQ-L1")
    [first] = desk.propose([big], "cfo")
    assert first["parameters"]["line_value"] > 100_000
    assert desk.approve([first["action_id"]], "mke_plant_manager")[0].status == "proposed"  # one of two
    with pytest.raises(Conflict, match="already approved"):
        desk.approve([first["action_id"]], "mke_plant_manager")
    assert desk.approve([first["action_id"]], "blq_plant_manager")[0].status == "applied"
    assert [a["user"] for a in desk.get(first["action_id"])["approvals"]] == ["mke_plant_manager", "blq_plant_manager"]
    desk.rollback([first["action_id"]], "ceo")

    [second] = desk.propose([big], "cfo")
    assert desk.approve([second["action_id"]], "ceo")[0].status == "applied"  # an executive alone
    desk.rollback([second["action_id"]], "ceo")


def test_a_failed_step_leaves_nothing_applied(demo: Brain, orders: list[int], erp: FakeErp) -> None:
    desk = demo.actions
    batch = desk.propose([move(orders[3], 1_000.0), move(orders[4], 1_000.0)], "cfo")
    ids = [a["action_id"] for a in batch]
    before = writeback(demo, "order_moves")
    erp.fail_order, calls = orders[4], len(erp.calls)
    try:
        outcomes = desk.approve(ids, "ceo")
    finally:
        erp.fail_order = None
    assert [o.status for o in outcomes] == ["failed", "failed"]
    assert "answered 500" in outcomes[0].message and "nothing applied" in outcomes[0].message
    # the first order's call went through and was undone; the second failed; no row was written (the calls
    # of one apply go out a few at a time: in either order)
    paths = [(c["path"], bool(c["body"].get("undo"))) for c in erp.calls[calls:]]
    first, second = f"/erp/orders/{orders[3]}/production", f"/erp/orders/{orders[4]}/production"
    assert sorted(paths[:2]) == sorted([(first, False), (second, False)]) and paths[2:] == [(first, True)]
    assert writeback(demo, "order_moves") == before
    assert {desk.get(i)["status"] for i in ids} == {"failed"}
    assert audit_of(demo, ids[0])[-1] == ("action.apply", "ceo", audit_of(demo, ids[0])[-1][2])
    assert audit_of(demo, ids[0])[-1][2].startswith("error: ")


def test_rejected_actions_apply_nothing(demo: Brain, orders: list[int]) -> None:
    desk = demo.actions
    [a] = desk.propose([move(orders[5], 500.0)], "cfo")
    with pytest.raises(PolicyDenied):
        desk.reject([a["action_id"]], "emea_rep")
    assert desk.reject([a["action_id"]], "mke_plant_manager", reason="line 4 is full")[0].status == "rejected"
    assert desk.get(a["action_id"])["status"] == "rejected"
    assert not [r for r in writeback(demo, "order_moves") if r["action_id"] == a["action_id"]]
    with pytest.raises(Conflict):
        desk.approve([a["action_id"]], "ceo")


def test_replan_proposed_as_one_batch_then_approved(demo: Brain, run_cli: Callable[..., Any]) -> None:
    root = str(demo.project.root)
    args = ["-p", root, "replan", "--site", "Milwaukee", "--line", "L3", "--from", "2026-03-02", "--days", "10"]
    code, out, err = run_cli(*args, "--propose", "--as", "cfo", "--format", "json")
    assert code == 0, err
    result = json.loads(out)
    proposed = result["proposed"]
    assert len(proposed) == len(result["actions"]) > 0
    kinds = {
        "move": "move_order",
        "delay": "delay_order",
        "prioritise": "prioritise_order",
        "expedite": "expedite_part",
    }
    assert [p["action_type"] for p in proposed] == [kinds[a["action"]] for a in result["actions"]]
    assert {p["batch_id"] for p in proposed} == {proposed[0]["batch_id"]}
    batch = str(proposed[0]["batch_id"])
    strategic_delay = any(a["action"] == "delay" and a["tier"] == "strategic" for a in result["actions"])
    code, _, err = run_cli("-p", root, "actions", "approve", "--batch", batch, "--as", "cfo")
    assert code == 1 and ("self-approval" in err or "may not approve" in err)
    if strategic_delay:  # a strategic customer's delay needs an executive
        code, _, err = run_cli("-p", root, "actions", "approve", "--batch", batch, "--as", "mke_plant_manager")
        assert code == 1 and "role executive" in err
    code, out, err = run_cli("-p", root, "actions", "approve", "--batch", batch, "--as", "ceo", "--format", "json")
    assert code == 0, err
    assert {o["status"] for o in json.loads(out)} == {"applied"}
    delays = [a for a in result["actions"] if a["action"] == "delay"]
    promised = {r["order_id"]: r for r in writeback(demo, "order_promises")}
    for d in delays:
        assert str(promised[d["order_id"]]["new_date"]) == d["new_date"]
    code, out, _ = run_cli("-p", root, "value", "--format", "json")
    entry = next(e for e in json.loads(out)["entries"] if e["entry_id"] == result["ledger_entry"])
    assert entry["status"] == "approved" and entry["approved_by"] == "ceo"


def strategic_order(demo: Brain, orders: list[int]) -> int:
    strategic = demo.read("Customer", where="tier = 'strategic'", user="cfo").column("customer_id").to_pylist()
    rows = demo.read("Order", where=f"order_id IN ({', '.join(map(str, orders))})", user="cfo").to_pylist()
    return next(r["order_id"] for r in rows if r["customer_id"] in set(strategic))


def test_approving_a_batch_is_all_or_nothing_at_the_policy(demo: Brain, orders: list[int]) -> None:
    desk = demo.actions
    order = strategic_order(demo, orders)
    delay = {"order_id": order, "due_date": "2026-03-05", "new_date": "2026-03-12", "delay_days": 7, "value": 9_000.0}
    batch = desk.propose([move(order, 1_000.0), ("delay_order", delay)], "cfo")
    assert batch[1]["parameters"]["tier"] == "strategic"  # read from the order's customer, not typed
    ids = [a["action_id"] for a in batch]
    with pytest.raises(PolicyDenied, match=r"it needs when tier = 'strategic': any of: role executive .*by id"):
        desk.approve(ids, "mke_plant_manager")  # may approve the move, not a strategic customer's delay
    assert [desk.get(i)["approvals"] for i in ids] == [[], []]
    assert desk.approve(ids[:1], "mke_plant_manager")[0].status == "applied"
    assert desk.approve(ids[1:], "ceo")[0].status == "applied"
    desk.rollback(ids, "ceo")


FLAG = """
actions:
  flag_order:
    parameters:
      order_id: {type: integer, object: Order}
      follow_up: {type: date}
      urgent: {type: boolean}
      note: {type: string, required: false}
    submit: {roles: [sales, executive]}
    approval:
      rules:
        - any_of: [{role: executive}]
    effects:
      - {type: write, table: order_flags, key: [order_id]}
"""


def test_write_back_and_rollback_on_every_engine(semantic_brain: Brain) -> None:
    """The shop on DuckDB and PostgreSQL: typed write-back rows, a later action over the same key, and
    rollbacks that restore what each action replaced; the proposer sees only their objects."""
    root = semantic_brain.project.root
    semantic_brain.close()
    write(root / "actions" / "flags.yaml", FLAG)
    with Brain.open(root) as brain:
        customers = {c["customer_id"]: c["region"] for c in brain.read("Customer", user="ceo").to_pylist()}
        orders = brain.read("Order", user="ceo").to_pylist()
        emea = next(o["order_id"] for o in orders if customers[o["customer_id"]] == "EMEA")
        na = next(o["order_id"] for o in orders if customers[o["customer_id"]] == "NA")
        params = {"order_id": emea, "follow_up": "2025-04-01", "urgent": "true", "note": "call the buyer"}
        with pytest.raises(NotFound, match=f"no Order {na}"):  # not in the rep's region: not theirs to flag
            brain.actions.propose([("flag_order", {**params, "order_id": na})], "emea_rep")
        [first] = brain.actions.propose([("flag_order", params)], "emea_rep")
        assert brain.actions.approve([first["action_id"]], "ceo")[0].status == "applied"
        [second] = brain.actions.propose([("flag_order", {**params, "urgent": False, "note": None})], "emea_rep")
        assert brain.actions.approve([second["action_id"]], "ceo")[0].status == "applied"
        [row] = writeback(brain, "order_flags")
        assert (row["action_id"], row["urgent"], row["note"], str(row["follow_up"])) == (
            second["action_id"],
            False,
            None,
            "2025-04-01",
        )
        with pytest.raises(EffectFailed, match="roll back action"):
            brain.actions.rollback([first["action_id"]], "ceo")  # the later action owns the row now
        brain.actions.rollback([second["action_id"]], "ceo")
        [row] = writeback(brain, "order_flags")
        assert (row["action_id"], row["urgent"], row["note"]) == (first["action_id"], True, "call the buyer")
        brain.actions.rollback([first["action_id"]], "ceo")
        assert writeback(brain, "order_flags") == []


def test_an_applied_action_notifies_its_audience_once(small_demo: Callable[[str], Path], run_cli: Any) -> None:
    from tests.test_alerts import Receiver

    receiver = Receiver()
    try:
        root = small_demo("notify")
        path = root / "actions" / "orders.yaml"
        path.write_text(path.read_text().replace("127.0.0.1:8098", f"127.0.0.1:{receiver.port}"))
        with Brain.open(root) as brain:
            order = brain.read("Order", where="status = 'open'", limit=1, user="cfo").to_pylist()[0]["order_id"]
            delay = {
                "order_id": order,
                "due_date": "2026-03-05",
                "new_date": "2026-03-12",
                "delay_days": 7,
                "value": 9000.0,
            }
            action = brain.actions.propose([("delay_order", delay)], "cfo")[0]["action_id"]
        assert receiver.at("/account-team") == []  # proposed: nobody is told yet
        code, _, err = run_cli("-p", str(root), "actions", "approve", str(action), "--as", "ceo")
        assert code == 0, err
        posts = receiver.at("/account-team")
        assert len(posts) == 1 and f"Order {order} now ships on 2026-03-12" in posts[0]["title"]
        assert "approved by ceo" in posts[0]["message"]
        # delivered once: the alert engine's next check finds nothing left in the outbox
        with Brain.open(root) as brain:
            from companybrain.delivery.alerts import AlertEngine

            engine = AlertEngine(brain)
            try:
                assert engine.deliver_outbox() == []
            finally:
                engine.close()
        assert len(receiver.at("/account-team")) == 1
    finally:
        receiver.stop()


def test_a_webhook_host_is_fixed_text() -> None:
    from companybrain.specs.actions import HttpCall

    with pytest.raises(ValueError, match="host of a webhook URL is fixed"):
        HttpCall(url="http://{system}.corp/orders/{order_id}")
    with pytest.raises(ValueError, match="host of a webhook URL is fixed"):
        HttpCall(url="http://{user}@erp.corp/x")
    # the host the guard checks is the host the client calls: both parse the URL the same way
    from companybrain.specs.actions import url_host

    assert url_host("http://evil.com?@a.corp/x") == "evil.com"
    assert HttpCall(url="http://127.0.0.1:8099/erp/orders/{order_id}").url.endswith("{order_id}")


def test_the_facts_an_approval_rests_on_are_read_not_typed(demo: Brain, orders: list[int]) -> None:
    order = strategic_order(demo, orders)
    delay = {"order_id": order, "due_date": "2026-03-05", "new_date": "2026-03-12", "delay_days": 7, "value": 9.0}
    # a proposer who calls a strategic customer's order "standard" to escape the executive's approval
    with pytest.raises(QueryError, match=r"tier='standard', but order_id\.customer\.tier is 'strategic'"):
        demo.actions.propose([("delay_order", {**delay, "tier": "standard"})], "cfo")
    # and whoever may not read the fact cannot propose what rests on it (fail closed)
    with pytest.raises(PolicyDenied, match="may not read"):
        demo.actions.propose([("delay_order", delay)], "mke_plant_manager")


def test_a_typed_value_must_be_what_its_expr_computes(demo: Brain, orders: list[int]) -> None:
    order = strategic_order(demo, orders)
    # a delay of 2 days (under a rule's threshold, say) that writes a promise a week later
    delay = {"order_id": order, "due_date": "2026-03-05", "new_date": "2026-03-12", "delay_days": 2}
    with pytest.raises(QueryError, match=r"new_date=2026-03-12, but due_date \+ delay_days is 2026-03-07") as err:
        demo.actions.propose([("delay_order", delay)], "cfo")
    assert "computed when left out" in str(err.value.hint)
    # either one alone: the other is computed from it
    [by_date] = demo.actions.propose([("delay_order", {**delay, "delay_days": None})], "cfo", dry_run=True)
    [by_days] = demo.actions.propose([("delay_order", {**delay, "new_date": None})], "cfo", dry_run=True)
    assert by_date["parameters"]["delay_days"] == 7 and by_days["parameters"]["new_date"] == "2026-03-07"


def test_an_approval_rule_that_cannot_be_decided_refuses() -> None:
    from companybrain.decisions.approvals import rule_for
    from companybrain.specs.actions import ActionType

    def action_type(when: str) -> ActionType:
        return ActionType.model_validate(
            {
                "parameters": {"order_id": {"type": "integer"}, "discount": {"type": "number", "required": False}},
                "submit": {"roles": ["finance"]},
                "approval": {
                    "rules": [{"when": when, "any_of": [{"role": "executive"}]}, {"any_of": [{"role": "finance"}]}]
                },
                "effects": [{"type": "write", "table": "discounts", "key": ["order_id"]}],
            }
        )

    spec = action_type("discount > 10 AND order_id > 0")
    # no discount: not "the rule does not hold" (the lighter one would pass it) but "cannot tell"
    with pytest.raises(QueryError, match=r"`when: discount > 10 AND order_id > 0` cannot be decided: discount"):
        rule_for(spec, {"order_id": 1, "discount": None})
    assert rule_for(spec, {"order_id": 1, "discount": 5}).any_of[0].role == "finance"
    assert rule_for(spec, {"order_id": 1, "discount": 15}).any_of[0].role == "executive"
    # a rule that asks about the missing value decides it
    assert rule_for(action_type("discount IS NULL"), {"order_id": 1, "discount": None}).any_of[0].role == "executive"


def test_an_action_adopting_scenarios_names_the_scenario(small_demo: Callable[[str], Path]) -> None:
    root = small_demo("actions-scenario")
    path = root / "actions" / "scenarios.yaml"
    path.write_text(path.read_text().replace("scenario: {type: string}", "name: {type: string}"))
    # its write effect's key still names `scenario`: said with file and line, not a crash
    with pytest.raises(
        ConfigError,
        match=r"actions/scenarios.yaml:\d+ \(adopt_scenario.effects.0.key\): "
        r"unknown parameter 'scenario'; valid: capex_diff",
    ):
        Project.load(root)
    path.write_text(path.read_text().replace("key: [scenario]", "key: [name]"))
    need = r"actions/scenarios.yaml:\d+ \(adopt_scenario.from_scenario\): from_scenario: true needs a required "
    with pytest.raises(ConfigError, match=need + r"`scenario` parameter of type string"):
        Project.load(root)
    # an optional scenario would let a proposer leave it out and type the figures the rule rests on
    text = path.read_text().replace("key: [name]", "key: [scenario]")
    path.write_text(text.replace("name: {type: string}", "scenario: {type: string, required: false}"))
    with pytest.raises(ConfigError, match=need):
        Project.load(root)


def test_a_move_takes_no_more_than_the_order_has_on_its_line(demo: Brain, orders: list[int]) -> None:
    name, params = move(orders[0], 1.0)
    [read] = demo.actions.propose([(name, {**params, "qty": None, "value": None})], "cfo", dry_run=True)
    have = read["parameters"]
    assert (have["qty"], have["value"]) == (have["line_qty"], have["line_value"])  # all of it, when left out
    with pytest.raises(QueryError, match="a move takes no more than the order has on from_line"):
        demo.actions.propose([(name, {**params, "qty": have["line_qty"] + 1})], "cfo", dry_run=True)
    with pytest.raises(QueryError, match="a move takes no more than the order has on from_line"):
        demo.actions.propose([(name, {**params, "value": have["line_value"] * 2})], "cfo", dry_run=True)


EXTEND = """
actions:
  extend_order:
    parameters:
      order_id: {type: integer, object: Order}
      start: {type: date, required: false}
      days: {type: number, required: false}
      until: {type: date, required: false, expr: start + days}
    submit: {roles: [finance]}
    approval:
      rules:
        - {when: "days > 10", any_of: [{role: executive}]}
        - any_of: [{role: finance}]
    effects:
      - {type: write, table: order_extensions, key: [order_id]}
"""


def test_what_a_rule_or_a_computed_value_needs_must_be_there(small_demo: Callable[[str], Path]) -> None:
    """End to end on a declared type: a typed `until` that nothing can check, and a rule on `days` that
    cannot be decided, are refused; given what they need, they hold."""
    root = small_demo("actions-extend")
    write(root / "actions" / "extend.yaml", EXTEND)
    with Brain.open(root) as brain:
        order = brain.read("Order", user="cfo", limit=1, columns=["order_id"]).column(0)[0].as_py()
        propose = brain.actions.propose
        with pytest.raises(QueryError, match=r"until=2026-05-01 cannot be checked: start \+ days needs days, start"):
            propose([("extend_order", {"order_id": order, "until": "2026-05-01"})], "cfo", dry_run=True)
        with pytest.raises(QueryError, match=r"`when: days > 10` cannot be decided: days has no value"):
            propose([("extend_order", {"order_id": order, "start": "2026-04-01"})], "cfo", dry_run=True)
        [long] = propose([("extend_order", {"order_id": order, "start": "2026-04-01", "days": 12})], "cfo")
        assert long["parameters"]["until"] == "2026-04-13"
        assert "role executive" in brain.actions.approval_needed("extend_order", long["parameters"])


def test_a_submission_key_makes_one_batch_however_often_it_is_sent(demo: Brain, orders: list[int]) -> None:
    desk = demo.actions
    first = desk.propose([move(orders[6], 500.0)], "cfo", submission="plan_0123456789")
    again = desk.propose([move(orders[6], 500.0)], "cfo", submission="plan_0123456789")
    assert [a["action_id"] for a in again] == [a["action_id"] for a in first]
    assert len(desk.find(batch=first[0]["batch_id"])) == 1
    # another user's key is theirs: the same text from someone else is another submission
    other = desk.propose([move(orders[6], 500.0)], "ceo", submission="plan_0123456789")
    assert other[0]["batch_id"] != first[0]["batch_id"]
    desk.reject([first[0]["action_id"], other[0]["action_id"]], "ceo", "a test")


def test_who_may_approve_a_batch_and_whether_this_user_may_in_one_step(demo: Brain) -> None:
    """A replan proposed by the planner: the CEO may approve all of it; the CFO not the strategic delays;
    the planner none (they proposed it); a batch the CEO proposed with strategic delays can be approved by
    nobody else, and the review says so."""
    from companybrain.decisions.network import Disruption
    from companybrain.decisions.review import batch_review

    line_down = Disruption(site="MKE", line="L3", capacity=0.0, start="2026-03-02", days=10)
    plan, proposed, entry = demo.propose_replan(line_down, "planner")
    batch = proposed[0]["batch_id"]
    ceo, cfo, planner = (batch_review(demo, batch, u) for u in ("ceo", "cfo", "planner"))
    assert ceo["state"] == "awaiting approval" and ceo["approval"]["you_may_approve_all"]
    assert ceo["ledger"]["entry_id"] == entry and ceo["ledger"]["summary"]["actions"] == len(plan.actions)
    assert ceo["summary"]["by_type"] and ceo["effects"]
    strategic = [a for a in plan.actions if a["action"] == "delay" and a.get("tier") == "strategic"]
    if strategic:  # the CFO may not approve a strategic customer's delay: told so, in words
        assert not cfo["approval"]["you_may_approve_all"]
        assert any(n["why"] == "delay order: need ceo" for n in cfo["approval"]["not_yours"])
    assert planner["approval"]["you_may_approve"] == 0
    assert planner["approval"]["not_yours"][0]["why"].startswith("proposed by you")
    # the plant manager may see the batch, not the ledger (it sums every region's orders and their values)
    mke = batch_review(demo, batch, "mke_plant_manager")
    assert mke["ledger"] is None and "value ledger" in mke["ledger_problem"]
    demo.actions.reject(demo.actions.batch_ids(batch), "ceo", "a test")
    assert batch_review(demo, batch, "ceo")["state"] == "rejected"

    if strategic:
        _, by_ceo, _ = demo.propose_replan(line_down, "ceo")
        review = batch_review(demo, by_ceo[0]["batch_id"], "ceo")
        assert review["approval"]["nobody_can"] >= len(strategic)
        demo.actions.reject(demo.actions.batch_ids(by_ceo[0]["batch_id"]), "ceo", "a test")


def test_a_plan_in_a_few_lines(demo: Brain) -> None:
    from companybrain.decisions.network import Disruption
    from companybrain.decisions.proposals import plan_summary

    plan = demo.replan(Disruption(site="MKE", capacity=0.0, start="2026-03-02", days=14), "cfo").as_dict()
    summary = plan_summary(plan)
    moves = [a for a in plan["actions"] if a["action"] == "move"]
    assert summary["actions"] == len(plan["actions"]) and summary["by_kind"].get("move", 0) == len(moves)
    assert sum(f["parts"] for f in summary["flows"]) == len(moves)
    assert sum(f["units"] for f in summary["flows"]) == sum(a["qty"] for a in moves)
    assert summary["customers"]["total"] == len({a["customer_id"] for a in plan["actions"] if a.get("customer_id")})
    assert summary["messages"]["total"] == len(plan["notifications"])

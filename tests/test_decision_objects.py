"""Decisions on the company model: an approved action's write-back row is an object (OrderPromise,
OrderMove, ...) linked to the objects it concerns, visible at once through the governed reads (row
filters of the linked objects, masking of its amounts), gone on rollback, kept by builds; a name
that collides is a `brain check` error with file and line. On the small demo, real Brain and CLI."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable, Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from companybrain import Brain
from companybrain.errors import Conflict, NotFound, PolicyDenied, WarehouseError
from tests.conftest import write

pytestmark = pytest.mark.slow

Cli = Callable[..., tuple[int, str, str]]


class Erp:
    """The ERP's order API on a local port: answers 200 to the moves' calls and their undo."""

    def __init__(self) -> None:
        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def root(small_demo: Callable[[str], Path]) -> Iterator[Path]:
    erp = Erp()
    root = small_demo("decision-objects")
    path = root / "actions" / "orders.yaml"
    path.write_text(re.sub(r"127\.0\.0\.1:\d+/erp", f"127.0.0.1:{erp.port}/erp", path.read_text()))
    yield root
    erp.close()


@pytest.fixture(scope="module")
def brain(root: Path) -> Iterator[Brain]:
    with Brain.open(root) as brain:
        yield brain


def open_mke_order(brain: Brain, region: str) -> tuple[int, str]:
    """An open order shipped from Milwaukee whose customer is in `region`, and the customer's tier."""
    for order in brain.read("Order", where="status = 'open' AND site_id = 'MKE'", user="cfo").to_pylist():
        customer = brain.object("Customer", order["customer_id"], "cfo")["properties"]
        if customer["region"] == region:
            return order["order_id"], customer["tier"]
    raise AssertionError(f"the small demo has no open MKE order of a {region} customer")


def delay(brain: Brain, order_id: int, tier: str) -> int:
    due = brain.object("Order", str(order_id), "cfo")["properties"]["due_date"]
    new = due + timedelta(days=7)
    params = {"order_id": order_id, "due_date": due, "new_date": new, "delay_days": 7, "value": 1_500.0, "tier": tier}
    [action] = brain.actions.propose([("delay_order", params)], "cfo")
    [outcome] = brain.actions.approve([action["action_id"]], "ceo")
    assert outcome.status == "applied", outcome.message
    return int(action["action_id"])


def move(brain: Brain, order_id: int) -> int:
    params = {
        "order_id": order_id,
        "from_line": "MKE-L3",
        "to_line": "MKE-L4",
        "from_site": "MKE",
        "to_site": "MKE",
        "week": 2,  # the order's whole part on MKE-L3: qty and value read from its lines
    }
    [action] = brain.actions.propose([("move_order", params)], "cfo")
    [outcome] = brain.actions.approve([action["action_id"]], "mke_plant_manager")
    assert outcome.status == "applied", outcome.message
    return int(action["action_id"])


def decisions_on(run_cli: Cli, root: Path, order_id: int, user: str) -> dict[str, list[int] | None]:
    """`brain object Order N --format json` as `user`: the keys of its decision links (None: denied)."""
    code, out, err = run_cli("-p", str(root), "object", "Order", str(order_id), "--as", user, "--format", "json")
    assert code == 0, err
    links = json.loads(out)["links"]
    return {name: links[name].get("keys") for name in ("order_promises", "order_moves", "order_priorities")}


def test_a_project_with_no_decision_yet_builds_and_reads_them_empty(brain: Brain, run_cli: Cli, root: Path) -> None:
    code, out, err = run_cli("-p", str(root), "objects", "OrderPromise", "--format", "json")
    assert code == 0, err
    assert json.loads(out)["rows"] == []
    [order] = brain.read("Order", limit=1, user="ceo").to_pylist()
    assert decisions_on(run_cli, root, order["order_id"], "ceo") == {
        "order_promises": [],
        "order_moves": [],
        "order_priorities": [],
    }
    obj = brain.project.objects["OrderMove"]
    assert obj.key == "action_id" and obj.source == "writeback.order_moves"
    assert {n: (link.to, link.via) for n, link in obj.links.items()} == {
        "order": ("Order", "order_id"),
        "from_line_ref": ("Line", "from_line"),
        "to_line_ref": ("Line", "to_line"),
        "from_site_ref": ("Site", "from_site"),
        "to_site_ref": ("Site", "to_site"),
    }
    assert {"action_id", "action_type", "approved_by", "applied_at", "to_line", "qty"} <= set(obj.properties)


def test_approved_decisions_are_on_their_order_at_once_and_gone_on_rollback(
    brain: Brain, run_cli: Cli, root: Path
) -> None:
    order, tier = open_mke_order(brain, "NA")
    promise, moved = delay(brain, order, tier), move(brain, order)
    # right after the approval, no build in between
    assert decisions_on(run_cli, root, order, "ceo") == {
        "order_promises": [promise],
        "order_moves": [moved],
        "order_priorities": [],
    }
    code, out, err = run_cli("-p", str(root), "object", "OrderPromise", str(promise), "--format", "json")
    assert code == 0, err
    found = json.loads(out)
    assert found["properties"]["order_id"] == order
    assert (found["properties"]["action_type"], found["properties"]["approved_by"]) == ("delay_order", "ceo")
    assert found["properties"]["delay_days"] == 7
    assert found["links"]["order"]["object"]["order_id"] == order
    shown = brain.object("OrderMove", str(moved), "ceo")["properties"]
    on_line = brain.read("OrderLine", where=f"order_id = {order} AND production_line_id = 'MKE-L3'", user="ceo")
    assert (shown["to_line"], shown["approved_by"]) == ("MKE-L4", "mke_plant_manager")
    assert shown["qty"] == sum(on_line.column("qty").to_pylist()) > 0

    # the plant manager of the order's site sees the move, its amount masked (they may not unmask
    # financial), but not the promise: it carries the customer's tier, read through Customer, which
    # they may not read
    seen = decisions_on(run_cli, root, order, "mke_plant_manager")
    assert seen["order_moves"] == [moved] and seen["order_promises"] is None
    as_manager = brain.object("OrderMove", str(moved), "mke_plant_manager")
    assert as_manager["properties"]["value"] == "***" and "value" in as_manager["masked"]
    assert as_manager["properties"]["qty"] == shown["qty"]  # not an amount: not masked
    with pytest.raises(PolicyDenied):
        brain.object("OrderPromise", str(promise), "mke_plant_manager")

    # a sales rep of another region sees neither the order nor the decisions on it
    code, _, err = run_cli("-p", str(root), "object", "Order", str(order), "--as", "emea_rep", "--format", "json")
    assert code == 1 and "no Order" in err
    code, out, err = run_cli("-p", str(root), "objects", "OrderPromise", "--as", "emea_rep", "--format", "json")
    assert code == 0, err
    assert promise not in [r["action_id"] for r in json.loads(out)["rows"]]
    with pytest.raises(NotFound, match="no OrderMove"):
        brain.object("OrderMove", str(moved), "emea_rep")
    # ... and someone who may not read orders may not read decisions on orders
    with pytest.raises(PolicyDenied, match="may not read OrderPromise"):
        brain.objects("OrderPromise", user="emea_hrbp")

    # a sales rep of the order's region does see the decision on it
    theirs, their_tier = open_mke_order(brain, "EMEA")
    their_promise = delay(brain, theirs, their_tier)
    assert decisions_on(run_cli, root, theirs, "emea_rep")["order_promises"] == [their_promise]

    # a build (incremental, then full, from the write-back tables) keeps them
    code, _, err = run_cli("-p", str(root), "build")
    assert code == 0, err
    code, _, err = run_cli("-p", str(root), "build", "--full")
    assert code == 0, err
    assert decisions_on(run_cli, root, order, "ceo") == {
        "order_promises": [promise],
        "order_moves": [moved],
        "order_priorities": [],
    }

    # a rollback removes them, at once
    code, _, err = run_cli("-p", str(root), "actions", "rollback", str(promise), str(moved), "--as", "ceo")
    assert code == 0, err
    assert decisions_on(run_cli, root, order, "ceo") == {
        "order_promises": [],
        "order_moves": [],
        "order_priorities": [],
    }
    with pytest.raises(NotFound):
        brain.object("OrderPromise", str(promise), "ceo")


def test_a_later_decision_on_the_same_key_replaces_it_and_its_rollback_brings_it_back(
    brain: Brain, run_cli: Cli, root: Path
) -> None:
    order, tier = open_mke_order(brain, "NA")
    first = delay(brain, order, tier)
    second = delay(brain, order, tier)
    assert decisions_on(run_cli, root, order, "ceo")["order_promises"] == [second]
    brain.actions.rollback([second], "ceo")
    assert decisions_on(run_cli, root, order, "ceo")["order_promises"] == [first]
    brain.actions.rollback([first], "ceo")
    assert decisions_on(run_cli, root, order, "ceo")["order_promises"] == []


COLLIDING_TYPE = """
actions:
  hold_order:
    description: Put an order on hold.
    parameters:
      order_id: {type: integer, object: Order}
      reason: {type: string}
    submit: {roles: [executive]}
    approval:
      rules:
        - any_of: [{role: executive}]
    effects:
      - type: write
        table: order_holds
        key: [order_id]
        object: Order
"""

COLLIDING_LINK = COLLIDING_TYPE.replace(
    "key: [order_id]\n        object: Order", "key: [order_id]\n        reverse: status"
)


def test_a_colliding_decision_name_is_a_check_error_with_file_and_line(
    small_demo: Callable[[str], Path], run_cli: Cli
) -> None:
    root = small_demo("decision-names")

    def check(actions: str) -> tuple[int, str]:
        """`brain check` with this action file: its exit code and what it said, on one line."""
        write(root / "actions" / "holds.yaml", actions)
        code, out, err = run_cli("-p", str(root), "check")
        return code, " ".join((out + err).split())

    code, said = check(COLLIDING_TYPE)
    assert code == 1
    assert (
        "actions/holds.yaml:15 (hold_order.effects.0.object): object type 'Order' (decisions of "
        "writeback.order_holds) is already declared in ontology/sales.yaml; set another `object:`"
    ) in said
    code, said = check(COLLIDING_LINK)
    assert code == 1
    assert (
        "actions/holds.yaml:15 (hold_order.effects.0.reverse): Order already has a property or link named "
        "'status'; give the link from Order to OrderHold another name with `reverse:`"
    ) in said
    code, said = check(COLLIDING_LINK.replace("reverse: status", "reverse: holds"))
    assert code == 0, said
    with Brain.open(root) as brain:
        assert brain.project.objects["OrderHold"].links["order"].reverse == "holds"


def test_the_api_object_route_shows_them_as_the_caller_may_see_them(brain: Brain, root: Path) -> None:
    from fastapi.testclient import TestClient

    from companybrain.delivery.app import create_app
    from tests.test_service import auth

    order, tier = open_mke_order(brain, "NA")
    promise = delay(brain, order, tier)
    app = create_app(brain=brain)
    with TestClient(app) as client:
        tokens = {u: app.state.service.tokens.create(u, ["read:objects"])[0] for u in ("cfo", "emea_rep")}
        found = client.get(f"/api/v1/objects/Order/{order}", headers=auth(tokens["cfo"]))
        assert found.status_code == 200, found.text
        assert found.json()["links"]["order_promises"]["keys"] == [promise]
        assert client.get(f"/api/v1/objects/Order/{order}", headers=auth(tokens["emea_rep"])).status_code == 404
        hidden = client.get("/api/v1/objects/OrderPromise", headers=auth(tokens["emea_rep"]))
        assert hidden.status_code == 200 and promise not in [o["action_id"] for o in hidden.json()["objects"]]
    brain.actions.rollback([promise], "ceo")


def test_decisions_written_before_they_were_objects_are_built_and_kept_current(
    small_demo: Callable[[str], Path],
) -> None:
    """A write-back table made by an earlier version (no action_type column) is read by the build, and
    gains the column with the next approval."""
    from companybrain.warehouse.ddl import create_table, insert_values, table

    root = small_demo("decision-upgrade")
    with Brain.open(root) as brain:
        order, tier = open_mke_order(brain, "NA")
        old = table("writeback", "order_promises")
        columns = {"order_id": "integer", "due_date": "date", "new_date": "date", "delay_days": "float"}
        columns |= {"value": "float", "tier": "string", "action_id": "integer", "applied_at": "string"}
        brain.warehouse.ensure_schema("writeback")
        brain.warehouse.execute(create_table(old, {**columns, "applied_by": "string"}))
        row = {"order_id": order, "due_date": "2026-04-01", "new_date": "2026-04-09", "delay_days": 8.0}
        row |= {"value": 10.0, "tier": tier, "action_id": 9999, "applied_at": "2026-03-01T00:00:00+00:00"}
        brain.warehouse.execute(insert_values(old, {**row, "applied_by": "cfo"}))
        brain.build(full=True)
        [earlier] = brain.objects("OrderPromise", user="ceo")
        assert (earlier["action_id"], earlier["action_type"], earlier["approved_by"]) == (9999, None, "cfo")
        other, other_tier = open_mke_order(brain, "EMEA")
        promise = delay(brain, other, other_tier)
        shown = {o["action_id"]: o["action_type"] for o in brain.objects("OrderPromise", user="ceo")}
        assert shown == {9999: None, promise: "delay_order"}


def test_a_rollback_after_the_decision_type_changed_removes_it_built_or_not(
    small_demo: Callable[[str], Path],
) -> None:
    """The decision object follows its type: two delays approved, then the action type given a new
    parameter (a new property of OrderPromise); one delay rolled back before the build, the other after."""
    root = small_demo("decision-redefined")
    with Brain.open(root) as brain:
        order, tier = open_mke_order(brain, "NA")
        other, other_tier = open_mke_order(brain, "EMEA")
        early, late = delay(brain, order, tier), delay(brain, other, other_tier)
        due = brain.object("Order", str(order), "cfo")["properties"]["due_date"]
        # proposed now, approved once the type has changed (a proposal reads the order, an approval does not)
        [again] = brain.actions.propose(
            [("delay_order", {"order_id": order, "new_date": due + timedelta(days=3)})], "cfo"
        )
    path = root / "actions" / "orders.yaml"
    text = path.read_text()
    anchor = "      tier: {type: string, choices: [strategic, key, standard], of: order_id.customer.tier}"
    assert anchor in text
    path.write_text(text.replace(anchor, anchor + "\n      reason: {type: string, required: false}", 1))

    def built_promises(brain: Brain) -> list[int]:
        return (
            brain.warehouse.query_sql("SELECT action_id FROM ontology.order_promise ORDER BY 1").column(0).to_pylist()
        )

    with Brain.open(root) as brain:
        # not built yet: the read says what to do, not the warehouse's missing column
        with pytest.raises(Conflict, match="OrderPromise changed since the last build") as err:
            brain.object("OrderPromise", str(early), "ceo")
        assert err.value.hint == "run `brain build`"
        assert brain.audit.tail(1)[0]["outcome"] == "error: WarehouseError"  # audited as it happened
        # another error meanwhile is that error: a build would not fix it
        with pytest.raises(WarehouseError) as failed:
            brain.read("Order", where="order_id + 'x' > 3", user="ceo")
        assert "changed since the last build" not in str(failed.value)
        # rolled back before the build: out of the built objects at once, not left in force until a build
        brain.actions.rollback([early], "ceo")
        assert built_promises(brain) == [late]
        # approved before the build: recorded, and the approver is told it is on the objects after the build
        [outcome] = brain.actions.approve([again["action_id"]], "ceo")
        assert outcome.status == "applied"
        assert "OrderPromise is not built as declared now: the decision is on the company model after the next" in (
            outcome.message
        )
        assert built_promises(brain) == [late]
        brain.build()
        shown = brain.object("OrderPromise", str(late), "ceo")["properties"]
        assert "reason" in shown and shown["reason"] is None  # rebuilt as declared now
        assert built_promises(brain) == [late, again["action_id"]]
        # rolled back after the build: removed as the type is declared now
        brain.actions.rollback([late, again["action_id"]], "ceo")
        with pytest.raises(NotFound, match="no OrderPromise"):
            brain.object("OrderPromise", str(late), "ceo")
        assert [o["action_id"] for o in brain.objects("OrderPromise", user="ceo")] == [] == built_promises(brain)

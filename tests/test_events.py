"""Real-time events: the event log (count in = count logged), machine state, event rules (an
overheating machine, a line_down that replans and tells its audience), over HTTP (the service's
POST /api/v1/events) and MQTT (the real Mosquitto on 127.0.0.1:1883).

One small demo project for the module, built once; notifications go to a local HTTP receiver.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlglot import exp

from companybrain.brain import Brain
from companybrain.delivery.app import create_app
from companybrain.delivery.events import EVENTS, MACHINE_STATE, EventProcessor, ingest_events, listen_mqtt
from tests.test_alerts import Receiver, demo_project

RULES = """
alerts:
  line_down:
    type: event
    event: line_down
    key: [line_id]
    severity: critical
    description: A line stopped.
    audience: {{roles: [plant_manager], users: [data_steward]}}
    as_user: cfo
    replan: {{days: 7}}
    dedup_minutes: 240
    channels: ["json://127.0.0.1:{http}/line-down/{{user}}"]
  overheating:
    type: event
    event: telemetry
    above: {{temperature: 100}}
    key: [machine_id]
    audience: {{roles: [plant_manager]}}
    channels: ["json://127.0.0.1:{http}/overheating"]
"""


def telemetry(machine: str, ts: str, temperature: float = 60.0, **extra: Any) -> dict[str, Any]:
    line = machine.rsplit("-M", 1)[0]
    return {
        "type": "telemetry",
        "machine_id": machine,
        "line_id": line,
        "site_id": line.split("-")[0],
        "ts": ts,
        "temperature": temperature,
        "vibration": 1.5,
        "pressure": 120.0,
        "power_kw": 40.0,
        **extra,
    }


def line_down(line: str, ts: str = "2026-03-02T06:00:00") -> dict[str, Any]:
    return {"type": "line_down", "site_id": line.split("-")[0], "line_id": line, "ts": ts, "reason": "bearing failure"}


def count_events(brain: Brain, where: exp.Expr | None = None) -> int:
    query = exp.select(exp.func("count", exp.Star())).from_(EVENTS)
    return int(brain.warehouse.scalar(query.where(where) if where is not None else query) or 0)


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def brain(tmp_path_factory: pytest.TempPathFactory, receiver: Receiver) -> Iterator[Brain]:
    found = demo_project(tmp_path_factory.mktemp("events") / "acme", RULES.format(http=receiver.port))
    yield found
    found.close()


@pytest.fixture(scope="module")
def processor(brain: Brain) -> Iterator[EventProcessor]:
    found = EventProcessor(brain)
    yield found
    found.close()


def test_every_event_is_logged_and_machine_state_keeps_the_newest(brain: Brain, processor: EventProcessor) -> None:
    before = count_events(brain)
    batch = [
        telemetry("MKE-L1-M1", "2026-03-01T10:00:00", vibration=2.5),
        telemetry("MKE-L1-M1", "2026-03-01T09:00:00"),  # older: must not win
        telemetry("MKE-L1-M2", "2026-03-01T10:00:00"),
        {"type": "heartbeat"},
        {"no_type": True},
    ]
    summary = processor.ingest(batch, source="test").as_dict()
    assert summary["received"] == summary["logged"] == 5
    assert summary["types"] == {"telemetry": 3, "heartbeat": 1, "unknown": 1}
    assert count_events(brain) == before + 5
    state = {r["machine_id"]: r for r in brain.warehouse.query_arrow(exp.select("*").from_(MACHINE_STATE)).to_pylist()}
    assert state["MKE-L1-M1"]["ts"] == "2026-03-01T10:00:00" and state["MKE-L1-M1"]["vibration"] == 2.5

    processor.ingest([telemetry("MKE-L1-M1", "2026-02-01T00:00:00", vibration=9.9)], source="test")
    state = {r["machine_id"]: r for r in brain.warehouse.query_arrow(exp.select("*").from_(MACHINE_STATE)).to_pylist()}
    assert state["MKE-L1-M1"]["vibration"] == 2.5  # a late, older reading does not roll the state back
    processor.ingest([telemetry("MKE-L1-M1", "2026-03-01T11:00:00", vibration=3.0)], source="test")
    state = {r["machine_id"]: r for r in brain.warehouse.query_arrow(exp.select("*").from_(MACHINE_STATE)).to_pylist()}
    assert state["MKE-L1-M1"]["vibration"] == 3.0 and len(state) == 2


def test_overheating_machine_alerts_once_per_machine(processor: EventProcessor, receiver: Receiver) -> None:
    batch = [
        telemetry("MKE-L2-M1", "2026-03-01T10:00:00", temperature=104.0),
        telemetry("MKE-L2-M1", "2026-03-01T10:00:01", temperature=105.0),  # same machine: deduplicated
        telemetry("MKE-L2-M2", "2026-03-01T10:00:00", temperature=99.0),  # below the limit
    ]
    alerts = processor.ingest(batch, source="test").alerts
    assert [(a["key"], a["status"]) for a in alerts] == [("MKE-L2-M1", "sent"), ("MKE-L2-M1", "deduplicated")]
    [post] = receiver.at("/overheating")
    assert "MKE-L2-M1" in post["title"] and '"temperature": 104.0' in post["message"]


def test_line_down_replans_and_notifies_the_audience(processor: EventProcessor, receiver: Receiver) -> None:
    started = time.perf_counter()
    summary = processor.ingest([line_down("MKE-L3")], source="test")
    assert time.perf_counter() - started < 10
    [plan] = summary.plans
    assert plan["line_id"] == "MKE-L3" and plan["start"] == "2026-03-02" and plan["days"] == 7
    assert plan["actions"] > 0 and plan["notifications"] > 0
    [alert] = summary.alerts
    assert alert["status"] == "sent"
    [post] = receiver.at("/line-down/data_steward")
    assert "Replan: MKE-L3 at capacity 0 from 2026-03-02 for 7 days" in post["message"]
    assert "people to tell" in post["message"] and "mke_plant_manager" in post["message"]
    [own] = receiver.at("/line-down/mke_plant_manager")  # Milwaukee's manager, told what they may read
    assert "Replan: MKE-L3" in own["message"] and "Revenue at risk" not in own["message"]
    again = processor.ingest([line_down("MKE-L3", "2026-03-02T07:00:00")], source="test")
    assert again.plans == [] and [a["status"] for a in again.alerts] == ["deduplicated"]
    twice = processor.ingest([line_down("MKE-L5"), line_down("MKE-L5")], source="test")
    assert len(twice.plans) == 1 and [a["status"] for a in twice.alerts] == ["sent", "deduplicated"]


def test_an_event_reaches_only_who_may_read_what_it_names(processor: EventProcessor, receiver: Receiver) -> None:
    # Bologna's line: the data steward reads every site; Milwaukee's manager may not read Bologna at all
    summary = processor.ingest([line_down("BLQ-L1")], source="test")
    assert [a["status"] for a in summary.alerts] == ["sent"] and len(summary.plans) == 1
    [steward] = [p for p in receiver.at("/line-down/data_steward") if "BLQ-L1" in p["title"]]
    assert "Replan: BLQ-L1" in steward["message"]
    assert "Revenue at risk ***" in steward["message"]  # the data team may not see money
    assert not any("BLQ" in p["title"] + p["message"] for p in receiver.at("/line-down/mke_plant_manager"))
    # a Bologna machine overheating: its only audience is Milwaukee's manager, so no one is told
    hot = processor.ingest([telemetry("BLQ-L2-M1", "2026-03-01T10:00:00", temperature=130.0)], source="test")
    assert [a["status"] for a in hot.alerts] == ["withheld"]
    assert not any("BLQ-L2-M1" in p["title"] for p in receiver.at("/overheating"))


def test_events_over_http(brain: Brain, receiver: Receiver) -> None:
    app = create_app(brain=brain)
    svc = app.state.service
    writer, _ = svc.tokens.create("data_steward", ["write:events"])
    reader, _ = svc.tokens.create("data_steward", ["read:metrics"])
    before = count_events(brain)
    posted = len(receiver.posts)
    with TestClient(app) as client:
        batch = [telemetry(f"WRO-L1-M{i}", f"2026-03-01T10:00:{i:02d}") for i in range(1, 6)]
        response = client.post("/api/v1/events", json=batch, headers={"Authorization": f"Bearer {writer}"})
        assert response.status_code == 200, response.text
        assert response.json()["logged"] == 5
        one = client.post(
            "/api/v1/events",
            json=telemetry("MKE-L1-M2", "2026-03-01T10:00:00", temperature=101.0),
            headers={"Authorization": f"Bearer {writer}"},
        )
        # the alert went to its audience; the caller, who may only write events, learns only that it fired
        assert one.status_code == 200 and one.json()["alerts"] == 1
        assert len(receiver.posts) > posted
        denied = client.post("/api/v1/events", json=batch, headers={"Authorization": f"Bearer {reader}"})
        assert denied.status_code == 403 and "write:events" in denied.json()["detail"]
        anonymous = client.post("/api/v1/events", json=batch)
        assert anonymous.status_code == 401
    assert count_events(brain) == before + 6
    source = exp.column("source").eq(exp.Literal.string("http:data_steward"))
    assert count_events(brain, source) == 6
    assert ingest_events(brain, [{"type": "heartbeat"}])["logged"] == 1


def test_cli_ingest_list_ack_log(brain: Brain, tmp_path: Any) -> None:
    import typer
    from typer.testing import CliRunner

    from companybrain.cli import alerts_cmds

    class State:
        project = str(brain.project.root)
        debug = False

    app = typer.Typer()
    alerts_cmds.register(app, State())
    events = tmp_path / "events.jsonl"
    hot = telemetry("MKE-L6-M1", "2026-03-01T10:00:00", temperature=120.0)
    events.write_text("\n".join(json.dumps(e) for e in [hot, telemetry("MKE-L6-M2", "2026-03-01T10:00:00")]))
    brain.close()  # the CLI opens the project's warehouse itself
    runner = CliRunner()
    ingested = runner.invoke(app, ["events", "ingest", str(events), "--format", "json"])
    assert ingested.exit_code == 0, ingested.output
    summary = json.loads(ingested.output)
    assert summary["logged"] == 2 and [a["status"] for a in summary["alerts"]] == ["sent"]
    alert_id = summary["alerts"][0]["alert_id"]
    listed = runner.invoke(app, ["alerts", "list", "--status", "open", "--format", "json", "-n", "500"])
    assert listed.exit_code == 0 and alert_id in {row["alert_id"] for row in json.loads(listed.output)}
    acked = runner.invoke(app, ["alerts", "ack", alert_id, "--as", "mke_plant_manager"])
    assert acked.exit_code == 0 and f"Acknowledged {alert_id}" in acked.output
    logged = runner.invoke(app, ["alerts", "log", "--alert", alert_id, "--format", "json"])
    assert [(r["status"], r["stage"]) for r in json.loads(logged.output)] == [("sent", "alert")]
    checked = runner.invoke(app, ["alerts", "check", "--format", "json"])
    assert checked.exit_code == 0 and json.loads(checked.output)["fired"] == []  # event rules only


def test_the_demo_rules_are_valid_for_the_demo_policies(brain: Brain) -> None:
    from companybrain.delivery.alerts import AlertEngine
    from companybrain.demo.project_files import TEMPLATE_DIR
    from companybrain.specs import yaml_loader
    from companybrain.specs.alerts import AlertsFile

    rules = {}
    for path in sorted((TEMPLATE_DIR / "alerts").glob("*.yaml")):
        rules.update(yaml_loader.load(AlertsFile, path, path.name).alerts)
    assert {"line_down", "machine_overheating"} <= set(rules)
    saved, brain.project.alerts = brain.project.alerts, rules
    try:
        engine = AlertEngine(brain)  # audiences and as_user name the demo's roles and users; channels fit them
        assert engine.rules["line_down"].as_user == "cfo"  # who the plan is computed as
        assert engine.users_of("line_down") == ["data_steward", "mke_plant_manager"]
        assert engine.users_of("line_down", "escalation") == ["ceo"]
        engine.close()
    finally:
        brain.project.alerts = saved


def _mosquitto_up() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 1883), timeout=1):
            return True
    except OSError:
        return False


@pytest.mark.slow
@pytest.mark.services
def test_events_over_mqtt_end_to_end(brain: Brain, processor: EventProcessor, receiver: Receiver) -> None:
    if not _mosquitto_up():
        pytest.fail("Mosquitto is not running on 127.0.0.1:1883: start it (`mosquitto -p 1883`) or deselect services")
    import paho.mqtt.client as mqtt

    topic = f"acme/test/{time.time_ns()}"
    n = 2000
    batch = [telemetry(f"SZX-L1-M{i % 7 + 1}", f"2026-03-01T10:{i // 60 % 60:02d}:{i % 60:02d}") for i in range(n - 1)]
    batch.insert(n // 2, line_down("MKE-L4"))
    ready = threading.Event()
    result: dict[str, Any] = {}
    listener = threading.Thread(
        target=lambda: result.update(
            # the time cap only stops a hung listener; it must never end the run before all n arrive
            listen_mqtt(processor, "mqtt://127.0.0.1:1883", topic, limit=n, seconds=240, ready=ready)
        )
    )
    before = count_events(brain, exp.column("source").eq(exp.Literal.string("mqtt")))
    listener.start()
    assert ready.wait(10), "the listener did not subscribe"
    publisher = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"test-pub-{time.time_ns()}")
    publisher.connect("127.0.0.1", 1883)
    publisher.loop_start()
    # at 1,000 events/s (twice the sustained rate the service promises): a burst of all 2,000 at once
    # overflows Mosquitto's default queue for one QoS 1 subscriber (max_queued_messages 1000, 20 in
    # flight), and the broker drops the rest ("Outgoing messages are being dropped" in its log)
    infos = []
    for start in range(0, len(batch), 100):
        infos += [publisher.publish(topic, json.dumps(event), qos=1) for event in batch[start : start + 100]]
        time.sleep(0.1)
    for info in infos:
        info.wait_for_publish(timeout=30)
    publisher.disconnect()
    publisher.loop_stop()
    listener.join(timeout=260)
    assert not listener.is_alive()
    assert result["received"] == result["logged"] == n
    assert count_events(brain, exp.column("source").eq(exp.Literal.string("mqtt"))) == before + n
    assert [p["line_id"] for p in result["plans"]] == ["MKE-L4"]
    assert any("Replan: MKE-L4" in post["message"] for post in receiver.at("/line-down/mke_plant_manager"))

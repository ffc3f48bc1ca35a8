"""brain demo stream: telemetry and line_down events to an HTTP receiver and to Mosquitto."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from companybrain.demo.generate import generate_demo
from companybrain.demo.stream import stream_events
from companybrain.errors import BrainError, ConnectorError


@pytest.fixture(scope="module")
def acme(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return generate_demo(tmp_path_factory.mktemp("stream") / "acme", scale="small", seed=7).out


class Receiver:
    """A local HTTP endpoint that keeps every JSON body it is sent."""

    def __init__(self, status: int = 204) -> None:
        self.events: list[dict] = []
        received = self.events

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if status < 300:
                    received.append(json.loads(body))
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/events"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


def test_http_newest_first(acme: Path, receiver: Receiver) -> None:
    summary = stream_events(acme, target=receiver.url, rate=0, limit=300)
    assert summary.sent == 300 == len(receiver.events)
    assert summary.telemetry + summary.line_down == 300
    first = receiver.events[0]
    assert first["type"] == "telemetry" and first["ts"].startswith("2026-02-28T23")
    assert {"machine_id", "line_id", "site_id", "temperature", "vibration", "pressure", "power_kw"} <= set(first)
    stamps = [e["ts"] for e in receiver.events]
    assert stamps == sorted(stamps, reverse=True)


def test_http_from_a_start_time_runs_forward(acme: Path, receiver: Receiver) -> None:
    stream_events(acme, target=receiver.url, rate=0, limit=200, start="2025-10-01 06:00")
    stamps = [e["ts"] for e in receiver.events]
    assert stamps[0] == "2025-10-01T06:00:00" and stamps == sorted(stamps)


def test_line_down_events_come_from_downtime(acme: Path, receiver: Receiver) -> None:
    summary = stream_events(acme, target=receiver.url, rate=0, limit=3000)
    down = [e for e in receiver.events if e["type"] == "line_down"]
    assert summary.line_down == len(down) > 0
    event = down[0]
    assert {"site_id", "line_id", "machine_id", "ts", "reason"} <= set(event)
    assert event["reason"] in {"failure", "planned", "changeover"}
    assert event["line_id"].startswith(event["site_id"] + "-")


def test_rate_limits_the_stream(acme: Path, receiver: Receiver) -> None:
    started = time.perf_counter()
    stream_events(acme, target=receiver.url, rate=100, limit=50)
    assert time.perf_counter() - started >= 0.45


def test_progress_reports(acme: Path, receiver: Receiver) -> None:
    seen: list[tuple[str, int, int]] = []
    stream_events(acme, target=receiver.url, rate=0, limit=250, progress=lambda *a: seen.append(a))
    assert seen[-1] == ("stream", 250, 250)


def test_bad_target_and_failing_receiver(acme: Path) -> None:
    with pytest.raises(BrainError, match="mqtt://"):
        stream_events(acme, target="ftp://example.invalid", rate=0, limit=1)
    failing = Receiver(status=500)
    try:
        with pytest.raises(ConnectorError, match="cannot POST"):
            stream_events(acme, target=failing.url, rate=0, limit=5)
    finally:
        failing.close()


def test_no_telemetry_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(BrainError, match="no telemetry"):
        stream_events(tmp_path, target="http://127.0.0.1:9/", rate=0, limit=1)


@pytest.mark.services
def test_mqtt_delivers_every_event(acme: Path) -> None:
    import paho.mqtt.client as mqtt

    topic = f"acme/test/{uuid.uuid4().hex[:8]}"
    received: list[dict] = []
    subscribed = threading.Event()
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
    client.on_message = lambda _c, _u, message: received.append(json.loads(message.payload))
    client.on_subscribe = lambda *_args: subscribed.set()
    client.connect("127.0.0.1", 1883)
    client.subscribe(topic, qos=1)
    client.loop_start()
    try:
        assert subscribed.wait(5)
        summary = stream_events(acme, target="mqtt://127.0.0.1:1883", rate=0, limit=500, topic=topic)
        deadline = time.monotonic() + 10
        while len(received) < 500 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        client.disconnect()
        client.loop_stop()
    assert summary.sent == 500
    assert len(received) == 500
    assert received[0]["type"] == "telemetry"


@pytest.mark.services
def test_mqtt_unreachable_broker(acme: Path) -> None:
    with pytest.raises(ConnectorError, match="MQTT"):
        stream_events(acme, target="mqtt://127.0.0.1:1", rate=0, limit=1)

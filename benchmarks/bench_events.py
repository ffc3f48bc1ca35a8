"""Real-time events targets (delivery/events.py, delivery/alerts.py), over the real Mosquitto:

- event -> alert delivered on a local webhook: p99 < 1 s at 500 events/s sustained for 60 s
  (every 10th telemetry event is over the temperature limit and fires an alert);
- no event lost: events published = events logged in brain.events;
- a line_down event -> replan and notification delivered in < 10 s on the medium demo.

The project (default: the medium demo, generated, ingested and built into --project if missing)
gets two bench rules and 127.0.0.1 on its egress allow-list. Needs Mosquitto on 127.0.0.1:1883.
Usage: python benchmarks/bench_events.py [--project DIR] [--scale medium] [--seconds 60] [--rate 500]
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np
import paho.mqtt.client as mqtt
from sqlglot import exp

from companybrain.brain import Brain
from companybrain.delivery.events import EVENTS, EventProcessor, listen_mqtt

BROKER = "mqtt://127.0.0.1:1883"
RULES = """alerts:
  bench_hot:
    type: event
    event: telemetry
    above: {{temperature: 100}}
    key: [seq]
    dedup_minutes: 0
    max_per_hour: 100000000
    attempts: 1
    audience: {{users: [data_steward]}}   # machines the benchmark makes up: only who reads every machine
    channels: ["json://127.0.0.1:{port}/hot"]
  bench_line_down:
    type: event
    event: line_down
    key: [line_id]
    dedup_minutes: 0
    as_user: cfo
    replan: {{days: 7}}
    audience: {{roles: [plant_manager], users: [data_steward]}}
    channels: ["json://127.0.0.1:{port}/line-down/{{user}}"]   # each recipient's own plan
"""
SENT_AT = re.compile(r'"sent_at": ([0-9.]+)')


class Receiver(ThreadingHTTPServer):
    """The webhook: the latency of each alert is its arrival minus the `sent_at` of its event."""

    def __init__(self) -> None:
        self.latencies: dict[str, list[float]] = {"/hot": [], "/line-down": []}
        self.messages: list[str] = []
        super().__init__(("127.0.0.1", 0), _Handler)
        threading.Thread(target=self.serve_forever, daemon=True).start()


class _Handler(BaseHTTPRequestHandler):
    server: Receiver

    def do_POST(self) -> None:
        arrived = time.time()
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        found = SENT_AT.search(body["message"])
        if found:
            path = "/line-down" if self.path.startswith("/line-down/") else self.path
            self.server.latencies.setdefault(path, []).append(arrived - float(found.group(1)))
        self.server.messages.append(body["message"])
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


def prepare(root: Path, scale: str, port: int) -> Brain:
    if not (root / "brain.yaml").is_file():
        from companybrain.demo.generate import generate_demo

        print(f"generating the {scale} demo into {root} ...", flush=True)
        generate_demo(root, scale=scale, seed=7)
    shutil.rmtree(root / "alerts", ignore_errors=True)
    (root / "alerts").mkdir()
    (root / "alerts" / "bench.yaml").write_text(RULES.format(port=port), encoding="utf-8")
    text = (root / "brain.yaml").read_text(encoding="utf-8")
    (root / "brain.yaml").write_text(text.replace("egress: {allow: []}", "egress: {allow: [127.0.0.1]}"))
    brain = Brain.open(root)
    if brain.data_version() is None:
        started = time.perf_counter()
        brain.ingest()
        brain.build()
        print(f"ingested and built in {time.perf_counter() - started:.0f} s", flush=True)
    return brain


def publish(topic: str, events: list[dict[str, Any]], rate: float, ready: threading.Event) -> None:
    """Publish at `rate` events/s (QoS 1), stamping each with the time it was sent."""
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"bench-pub-{time.time_ns()}")
    client.max_queued_messages_set(0)
    client.connect("127.0.0.1", 1883)
    client.loop_start()
    ready.wait(10)
    began = time.perf_counter()
    infos = []
    for n, event in enumerate(events):
        wait = began + n / rate - time.perf_counter()
        if wait > 0:
            time.sleep(wait)
        infos.append(client.publish(topic, json.dumps({**event, "sent_at": time.time()}), qos=1))
    for info in infos:
        info.wait_for_publish(timeout=60)
    client.disconnect()
    client.loop_stop()


def run(processor: EventProcessor, events: list[dict[str, Any]], rate: float) -> tuple[dict[str, Any], float]:
    topic = f"acme/bench/{time.time_ns()}"
    ready = threading.Event()
    sender = threading.Thread(target=publish, args=(topic, events, rate, ready))
    sender.start()
    started = time.perf_counter()
    result = listen_mqtt(processor, BROKER, topic, limit=len(events), seconds=len(events) / rate + 60, ready=ready)
    seconds = time.perf_counter() - started
    sender.join()
    return result, seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--project", type=Path, default=Path("/tmp/bench-events-medium"))
    parser.add_argument("--scale", default="medium")
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--rate", type=float, default=500.0)
    args = parser.parse_args()
    receiver = Receiver()
    brain = prepare(args.project, args.scale, int(receiver.server_address[1]))
    processor = EventProcessor(brain)
    logged_before = int(brain.warehouse.scalar(exp.select(exp.func("count", exp.Star())).from_(EVENTS)) or 0)

    total = int(args.rate * args.seconds)
    events = [
        {
            "type": "telemetry",
            "seq": n,
            "machine_id": f"MKE-L{n % 6 + 1}-M{n % 5 + 1}",
            "line_id": f"MKE-L{n % 6 + 1}",
            "site_id": "MKE",
            "ts": f"2026-03-01T{n // 3600 % 24:02d}:{n // 60 % 60:02d}:{n % 60:02d}",
            "temperature": 105.0 if n % 10 == 0 else 60.0 + n % 30,
            "vibration": 1.5,
            "pressure": 120.0,
            "power_kw": 40.0,
        }
        for n in range(total)
    ]
    result, seconds = run(processor, events, args.rate)
    time.sleep(0.5)  # the last deliveries' responses
    logged = int(brain.warehouse.scalar(exp.select(exp.func("count", exp.Star())).from_(EVENTS)) or 0) - logged_before
    hot = np.array(receiver.latencies["/hot"])
    expected = sum(1 for e in events if e["temperature"] > 100)
    p50, p99, worst = (float(np.percentile(hot, q)) for q in (50, 99, 100)) if len(hot) else (float("nan"),) * 3
    print(f"events: {total} published at {args.rate:.0f}/s over {args.seconds:.0f} s, {seconds:.1f} s to drain")
    print(f"  throughput  {total / seconds:,.0f} events/s                   (target >= {args.rate:.0f} sustained)")
    print(f"  lost        published {total}, received {result['received']}, logged {logged}  (target: all logged)")
    print(f"  alerts      {len(hot)} delivered of {expected} expected")
    print(
        f"  event -> alert delivered: p50 {p50 * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms, max {worst * 1000:.0f} ms "
        f"(target p99 < 1000 ms) {'MET' if p99 < 1 and logged == total and len(hot) == expected else 'MISSED'}"
    )

    down = [
        {"type": "line_down", "site_id": "MKE", "line_id": "MKE-L3", "ts": "2026-03-02T06:00:00", "reason": "bench"}
    ]
    result, _ = run(processor, down, 1.0)
    time.sleep(0.2)
    told = receiver.latencies["/line-down"]
    latency = max(told) if told else float("nan")  # until the last recipient has their own plan
    plan = result["plans"][0] if result["plans"] else {}
    replan = plan.get("seconds", float("nan"))
    print(
        f"line_down -> plan and notifications delivered to {len(told)} recipients: {latency:.2f} s (target < 10 s) "
        f"{'MET' if latency < 10 else 'MISSED'}\n  of which Brain.replan {replan:.2f} s ({plan.get('actions', 0)} "
        f"actions, {plan.get('notifications', 0)} people to tell), event path and delivery {latency - replan:.2f} s"
    )
    processor.close()
    brain.close()
    receiver.shutdown()


if __name__ == "__main__":
    main()

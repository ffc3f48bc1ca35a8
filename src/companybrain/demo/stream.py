"""stream_events: replay the demo's machine telemetry as live events to MQTT or an HTTP endpoint.

Sensor readings become `{"type": "telemetry", ...}` events; the start of every downtime event
in the replayed range becomes a `{"type": "line_down", ...}` event. Both go to one MQTT topic
(QoS 1) or are POSTed as JSON, at a fixed rate.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol
from urllib.parse import unquote, urlparse

import numpy as np
import pyarrow as pa

from companybrain.demo.writers import redact
from companybrain.errors import BrainError, ConnectorError, MissingDependency

Progress = Callable[[str, int, int], None]


@dataclass
class StreamSummary:
    """What stream_events sent."""

    target: str
    sent: int = 0
    telemetry: int = 0
    line_down: int = 0
    seconds: float = 0.0


class Sink(Protocol):
    def send(self, event: dict) -> None: ...

    def close(self) -> None: ...


def stream_events(
    project_dir: Path,
    *,
    target: str,
    rate: float,
    limit: int | None,
    topic: str = "acme/telemetry",
    start: str | None = None,
    progress: Progress | None = None,
) -> StreamSummary:
    """Send up to `limit` events at `rate` per second (0 = as fast as possible) to `target`.

    Without `start` the newest readings go first (walking back in time); with `start`
    (e.g. "2026-02-01 00:00") the replay runs forward in time from there.
    """
    if rate < 0:
        raise BrainError(f"rate must be 0 (as fast as possible) or positive, got rate={rate}")
    readings, downtime = _telemetry_files(Path(project_dir))
    sink = _open_sink(target, topic)
    summary = StreamSummary(target=redact(target))
    began = time.perf_counter()
    total = limit or 0
    try:
        for event in _events(readings, downtime, start):
            if limit is not None and summary.sent >= limit:
                break
            if rate > 0:
                wait = began + summary.sent / rate - time.perf_counter()
                if wait > 0:
                    time.sleep(wait)
            sink.send(event)
            summary.sent += 1
            if event["type"] == "telemetry":
                summary.telemetry += 1
            else:
                summary.line_down += 1
            if progress is not None and (summary.sent % 100 == 0 or summary.sent == limit):
                progress("stream", summary.sent, total)
    finally:
        sink.close()
    summary.seconds = time.perf_counter() - began
    return summary


def _telemetry_files(project_dir: Path) -> tuple[list[Path], Path | None]:
    """The sensor_readings Parquet files (newest month last) and the downtime events file."""
    folder = project_dir / "sources" / "telemetry"
    if (project_dir / "brain.yaml").is_file():
        from companybrain.project import Project

        project = Project.load(project_dir)
        for source in project.spec.sources:
            if source.name == "telemetry" and source.type == "files":
                folder = project.resolve_path(source.path)
    readings = sorted(folder.glob("sensor_readings_*.parquet"))
    if not readings:
        raise BrainError(
            f"no telemetry to stream: no sensor_readings_*.parquet in {folder}",
            hint="generate the demo first: `brain demo generate --out DIR`",
        )
    downtime = folder / "downtime_events.parquet"
    return readings, downtime if downtime.is_file() else None


def _events(readings: list[Path], downtime: Path | None, start: str | None) -> Iterator[dict]:
    """Telemetry and line_down events merged in replay order (month file by month file)."""
    import pyarrow.parquet as pq

    forward = start is not None
    start_ts = np.datetime64(start.replace(" ", "T"), "s") if start else None
    down = pq.read_table(downtime) if downtime else None
    files = readings if forward else list(reversed(readings))
    for path in files:
        table = pq.read_table(path)
        ts = table.column("ts").to_numpy().astype("datetime64[s]")
        if start_ts is not None:
            if ts.max() < start_ts:
                continue
            table, ts = table.filter(pa.array(ts >= start_ts)), ts[ts >= start_ts]
        order = np.argsort(ts, kind="stable") if forward else np.argsort(-ts.astype(np.int64), kind="stable")
        table, ts = table.take(order), ts[order]
        events = _line_down_events(down, ts.min(), ts.max()) if down is not None else []
        if not forward:
            events.reverse()
        yield from _merge(table, ts, events, forward)


def _merge(table: pa.Table, ts: np.ndarray, line_down: list[dict], forward: bool) -> Iterator[dict]:
    columns = {name: table.column(name).to_pylist() for name in table.column_names if name != "ts"}
    stamps = np.datetime_as_string(ts, unit="s")
    k = 0
    for i in range(len(ts)):
        while k < len(line_down) and (
            (line_down[k]["ts"] <= stamps[i]) if forward else (line_down[k]["ts"] >= stamps[i])
        ):
            yield line_down[k]
            k += 1
        machine = columns["machine_id"][i]
        line = machine.rsplit("-M", 1)[0]
        yield {
            "type": "telemetry",
            "machine_id": machine,
            "line_id": line,
            "site_id": line.split("-")[0],
            "ts": str(stamps[i]),
            **{n: columns[n][i] for n in columns if n != "machine_id"},
        }
    yield from line_down[k:]


def _line_down_events(down: pa.Table, first: np.datetime64, last: np.datetime64) -> list[dict]:
    """A line_down event for each downtime event that starts within [first, last], oldest first."""
    started = down.column("started_at").to_numpy().astype("datetime64[s]")
    ended = down.column("ended_at").to_numpy().astype("datetime64[s]")
    keep = np.flatnonzero((started >= first) & (started <= last))
    keep = keep[np.argsort(started[keep], kind="stable")]
    rows = down.take(pa.array(keep)).to_pylist()
    return [
        {
            "type": "line_down",
            "site_id": r["site_id"],
            "line_id": r["line_id"],
            "machine_id": r["machine_id"],
            "ts": str(np.datetime_as_string(started[i], unit="s")),
            "reason": r["cause"],
            "description": r["description"],
            "expected_duration_hours": round(float((ended[i] - started[i]).astype(int)) / 3600, 2),
        }
        for i, r in zip(keep, rows, strict=True)
    ]


def _open_sink(target: str, topic: str) -> Sink:
    parsed = urlparse(target)
    if parsed.scheme == "mqtt":
        return MqttSink(target, topic)
    if parsed.scheme in ("http", "https"):
        return HttpSink(target)
    raise BrainError(
        f"unknown stream target {redact(target)!r}",
        hint="use mqtt://host:port (e.g. mqtt://127.0.0.1:1883) or an http(s):// URL",
    )


class MqttSink:
    """Publishes each event as JSON with QoS 1; the URL path, if any, overrides the topic."""

    def __init__(self, url: str, topic: str) -> None:
        try:
            import paho.mqtt.client as mqtt
        except ImportError:
            raise MissingDependency("paho-mqtt", "stream", "streaming to MQTT") from None
        parsed = urlparse(url)
        self.topic = unquote(parsed.path.lstrip("/")) or topic
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"companybrain-demo-{time.time_ns()}")
        if parsed.username:
            self.client.username_pw_set(unquote(parsed.username), unquote(parsed.password or ""))
        self.client.max_queued_messages_set(10_000)
        try:
            self.client.connect(parsed.hostname or "127.0.0.1", parsed.port or 1883)
        except OSError as exc:
            raise ConnectorError(
                f"cannot connect to MQTT broker at {redact(url)}: {exc}",
                hint="check the broker is running, e.g. `mosquitto -p 1883`",
            ) from None
        self.client.loop_start()
        self.pending: list = []

    def send(self, event: dict) -> None:
        info = self.client.publish(self.topic, json.dumps(event), qos=1)
        self.pending.append(info)
        if len(self.pending) >= 1000:  # bound memory and in-flight messages
            self._drain()

    def _drain(self) -> None:
        for info in self.pending:
            info.wait_for_publish(timeout=30)
            if not info.is_published():
                raise ConnectorError(f"MQTT broker did not acknowledge a message on {self.topic!r} within 30 s")
        self.pending.clear()

    def close(self) -> None:
        try:
            self._drain()
        finally:
            self.client.disconnect()
            self.client.loop_stop()


class HttpSink:
    """POSTs each event as a JSON body."""

    def __init__(self, url: str) -> None:
        self.url = url

    def send(self, event: dict) -> None:
        import urllib.error
        import urllib.request

        request = urllib.request.Request(
            self.url,
            data=json.dumps(event).encode(),
            method="POST",
            headers={"Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                response.read()
        except (urllib.error.URLError, OSError) as exc:
            raise ConnectorError(
                f"cannot POST events to {redact(self.url)}: {exc}",
                hint="check the receiver is running and accepts POST with a JSON body",
            ) from None

    def close(self) -> None:
        pass

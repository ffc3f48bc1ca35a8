"""Real-time events (HTTP or MQTT): every event is appended to `brain.events`; telemetry updates the
machines' latest state; event rules fire alerts, and a `line_down` rule replans the line's work
and tells its audience the plan. Batches are written with one insert per table.

An event's alert reaches only the recipients who may read every object it names (its fields named
like a type's key: site_id, line_id, machine_id, ...); a replan is computed once as the rule's
`as_user`, and each recipient is told what they may read of it (decisions/notify.py)."""

from __future__ import annotations

import json
import logging
import queue
import secrets
import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlparse

import pyarrow as pa
from sqlglot import exp

from companybrain.delivery.alerts import AlertEngine, AlertRequest, Clock, Message, utc_now
from companybrain.delivery.recipients import Visibility
from companybrain.errors import BrainError, ConnectorError, MissingDependency
from companybrain.ontology.model import FACTORY_SCHEMA, prediction_table
from companybrain.sources.load_log import META
from companybrain.specs.alerts import EventRule
from companybrain.warehouse.ddl import col, create_table, literal, table

if TYPE_CHECKING:
    from companybrain.brain import Brain
    from companybrain.decisions.replan import Plan

log = logging.getLogger("companybrain.events")

EVENTS = table(META, "events")
MACHINE_STATE = table(META, "machine_state")
EVENT_COLUMNS = ("event_id", "received_at", "source", "type", "site_id", "line_id", "machine_id", "ts", "payload")
ESCALATE_EVERY_SECONDS = 30.0
READINGS = ("temperature", "vibration", "pressure", "power_kw")
STATE_COLUMNS = {"machine_id": "string", "ts": "string", **dict.fromkeys(READINGS, "float"), "updated_at": "string"}
STATE_SCHEMA = pa.schema([(c, pa.float64() if k == "float" else pa.string()) for c, k in STATE_COLUMNS.items()])


@dataclass
class EventSummary:
    """What one batch of events did."""

    received: int = 0
    logged: int = 0
    types: dict[str, int] = field(default_factory=dict)
    machines_updated: int = 0
    rescored: dict[str, int] = field(default_factory=dict)  # use case -> entities scored again from the events
    alerts: list[dict[str, Any]] = field(default_factory=list)
    plans: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "seconds": round(self.seconds, 4)}


class EventProcessor:
    """Logs events, keeps machine state and runs the project's event rules, over one Brain."""

    def __init__(self, brain: Brain, engine: AlertEngine | None = None, clock: Clock = utc_now) -> None:
        self.brain = brain
        self.clock = clock
        self.engine = engine or AlertEngine(brain, clock=clock)
        wh = brain.warehouse
        wh.ensure_schema(META)
        wh.execute(create_table(EVENTS, dict.fromkeys(EVENT_COLUMNS, "string")))
        wh.execute(create_table(MACHINE_STATE, STATE_COLUMNS))
        self.rules = {n: r for n, r in self.engine.rules.items() if isinstance(r, EventRule)}
        # use cases scored from events: those with `live:` that have scores to update; the first
        # re-scoring waits `every_seconds` like the next ones, so starting a listener costs nothing
        scored = set(wh.list_tables(FACTORY_SCHEMA))
        self.live = {
            n: uc
            for n, uc in brain.project.usecases.items()
            if uc.live is not None and prediction_table(n).name in scored
        }
        self._live_pending: dict[str, list[dict[str, Any]]] = {n: [] for n in self.live}
        self._live_last: dict[str, float] = dict.fromkeys(self.live, time.monotonic())
        self._planned: set[tuple[str, str]] = set()  # (rule, key) replanned in the current batch
        self._visible = Visibility(brain)

    def ingest(self, events: list[dict[str, Any]], source: str = "http") -> EventSummary:
        """Log every event (one row each), then update machine state and run the event rules."""
        started = time.perf_counter()
        summary = EventSummary(received=len(events))
        now = self.clock().astimezone(UTC).isoformat(timespec="microseconds")
        rows: dict[str, list[Any]] = {c: [] for c in EVENT_COLUMNS}
        for event in events:
            kind = str(event.get("type") or "unknown")
            summary.types[kind] = summary.types.get(kind, 0) + 1
            for name, value in (
                ("event_id", str(event.get("id") or "ev_" + secrets.token_hex(8))),
                ("received_at", now),
                ("source", source),
                ("type", kind),
                ("site_id", _text(event.get("site_id"))),
                ("line_id", _text(event.get("line_id"))),
                ("machine_id", _text(event.get("machine_id"))),
                ("ts", _text(event.get("ts"))),
                ("payload", json.dumps(event, default=str)),
            ):
                rows[name].append(value)
        if events:
            self.brain.warehouse.write_arrow(EVENTS, pa.table(rows, schema=_string_schema()), create=False)
        summary.logged = len(events)
        summary.machines_updated = self._machine_state([e for e in events if e.get("type") == "telemetry"], now)
        summary.rescored = self._rescore(events)
        self._planned.clear()
        self._visible = Visibility(brain=self.brain)  # what each reader may read, asked once per batch
        requests = [
            self._alert(name, rule, event, summary)
            for event in events
            for name, rule in self.rules.items()
            if _matches(rule, event)
        ]
        summary.alerts = [fired.as_dict() for fired in self.engine.fire_many(requests)]
        summary.seconds = time.perf_counter() - started
        return summary

    def _machine_state(self, readings: list[dict[str, Any]], now: str) -> int:
        """Keep the newest reading per machine (a replay may run backwards in time)."""
        latest: dict[str, dict[str, Any]] = {}
        for r in readings:
            machine = r.get("machine_id")
            if machine and str(r.get("ts", "")) >= str(latest.get(str(machine), {}).get("ts", "")):
                latest[str(machine)] = r
        if not latest:
            return 0
        wh = self.brain.warehouse
        in_batch = col("machine_id").isin(*[literal(m) for m in latest])
        known = wh.query_arrow(exp.select(col("machine_id"), col("ts")).from_(MACHINE_STATE).where(in_batch))
        for row in known.to_pylist():
            if row["machine_id"] in latest and (row["ts"] or "") > str(latest[row["machine_id"]].get("ts", "")):
                del latest[row["machine_id"]]
        if not latest:
            return 0
        data = {
            "machine_id": list(latest),
            "ts": [_text(r.get("ts")) for r in latest.values()],
            **{k: [_number(r.get(k)) for r in latest.values()] for k in READINGS},
            "updated_at": [now] * len(latest),
        }
        with wh.transaction():
            wh.execute(exp.delete(MACHINE_STATE, where=col("machine_id").isin(*[literal(m) for m in latest])))
            wh.write_arrow(MACHINE_STATE, pa.table(data, schema=STATE_SCHEMA), create=False)
        return len(latest)

    def _rescore(self, events: list[dict[str, Any]]) -> dict[str, int]:
        """Score again the entities these events name, for use cases with `live:`, at most every
        `every_seconds` per use case (events wait until then). A failure is logged, never raised."""
        from companybrain.factory import live

        done: dict[str, int] = {}
        for name, uc in self.live.items():
            assert uc.live is not None
            pending = self._live_pending[name]
            pending.extend(e for e in events if e.get("type") == uc.live.event)
            now = time.monotonic()
            if not pending or now - self._live_last[name] < uc.live.every_seconds:
                continue
            self._live_last[name] = now
            self._live_pending[name] = []
            try:
                done[name] = live.rescore(self.brain, uc, pending)["rescored"]
            except BrainError as exc:
                log.warning("scores of use case %s not updated from events: %s", name, exc.message)
            except Exception:  # a scoring failure must never lose the batch's events or its alerts
                log.exception("scores of use case %s not updated from events", name)
        return done

    def _alert(self, name: str, rule: EventRule, event: dict[str, Any], summary: EventSummary) -> AlertRequest:
        """The alert an event raises, each recipient's message computed as them; with `replan`, the plan
        first (unless the alert would be suppressed, or no one may read the event)."""
        key = "/".join(str(event.get(k)) for k in rule.key) or "all"
        title = f"{name}: {event.get('type')} " + " ".join(
            f"{k}={event[k]}" for k in ("site_id", "line_id", "machine_id", "reason") if event.get(k) is not None
        )
        readers = [u for u in self.engine.recipients_of(name) if self._visible.sees_event(u, event)]
        head = [rule.description, f"event: {json.dumps(event, default=str)}"]
        plan_for: dict[str, str] = {}
        # a suppressed alert would tell no one the plan; nor would a second one for the same key in this batch
        planned = (name, key) in self._planned or self.engine.suppressed(name, key) is not None
        if rule.replan is not None and readers and not planned:
            self._planned.add((name, key))
            plan_for = self._replan(name, rule, event, readers, summary)
        messages = {u: Message(title, "\n".join(b for b in [*head, plan_for.get(u, "")] if b)) for u in readers}
        return AlertRequest(name, key, messages)

    def _replan(
        self, name: str, rule: EventRule, event: dict[str, Any], readers: list[str], summary: EventSummary
    ) -> dict[str, str]:
        """Replan with the event's line down from its day, as the rule's `as_user`; what each reader
        may read of the plan, in words."""
        from companybrain.decisions.network import Disruption

        assert rule.replan is not None
        try:
            start = date.fromisoformat(str(event.get("ts", ""))[:10])
            disruption = Disruption(
                site=str(event.get("site_id")),
                line=event.get("line_id"),
                capacity=0.0,
                start=start,
                days=rule.replan.days,
            )
            started = time.perf_counter()
            plan = self.brain.replan(disruption, rule.as_user)
            wall = time.perf_counter() - started
        except (BrainError, ValueError) as exc:
            log.warning("replan for %s failed: %s", name, exc)
            return dict.fromkeys(readers, "The replan failed: it could not be computed (see the service log).")
        summary.plans.append(
            {
                "rule": name,
                "line_id": event.get("line_id"),
                "start": start.isoformat(),
                "days": rule.replan.days,
                "kpis": plan.kpis["plan"],
                "actions": len(plan.actions),
                "notifications": len(plan.notifications),
                "seconds": round(wall, 3),  # reading the network as the rule's user, solving, drafting messages
            }
        )
        header = f"Replan: {event.get('line_id')} at capacity 0 from {start} for {rule.replan.days} days."
        return {u: plan_text(self.brain, plan, u, header) for u in readers}

    def close(self) -> None:
        self.engine.close()


def plan_text(brain: Brain, plan: Plan, reader: str, header: str) -> str:
    """A replan as `reader` may read it: the network's totals only if they read the whole network the
    plan was computed from (amounts only if they may see money), the actions on what they may read,
    and who must be told what among those."""
    from companybrain.decisions.notify import MASK, plan_for_reader

    view = plan_for_reader(brain, plan, reader)
    lines = [header]
    if view.kpis is not None:
        k = view.kpis["plan"]
        gap = f"{view.gap:.2%}" if view.gap is not None else MASK
        lines.append(
            f"Revenue at risk {_amount(k.get('revenue_at_risk'))}, late orders {k.get('late_orders_total')}, "
            f"moved items {k.get('moved_items')}, extra freight {_amount(k.get('extra_freight'))}, gap {gap}."
        )
    else:
        kinds = [a["action"] for a in view.actions]
        lines.append(
            "The network's totals are for readers of every site's orders; of what you may read: "
            + ", ".join(f"{kinds.count(k)} {k}" for k in ("move", "delay", "prioritise", "expedite"))
            + "."
        )
    lines += [f"- {a['text']}" for a in view.actions[:8]]
    lines.append(
        f"{len(view.notifications)} people to tell: "
        + "; ".join(f"{n['role']} about {n['about']}" for n in view.notifications[:8])
    )
    return "\n".join(lines)


def _amount(value: Any) -> str:
    return f"{value:,.0f}" if isinstance(value, int | float) else str(value)


_processors: weakref.WeakKeyDictionary[Brain, EventProcessor] = weakref.WeakKeyDictionary()


def ingest_events(brain: Brain, events: list[dict[str, Any]], source: str = "http") -> dict[str, Any]:
    """Log and act on a batch of events (one processor per Brain); returns the summary."""
    processor = _processors.get(brain)
    if processor is None:
        processor = _processors[brain] = EventProcessor(brain)
    return processor.ingest(events, source).as_dict()


def listen_mqtt(
    processor: EventProcessor,
    url: str,
    topic: str,
    *,
    limit: int | None = None,
    seconds: float | None = None,
    batch_seconds: float = 0.05,
    ready: threading.Event | None = None,
    on_batch: Callable[[EventSummary], None] | None = None,
) -> dict[str, Any]:
    """Subscribe (QoS 1) and process events in batches until `limit` events or `seconds` have passed.
    Messages arrive on paho's thread and are queued; the warehouse is used on this thread only."""
    try:
        import paho.mqtt.client as mqtt
    except ImportError:
        raise MissingDependency("paho-mqtt", "stream", "listening to MQTT") from None
    parsed = urlparse(url)
    inbox: queue.Queue[bytes] = queue.Queue()
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"companybrain-listen-{time.time_ns()}")
    if parsed.username:
        client.username_pw_set(unquote(parsed.username), unquote(parsed.password or ""))
    client.on_connect = lambda c, _u, _f, _rc, _p: c.subscribe(unquote(parsed.path.lstrip("/")) or topic, qos=1)
    client.on_subscribe = lambda _c, _u, _m, _rc, _p: ready.set() if ready is not None else None
    client.on_message = lambda _c, _u, message: inbox.put(bytes(message.payload))
    try:
        client.connect(parsed.hostname or "127.0.0.1", parsed.port or 1883)
    except OSError as exc:
        raise ConnectorError(f"cannot connect to the MQTT broker at {parsed.hostname}:{parsed.port}: {exc}") from None
    client.loop_start()
    total = EventSummary()
    deadline = time.monotonic() + seconds if seconds is not None else None
    escalated_at = time.monotonic()
    try:
        while (limit is None or total.received < limit) and (deadline is None or time.monotonic() < deadline):
            if time.monotonic() - escalated_at > ESCALATE_EVERY_SECONDS:  # alerts nobody acknowledged
                processor.engine.escalate()
                escalated_at = time.monotonic()
            batch = _drain(inbox, batch_seconds, 5000 if limit is None else limit - total.received)
            if not batch:
                continue
            summary = processor.ingest([_decode(p) for p in batch], source="mqtt")
            total.received += summary.received
            total.logged += summary.logged
            total.machines_updated += summary.machines_updated
            for k, v in summary.types.items():
                total.types[k] = total.types.get(k, 0) + v
            total.alerts += summary.alerts
            total.plans += summary.plans
            if on_batch is not None:
                on_batch(summary)
    finally:
        client.disconnect()
        client.loop_stop()
    return total.as_dict()


def _drain(inbox: queue.Queue[bytes], wait: float, most: int) -> list[bytes]:
    """What arrives within `wait` seconds of the first message (at most `most`)."""
    try:
        batch = [inbox.get(timeout=0.2)]
    except queue.Empty:
        return []
    until = time.monotonic() + wait
    while len(batch) < most:
        left = until - time.monotonic()
        if left <= 0:
            break
        try:
            batch.append(inbox.get(timeout=left))
        except queue.Empty:
            break
    return batch


def _decode(payload: bytes) -> dict[str, Any]:
    """A JSON object; anything else is still logged, as an `invalid` event holding the raw text."""
    try:
        event = json.loads(payload)
    except ValueError:
        event = None
    if isinstance(event, dict):
        return event
    return {"type": "invalid", "raw": payload.decode("utf-8", "replace")[:10_000]}


def _matches(rule: EventRule, event: dict[str, Any]) -> bool:
    if event.get("type") != rule.event:
        return False
    if any(str(event.get(k)) != v for k, v in rule.match.items()):
        return False
    for fields, above in ((rule.above, True), (rule.below, False)):
        for k, bound in fields.items():
            value = _number(event.get(k))
            if value is None or (value <= bound if above else value >= bound):
                return False
    return True


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _number(value: Any) -> float | None:
    try:
        return None if value is None else float(value)
    except (TypeError, ValueError):
        return None


def _string_schema() -> pa.Schema:
    return pa.schema([(c, pa.string()) for c in EVENT_COLUMNS])

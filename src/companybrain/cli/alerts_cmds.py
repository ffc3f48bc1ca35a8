"""Alert and event commands: `brain alerts check|list|ack|log` and `brain events listen|ingest`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from companybrain.cli.data import open_brain
from companybrain.cli.options import AsOpt
from companybrain.cli.output import FormatOpt, console, err_console, print_json, print_rows
from companybrain.errors import BrainError


def register(app: typer.Typer, state: Any) -> None:
    alerts = typer.Typer(help="Alert rules (alerts/*.yaml): evaluate, deliver, acknowledge.", no_args_is_help=True)
    events = typer.Typer(help="Real-time events: listen to MQTT, ingest a file.", no_args_is_help=True)
    app.add_typer(alerts, name="alerts")
    app.add_typer(events, name="events")

    @alerts.command("check")
    def check(
        rule: Annotated[list[str] | None, typer.Option("--rule", help="Only these rules (repeatable).")] = None,
        format: FormatOpt = "table",  # type: ignore[assignment]
    ) -> None:
        """Evaluate the metric rules now, deliver what fires, escalate what is overdue."""
        from companybrain.delivery.alerts import AlertEngine

        with open_brain(state) as brain:
            engine = AlertEngine(brain)
            try:
                result = engine.check(rule)
            finally:
                engine.close()
        if format == "json":
            print_json(result)
            return
        rows = [
            {
                "alert": f["alert_id"] or "",
                "rule": f["rule"],
                "key": f["key"],
                "status": f["status"],
                "title": f["title"],
            }
            for f in [*result["fired"], *result["escalated"]]
        ]
        if rows:
            print_rows(rows, title="Alerts")
        else:
            console.print("No alert fired.")
        for name, message in result["errors"].items():
            err_console.print(f"rule {name}: {message}", markup=False)

    @alerts.command("list")
    def list_alerts(
        status: Annotated[str | None, typer.Option(help="open or acked.")] = None,
        limit: Annotated[int, typer.Option("-n", help="How many, newest first.")] = 20,
        format: FormatOpt = "table",  # type: ignore[assignment]
    ) -> None:
        """The latest alerts, with their status."""
        rows = _with_engine(state, lambda e: e.alerts(limit, status=status))
        if format == "json":
            print_json(rows)
            return
        cols = ["alert_id", "rule", "key", "severity", "fired_at", "status", "acked_by", "escalated_at", "title"]
        print_rows(rows, title="Alerts", columns=cols)

    @alerts.command("ack")
    def ack(
        alert_id: Annotated[str, typer.Argument(help="The alert's id (brain alerts list).")],
        user: AsOpt = None,
        format: FormatOpt = "table",  # type: ignore[assignment]
    ) -> None:
        """Acknowledge an alert: it will not be escalated."""
        row = _with_engine(state, lambda e: e.ack(alert_id, e.brain.principal(user).user))
        if format == "json":
            print_json(row)
            return
        console.print(f"Acknowledged {row['alert_id']} ({row['rule']}) as {row['acked_by']}.", markup=False)

    @alerts.command("log")
    def delivery_log(
        alert_id: Annotated[str | None, typer.Option("--alert", help="Only this alert's deliveries.")] = None,
        limit: Annotated[int, typer.Option("-n", help="How many attempts, newest first.")] = 50,
        format: FormatOpt = "table",  # type: ignore[assignment]
    ) -> None:
        """The delivery log: every attempt on every channel, with its error."""
        rows = _with_engine(state, lambda e: e.deliveries(limit, alert_id))
        if format == "json":
            print_json(rows)
            return
        print_rows(rows, title="Deliveries")

    @events.command("listen")
    def listen(
        mqtt: Annotated[str, typer.Option("--mqtt", help="Broker URL, e.g. mqtt://127.0.0.1:1883.")],
        topic: Annotated[str, typer.Option(help="Topic to subscribe to (wildcards allowed).")] = "acme/telemetry",
        limit: Annotated[int | None, typer.Option(help="Stop after this many events.")] = None,
        seconds: Annotated[float | None, typer.Option(help="Stop after this many seconds.")] = None,
        format: FormatOpt = "table",  # type: ignore[assignment]
    ) -> None:
        """Subscribe to MQTT and log every event, update machine state, run the event rules (Ctrl-C stops)."""
        from companybrain.delivery.events import EventProcessor, EventSummary, listen_mqtt

        def report(batch: EventSummary) -> None:
            for alert in batch.alerts:
                err_console.print(f"alert {alert['rule']} {alert['key']}: {alert['status']}", markup=False)

        with open_brain(state) as brain:
            processor = EventProcessor(brain)
            try:
                err_console.print(f"Listening on {topic}.", markup=False)
                result = listen_mqtt(processor, mqtt, topic, limit=limit, seconds=seconds, on_batch=report)
            finally:
                processor.close()
        _summary(result, format)

    @events.command("ingest")
    def ingest(
        file: Annotated[Path, typer.Argument(help="A JSON lines file, one event per line.")],
        format: FormatOpt = "table",  # type: ignore[assignment]
    ) -> None:
        """Log and act on the events of a JSON lines file, as if they had arrived now."""
        from companybrain.delivery.events import EventProcessor

        try:
            lines = file.read_text(encoding="utf-8").splitlines()
            batch = [json.loads(line) for line in lines if line.strip()]
        except (OSError, ValueError) as exc:
            raise BrainError(f"cannot read events from {file}: {exc}", hint="one JSON object per line") from None
        with open_brain(state) as brain:
            processor = EventProcessor(brain)
            try:
                result = processor.ingest(batch, source=f"file:{file.name}").as_dict()
            finally:
                processor.close()
        _summary(result, format)


def _with_engine(state: Any, action: Any) -> Any:
    from companybrain.delivery.alerts import AlertEngine

    with open_brain(state) as brain:
        engine = AlertEngine(brain)
        try:
            return action(engine)
        finally:
            engine.close()


def _summary(result: dict[str, Any], format: str) -> None:
    if format == "json":
        print_json(result)
        return
    console.print(
        f"{result['received']} event(s) received, {result['logged']} logged "
        f"({', '.join(f'{k}: {v}' for k, v in sorted(result['types'].items())) or 'none'}); "
        f"{result['machines_updated']} machine state(s) updated, {len(result['alerts'])} alert(s), "
        f"{len(result['plans'])} replan(s).",
        markup=False,
    )

"""The demo: generate Acme Industrial, then ingest, build and check it (`brain demo`)."""

from __future__ import annotations

import dataclasses
import enum
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from companybrain.cli.data import step_progress
from companybrain.cli.output import FormatOpt, console, err_console, print_json, print_rows


class Scale(enum.StrEnum):
    small = "small"
    medium = "medium"
    large = "large"


def make_app(state: Any) -> typer.Typer:
    app = typer.Typer(help="The Acme Industrial demo company.", invoke_without_command=True)

    @app.callback()
    def run(
        ctx: typer.Context,
        scale: Annotated[
            Scale, typer.Option(help="small (~50k order lines), medium (~2M), large (~20M).")
        ] = Scale.medium,
        seed: Annotated[int, typer.Option(help="Random seed: the same seed gives the same company.")] = 7,
        out: Annotated[Path, typer.Option(help="Where to write the demo project.")] = Path("demo/acme"),
        format: FormatOpt = "table",  # type: ignore[assignment]
    ) -> None:
        """Run the main job: generate the demo, ingest every source, build the ontology, run the contracts."""
        if ctx.invoked_subcommand is not None:
            return
        from companybrain import factory
        from companybrain.brain import Brain
        from companybrain.cli.data import row_progress
        from companybrain.demo.generate import generate_demo

        timings: dict[str, float] = {}
        t0 = time.perf_counter()
        with step_progress(f"generate ({scale})") as progress:
            summary = generate_demo(out, scale=scale, seed=seed, progress=progress)
        timings["generate"] = time.perf_counter() - t0
        err_console.print(f"generated Acme Industrial ({scale}, seed {seed}) in {out} [{timings['generate']:.1f} s]")
        with Brain.open(out) as brain:
            t0 = time.perf_counter()
            with row_progress() as progress:
                loads = brain.ingest(progress=progress)
            timings["ingest"] = time.perf_counter() - t0
            err_console.print(
                f"ingested {sum(s.rows_loaded for s in loads):,} rows "
                f"({sum(s.rows_quarantined for s in loads)} quarantined) [{timings['ingest']:.1f} s]"
            )
            t0 = time.perf_counter()
            with step_progress("build") as progress:
                report = brain.build(progress)
            timings["build"] = time.perf_counter() - t0
            t0 = time.perf_counter()
            results = brain.contracts()
            timings["contracts"] = time.perf_counter() - t0
            t0 = time.perf_counter()
            trained = factory.train(
                brain, progress=lambda name, step: err_console.print(f"{step} {name} ...", style="dim")
            )
            scored = factory.score(brain)
            timings["factory"] = time.perf_counter() - t0
            err_console.print(f"trained and scored {len(trained)} use cases [{timings['factory']:.1f} s]")
        passed = sum(r.passed for r in results)
        factory_rows = [_factory_row(t, sc) for t, sc in zip(trained, scored, strict=True)]
        result = {
            "project": str(out),
            "scale": scale,
            "seed": seed,
            "source_tables": summary.tables,
            "sources": [s.as_dict() for s in loads],
            "objects": report.objects,
            "contracts": {"passed": passed, "failed": len(results) - passed},
            "factory": factory_rows,
            "seconds": {k: round(v, 2) for k, v in timings.items()},
        }
        if format == "json":
            print_json(result)
            return
        print_rows([{"object_type": k, "rows": v} for k, v in report.objects.items()], title="Acme Industrial: objects")
        print_rows([{"step": k, "seconds": round(v, 2)} for k, v in timings.items()], title="time per step")
        console.print(f"contracts: {passed} passed, {len(results) - passed} failed")
        print_rows(factory_rows, title="AI factory: the demo's use cases (backtest on a later holdout)")
        console.print(f"Explore:  cd {out} && brain query revenue gross_margin margin_pct --by region --period 2025-Q4")

    @app.command()
    def generate(
        scale: Annotated[
            Scale, typer.Option(help="small (~50k order lines), medium (~2M), large (~20M).")
        ] = Scale.medium,
        seed: Annotated[int, typer.Option(help="Random seed.")] = 7,
        out: Annotated[Path, typer.Option(help="Folder for the demo project.")] = Path("demo/acme"),
        erp_url: Annotated[
            str | None, typer.Option(help="Write the ERP to this PostgreSQL database instead of SQLite.")
        ] = None,
        crm_url: Annotated[
            str | None, typer.Option(help="Write the CRM to this MySQL/MariaDB database instead of SQLite.")
        ] = None,
        format: FormatOpt = "table",  # type: ignore[assignment]
    ) -> None:
        """Write the demo project and its source systems (deterministic for a seed)."""
        from companybrain.demo.generate import generate_demo

        with step_progress(f"generate ({scale})") as progress:
            summary = generate_demo(out, scale=scale, seed=seed, erp_url=erp_url, crm_url=crm_url, progress=progress)
        if format == "json":
            print_json(
                {
                    "out": str(summary.out),
                    "scale": summary.scale,
                    "seed": summary.seed,
                    "tables": summary.tables,
                    "seconds": round(summary.seconds, 2),
                }
            )
            return
        print_rows([{"table": k, "rows": v} for k, v in summary.tables.items()], title=f"Acme Industrial ({scale})")
        console.print(f"written to {summary.out} in {summary.seconds:.1f} s; next: brain -p {summary.out} ingest")

    @app.command()
    def systems(
        host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    ) -> None:
        """Serve the demo's stand-ins for the systems its brain writes to (the ERP's order API on :8099, the
        chat bridge and the account team's inbox on :8099 and :8098) until interrupted."""
        import threading

        from companybrain.demo.systems import ERP_PORT, INBOX_PORT, Servers
        from companybrain.errors import BrainError
        from companybrain.project import find_project

        root = find_project(state.project)
        try:
            servers = Servers(root, host)
        except OSError as exc:
            raise BrainError(
                f"the demo's stand-in systems cannot listen on {host}:{ERP_PORT} and :{INBOX_PORT}: {exc.strerror}",
                hint="another `brain demo serve` (or `brain demo systems`) runs already: stop it first",
            ) from None
        console.print(
            f"Stand-in systems of the demo on {host}: the ERP's order API (:{ERP_PORT}/erp/orders/ID/production, "
            f"into {servers.stand_ins.erp}), the message receivers (:{ERP_PORT}/alerts/USER, "
            f":{INBOX_PORT}/account-team; kept in {servers.stand_ins.messages})",
            highlight=False,
            soft_wrap=True,
        )
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            pass
        finally:
            servers.close()

    @app.command("serve")
    def serve_demo(
        host: Annotated[str, typer.Option(help="Interface the service listens on.")] = "127.0.0.1",
        port: Annotated[int, typer.Option(help="Port of the service.")] = 8000,
    ) -> None:
        """The demo as it runs: its stand-in systems (a process of their own: what the approved actions'
        webhooks and messages reach), the demo users' sign-in tokens, then `brain serve`; Ctrl-C stops all."""
        from companybrain.project import find_project

        root = str(find_project(state.project))
        brain = [sys.executable, "-m", "companybrain.cli.main", "-p", root]
        signal.signal(signal.SIGTERM, _interrupted)  # stopped by a supervisor: stop the children as on Ctrl-C
        stand_ins = subprocess.Popen([*brain, "demo", "systems"])
        service: subprocess.Popen[bytes] | None = None
        try:
            _wait_listening(stand_ins)
            if subprocess.call([*brain, "tokens", "demo"]) != 0:
                raise typer.Exit(1)
            service = subprocess.Popen([*brain, "serve", "--host", host, "--port", str(port)])
            code = service.wait()
        except KeyboardInterrupt:  # the terminal sent it to every process of the group: let them finish
            code = 130
        finally:
            if service is not None:
                _stop(service)  # it had the Ctrl-C too: its running job and its serve.json are its to finish
            stand_ins.terminate()  # they keep nothing in memory
            stand_ins.wait()
        if code:
            raise typer.Exit(code)

    @app.command()
    def stream(
        target: Annotated[
            str, typer.Option(help="mqtt://host:port or http(s)://... to send events to.")
        ] = "mqtt://127.0.0.1:1883",
        rate: Annotated[float, typer.Option(help="Events per second.")] = 50.0,
        limit: Annotated[int | None, typer.Option(help="Stop after this many events.")] = None,
        topic: Annotated[
            str, typer.Option(help="MQTT topic (a path in the mqtt:// URL overrides it).")
        ] = "acme/telemetry",
        start: Annotated[
            str | None, typer.Option(help="Replay forward from this time (default: newest readings first).")
        ] = None,
        format: FormatOpt = "table",  # type: ignore[assignment]
    ) -> None:
        """Replay live telemetry and line events from the demo to MQTT or HTTP."""
        from companybrain.demo.stream import stream_events
        from companybrain.project import find_project

        with step_progress("stream") as progress:
            summary = stream_events(
                find_project(state.project),
                target=target,
                rate=rate,
                limit=limit,
                topic=topic,
                start=start,
                progress=progress,
            )
        data = dataclasses.asdict(summary)
        if format == "json":
            print_json(data)
        else:
            console.print(
                f"sent {summary.sent:,} events ({summary.telemetry:,} telemetry, {summary.line_down:,} line down) "
                f"to {summary.target} in {summary.seconds:.1f} s"
            )

    return app


def _interrupted(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def _wait_listening(stand_ins: subprocess.Popen[bytes], seconds: float = 20.0) -> None:
    """Until the stand-ins accept connections; a warning if they could not start (the service still serves)."""
    from companybrain.demo.systems import ERP_PORT

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and stand_ins.poll() is None:
        try:
            socket.create_connection(("127.0.0.1", ERP_PORT), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.1)
    err_console.print(
        "warning: the demo's stand-in systems did not start: approving a move will fail (nothing answers "
        f"on 127.0.0.1:{ERP_PORT})",
        highlight=False,
    )


def _stop(child: subprocess.Popen[bytes], seconds: float = 15.0) -> None:
    """Let the service finish on its own (a Ctrl-C in the terminal reached it too), else interrupt it as Ctrl-C
    would (it stops gracefully: its running job, its serve.json), then end it."""
    for ask, wait in ((None, 3.0), (signal.SIGINT, seconds), (signal.SIGTERM, seconds)):
        if ask is not None and child.poll() is None:
            child.send_signal(ask)
        try:
            child.wait(wait)
            return
        except subprocess.TimeoutExpired:
            continue
    child.kill()
    child.wait()


def _factory_row(trained: dict[str, Any], scored: dict[str, Any]) -> dict[str, Any]:
    """One line per use case: its backtest against the baseline, and what scoring wrote."""
    if trained["status"] != "ok":
        return {"usecase": trained["usecase"], "status": f"failed: {trained['error']}"}
    model, base = trained["backtest"]["model"], trained["backtest"]["baseline"]
    metric = {"forecast": "smape", "classify": "roc_auc", "regress": "mae"}.get(trained["task"])
    return {
        "usecase": trained["usecase"],
        "status": f"v{trained['version']} {trained['promotion']}",
        "metric": metric or "-",
        "model": round(model[metric], 4) if metric in model else None,
        "baseline": round(base[metric], 4) if metric in base else None,
        "written": scored.get("written_to") if scored["status"] == "ok" else f"not scored: {scored['error']}",
    }

"""Data commands: ingest, sources, build, contracts, objects, object."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated, Any

import typer

from companybrain.cli.options import AsOpt
from companybrain.cli.output import FormatOpt, RowsFormatOpt, console, err_console, print_csv, print_json, print_rows
from companybrain.errors import WarehouseError

if TYPE_CHECKING:
    from companybrain.brain import Brain


@contextmanager
def open_brain(state: Any) -> Iterator[Brain]:
    from companybrain.brain import Brain
    from companybrain.delivery.local import served_by

    brain = Brain.open(state.project)
    try:
        yield brain
    except WarehouseError as exc:
        served = served_by(brain.project.root)
        if served is None:
            raise
        raise WarehouseError(
            exc.message,
            hint=f"`brain serve` (pid {served.pid}) holds this project's warehouse: the reads, the decisions, "
            "ingest, build, tokens and audit verify go through it; for this command stop it, or ask its API",
        ) from None
    finally:
        brain.close()


@contextmanager
def row_progress() -> Iterator[Any]:
    """A live 'rows read' line per table on stderr; silent when stderr is not a terminal."""
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    progress = Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        TextColumn("{task.completed:,} rows"),
        TimeElapsedColumn(),
        console=err_console,
        transient=True,
        disable=not err_console.is_terminal,
    )
    tasks: dict[str, Any] = {}

    def update(label: str, rows: int) -> None:
        if label not in tasks:
            tasks[label] = progress.add_task(label, total=None)
        progress.update(tasks[label], completed=rows)

    with progress:
        yield update


@contextmanager
def step_progress(what: str) -> Iterator[Any]:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    progress = Progress(
        TextColumn(what),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.description}"),
        TimeElapsedColumn(),
        console=err_console,
        transient=True,
        disable=not err_console.is_terminal,
    )
    task = progress.add_task("", total=None)

    def update(name: str, done: int, total: int) -> None:
        progress.update(task, description=name, completed=done, total=total)

    with progress:
        yield update


def register(app: typer.Typer, state: Any) -> None:
    sources_app = typer.Typer(help="The sources: load status and quarantined rows.", no_args_is_help=True)
    app.add_typer(sources_app, name="sources")

    @app.command()
    def ingest(
        names: Annotated[
            list[str] | None, typer.Argument(help="Sources to load (`erp` or `erp.orders`); all by default.")
        ] = None,
        format: FormatOpt = "table",  # type: ignore[assignment]
    ) -> None:
        """Land the sources in the raw layer: incremental, idempotent, atomic; bad rows quarantined.
        While `brain serve` holds the warehouse, the service lands them (its readers keep reading)."""
        from companybrain.cli.served import service_of
        from companybrain.delivery.jobs import ingest_report

        service = service_of(state)
        if service is not None:
            report = service.run_job("ingest", {"sources": names or None})
        else:
            with open_brain(state) as brain, row_progress() as progress:
                report = ingest_report(brain, names or None, progress)
        if format == "json":
            print_json(report)
        else:
            rows = [
                {
                    "source": r["name"],
                    "table": t["table"],
                    "status": t["status"],
                    "rows_loaded": t["rows_loaded"],
                    "rows_quarantined": t["rows_quarantined"],
                    "seconds": t["seconds"],
                    "note": t["message"]
                    or (f"added columns: {', '.join(t['added_columns'])}" if t["added_columns"] else ""),
                }
                for r in report["sources"]
                for t in r["tables"]
            ]
            print_rows(rows, title="ingest")
        if any(r["status"] == "failed" for r in report["sources"]):
            raise typer.Exit(1)

    @sources_app.command("status")
    def sources_status(format: FormatOpt = "table") -> None:  # type: ignore[assignment]
        """The last load of every source table and the rows it holds."""
        from companybrain.cli.served import run_command

        rows = run_command(state, "sources.status")["tables"]
        if format == "json":
            print_json({"tables": rows})
        else:
            print_rows(rows, title="sources")

    @sources_app.command("quarantine")
    def sources_quarantine(
        source: Annotated[str, typer.Argument(help="Source name, or source.table.")],
        limit: Annotated[int, typer.Option(help="Rows to show.")] = 100,
        format: RowsFormatOpt = "table",  # type: ignore[assignment]
    ) -> None:
        """Rows a source sent that were not loaded, with the reason."""
        from companybrain.cli.served import run_command

        name, _, table = source.partition(".")
        rows = run_command(state, "sources.quarantine", source=name, table=table or None, limit=limit)
        if format == "json":
            print_json({"source": name, "table": table or None, "rows": rows})
        elif format == "csv":
            print_csv(rows)
        else:
            print_rows(
                rows, title=f"quarantine: {source}", columns=["load_id", "table_name", "location", "reason", "record"]
            )

    @app.command()
    def build(
        full: Annotated[bool, typer.Option("--full", help="Rebuild every object type, changed or not.")] = False,
        factory: Annotated[
            bool, typer.Option("--factory/--no-factory", help="Then train and score the use cases that are due.")
        ] = True,
        format: FormatOpt = "table",  # type: ignore[assignment]
    ) -> None:
        """Materialize the ontology (what changed since the last build); a failing blocking contract
        keeps the previous objects. Then train and score the use cases whose schedule is due.
        While `brain serve` holds the warehouse, the service builds (its readers see the last build
        until the new one commits)."""
        from companybrain.cli.served import service_of
        from companybrain.delivery.jobs import build_report

        service = service_of(state)
        if service is not None:
            report = service.run_job("build", {"full": full, "factory": factory})
        else:
            with open_brain(state) as brain, step_progress("build") as progress:
                report = build_report(brain, full, factory, progress)
        if format == "json":
            print_json(report)
            return
        objects, contracts = report["objects"], report["contracts"]
        print_rows([{"object_type": k, "rows": v} for k, v in objects.items()], title="objects")
        note = " (warnings only: see `brain contracts`)" if contracts["failed"] else ""
        console.print(
            f"rebuilt {len(report['rebuilt'])} of {len(objects)} object types; "
            f"contracts: {contracts['passed']} passed, {contracts['failed']} failed{note}; "
            f"built in {report['seconds']:.1f} s"
        )
        for r in report["factory"]:
            if r["status"] == "skipped":
                console.print(f"factory: {r['usecase']} not trained: {r['reason']}", style="dim")
                continue
            state_text = "ok" if r["status"] == "ok" else f"failed: {r['error']}"
            step = "trained" if "backtest" in r else "scored"
            why = f" ({r['reason']})" if "reason" in r else ""
            console.print(f"factory: {r['usecase']} {step if r['status'] == 'ok' else ''} {state_text}{why}")

    @app.command()
    def contracts(format: FormatOpt = "table") -> None:  # type: ignore[assignment]
        """Run the data contracts on the current objects; exit 1 if a blocking one fails."""
        from companybrain.cli.served import run_command

        results = run_command(state, "contracts")
        passed = sum(r["passed"] for r in results)
        if format == "json":
            print_json({"passed": passed, "failed": len(results) - passed, "results": results})
        else:
            rows = [{**r, "ok": "✓" if r["passed"] else "✗", "sample": r["sample"] or ""} for r in results]
            print_rows(
                rows, title="contracts", columns=["ok", "object", "contract", "target", "severity", "detail", "sample"]
            )
            console.print(f"{passed} passed, {len(results) - passed} failed")
        if any(not r["passed"] and r["severity"] == "blocking" for r in results):
            raise typer.Exit(1)

    @app.command()
    def objects(
        type_name: Annotated[str, typer.Argument(metavar="TYPE", help="Object type, e.g. Customer.")],
        where: Annotated[str | None, typer.Option(help="Filter on properties, e.g. \"region = 'EMEA'\".")] = None,
        limit: Annotated[int, typer.Option(help="Rows to show.")] = 20,
        count: Annotated[bool, typer.Option("--count", help="Print only the number of objects.")] = False,
        columns: Annotated[
            str | None, typer.Option("--columns", help="Comma-separated properties to show (default: all).")
        ] = None,
        user: AsOpt = None,
        format: RowsFormatOpt = "table",  # type: ignore[assignment]
    ) -> None:
        """List objects of a type (as you may see them: row filters and masking apply)."""
        from companybrain.cli.served import run_command

        found = run_command(state, "objects", type_name=type_name, where=where, limit=limit, user=user, count=count)
        if count:
            print_json({"count": found["count"]}) if format == "json" else console.print(found["count"])
            return
        rows = found["rows"]
        if columns:
            wanted = [c.strip() for c in columns.split(",") if c.strip()]
            unknown = [c for c in wanted if rows and c not in rows[0]]
            if unknown:
                raise typer.BadParameter(f"no such properties: {', '.join(unknown)}", param_hint="--columns")
            rows = [{c: r[c] for c in wanted} for r in rows]
        if format == "json":
            print_json({"type": type_name, "rows": rows})
        elif format == "csv":
            print_csv(rows)
        else:
            print_rows(rows, title=type_name)

    @app.command("object")
    def object_(
        type_name: Annotated[str, typer.Argument(metavar="TYPE")],
        key: Annotated[str, typer.Argument(help="The object's key.")],
        user: AsOpt = None,
        format: FormatOpt = "table",  # type: ignore[assignment]
    ) -> None:
        """Show one object with its linked objects."""
        from companybrain.cli.served import run_command

        found = run_command(state, "object", type_name=type_name, key=key, user=user)
        if format == "json":
            print_json(found)
            return
        print_rows(
            [{"property": k, "value": v} for k, v in found["properties"].items()],
            title=f"{found['type']} {found['key']}",
        )
        rows = []
        for name, link in found["links"].items():
            if link.get("denied"):
                rows.append({"link": name, "type": link["type"], "linked": "(not readable by you)"})
            elif link["kind"] == "many_to_one":
                target = link["object"]
                rows.append({"link": name, "type": link["type"], "linked": _label(target) if target else "(none)"})
            else:
                more = f" (+{link['count'] - len(link['keys'])} more)" if link["count"] > len(link["keys"]) else ""
                rows.append({"link": name, "type": link["type"], "linked": ", ".join(map(str, link["keys"])) + more})
        print_rows(rows, title="links")


def _label(obj: dict[str, Any]) -> str:
    values = list(obj.values())
    name = obj.get("name") or obj.get("full_name")
    return f"{values[0]} ({name})" if name else str(values[0])

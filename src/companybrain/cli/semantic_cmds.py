"""Semantic-layer and governance commands: metrics, query, audit."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from companybrain.cli.data import open_brain
from companybrain.cli.options import AsOpt
from companybrain.cli.output import FormatOpt, RowsFormatOpt, console, print_csv, print_json, print_rows


def register(app: typer.Typer, state: Any) -> None:
    audit_app = typer.Typer(help="The audit log: one hash-chained record per read.", no_args_is_help=True)
    app.add_typer(audit_app, name="audit")

    @app.command()
    def metrics(user: AsOpt = None, format: FormatOpt = "table") -> None:  # type: ignore[assignment]
        """List the metrics and dimensions you may read."""
        from companybrain.cli.served import run_command

        catalog = run_command(state, "metrics", user=user)
        if format == "json":
            print_json(catalog)
            return
        print_rows(
            [
                {
                    "metric": m["name"],
                    "on": ", ".join(m["on"]),
                    "definition": m["expr"] + (f" where {m['where']}" if m["where"] else ""),
                    "description": m["description"],
                }
                for m in catalog["metrics"]
            ],
            title="metrics",
        )
        print_rows(
            [
                {"dimension": d["name"], "object": d["object"], "expr": d["expr"], "description": d["description"]}
                for d in catalog["dimensions"]
            ],
            title="dimensions",
        )
        console.print(f"time grains: {', '.join(catalog['time_grains'])}; any Type.property is a dimension too")

    @app.command()
    def query(
        metric_names: Annotated[list[str], typer.Argument(metavar="METRIC...", help="Metrics to compute.")],
        by: Annotated[
            list[str] | None, typer.Option("--by", help="Dimension, time grain or Type.property (repeat).")
        ] = None,
        where: Annotated[str | None, typer.Option(help="Filter on dimensions, e.g. \"region = 'EMEA'\".")] = None,
        period: Annotated[str | None, typer.Option(help="2025-Q4, 2025-03, 2025, ytd, last_quarter, A..B, ...")] = None,
        order: Annotated[
            list[str] | None, typer.Option("--order", help="Sort by a metric or dimension; -name descends.")
        ] = None,
        limit: Annotated[int | None, typer.Option(help="Keep the first N rows.")] = None,
        user: AsOpt = None,
        format: RowsFormatOpt = "table",  # type: ignore[assignment]
    ) -> None:
        """Compute metrics through the governed query path."""
        from companybrain.cli.served import run_command
        from companybrain.semantic.query import Result

        found = run_command(
            state,
            "query",
            metrics=list(metric_names),
            by=list(by or ()),
            where=where,
            period=period,
            order=list(order or ()),
            limit=limit,
            user=user,
        )
        result = Result(**found)
        if format == "json":
            print_json(result.as_dict())
        elif format == "csv":
            print_csv(result.records())
        else:
            formats = {name: result.definitions[name].get("format", "number") for name in metric_names}
            print_rows(result.records(), title=" · ".join(metric_names), formats=formats)
            notes = [f"as {result.policy['user']}"]
            if result.policy.get("row_filters"):
                notes.append("rows limited to " + "; ".join(result.policy["row_filters"]))
            if result.period:
                notes.append(f"period {result.period['from']}..{result.period['to']}")
            notes.extend(result.notes)
            notes.append(f"data {result.freshness.get('data_version')}, {result.seconds * 1000:.0f} ms")
            console.print(" · ".join(notes), style="dim")

    @audit_app.command("verify")
    def audit_verify(
        anchor: Annotated[
            str | None, typer.Option(help="SEQ:HASH of a head printed before: also catches records cut off the end.")
        ] = None,
        format: FormatOpt = "table",  # type: ignore[assignment]
    ) -> None:
        """Check the hash chain; exit 1 if a record was edited, removed or inserted (through `brain serve`
        while it holds the warehouse)."""
        from companybrain.cli.served import service_of

        service = service_of(state)
        if service is not None:
            report: dict[str, Any] = service.call("POST", "/api/v1/local/audit/verify", {"anchor": anchor})
        else:
            with open_brain(state) as brain:
                report = brain.audit.verify(anchor)
        if format == "json":
            print_json(report)
        elif report["ok"]:
            head = report["head"]
            anchor_text = f"; head {head['seq']}:{head['hash']} (keep it to check later with --anchor)" if head else ""
            console.print(f"[green]✓[/] audit log intact: {report['records']} records{anchor_text}")
        else:
            print_rows(report["problems"], title="audit log tampered with")
        if not report["ok"]:
            raise typer.Exit(1)

    @audit_app.command("tail")
    def audit_tail(
        n: Annotated[int, typer.Option("-n", help="Records to show.")] = 20,
        format: RowsFormatOpt = "table",  # type: ignore[assignment]
    ) -> None:
        """The latest audit records."""
        from companybrain.cli.served import run_command

        rows = run_command(state, "audit.tail", n=n)
        if format == "json":
            print_json({"records": rows})
        elif format == "csv":
            print_csv(rows)
        else:
            for row in rows:  # the request without its empty parts, and the time to the second
                request = json.loads(row["request"] or "{}")
                row["request"] = json.dumps({k: v for k, v in request.items() if v not in (None, [], "")})
                row["at"] = str(row["at"])[:19].replace("T", " ")
            columns = ["seq", "at", "user_name", "action", "request", "row_count", "outcome"]
            print_rows(rows, title="audit", columns=columns)

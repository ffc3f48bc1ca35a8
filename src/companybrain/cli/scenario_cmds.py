"""What-if scenario commands: list, run and compare the scenarios of scenarios/*.yaml."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from companybrain.cli.data import open_brain
from companybrain.cli.options import AsOpt
from companybrain.cli.output import FormatOpt, console, err_console, print_json, print_rows


def _print_run(run: Any) -> None:
    rows = [
        {
            "kpi": k["kpi"],
            "baseline": k["baseline"],
            "scenario": k["scenario"],
            "diff": k["diff"],
            "diff %": k["diff_pct"],
            "note": "" if k["status"] == "ok" else k["status"],
        }
        for k in run.kpis
    ]
    formats = {c: "number" for c in ("baseline", "scenario", "diff")} | {"diff %": "percent"}
    print_rows(rows, title=f"{run.name}: {run.period['from']} .. {run.period['to']} vs baseline", formats=formats)
    changed = ", ".join(f"{t} {n:,}" for t, n in run.overlays.items())
    console.print(f"overlays (changed or added objects): {changed}; from build {run.build}", style="dim")
    for line in run.assumptions:
        console.print(f"assumption: {line}", style="dim")
    for line in run.warnings:
        err_console.print(f"warning: {line}")


def register(app: typer.Typer, state: Any) -> None:
    group = typer.Typer(help="What-if scenarios: overlays on the baseline and their KPI diff.", no_args_is_help=True)
    app.add_typer(group, name="scenario")

    @group.command("list")
    def list_(format: FormatOpt = "table") -> None:  # type: ignore[assignment]
        """The declared scenarios and whether their overlays are current, stale or not run."""
        from companybrain.decisions.scenarios import list_scenarios

        with open_brain(state) as brain:
            rows = list_scenarios(brain)
        if format == "json":
            print_json(rows)
        else:
            print_rows(rows, title="scenarios")

    @group.command()
    def run(
        name: Annotated[str, typer.Argument(help="Scenario name (brain scenario list).")],
        propose: Annotated[
            bool, typer.Option("--propose", help="Also propose adopting it (brain actions approve).")
        ] = False,
        user: AsOpt = None,
        format: FormatOpt = "table",  # type: ignore[assignment]
    ) -> None:
        """Rebuild a scenario's overlays from the current objects and show its KPIs against the baseline."""
        from companybrain.decisions.scenarios import run_scenario

        proposed: list[dict[str, Any]] = []
        entry = None
        with open_brain(state) as brain:
            if propose:
                result, proposed, entry = brain.propose_scenario(name, user)
            else:
                result = run_scenario(brain, name, user)
        if format == "json":
            extra = {"proposed": proposed, "ledger_entry": entry} if propose else {}
            print_json({**result.as_dict(), **extra})
        else:
            _print_run(result)
        if propose and format != "json":
            batch = proposed[0]["batch_id"]
            console.print(f"proposed as batch {batch} (ledger entry {entry}): brain actions approve --batch {batch}")

    @group.command()
    def compare(
        names: Annotated[list[str], typer.Argument(help="Scenario names.")],
        user: AsOpt = None,
        format: FormatOpt = "table",  # type: ignore[assignment]
    ) -> None:
        """Several scenarios side by side (overlays reused; built when missing, flagged when stale)."""
        from companybrain.decisions.scenarios import compare_scenarios

        with open_brain(state) as brain:
            runs = compare_scenarios(brain, names, user)
        if format == "json":
            print_json([r.as_dict() for r in runs])
            return
        first = runs[0].kpis
        rows = []
        for i, kpi in enumerate(first):
            row: dict[str, Any] = {"kpi": kpi["kpi"], "baseline": kpi["baseline"]}
            for r in runs:
                row[r.name] = r.kpis[i]["scenario"]
            rows.append(row)
        print_rows(rows, title="scenarios vs baseline", formats={c: "number" for c in rows[0] if c != "kpi"})
        for r in runs:
            for line in r.warnings:
                err_console.print(f"warning: {r.name}: {line}")

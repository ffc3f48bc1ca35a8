"""What-if scenario commands: list, run and compare the scenarios of scenarios/*.yaml."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from companybrain.cli.options import AsOpt
from companybrain.cli.output import FormatOpt, console, err_console, print_json, print_rows

KpisOnlyOpt = Annotated[
    bool,
    typer.Option(
        "--kpis-only",
        help="Only the KPI diff over the scenario's period: skip the forecast refit and the plan ahead (faster).",
    ),
]


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
    _print_forecast(run.forecast)
    _print_plan(run.plan)
    _print_supply(run.supply)
    for line in run.warnings:
        err_console.print(f"warning: {line}")


def _print_forecast(section: dict[str, Any]) -> None:
    """Each recomputed forecast use case per series and in total; a line saying why for the others."""
    for uc in section.get("usecases", []) or [section]:
        if uc.get("status") != "recomputed":
            name = f" {uc['usecase']}" if "usecase" in uc else ""
            console.print(f"forecast{name}: {uc.get('reason', uc.get('status'))}")
            continue
        rows = [
            {"series": r["series"], **{k: r[k] for k in ("baseline", "scenario", "diff")}, "diff %": r["diff_pct"]}
            for r in uc["series"]
        ]
        rows.append(
            {
                "series": "total (these series)",
                **{k: uc["total"][k] for k in ("baseline", "scenario", "diff")},
                "diff %": uc["total"]["diff_pct"],
            }
        )
        title = (
            f"forecast {uc['usecase']}: {uc['metric']} {uc['from']} .. {uc['to']} ({uc['horizon']} {uc['grain']}s), "
            f"{uc['series_refit']} of {uc['series_total']} series refit ({uc['champion']})"
        )
        print_rows(
            rows, title=title, formats={c: "number" for c in ("baseline", "scenario", "diff")} | {"diff %": "percent"}
        )


def _print_supply(section: dict[str, Any]) -> None:
    """The projected shortages ahead, baseline against the scenario's slipping suppliers."""
    if section.get("status") != "ok":
        if section.get("status") not in (None, "unchanged"):
            console.print(f"supply: {section.get('reason', section.get('status'))}")
        return
    slips = ", ".join(f"{s} +{d} days" for s, d in section["slips"].items())
    print_rows(
        section["kpis"],
        title=f"supply ahead: open orders of {slips}",
        formats={c: "number" for c in ("baseline", "scenario", "diff")},
    )


def _print_plan(section: dict[str, Any]) -> None:
    """The plan's KPIs, baseline against scenario, over the weeks ahead; a line saying why when not replanned."""
    if section.get("status") != "recomputed":
        console.print(f"plan: {section.get('reason', section.get('status'))}")
        return
    horizon = section["horizon"]
    rows = [_plan_row(k) for k in section["kpis"]]
    formats = {c: "number" for c in ("baseline", "scenario", "diff")}
    print_rows(
        rows, title=f"plan: {horizon['weeks']} weeks from {horizon['start']}, baseline vs scenario", formats=formats
    )
    for line in section.get("changes", []):
        console.print(f"plan change: {line}", style="dim")
    if section.get("baseline", {}).get("solved", "now") != "now":  # say why this run was quicker
        console.print(f"baseline plan: {section['baseline']['solved']}", style="dim")


def _plan_row(kpi: dict[str, Any]) -> dict[str, Any]:
    """One plan KPI; shares (utilisation, gap) as percentages, their diff in points."""
    row = {k: kpi[k] for k in ("kpi", "baseline", "scenario", "diff")}
    if kpi.get("format") == "percent":
        for k in ("baseline", "scenario"):
            row[k] = None if kpi[k] is None else f"{kpi[k]:.1%}"
        row["diff"] = None if kpi["diff"] is None else f"{kpi['diff'] * 100:+.1f} pt"
    return row


def register(app: typer.Typer, state: Any) -> None:
    group = typer.Typer(help="What-if scenarios: overlays on the baseline and their KPI diff.", no_args_is_help=True)
    app.add_typer(group, name="scenario")

    @group.command("list")
    def list_(format: FormatOpt = "table") -> None:  # type: ignore[assignment]
        """The declared scenarios and whether their overlays are current, stale or not run."""
        from companybrain.cli.served import run_command

        rows = run_command(state, "scenario.list")
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
        kpis_only: KpisOnlyOpt = False,
        user: AsOpt = None,
        format: FormatOpt = "table",  # type: ignore[assignment]
    ) -> None:
        """Rebuild a scenario's overlays from the current objects and show its KPIs against the baseline,
        then the forecast and the 13-week plan where the scenario reaches them."""
        from companybrain.cli.served import run_command
        from companybrain.decisions.scenarios import ScenarioRun

        found = run_command(state, "scenario.run", name=name, propose=propose, ahead=not kpis_only, user=user)
        result = ScenarioRun(**found["run"])
        proposed: list[dict[str, Any]] = found.get("proposed", [])
        entry = found.get("ledger_entry")
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
        kpis_only: KpisOnlyOpt = False,
        user: AsOpt = None,
        format: FormatOpt = "table",  # type: ignore[assignment]
    ) -> None:
        """Several scenarios side by side (overlays reused; built when missing, flagged when stale)."""
        from companybrain.cli.served import run_command
        from companybrain.decisions.scenarios import ScenarioRun

        runs = [
            ScenarioRun(**r)
            for r in run_command(state, "scenario.compare", names=names, ahead=not kpis_only, user=user)
        ]
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
        print_rows(_forward_rows(runs), title="ahead: forecast and plan", formats={c: "number" for c in ("baseline",)})
        for r in runs:
            for line in r.warnings:
                err_console.print(f"warning: {r.name}: {line}")


def _forward_rows(runs: list[Any]) -> list[dict[str, Any]]:
    """Forecast diff and plan KPIs per scenario (its status where a section was not recomputed)."""
    rows: list[dict[str, Any]] = [{"kpi": "forecast diff (units)", "baseline": None}]
    for r in runs:
        recomputed = [u for u in r.forecast.get("usecases", []) if u.get("status") == "recomputed"]
        rows[0][r.name] = sum(u["total"]["diff"] for u in recomputed) if recomputed else r.forecast.get("status")
    names = [k["kpi"] for r in runs for k in r.plan.get("kpis", [])]
    for kpi in dict.fromkeys(names):
        row: dict[str, Any] = {"kpi": f"plan {kpi}", "baseline": None}
        for r in runs:
            found = {k["kpi"]: k for k in r.plan.get("kpis", [])}
            if kpi in found:
                row["baseline"] = found[kpi]["baseline"]
            row[r.name] = found[kpi]["scenario"] if kpi in found else r.plan.get("status")
        rows.append(row)
    if len(rows) == 1:
        rows.append({"kpi": "plan", "baseline": None, **{r.name: r.plan.get("status") for r in runs}})
    return rows

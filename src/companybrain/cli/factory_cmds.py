"""AI factory commands: scaffold, train, score, show, list, label and promote the use cases of usecases/*.yaml."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any

import typer

from companybrain.cli.data import open_brain
from companybrain.cli.options import AsOpt
from companybrain.cli.output import FormatOpt, console, err_console, print_json, print_rows
from companybrain.errors import BrainError, ConfigError, Location

TEMPLATES = {
    "classify": """\
# {name}: {entity} objects scored with the probability of an outcome. Edit, then `brain check`.
name: {name}
description: Probability that ... (say what a positive means and over which horizon).
owner: someone@example.com
task: classify
entity: {entity}
# population: "status = 'active'"      # who is scored now
snapshots: {{every_days: 30}}           # as-of times of the training rows
target: {{event: some_date_property, horizon_days: 90}}
features:
  # a metric over the whole periods before each as-of time:
  # recent_orders: {{metric: orders, grain: month, window: 3, agg: sum}}
  # a property that does not change after the as-of time:
  # segment: {{property: segment, categorical: true}}
  # days since a date: tenure_days: {{age_of: created_at}}
output: {{property: {name}}}
schedule: weekly
""",
    "regress": """\
# {name}: a number predicted for each {entity}. Edit, then `brain check`.
name: {name}
description: Expected ... over the next ... days.
owner: someone@example.com
task: regress
entity: {entity}
snapshots: {{every_days: 30}}
target: {{metric: some_metric, horizon_days: 90}}
features:
  # recent: {{metric: some_metric, grain: month, window: 3, agg: sum}}
output: {{property: {name}}}
schedule: weekly
""",
    "anomaly": """\
# {name}: how unusual each {entity} looks against its own history. Edit, then `brain check`.
name: {name}
description: How unusual ... is (0..1).
owner: someone@example.com
task: anomaly
entity: {entity}
snapshots: {{every_days: 7}}
features:
  # recent: {{metric: some_metric, window: 28, agg: sum}}
output: {{property: {name}}}
thresholds: {{alert: 0.99}}
schedule: weekly
""",
    "forecast": """\
# {name}: a metric forecast by dimensions, period by period. Edit, then `brain check`.
name: {name}
description: Weekly ... by ..., 13 weeks ahead.
owner: someone@example.com
task: forecast
series: {{metric: some_metric, by: [some_dimension], grain: week}}
horizon: 13
output: {{object: {object}}}
schedule: weekly
""",
}


def _print_results(results: list[dict[str, Any]], step: str) -> None:
    rows = []
    for r in results:
        if r["status"] != "ok":
            rows.append({"usecase": r["usecase"], "status": "failed", "detail": r["error"]})
            continue
        if "backtest" in r:
            detail = _compare(r["backtest"], r["task"])
            rows.append({"usecase": r["usecase"], "status": f"v{r['version']} {r['promotion']}", "detail": detail})
        else:
            what = f"{r.get('scored', r.get('forecasts'))} rows -> {r['written_to']}"
            rows.append({"usecase": r["usecase"], "status": f"scored with v{r['version']}", "detail": what})
    print_rows(rows, title=f"factory {step}")
    for r in results:
        if r["status"] == "ok" and r.get("promotion_reason"):
            console.print(f"{r['usecase']}: {r['promotion_reason']}", style="dim")
        for warning in r.get("backtest", {}).get("warnings", []):
            err_console.print(f"warning: {r['usecase']}: {warning}")


def _compare(backtest: dict[str, Any], task: str) -> str:
    keys = {"forecast": ["smape", "mase"], "classify": ["roc_auc", "average_precision"], "regress": ["mae", "r2"]}
    parts = []
    for key in keys.get(task, []):
        model, base = backtest["model"].get(key), backtest["baseline"].get(key)
        if model is not None and base is not None:
            parts.append(f"{key} {model:.3f} vs baseline {base:.3f}")
    return "; ".join(parts) or f"{backtest['model'].get('rows', 0):.0f} holdout rows (no labels)"


def register(app: typer.Typer, state: Any) -> None:
    group = typer.Typer(
        help="The AI factory: use cases trained, backtested, versioned and scored.", no_args_is_help=True
    )
    app.add_typer(group, name="factory")

    @group.command()
    def new(
        name: Annotated[str, typer.Argument(help="Use case name (snake_case).")],
        task: Annotated[str, typer.Option("--task", help="classify, regress, anomaly or forecast.")] = "classify",
        entity: Annotated[str | None, typer.Option("--entity", help="Object type scored (not for forecast).")] = None,
    ) -> None:
        """Write usecases/NAME.yaml from a template to edit."""
        from companybrain.project import find_project
        from companybrain.specs.usecases import USECASE_NAME

        if task not in TEMPLATES:
            raise BrainError(f"unknown task {task!r}", hint=f"use one of {', '.join(TEMPLATES)}")
        if not re.match(USECASE_NAME, name):
            raise BrainError(f"use case name {name!r} must be snake_case (a-z, 0-9, _)")
        if task != "forecast" and not entity:
            raise BrainError(f"a {task} use case needs --entity (the object type it scores)")
        root = find_project(state.project)
        path = root / "usecases" / f"{name}.yaml"
        if path.exists():
            raise ConfigError.at(
                Location(str(path.relative_to(root))), "already exists; edit it or choose another name"
            )
        path.parent.mkdir(exist_ok=True)
        obj = "".join(p.title() for p in name.split("_"))
        path.write_text(TEMPLATES[task].format(name=name, entity=entity, object=obj), encoding="utf-8")
        console.print(
            f"wrote {Path('usecases') / path.name}; edit it, then `brain check` and `brain factory train {name}`"
        )

    @group.command("list")
    def list_(format: FormatOpt = "table") -> None:  # type: ignore[assignment]
        """The project's use cases with their champion and its backtest against the baseline."""
        from companybrain.cli.served import run_command

        rows = run_command(state, "factory.list")
        if format == "json":
            print_json(rows)
        else:
            print_rows(rows, title="use cases", formats={"champion_score": "number", "baseline_score": "number"})

    @group.command()
    def train(
        usecases: Annotated[list[str] | None, typer.Argument(metavar="[USECASE]...", help="Default: all.")] = None,
        format: FormatOpt = "table",  # type: ignore[assignment]
    ) -> None:
        """Build point-in-time training sets, backtest against the baseline, register, promote by the rule."""
        from companybrain import factory

        with open_brain(state) as brain:
            results = factory.train(brain, usecases, progress=_progress)
        _finish(results, "train", format)

    @group.command()
    def score(
        usecases: Annotated[list[str] | None, typer.Argument(metavar="[USECASE]...", help="Default: all.")] = None,
        format: FormatOpt = "table",  # type: ignore[assignment]
    ) -> None:
        """Score with each champion and write the predictions onto the ontology."""
        from companybrain import factory

        with open_brain(state) as brain:
            results = factory.score(brain, usecases, progress=_progress)
        _finish(results, "score", format)

    @group.command()
    def show(
        usecase: Annotated[str, typer.Argument(help="Use case name.")],
        format: FormatOpt = "table",  # type: ignore[assignment]
    ) -> None:
        """Versions, the champion's backtest, lineage, feature drift and live accuracy."""
        from companybrain.cli.served import run_command

        report = run_command(state, "factory.show", usecase=usecase)
        if format == "json":
            print_json(report)
            return
        console.print(f"[bold]{report['usecase']}[/] ({report['task']} -> {report['output']}), owner {report['owner']}")
        console.print(report["description"], style="dim")
        print_rows([{k: v for k, v in ver.items() if k != "metrics"} for ver in report["versions"]], title="versions")
        if "backtest" in report:
            bt = report["backtest"]
            keys = sorted(set(bt["model"]) | set(bt["baseline"]))
            print_rows(
                [{"metric": k, "model": bt["model"].get(k), "baseline": bt["baseline"].get(k)} for k in keys],
                title=f"backtest of the champion ({report['model_family']} vs {report['baseline']})",
            )
            _print_choices(report)
            console.print(f"lineage: {', '.join(report['lineage'].get('source_tables', []))}", style="dim")
            console.print(f"objects: {', '.join(report['lineage'].get('objects', []))}", style="dim")
        if report.get("drift"):
            drift = report["drift"]
            if "status" in drift and isinstance(drift["status"], str):
                console.print(f"drift: {drift['status']} ({drift.get('reason', '')})")
            else:
                print_rows([{"feature": k, **v} for k, v in drift.items()], title="feature drift (PSI) now vs training")
        if "live_accuracy" in report:
            console.print(f"live accuracy: {report['live_accuracy']}")

    @group.command()
    def promote(
        usecase: Annotated[str, typer.Argument(help="Use case name.")],
        version: Annotated[int, typer.Argument(help="The version to make the champion.")],
        reason: Annotated[str, typer.Option("--reason", help="Why (kept on the version and audited).")],
        user: AsOpt = None,
        format: FormatOpt = "table",  # type: ignore[assignment]
    ) -> None:
        """Make a version the champion by a person's decision, with a reason (audited)."""
        from companybrain import factory

        with open_brain(state) as brain:
            result = factory.promote(brain, usecase, version, user, reason)
        if format == "json":
            print_json(result)
            return
        before = f" (was v{result['previous']})" if result["previous"] else ""
        console.print(f"{usecase}: v{result['champion']} is the champion{before}, promoted by {result['promoted_by']}")
        console.print(result["hint"], style="dim")

    @group.command()
    def label(
        usecase: Annotated[str, typer.Argument(help="An anomaly use case.")],
        key: Annotated[str, typer.Argument(help="The scored object's key.")],
        confirmed: Annotated[
            bool, typer.Option("--confirmed/--dismissed", help="It was an anomaly, or it was not.")
        ] = True,
        as_of: Annotated[
            str | None, typer.Option("--as-of", help="The score judged (YYYY-MM-DD; default: its latest).")
        ] = None,
        reason: Annotated[str | None, typer.Option("--reason", help="What was found (recorded).")] = None,
        user: AsOpt = None,
        format: FormatOpt = "table",  # type: ignore[assignment]
    ) -> None:
        """Confirm or dismiss an anomaly score: a label the next training compares versions on (audited)."""
        from datetime import date

        from companybrain import factory

        try:
            when = date.fromisoformat(as_of) if as_of else None
        except ValueError:
            raise BrainError(f"--as-of {as_of!r} is not a date", hint="give it as YYYY-MM-DD") from None
        with open_brain(state) as brain:
            result = factory.label(brain, usecase, key, "confirmed" if confirmed else "dismissed", user, when, reason)
        if format == "json":
            print_json(result)
            return
        console.print(f"{usecase}: {key} as of {result['as_of']} {result['verdict']} by {result['labelled_by']}")


def _print_choices(report: dict[str, Any]) -> None:
    """What the champion chose on its training window, and what its intervals held in the backtest."""
    bt = report["backtest"]
    intervals = report.get("intervals")
    if intervals:
        held = ", ".join(
            f"{level} interval held {100 * share:.1f}%" if share is not None else f"{level}: n/a"
            for level, share in intervals["backtest_coverage"].items()
        )
        how = "conformal, per horizon step" if intervals["calibrated"] else "the models' own (not calibrated)"
        console.print(f"intervals ({how}): {held} of the backtest's actuals")
        folds = intervals.get("members_per_fold") or []
        chosen_then = "; ".join("+".join(m) for m in folds)
        console.print(
            f"forecaster: {'+'.join(intervals['members'])} (chosen on the history's windows; "
            f"each backtest fold chose on the windows before it: {chosen_then or 'n/a'})",
            style="dim",
        )
        for metric, effect in (intervals.get("regressors") or {}).items():
            console.print(
                f"regressor {metric} (future: {effect['future']}): coefficient {effect['coefficient']} "
                "on log(1 + forecast) per unit",
                style="dim",
            )
    chosen = bt.get("chosen_for_version") or bt.get("chosen")
    if chosen:
        console.print(
            f"chosen on the training window: {chosen['family']} {chosen['params']} "
            f"(inner {chosen['inner']['metric']} {chosen['inner_score']}, {chosen['trials']} trials, "
            f"calibration {chosen['calibration']})",
            style="dim",
        )
    if "labels" in bt:
        console.print(f"labels: {bt['labels']}", style="dim")
    champion = report.get("champion") or {}
    if champion.get("promoted_by"):
        console.print(f"promoted by {champion['promoted_by']}: {champion['promotion_reason']}", style="dim")


def _progress(name: str, step: str) -> None:
    err_console.print(f"{step} {name} ...", style="dim")


def _finish(results: list[dict[str, Any]], step: str, format: str) -> None:
    if format == "json":
        print_json(results)
    else:
        _print_results(results, step)
    if any(r["status"] != "ok" for r in results):
        raise typer.Exit(1)

"""Copilot commands: `brain ask` and `brain copilot eval`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from companybrain.cli.data import open_brain
from companybrain.cli.options import AsOpt
from companybrain.cli.output import FormatOpt, console, print_json, print_rows
from companybrain.errors import ConfigError, Location

if TYPE_CHECKING:
    from companybrain.copilot import MetricPlan


def _previous(path: Path | None) -> MetricPlan | None:
    """The plan a follow-up modifies: a plan's JSON, or a whole `brain ask --format json` answer."""
    if path is None:
        return None
    from companybrain.copilot import MetricPlan, parse_plan

    try:
        data = json.loads(path.read_text())
        plan = parse_plan(data.get("plan", data))
    except (OSError, ValueError) as exc:
        raise ConfigError.at(Location(str(path)), f"not a copilot plan: {exc}") from None
    if not isinstance(plan, MetricPlan):
        raise ConfigError.at(Location(str(path)), "a follow-up needs a previous metric_query plan")
    return plan


EngineOpt = Annotated[
    str | None,
    typer.Option("--engine", envvar="BRAIN_COPILOT_ENGINE", help="embedded or llm (default: brain.yaml copilot)."),
]


def _check_engine(engine: str | None) -> None:
    from companybrain.copilot.answer import ENGINES

    if engine not in (None, *ENGINES):
        raise typer.BadParameter(f"choose one of: {', '.join(ENGINES)}", param_hint="--engine")


def register(app: typer.Typer, state: Any) -> None:
    copilot_app = typer.Typer(help="The copilot: evaluate it on a golden set.", no_args_is_help=True)
    app.add_typer(copilot_app, name="copilot")

    @app.command()
    def ask(
        question: Annotated[
            str,
            typer.Argument(
                help="A question about the company's metrics, or a change to propose ('delay order 1234 by 5 days')."
            ),
        ],
        context: Annotated[
            Path | None, typer.Option("--context", help="JSON of the previous plan (or answer) to follow up on.")
        ] = None,
        user: AsOpt = None,
        engine: EngineOpt = None,
        format: FormatOpt = "table",  # type: ignore[assignment]
    ) -> None:
        """Ask the brain a question; answered through the governed query path as you. A change asked for is
        submitted as a proposal awaiting approval (`brain actions approve`), never applied."""
        from companybrain.cli.served import run_command

        _check_engine(engine)
        previous = _previous(context)
        found = run_command(
            state,
            "ask",
            question=question,
            previous=previous.model_dump(mode="json") if previous is not None else None,
            user=user,
            engine=engine,
        )
        answer = found["answer"]
        if format == "json":
            print_json(answer)
            return
        console.print(answer["answer"])
        table = found["proposal"]
        if table is not None:  # what was proposed, and from where
            print_rows([dict(zip(table["columns"], row, strict=True)) for row in table["rows"]])
        if "definitions" in answer:  # a metric plan's result
            forms = {m: d.get("format", "number") for m, d in answer["definitions"].items()}
            columns = answer["table"]["columns"]
            records = [dict(zip(columns, row, strict=True)) for row in answer["table"]["rows"]]
            print_rows(records[:50], formats=forms)
            console.print(f"[dim]plan: {json.dumps(found['plan_shown'])}[/dim]")
            version = answer["freshness"].get("data_version")
            console.print(f"[dim]data: {version}; as {answer['user']}; by {answer['source']}[/dim]")

    @copilot_app.command("eval")
    def eval_(
        golden: Annotated[
            Path | None,
            typer.Option(
                "--set",
                help="A golden set (expected plans; default copilot/golden.yaml) or an independent set (expected "
                "values: `expect: answer|abstain`, e.g. benchmarks/copilot/dev_set.yaml).",
            ),
        ] = None,
        engine: EngineOpt = None,
        format: FormatOpt = "table",  # type: ignore[assignment]
    ) -> None:
        """Run the golden set: exact answers, correct abstentions, wrong answers, latency, by domain."""
        from companybrain.copilot.evaluate import TARGETS, default_golden, evaluate, load_golden
        from companybrain.copilot.scoring import is_value_set

        _check_engine(engine)
        if golden is not None and golden.is_file() and is_value_set(golden):
            _eval_values(golden, engine, format)
            return
        with open_brain(state) as brain:
            report = evaluate(brain, load_golden(golden or default_golden(brain)), engine)
        if format == "json":
            print_json(report)
        else:
            rows = [{"domain": "all", **{k: v for k, v in report.items() if not isinstance(v, dict | list | bool)}}]
            rows += [{"domain": d, **f} for d, f in report["by_domain"].items()]
            print_rows(rows, title="copilot golden set")
            for miss in report["misses"]:
                console.print(
                    f"[yellow]{miss['verdict']}[/yellow] ({miss['user']}) {miss['question']} -> {miss['plan']}"
                )
            console.print(
                f"targets: exact >= {TARGETS['exact_accuracy']:.0%}, abstention >= "
                f"{TARGETS['abstention_accuracy']:.0%}, wrong <= {TARGETS['wrong_rate']:.0%}: "
                + ("[green]passed[/green]" if report["passed"] else "[red]below target[/red]")
            )
        if not report["passed"]:
            raise typer.Exit(1)

    def _eval_values(path: Path, engine: str | None, format: str) -> None:
        """An independent set (expected values from the source systems): exact, wrong, abstention, crashes."""
        from companybrain.copilot.scoring import TARGETS as VALUE_TARGETS
        from companybrain.copilot.scoring import evaluate_values, load_value_set

        with open_brain(state) as brain:
            report = evaluate_values(brain, load_value_set(path), engine)
        if format == "json":
            print_json(report)
        else:
            rows = [{"by": "all", **{k: v for k, v in report.items() if not isinstance(v, dict | list | bool)}}]
            rows += [{"by": d, **f} for d, f in report["by_domain"].items()]
            rows += [{"by": u, **f} for u, f in report["by_user"].items()]
            print_rows(rows, title=f"copilot: {path.name}")
            for miss in report["misses"]:
                console.print(f"[yellow]{miss['verdict']}[/yellow] {miss['id']} ({miss['user']}) {miss['question']}")
            t = VALUE_TARGETS
            console.print(
                f"targets: exact >= {t['exact_accuracy']:.0%}, wrong <= {t['wrong_rate']:.0%}, abstention >= "
                f"{t['abstention_accuracy']:.0%}, no crash: "
                + ("[green]passed[/green]" if report["passed"] else "[red]below target[/red]")
            )
        if not report["passed"]:
            raise typer.Exit(1)

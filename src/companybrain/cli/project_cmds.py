"""Project commands: init, check, schema."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from companybrain.cli.output import FormatOpt, console, print_json
from companybrain.errors import BrainError, ConfigError, Location

if TYPE_CHECKING:
    from companybrain.project import Project

# the kinds of specs.schema.KINDS, named here so that `brain --help` need not import the spec models
# (tests/test_cli_startup.py checks that the two agree)
SCHEMA_KINDS = ("project", "ontology", "app")


def register(app: typer.Typer, state: Any) -> None:
    @app.command()
    def init(folder: Annotated[Path, typer.Argument(help="Folder for the new project (created if missing).")]) -> None:
        """Scaffold an empty brain project."""
        from companybrain.scaffold import init_project

        written = init_project(folder)
        console.print(f"Created a brain project in {folder} ({len(written)} files).")
        console.print(f"Next: add sources to {folder / 'brain.yaml'}, then `brain -p {folder} check`.")

    @app.command()
    def check(format: FormatOpt = "table") -> None:  # type: ignore[assignment]
        """Validate every file of the project; report each problem with file, line, key and fix."""
        from companybrain.project import Project, find_project

        root = find_project(state.project)
        problems: list[dict[str, Any]] = []
        summary: dict[str, Any] = {}
        try:
            project = Project.load(root)
            summary = {
                "sources": len(project.spec.sources),
                "tables": len(project.raw_tables()),
                "object_types": len(project.objects),
            }
            found = _alert_problems(project) + _loaded_data_problems(project)
        except ConfigError as exc:
            found = exc.problems
        problems = [{"file": loc.file, "line": loc.line, "key": loc.key, "message": msg} for loc, msg in found]
        if format == "json":
            print_json({"ok": not problems, "problems": problems, **summary})
        elif problems:
            for p in problems:
                where = p["file"] + (f":{p['line']}" if p["line"] else "")
                key = f" ({p['key']})" if p["key"] else ""
                console.print(f"[red]✗[/] {where}{key}: {p['message']}", highlight=False)
        else:
            console.print(
                f"[green]✓[/] project is valid: {summary['sources']} sources, {summary['tables']} tables, "
                f"{summary['object_types']} object types"
            )
        if problems:
            raise typer.Exit(1)

    def _alert_problems(project: Project) -> list[tuple[Location, str]]:
        """What the alert engine would refuse when it loads (a shared channel whose audience reads unalike,
        as_user on a rule that is not a replan, ...), said by `brain check` first."""
        from companybrain.delivery.recipients import check_rules
        from companybrain.semantic.model import SemanticModel

        return check_rules(project, SemanticModel(project))

    def _loaded_data_problems(project: Project) -> list[tuple[Location, str]]:
        """What the landed data shows (a mapped column the raw table lacks), when the warehouse can be read
        without writing; nothing when it cannot (not loaded yet, held by a running service)."""
        from companybrain.project import expand_env
        from companybrain.project_checks import warehouse_problems
        from companybrain.warehouse import connect

        try:
            wh = connect(expand_env(project.spec.warehouse), project.root, read_only=True)
        except BrainError:
            return []
        try:
            return warehouse_problems(project, wh)
        except BrainError:
            return []
        finally:
            wh.close()

    @app.command()
    def schema(
        kind: Annotated[str, typer.Argument(help=f"Which file: {', '.join(SCHEMA_KINDS)}.")] = "project",
        out: Annotated[Path | None, typer.Option(help="Write every schema as DIR/<kind>.json instead.")] = None,
    ) -> None:
        """Print the JSON Schema of a project file (for editor completion and checks)."""
        from companybrain.specs.schema import KINDS, json_schema

        if out is not None:
            out.mkdir(parents=True, exist_ok=True)
            for name in KINDS:
                (out / f"{name}.json").write_text(json.dumps(json_schema(name), indent=2) + "\n")
            console.print(f"Wrote {', '.join(f'{k}.json' for k in KINDS)} to {out}")
            return
        if kind not in KINDS:
            raise typer.BadParameter(f"unknown kind {kind!r}; choose from {', '.join(KINDS)}")
        print_json(json_schema(kind))

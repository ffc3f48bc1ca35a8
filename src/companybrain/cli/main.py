"""Entry point: global options, the command groups, and the one error handler."""

from __future__ import annotations

import os
import sys
from typing import Annotated

import typer
from rich.markup import escape

from companybrain.cli import (
    actions_cmds,
    alerts_cmds,
    apps_cmds,
    copilot_cmds,
    data,
    decisions_cmds,
    demo,
    factory_cmds,
    project_cmds,
    scenario_cmds,
    semantic_cmds,
    service_cmds,
    supply_cmds,
)
from companybrain.cli.output import err_console
from companybrain.errors import BrainError

app = typer.Typer(
    name="brain",
    help="Company Brain: one self-hosted company model, from source systems to decisions.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


class State:
    project: str | None = None
    debug: bool = False


state = State()


def _print_version(value: bool) -> None:
    """`brain --version`: the installed package's version, from its metadata."""
    if not value:
        return
    from importlib.metadata import PackageNotFoundError, version

    try:
        installed = version("companybrain")
    except PackageNotFoundError:  # run from a source tree that was never installed
        from companybrain import __version__ as installed
    typer.echo(f"brain {installed}")
    raise typer.Exit()


@app.callback()
def root(
    project: Annotated[
        str | None,
        typer.Option("--project", "-p", envvar="BRAIN_PROJECT", help="Project folder (default: the current folder)."),
    ] = None,
    debug: Annotated[bool, typer.Option("--debug", envvar="BRAIN_DEBUG", help="Show tracebacks on errors.")] = False,
    version: Annotated[
        bool,
        typer.Option("--version", callback=_print_version, is_eager=True, help="Print the version and exit."),
    ] = False,
) -> None:
    state.project = project
    state.debug = debug


project_cmds.register(app, state)
data.register(app, state)
semantic_cmds.register(app, state)
decisions_cmds.register(app, state)
service_cmds.register(app, state)
service_cmds.register_mcp(app, state)
copilot_cmds.register(app, state)
scenario_cmds.register(app, state)
actions_cmds.register(app, state)
apps_cmds.register(app, state)
alerts_cmds.register(app, state)
factory_cmds.register(app, state)
supply_cmds.register(app, state)
app.add_typer(demo.make_app(state), name="demo")


def main() -> None:
    """Run the CLI: a BrainError prints `Error: ...` and exits 1; --debug shows the traceback."""
    try:
        app(prog_name="brain")
    except BrainError as exc:
        if state.debug or os.environ.get("BRAIN_DEBUG"):
            raise
        err_console.print(f"[bold red]Error:[/] {escape(exc.message)}", highlight=False, soft_wrap=True)
        if exc.hint:
            err_console.print(f"  hint: {exc.hint}", highlight=False, markup=False, soft_wrap=True)
        sys.exit(1)
    except KeyboardInterrupt:
        err_console.print("Interrupted.")
        sys.exit(130)


if __name__ == "__main__":
    main()

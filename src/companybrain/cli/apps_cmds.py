"""App commands (`brain app ...`): scaffold an app from a use case, list the apps, show one's worklist."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from companybrain.cli.options import AsOpt
from companybrain.cli.output import FormatOpt, console, print_json, print_rows
from companybrain.errors import BrainError


def _filters(pairs: list[str]) -> dict[str, str]:
    found = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise BrainError(f"--filter takes column=value, got {pair!r}", hint="--filter site_id=MKE")
        found[name.strip()] = value
    return found


def register(app: typer.Typer, state: Any) -> None:
    group = typer.Typer(help="Apps: worklists declared in apps/*.yaml.", no_args_is_help=True)
    app.add_typer(group, name="app")

    @group.command("new")
    def new(
        name: Annotated[str, typer.Argument(help="The app's name (snake_case): apps/NAME.yaml.")],
        from_usecase: Annotated[str, typer.Option("--from-usecase", help="The use case it lists the scores of.")],
    ) -> None:
        """Write apps/NAME.yaml from a use case: its entity ranked by its score, or its forecast rows."""
        from companybrain.apps.scaffold import write_app
        from companybrain.project import Project, find_project

        path = write_app(Project.load(find_project(state.project)), name, from_usecase)
        console.print(f"Wrote {path}: edit it, run `brain check`, then open it in the cockpit (Apps).")

    @group.command("list")
    def list_(format: FormatOpt = "table") -> None:  # type: ignore[assignment]
        """The project's apps: what each lists, ranked by what, and who it is for."""
        from companybrain.apps.worklist import title
        from companybrain.project import Project, find_project

        project = Project.load(find_project(state.project))
        rows = [
            {
                "app": a.name,
                "title": title(a),
                "lists": a.object,
                "ranked by": a.rank.column,
                "for": ", ".join([*(a.audience.roles if a.audience else []), *(a.audience.users if a.audience else [])])
                or "whoever may read it",
            }
            for a in project.apps.values()
        ]
        if format == "json":
            print_json(rows)
        else:
            print_rows(rows, title="apps")

    @group.command("show")
    def show(
        name: Annotated[str, typer.Argument(help="The app.")],
        sort: Annotated[str | None, typer.Option(help="A column; -column for descending.")] = None,
        filter: Annotated[list[str] | None, typer.Option("--filter", help="column=value (repeat).")] = None,
        limit: Annotated[int | None, typer.Option(help="Rows to show (at most the app's limit).")] = None,
        as_user: AsOpt = None,
        format: FormatOpt = "table",  # type: ignore[assignment]
    ) -> None:
        """The app's worklist as the user may see it (their row filters and masking apply)."""
        from companybrain.apps import worklist as wl
        from companybrain.cli.data import open_brain

        with open_brain(state) as brain:
            principal = brain.principal(as_user)
            app_spec = wl.find_app(brain.project, name)
            asked = wl.parse_asked(brain.project, app_spec, principal, sort, _filters(filter or []), limit)
            found = wl.worklist(brain, app_spec, principal, asked)
        if format == "json":
            print_json(found)
            return
        tiles = "; ".join(f"{t['count']} of {t['scored']} at {t['name']} (>= {t['level']:g})" for t in found["tiles"])
        console.print(
            f"{found['title']}: {found['matching']} {found['object']} records" + (f"; {tiles}" if tiles else "")
        )
        rows = [{**r["values"], **({"why": r["reasons"]} if r["reasons"] else {})} for r in found["rows"]]
        print_rows(rows, title=f"{found['name']} (sorted by {found['sort']})")
        if found["hidden_columns"]:
            console.print(f"Hidden from you: {', '.join(found['hidden_columns'])}")

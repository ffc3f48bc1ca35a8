"""Supply commands: project component shortages from the demand forecast and the open purchase orders."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from companybrain.cli.options import AsOpt
from companybrain.cli.output import FormatOpt, console, print_json, print_rows


def register(app: typer.Typer, state: Any) -> None:
    group = typer.Typer(help="Supply: projected component shortages and what they put at risk.", no_args_is_help=True)
    app.add_typer(group, name="supply")

    @group.command()
    def project(
        forecast: Annotated[
            str, typer.Option(help="The forecast use case whose demand is exploded.")
        ] = "demand_forecast",
        top: Annotated[int, typer.Option(min=0, max=1000, help="Shortages to list (json has them all).")] = 10,
        user: AsOpt = None,
        format: FormatOpt = "table",  # type: ignore[assignment]
    ) -> None:
        """Explode the demand forecast through the bills of materials, net it against stock and the open
        purchase orders at their predicted arrival, and write the shortages (ProjectedShortage objects)."""
        from companybrain.cli.data import open_brain

        with open_brain(state) as brain:
            projection = brain.project_shortages(user, forecast)
        rows = sorted(projection.rows, key=lambda r: (-r["revenue_at_risk"], r["week"]))
        if format == "json":
            print_json(
                {"start": projection.start, "weeks": projection.weeks, "totals": projection.totals(), "shortages": rows}
            )
            return
        columns = ["week", "site_id", "component_id", "supplier_id", "qty_short", "orders_at_risk", "revenue_at_risk"]
        print_rows(
            rows[:top], title=f"projected shortages from {projection.start} ({projection.weeks} weeks)", columns=columns
        )
        totals = ", ".join(f"{k} {v:,}" for k, v in projection.totals().items())
        console.print(f"total: {totals}; written as ProjectedShortage objects", style="dim")

"""Decision commands: replan the network when capacity is lost."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Annotated, Any

import typer

from companybrain.cli.data import open_brain
from companybrain.cli.options import AsOpt
from companybrain.cli.output import FormatOpt, console, print_json, print_rows
from companybrain.errors import BrainError


def _disruption(
    file: Path | None, site: str | None, line: str | None, capacity: float, start: str | None, days: int | None
) -> Any:
    from pydantic import ValidationError

    from companybrain.decisions.network import Disruption, load_disruption

    if file is not None:
        if site or line or start or days:
            raise BrainError("give the disruption either as --file or as --site/--line/--from/--days, not both")
        return load_disruption(file)
    if not site or not start or not days:
        raise BrainError(
            "a disruption needs --site, --from and --days (or --file)",
            hint="brain replan --site Milwaukee --line L3 --capacity 0 --from 2026-03-02 --days 10",
        )
    try:
        return Disruption(site=site, line=line, capacity=capacity, start=date.fromisoformat(start), days=days)
    except ValueError as exc:  # pydantic's ValidationError and a bad ISO date are both ValueErrors
        detail = "; ".join(e["msg"] for e in exc.errors()) if isinstance(exc, ValidationError) else str(exc)
        raise BrainError(
            f"invalid disruption: {detail}", hint="capacity is 0..1, --from YYYY-MM-DD, --days > 0"
        ) from None


def register(app: typer.Typer, state: Any) -> None:
    @app.command()
    def replan(
        site: Annotated[str | None, typer.Option(help="Disrupted site: site_id, name or city.")] = None,
        line: Annotated[str | None, typer.Option(help="Disrupted line (MKE-L3 or L3); all lines if omitted.")] = None,
        capacity: Annotated[float, typer.Option(help="Fraction of capacity kept, 0..1.")] = 0.0,
        start: Annotated[str | None, typer.Option("--from", help="First day of the disruption (YYYY-MM-DD).")] = None,
        days: Annotated[int | None, typer.Option(help="Length of the disruption in days.")] = None,
        file: Annotated[Path | None, typer.Option("--file", help="The disruption as a YAML or JSON file.")] = None,
        actions: Annotated[int, typer.Option(help="Actions to show in the table (json has all).")] = 25,
        propose: Annotated[
            bool, typer.Option("--propose", help="Propose the plan's actions as one batch (brain actions approve).")
        ] = False,
        time_limit: Annotated[
            float | None,
            typer.Option(
                "--time-limit",
                min=0.1,
                help="Seconds the planner may search (default: by size, 2 s up to 4,000 order parts, 5 s at 20,000); "
                "it stops sooner once the plan is proven within 0.01% of optimal.",
            ),
        ] = None,
        user: AsOpt = None,
        format: FormatOpt = "table",  # type: ignore[assignment]
    ) -> None:
        """Replan orders across sites, lines and weeks after a capacity loss; who must be told what."""
        disruption = _disruption(file, site, line, capacity, start, days)
        proposed: list[dict[str, Any]] = []
        if propose and time_limit is not None:
            raise BrainError(
                "--time-limit is not supported with --propose yet",
                hint="propose with the default time limit: brain replan ... --propose",
            )
        with open_brain(state) as brain:
            if propose:
                plan, proposed, entry = brain.propose_replan(disruption, user)
            elif time_limit is not None:
                from companybrain.decisions.replan import replan as replan_network

                plan = replan_network(brain, disruption, user, time_limit=time_limit)
            else:
                plan = brain.replan(disruption, user)
        if format == "json":
            print_json({**plan.as_dict(), "proposed": proposed, "ledger_entry": entry} if propose else plan.as_dict())
            return
        if propose:
            batch = proposed[0]["batch_id"] if proposed else None
            console.print(
                f"proposed {len(proposed)} action(s) as batch {batch} (value ledger entry {entry}): "
                f"brain actions approve --batch {batch}"
                if proposed
                else "the plan has no actions to propose",
                style="bold",
            )
        k = plan.kpis
        rows = []
        for key in (
            "revenue_at_risk",
            "late_orders_total",
            "weighted_lateness_days",
            "lateness_penalty",
            "extra_freight",
            "production_cost_delta",
            "parts_short",
            "expedite_cost",
            "margin_impact",
            "objective",
            "moved_items",
        ):
            row = {
                "kpi": key,
                "no disruption": k["no_disruption"][key],
                "baseline (local scramble)": k["baseline"][key],
                "plan": k["plan"][key],
                "improvement": plan.improvement.get(key),
            }
            rows.append(row)
        for tier in ("strategic", "key", "standard"):
            rows.append(
                {
                    "kpi": f"late orders: {tier}",
                    **{
                        c: k[s]["late_orders"][tier]
                        for c, s in (
                            ("no disruption", "no_disruption"),
                            ("baseline (local scramble)", "baseline"),
                            ("plan", "plan"),
                        )
                    },
                }
            )
        numbers = {c: "currency" for c in ("no disruption", "baseline (local scramble)", "plan", "improvement")}
        print_rows(rows, title=f"replan: {', '.join(plan.assumptions['disrupted_lines'])}", formats=numbers)
        shown = plan.actions[:actions]
        print_rows(
            [{"action": a["action"], "tier": a.get("tier", ""), "what": a["text"]} for a in shown],
            title=f"actions ({len(shown)} of {len(plan.actions)})",
        )
        print_rows(
            [
                {
                    "to": f"{n['role']} {n['employee_id'] or n['about']}"
                    + (f" ({n['name']})" if n.get("name") else ""),
                    "subject": n["subject"],
                    "message": n["message"],
                }
                for n in plan.notifications
            ],
            title="who must be told what",
        )
        console.print(
            f"plan cost {plan.cost:,.0f} USD, proven lower bound {plan.lower_bound:,.0f} ({plan.bound_kind}), "
            f"gap {plan.gap:.2%}; {plan.items} order parts, solved in {plan.solve_seconds:.2f} s; as {plan.user}",
            style="dim",
        )

"""Decision commands: replan the network when capacity is lost."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Annotated, Any

import typer

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
        actions: Annotated[int, typer.Option(help="Actions to list in the summary (json has them all).")] = 10,
        propose: Annotated[
            bool, typer.Option("--propose", help="Propose the plan's actions as one batch (brain actions approve).")
        ] = False,
        time_limit: Annotated[
            float | None,
            typer.Option(
                "--time-limit",
                min=0.1,
                max=3600.0,
                help="Seconds the planner may search (default: by size, 2 s up to 4,000 order parts, 5 s at 20,000); "
                "it stops sooner once the plan is proven within 0.01% of optimal.",
            ),
        ] = None,
        user: AsOpt = None,
        format: FormatOpt = "table",  # type: ignore[assignment]
    ) -> None:
        """Replan orders across sites, lines and weeks after a capacity loss; who must be told what. Prints a
        summary (the KPIs, what moves where, the delays, the first actions and messages); --format json has
        every action and message."""
        from companybrain.cli.served import run_command

        disruption = _disruption(file, site, line, capacity, start, days)
        found = run_command(
            state,
            "replan",
            disruption=disruption.model_dump(mode="json"),
            user=user,
            propose=propose,
            time_limit=time_limit,
        )
        plan = found["plan"]
        if format == "json":
            extra = {"proposed": found["proposed"], "ledger_entry": found["ledger_entry"]} if propose else {}
            print_json({**plan, **extra})
            return
        _print_summary(plan, actions)
        if propose:
            proposed, entry = found["proposed"], found["ledger_entry"]
            batch = proposed[0]["batch_id"] if proposed else None
            console.print(
                f"proposed {len(proposed)} action(s) as batch {batch} (value ledger entry {entry}): "
                f"brain actions list --batch {batch}; brain actions approve --batch {batch}"
                if proposed
                else "the plan has no actions to propose",
                style="bold",
                soft_wrap=True,
            )


def _print_summary(plan: dict[str, Any], shown: int) -> None:
    """The plan in a screen or two: KPIs, what moves where, delays, the first actions and messages."""
    from companybrain.decisions.proposals import plan_summary

    summary = plan_summary(plan)
    k = plan["kpis"]
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
        rows.append(
            {
                "kpi": key,
                "no disruption": k["no_disruption"][key],
                "baseline (local scramble)": k["baseline"][key],
                "plan": k["plan"][key],
                "improvement": plan["improvement"].get(key),
            }
        )
    columns = (("no disruption", "no_disruption"), ("baseline (local scramble)", "baseline"), ("plan", "plan"))
    for tier in ("strategic", "key", "standard"):
        rows.append({"kpi": f"late orders: {tier}", **{c: k[s]["late_orders"][tier] for c, s in columns}})
    numbers = {c: "currency" for c in ("no disruption", "baseline (local scramble)", "plan", "improvement")}
    horizon = plan["horizon"]
    title = (
        f"replan: {', '.join(plan['assumptions']['disrupted_lines'])}, {horizon.get('start')} .. {horizon.get('end')}"
    )
    print_rows(rows, title=title, formats=numbers)
    kinds = ", ".join(f"{n:,} {kind}" for kind, n in summary["by_kind"].items()) or "none"
    customers = summary["customers"]
    tiers = ", ".join(f"{n} {t}" for t, n in customers["by_tier"].items())
    console.print(
        f"{summary['actions']:,} actions ({kinds}); {customers['total']:,} customers affected"
        + (f" ({tiers})" if tiers else ""),
        soft_wrap=True,
    )
    if summary["flows"]:
        flows = summary["flows"]
        print_rows(
            [
                {
                    "from": f"{f['from_line']} ({f['from_site']})",
                    "to": f"{f['to_line']} ({f['to_site']})",
                    "order parts": f["parts"],
                    "units": f["units"],
                    "value": f["value"],
                    "freight": f["freight"],
                }
                for f in flows[:12]
            ],
            title="what moves where" + (f" (the 12 largest of {len(flows)} flows)" if len(flows) > 12 else ""),
            formats={"order parts": "count", "units": "count", "value": "currency", "freight": "currency"},
        )
    delays = summary["delays"]
    if delays["orders"]:
        print_rows(
            [
                {"tier": t, "orders delayed": d["orders"], "value": d["value"], "longest delay (days)": d["days"]}
                for t, d in delays["by_tier"].items()
            ],
            title=f"delays ({delays['orders']:,} orders)",
            formats={"orders delayed": "count", "value": "currency"},
        )
    first = plan["actions"][:shown]
    if first:
        print_rows(
            [{"action": a["action"], "tier": a.get("tier", ""), "what": a["text"]} for a in first],
            title=f"actions (the first {len(first)} of {len(plan['actions']):,})",
        )
    messages = plan["notifications"]
    if messages:
        print_rows(
            [
                {
                    "to": f"{n['role']} {n['employee_id'] or n['about']}"
                    + (f" ({n['name']})" if n.get("name") else ""),
                    "subject": n["subject"],
                }
                for n in messages[:shown]
            ],
            title=f"who must be told what (the first {min(shown, len(messages))} of {len(messages):,} messages)",
        )
    console.print(
        f"plan cost {plan['cost']:,.0f} USD, proven lower bound {plan['lower_bound']:,.0f} ({plan['bound_kind']}), "
        f"gap {plan['gap']:.2%}; {plan['items']} order parts, solved in {plan['solve_seconds']:.2f} s; as "
        f"{plan['user']}; every action and message: --format json",
        style="dim",
        soft_wrap=True,
    )

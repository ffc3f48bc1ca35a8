"""Action commands (`brain actions ...`) and the value ledger (`brain value`)."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from companybrain.cli.options import AsOpt
from companybrain.cli.output import FormatOpt, console, print_json, print_rows
from companybrain.cli.served import run_command
from companybrain.errors import BrainError

IdsArg = Annotated[list[int] | None, typer.Argument(help="Action ids (brain actions list).")]
BatchOpt = Annotated[int | None, typer.Option("--batch", help="Every action of this batch.")]


def _params(pairs: list[str]) -> dict[str, Any]:
    params = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise BrainError(f"--param takes name=value, got {pair!r}", hint="--param order_id=11655 --param week=2")
        params[name.strip()] = value
    return params


def _print_actions(rows: list[dict[str, Any]], title: str) -> None:
    shown = [
        {
            "id": r["action_id"],
            "batch": r["batch_id"],
            "type": r["action_type"],
            "status": r["status"],
            "parameters": ", ".join(f"{k}={v}" for k, v in r["parameters"].items() if v is not None),
            "proposed by": r["proposed_by"],
            "approvals": ", ".join(a["user"] for a in r["approvals"]),
        }
        for r in rows
    ]
    print_rows(shown, title=title)


SHOWN = 20  # outcomes listed one by one; a batch of thousands is summed up (--format json lists them all)


def _outcomes(rows: list[dict[str, Any]], format: str) -> None:
    if format == "json":
        print_json(rows)
    elif len(rows) <= SHOWN:
        print_rows(rows, title="actions")
    else:
        counts: dict[str, int] = {}
        for o in rows:
            counts[o["status"]] = counts.get(o["status"], 0) + 1
        first = [o for o in rows if o["status"] == "failed"][:SHOWN] or rows[:SHOWN]
        print_rows(first, title=f"actions (the first {len(first)} of {len(rows):,}; --format json lists them all)")
        console.print(", ".join(f"{n:,} {status}" for status, n in sorted(counts.items())), style="bold")
    failed = [o for o in rows if o["status"] == "failed"]
    if failed:
        raise BrainError(
            f"{len(failed)} action(s) failed, {failed[0]['message']}",
            hint="fix the system that refused, then propose the actions again",
        )


def register(app: typer.Typer, state: Any) -> None:
    group = typer.Typer(help="Actions: propose, approve, reject and roll back (actions/*.yaml).", no_args_is_help=True)
    app.add_typer(group, name="actions")

    @group.command("types")
    def types(format: FormatOpt = "table") -> None:  # type: ignore[assignment]
        """The declared action types: parameters, who submits, who approves, what they write."""
        found = run_command(state, "actions.types")
        if format == "json":
            print_json(found)
            return
        rows = [
            {
                "type": t["name"],
                "parameters": ", ".join(t["parameters"]),
                "approval": " | ".join(t["approval"]),
                "effects": ", ".join(t["effects"]),
            }
            for t in found
        ]
        print_rows(rows, title="action types")

    @group.command("list")
    def list_(
        status: Annotated[str | None, typer.Option(help="proposed, applied, rejected, failed, rolled_back.")] = None,
        batch: BatchOpt = None,
        limit: Annotated[int, typer.Option(help="The latest N.")] = 50,
        format: FormatOpt = "table",  # type: ignore[assignment]
    ) -> None:
        """Actions, newest last."""
        rows = run_command(state, "actions.list", status=status, batch=batch, limit=limit)
        if format == "json":
            print_json(rows)
        else:
            _print_actions(rows, "actions")

    @group.command()
    def show(action_id: Annotated[int, typer.Argument()], format: FormatOpt = "table") -> None:  # type: ignore[assignment]
        """One action with its parameters, approvals and what applying it did."""
        row = run_command(state, "actions.show", action_id=action_id)
        if format == "json":
            print_json(row)
        else:
            print_rows([{"field": k, "value": v} for k, v in row.items()], title=f"action {action_id}")

    @group.command()
    def propose(
        action_type: Annotated[str, typer.Argument(help="Action type (brain actions types).")],
        param: Annotated[list[str] | None, typer.Option("--param", help="name=value (repeat).")] = None,
        user: AsOpt = None,
        format: FormatOpt = "table",  # type: ignore[assignment]
    ) -> None:
        """Propose one action; it is applied once the people its approval rule names approve it."""
        rows = run_command(
            state, "actions.propose", action_type=action_type, parameters=_params(param or []), user=user
        )
        if format == "json":
            print_json(rows)
        else:
            _print_actions(rows, "proposed")

    @group.command()
    def approve(
        ids: IdsArg = None,
        batch: BatchOpt = None,
        note: Annotated[str | None, typer.Option(help="Recorded with the approval.")] = None,
        user: AsOpt = None,
        format: FormatOpt = "table",  # type: ignore[assignment]
    ) -> None:
        """Approve actions; those whose approval is complete are applied together, or none of them."""
        outcomes = run_command(state, "actions.approve", ids=ids or [], batch=batch, user=user, note=note)
        _outcomes(outcomes, format)  # what was applied told whom its notify effects name, already

    @group.command()
    def reject(
        ids: IdsArg = None,
        batch: BatchOpt = None,
        reason: Annotated[str | None, typer.Option(help="Why (recorded).")] = None,
        user: AsOpt = None,
        format: FormatOpt = "table",  # type: ignore[assignment]
    ) -> None:
        """Reject proposed actions: nothing of them is applied."""
        outcomes = run_command(state, "actions.reject", ids=ids or [], batch=batch, user=user, reason=reason)
        _outcomes(outcomes, format)

    @group.command()
    def rollback(
        ids: IdsArg = None,
        batch: BatchOpt = None,
        user: AsOpt = None,
        format: FormatOpt = "table",  # type: ignore[assignment]
    ) -> None:
        """Undo applied actions: write-back rows restored, the source systems' rollback calls made."""
        outcomes = run_command(state, "actions.rollback", ids=ids or [], batch=batch, user=user)
        _outcomes(outcomes, format)

    @app.command()
    def value(
        use_case: Annotated[str | None, typer.Option("--use-case", help="Only this use case (replan, ...).")] = None,
        user: AsOpt = None,
        format: FormatOpt = "table",  # type: ignore[assignment]
    ) -> None:
        """The value ledger: expected vs realised impact of approved recommendations, by use case."""
        report = run_command(state, "value", user=user, use_case=use_case)
        if format == "json":
            print_json(report)
            return
        rows = []
        for u in report["use_cases"]:
            e, r = u["expected"], u["realized"]
            rows.append(
                {
                    "use case": u["use_case"],
                    "recommendations": u["recommendations"],
                    "approved": u["approved"],
                    "expected revenue protected": e.get("revenue_protected"),
                    "realised revenue protected": r.get("revenue_protected"),
                    "expected on measured orders": r.get("expected_revenue_protected_on_measured"),
                    "orders measured": u["orders_measured"],
                    "pending": u["orders_pending"],
                }
            )
        numbers = {c: "currency" for c in rows[0] if "revenue" in c or "expected" in c} if rows else {}
        print_rows(rows, title=f"value ledger as of {report['as_of']}", formats=numbers)
        console.print(
            "expected: the plan against what the plants would do on their own, recorded when proposed; "
            "realised: the same orders' shipments against their due dates.",
            style="dim",
        )

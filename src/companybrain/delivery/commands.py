"""The brain CLI's reads and decisions as data: what `brain query`, `objects`, `ask`, `replan`, `actions ...`
compute from a Brain, before the CLI prints it.

The CLI computes it itself, or, while `brain serve` holds the embedded warehouse, sends the command's
arguments to the service (`POST /api/v1/local/commands/{name}`, the local secret over loopback:
delivery/local.py), which computes it on its open Brain and answers the same data. Either way the data
passes through the same encoding (`local.to_wire`), so the CLI prints the same thing, exits with the same
code and raises the same `Error: ...`.

The commands run as the `--as` user the CLI names, or the project's default user: exactly what the CLI
does on the files, whose reader is the local operator (see delivery/local.py for why the local secret
carries that authority and nothing more). Their reads are governed and audited as on the CLI.

No web framework is imported here: the CLI imports this module when it runs a command itself.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from companybrain.errors import NotFound, QueryError, did_you_mean

if TYPE_CHECKING:
    from companybrain.brain import Brain


@dataclass(frozen=True)
class Command:
    """One command's computation, and what the service must do around it."""

    run: Callable[..., Any]
    changes_objects: bool = False  # approvals and rollbacks wait for a running build to commit
    flush_audit: bool = False  # the cached answers' audit records first (a read of the audit log)


COMMANDS: dict[str, Command] = {}


def command(name: str, *, changes_objects: bool = False, flush_audit: bool = False) -> Callable[..., Any]:
    def register(run: Callable[..., Any]) -> Callable[..., Any]:
        COMMANDS[name] = Command(run, changes_objects, flush_audit)
        return run

    return register


def get(name: str) -> Command:
    found = COMMANDS.get(name)
    if found is None:
        raise NotFound(f"no command {name!r} to run for the CLI; {did_you_mean(name, COMMANDS)}")
    return found


def run(brain: Brain, name: str, args: dict[str, Any]) -> Any:
    """Run a command on a Brain with its arguments (as the CLI names them); QueryError for unknown ones."""
    found = get(name)
    try:
        inspect.signature(found.run).bind(brain, **args)
    except TypeError as exc:
        raise QueryError(
            f"command {name!r}: {exc}", hint="the CLI and the service are of different versions?"
        ) from None
    return found.run(brain, **args)


# --- data ----------------------------------------------------------------------------------------


@command("sources.status")
def sources_status(brain: Brain) -> dict[str, Any]:
    return {"tables": brain.sources_status()}


@command("sources.quarantine")
def sources_quarantine(brain: Brain, source: str, table: str | None, limit: int) -> list[dict[str, Any]]:
    return brain.quarantine(source, table, limit)


@command("contracts")
def contracts(brain: Brain) -> list[dict[str, Any]]:
    return [r.as_dict() for r in brain.contracts()]


@command("objects")
def objects(
    brain: Brain, type_name: str, where: str | None, limit: int, user: str | None, count: bool = False
) -> dict[str, Any]:
    if count:
        return {"count": brain.count_objects(type_name, where, user)}
    return {"rows": brain.objects(type_name, where, limit, user)}


@command("object")
def object_(brain: Brain, type_name: str, key: str, user: str | None) -> dict[str, Any]:
    return brain.object(type_name, key, user)


# --- metrics, the copilot, the audit log --------------------------------------------------------------


@command("metrics")
def metrics(brain: Brain, user: str | None) -> dict[str, Any]:
    return brain.metrics_catalog(user)


@command("query")
def query(
    brain: Brain,
    metrics: list[str],
    by: list[str],
    where: str | None,
    period: str | None,
    order: list[str],
    limit: int | None,
    user: str | None,
) -> dict[str, Any]:
    """The result as `Result.as_dict()` (the CLI rebuilds the Result from it)."""
    from companybrain.semantic.query import MetricQuery

    request = MetricQuery(tuple(metrics), tuple(by), where, period, tuple(order), limit)
    return brain.query(request, user).as_dict()


@command("ask")
def ask(
    brain: Brain, question: str, previous: dict[str, Any] | None, user: str | None, engine: str | None
) -> dict[str, Any]:
    """The answer (`as_dict`, what --format json prints) and what the table view shows besides."""
    from companybrain.copilot import Copilot, parse_plan

    plan = parse_plan(previous) if previous is not None else None
    answer = Copilot(brain, engine).ask(question, user, plan)  # type: ignore[arg-type]
    proposal = answer.extra.get("table") if answer.plan.kind == "propose_action" else None
    return {
        "answer": answer.as_dict(),
        "plan_shown": answer.plan.model_dump(exclude_defaults=True),
        "proposal": proposal,
    }


@command("audit.tail", flush_audit=True)
def audit_tail(brain: Brain, n: int) -> list[dict[str, Any]]:
    return brain.audit.tail(n)


# --- decisions -----------------------------------------------------------------------------------------


@command("replan")
def replan(
    brain: Brain, disruption: dict[str, Any], user: str | None, propose: bool, time_limit: float | None
) -> dict[str, Any]:
    """The plan (`as_dict`), and with `propose` its batch of proposed actions and ledger entry."""
    from companybrain.decisions.network import Disruption

    declared = Disruption.model_validate(disruption)
    if propose:
        plan, proposed, entry = brain.propose_replan(declared, user, time_limit=time_limit)
        return {"plan": plan.as_dict(), "proposed": proposed, "ledger_entry": entry}
    return {"plan": brain.replan(declared, user, time_limit=time_limit).as_dict()}


@command("scenario.list")
def scenario_list(brain: Brain) -> list[dict[str, Any]]:
    from companybrain.decisions.scenarios import list_scenarios

    return list_scenarios(brain)


@command("scenario.run")
def scenario_run(brain: Brain, name: str, propose: bool, ahead: bool, user: str | None) -> dict[str, Any]:
    """The run (`as_dict`), and with `propose` its adoption's proposed actions and ledger entry."""
    from companybrain.decisions.scenarios import run_scenario

    if propose:
        result, proposed, entry = brain.propose_scenario(name, user)
        return {"run": result.as_dict(), "proposed": proposed, "ledger_entry": entry}
    return {"run": run_scenario(brain, name, user, ahead=ahead).as_dict()}


@command("scenario.compare")
def scenario_compare(brain: Brain, names: list[str], ahead: bool, user: str | None) -> list[dict[str, Any]]:
    from companybrain.decisions.scenarios import compare_scenarios

    return [r.as_dict() for r in compare_scenarios(brain, names, user, ahead=ahead)]


@command("factory.list")
def factory_list(brain: Brain) -> list[dict[str, Any]]:
    from companybrain import factory

    return factory.list_usecases(brain)


@command("factory.show")
def factory_show(brain: Brain, usecase: str) -> dict[str, Any]:
    from companybrain import factory

    return factory.show(brain, usecase)


@command("actions.types")
def actions_types(brain: Brain) -> list[dict[str, Any]]:
    return brain.actions.types()


@command("actions.list")
def actions_list(brain: Brain, status: str | None, batch: int | None, limit: int) -> list[dict[str, Any]]:
    return brain.actions.find(status, batch, limit)


@command("actions.show")
def actions_show(brain: Brain, action_id: int) -> dict[str, Any]:
    return brain.actions.get(action_id)


@command("actions.propose")
def actions_propose(brain: Brain, action_type: str, parameters: dict[str, Any], user: str | None) -> list[Any]:
    return brain.actions.propose([(action_type, parameters)], user)


def _ids(brain: Brain, ids: list[int], batch: int | None) -> list[int]:
    if batch is not None:
        return [*ids, *brain.actions.batch_ids(batch)]
    if not ids:
        raise QueryError("name action ids or --batch N", hint="brain actions list")
    return ids


@command("actions.approve", changes_objects=True)
def actions_approve(
    brain: Brain, ids: list[int], batch: int | None, user: str | None, note: str | None
) -> list[dict[str, Any]]:
    """Approve; what was applied tells whom its notify effects name (the outbox delivered now)."""
    from companybrain.delivery.alerts import deliver_action_messages

    outcomes = brain.actions.approve(_ids(brain, ids, batch), user, note)
    if any(o.status == "applied" for o in outcomes):
        deliver_action_messages(brain)
    return [o.as_dict() for o in outcomes]


@command("actions.reject", changes_objects=True)
def actions_reject(
    brain: Brain, ids: list[int], batch: int | None, user: str | None, reason: str | None
) -> list[dict[str, Any]]:
    return [o.as_dict() for o in brain.actions.reject(_ids(brain, ids, batch), user, reason)]


@command("actions.rollback", changes_objects=True)
def actions_rollback(brain: Brain, ids: list[int], batch: int | None, user: str | None) -> list[dict[str, Any]]:
    return [o.as_dict() for o in brain.actions.rollback(_ids(brain, ids, batch), user)]


@command("value")
def value(brain: Brain, user: str | None, use_case: str | None) -> dict[str, Any]:
    return brain.value(user, use_case)

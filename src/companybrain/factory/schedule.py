"""Which use cases a build trains: those never trained, and those whose schedule has come round with
new data landed since their last training; the others wait, and the build says why."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlglot import exp

if TYPE_CHECKING:
    from companybrain.brain import Brain

SCHEDULE_DAYS = {"daily": 1, "weekly": 7, "monthly": 30}


@dataclass(frozen=True)
class Due:
    """Whether a use case trains in this build, and why (or why not)."""

    usecase: str
    due: bool
    reason: str


def due_usecases(brain: Brain, registry: Any, today: date | None = None) -> list[Due]:
    """Every use case of the project with the decision for this build, by name."""
    today = today or datetime.now(UTC).date()
    landed = last_rows_landed(brain)
    decisions = []
    for name, uc in sorted(brain.project.usecases.items()):
        if uc.schedule == "manual":
            decisions.append(Due(name, False, f"manual schedule: `brain factory train {name}` trains it"))
            continue
        versions = registry.versions(name)
        if not versions:
            decisions.append(Due(name, True, "never trained"))
            continue
        trained = datetime.fromisoformat(versions[0].trained_at).astimezone(UTC).replace(tzinfo=None)
        next_due = trained.date() + timedelta(days=SCHEDULE_DAYS[uc.schedule])
        if today < next_due:
            decisions.append(Due(name, False, f"{uc.schedule} schedule: next training on {next_due}"))
        elif landed is None or landed <= trained:
            decisions.append(Due(name, False, f"no data landed since its training on {trained.date()}"))
        else:
            decisions.append(Due(name, True, f"{uc.schedule} schedule, and data landed since {trained.date()}"))
    return decisions


def last_rows_landed(brain: Brain) -> datetime | None:
    """When the last load that landed rows started (UTC), or None when none did."""
    from companybrain.sources.load_log import LOAD_LOG

    wh = brain.warehouse
    if LOAD_LOG.name not in wh.list_tables(LOAD_LOG.db):
        return None
    query = (
        exp.select(exp.func("max", exp.column("started_at")))
        .from_(LOAD_LOG)
        .where(exp.and_(exp.column("status").eq(exp.Literal.string("ok")), exp.column("rows_loaded") > 0))
    )
    value = wh.scalar(query)
    if value is None:
        return None
    return value if isinstance(value, datetime) else datetime.fromisoformat(str(value))

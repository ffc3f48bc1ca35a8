"""What the cockpit pages read, always as the signed-in user through the service and the Brain facade.

A read the user's policies deny becomes a panel that says "not available to you" (with the
policy), never a failed page; any other BrainError becomes a panel with its message.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Any, TypeVar

from companybrain.errors import BrainError, PolicyDenied
from companybrain.semantic.query import MetricQuery, Result

if TYPE_CHECKING:
    from companybrain.delivery.app import BrainService
    from companybrain.delivery.web.session import Viewer

T = TypeVar("T")
NO_MODEL = "No model trained yet — run `brain factory train`"
NO_SCORES = "No model trained yet: nothing has been scored — run `brain factory train`"


@dataclass
class Panel:
    """The rows of one read, or why there are none."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    denied: str | None = None
    error: str | None = None
    result: Result | None = None

    @property
    def ok(self) -> bool:
        return self.denied is None and self.error is None

    @property
    def problem(self) -> str | None:
        return self.denied or self.error


def guarded(read: Callable[[], T]) -> tuple[T | None, str | None, str | None]:
    """(value, denied message, error message) of a read, in words for the people reading the page."""
    try:
        return read(), None, None
    except PolicyDenied as exc:
        return None, f"Not available to you: {denial(exc.policy)}.", None
    except BrainError as exc:
        return None, None, exc.message + (f" — {exc.hint}" if exc.hint else "")


def denial(policy: str | None) -> str:
    """Why a read was refused, in the words of the business rather than of the policy engine."""
    kind = (policy or "").split(":")[0]
    return {
        "metric-access": "your role does not give access to this figure",
        "object-access": "your role does not give access to these records",
        "default-hr-deny": "it reads HR data, which only HR roles may see",
        "masking": "it would reveal values that are hidden from you",
        "row-filter": "your user profile lacks what your role's data access needs (ask an administrator)",
    }.get(kind, "your access rights do not allow it")


def metric(svc: BrainService, viewer: Viewer, query: MetricQuery) -> Panel:
    """A metric query as the viewer (answered from the service's cache when it can be)."""
    result, denied, error = guarded(lambda: svc.query(query, viewer.principal)[0])
    if result is None:
        return Panel(denied=denied, error=error)
    return Panel(result.records(), result=result)


def objects(svc: BrainService, viewer: Viewer, type_name: str, where: str | None, limit: int | None) -> Panel:
    """Objects of a type as the viewer (masked properties read ***)."""

    def read() -> list[dict[str, Any]]:
        with svc.use() as brain:
            table = brain.read(type_name, where, limit, viewer.principal)
        return table.to_pylist()

    rows, denied, error = guarded(read)
    return Panel(rows or [], denied=denied, error=error)


def count(svc: BrainService, viewer: Viewer, type_name: str, where: str | None) -> tuple[int | None, str | None]:
    """How many objects of a type the viewer sees, or why not."""

    def read() -> int:
        with svc.use() as brain:
            return brain.count_objects(type_name, where, viewer.principal)

    value, denied, error = guarded(read)
    return value, denied or error


def catalog(svc: BrainService, viewer: Viewer) -> dict[str, dict[str, Any]]:
    """The metrics the viewer may read, by name."""
    return full_catalog(svc, viewer)[0]


def dimensions(svc: BrainService, viewer: Viewer) -> list[str]:
    """The named dimensions the viewer may break down and filter by, in the project's order."""
    return full_catalog(svc, viewer)[1]


def full_catalog(svc: BrainService, viewer: Viewer) -> tuple[dict[str, dict[str, Any]], list[str]]:
    """(metrics by name, dimension names) the viewer may read; kept for the request (pages ask often)."""
    kept: dict[str, Any] = viewer.session.data.setdefault("_catalog", {})
    key = (viewer.principal.reader_key(), id(svc.brain.project))
    if kept.get("key") != key:
        with svc.use() as brain:
            found = brain.metrics_catalog(viewer.principal)
        kept.update(
            key=key, metrics={m["name"]: m for m in found["metrics"]}, dims=[d["name"] for d in found["dimensions"]]
        )
    return kept["metrics"], kept["dims"]


def can_read(svc: BrainService, viewer: Viewer, type_name: str) -> bool:
    """Whether the viewer's roles grant the object type at all (row filters may still narrow it)."""
    from companybrain.governance.policy import Policy

    return type_name in svc.brain.project.objects and Policy(svc.brain.project, viewer.principal).can_read_object(
        type_name
    )


def has_property(svc: BrainService, type_name: str, prop: str) -> bool:
    """Whether the semantic model declares `type_name.prop` (predictions arrive as properties)."""
    with svc.use() as brain:
        obj = brain.project.objects.get(type_name)
    return obj is not None and prop in obj.properties


def today(svc: BrainService) -> date:
    """The project's today (the demo's data ends on a fixed day), else the calendar's."""
    return svc.brain.project.spec.today or date.today()


def trailing_year(svc: BrainService) -> str:
    """The 12 full months before the current one, as a period: 2025-03-01..2026-02-28."""
    from companybrain.delivery.web.view import trailing_months

    return trailing_months(today(svc)).text


def quote(value: str) -> str:
    """A string literal for a filter (the filter is parsed into a tree, never pasted into SQL)."""
    return "'" + value.replace("'", "''") + "'"

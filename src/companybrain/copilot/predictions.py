"""Prediction lists: the objects a use case scored highest (or above one of its thresholds), as the
asking user may see them - 'machines most likely to fail', 'who might quit in EMEA'."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from companybrain.copilot.plan import PredictionListPlan

if TYPE_CHECKING:
    from companybrain.brain import Brain
    from companybrain.governance.principal import Principal

DEFAULT_LIMIT = 10


def run(brain: Brain, plan: PredictionListPlan, user: str | Principal | None) -> dict[str, Any]:
    """The scored objects, highest first, with the key, a name where the type has one, and the score."""
    from companybrain.factory import top_predictions

    uc = brain.project.usecases[plan.usecase]
    assert uc.entity is not None and uc.output.property is not None
    prop = uc.output.property
    limit = plan.limit or (None if plan.at_least is not None or plan.count else DEFAULT_LIMIT)
    rows = top_predictions(brain, uc, user, plan.at_least, plan.where_sql(), limit)
    if plan.count:
        scope = f" with {uc.output.property.replace('_', ' ')} at or above {plan.at_least:g}" if plan.at_least else ""
        filters = f" ({plan.where})" if plan.where else ""
        return {
            "columns": ["count"],
            "rows": [[len(rows)]],
            "text": f"{len(rows)} {uc.entity} objects{scope}{filters}.",
        }
    key = brain.project.objects[uc.entity].key
    label = next((p for p in ("name", "full_name", "title") if p in brain.project.objects[uc.entity].properties), None)
    columns = [key, *([label] if label else []), prop]
    table = [[row.get(c) for c in columns] for row in rows]
    scope = f" at or above {plan.at_least:g}" if plan.at_least is not None else ""
    head = "; ".join(f"{r[0]} ({r[-1]:.2f})" for r in table[:5] if isinstance(r[-1], int | float)) or "none"
    text = f"{uc.entity} objects by {prop.replace('_', ' ')}{scope}, highest first: {head}."
    return {"columns": columns, "rows": table, "text": text}

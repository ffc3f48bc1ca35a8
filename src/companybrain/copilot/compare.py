"""Periods set side by side ('Q3 this year against Q3 last year'): the same plan over each period, one
row per period (and per dimension value), and the change from the later period to the earlier."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from companybrain.copilot.plan import MetricPlan

if TYPE_CHECKING:
    from companybrain.brain import Brain
    from companybrain.governance.principal import Principal


def compared(brain: Brain, plan: MetricPlan, user: str | Principal | None) -> dict[str, Any]:
    """A table of [period, *dimensions, *metrics] rows and a sentence with the change of each metric."""
    from companybrain.copilot.answer import fmt

    rows: list[list[Any]] = []
    totals: dict[str, list[Any]] = {m: [] for m in plan.metrics}
    forms: dict[str, str] = {}
    for period in plan.compare:
        result = brain.query(plan.metric_query(period), user)
        forms = {m: result.definitions.get(m, {}).get("format", "number") for m in plan.metrics}
        for record in result.records():
            rows.append([period, *[record[d] for d in plan.by], *[record[m] for m in plan.metrics]])
        if not plan.by:
            for m in plan.metrics:
                totals[m].append(result.records()[0][m] if result.rows else None)
    parts = []
    for m, values in totals.items():
        if len(values) == 2 and all(isinstance(v, int | float) for v in values):
            now, before = values
            change = (
                f"{(now - before) * 100:+.1f} pts"
                if forms.get(m) == "percent"
                else (f"{(now - before) / abs(before):+.1%}" if before else "n/a")
            )
            parts.append(
                f"{m.replace('_', ' ')} {fmt(now, forms.get(m, 'number'))} in {plan.compare[0]} against "
                f"{fmt(before, forms.get(m, 'number'))} in {plan.compare[1]} ({change})"
            )
    text = "; ".join(parts) or f"{', '.join(plan.metrics)} for {' and '.join(plan.compare)}"
    return {
        "text": text[0].upper() + text[1:] + ".",
        "table": {"columns": ["period", *plan.by, *plan.metrics], "rows": rows},
    }

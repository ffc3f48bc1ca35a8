"""Periods set side by side ('Q3 this year against Q3 last year'): the same plan over each period, and one
row per dimension value with each metric in the first period, in the second, and the change between them
(first - second), as a period-over-period table in a BI tool shows it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from companybrain.copilot.plan import MetricPlan

if TYPE_CHECKING:
    from companybrain.brain import Brain
    from companybrain.governance.principal import Principal


def _change(first: Any, second: Any) -> float | None:
    if isinstance(first, int | float) and isinstance(second, int | float):
        return first - second
    return None


def _signed(shown: str) -> str:
    return shown if shown.startswith(("-", "+")) else f"+{shown}"


def compared(brain: Brain, plan: MetricPlan, user: str | Principal | None) -> dict[str, Any]:
    """A table of [*dimensions, then per metric: its value in each period and, of two periods, the change]
    rows and a sentence with the change of each metric."""
    from companybrain.copilot.answer import fmt

    values: dict[tuple[Any, ...], dict[str, dict[str, Any]]] = {}  # group -> period -> metric -> value
    forms: dict[str, str] = {}
    for period in plan.compare:
        result = brain.query(plan.metric_query(period), user)
        forms = {m: result.definitions.get(m, {}).get("format", "number") for m in plan.metrics}
        for record in result.records():
            group = tuple(record[d] for d in plan.by)
            values.setdefault(group, {})[period] = {m: record[m] for m in plan.metrics}
    pair = len(plan.compare) == 2  # two periods also show the change between them
    columns = list(plan.by)
    for m in plan.metrics:
        columns += [f"{m} {p}" for p in plan.compare] + ([f"{m} change"] if pair else [])
    rows: list[list[Any]] = []
    for group, by_period in values.items():
        row = list(group)
        for m in plan.metrics:
            figures = [by_period.get(p, {}).get(m) for p in plan.compare]
            row += figures + ([_change(*figures)] if pair else [])
        rows.append(row)
    parts = []
    if pair and not plan.by and rows:
        first, second = plan.compare
        for i, m in enumerate(plan.metrics):
            now, before, diff = rows[0][3 * i : 3 * i + 3]
            if diff is None:
                continue
            change = (
                f"{diff * 100:+.1f} pts"
                if forms.get(m) == "percent"
                else (f"{diff / abs(before):+.1%}" if before else "n/a")
            )
            parts.append(
                f"{m.replace('_', ' ')} {fmt(now, forms.get(m, 'number'))} in {first} against "
                f"{fmt(before, forms.get(m, 'number'))} in {second} ({change})"
            )
    if pair and plan.by and rows:
        width = len(plan.by)
        for i, m in enumerate(plan.metrics):
            moved = [r for r in rows if r[width + 3 * i + 2] is not None]
            if moved:
                top = max(moved, key=lambda r: abs(r[width + 3 * i + 2]))
                diff = top[width + 3 * i + 2]
                shown = (
                    f"{diff * 100:+.1f} pts"
                    if forms.get(m) == "percent"
                    else _signed(fmt(diff, forms.get(m, "number")))
                )
                parts.append(
                    f"{m.replace('_', ' ')} by {', '.join(plan.by)}, {plan.compare[0]} against {plan.compare[1]}: "
                    f"the biggest change {', '.join(str(v) for v in top[:width])} ({shown})"
                )
    text = "; ".join(parts) or f"{', '.join(plan.metrics)} for {' and '.join(plan.compare)}"
    return {"text": text[0].upper() + text[1:] + ".", "table": {"columns": columns, "rows": rows}}

"""Row filters applied inside the compiled query: a filtered object type restricts every object
that reaches it through many-to-one links. Where it can be reached in several ways, the filter
must hold on every way (fail closed); where it cannot be reached, it does not restrict. A row whose links
lead to no object of the filtered type is hidden, unless the filter says `unlinked: visible`."""

from __future__ import annotations

from sqlglot import exp

from companybrain.governance.policy import Policy
from companybrain.semantic.joins import JoinPlan, Unreachable, shortest_paths
from companybrain.semantic.model import SemanticModel


def row_filter_conditions(model: SemanticModel, policy: Policy, plan: JoinPlan) -> tuple[list[exp.Expr], list[str]]:
    """Conditions (over `plan`'s joins) for the principal's row filters, and a description of each."""
    if policy.principal.unrestricted:
        return [], []
    conditions: list[exp.Expr] = []
    described: list[str] = []
    filtered = sorted({r.object for role in policy.principal.roles for r in model.project.roles[role].row_filters})
    for type_name in filtered:
        rule = policy.row_filter(type_name)
        if rule is None:
            continue
        try:
            paths = shortest_paths(model.objects, plan.base, type_name)
        except Unreachable:
            continue
        key = exp.column(model.objects[type_name].key)
        for path in paths:
            condition = model.resolve(rule, plan, f"row filter on {type_name}", prefix=path)
            if path and policy.unlinked_visible(type_name):  # no linked object, nothing of it to hide
                missing = exp.Is(this=model.resolve(key.copy(), plan, f"row filter on {type_name}", prefix=path),
                                 expression=exp.Null())  # fmt: skip
                condition = exp.or_(exp.paren(missing), exp.paren(condition))
            conditions.append(condition)
        described.append(f"{type_name}: {rule.sql(dialect='duckdb')}")
    return conditions, described

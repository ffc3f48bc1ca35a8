"""Masking meets grouping: an aggregate over few objects is a read of those objects.

A metric that reads a value the reader sees masked (in its expression, its filter or its time) is
shown only where it aggregates at least `min_group_size` objects of each *protected* type:

- the metric's own type and the types of the masked values it reads;
- every type it reaches through many-to-one links that carries a masked value of the same kind (a
  tag the metric reads masked, and the same data type, unit and currency): an order's masked
  total is a sum of its lines' masked amounts, so revenue by order would show it; a site's
  masked labour rate (USD per hour) is not what a sum of USD amounts reveals, so revenue by site
  stays visible to a plant manager.

With a filter of the reader's (`--where`), the objects the filter leaves out of a group must also be
none or at least `min_group_size` (a total minus "all but one" would be that one). Elsewhere the
value is withheld (null), and the answer says how many were and why. Queries combined by hand
(several overlapping filters) can still narrow a group down; every read is in the audit log.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from sqlglot import exp

from companybrain.governance.policy import Policy
from companybrain.semantic.joins import JoinPlan, LinkPath, shortest_paths
from companybrain.semantic.model import AGGREGATES, SemanticModel


@dataclass(frozen=True)
class Protected:
    """A type whose objects a group must hold enough of, reached from the base by `path`."""

    type_name: str
    path: LinkPath


def masked_reads(model: SemanticModel, policy: Policy, name: str) -> list[tuple[str, str]]:
    """(type, property) of every value a base metric reads that is masked for the policy's principal."""
    metric = model.metric(name)
    assert metric.object is not None
    plan = JoinPlan(model.objects, metric.object)
    trees = [model.aggregate(name, plan)]
    time = model.time_expr(name, plan)
    if time is not None:
        trees.append(time)
    found = [read for tree in trees for read in model.touched_properties(tree, plan) if policy.masked(*read)]
    return list(dict.fromkeys(found))


def protected_types(model: SemanticModel, policy: Policy, base: str, metrics: list[str]) -> list[Protected]:
    """The types whose objects every group of these metrics (on `base`) must hold enough of; [] if none."""
    masked = [read for name in metrics for read in masked_reads(model, policy, name)]
    if not masked:
        return []
    props = [model.objects[t].properties[p] for t, p in masked]
    tags = {tag for prop in props for tag in prop.tags} - policy.unmasked_tags()
    kinds = {(prop.type, prop.unit, prop.currency) for prop in props}
    types = {base, *(t for t, _ in masked)}
    for ancestor in _ancestors(model, base):
        for prop_name, prop in model.objects[ancestor].properties.items():
            same_kind = (prop.type, prop.unit, prop.currency) in kinds and set(prop.tags) & tags
            if same_kind and policy.masked(ancestor, prop_name):
                types.add(ancestor)
                break
    return [Protected(t, path) for t in sorted(types) for path in shortest_paths(model.objects, base, t)]


def _ancestors(model: SemanticModel, base: str) -> list[str]:
    """Every type reachable from `base` through many-to-one links."""
    seen, queue = {base}, deque([base])
    while queue:
        for link in model.objects[queue.popleft()].links.values():
            if link.columns and link.to not in seen:
                seen.add(link.to)
                queue.append(link.to)
    return sorted(seen - {base})


def filtered(tree: exp.Expr, condition: exp.Expr) -> exp.Expr:
    """Every aggregate of `tree` counting only rows where `condition` holds (added to its own FILTER)."""

    def add(node: exp.Expr) -> exp.Expr:
        if isinstance(node, exp.Filter) and isinstance(node.this, AGGREGATES):
            where = node.expression.this
            return exp.Filter(this=node.this, expression=exp.Where(this=exp.and_(where, condition.copy())))
        if isinstance(node, AGGREGATES) and not isinstance(node.parent, exp.Filter):
            return exp.Filter(this=node.copy(), expression=exp.Where(this=condition.copy()))
        return node

    return tree.transform(add)

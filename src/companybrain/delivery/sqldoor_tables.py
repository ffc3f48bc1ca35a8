"""What a BI tool sees through the SQL door: one table per object type that metrics aggregate (a metric set,
like a cube), whose columns are the dimensions reachable from it, its time grains and its metrics - only
those the user may read. The tables hold no rows: a query of one is translated (sqldoor_sql.py) into the
one governed query path."""

from __future__ import annotations

from dataclasses import dataclass, field

import sqlglot
from sqlglot import exp

from companybrain.brain import Brain
from companybrain.errors import BrainError, PolicyDenied
from companybrain.governance.policy import Policy
from companybrain.governance.principal import Principal
from companybrain.ontology.model import snake
from companybrain.semantic.joins import JoinPlan
from companybrain.specs.metrics import Metric
from companybrain.specs.ontology import SPEC_DIALECT

# the time grains a metric set offers as columns (a bucket's first day); fiscal grains are labels
DATE_GRAINS = ("day", "week", "month", "quarter", "year")
SCHEMA = "public"


@dataclass
class MetricTable:
    """One metric set: its object type, its dimension columns, time grains (if timed) and measures."""

    name: str
    object: str
    dimensions: list[str] = field(default_factory=list)
    grains: list[str] = field(default_factory=list)
    measures: list[str] = field(default_factory=list)
    additive: set[str] = field(default_factory=set)  # measures whose SUM over groups is the measure itself
    # dimensions a filter names as they are (a bare name is the object's property first, then a dimension)
    filterable: set[str] = field(default_factory=set)

    @property
    def columns(self) -> list[str]:
        return [*self.dimensions, *self.grains, *self.measures]

    def kind(self, column: str) -> str:
        """dimension, grain or measure."""
        if column in self.measures:
            return "measure"
        return "grain" if column in self.grains else "dimension"


def metric_tables(brain: Brain, principal: Principal | None = None) -> dict[str, MetricTable]:
    """The metric sets by table name: with a principal, only the metrics and dimensions they may read (what
    the catalog lists); without, all of them (what a query is mapped against: the query path then decides)."""
    model = brain.semantic
    policy = Policy(brain.project, principal) if principal is not None else None
    tables: dict[str, MetricTable] = {}
    for name, metric in brain.project.metrics.items():
        bases = model.base_metrics(name)
        objects = sorted({model.metric(b).object or "" for b in bases})
        try:
            if policy is not None:
                policy.require_metric(name, objects, model.tags_read(name))
        except PolicyDenied:
            continue
        home = model.metric(bases[0]).object or ""
        table = tables.get(snake(home))
        if table is None:
            table = tables[snake(home)] = _table(brain, policy, home)
        table.measures.append(name)
        if _additive(metric):
            table.additive.add(name)
        if model.timed(name) and not table.grains:
            table.grains = list(DATE_GRAINS)
    return tables


def _additive(metric: Metric) -> bool:
    if metric.derived or metric.active_from:
        return False
    tree = sqlglot.parse_one(metric.expr, dialect=SPEC_DIALECT)
    return isinstance(tree, exp.Sum) or (isinstance(tree, exp.Count) and not tree.find(exp.Distinct))


def _table(brain: Brain, policy: Policy | None, home: str) -> MetricTable:
    model = brain.semantic
    table = MetricTable(snake(home), home)
    for dim_name, dim in brain.project.dimensions.items():
        if dim_name in DATE_GRAINS or (policy is not None and not policy.can_read_object(dim.object)):
            continue
        try:
            model.dimension(dim_name, JoinPlan(model.objects, home))
        except BrainError:  # not reachable from this object type, or by several ways it does not choose
            continue
        table.dimensions.append(dim_name)
        if dim_name not in model.objects[home].properties or (dim.object == home and dim.expr.strip() == dim_name):
            table.filterable.add(dim_name)
    return table

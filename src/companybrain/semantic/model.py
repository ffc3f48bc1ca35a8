"""Resolving names: metrics (aggregate or derived), dimensions and link paths, into SQL trees."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlglot import exp

from companybrain.errors import QueryError, did_you_mean
from companybrain.semantic.filters import FUNCTIONS as FILTER_FUNCTIONS
from companybrain.semantic.joins import JoinPlan, LinkPath, shortest_path, type_at
from companybrain.semantic.references import parse_reference, path_parts
from companybrain.specs.metrics import Metric
from companybrain.specs.ontology import parse_expression

if TYPE_CHECKING:
    from companybrain.project import Project

TIME_GRAINS = ("day", "week", "month", "quarter", "year", "fiscal_quarter", "fiscal_year")
AGGREGATES = (exp.Sum, exp.Count, exp.Avg, exp.Min, exp.Max, exp.Median, exp.Stddev, exp.Quantile, exp.ApproxDistinct)


class SemanticModel:
    """The project's metrics and dimensions, resolved against its ontology."""

    def __init__(self, project: Project) -> None:
        self.project = project
        self.objects = project.objects
        self.metrics = project.metrics
        self.dimensions = project.dimensions
        self._tags: dict[str, set[str]] = {}
        self._functions: frozenset[str] | None = None

    @property
    def functions(self) -> frozenset[str]:
        """The functions a governed read may call beyond SQL's own: a filter's, and those the project's
        metrics, dimensions and row filters name (`guard.check_read`)."""
        if self._functions is None:
            texts = [t for m in self.metrics.values() for t in (m.expr, m.where, m.time) if t]
            texts += [d.expr for d in self.dimensions.values()]
            texts += [r.where for role in self.project.roles.values() for r in role.row_filters]
            names = {f.name.lower() for t in texts for f in parse_expression(t).find_all(exp.Anonymous)}
            self._functions = frozenset(names | FILTER_FUNCTIONS)
        return self._functions

    # --- metrics ------------------------------------------------------------------------------

    def metric(self, name: str) -> Metric:
        if name not in self.metrics:
            raise QueryError(f"unknown metric {name!r}; {did_you_mean(name, self.metrics)}", hint="brain metrics")
        return self.metrics[name]

    def base_metrics(self, name: str, _stack: tuple[str, ...] = ()) -> list[str]:
        """The aggregate metrics a metric is computed from (itself when it is one)."""
        if name in _stack:
            raise QueryError(f"metric {name!r} is defined in terms of itself ({' -> '.join((*_stack, name))})")
        metric = self.metric(name)
        if not metric.derived:
            return [name]
        found: list[str] = []
        for ref in self.metric_refs(name):
            for base in self.base_metrics(ref, (*_stack, name)):
                if base not in found:
                    found.append(base)
        return found

    def metric_refs(self, name: str) -> list[str]:
        """The metrics a derived metric's expression names."""
        refs = []
        for column in parse_expression(self.metric(name).expr).find_all(exp.Column):
            if column.table or column.name not in self.metrics:
                raise QueryError(
                    f"derived metric {name!r} uses {column.sql()!r}, which is not a metric; "
                    f"{did_you_mean(column.name, self.metrics)}"
                )
            if column.name not in refs:
                refs.append(column.name)
        return refs

    def aggregate(self, name: str, plan: JoinPlan, filtered: bool = True) -> exp.Expr:
        """The aggregate of an object metric, with its own filter as FILTER (WHERE ...) unless told not to."""
        metric = self.metric(name)
        tree = self.resolve(parse_expression(metric.expr), plan, f"metric {name}")
        if not any(isinstance(node, AGGREGATES) for node in tree.walk()):
            raise QueryError(f"metric {name!r}: {metric.expr!r} has no aggregate (sum, count, avg, min, max, ...)")
        if metric.where and filtered:
            condition = self.resolve(parse_expression(metric.where), plan, f"metric {name}")
            tree = tree.transform(
                lambda node: (
                    exp.Filter(this=node, expression=exp.Where(this=condition.copy()))
                    if isinstance(node, AGGREGATES) and not isinstance(node.parent, exp.Filter)
                    else node
                )
            )
        return tree

    def derived(self, name: str, columns: dict[str, exp.Expr]) -> exp.Expr:
        """A derived metric as an expression over the columns of its base metrics; x / 0 is NULL."""
        metric = self.metric(name)
        if not metric.derived:
            return columns[name]

        def base(ref: str) -> exp.Expr:
            # a sum or count with no rows in a group is 0 there, so that revenue - returns is not NULL
            top = parse_expression(self.metric(ref).expr)
            if isinstance(top, exp.Sum | exp.Count):
                return exp.func("coalesce", columns[ref], exp.Literal.number(0))
            return columns[ref]

        def substitute(node: exp.Expr) -> exp.Expr:
            if isinstance(node, exp.Column) and node.name in self.metrics:
                inner = self.derived(node.name, columns) if self.metric(node.name).derived else base(node.name)
                return exp.paren(inner, copy=False)
            return node

        tree = parse_expression(metric.expr).transform(substitute)
        return tree.transform(_safe_division, copy=False)

    def time_expr(self, name: str, plan: JoinPlan) -> exp.Expr | None:
        """The time column of an object metric (its own `time`, else its object type's), or None."""
        metric = self.metric(name)
        assert metric.object is not None
        text = metric.time or self.objects[metric.object].time
        return self.resolve(parse_expression(text), plan, f"metric {name} time") if text else None

    def check_metric(self, name: str) -> None:
        for base in self.base_metrics(name):
            metric = self.metric(base)
            assert metric.object is not None
            plan = JoinPlan(self.objects, metric.object)
            self.aggregate(base, plan)
            self.time_expr(base, plan)

    # --- dimensions and filters ---------------------------------------------------------------

    def check_dimension(self, name: str) -> None:
        dim = self.dimensions[name]
        self.dimension(name, JoinPlan(self.objects, dim.object))
        for base in dim.paths:
            if base not in self.objects:
                raise QueryError(f"dimension {name}: unknown object type {base!r}; {did_you_mean(base, self.objects)}")
            self.dimension(name, JoinPlan(self.objects, base))

    def tags_read(self, name: str) -> set[str]:
        """The tags of every property a metric reads (through its base metrics and links)."""
        if name in self._tags:
            return self._tags[name]
        tags: set[str] = set()
        for base in self.base_metrics(name):
            metric = self.metric(base)
            assert metric.object is not None
            plan = JoinPlan(self.objects, metric.object)
            tree = self.aggregate(base, plan)
            tags |= set(self.objects[metric.object].tags)
            for type_name, prop in self.touched_properties(tree, plan):
                tags |= set(self.objects[type_name].properties[prop].tags) | set(self.objects[type_name].tags)
        self._tags[name] = tags
        return tags

    def dimension(self, text: str, plan: JoinPlan) -> exp.Expr:
        """A `--by` value other than a time grain: a named dimension or Type.property."""
        if text in self.dimensions:
            dim = self.dimensions[text]
            declared = dim.paths.get(plan.base)
            path = tuple(declared.split(".")) if declared else shortest_path(self.objects, plan.base, dim.object)
            if type_at(self.objects, plan.base, path) != dim.object:
                raise QueryError(
                    f"dimension {text}: the path {declared!r} from {plan.base} does not reach {dim.object}"
                )
            return self.resolve(parse_expression(dim.expr), plan, f"dimension {text}", prefix=path)
        if "." in text:
            return self.resolve(parse_reference(text), plan, f"dimension {text}")
        options = [*self.dimensions, *TIME_GRAINS]
        raise QueryError(
            f"unknown dimension {text!r}; {did_you_mean(text, options)}",
            hint="use a dimension from `brain metrics`, a time grain, or Type.property (e.g. Customer.segment)",
        )

    def resolve(self, tree: exp.Expr, plan: JoinPlan, what: str, prefix: LinkPath = ()) -> exp.Expr:
        """Rewrite every column of an expression to a joined table's column.

        `Type.property` reaches the type by the shortest many-to-one path; `link.link.property`
        follows the named links; a bare name is a property (of the object at `prefix`), or a
        named dimension.
        """

        def rewrite(node: exp.Expr) -> exp.Expr:
            names = path_parts(node) if isinstance(node, exp.Column | exp.Dot) else None
            if names is None:
                return node
            parts, name = names[:-1], names[-1]
            if parts and parts[0][:1].isupper():
                if parts[0] not in self.objects:
                    raise QueryError(
                        f"{what}: unknown object type {parts[0]!r}; {did_you_mean(parts[0], self.objects)}"
                    )
                path = (*shortest_path(self.objects, plan.base, parts[0]), *parts[1:])
            else:
                path = (*prefix, *parts)
            target = type_at(self.objects, plan.base, path)
            if not parts and name not in self.objects[target].properties and name in self.dimensions:
                return exp.paren(self.dimension(name, plan), copy=False)
            if name not in self.objects[target].properties:
                raise QueryError(
                    f"{what}: {target} has no property {name!r}; "
                    f"{did_you_mean(name, [*self.objects[target].properties, *self.objects[target].links])}"
                )
            return plan.column(path, name)

        return tree.transform(rewrite)  # a copy: the caller's tree stays as it was

    def touched_properties(self, tree: exp.Expr, plan: JoinPlan) -> list[tuple[str, str]]:
        """(object type, property) of every column a resolved tree reads."""
        by_alias = {alias: path for path, alias in plan.aliases.items()}
        found = []
        for column in tree.find_all(exp.Column):
            path = by_alias.get(column.table)
            if path is not None:
                found.append((type_at(self.objects, plan.base, path), column.name))
        return found


def _safe_division(node: exp.Expr) -> exp.Expr:
    if isinstance(node, exp.Div):
        numerator = exp.Cast(this=node.this, to=exp.DataType.build("DOUBLE"))
        return exp.Div(this=numerator, expression=exp.func("nullif", node.expression, exp.Literal.number(0)))
    return node

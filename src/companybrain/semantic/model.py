"""Resolving names: metrics (aggregate or derived), dimensions and link paths, into SQL trees."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlglot import exp

from companybrain.errors import QueryError, did_you_mean
from companybrain.ontology.model import link_table
from companybrain.semantic.filters import FUNCTIONS as FILTER_FUNCTIONS
from companybrain.semantic.joins import AmbiguousPath, JoinPlan, LinkPath, one_chain, type_at
from companybrain.semantic.references import parse_reference, path_parts
from companybrain.specs.metrics import Metric
from companybrain.specs.ontology import ObjectType, parse_expression
from companybrain.warehouse.ddl import col

if TYPE_CHECKING:
    from companybrain.project import Project

TIME_GRAINS = ("day", "week", "month", "quarter", "year", "fiscal_quarter", "fiscal_year")
AGGREGATES = (exp.Sum, exp.Count, exp.Avg, exp.Min, exp.Max, exp.Median, exp.Stddev, exp.Quantile, exp.ApproxDistinct)
# the calendar a metric averaged over days is spread on: one row per bucket of the period (compiler.py)
SPINE = "sp"
BUCKET, FIRST_DAY, AFTER_DAY = "bucket", "first_day", "after_day"
DAY = exp.var("DAY")


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
        if metric.averaged_over_days:
            tree = self._daily_average(name, tree, plan)
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

    def active_days(self, name: str, plan: JoinPlan) -> tuple[exp.Expr, exp.Expr]:
        """(first, after): the days an object of a metric averaged over days counts, cut to the spine's bucket."""
        metric = self.metric(name)
        assert metric.active_from is not None
        first_day, after_day = col(FIRST_DAY, SPINE), col(AFTER_DAY, SPINE)
        since = self.resolve(parse_expression(metric.active_from), plan, f"metric {name} active_from")
        first = exp.Greatest(this=exp.func("coalesce", since, first_day.copy()), expressions=[first_day])
        if metric.active_until is None:
            return first, after_day
        until = self.resolve(parse_expression(metric.active_until), plan, f"metric {name} active_until")
        after = exp.Least(this=exp.func("coalesce", until, after_day.copy()), expressions=[after_day])
        return first, after

    def _daily_average(self, name: str, tree: exp.Expr, plan: JoinPlan) -> exp.Expr:
        """count(*) or sum(x) of the objects active on an average day of each bucket of the spine:
        sum(x * days active in the bucket / days of the bucket)."""
        if isinstance(tree, exp.Count) and isinstance(tree.this, exp.Star):
            value: exp.Expr = exp.Literal.number(1)
        elif isinstance(tree, exp.Sum) and not isinstance(tree.this, exp.Distinct):
            value = exp.paren(tree.this, copy=False)
        else:
            raise QueryError(
                f"metric {name!r}: a metric averaged over the days objects are active (active_from) "
                f"is count(*) or sum(...), not {self.metric(name).expr!r}"
            )
        first, after = self.active_days(name, plan)
        active = exp.DateDiff(this=after, expression=first, unit=DAY)
        days = exp.DateDiff(this=col(AFTER_DAY, SPINE), expression=col(FIRST_DAY, SPINE), unit=DAY)
        share = exp.Div(this=exp.Cast(this=active, to=exp.DataType.build("DOUBLE")), expression=days)
        return exp.Sum(this=exp.Mul(this=value, expression=share))

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
        """The time column of an object metric (its own `time`, else its object type's), or None; None too
        for a metric averaged over days, which is spread on a calendar instead."""
        metric = self.metric(name)
        assert metric.object is not None
        text = metric.time_of(self.objects[metric.object].time)
        return self.resolve(parse_expression(text), plan, f"metric {name} time") if text else None

    def timed(self, name: str) -> bool:
        """Whether a metric reads differently over time: its records are placed in time by a date, or it is an
        average over days; not a snapshot (a backlog) nor a figure of a type with no date (a headcount of today)."""
        for base in self.base_metrics(name):
            metric = self.metric(base)
            assert metric.object is not None
            if metric.averaged_over_days or metric.time_of(self.objects[metric.object].time):
                return True
        return False

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
            declared = {base: tuple(p.split(".")) for base, p in dim.paths.items()}
            tail = tuple(path_parts(parse_expression(dim.expr)) or ())
            try:
                path = one_chain(self.objects, plan.base, dim.object, declared, tail)
            except AmbiguousPath as exc:
                example = ".".join(exc.candidates[0])
                raise AmbiguousPath(
                    f"dimension {text}: {exc.message}",
                    candidates=exc.candidates,
                    hint=f"the dimension must say which: paths: {{{plan.base}: {example}}} under dimensions.{text} "
                    "in metrics/*.yaml; or name the path yourself",
                ) from None
            if type_at(self.objects, plan.base, path) != dim.object:
                raise QueryError(
                    f"dimension {text}: the path {'.'.join(path)!r} from {plan.base} does not reach {dim.object}"
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

        `Type.property` reaches the type by the one chain of many-to-one links that leads there (refused
        with the chains listed when several do); `link.link.property` follows the named links; a bare
        name is a property (of the object at `prefix`), or a named dimension; `exists(link, condition)`
        is a semi-join over a one-to-many or many-to-many link.
        """

        def rewrite(node: exp.Expr) -> exp.Expr:
            if isinstance(node, exp.Exists) and not isinstance(node.this, exp.Query):
                return self._semi_join(node, plan, what, prefix)
            names = path_parts(node) if isinstance(node, exp.Column | exp.Dot) else None
            if names is None:
                return node
            parts, name = names[:-1], names[-1]
            path = self._path(plan, parts, what, prefix, tail=(name,))
            target = type_at(self.objects, plan.base, path)
            if not parts and name not in self.objects[target].properties and name in self.dimensions:
                return exp.paren(self.dimension(name, plan), copy=False)
            self._require_property(target, name, [*parts, name], what)
            return plan.column(path, name)

        return tree.transform(rewrite)  # a copy: the caller's tree stays as it was

    def _path(self, plan: JoinPlan, parts: list[str], what: str, prefix: LinkPath, tail: LinkPath) -> LinkPath:
        """The link path of a reference's leading names: `Type.link...` (the one chain to Type) or `link...`."""
        if not parts or not parts[0][:1].isupper():
            return (*prefix, *parts)
        if parts[0] not in self.objects:
            raise QueryError(f"{what}: unknown object type {parts[0]!r}; {did_you_mean(parts[0], self.objects)}")
        try:
            chain = one_chain(self.objects, plan.base, parts[0], tail=(*parts[1:], *tail))
        except AmbiguousPath as exc:
            raise AmbiguousPath(
                f"{what}: {exc.message}",
                candidates=exc.candidates,
                hint=f"{exc.hint}, or a named dimension (`brain metrics`) that declares its path",
            ) from None
        return (*chain, *parts[1:])

    def _require_property(self, target: str, name: str, names: list[str], what: str) -> None:
        obj = self.objects[target]
        if name in obj.properties:
            return
        shown = ".".join(names)
        link = obj.links.get(name)
        if link is not None:
            end = self.objects[link.to]
            example = "name" if "name" in end.properties else end.key
            raise QueryError(
                f"{what}: {shown} ends at a link ({target}.{name}, to {link.to}), not at a property",
                hint=f"name a property of {link.to} after it, e.g. {shown}.{example}",
            )
        raise QueryError(
            f"{what}: {target} has no property {name!r}; {did_you_mean(name, [*obj.properties, *obj.links])}"
        )

    def _semi_join(self, node: exp.Exists, plan: JoinPlan, what: str, prefix: LinkPath) -> exp.Expr:
        """`exists(link, condition)`: whether an object has a linked object (through a one-to-many or
        many-to-many link) for which the condition holds, as EXISTS (SELECT 1 ...) over its own joins."""
        names = path_parts(node.this)
        if names is None:
            raise QueryError(
                f"{what}: {node.this.sql()!r} is not a link",
                hint="write exists(<a one-to-many or many-to-many link>, <condition on the linked objects>)",
            )
        *parts, link_name = names
        owner_path = self._path(plan, parts, what, prefix, tail=(link_name,))
        owner = type_at(self.objects, plan.base, owner_path)
        key = self.objects[owner].key
        forward = self.objects[owner].links.get(link_name)
        reverse = [
            (source, declared_as, link)
            for source, obj in self.objects.items()
            for declared_as, link in obj.links.items()
            if link.to == owner and link.reverse == link_name
        ]
        if forward is not None and forward.columns:
            raise QueryError(
                f"{what}: {owner}.{link_name} is many-to-one (an {owner} has at most one): test it directly, "
                f"e.g. {'.'.join([*names, self.objects[forward.to].key])} IS NOT NULL"
            )
        if forward is None and not reverse:
            known = [*self.objects[owner].links, *(r for o in self.objects.values() for r in _reverse_names(o, owner))]
            raise QueryError(f"{what}: {owner} has no link {link_name!r}; {did_you_mean(link_name, known)}")
        here = plan.alias(owner_path)
        linked = forward.to if forward is not None else reverse[0][0]
        inner = plan.nest(linked)
        there = inner.aliases[()]
        tests = [self.resolve(node.expression, inner, f"{what}, exists({'.'.join(names)})")] if node.expression else []
        restricted = inner.restrict(inner) if inner.restrict is not None else []  # the reader's row filters
        select = inner.from_clause(exp.select(exp.Literal.number(1)))
        pairs = f"{inner.prefix}p"
        linked_key = col(self.objects[linked].key, there)
        if forward is not None:  # many-to-many, declared on the owner
            select = select.join(
                link_table(owner, link_name).as_(pairs, quoted=True), on=col("to_key", pairs).eq(linked_key)
            )
            correlated = [col("from_key", pairs).eq(col(key, here))]
        elif reverse[0][2].columns:  # one-to-many: the reverse of a many-to-one link
            correlated = [
                col(mine, there).eq(col(theirs, here)) for mine, theirs in reverse[0][2].pairs(self.objects[owner])
            ]
        else:  # many-to-many, declared on the linked type
            table = link_table(linked, reverse[0][1]).as_(pairs, quoted=True)
            select = select.join(table, on=col("from_key", pairs).eq(linked_key))
            correlated = [col("to_key", pairs).eq(col(key, here))]
        return exp.Exists(this=select.where(exp.and_(*correlated, *tests, *restricted)))

    def touched_properties(self, tree: exp.Expr, plan: JoinPlan) -> list[tuple[str, str]]:
        """(object type, property) of every column a resolved tree reads, in its semi-joins too."""
        reads = plan.reads()
        found = []
        for column in tree.find_all(exp.Column):
            read = reads.get(column.table)
            if read is not None:
                found.append((type_at(self.objects, read[0].base, read[1]), column.name))
        return found


def _reverse_names(obj: ObjectType, target: str) -> list[str]:
    return [link.reverse for link in obj.links.values() if link.to == target and link.reverse]


def _safe_division(node: exp.Expr) -> exp.Expr:
    if isinstance(node, exp.Div):
        numerator = exp.Cast(this=node.this, to=exp.DataType.build("DOUBLE"))
        return exp.Div(this=numerator, expression=exp.func("nullif", node.expression, exp.Literal.number(0)))
    return node

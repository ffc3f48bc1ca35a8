"""MetricQuery + Policy -> one SQL tree. Policies are applied here, so no caller can bypass them.

Each base object gets its own aggregate subquery at the requested grain (joins follow only
many-to-one links, so rows never multiply); the subqueries meet on their dimension values;
derived metrics are computed from the aggregates last, so ratios roll up correctly.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from sqlglot import exp

from companybrain.errors import PolicyDenied, QueryError
from companybrain.governance.policy import Policy
from companybrain.semantic.disclosure import Protected, filtered, protected_types
from companybrain.semantic.filters import parse_filter
from companybrain.semantic.guard import check_read
from companybrain.semantic.joins import JoinPlan
from companybrain.semantic.model import AFTER_DAY, BUCKET, FIRST_DAY, SPINE, TIME_GRAINS, SemanticModel
from companybrain.semantic.period import Period, buckets, grain, parse_period, trailing_year
from companybrain.semantic.policies import row_filter_conditions
from companybrain.semantic.query import MetricQuery
from companybrain.specs.ontology import parse_expression
from companybrain.warehouse.ddl import col

DOUBLE = exp.DataType.build("DOUBLE")
BIGINT = exp.DataType.build("BIGINT")


WITHHELD = "__withheld__"  # prefix of the hidden columns saying which values were withheld (disclosure.py)


@dataclass
class Compiled:
    tree: exp.Select
    columns: list[str]
    period: Period | None
    objects: set[str] = field(default_factory=set)
    row_filters: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    # metric -> why some of its values may be withheld (small groups of masked values); its hidden
    # column WITHHELD + metric says where
    withheld: dict[str, str] = field(default_factory=dict)
    # base metric -> the conditions (over its group's columns) under which its values may be shown
    shown_if: dict[str, list[exp.Expr]] = field(default_factory=dict)


def compile_query(
    model: SemanticModel,
    query: MetricQuery,
    policy: Policy,
    today: date,
    sources: dict[str, exp.Query] | None = None,
) -> Compiled:
    """Compile a query; `sources` replaces object types' tables (a scenario's overlays, see JoinPlan)."""
    if not query.metrics:
        raise QueryError("name at least one metric", hint="brain metrics lists them")
    if len(set(query.by)) != len(query.by):
        raise QueryError("a dimension is named twice in --by")
    bases: list[str] = []
    for name in query.metrics:
        needed = model.base_metrics(name)
        objects = sorted({model.metric(b).object or "" for b in needed})
        policy.require_metric(name, objects, model.tags_read(name))
        bases.extend(b for b in needed if b not in bases)
    period = parse_period(query.period, today) if query.period else None
    averaged = [b for b in bases if model.metric(b).averaged_over_days]
    if period is None and averaged:
        # an average over days needs days to average over; the other metrics count over the same span
        period = trailing_year(today)
    groups: dict[tuple[str, str], list[str]] = {}
    for base in bases:
        metric = model.metric(base)
        assert metric.object is not None
        time_key = metric.time_of(model.objects[metric.object].time) or ""
        if metric.averaged_over_days:
            time_key = f"active {metric.active_from}..{metric.active_until}"
        groups.setdefault((metric.object, time_key), []).append(base)
    compiled = Compiled(exp.select(), [*query.by, *query.metrics], period)
    described = period.describe(today) if period is not None else None
    if described is not None:
        compiled.notes.append(described)
    subqueries = [
        _group_query(model, query, policy, base_object, names, period, compiled, sources or {}, f"g{i}")
        for i, ((base_object, _), names) in enumerate(groups.items())
    ]
    compiled.tree = _combine(model, query, subqueries, groups, compiled)
    check_read(compiled.tree, model.functions)
    return compiled


def _group_query(
    model: SemanticModel,
    query: MetricQuery,
    policy: Policy,
    base: str,
    metrics: list[str],
    period: Period | None,
    compiled: Compiled,
    sources: dict[str, exp.Query],
    alias: str,
) -> exp.Select:
    plan = JoinPlan(model.objects, base, sources=sources)
    # semi-joins (exists(...)) read other objects: the reader's row filters hold there too
    plan.restrict = lambda nested: row_filter_conditions(model, policy, nested)[0]
    fiscal = model.project.calendar.fiscal_year_start_month
    time = model.time_expr(metrics[0], plan)
    averaged = model.metric(metrics[0]).averaged_over_days
    grains = [name for name in query.by if name in TIME_GRAINS]
    if averaged and len(grains) > 1:
        raise QueryError(f"{', '.join(metrics)} are averaged over days: break them down by one time grain at most")
    dims: list[exp.Expr] = []
    for name in query.by:
        if name in TIME_GRAINS and averaged:
            dims.append(col(BUCKET, SPINE))
        elif name in TIME_GRAINS:
            if time is None:
                snapshot = [m for m in metrics if model.metric(m).snapshot]
                raise QueryError(
                    f"{', '.join(snapshot)}: read as it stands today (a snapshot), so it has no trend by {name}"
                    if snapshot
                    else f"{', '.join(metrics)} on {base} have no time, so they cannot be broken down by {name}"
                )
            dims.append(grain(name, time, fiscal))
        else:
            dims.append(model.dimension(name, plan))
    conditions: list[exp.Expr] = []
    user_filter = model.resolve(parse_filter(query.where), plan, "filter") if query.where else None
    # what the caller groups or filters on must be readable; the metric's own definition and
    # time column are covered by the grant of the metric (a time grain groups on that column: masked
    # values it reads are then shown only over large enough groups, disclosure.py)
    grouped = [d for name, d in zip(query.by, dims, strict=True) if name not in TIME_GRAINS]
    asked = [*grouped, *([user_filter] if user_filter is not None else [])]
    if period is not None and not averaged:
        if time is None:
            compiled.notes.append(f"{', '.join(metrics)}: as it stands today; the period does not apply")
        else:
            conditions.append(period.condition(time))
    for expr in asked:
        for type_name, prop in model.touched_properties(expr, plan):
            if policy.masked(type_name, prop):
                raise PolicyDenied(
                    f"{type_name}.{prop} is masked for user {policy.principal.user!r}: "
                    "it cannot be grouped or filtered on",
                    policy="masking",
                )
    # a filter every metric of the group shares is one WHERE, not a FILTER on each aggregate
    shared = {model.metric(m).where for m in metrics}
    hoist = len(shared) == 1 and None not in shared
    aggregates = [model.aggregate(m, plan, filtered=not hoist) for m in metrics]
    if hoist:
        conditions.append(model.resolve(parse_expression(shared.pop() or ""), plan, "metric filter"))
    row_conditions, described = row_filter_conditions(model, policy, plan)
    conditions.extend(row_conditions)
    compiled.row_filters.extend(d for d in described if d not in compiled.row_filters)
    for type_name in sorted(plan.types_used()):
        policy.require_object(type_name)
    compiled.objects |= plan.types_used()
    protected = protected_types(model, policy, base, metrics)
    counts: list[exp.Expr] = []
    having: exp.Expr | None = None
    if protected:
        # the filter counts inside each aggregate, so that the objects it leaves out can be counted too
        if user_filter is not None:
            aggregates = [filtered(a, user_filter) for a in aggregates]
            if dims:
                rows = filtered(exp.Count(this=exp.Star()), user_filter)
                having = exp.GT(this=rows, expression=exp.Literal.number(0))
        counts, shown = _group_sizes(model, plan, protected, user_filter, alias, policy.project.min_group_size)
        names = sorted({p.type_name for p in protected})
        for m in metrics:
            compiled.shown_if[m] = shown
            compiled.withheld[m] = (
                f"{m} reads values masked for you, so it is shown only for groups of at least "
                f"{policy.project.min_group_size} {' and '.join(names)} objects"
                + (" (and with none, or as many, left out by the filter)" if user_filter is not None else "")
            )
    elif user_filter is not None:
        conditions.append(user_filter)
    select = exp.select(
        *[exp.alias_(d, f"d{i}", quoted=True) for i, d in enumerate(dims)],
        *[exp.alias_(a, m, quoted=True) for a, m in zip(aggregates, metrics, strict=True)],
        *counts,
    )
    active = model.active_days(metrics[0], plan) if averaged else None
    select = plan.from_clause(select)
    if active is not None:
        assert period is not None
        spine = _spine(period, grains[0] if grains else None, fiscal)
        select = select.join(spine, on=exp.LT(this=active[0], expression=active[1]), join_type="inner")
    if conditions:
        select = select.where(exp.and_(*conditions))
    if dims:
        select = select.group_by(*[exp.Literal.number(i + 1) for i in range(len(dims))])
    if having is not None:
        select = select.having(having)
    return select


def _spine(period: Period, grain_name: str | None, fiscal: int) -> exp.Values:
    """The calendar a metric averaged over days is spread on: a row per bucket of the time grain (or one
    for the whole period), each cut to the period."""
    rows = buckets(period, grain_name, fiscal) if grain_name else [(period.start, period.start, period.end)]

    def day(value: date) -> exp.Expr:
        return exp.Cast(this=exp.Literal.string(value.isoformat()), to=exp.DataType.build("DATE"))

    return exp.Values(
        expressions=[
            exp.Tuple(expressions=[exp.Literal.string(b) if isinstance(b, str) else day(b), day(first), day(after)])
            for b, first, after in rows
        ],
        alias=exp.TableAlias(
            this=exp.to_identifier(SPINE, quoted=True),
            columns=[exp.to_identifier(c, quoted=True) for c in (BUCKET, FIRST_DAY, AFTER_DAY)],
        ),
    )


def _group_sizes(
    model: SemanticModel,
    plan: JoinPlan,
    protected: list[Protected],
    user_filter: exp.Expr | None,
    alias: str,
    minimum: int,
) -> tuple[list[exp.Expr], list[exp.Expr]]:
    """Hidden columns counting each protected type's objects per group (in, and left out by, the
    user's filter), and the conditions over them under which a value may be shown."""
    columns: list[exp.Expr] = []
    shown: list[exp.Expr] = []
    least = exp.Literal.number(minimum)
    for i, item in enumerate(protected):
        key = col(model.objects[item.type_name].key, plan.alias(item.path))
        counted = exp.Count(this=exp.Distinct(expressions=[key]))
        inside = filtered(counted, user_filter) if user_filter is not None else counted
        columns.append(exp.alias_(inside, f"__n{i}", quoted=True))
        # a group with no row here has no object of it: nothing to withhold
        ok: exp.Expr = exp.GTE(this=col(f"__n{i}", alias), expression=least)
        if user_filter is not None:
            columns.append(exp.alias_(counted.copy(), f"__all{i}", quoted=True))
            left_out = exp.Sub(this=col(f"__all{i}", alias), expression=col(f"__n{i}", alias))
            ok = exp.and_(ok, exp.or_(left_out.eq(0), exp.GTE(this=left_out.copy(), expression=least)))
        shown.append(exp.func("coalesce", exp.paren(ok), exp.true()))
    return columns, shown


def _why(model: SemanticModel, compiled: Compiled, name: str) -> str:
    """Why a derived metric's values may be withheld: those of the metrics it is computed from."""
    reasons = [compiled.withheld[b] for b in model.base_metrics(name) if b in compiled.withheld]
    return f"{name} is computed from {'; '.join(dict.fromkeys(reasons))}"


def _combine(
    model: SemanticModel,
    query: MetricQuery,
    subqueries: list[exp.Select],
    groups: dict[tuple[str, str], list[str]],
    compiled: Compiled,
) -> exp.Select:
    dim_names = [f"d{i}" for i in range(len(query.by))]
    aliases = [f"g{i}" for i in range(len(subqueries))]
    columns: dict[str, exp.Expr] = {}
    joined = len(subqueries) > 1 and bool(dim_names)
    for alias, names in zip(aliases, groups.values(), strict=True):
        for m in names:
            columns[m] = col(m, alias)
            if joined and isinstance(parse_expression(str(model.metric(m).expr)), exp.Count):
                # a group another metric has and this count has not counted none of (exits by function: 0)
                columns[m] = exp.func("coalesce", columns[m], exp.Literal.number(0))
    outputs: list[exp.Expr] = []
    for i, name in enumerate(query.by):
        outputs.append(exp.alias_(col(dim_names[i], "spine" if len(subqueries) > 1 else "g0"), name, quoted=True))
    hidden: list[exp.Expr] = []
    for name in query.metrics:
        value = model.derived(name, columns)
        kind = BIGINT if model.metric(name).format == "count" and not model.metric(name).derived else DOUBLE
        shown = [c for base in model.base_metrics(name) for c in compiled.shown_if.get(base, [])]
        if shown:
            ok = exp.and_(*[c.copy() for c in shown])
            value = exp.Case(ifs=[exp.If(this=ok, true=value)])
            hidden.append(exp.alias_(exp.not_(ok.copy()), WITHHELD + name, quoted=True))
            compiled.withheld.setdefault(name, _why(model, compiled, name))
        outputs.append(exp.alias_(exp.Cast(this=value, to=kind), name, quoted=True))
    select = exp.select(*outputs, *hidden)
    for alias, sub in zip(aliases, subqueries, strict=True):
        select = select.with_(alias, as_=sub)
    if len(subqueries) == 1:
        select = select.from_(exp.to_identifier("g0"))
    elif not dim_names:
        select = select.from_(exp.to_identifier("g0"))
        for alias in aliases[1:]:
            select = select.join(exp.to_identifier(alias), join_type="cross")
    else:
        spine = exp.union(
            *[exp.select(*[col(d) for d in dim_names]).from_(exp.to_identifier(a)) for a in aliases], distinct=True
        )
        select = select.with_("spine", as_=spine).from_(exp.to_identifier("spine"))
        for alias in aliases:
            on = exp.and_(*[exp.NullSafeEQ(this=col(d, alias), expression=col(d, "spine")) for d in dim_names])
            select = select.join(exp.to_identifier(alias), on=on, join_type="left")
    order = query.order_by or tuple(query.by)
    known = {*query.by, *query.metrics}
    for item in order:
        name = item.lstrip("-")
        if name not in known:
            raise QueryError(f"cannot order by {name!r}: it is not a metric or dimension of this query")
        select = select.order_by(
            exp.Ordered(this=exp.to_identifier(name, quoted=True), desc=item.startswith("-"), nulls_first=False)
        )
    if query.limit is not None:
        select = select.limit(query.limit)
    return select

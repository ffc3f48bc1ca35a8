"""Governed object reads: lists, counts and one object with its links, under the caller's policy."""

from __future__ import annotations

from typing import Any

import pyarrow as pa
from sqlglot import exp

from companybrain.errors import NotFound, PolicyDenied, QueryError, did_you_mean
from companybrain.governance.policy import MASK, Policy
from companybrain.ontology.model import link_table, links_of
from companybrain.semantic.filters import parse_filter
from companybrain.semantic.guard import check_read
from companybrain.semantic.joins import JoinPlan
from companybrain.semantic.model import SemanticModel
from companybrain.semantic.policies import row_filter_conditions
from companybrain.warehouse.base import Warehouse
from companybrain.warehouse.ddl import col, literal

LINKED_SAMPLE = 10


def _select(
    model: SemanticModel, policy: Policy, type_name: str, where: str | None, columns: list[str] | None = None
) -> tuple[exp.Select, list[str]]:
    """SELECT the properties of a type (`columns`, default all; masked ones as ***), row filters applied."""
    policy.require_object(type_name)
    obj = model.objects[type_name]
    unknown = [c for c in columns or [] if c not in obj.properties]
    if unknown:
        raise QueryError(f"{type_name} has no property {unknown[0]!r}; {did_you_mean(unknown[0], obj.properties)}")
    shown = columns or list(obj.properties)
    plan, conditions = scope(model, policy, type_name, where)
    masked = [p for p in shown if policy.masked(type_name, p)]
    projections = [exp.alias_(literal(MASK) if p in masked else plan.column((), p), p, quoted=True) for p in shown]
    select = plan.from_clause(exp.select(*projections))
    for used in plan.types_used():
        policy.require_object(used)
    if conditions:
        select = select.where(exp.and_(*conditions))
    return select, masked


def scope(model: SemanticModel, policy: Policy, type_name: str, where: str | None) -> tuple[JoinPlan, list[exp.Expr]]:
    """The joins and conditions that pick the objects of a type a user asks for and may see: their filter
    (over the type's properties, or a linked object's through a link path, never a masked one) and the
    row filters of the user's roles."""
    plan = JoinPlan(model.objects, type_name)
    conditions: list[exp.Expr] = []
    if where:
        resolved = model.resolve(parse_filter(where), plan, "filter")
        for owner, prop in model.touched_properties(resolved, plan):
            if policy.masked(owner, prop):
                raise PolicyDenied(
                    f"{owner}.{prop} is masked for user {policy.principal.user!r}: it cannot be filtered on",
                    policy="masking",
                )
        conditions.append(resolved)
    conditions.extend(row_filter_conditions(model, policy, plan)[0])
    return plan, conditions


def count_by(
    wh: Warehouse, model: SemanticModel, policy: Policy, type_name: str, by: list[str], where: str | None
) -> tuple[pa.Table, exp.Select]:
    """How many objects of a type the user may see, per value of some dimensions (named, or Type.prop and
    link paths reached from the type); a masked dimension is refused."""
    policy.require_object(type_name)
    plan, conditions = scope(model, policy, type_name, where)
    dims = [model.dimension(name, plan) for name in by]
    for dim in dims:
        for owner, prop in model.touched_properties(dim, plan):
            if policy.masked(owner, prop):
                raise PolicyDenied(
                    f"{owner}.{prop} is masked for user {policy.principal.user!r}: it cannot be grouped on",
                    policy="masking",
                )
    count = exp.alias_(exp.Count(this=exp.Star()), "count", quoted=True)
    select = plan.from_clause(
        exp.select(*[exp.alias_(d, n, quoted=True) for d, n in zip(dims, by, strict=True)], count)
    )
    for used in plan.types_used():
        policy.require_object(used)
    if conditions:
        select = select.where(exp.and_(*conditions))
    positions = [exp.Literal.number(i + 1) for i in range(len(by))]
    query = select.group_by(*positions).order_by(*positions)
    return _arrow(wh, model, query), query


def find_objects(
    wh: Warehouse,
    model: SemanticModel,
    policy: Policy,
    type_name: str,
    where: str | None,
    limit: int | None,
    columns: list[str] | None = None,
) -> tuple[pa.Table, exp.Select, list[str]]:
    """The objects (ordered by key) as Arrow, the query that read them, and the masked properties."""
    select, masked = _select(model, policy, type_name, where, columns)
    key = model.objects[type_name].key
    query = select.order_by(col(key, "t0"))
    if limit is not None:
        query = query.limit(limit)
    return _arrow(wh, model, query), query, masked


def count_objects(
    wh: Warehouse, model: SemanticModel, policy: Policy, type_name: str, where: str | None
) -> tuple[int, exp.Select]:
    select, _ = _select(model, policy, type_name, where)
    query = exp.select(exp.func("count", exp.Star())).from_(select.subquery("q"))
    return int(_scalar(wh, model, query) or 0), query


def link_pairs(
    wh: Warehouse, model: SemanticModel, policy: Policy, type_name: str, link_name: str
) -> tuple[pa.Table, exp.Select]:
    """Every (key, linked) pair of a many-to-many link between objects the caller may see of both
    types - one read for what `get_object` gives one object at a time, and only samples of."""
    link = next((k for k in links_of(model.objects, type_name) if k.name == link_name), None)
    if link is None:
        names = [k.name for k in links_of(model.objects, type_name)]
        raise QueryError(f"{type_name} has no link {link_name!r}; {did_you_mean(link_name, names)}")
    if link.kind != "many_to_many":
        raise QueryError(f"{type_name}.{link_name} is {link.kind}: read its objects with a filter instead")
    forward = link.source == type_name and link.name == link.declared_as
    mine, theirs = ("from_key", "to_key") if forward else ("to_key", "from_key")

    def keys(name: str) -> exp.Select:
        key = model.objects[name].key
        if policy.masked(name, key):
            raise PolicyDenied(f"{name}.{key} is masked for user {policy.principal.user!r}", policy="masking")
        select, _ = _select(model, policy, name, None)  # the caller's row filters, on both sides
        return exp.select(col(model.objects[name].key, "q")).from_(select.subquery("q"))

    query = (
        exp.select(exp.alias_(col(mine), "key"), exp.alias_(col(theirs), "linked"))
        .from_(link_table(link.source, link.declared_as))
        .where(col(mine).isin(query=keys(type_name)))
        .where(col(theirs).isin(query=keys(link.target)))
        .order_by(col(mine), col(theirs))
    )
    return _arrow(wh, model, query), query


def _arrow(wh: Warehouse, model: SemanticModel, query: exp.Select) -> pa.Table:
    check_read(query, model.functions)
    return wh.query_arrow(query)


def _scalar(wh: Warehouse, model: SemanticModel, query: exp.Select) -> Any:
    check_read(query, model.functions)
    return wh.scalar(query)


def key_literal(model: SemanticModel, type_name: str, key: str) -> exp.Expr:
    obj = model.objects[type_name]
    if obj.properties[obj.key].type == "integer":
        try:
            return literal(int(key))
        except ValueError:
            raise QueryError(f"the key of {type_name} is an integer; got {key!r}") from None
    return literal(key)


def get_object(
    wh: Warehouse, model: SemanticModel, policy: Policy, type_name: str, key: str
) -> tuple[dict[str, Any], exp.Select]:
    """One object and its links; linked objects the caller may not read are left out, and say so."""
    obj = model.objects[type_name]
    select, masked = _select(model, policy, type_name, None)
    query = select.where(col(obj.key, "t0").eq(key_literal(model, type_name, key))).limit(1)
    rows = _arrow(wh, model, query).to_pylist()
    if not rows:
        raise NotFound(
            f"no {type_name} with {obj.key} = {key!r} that user {policy.principal.user!r} may see",
            hint=f"brain objects {type_name} --limit 10",
        )
    row = rows[0]
    links: dict[str, Any] = {}
    for link in links_of(model.objects, type_name):
        if not policy.can_read_object(link.target):
            links[link.name] = {"type": link.target, "kind": link.kind, "denied": True}
            continue
        target = model.objects[link.target]
        if link.kind == "many_to_one":
            value = row.get(link.via or "")
            found: list[dict[str, Any]] = []
            if value is not None and value != "***":
                target_select, _ = _select(model, policy, link.target, None)
                found = _arrow(
                    wh, model, target_select.where(col(target.key, "t0").eq(literal(value))).limit(1)
                ).to_pylist()
            links[link.name] = {"type": link.target, "kind": link.kind, "object": found[0] if found else None}
        elif link.kind == "one_to_many":
            assert link.via is not None
            linked_select, _ = _select(model, policy, link.source, None)
            linked = linked_select.where(col(link.via, "t0").eq(literal(row[obj.key])))
            total = int(_scalar(wh, model, exp.select(exp.func("count", exp.Star())).from_(linked.subquery("q"))) or 0)
            keys = (
                _arrow(
                    wh,
                    model,
                    exp.select(col(target.key, "q"))
                    .from_(linked.subquery("q"))
                    .order_by(col(target.key, "q"))
                    .limit(LINKED_SAMPLE),
                )
                .column(0)
                .to_pylist()
            )
            links[link.name] = {"type": link.target, "kind": link.kind, "count": total, "keys": keys}
        else:
            forward = link.source == type_name and link.name == link.declared_as
            pairs = link_table(link.source, link.declared_as)
            mine, theirs = ("from_key", "to_key") if forward else ("to_key", "from_key")
            # the linked objects the caller may see: their row filters hold through the pairing too
            visible, _ = _select(model, policy, link.target, None, [target.key])
            where = exp.and_(
                col(mine).eq(literal(row[obj.key])),
                col(theirs).isin(query=exp.select(col(target.key, "v")).from_(visible.subquery("v"))),
            )
            total = int(_scalar(wh, model, exp.select(exp.func("count", exp.Star())).from_(pairs).where(where)) or 0)
            keys = (
                _arrow(
                    wh,
                    model,
                    exp.select(col(theirs)).from_(pairs).where(where).order_by(col(theirs)).limit(LINKED_SAMPLE),
                )
                .column(0)
                .to_pylist()
            )
            links[link.name] = {"type": link.target, "kind": link.kind, "count": total, "keys": keys}
    return {"type": type_name, "key": row[obj.key], "properties": row, "masked": masked, "links": links}, query

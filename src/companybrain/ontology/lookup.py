"""Look objects up: filtered lists, counts, and one object with its linked objects."""

from __future__ import annotations

from typing import Any

import sqlglot
from sqlglot import exp

from companybrain.errors import NotFound, QueryError, did_you_mean
from companybrain.ontology.model import link_table, links_of, object_table
from companybrain.specs.ontology import SPEC_DIALECT, ObjectType
from companybrain.warehouse.base import Warehouse
from companybrain.warehouse.ddl import col, count_rows, literal

LINKED_SAMPLE = 10

# what a filter may contain: comparisons, boolean logic, literals, a few scalar functions
_ALLOWED = (
    exp.Column,
    exp.Identifier,
    exp.Literal,
    exp.Boolean,
    exp.Null,
    exp.Paren,
    exp.Neg,
    exp.Not,
    exp.And,
    exp.Or,
    exp.EQ,
    exp.NEQ,
    exp.GT,
    exp.GTE,
    exp.LT,
    exp.LTE,
    exp.Is,
    exp.In,
    exp.Between,
    exp.Like,
    exp.ILike,
    exp.Add,
    exp.Sub,
    exp.Mul,
    exp.Div,
    exp.Cast,
    exp.DataType,
    exp.Tuple,
    exp.Lower,
    exp.Upper,
    exp.Abs,
    exp.Coalesce,
    exp.Year,
    exp.Month,
    exp.Length,
    exp.Date,
    exp.Anonymous,
    exp.Var,
    exp.DPipe,
)
_FUNCTIONS = {"lower", "upper", "abs", "coalesce", "year", "month", "length", "date", "date_trunc"}


def parse_filter(type_name: str, obj: ObjectType, text: str) -> exp.Expr:
    """Parse `--where`; only the type's properties, comparisons and simple functions are allowed."""
    try:
        tree = sqlglot.parse_one(text, dialect=SPEC_DIALECT)
    except sqlglot.errors.ParseError as exc:
        raise QueryError(f"cannot parse the filter {text!r}: {exc.errors[0]['description']}") from None
    for node in tree.walk():
        if not isinstance(node, _ALLOWED):
            raise QueryError(
                f"the filter {text!r} uses {node.key.upper()}, which a filter may not use",
                hint="use comparisons (=, <>, <, >, IN, LIKE, BETWEEN, IS NULL) joined by AND/OR",
            )
        if isinstance(node, exp.Anonymous) and node.name.lower() not in _FUNCTIONS:
            raise QueryError(f"the filter {text!r} calls {node.name}(), which a filter may not use")
        if isinstance(node, exp.Column):
            if node.table:
                raise QueryError(f"write {node.name} without a qualifier in a filter on {type_name}")
            if node.name not in obj.properties:
                raise QueryError(
                    f"{type_name} has no property {node.name!r}; {did_you_mean(node.name, obj.properties)}"
                )
    return tree


def find_objects(wh: Warehouse, type_name: str, obj: ObjectType, where: str | None, limit: int) -> list[dict[str, Any]]:
    query = exp.select(*[col(p) for p in obj.properties]).from_(object_table(type_name))
    if where:
        query = query.where(parse_filter(type_name, obj, where))
    return wh.query_arrow(query.order_by(col(obj.key)).limit(limit)).to_pylist()


def count_objects(wh: Warehouse, type_name: str, obj: ObjectType, where: str | None) -> int:
    condition = parse_filter(type_name, obj, where) if where else None
    return int(wh.scalar(count_rows(object_table(type_name), condition)) or 0)


def key_literal(obj: ObjectType, key: str) -> exp.Expr:
    kind = obj.properties[obj.key].type
    if kind == "integer":
        try:
            return literal(int(key))
        except ValueError:
            raise QueryError(f"the key of this type is an integer; got {key!r}") from None
    return literal(key)


def get_object(wh: Warehouse, objects: dict[str, ObjectType], type_name: str, key: str) -> dict[str, Any]:
    """One object with its links: the target of each many-to-one, counts and keys of the others."""
    obj = objects[type_name]
    query = exp.select(*[col(p) for p in obj.properties]).from_(object_table(type_name))
    rows = wh.query_arrow(query.where(col(obj.key).eq(key_literal(obj, key))).limit(1)).to_pylist()
    if not rows:
        raise NotFound(f"no {type_name} with {obj.key} = {key!r}", hint=f"brain objects {type_name} --limit 10")
    row = rows[0]
    links: dict[str, Any] = {}
    for link in links_of(objects, type_name):
        target = objects[link.target]
        if link.kind == "many_to_one":
            value = row.get(link.via or "")
            found = (
                wh.query_arrow(
                    exp.select(*[col(p) for p in target.properties])
                    .from_(object_table(link.target))
                    .where(col(target.key).eq(literal(value)))
                    .limit(1)
                ).to_pylist()
                if value is not None
                else []
            )
            links[link.name] = {"type": link.target, "kind": link.kind, "object": found[0] if found else None}
        elif link.kind == "one_to_many":
            assert link.via is not None
            where = col(link.via).eq(literal(row[obj.key]))
            total = int(wh.scalar(count_rows(object_table(link.source), where)) or 0)
            keys = (
                wh.query_arrow(
                    exp.select(col(target.key))
                    .from_(object_table(link.source))
                    .where(where)
                    .order_by(col(target.key))
                    .limit(LINKED_SAMPLE)
                )
                .column(0)
                .to_pylist()
            )
            links[link.name] = {"type": link.target, "kind": link.kind, "count": total, "keys": keys}
        else:
            forward = link.source == type_name and link.name == link.declared_as
            pairs = link_table(link.source, link.declared_as)
            mine, theirs = ("from_key", "to_key") if forward else ("to_key", "from_key")
            where = col(mine).eq(literal(row[obj.key]))
            total = int(wh.scalar(count_rows(pairs, where)) or 0)
            keys = (
                wh.query_arrow(
                    exp.select(col(theirs)).from_(pairs).where(where).order_by(col(theirs)).limit(LINKED_SAMPLE)
                )
                .column(0)
                .to_pylist()
            )
            links[link.name] = {"type": link.target, "kind": link.kind, "count": total, "keys": keys}
    return {"type": type_name, "key": row[obj.key], "properties": row, "links": links}

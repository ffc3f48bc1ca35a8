"""Where objects live in the warehouse and the SELECT that materializes each type."""

from __future__ import annotations

import re
from dataclasses import dataclass

import sqlglot
from sqlglot import exp

from companybrain.specs.ontology import SPEC_DIALECT, ObjectType, parse_expression
from companybrain.warehouse.ddl import col, table
from companybrain.warehouse.types import sql_type

SCHEMA = "ontology"
FACTORY_SCHEMA = "factory"
WRITEBACK_SCHEMA = "writeback"  # actions' write-back tables: the decisions in force (ontology/decisions.py)
BRAIN_SCHEMAS = (FACTORY_SCHEMA, WRITEBACK_SCHEMA)  # what the brain writes itself, that objects map
NEXT = "__next__"


def snake(name: str) -> str:
    """OrderLine -> order_line."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def object_table(name: str, staged: bool = False) -> exp.Table:
    return table(SCHEMA, (NEXT if staged else "") + snake(name))


def link_table(obj: str, link: str, staged: bool = False) -> exp.Table:
    return table(SCHEMA, (NEXT if staged else "") + f"{snake(obj)}__{link}")


def raw_ref(text: str) -> exp.Table:
    schema, _, name = text.partition(".")
    return table(schema, name)


@dataclass(frozen=True)
class LinkView:
    """A link as seen from one object type: forward (many-to-one, many-to-many) or reverse (one-to-many)."""

    name: str
    source: str  # the type that declares the link
    target: str
    kind: str  # many_to_one | one_to_many | many_to_many
    via: str | None  # the property holding the foreign key, on `source`
    declared_as: str  # the link's name on `source`


def links_of(objects: dict[str, ObjectType], name: str) -> list[LinkView]:
    """Every link an object type has, including the reverse side of links pointing at it.

    Links on several columns (or on properties other than the target's key) are left out: what lists
    one object's links reads a link through one column; metrics and filters follow them all."""
    found = [
        LinkView(link_name, name, link.to, link.cardinality, link.via, link_name)
        for link_name, link in objects[name].links.items()
        if link.via or link.through
    ]
    for other, obj in objects.items():
        for link_name, link in obj.links.items():
            if link.to != name or link.reverse is None or not (link.via or link.through):
                continue
            kind = "one_to_many" if link.via else "many_to_many"
            found.append(LinkView(link.reverse, other, other, kind, link.via, link_name))
    return found


def prediction_table(usecase: str) -> exp.Table:
    """Where the factory keeps a use case's latest scores: one row per scored object."""
    return table(FACTORY_SCHEMA, f"predictions__{usecase}")


# the scores table's columns; `_`-prefixed so that they never clash with a source's own columns
PREDICTION_COLUMNS = {
    "_entity_key": "string",
    "_value": "float",
    "_reasons": "string",
    "_version": "string",
    "_scored_at": "timestamp",
}
PREDICTED_SUFFIXES = {"": "_value", "_reasons": "_reasons", "_version": "_version"}


def brain_tables(objects: dict[str, ObjectType]) -> dict[exp.Table, dict[str, str]]:
    """The tables the brain itself writes that objects are built from, with their columns: the
    factory's scores tables of predicted properties, the forecast tables that forecast objects map,
    and the write-back tables that decision objects map. They exist (empty) before the first
    training or the first approved action, so that every object type can be built from the start."""
    found: dict[exp.Table, dict[str, str]] = {}
    for obj in objects.values():
        for prop in obj.properties.values():
            if prop.predicted_by:
                found[prediction_table(prop.predicted_by)] = PREDICTION_COLUMNS
        if obj.source and obj.source.partition(".")[0] in BRAIN_SCHEMAS:
            found[raw_ref(obj.source)] = {p.column or n: p.type for n, p in obj.properties.items()}
    return found


def materialize_query(obj: ObjectType) -> exp.Select:
    """SELECT the typed properties of an object type from its raw table or SQL.

    Properties the factory predicts come from its scores table, joined on the object's key, so a
    rebuilt object keeps the latest scores."""
    if obj.sql is not None:
        query = sqlglot.parse_one(obj.sql, dialect=SPEC_DIALECT)
        assert isinstance(query, exp.Query)
        source: exp.Expr = query.subquery("src")
    else:
        assert obj.source is not None
        source = raw_ref(obj.source)
    key_prop = obj.properties[obj.key]
    key_value = parse_expression(key_prop.expr) if key_prop.expr else col(key_prop.column or obj.key)
    projections = []
    joins: list[str] = []
    for name, prop in obj.properties.items():
        if prop.predicted_by:
            alias = f"_scores_{prop.predicted_by}"
            if alias not in joins:
                joins.append(alias)
            value: exp.Expr = exp.column(prop.column or "_value", table=alias)
        else:
            value = parse_expression(prop.expr) if prop.expr else col(prop.column or name)
        projections.append(exp.Cast(this=value, to=sql_type(prop.type)).as_(name, quoted=True))
    select = exp.select(*projections).from_(source)
    for alias in joins:
        usecase = alias[len("_scores_") :]
        on = exp.column("_entity_key", table=alias).eq(exp.Cast(this=key_value.copy(), to=sql_type("string")))
        select = select.join(prediction_table(usecase).as_(alias), on=on, join_type="left")
    if obj.where:
        select = select.where(parse_expression(obj.where))
    return select


def link_query(obj: ObjectType, link_name: str) -> exp.Select:
    """The pairs of keys of a many-to-many link, from its raw link table."""
    link = obj.links[link_name]
    assert link.through and link.from_column and link.to_column
    return (
        exp.select(col(link.from_column).as_("from_key", quoted=True), col(link.to_column).as_("to_key", quoted=True))
        .distinct()
        .from_(raw_ref(link.through))
        .where(exp.and_(col(link.from_column).is_(exp.null()).not_(), col(link.to_column).is_(exp.null()).not_()))
    )

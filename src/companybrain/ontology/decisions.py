"""Decisions on the company model: the table of each `write` effect is an object type.

An applied action's write-back row (`writeback.<table>`, one row per key) is a decision object. Its
properties are the row's columns (the action's parameters, unless the effect maps `columns`) plus
action_id (its key), action_type, approved_by and applied_at; it links many-to-one to the objects
its `object:` parameters name, and they link back to it (Order -> order_promises). The type is
derived from the action files, never declared in ontology/, as the factory's outputs are.

`brain build` materializes decision types like any other type (from the write-back table). An
approval or a rollback changes a write-back row inside its own transaction and, in the same
transaction, the decision objects of that key (`refresh`): a decision is on the company model the
moment it is applied and gone the moment it is rolled back, without a build.
"""

from __future__ import annotations

import string
from typing import Any

from sqlglot import exp

from companybrain.ontology.model import WRITEBACK_SCHEMA, materialize_query, object_table
from companybrain.specs.actions import ActionType, WriteEffect
from companybrain.specs.ontology import ObjectType, Property
from companybrain.warehouse.base import Warehouse
from companybrain.warehouse.ddl import col, insert_select, literal, table
from companybrain.warehouse.types import logical_type

KEY = "action_id"
# what every write-back row carries besides the action's values
ROW_COLUMNS = {"action_id": "integer", "action_type": "string", "applied_at": "string", "applied_by": "string"}
# the property of a write-back column whose name differs (the one who approved is the one who applied)
PROPERTY_NAMES = {"applied_by": "approved_by"}
# amounts a replan puts on its actions, in the company's currency: masked wherever money is
REPLAN_MONEY = frozenset({"value", "freight", "expedite_cost"})
LOGICAL = {"string": "string", "integer": "integer", "number": "float", "date": "date", "boolean": "boolean"}
_ABOUT = {
    "action_id": "The action that took this decision.",
    "action_type": "The action type (actions/*.yaml).",
    "approved_by": "The user whose approval applied it.",
    "applied_at": "When it was applied (UTC, ISO 8601).",
}


def reserved(action: ActionType, effect: WriteEffect) -> list[str]:
    """The columns an effect declares (or its parameters give) that the brain writes itself."""
    declared = [*effect.key, *column_templates(action, effect)]
    return [c for c in declared if c in ROW_COLUMNS or c in PROPERTY_NAMES.values()]


def writeback_table(name: str) -> exp.Table:
    return table(WRITEBACK_SCHEMA, name)


def default_type_name(table_name: str) -> str:
    """order_promises -> OrderPromise, order_priorities -> OrderPriority."""
    *head, last = table_name.split("_")
    for plural, singular in (("ies", "y"), ("sses", "ss"), ("xes", "x"), ("ches", "ch"), ("shes", "sh")):
        if last.endswith(plural):
            last = last[: -len(plural)] + singular
            break
    else:
        if last.endswith("s") and not last.endswith("ss"):
            last = last[:-1]
    return "".join(word[:1].upper() + word[1:] for word in [*head, last] if word)


def type_name(effect: WriteEffect) -> str:
    """The decision object type of a write effect: declared with `object:`, else from its table."""
    return effect.object or default_type_name(effect.table)


def column_templates(action: ActionType, effect: WriteEffect) -> dict[str, str]:
    """Column -> template of the action's values (default: every parameter under its own name)."""
    return effect.columns or {p: f"{{{p}}}" for p in action.parameters}


def writeback_columns(action: ActionType, effect: WriteEffect) -> dict[str, str]:
    """The write-back table's columns and their logical types (a one-name template keeps the type)."""
    columns: dict[str, str] = {k: LOGICAL[action.parameters[k].type] for k in effect.key}
    for name, template in column_templates(action, effect).items():
        param = single_name(action, template)
        columns.setdefault(name, LOGICAL[action.parameters[param].type] if param else "string")
    return {**columns, **ROW_COLUMNS}


def single_name(action: ActionType, template: str) -> str | None:
    """The parameter a template is exactly ("{order_id}"), if it is one."""
    names = [f for _, f, _, _ in string.Formatter().parse(template) if f]
    return names[0] if len(names) == 1 and template == f"{{{names[0]}}}" and names[0] in action.parameters else None


def decision_type(action: ActionType, effect: WriteEffect) -> tuple[str, ObjectType]:
    """The decision object type of a write effect as the warehouse holds it: properties and source.

    Links, tags and contracts are added when the project loads (project_checks); this part is all
    that materializing needs, so that an approval can refresh the objects without the project."""
    properties: dict[str, Property] = {}
    for column, kind in writeback_columns(action, effect).items():
        name = PROPERTY_NAMES.get(column, column)
        param = action.parameters.get(column)
        about = _ABOUT.get(name) or (param.description if param is not None and param.description else "")
        properties[name] = Property(
            type=kind,
            column=column if column != name else None,
            description=about or f"Column {column} of writeback.{effect.table}.",
        )
    obj = ObjectType(
        description=f"Decisions in force recorded in writeback.{effect.table}: one per "
        f"{', '.join(effect.key)}, by the action that applied it.",
        key=KEY,
        source=f"{WRITEBACK_SCHEMA}.{effect.table}",
        properties=properties,
    )
    return type_name(effect), obj


def ensure_tables(wh: Warehouse, action: ActionType, effect: WriteEffect) -> None:
    """Create the write-back table, or add the columns it lacks (one made before action_type was kept);
    and the build's record of the types it built, which `refresh` reads (outside the action's transaction)."""
    from companybrain.ontology.build import VERSION_COLUMNS, VERSIONS

    wh.ensure_table(writeback_table(effect.table), writeback_columns(action, effect))
    wh.ensure_table(VERSIONS, VERSION_COLUMNS)


def refresh(wh: Warehouse, name: str, obj: ObjectType, key: dict[str, Any]) -> bool:
    """Make the decision objects of one write-back key match its row (call inside the write's transaction);
    whether they do.

    A type that was never built is left to `brain build`. One built with other properties (its action type
    changed since) loses the objects of this key, which are no longer in force as they were built, and
    gets the key's row back from `brain build`, which rebuilds it from the write-back table. Four small
    statements: an approval stays fast."""
    return refresh_many(wh, name, obj, [key])


def refresh_many(wh: Warehouse, name: str, obj: ObjectType, keys: list[dict[str, Any]], chunk: int = 250) -> bool:
    """`refresh` for several write-back keys (of one table): two statements per chunk of keys, plus two,
    so that an approval of thousands of actions stays a matter of seconds."""
    from companybrain.ontology.build import VERSIONS

    if not keys:
        return True
    built = exp.select(exp.func("count", exp.Star())).from_(VERSIONS).where(col("object_type").eq(literal(name)))
    if not wh.scalar(built):
        return False
    live = object_table(name)
    columns = wh.query_arrow(exp.select("*").from_(live).limit(0)).schema
    properties = {k: _property_of(obj, k) for k in keys[0]}
    parts = [keys[i : i + chunk] for i in range(0, len(keys), chunk)]
    if all(p in columns.names for p in properties.values()):
        for part in parts:
            wh.execute(exp.delete(live, where=_match(part, properties)))
    if {f.name: logical_type(f.type) for f in columns} != {n: p.type for n, p in obj.properties.items()}:
        return False
    for part in parts:
        query = materialize_query(obj).where(_match(part, {k: k for k in keys[0]}))
        wh.execute(insert_select(live, list(obj.properties), query))
    return True


def _match(keys: list[dict[str, Any]], names: dict[str, str]) -> exp.Expr:
    """One of these keys, each column under the name `names` gives it."""
    if len(names) == 1:
        ((column, name),) = names.items()
        return col(name).isin(*[literal(k[column]) for k in keys])
    columns = list(names)
    rows = [exp.Tuple(expressions=[literal(k[c]) for c in columns]) for k in keys]
    return exp.Tuple(expressions=[col(names[c]) for c in columns]).isin(*rows)


def _property_of(obj: ObjectType, column: str) -> str:
    return next(n for n, p in obj.properties.items() if (p.column or n) == column)


def link_name(param: str) -> str:
    """The link from a decision to the object a parameter names: order_id -> order, from_line -> from_line_ref."""
    return param[: -len("_id")] if param.endswith("_id") and len(param) > 3 else f"{param}_ref"

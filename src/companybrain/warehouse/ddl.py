"""Builders for the few statements the layers above need, as sqlglot trees (no SQL strings)."""

from __future__ import annotations

from sqlglot import exp

from companybrain.warehouse.types import sql_type


def table(schema: str, name: str) -> exp.Table:
    """A quoted schema-qualified table reference."""
    return exp.Table(this=exp.to_identifier(name, quoted=True), db=exp.to_identifier(schema, quoted=True))


def col(name: str, table_alias: str | None = None) -> exp.Column:
    """A quoted column reference, optionally qualified by a table alias."""
    return exp.Column(
        this=exp.to_identifier(name, quoted=True),
        table=exp.to_identifier(table_alias, quoted=True) if table_alias else None,
    )


def drop_table(t: exp.Table) -> exp.Drop:
    return exp.Drop(tables=[t], kind="TABLE", exists=True)


def rename_table(t: exp.Table, new_name: str) -> exp.Alter:
    return exp.Alter(
        this=t,
        kind="TABLE",
        actions=[exp.AlterRename(this=exp.Table(this=exp.to_identifier(new_name, quoted=True)))],
    )


def add_column(t: exp.Table, name: str, logical: str) -> exp.Alter:
    return exp.Alter(
        this=t,
        kind="TABLE",
        actions=[exp.ColumnDef(this=exp.to_identifier(name, quoted=True), kind=sql_type(logical))],
    )


def create_table(t: exp.Table, columns: dict[str, str]) -> exp.Create:
    """CREATE TABLE IF NOT EXISTS with logical column types."""
    defs = [exp.ColumnDef(this=exp.to_identifier(n, quoted=True), kind=sql_type(k)) for n, k in columns.items()]
    return exp.Create(this=exp.Schema(this=t, expressions=defs), kind="TABLE", exists=True)


def create_table_as(t: exp.Table, query: exp.Query) -> exp.Create:
    return exp.Create(this=t, kind="TABLE", expression=query)


def insert_select(t: exp.Table, columns: list[str], query: exp.Query) -> exp.Insert:
    schema = exp.Schema(this=t, expressions=[exp.to_identifier(c, quoted=True) for c in columns])
    return exp.Insert(this=schema, expression=query)


def insert_values(t: exp.Table, row: dict[str, object]) -> exp.Insert:
    """INSERT one row of Python values (None, bool, int, float, str), each bound as a parameter."""
    values = exp.Tuple(expressions=[bound(v) for v in row.values()])
    schema = exp.Schema(this=t, expressions=[exp.to_identifier(c, quoted=True) for c in row])
    return exp.Insert(this=schema, expression=exp.Values(expressions=[values]))


def bound(value: object) -> exp.Expr:
    """A value the warehouse binds as a statement parameter: it never becomes SQL text (`Warehouse.bind`).

    Used wherever a value comes from outside the code (a load's error text, a record's request) and
    is written, so that no byte of it can change the statement."""
    node = exp.Placeholder()
    node.meta[BOUND] = value
    return node


BOUND = "bound_value"


def literal(value: object) -> exp.Expr:
    if value is None:
        return exp.Null()
    if isinstance(value, bool):
        return exp.Boolean(this=value)
    if isinstance(value, int | float):
        return exp.Literal.number(value)
    return exp.Literal.string(str(value))


def count_rows(t: exp.Table | exp.Query, where: exp.Expr | None = None) -> exp.Select:
    source = t if isinstance(t, exp.Table) else t.subquery("q")
    query = exp.select(exp.func("count", exp.Star())).from_(source)
    return query.where(where) if where is not None else query

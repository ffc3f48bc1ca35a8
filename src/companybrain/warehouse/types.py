"""Logical column types (the ones a project declares) and their Arrow and SQL forms."""

from __future__ import annotations

from typing import Any

import pyarrow as pa
from sqlglot import exp

from companybrain.specs.base import DataType

SQL_TYPES: dict[str, Any] = {
    "string": exp.DataType.Type.VARCHAR,
    "integer": exp.DataType.Type.BIGINT,
    "float": exp.DataType.Type.DOUBLE,
    "decimal": exp.DataType.Type.DECIMAL,
    "boolean": exp.DataType.Type.BOOLEAN,
    "date": exp.DataType.Type.DATE,
    "timestamp": exp.DataType.Type.TIMESTAMP,
}

ARROW_TYPES: dict[str, pa.DataType] = {
    "string": pa.string(),
    "integer": pa.int64(),
    "float": pa.float64(),
    "decimal": pa.decimal128(18, 4),
    "boolean": pa.bool_(),
    "date": pa.date32(),
    "timestamp": pa.timestamp("us"),
}


def sql_type(logical: DataType | str) -> exp.DataType:
    """The sqlglot type for a logical type (DECIMAL gets 18,4)."""
    if logical == "decimal":
        return exp.DataType.build("DECIMAL(18, 4)")
    return exp.DataType(this=SQL_TYPES[logical])


def logical_type(arrow: pa.DataType) -> str:
    """The logical kind of an Arrow type; 'null' for a column with no values seen yet."""
    if pa.types.is_null(arrow):
        return "null"
    if pa.types.is_string(arrow) or pa.types.is_large_string(arrow) or pa.types.is_string_view(arrow):
        return "string"
    if pa.types.is_integer(arrow):
        return "integer"
    if pa.types.is_floating(arrow):
        return "float"
    if pa.types.is_decimal(arrow):
        return "decimal"
    if pa.types.is_boolean(arrow):
        return "boolean"
    if pa.types.is_date(arrow):
        return "date"
    if pa.types.is_timestamp(arrow):
        return "timestamp"
    return str(arrow)


def normalize_arrow(table: pa.Table) -> pa.Table:
    """Map Arrow types every engine can store the same way (large/view strings, unsigned ints, nulls)."""
    fields = []
    changed = False
    for field in table.schema:
        kind = logical_type(field.type)
        target = field.type
        if kind == "null":
            target = pa.string()
        elif kind in ("string", "integer", "date", "float"):
            target = ARROW_TYPES[kind]
        elif kind == "timestamp" and field.type.unit != "us":
            target = pa.timestamp("us", tz=field.type.tz)
        changed |= target != field.type
        fields.append(pa.field(field.name, target))
    return table.cast(pa.schema(fields)) if changed else table

"""Dotted names a user sends (`Type.property`, `link.link.property`): parsed by hand into name parts,
never handed to a SQL parser, so that no text of theirs can become anything but a name."""

from __future__ import annotations

import re

from sqlglot import exp

from companybrain.errors import QueryError

NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
MAX_PARTS = 12  # a link path longer than this is not a question anyone asks


def parse_reference(text: str, what: str = "dimension") -> exp.Expr:
    """`Type.property` or `link.link.property` as a column tree; anything but dotted names is refused."""
    parts = text.split(".")
    if len(parts) > MAX_PARTS or not all(NAME.fullmatch(p) for p in parts):
        shown = text if len(text) <= 80 else text[:77] + "..."
        raise QueryError(
            f"{what} {shown!r} is not a name: use a dimension from `brain metrics`, Type.property "
            "(e.g. Customer.segment) or a link path (e.g. order.customer.segment) - letters, digits and _ only"
        )
    return reference(parts)


def reference(parts: list[str]) -> exp.Expr:
    """The tree of a dotted name: a column of up to four parts, then one Dot per further part."""
    head = [exp.to_identifier(p) for p in parts[:4]]
    names = dict(zip(("this", "table", "db", "catalog"), reversed(head), strict=False))
    node: exp.Expr = exp.Column(**names)
    for part in parts[4:]:
        node = exp.Dot(this=node, expression=exp.to_identifier(part))
    return node


def path_parts(node: exp.Expr) -> list[str] | None:
    """The names of a dotted reference (a column, or a longer chain sqlglot keeps as Dot), else None."""
    if isinstance(node, exp.Column) and isinstance(node.this, exp.Identifier):
        return [p for p in (node.catalog, node.db, node.table) if p] + [node.name]
    if isinstance(node, exp.Dot) and isinstance(node.expression, exp.Identifier):
        head = path_parts(node.this)
        return None if head is None else [*head, node.expression.name]
    return None

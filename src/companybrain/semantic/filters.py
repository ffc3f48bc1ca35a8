"""User-written filters (`--where`): parsed, and limited to comparisons over names, never SQL at large."""

from __future__ import annotations

import sqlglot
from sqlglot import exp

from companybrain.errors import QueryError
from companybrain.specs.ontology import SPEC_DIALECT

# what a filter may contain: comparisons, boolean logic, literals, arithmetic, a few scalar functions
ALLOWED = (
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
    exp.Anonymous,
    exp.Var,
    exp.DPipe,
    exp.Star,
)
FUNCTIONS = {"lower", "upper", "abs", "coalesce", "year", "month", "length"}


def parse_filter(text: str) -> exp.Expr:
    """Parse a filter; reject subqueries, statements and functions outside a short list."""
    try:
        tree = sqlglot.parse_one(text, dialect=SPEC_DIALECT)
    except sqlglot.errors.ParseError as exc:
        raise QueryError(f"cannot parse the filter {text!r}: {exc.errors[0]['description']}") from None
    for node in tree.walk():
        if not isinstance(node, ALLOWED) or isinstance(node, exp.Star):
            raise QueryError(
                f"the filter {text!r} uses {node.key.upper()}, which a filter may not use",
                hint="use comparisons (=, <>, <, >, IN, LIKE, BETWEEN, IS NULL) joined by AND/OR",
            )
        if isinstance(node, exp.Anonymous) and node.name.lower() not in FUNCTIONS:
            raise QueryError(f"the filter {text!r} calls {node.name}(), which a filter may not use")
    return tree

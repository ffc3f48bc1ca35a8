"""User-written filters (`--where`): parsed into a tree whose every node is on an allow-list (comparisons
over names and literals, a few scalar functions), never SQL at large; the names are resolved against
the model later (`SemanticModel.resolve`), so a column that is not a property is refused there."""

from __future__ import annotations

import sqlglot
from sqlglot import exp

from companybrain.errors import QueryError
from companybrain.semantic.references import path_parts
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
    exp.DPipe,
    exp.Dot,
)
FUNCTIONS = {"lower", "upper", "abs", "coalesce", "year", "month", "length"}
TYPES = {
    exp.DataType.Type.DATE,
    exp.DataType.Type.TIMESTAMP,
    exp.DataType.Type.INT,
    exp.DataType.Type.BIGINT,
    exp.DataType.Type.DOUBLE,
    exp.DataType.Type.FLOAT,
    exp.DataType.Type.DECIMAL,
    exp.DataType.Type.VARCHAR,
    exp.DataType.Type.TEXT,
    exp.DataType.Type.BOOLEAN,
}
MAX_LENGTH = 4000


def parse_filter(text: str) -> exp.Expr:
    """Parse a filter; refuse statements, subqueries, control characters, and functions or types outside
    a short list."""
    if len(text) > MAX_LENGTH:
        raise QueryError(f"the filter is {len(text):,} characters long; at most {MAX_LENGTH:,} are read")
    if any(ord(ch) < 32 and ch not in "\t\n\r" for ch in text):
        raise QueryError("the filter holds control characters; write it as plain text")
    try:
        trees = sqlglot.parse(text, dialect=SPEC_DIALECT)
    except sqlglot.errors.SqlglotError as exc:
        raise QueryError(f"cannot parse the filter {_shown(text)}: {_reason(exc)}") from None
    if len(trees) != 1 or trees[0] is None:
        raise QueryError(f"the filter {_shown(text)} is not one condition")
    tree = trees[0]
    for node in tree.walk():
        node.comments = None  # no text of the user's is carried into SQL, not even as a comment
        if not isinstance(node, ALLOWED):
            raise QueryError(
                f"the filter {_shown(text)} uses {node.key.upper()}, which a filter may not use",
                hint="use comparisons (=, <>, <, >, IN, LIKE, BETWEEN, IS NULL) joined by AND/OR",
            )
        if isinstance(node, exp.Anonymous) and node.name.lower() not in FUNCTIONS:
            raise QueryError(f"the filter {_shown(text)} calls {node.name}(), which a filter may not use")
        if isinstance(node, exp.Column | exp.Dot) and path_parts(node) is None:
            raise QueryError(f"the filter {_shown(text)} names {node.sql()!r}, which is not a property")
        if isinstance(node, exp.DataType) and node.this not in TYPES:
            raise QueryError(f"the filter {_shown(text)} casts to {node.sql()}, which a filter may not use")
    return tree


def _shown(text: str) -> str:
    return repr(text if len(text) <= 120 else text[:117] + "...")


def _reason(exc: sqlglot.errors.SqlglotError) -> str:
    errors = getattr(exc, "errors", None)
    return str(errors[0]["description"]) if errors else str(exc).splitlines()[0][:200]

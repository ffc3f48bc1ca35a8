"""The last check before a governed read runs: one query over the company model's own tables, with
nothing in it that could run a second statement, read a file or call a function nobody declared.

User text is checked where it is parsed (`filters.parse_filter`, `references.parse_reference`); this
check holds whatever a future path forgets, for the trees the compiler builds from the project too.
"""

from __future__ import annotations

from sqlglot import exp

from companybrain.errors import QueryError

# statements and clauses a read never contains
FORBIDDEN = (
    exp.Command,
    exp.Insert,
    exp.Update,
    exp.Delete,
    exp.Merge,
    exp.Drop,
    exp.Create,
    exp.Alter,
    exp.Set,
    exp.Pragma,
    exp.Use,
    exp.Transaction,
    exp.Commit,
    exp.Rollback,
    exp.Copy,
    exp.Describe,
    exp.Placeholder,
    exp.Parameter,
    exp.Into,
)
READ_SCHEMAS = ("ontology",)
SCENARIO_PREFIX = "scenario__"


def check_read(tree: exp.Expr, functions: frozenset[str]) -> None:
    """Refuse a tree that is not one read of the model's tables using only `functions` beyond SQL's own."""
    if not isinstance(tree, exp.Query):
        raise _refused(f"a {tree.key.upper()} statement")
    ctes = {cte.alias_or_name for cte in tree.find_all(exp.CTE)}
    for node in tree.walk():
        if isinstance(node, FORBIDDEN):
            raise _refused(node.key.upper())
        if isinstance(node, exp.Table):
            _check_table(node, ctes)
        elif isinstance(node, exp.Anonymous) and node.name.lower() not in functions:
            raise _refused(f"the function {node.name}()")


def _check_table(node: exp.Table, ctes: set[str]) -> None:
    if not isinstance(node.this, exp.Identifier) or node.catalog:
        raise _refused(f"the table source {node.sql()!r}")
    schema = node.db
    if schema in READ_SCHEMAS or schema.startswith(SCENARIO_PREFIX) or (not schema and node.name in ctes):
        return
    raise _refused(f"the table {node.sql()!r}")


def _refused(what: str) -> QueryError:
    return QueryError(
        f"the compiled query holds {what}, which a governed read may not; nothing was run",
        hint="this is a defect of the query path or a hostile input: report it with `brain audit tail`",
    )

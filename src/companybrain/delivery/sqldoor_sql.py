"""The SQL a BI tool sends through the SQL door, parsed with sqlglot into a tree and checked against an
allow-list: a read of a metric set becomes a MetricQuery for the one governed query path (never SQL for the
warehouse); a catalog read (pg_catalog, information_schema, version()) is answered from an empty mirror of
the metric sets (sqldoor.py); BEGIN, COMMIT, SET and SHOW are answered without reading anything. Anything
else is refused with the reason and what would be accepted."""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import sqlglot
from sqlglot import exp

from companybrain.delivery.sqldoor_tables import SCHEMA, MetricTable
from companybrain.errors import QueryError, did_you_mean
from companybrain.semantic.filters import ALLOWED as FILTER_NODES
from companybrain.semantic.query import MetricQuery
from companybrain.specs.ontology import SPEC_DIALECT

MAX_LENGTH = 100_000
SERVER_VERSION = "16.0 (Company Brain SQL door)"
OWNER = "brain"  # the owner of every metric set, as the catalog shows it
CATALOG_SCHEMAS = {"pg_catalog", "information_schema"}
# what a metric read may have besides its columns: FROM one metric set, WHERE, GROUP BY, ORDER BY, LIMIT
METRIC_CLAUSES = {"expressions", "from_", "where", "group", "order", "limit"}
# the functions a catalog read may call (the mirror holds no rows and no files; this keeps it so)
CATALOG_FUNCTIONS = {
    "version", "current_schema", "current_schemas", "current_database", "current_catalog", "current_user",
    "currentuser", "currentschema", "currentversion", "session_user", "current_setting", "pg_get_expr", "format_type",
    "pg_table_is_visible", "pg_type_is_visible", "pg_get_userbyid", "obj_description", "col_description",
    "shobj_description", "pg_encoding_to_char", "has_table_privilege", "has_schema_privilege",
    "has_database_privilege", "pg_backend_pid", "pg_is_in_recovery", "pg_get_constraintdef", "pg_get_indexdef",
    "array_to_string", "arraytostring", "unnest", "arrayagg", "array", "lower", "upper", "coalesce", "nullif",
    "concat", "substring", "length", "count", "max", "min", "cast", "case", "if", "quote_ident", "to_regtype",
}  # fmt: skip
# statements a client's driver sends around its reads; the door changes nothing, so they only answer
COMMANDS = {"SET": "SET", "SAVEPOINT": "SAVEPOINT", "RELEASE": "RELEASE"}
AGGREGATES = {"sum": exp.Sum, "min": exp.Min, "max": exp.Max, "avg": exp.Avg}
_STEP_DAYS = {"day": 1, "week": 7}
_STEP_MONTHS = {"month": 1, "quarter": 3, "year": 12}


@dataclass(frozen=True)
class Control:
    """A statement answered by its command tag alone (BEGIN, COMMIT, ROLLBACK, SET: nothing is changed)."""

    status: str
    in_transaction: bool | None = None  # after it: True (BEGIN), False (COMMIT, ROLLBACK), None as before


@dataclass(frozen=True)
class Show:
    """SHOW a setting."""

    name: str


@dataclass(frozen=True)
class CatalogRead:
    """A read of pg_catalog or information_schema (or of no table), to run on the empty mirror."""

    tree: exp.Query


@dataclass(frozen=True)
class MetricRead:
    """A read of a metric set: the governed query (None when no rows are asked, LIMIT 0) and the columns
    shown, each (name shown, column of the metric set)."""

    table: MetricTable
    query: MetricQuery | None
    outputs: list[tuple[str, str]]


Statement = Control | Show | CatalogRead | MetricRead


def translate(text: str, tables: dict[str, MetricTable], today: date, params: Sequence[object] = ()) -> Statement:
    """Parse one statement and map it, its bound parameters ($1, $2, ...) as literal values in the tree; a
    QueryError says why it is refused."""
    _check_text(text)
    try:
        trees = [t for t in sqlglot.parse(text, read="postgres") if t is not None]
    except sqlglot.errors.SqlglotError as exc:
        raise QueryError(f"cannot parse the statement: {_reason(exc)}") from None
    if len(trees) != 1:
        raise QueryError(
            f"the SQL door runs one statement at a time; this text holds {len(trees)}",
            hint="send each SELECT on its own",
        )
    tree = _bound(trees[0], params)
    if isinstance(tree, exp.Transaction):
        return Control("BEGIN", True)
    if isinstance(tree, exp.Commit):
        return Control("COMMIT", False)
    if isinstance(tree, exp.Rollback):
        return Control("ROLLBACK", None if tree.args.get("savepoint") else False)
    if isinstance(tree, exp.Set) or (isinstance(tree, exp.Command) and tree.name.upper() in COMMANDS):
        return Control(COMMANDS.get(tree.name.upper(), "SET"))
    if isinstance(tree, exp.Command) and tree.name.upper() == "SHOW":
        return Show(str(tree.expression.name if tree.expression else "").strip().lower())
    if not isinstance(tree, exp.Select):
        raise QueryError(
            f"the SQL door only reads: {tree.key.upper()} is not answered",
            hint="SELECT dimensions and measures FROM a metric set (information_schema.columns lists them)",
        )
    named = [t for t in tree.find_all(exp.Table) if t.name]
    if all(_is_catalog(t) for t in named):
        _check_catalog(tree)
        mirrored = tree.transform(_for_mirror)
        assert isinstance(mirrored, exp.Select)
        return CatalogRead(mirrored)
    if any(_is_catalog(t) for t in named):
        raise QueryError("a statement reads either the catalog or one metric set, not both")
    return _metric_read(tree, tables, today)


def _bound(tree: exp.Expr, params: Sequence[object]) -> exp.Expr:
    def bind(node: exp.Expr) -> exp.Expr:
        if not isinstance(node, exp.Parameter | exp.Placeholder):
            return node
        position = node.this.this if isinstance(node.this, exp.Literal) else None
        if position is None or not str(position).isdigit() or not 1 <= int(position) <= len(params):
            raise QueryError(f"the parameter {node.sql(dialect='postgres')} has no value bound ({len(params)} are)")
        value = params[int(position) - 1]
        if value is None:
            return exp.Null()
        if isinstance(value, bool | int | float):
            return exp.Literal.number(value)
        return exp.Literal.string(str(value))

    return tree.transform(bind)


def _check_text(text: str) -> None:
    if len(text) > MAX_LENGTH:
        raise QueryError(f"the statement is {len(text):,} characters long; at most {MAX_LENGTH:,} are read")
    for i, ch in enumerate(text):
        if ch not in "\t\n\r" and unicodedata.category(ch) in ("Cc", "Cf", "Co", "Cs"):
            raise QueryError(
                f"the statement holds the invisible or control character U+{ord(ch):04X} at position {i}; "
                "write it as plain text"
            )
    try:
        tokens = sqlglot.tokenize(text, read="postgres")
    except sqlglot.errors.SqlglotError as exc:
        raise QueryError(f"cannot read the statement: {_reason(exc)}") from None
    # a BI tool's tag before the statement (Metabase's `-- Metabase:: userID ...`) is read past; a comment
    # anywhere else is refused: nothing of the text but names and values is ever carried on
    if any(token.comments for token in tokens[1:]):
        raise QueryError("the statement holds a comment inside it; only a comment before the statement is read past")


def _is_catalog(table: exp.Table) -> bool:
    schema = table.db.lower()
    return schema in CATALOG_SCHEMAS or (not schema and table.name.lower().startswith("pg_"))


def _check_catalog(tree: exp.Expr) -> None:
    for node in tree.walk():
        node.comments = None
        if isinstance(node, exp.Table) and not isinstance(node.this, exp.Identifier):
            raise QueryError(f"a catalog read may not call the table function {node.this.sql()[:60]!r}")
        if isinstance(node, exp.Func) and not isinstance(node, exp.Connector | exp.Binary | exp.Unary):
            name = node.name.lower() if isinstance(node, exp.Anonymous) else node.key.lower()
            if name not in CATALOG_FUNCTIONS:
                raise QueryError(
                    f"a catalog read may not call {name}()",
                    hint="read pg_catalog or information_schema with comparisons, joins and the usual "
                    "catalog functions (version(), current_schema(), format_type(), ...)",
                )
        if isinstance(node, exp.DDL | exp.DML | exp.Command | exp.Pragma | exp.Into):
            raise QueryError(f"a catalog read may not hold {node.key.upper()}")


def _for_mirror(node: exp.Expr) -> exp.Expr:
    """pg_catalog.f(...) as f(...) (the mirror finds its catalog functions on its search path); what the
    mirror's engine would answer for itself (its version, its owner) as the door's."""
    if isinstance(node, exp.Dot) and isinstance(node.expression, exp.Func) and node.this.name.lower() == "pg_catalog":
        node = node.expression
    if isinstance(node, exp.CurrentVersion) or (isinstance(node, exp.Anonymous) and node.name.lower() == "version"):
        return exp.Literal.string(f"PostgreSQL {SERVER_VERSION}")
    if isinstance(node, exp.CurrentSchema) or (
        isinstance(node, exp.Anonymous) and node.name.lower() == "current_schema"
    ):
        return exp.Literal.string(SCHEMA)
    if isinstance(node, exp.Anonymous) and node.name.lower() == "pg_get_userbyid":
        return exp.Literal.string(OWNER)
    if isinstance(node, exp.Cast) and isinstance(node.to, exp.ObjectIdentifier):
        return node.this  # ::regclass, ::regtype: the mirror's oids stand for themselves
    if isinstance(node, exp.Anonymous) and node.name.lower() == "to_regtype":
        return exp.Null()  # the types a driver looks up (hstore, ...) are not the door's
    return node


def _metric_read(tree: exp.Select, tables: dict[str, MetricTable], today: date) -> MetricRead:
    extra = sorted(k for k, v in tree.args.items() if v not in (None, [], False) and k not in METRIC_CLAUSES)
    if extra:
        raise QueryError(
            f"a read of a metric set may not use {', '.join(k.upper() for k in extra)}",
            hint="SELECT dimensions and measures FROM one metric set [WHERE ...] GROUP BY the dimensions "
            "[ORDER BY ...] [LIMIT n]",
        )
    table, alias = _metric_table(tree, tables)
    limit = _limit(tree)
    names = {table.name, alias}
    by: list[str] = []
    metrics: list[str] = []
    outputs: list[tuple[str, str]] = []
    aliases: dict[str, str] = {}
    for item in tree.expressions:
        if isinstance(item, exp.Star):
            if limit != 0:
                raise QueryError(
                    f"SELECT * reads no metric: name the dimensions and measures of {table.name}",
                    hint=f"e.g. SELECT {table.dimensions[0] if table.dimensions else 'month'}, "
                    f"MEASURE({table.measures[0]}) FROM {table.name} GROUP BY 1",
                )
            outputs.extend((c, c) for c in table.columns)
            continue
        shown, inner = (item.alias, item.this) if isinstance(item, exp.Alias) else (None, item)
        column = _column_of(inner, table, names)
        if table.kind(column) == "measure":
            if column not in metrics:
                metrics.append(column)
            default = column if isinstance(inner, exp.Column) else _function_name(inner)
        else:
            if column not in by:
                by.append(column)
            default = column
        outputs.append((shown or default, column))
        aliases[(shown or default).lower()] = column
    grouped = _grouped(tree, table, names, aliases, outputs)
    if set(grouped) != set(by):
        missing = sorted(set(by) - set(grouped))
        raise QueryError(
            f"GROUP BY must name exactly the dimensions selected ({', '.join(by) or 'none'}); "
            + (
                f"add {', '.join(missing)}"
                if missing
                else f"{', '.join(sorted(set(grouped) - set(by)))} is not selected"
            )
        )
    if limit == 0:
        return MetricRead(table, None, outputs)
    if not metrics:
        raise QueryError(
            f"select at least one measure of {table.name}: {', '.join(table.measures[:8])}",
            hint="a metric set has no rows of its own; its dimensions are read with a measure",
        )
    where, period = _where(tree, table, names, today)
    order = _order(tree, table, names, aliases, outputs)
    query = MetricQuery(tuple(metrics), tuple(by), where, period, tuple(order), limit)
    return MetricRead(table, query, outputs)


def _metric_table(tree: exp.Select, tables: dict[str, MetricTable]) -> tuple[MetricTable, str]:
    source = tree.args.get("from_")
    node = source.this if isinstance(source, exp.From) else None
    if tree.args.get("joins") or not isinstance(node, exp.Table) or not isinstance(node.this, exp.Identifier):
        raise QueryError("read FROM one metric set (a table of information_schema.tables), without joins")
    if node.catalog or node.db.lower() not in ("", SCHEMA):
        raise QueryError(f"unknown schema {node.db!r}: the metric sets are in {SCHEMA}")
    name = _name(node.this)
    if name not in tables:
        raise QueryError(f"no metric set named {name!r}; {did_you_mean(name, tables)}")
    return tables[name], node.alias_or_name.lower()


def _name(identifier: exp.Expr) -> str:
    """A name as PostgreSQL reads it: folded to lower case unless quoted."""
    text = identifier.name
    return text if isinstance(identifier, exp.Identifier) and identifier.quoted else text.lower()


def _column_of(node: exp.Expr, table: MetricTable, names: set[str]) -> str:
    """The metric set's column a select item reads: a column, or an aggregate of a measure."""
    if isinstance(node, exp.Column):
        if node.table and node.table.lower() not in names:
            raise QueryError(f"{node.sql()!r} names another table than {table.name}")
        name = _name(node.this)
        if name not in table.columns:
            raise QueryError(f"{table.name} has no column {name!r}; {did_you_mean(name, table.columns)}")
        return name
    function = _function_name(node)
    args = list(node.expressions) if isinstance(node, exp.Anonymous) else [node.this]
    if function in ("measure", *AGGREGATES) and len(args) == 1 and isinstance(args[0], exp.Column):
        column = _column_of(args[0], table, names)
        if table.kind(column) != "measure":
            raise QueryError(f"{function}({column}): {column} is a dimension; group by it instead")
        if function in ("measure", "sum") and (function == "measure" or column in table.additive):
            return column
        raise QueryError(
            f"{function.upper()}({column}) is not {column}: a measure is already aggregated as its metric defines",
            hint=f"write MEASURE({column})" + (" or SUM(...)" if column in table.additive else ""),
        )
    raise QueryError(
        f"cannot map {node.sql(dialect='postgres')[:80]!r} onto a metric set",
        hint="select a dimension, a time grain (day, week, month, quarter, year) or MEASURE(metric)",
    )


def _function_name(node: exp.Expr) -> str:
    if isinstance(node, exp.Anonymous):
        return node.name.lower()
    for name, kind in AGGREGATES.items():
        if type(node) is kind:
            return name
    return node.key.lower()


def _output_column(
    node: exp.Expr, table: MetricTable, names: set[str], aliases: dict[str, str], outputs: list[tuple[str, str]]
) -> str:
    """A GROUP BY or ORDER BY item: a column, an alias of the select list, a position in it, or an aggregate."""
    if isinstance(node, exp.Literal) and node.is_int:
        position = int(node.this)
        if not 1 <= position <= len(outputs):
            raise QueryError(f"position {position} is not in the select list (1..{len(outputs)})")
        return outputs[position - 1][1]
    if isinstance(node, exp.Column) and not node.table and node.name.lower() in aliases:
        return aliases[node.name.lower()]
    return _column_of(node, table, names)


def _grouped(
    tree: exp.Select, table: MetricTable, names: set[str], aliases: dict[str, str], outputs: list[tuple[str, str]]
) -> list[str]:
    group = tree.args.get("group")
    if group is None:
        return []
    if any(group.args.get(k) for k in ("rollup", "cube", "grouping_sets")):
        raise QueryError("GROUP BY ROLLUP, CUBE and GROUPING SETS are not answered; group by the dimensions")
    return [_output_column(e, table, names, aliases, outputs) for e in group.expressions]


def _limit(tree: exp.Select) -> int | None:
    limit = tree.args.get("limit")
    if limit is None:
        return None
    value = limit.expression if isinstance(limit, exp.Limit) else None
    if not isinstance(value, exp.Literal) or not value.is_int:
        raise QueryError("LIMIT takes a whole number")
    return int(value.this)


def _order(
    tree: exp.Select, table: MetricTable, names: set[str], aliases: dict[str, str], outputs: list[tuple[str, str]]
) -> list[str]:
    order = tree.args.get("order")
    if order is None:
        return []
    found = []
    for item in order.expressions:
        column = _output_column(item.this, table, names, aliases, outputs)
        if column not in {c for _, c in outputs}:
            raise QueryError(f"ORDER BY {column}: select it first")
        found.append(f"-{column}" if item.args.get("desc") else column)
    return found


def _where(tree: exp.Select, table: MetricTable, names: set[str], today: date) -> tuple[str | None, str | None]:
    """The filter on dimensions (as the query path's filter text) and the period the time conditions make."""
    where = tree.args.get("where")
    if where is None:
        return None, None
    starts: list[date] = []
    ends: list[date] = []
    kept: list[exp.Expr] = []
    for condition in where.this.flatten() if isinstance(where.this, exp.And) else [where.this]:
        grains = {c for c in _columns(condition, table, names) if table.kind(c) == "grain"}
        if not grains:
            kept.append(_dimension_filter(condition, table, names))
            continue
        start, end = _time_bounds(condition, table, names)
        starts += [start] if start else []
        ends += [end] if end else []
    text = exp.and_(*kept).sql(dialect=SPEC_DIALECT) if kept else None
    if not starts and not ends:
        return text, None
    first = max(starts) if starts else date(1900, 1, 1)
    after = min(ends) if ends else today + timedelta(days=1)
    if after <= first:
        raise QueryError(f"the dates asked for meet nowhere (from {first} to before {after})")
    return text, f"{first.isoformat()}..{(after - timedelta(days=1)).isoformat()}"


def _columns(node: exp.Expr, table: MetricTable, names: set[str]) -> list[str]:
    return [_column_of(c, table, names) for c in node.find_all(exp.Column)]


def _dimension_filter(condition: exp.Expr, table: MetricTable, names: set[str]) -> exp.Expr:
    """A condition on dimensions, with each column named as the dimension (the query path resolves it)."""
    for node in condition.walk():
        if not isinstance(node, FILTER_NODES):
            raise QueryError(
                f"a WHERE condition may not use {node.key.upper()}: {condition.sql(dialect='postgres')[:80]!r}",
                hint="compare dimensions with =, <>, <, >, IN, LIKE, BETWEEN, IS NULL; dates by the time grains",
            )

    def rename(node: exp.Expr) -> exp.Expr:
        if not isinstance(node, exp.Column):
            return node
        column = _column_of(node, table, names)
        if table.kind(column) == "measure":
            raise QueryError(
                f"WHERE {column}: a measure is not filtered before it is aggregated (HAVING is not answered)"
            )
        if column not in table.filterable:
            raise QueryError(f"WHERE {column}: {table.name} cannot be filtered by {column}; group by it instead")
        return exp.column(column)

    return condition.transform(rename)


def _time_bounds(condition: exp.Expr, table: MetricTable, names: set[str]) -> tuple[date | None, date | None]:
    """[start, end) of one condition on a time grain column (the first day of its buckets)."""
    refused = QueryError(
        f"cannot read the time condition {condition.sql(dialect='postgres')[:80]!r}",
        hint="compare one time grain column with a date: month >= '2025-01-01' AND month < '2025-04-01', "
        "or day BETWEEN '2025-01-01' AND '2025-03-31'",
    )
    if isinstance(condition, exp.Between) and isinstance(condition.this, exp.Column):
        grain = _column_of(condition.this, table, names)
        low, high = _bucket(condition.args["low"], grain), _bucket(condition.args["high"], grain)
        return low, _next(high, grain)
    flips = {exp.GT: exp.LT, exp.GTE: exp.LTE, exp.LT: exp.GT, exp.LTE: exp.GTE, exp.EQ: exp.EQ}
    kind = type(condition)
    if kind not in flips:
        raise refused
    left, right = condition.this, condition.expression
    if not isinstance(left, exp.Column):
        left, right, kind = right, left, flips[kind]
    if not isinstance(left, exp.Column):
        raise refused
    grain = _column_of(left, table, names)
    if table.kind(grain) != "grain":
        raise refused
    day = _bucket(right, grain)
    bounds = {
        exp.GTE: (day, None),
        exp.GT: (_next(day, grain), None),
        exp.LT: (None, day),
        exp.LTE: (None, _next(day, grain)),
        exp.EQ: (day, _next(day, grain)),
    }
    return bounds[kind]


def _bucket(node: exp.Expr, grain: str) -> date:
    """A date literal ('2025-01-01', DATE '2025-01-01', a timestamp at midnight) that starts a bucket."""
    literal = node.this if isinstance(node, exp.Cast) and node.to.this in _DATE_TYPES else node
    if not isinstance(literal, exp.Literal) or not literal.is_string:
        raise QueryError(f"{node.sql(dialect='postgres')[:60]!r} is not a date: write '2025-01-01'")
    try:
        moment = datetime.fromisoformat(literal.this.strip())
    except ValueError:
        raise QueryError(f"{literal.this[:40]!r} is not a date: write '2025-01-01'") from None
    day = moment.date()
    if moment != datetime(day.year, day.month, day.day, tzinfo=moment.tzinfo):
        raise QueryError(f"{literal.this!r} is not midnight: a time grain compares whole days")
    if grain != "day" and _start_of(day, grain) != day:
        raise QueryError(f"{day} does not start a {grain}: compare {grain} with {_start_of(day, grain)}")
    return day


_DATE_TYPES = {exp.DataType.Type.DATE, exp.DataType.Type.TIMESTAMP, exp.DataType.Type.TIMESTAMPTZ}


def _start_of(day: date, grain: str) -> date:
    if grain == "day":
        return day
    if grain == "week":
        return day - timedelta(days=day.weekday())
    step = _STEP_MONTHS[grain]
    index = day.year * 12 + day.month - 1
    index -= index % step
    return date(index // 12, index % 12 + 1, 1)


def _next(day: date, grain: str) -> date:
    if grain in _STEP_DAYS:
        return day + timedelta(days=_STEP_DAYS[grain])
    index = day.year * 12 + day.month - 1 + _STEP_MONTHS[grain]
    return date(index // 12, index % 12 + 1, 1)


def _reason(exc: sqlglot.errors.SqlglotError) -> str:
    errors = getattr(exc, "errors", None)
    return str(errors[0]["description"]) if errors else str(exc).splitlines()[0][:200]

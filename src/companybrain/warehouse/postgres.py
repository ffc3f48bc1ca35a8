"""PostgreSQL, for a shared server: Arrow in (COPY) and out through the ADBC driver."""

from __future__ import annotations

from typing import Any

import pyarrow as pa
from sqlglot import exp

from companybrain.errors import MissingDependency, WarehouseError
from companybrain.warehouse.base import Capabilities, Warehouse


class PostgresWarehouse(Warehouse):
    dialect = "postgres"
    # PostgreSQL plans nested loops over a freshly written table until it has statistics
    capabilities = Capabilities(transactional_ddl=True, analyze_after_write=True)

    def __init__(self, url: str) -> None:
        try:
            from adbc_driver_postgresql import dbapi
        except ImportError:
            raise MissingDependency("adbc-driver-postgresql", "postgres", "the PostgreSQL warehouse") from None
        self.url = url
        uri = url.replace("postgres://", "postgresql://", 1).replace("postgresql+adbc://", "postgresql://", 1)
        try:
            self._con: Any = dbapi.connect(uri)
        except dbapi.Error as exc:
            raise WarehouseError(
                f"cannot connect to the PostgreSQL warehouse {_mask(url)}: {str(exc).strip()}",
                hint="check the URL in brain.yaml and that the server answers (pg_isready)",
            ) from None
        self._dbapi = dbapi
        self._in_tx = False
        self._types: dict[tuple[str, str], dict[str, str]] = {}  # (schema, table) -> column -> type

    @classmethod
    def from_url(cls, url: str) -> PostgresWarehouse:
        return cls(url)

    def _cursor_run(self, sql: str, fetch: bool, params: list[Any] | None = None) -> pa.Table | None:
        try:
            with self._con.cursor() as cur:
                cur.execute(sql, tuple(params) if params else None)
                result = cur.fetch_arrow_table() if fetch else None
            if not self._in_tx:
                self._con.commit()
            return result
        except self._dbapi.Error as exc:
            if not self._in_tx:
                self._con.rollback()
            raise WarehouseError(f"PostgreSQL refused a statement: {str(exc).strip()}\n  sql: {sql[:500]}") from None

    def execute(self, statement: exp.Expr) -> None:
        if isinstance(statement, exp.Create | exp.Drop | exp.Alter):
            self._types.clear()
        sql, params = self.bind(statement)
        self._cursor_run(sql, False, params)

    def query_arrow(self, query: exp.Expr) -> pa.Table:
        sql, params = self.bind(query)
        result = self._cursor_run(sql, True, params)
        assert result is not None
        return result

    def _parameter(self, number: int, node: exp.Placeholder) -> exp.Expr:
        """$N, cast to the column's type where it is written: the driver sends a string as text, which
        PostgreSQL does not assign to a timestamp or number column on its own."""
        parameter = super()._parameter(number, node)
        column = _inserted_column(node)
        if column is None:
            return parameter
        table, name = column
        kind = self._column_types(table).get(name)
        if kind is None:  # a column added since it was read
            self._types.pop((table.db, table.name), None)
            kind = self._column_types(table).get(name)
        return exp.Cast(this=parameter, to=exp.DataType.build(kind, dialect="postgres")) if kind else parameter

    def _column_types(self, table: exp.Table) -> dict[str, str]:
        key = (table.db, table.name)
        if key not in self._types:
            query = (
                exp.select("column_name", "data_type")
                .from_("information_schema.columns")
                .where(exp.column("table_schema").eq(exp.Literal.string(table.db)))
                .where(exp.column("table_name").eq(exp.Literal.string(table.name)))
            )
            rows = self.query_sql(self.render(query)).to_pylist()
            self._types[key] = {r["column_name"]: r["data_type"] for r in rows}
        return self._types[key]

    def query_sql(self, sql: str) -> pa.Table:
        result = self._cursor_run(sql, fetch=True)
        assert result is not None
        return result

    def _begin(self) -> None:
        self._in_tx = True

    def _commit(self) -> None:
        self._in_tx = False
        self._con.commit()

    def _rollback(self) -> None:
        self._in_tx = False
        self._con.rollback()

    def _write_arrow(self, table: exp.Table, data: pa.Table, *, create: bool) -> None:
        try:
            with self._con.cursor() as cur:
                cur.adbc_ingest(table.name, data, mode="create" if create else "append", db_schema_name=table.db)
            if not self._in_tx:
                self._con.commit()
        except self._dbapi.Error as exc:
            if not self._in_tx:
                self._con.rollback()
            raise WarehouseError(f"PostgreSQL refused data for {table.sql('postgres')}: {str(exc).strip()}") from None

    def list_tables(self, schema: str) -> list[str]:
        query = (
            exp.select("table_name")
            .from_("information_schema.tables")
            .where(exp.column("table_schema").eq(exp.Literal.string(schema)))
            .order_by("table_name")
        )
        return [str(v) for v in self.query_arrow(query).column(0).to_pylist()]

    def close(self) -> None:
        self._con.close()


def _inserted_column(node: exp.Expr) -> tuple[exp.Table, str] | None:
    """(table, column) when `node` is a value of INSERT INTO table (columns) VALUES (...)."""
    row = node.parent
    insert = row.parent.parent if row is not None and row.parent is not None else None
    if not (isinstance(row, exp.Tuple) and isinstance(insert, exp.Insert) and isinstance(insert.this, exp.Schema)):
        return None
    table, columns = insert.this.this, insert.this.expressions
    position = row.expressions.index(node)
    if not isinstance(table, exp.Table) or position >= len(columns):
        return None
    return table, columns[position].name


def _mask(url: str) -> str:
    """The URL without its password, for messages."""
    import re

    return re.sub(r"://([^:/@]+):[^@]*@", r"://\1:***@", url)

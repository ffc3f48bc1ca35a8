"""DuckDB, the embedded default: a file inside the project, no server."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import pyarrow as pa
from sqlglot import exp

from companybrain.errors import WarehouseError
from companybrain.warehouse.base import Capabilities, Warehouse
from companybrain.warehouse.ddl import BOUND

_views = itertools.count()


class DuckDBWarehouse(Warehouse):
    dialect = "duckdb"
    capabilities = Capabilities(transactional_ddl=True)

    def __init__(self, path: Path | str, connection: Any = None, read_only: bool = False) -> None:
        import duckdb

        self.url = f"duckdb:///{path}"
        self.path = path
        self._error = duckdb.Error
        if connection is not None:  # another connection to a database this process has open
            self._con = connection
            return
        if isinstance(path, Path) and not read_only:
            path.parent.mkdir(parents=True, exist_ok=True)
        if read_only and isinstance(path, Path) and not path.is_file():
            raise WarehouseError(f"no DuckDB warehouse at {path} yet", hint="run `brain ingest`")
        try:
            self._con = duckdb.connect(str(path), read_only=read_only)
        except duckdb.IOException as exc:
            raise WarehouseError(
                f"cannot open the DuckDB warehouse {path}: {exc}",
                hint="another brain process (serve, ingest) may hold it; stop it and retry",
            ) from None
        # nothing here relies on insertion order (queries that need an order say ORDER BY), and
        # without it DuckDB writes large loads about 1.8x faster
        self._con.execute("SET preserve_insertion_order = false")

    def another_connection(self) -> DuckDBWarehouse:
        """A second connection to this database, for another thread of this process (only one process may
        hold the file, and a connection serves one thread at a time). It sees what this one commits and
        works in its own transactions; closing it leaves this one open."""
        return DuckDBWarehouse(self.path, connection=self._con.cursor())

    @classmethod
    def from_url(cls, url: str, root: Path, read_only: bool = False) -> DuckDBWarehouse:
        rest = url.split("://", 1)[1]
        if rest in ("", "/", "/:memory:", ":memory:"):
            return cls(":memory:")
        path = Path(rest[1:]) if rest.startswith("/") else Path(rest)
        # duckdb:///rel/path (relative to the project) and duckdb:////abs/path, as SQLAlchemy does
        return cls(path if path.is_absolute() else root / path, read_only=read_only)

    def bind(self, statement: exp.Expr) -> tuple[str, list[Any]]:
        """The statement with its bound values (`ddl.bound`) carried as hex, decoded by DuckDB: the SQL text
        holds only hex digits of them, so no byte of a value can change the statement (NUL, quotes and
        invalid UTF-8 included), as a parameter would. Not DuckDB's own parameters: binding any of those
        makes its Python client import pandas (0.3 s of every CLI command that writes an audit record)."""

        def carry(node: exp.Expr) -> exp.Expr:
            if not (isinstance(node, exp.Placeholder) and BOUND in node.meta):
                return node
            value = node.meta[BOUND]
            if value is None:
                return exp.Null()
            if isinstance(value, bool):
                return exp.Boolean(this=value)
            if isinstance(value, int):
                return exp.Literal.number(value)
            text = value if isinstance(value, str) else str(value)
            unhex = exp.Anonymous(
                this="unhex", expressions=[exp.Literal.string(text.encode("utf-8", "backslashreplace").hex())]
            )
            return exp.Anonymous(this="decode", expressions=[unhex])

        if not any(isinstance(n, exp.Placeholder) for n in statement.walk()):
            return self.render(statement), []
        return self.render(statement.transform(carry)), []

    def _run(self, sql: str, params: list[Any] | None = None) -> object:
        try:
            return self._con.execute(sql, params or None)
        except self._error as exc:
            raise WarehouseError(f"DuckDB refused a statement: {exc}\n  sql: {sql[:500]}") from None

    def execute(self, statement: exp.Expr) -> None:
        self._run(*self.bind(statement))

    def query_arrow(self, query: exp.Expr) -> pa.Table:
        return self._query(*self.bind(query))

    def query_sql(self, sql: str) -> pa.Table:
        return self._query(sql, [])

    def _query(self, sql: str, params: list[Any]) -> pa.Table:
        try:
            return self._con.execute(sql, params or None).to_arrow_table()
        except self._error as exc:
            raise WarehouseError(f"DuckDB refused a query: {exc}\n  sql: {sql[:500]}") from None

    def _begin(self) -> None:
        self._con.begin()

    def _commit(self) -> None:
        self._con.commit()

    def _rollback(self) -> None:
        self._con.rollback()

    def _write_arrow(self, table: exp.Table, data: pa.Table, *, create: bool) -> None:
        view = f"__arrow_in_{next(_views)}"
        self._con.register(view, data)
        # an Arrow append is one stream: a second DuckDB thread only fights it, and whatever reads the
        # source meanwhile, for the cores (2M rows: 0.6 CPU-s instead of 1.2, and less wall time)
        self._con.execute("SET threads = 1")
        try:
            columns = [exp.to_identifier(name, quoted=True) for name in data.column_names]
            select = exp.select(*columns).from_(exp.to_identifier(view))
            if create:
                self.execute(exp.Create(this=table, kind="TABLE", expression=select))
            else:
                schema = exp.Schema(this=table, expressions=columns)
                self.execute(exp.Insert(this=schema, expression=select))
        finally:
            self._con.execute("RESET threads")
            self._con.unregister(view)

    def list_tables(self, schema: str) -> list[str]:
        query = (
            exp.select("table_name")
            .from_("information_schema.tables")
            .where(exp.column("table_schema").eq(exp.Literal.string(schema)))
            .where(exp.column("table_catalog").eq(exp.func("current_database")))
            .order_by("table_name")
        )
        return [str(v) for v in self.query_arrow(query).column(0).to_pylist()]

    def close(self) -> None:
        self._con.close()

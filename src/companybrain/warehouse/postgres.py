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

    @classmethod
    def from_url(cls, url: str) -> PostgresWarehouse:
        return cls(url)

    def _cursor_run(self, sql: str, fetch: bool) -> pa.Table | None:
        try:
            with self._con.cursor() as cur:
                cur.execute(sql)
                result = cur.fetch_arrow_table() if fetch else None
            if not self._in_tx:
                self._con.commit()
            return result
        except self._dbapi.Error as exc:
            if not self._in_tx:
                self._con.rollback()
            raise WarehouseError(f"PostgreSQL refused a statement: {str(exc).strip()}\n  sql: {sql[:500]}") from None

    def execute(self, statement: exp.Expr) -> None:
        self._cursor_run(self.render(statement), fetch=False)

    def query_arrow(self, query: exp.Expr) -> pa.Table:
        return self.query_sql(self.render(query))

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


def _mask(url: str) -> str:
    """The URL without its password, for messages."""
    import re

    return re.sub(r"://([^:/@]+):[^@]*@", r"://\1:***@", url)

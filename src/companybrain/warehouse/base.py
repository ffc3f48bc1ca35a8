"""The warehouse interface: SQL goes in as sqlglot trees, bulk data in and out as Arrow."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
from sqlglot import exp

from companybrain.warehouse.ddl import BOUND, add_column, create_table
from companybrain.warehouse.types import normalize_arrow


@dataclass(frozen=True)
class Capabilities:
    """What differs between engines, as data rather than branches in the layers above."""

    transactional_ddl: bool
    distributed: bool = False
    analyze_after_write: bool = False


class Warehouse(ABC):
    """One engine. Statements are sqlglot expressions rendered in `dialect`; data is Arrow."""

    dialect: str
    capabilities: Capabilities
    url: str

    # --- SQL ----------------------------------------------------------------------------------

    def render(self, statement: exp.Expr) -> str:
        return statement.sql(dialect=self.dialect)

    def bind(self, statement: exp.Expr) -> tuple[str, list[Any]]:
        """The statement's SQL with its bound values (`ddl.bound`) as numbered parameters, and those values."""
        params: list[Any] = []

        def number(node: exp.Expr) -> exp.Expr:
            if isinstance(node, exp.Placeholder) and BOUND in node.meta:
                params.append(node.meta[BOUND])
                return self._parameter(len(params), node)
            return node

        if not any(isinstance(n, exp.Placeholder) for n in statement.walk()):
            return self.render(statement), params
        return self.render(statement.transform(number)), params

    def _parameter(self, number: int, node: exp.Placeholder) -> exp.Expr:
        """Parameter `number` in this engine's SQL ($1, $2, ...)."""
        return exp.Parameter(this=exp.Literal.number(number))

    @abstractmethod
    def execute(self, statement: exp.Expr) -> None:
        """Run a statement that returns nothing."""

    @abstractmethod
    def query_arrow(self, query: exp.Expr) -> pa.Table:
        """Run a query and return its result as one Arrow table."""

    @abstractmethod
    def query_sql(self, sql: str) -> pa.Table:
        """Run a query this adapter rendered itself (`render`), when the caller also keeps the text."""

    def scalar(self, query: exp.Expr) -> Any:
        table = self.query_arrow(query)
        return table.column(0)[0].as_py() if table.num_rows else None

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """All statements inside commit together or not at all."""
        self._begin()
        try:
            yield
        except BaseException:
            self._rollback()
            raise
        else:
            self._commit()

    @abstractmethod
    def _begin(self) -> None: ...

    @abstractmethod
    def _commit(self) -> None: ...

    @abstractmethod
    def _rollback(self) -> None: ...

    # --- data in ------------------------------------------------------------------------------

    def write_arrow(self, table: exp.Table, data: pa.Table, *, create: bool) -> None:
        """Create `table` from `data` (create=True) or append `data` to it, columns by name."""
        self._write_arrow(table, normalize_arrow(data), create=create)

    @abstractmethod
    def _write_arrow(self, table: exp.Table, data: pa.Table, *, create: bool) -> None: ...

    # --- catalog ------------------------------------------------------------------------------

    def table_schema(self, table: exp.Table) -> pa.Schema | None:
        """The Arrow schema of a table, or None when it does not exist."""
        if table.name not in self.list_tables(table.db):
            return None
        return self.query_arrow(exp.select("*").from_(table).limit(0)).schema

    def ensure_table(self, table: exp.Table, columns: dict[str, str]) -> None:
        """Create a table the brain writes (empty), or add the columns a newer definition has (logical types)."""
        self.ensure_schema(table.db)
        schema = self.table_schema(table)
        if schema is None:
            self.execute(create_table(table, columns))
            return
        for name in [c for c in columns if c not in schema.names]:
            self.execute(add_column(table, name, columns[name]))

    @abstractmethod
    def list_tables(self, schema: str) -> list[str]:
        """Names of the tables in a schema (empty when the schema does not exist)."""

    def analyze(self, table: exp.Table) -> None:
        """Refresh the planner's statistics of a table after a bulk write, where the engine needs it."""
        if self.capabilities.analyze_after_write:
            self.execute(exp.Analyze(tables=[table]))

    def ensure_schema(self, name: str) -> None:
        self.execute(exp.Create(this=exp.Table(db=exp.to_identifier(name)), kind="SCHEMA", exists=True))

    @abstractmethod
    def close(self) -> None: ...

    def __enter__(self) -> Warehouse:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

"""SQL databases (SQLite, PostgreSQL, MySQL/MariaDB) read straight into Arrow with connectorx."""

from __future__ import annotations

import re
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pyarrow as pa
import pyarrow.compute as pc
import sqlglot
from sqlglot import exp

from companybrain.errors import ConfigError, ConnectorError, Location
from companybrain.sources.base import Extract
from companybrain.specs.project import SourceTable, SqlSource

DEFAULT_PORTS = {"postgres": 5432, "mysql": 3306}
CONNECT_TIMEOUT = 5.0

# URL scheme -> (sqlglot dialect, connectorx scheme)
ENGINES = {
    "sqlite": ("sqlite", "sqlite"),
    "postgresql": ("postgres", "postgresql"),
    "postgres": ("postgres", "postgresql"),
    "mysql": ("mysql", "mysql"),
    "mariadb": ("mysql", "mysql"),
}


class SqlConnector:
    """One SQL source. The cursor predicate is pushed down; batches stream as Arrow."""

    def __init__(self, spec: SqlSource, url: str, root: Path) -> None:
        self.name = spec.name
        self.spec = spec
        scheme = url.split("://", 1)[0].split("+", 1)[0]
        if scheme not in ENGINES:
            raise ConfigError.at(
                Location("brain.yaml", key=f"sources.{spec.name}.url"),
                f"unsupported database URL scheme {scheme!r}; use one of {', '.join(ENGINES)}",
            )
        self.dialect, cx_scheme = ENGINES[scheme]
        rest = url.split("://", 1)[1]
        if self.dialect == "sqlite":
            path = Path(rest[1:]) if rest.startswith("/") else Path(rest)
            path = path if path.is_absolute() else root / path
            if not path.is_file():
                raise ConnectorError(f"source {spec.name}: SQLite file {path} does not exist")
            self.url = f"sqlite://{path}"
        else:
            self.url = f"{cx_scheme}://{rest}"

    def extract(self, table: SourceTable, previous: dict[str, Any]) -> Extract:
        query = self._query(table, previous.get("cursor"))
        state: dict[str, Any] = dict(previous)
        mode = table.mode or ("incremental" if table.cursor else "full")
        return Extract(
            batches=self._stream(query, table, state),
            state=state,
            replace=mode == "full",
            keys_unique=table.query is None,
        )

    def _query(self, table: SourceTable, cursor_value: Any) -> exp.Select:
        if table.query:
            parsed = sqlglot.parse_one(table.query, dialect=self.dialect)
            if not isinstance(parsed, exp.Query):
                raise ConfigError.at(
                    Location("brain.yaml", key=f"sources.{self.name}.tables.{table.name}.query"),
                    "query must be a SELECT",
                )
            inner: exp.Expr = parsed.subquery("src")
        else:
            inner = exp.to_table(table.source_table or table.name, dialect=self.dialect)
        query = exp.select("*").from_(inner)
        if table.cursor and cursor_value is not None:
            # >= and not >: rows written later in the same instant are not missed; the loader
            # drops the boundary rows it already holds, so a re-run still loads 0 rows
            value = (
                exp.Literal.number(cursor_value)
                if isinstance(cursor_value, int | float)
                else exp.Literal.string(str(cursor_value))
            )
            query = query.where(exp.column(table.cursor).__ge__(value))
        return query

    def _stream(self, query: exp.Select, table: SourceTable, state: dict[str, Any]) -> Iterator[pa.Table]:
        import connectorx as cx

        sql = query.sql(dialect=self.dialect)
        self._check_reachable(table)
        try:
            reader = cx.read_sql(self.url, sql, return_type="arrow_stream", batch_size=self.spec.batch_size)
            for batch in reader:
                if batch.num_rows == 0:
                    continue
                data = pa.Table.from_batches([batch])
                if table.cursor:
                    if table.cursor not in data.column_names:
                        raise ConnectorError(
                            f"source {self.name}.{table.name}: cursor column {table.cursor!r} is not in the table",
                            hint=f"columns are: {', '.join(data.column_names)}",
                        )
                    top = pc.max(data[table.cursor]).as_py()
                    if top is not None and (state.get("cursor") is None or _as_key(top) > _as_key(state["cursor"])):
                        state["cursor"] = top if isinstance(top, int | float) else str(top)
                yield data
        except ConnectorError:
            raise
        except Exception as exc:  # connectorx raises plain RuntimeErrors for every driver failure
            raise ConnectorError(
                f"source {self.name}.{table.name}: cannot read from {_mask(self.url)}: {str(exc).strip()[:300]}",
                hint="check the URL in brain.yaml, that the database answers, and that the table exists",
            ) from None

    def _check_reachable(self, table: SourceTable) -> None:
        """Fail in seconds, not after the driver's pool time-out, when the server does not answer."""
        if self.dialect == "sqlite":
            return
        parts = urlsplit(self.url)
        host, port = parts.hostname or "localhost", parts.port or DEFAULT_PORTS[self.dialect]
        try:
            socket.create_connection((host, port), timeout=CONNECT_TIMEOUT).close()
        except OSError as exc:
            raise ConnectorError(
                f"source {self.name}.{table.name}: cannot read from {_mask(self.url)}: "
                f"{host}:{port} does not answer ({exc.strerror or exc})",
                hint="check the URL in brain.yaml and that the database server is running",
            ) from None


def _as_key(value: Any) -> Any:
    return value if isinstance(value, int | float) else str(value)


def _mask(url: str) -> str:
    return re.sub(r"://([^:/@]+):[^@]*@", r"://\1:***@", url)

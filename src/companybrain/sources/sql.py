"""SQL databases read straight into Arrow: PostgreSQL with DuckDB's postgres scanner, SQLite and
MySQL/MariaDB with connectorx.

The driver is picked by measurement (benchmarks/bench_ingest.py, 2 cores, 2M rows): DuckDB's scanner
decodes PostgreSQL's binary COPY into Arrow with about half the CPU of connectorx, which is what lets
a whole load (read, checks and the warehouse write) keep up with a bare connectorx read.
"""

from __future__ import annotations

import functools
import itertools
import queue
import re
import socket
import threading
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

_catalogs = itertools.count()

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
        self._check_reachable(table)
        try:
            for batch in self._read(query):
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
                f"source {self.name}.{table.name}: cannot read from {_mask(self.url)}: {_mask(str(exc).strip())[:300]}",
                hint="check the URL in brain.yaml, that the database answers, and that the table exists",
            ) from None

    def _read(self, query: exp.Select) -> Iterator[pa.RecordBatch]:
        sql = query.sql(dialect=self.dialect)
        if self.dialect != "postgres":
            import connectorx as cx

            yield from cx.read_sql(self.url, sql, return_type="arrow_stream", batch_size=self.spec.batch_size)
            return
        con = _scanner_database().cursor()
        catalog = f"src_{next(_catalogs)}"
        try:
            source = exp.alias_(exp.Literal.string(self.url), catalog)
            options = [
                exp.AttachOption(this=exp.var("TYPE"), expression=exp.to_identifier("postgres")),
                exp.AttachOption(this=exp.var("READ_ONLY")),
            ]
            con.execute(exp.Attach(this=source, expressions=options).sql(dialect="duckdb"))
            scan = query.copy()
            source_table = scan.args["from_"].this
            if isinstance(source_table, exp.Table) and not scan.args.get("where"):
                # a whole table: scanned in parallel over page ranges, one connection per range
                source_table.set("db", source_table.args.get("db") or exp.to_identifier("public"))
                source_table.set("catalog", exp.to_identifier(catalog))
            else:
                # a cursor predicate or a declared query: PostgreSQL plans it as written (with the
                # cursor's index; a page-range scan would read the whole table to find a few rows)
                text = exp.Literal.string(sql)
                scan = exp.select("*").from_(exp.func("postgres_query", exp.Literal.string(catalog), text))
            yield from _read_ahead(con.execute(scan.sql(dialect="duckdb")).to_arrow_reader(self.spec.batch_size))
        finally:
            con.execute(exp.Detach(this=exp.to_identifier(catalog), exists=True).sql(dialect="duckdb"))
            con.close()

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


def _read_ahead(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    """Fetch the next batch in a thread while the caller lands this one.

    Reading mostly waits for PostgreSQL to encode rows and the warehouse's write is CPU work in
    DuckDB, both outside the GIL, so they overlap.
    """
    ready: queue.Queue[tuple[str, Any]] = queue.Queue(maxsize=1)
    stop = threading.Event()

    def hand_over(item: tuple[str, Any]) -> bool:
        while not stop.is_set():
            try:
                ready.put(item, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for batch in batches:
                if not hand_over(("batch", batch)):
                    return
            hand_over(("done", None))
        except BaseException as exc:  # handed to the consumer, which raises it
            hand_over(("error", exc))

    worker = threading.Thread(target=produce, name="sql-read-ahead", daemon=True)
    worker.start()
    try:
        while True:
            kind, item = ready.get()
            if kind == "done":
                return
            if kind == "error":
                raise item
            yield item
    finally:
        stop.set()
        worker.join()


@functools.cache
def _scanner_database() -> Any:
    """One in-memory DuckDB per process with the postgres scanner loaded from its PyPI package.

    Loading the extension takes ~0.1 s, too much for every incremental read; each read attaches
    its source under its own catalog name on a cursor of this database.
    """
    import duckdb

    install = f"pip install duckdb-extension-postgres-scanner=={duckdb.__version__}"  # its version follows duckdb's
    try:
        import duckdb_extension_postgres_scanner as package
    except ImportError:
        raise ConnectorError(
            "reading PostgreSQL needs the package duckdb-extension-postgres-scanner, which is not installed",
            hint=install,
        ) from None
    path = Path(package.__file__).parent / "extensions" / f"v{duckdb.__version__}" / "postgres_scanner.duckdb_extension"
    if not path.is_file():
        raise ConnectorError(
            f"the installed duckdb-extension-postgres-scanner does not match duckdb {duckdb.__version__}", hint=install
        )
    con = duckdb.connect()
    con.load_extension(str(path))
    return con


def _as_key(value: Any) -> Any:
    return value if isinstance(value, int | float) else str(value)


def _mask(url: str) -> str:
    return re.sub(r"://([^:/@]+):[^@]*@", r"://\1:***@", url)

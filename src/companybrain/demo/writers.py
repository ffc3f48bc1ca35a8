"""One writer per target kind: SQLite, PostgreSQL (ADBC), MariaDB/MySQL (pymysql), and CSV,
JSON lines and Parquet files. Tables arrive as pyarrow tables; writers own the type mapping."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol
from urllib.parse import unquote, urlparse

import pyarrow as pa
import pyarrow.compute as pc

from companybrain.demo.common import PartedTable
from companybrain.errors import BrainError, ConnectorError, MissingDependency

BATCH_ROWS = 200_000


class SqlWriter(Protocol):
    """Writes whole tables into one database, replacing tables of the same name."""

    def write(self, name: str, table: pa.Table | PartedTable, primary_key: list[str]) -> None: ...

    def close(self) -> None: ...


def quote(identifier: str) -> str:
    """A double-quoted SQL identifier (our table and column names are snake_case constants)."""
    return '"' + identifier.replace('"', '""') + '"'


def _text_times(table: pa.Table) -> pa.Table:
    """Timestamps as 'YYYY-MM-DD HH:MM:SS' and dates as 'YYYY-MM-DD' text (SQLite, CSV)."""
    columns = []
    for col in table.columns:
        if pa.types.is_timestamp(col.type):
            col = col.cast(pa.timestamp("s"), safe=False).cast(pa.string())
        elif pa.types.is_date(col.type):
            col = col.cast(pa.string())
        columns.append(col)
    return pa.Table.from_arrays(columns, names=table.column_names)


def _parts(table: pa.Table | PartedTable) -> Iterator[pa.Table]:
    """A table's rows in parts: a parted table's as it builds them, a whole table as one."""
    if isinstance(table, PartedTable):
        yield from table.parts()
    else:
        yield table


def _rows(table: pa.Table, batch_rows: int = BATCH_ROWS) -> Iterator[list[tuple]]:
    for start in range(0, table.num_rows, batch_rows):
        batch = table.slice(start, batch_rows)
        yield list(zip(*[c.to_pylist() for c in batch.columns], strict=True))


SQLITE_TYPES = {
    "int64": "INTEGER",
    "double": "REAL",
    "string": "TEXT",
    "bool": "BOOLEAN",
    "date32[day]": "DATE",
    "timestamp[us]": "TIMESTAMP",
}


class SqliteWriter:
    """A fresh SQLite file; timestamps stored as ISO text in TIMESTAMP columns."""

    def __init__(self, path: Path) -> None:
        import sqlite3

        path.parent.mkdir(parents=True, exist_ok=True)
        path.unlink(missing_ok=True)
        self.path = path
        self.conn = sqlite3.connect(path)
        # nothing to protect while generating: a failed run is simply rerun
        self.conn.execute("PRAGMA journal_mode=OFF")
        self.conn.execute("PRAGMA synchronous=OFF")

    def write(self, name: str, table: pa.Table | PartedTable, primary_key: list[str]) -> None:
        """Create the table with its primary key and an index on updated_at, then insert."""
        cols = ", ".join(f"{quote(f.name)} {SQLITE_TYPES[str(f.type)]}" for f in table.schema)
        pk = ", ".join(quote(k) for k in primary_key)
        self.conn.execute(f"DROP TABLE IF EXISTS {quote(name)}")
        self.conn.execute(f"CREATE TABLE {quote(name)} ({cols}, PRIMARY KEY ({pk}))")
        insert = f"INSERT INTO {quote(name)} VALUES ({', '.join('?' * len(table.schema))})"
        with self.conn:
            for part in _parts(table):
                for rows in _rows(_text_times(part)):
                    self.conn.executemany(insert, rows)
        if "updated_at" in table.schema.names:
            self.conn.execute(f"CREATE INDEX {quote('ix_' + name + '_updated_at')} ON {quote(name)} (updated_at)")
        self.conn.commit()

    def close(self) -> None:
        self.conn.close()


class PostgresWriter:
    """A PostgreSQL database (created if missing), loaded with ADBC bulk ingest (COPY)."""

    def __init__(self, url: str) -> None:
        try:
            import adbc_driver_postgresql.dbapi as pg
        except ImportError:
            raise MissingDependency(
                "adbc-driver-postgresql", "postgres", "writing the demo ERP to PostgreSQL"
            ) from None
        self.url = normalise_postgres_url(url)
        parsed = urlparse(self.url)
        database = parsed.path.lstrip("/")
        if not database:
            raise BrainError(
                f"--erp-url needs a database name: {url!r}", hint="e.g. postgresql://postgres@127.0.0.1:5432/acme_erp"
            )
        try:
            admin_url = parsed._replace(path="/postgres").geturl()
            with pg.connect(admin_url, autocommit=True) as admin, admin.cursor() as cur:
                cur.execute("SELECT 1 FROM pg_database WHERE datname = $1", (database,))
                if cur.fetchone() is None:
                    cur.execute(f"CREATE DATABASE {quote(database)}")
            self.conn = pg.connect(self.url, autocommit=True)
        except pg.Error as exc:
            raise ConnectorError(
                f"cannot open PostgreSQL at {redact(url)}: {exc}",
                hint="check the server is running and the user may create databases",
            ) from None

    def write(self, name: str, table: pa.Table | PartedTable, primary_key: list[str]) -> None:
        """Replace the table, then add the primary key and the updated_at index."""
        batches = (batch for part in _parts(table) for batch in part.to_batches())
        with self.conn.cursor() as cur:
            cur.execute(f"DROP TABLE IF EXISTS {quote(name)}")
            cur.adbc_ingest(name, pa.RecordBatchReader.from_batches(table.schema, batches), mode="create")
            cur.execute(f"ALTER TABLE {quote(name)} ADD PRIMARY KEY ({', '.join(quote(k) for k in primary_key)})")
            if "updated_at" in table.schema.names:
                cur.execute(f"CREATE INDEX {quote('ix_' + name + '_updated_at')} ON {quote(name)} (updated_at)")

    def close(self) -> None:
        self.conn.close()


class MysqlWriter:
    """A MariaDB/MySQL database (created if missing), loaded with batched multi-row INSERTs."""

    def __init__(self, url: str) -> None:
        try:
            import pymysql
        except ImportError:
            raise MissingDependency("pymysql", "mysql", "writing the demo CRM to MariaDB/MySQL") from None
        parsed = urlparse(url)
        if parsed.scheme not in ("mysql", "mariadb") or not parsed.path.lstrip("/"):
            raise BrainError(
                f"--crm-url must be mysql://user[:password]@host[:port]/database, got {redact(url)!r}",
                hint="e.g. mysql://root@127.0.0.1:3306/acme_crm",
            )
        self.database = parsed.path.lstrip("/")
        try:
            self.conn = pymysql.connect(
                host=parsed.hostname or "127.0.0.1",
                port=parsed.port or 3306,
                user=unquote(parsed.username or "root"),
                password=unquote(parsed.password or ""),
                charset="utf8mb4",
                autocommit=False,
            )
            with self.conn.cursor() as cur:
                cur.execute(f"CREATE DATABASE IF NOT EXISTS `{self.database}` CHARACTER SET utf8mb4")
                cur.execute(f"USE `{self.database}`")
        except pymysql.Error as exc:
            raise ConnectorError(
                f"cannot open MariaDB/MySQL at {redact(url)}: {exc}",
                hint="check the server is running and the user may create databases",
            ) from None

    def _type(self, field: pa.Field, column: pa.ChunkedArray, key: bool) -> str:
        if pa.types.is_string(field.type):
            longest = pc.max(pc.utf8_length(column)).as_py() or 1
            return f"VARCHAR({max(32, longest * 2) if key else max(64, longest * 2)})" if longest <= 120 else "TEXT"
        return {
            "int64": "BIGINT",
            "double": "DOUBLE",
            "bool": "BOOLEAN",
            "date32[day]": "DATE",
            "timestamp[us]": "DATETIME",
        }[str(field.type)]

    def write(self, name: str, table: pa.Table | PartedTable, primary_key: list[str]) -> None:
        """Replace the table (primary key, updated_at index), then insert in batches."""
        # column widths are read off the whole table; the CRM's tables are small enough to hold
        table = pa.concat_tables(_parts(table))
        cols = ", ".join(
            f"`{f.name}` {self._type(f, table.column(f.name), f.name in primary_key)}" for f in table.schema
        )
        pk = ", ".join(f"`{k}`" for k in primary_key)
        index = ", INDEX `ix_updated_at` (`updated_at`)" if "updated_at" in table.column_names else ""
        names = ", ".join(f"`{c}`" for c in table.column_names)
        insert = f"INSERT INTO `{name}` ({names}) VALUES ({', '.join(['%s'] * table.num_columns)})"
        with self.conn.cursor() as cur:
            cur.execute(f"DROP TABLE IF EXISTS `{name}`")
            cur.execute(f"CREATE TABLE `{name}` ({cols}, PRIMARY KEY ({pk}){index}) CHARACTER SET utf8mb4")
            for rows in _rows(table, 10_000):
                cur.executemany(insert, rows)
        self.conn.commit()

    def close(self) -> None:
        self.conn.close()


def normalise_postgres_url(url: str) -> str:
    """postgres:// and postgresql+driver:// become plain postgresql:// for libpq."""
    parsed = urlparse(url)
    if not parsed.scheme.startswith("postgres"):
        raise BrainError(
            f"--erp-url must be a postgresql:// URL, got {redact(url)!r}",
            hint="e.g. postgresql://postgres@127.0.0.1:5432/acme_erp",
        )
    return parsed._replace(scheme="postgresql").geturl()


def redact(url: str) -> str:
    """The URL with its password replaced by ***."""
    parsed = urlparse(url)
    if parsed.password:
        return parsed._replace(netloc=parsed.netloc.replace(f":{parsed.password}@", ":***@")).geturl()
    return url


def write_csv(path: Path, table: pa.Table, replace_rows: dict[int, str] | None = None) -> None:
    """A CSV file with a header; `replace_rows` swaps data rows (0-based) for raw text lines."""
    import pyarrow.csv as pa_csv

    path.parent.mkdir(parents=True, exist_ok=True)
    # whole-second timestamps print as 2025-03-01 10:00:00 (microsecond ones add .000000)
    columns = [c.cast(pa.timestamp("s"), safe=False) if pa.types.is_timestamp(c.type) else c for c in table.columns]
    buffer = io.BytesIO()
    pa_csv.write_csv(
        pa.Table.from_arrays(columns, names=table.column_names), buffer, pa_csv.WriteOptions(quoting_style="needed")
    )
    if not replace_rows:
        path.write_bytes(buffer.getvalue())
        return
    lines = buffer.getvalue().decode("utf-8").split("\n")
    for row, text in replace_rows.items():
        lines[row + 1] = text
    path.write_text("\n".join(lines), encoding="utf-8")


def write_jsonl(path: Path, table: pa.Table) -> None:
    """One JSON object per line; timestamps as ISO 8601 (2025-03-04T10:00:00), dates as 2025-03-04."""
    path.parent.mkdir(parents=True, exist_ok=True)
    columns = []
    for col in table.columns:
        if pa.types.is_timestamp(col.type):
            text = col.cast(pa.timestamp("s"), safe=False).cast(pa.string())
            col = pc.replace_substring(text, " ", "T", max_replacements=1)
        elif pa.types.is_date(col.type):
            col = col.cast(pa.string())
        columns.append(col)
    rows = pa.Table.from_arrays(columns, names=table.column_names).to_pylist()
    with path.open("w", encoding="utf-8") as out:
        for row in rows:
            out.write(json.dumps(row, ensure_ascii=False) + "\n")


def write_parquet(path: Path, table: pa.Table) -> None:
    """A zstd-compressed Parquet file (byte-identical for identical tables)."""
    import pyarrow.parquet as pq

    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path, compression="zstd")

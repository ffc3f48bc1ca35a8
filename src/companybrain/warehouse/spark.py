"""Apache Spark: a cluster through Spark Connect (`sc://host:15002`) or a local session (`spark:local[2]`).

Spark has no multi-statement transactions, so the promise is kept by staging: inside `transaction()`
every table a statement changes is written as a staging table (`<name>__cb_s_<tx>`), reads in the
transaction see the staging tables, and commit swaps them in. A commit first writes a marker table
(one catalog operation); a restart finishes the swaps of a transaction whose marker exists and
drops the staging tables of one whose marker does not. A failed transaction drops its staging tables
and leaves the last good tables untouched. Outside a transaction each statement is its own one.

Locally the catalog is an embedded Hive metastore (Derby) under the project, so tables (Parquet)
survive the process; a test run shares one session and gives each project its own database prefix.
"""

from __future__ import annotations

import hashlib
import itertools
import os
import re
import uuid
from pathlib import Path
from typing import Any

import pyarrow as pa
from sqlglot import exp

from companybrain.errors import ConfigError, Location, MissingDependency, WarehouseError
from companybrain.warehouse.base import Capabilities, Warehouse
from companybrain.warehouse.ddl import BOUND
from companybrain.warehouse.postgres import _inserted_column

LOCAL = re.compile(r"spark:local(?:\[(?P<cores>[1-9][0-9]?)\])?")
REMOTE = re.compile(r"sc://[A-Za-z0-9.-]+(?::[0-9]{1,5})?(?:/;[A-Za-z0-9_=;.-]*)?")
STAGE, DROPPED, MARKER = "__cb_s_", "__cb_d_", "cb_commit_"
ENGINE = "engine_table"  # meta of a table reference already named as the engine knows it
SWAPS = "cb_swaps"  # the schema of the commit markers

# settings of every session this module starts: small shuffles, no UI, no network, naive timestamps
LOCAL_CONFIG = {
    "spark.ui.enabled": "false",
    "spark.sql.shuffle.partitions": "2",
    "spark.default.parallelism": "2",
    "spark.driver.bindAddress": "127.0.0.1",
    "spark.driver.host": "127.0.0.1",
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.timestampType": "TIMESTAMP_NTZ",
    "spark.sql.sources.default": "parquet",
    "spark.sql.legacy.createHiveTableByDefault": "false",
    "spark.sql.catalogImplementation": "hive",
    "spark.ui.showConsoleProgress": "false",
}
_views = itertools.count()
_sessions: dict[str, Any] = {}


class SparkWarehouse(Warehouse):
    dialect = "spark"
    # no multi-statement transactions: staging tables swapped in at commit (module header)
    capabilities = Capabilities(transactional_ddl=False, distributed=True)

    def __init__(self, url: str, session: Any, prefix: str, location: Path | None) -> None:
        self.url = url
        self._spark = session
        self._prefix = prefix  # prepended to every schema: one local session serves several projects
        self._location = location  # where a local project's databases live
        self._staged: dict[tuple[str, str], str] | None = None  # in a transaction: table -> staging name
        self._tx = ""
        self.recover()

    @classmethod
    def from_url(cls, url: str, root: Path) -> SparkWarehouse:
        local = LOCAL.fullmatch(url)
        if local is None and REMOTE.fullmatch(url) is None:
            raise ConfigError.at(
                Location("brain.yaml", key="warehouse"),
                f"unsupported Spark warehouse {url!r}; use sc://host:15002 (Spark Connect) or spark:local[2]",
            )
        if local is None:
            return cls(url, _session(url, None), "", None)
        location = (root / ".brain" / "spark").resolve()
        prefix = "b" + hashlib.sha1(str(location).encode()).hexdigest()[:8] + "_"
        return cls(url, _session(f"local[{local['cores'] or 2}]", location), prefix, location)

    # --- names ----------------------------------------------------------------------------------

    def _db(self, schema: str) -> str:
        return f"{self._prefix}{schema}".lower()

    def _engine_tables(self, statement: exp.Expr) -> exp.Expr:
        """The statement on this project's databases, reading the transaction's staging tables."""

        def rename(node: exp.Expr) -> exp.Expr:
            if isinstance(node, exp.DateTrunc):  # Spark's TRUNC (sqlglot's rendering) has no 'DAY': DATE_TRUNC has
                return exp.TimestampTrunc(this=node.this, unit=exp.var(node.text("unit").upper()))
            if isinstance(node, exp.Avg) and not isinstance(node.this, exp.Cast):
                # Spark averages a DECIMAL(p, s) to s + 4 places; DuckDB averages to a double: do as DuckDB
                return exp.Avg(this=exp.Cast(this=node.this, to=exp.DataType.build("DOUBLE")))
            if not (isinstance(node, exp.Table) and node.args.get("db") and node.name) or node.meta.get(ENGINE):
                return node
            db = self._db(node.db)
            name = self._staged.get((db, node.name.lower()), node.name) if self._staged else node.name
            new = node.copy()
            new.set("db", exp.to_identifier(db, quoted=True))
            new.set("this", exp.to_identifier(name, quoted=True))
            return new

        return statement.transform(rename)

    def render(self, statement: exp.Expr) -> str:
        return self._engine_tables(statement).sql(dialect=self.dialect)

    def bind(self, statement: exp.Expr) -> tuple[str, list[Any]]:
        sql, _ = self._bind_named(statement)
        return sql, []

    def _bind_named(self, statement: exp.Expr) -> tuple[str, dict[str, Any]]:
        """SQL with named parameters (:p1, ...) for the bound values, never spliced into the text."""
        args: dict[str, Any] = {}

        def name(node: exp.Expr) -> exp.Expr:
            if not (isinstance(node, exp.Placeholder) and BOUND in node.meta):
                return node
            value = node.meta[BOUND]
            if value is None:
                return exp.Null()
            args[f"p{len(args) + 1}"] = value
            parameter = exp.Placeholder(this=f"p{len(args)}")
            kind = self._inserted_type(node)
            return exp.Cast(this=parameter, to=kind) if kind is not None else parameter

        return self.render(statement.transform(name)), args

    def _inserted_type(self, node: exp.Expr) -> exp.DataType | None:
        """The type of the column a bound value is inserted into: Spark does not assign a string to a
        timestamp column on its own (as PostgreSQL does not; see `postgres._inserted_column`)."""
        column = _inserted_column(node)
        if column is None:
            return None
        target, name = column
        db, table_name = self._key(target)
        current = self._staged.get((db, table_name), table_name) if self._staged else table_name
        if not self._exists(db, current):
            return None  # the statement itself will say so
        fields = {f.name: f.dataType.simpleString() for f in self._spark.table(self._ref(db, current)).schema}
        kind = fields.get(name)
        return exp.DataType.build(kind, dialect="spark") if kind else None

    # --- running --------------------------------------------------------------------------------

    def _sql(self, sql: str, args: dict[str, Any] | None = None) -> Any:
        try:
            return self._spark.sql(sql, args=args or None)
        except Exception as exc:  # pyspark raises its own classes (classic and Connect differ)
            if type(exc).__module__.startswith("pyspark"):
                first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
                raise WarehouseError(f"Spark refused a statement: {first}\n  sql: {sql[:500]}") from None
            raise

    def _arrow(self, frame: Any, sql: str) -> pa.Table:
        try:
            return frame.toArrow()
        except Exception as exc:
            if type(exc).__module__.startswith("pyspark"):
                raise WarehouseError(f"Spark refused a query: {str(exc).strip()[:300]}\n  sql: {sql[:500]}") from None
            raise

    def query_arrow(self, query: exp.Expr) -> pa.Table:
        sql, args = self._bind_named(query)
        return self._arrow(self._sql(sql, args), sql)

    def query_sql(self, sql: str) -> pa.Table:
        return self._arrow(self._sql(sql), sql)

    def execute(self, statement: exp.Expr) -> None:
        if isinstance(statement, exp.Analyze):
            return  # Spark computes a Parquet table's size itself; column statistics are not needed here
        if isinstance(statement, exp.Create) and statement.kind == "SCHEMA":
            self.ensure_schema(statement.this.db or statement.this.name)
            return
        if not isinstance(statement, exp.Create | exp.Drop | exp.Alter | exp.Insert | exp.Delete | exp.Update):
            sql, args = self._bind_named(statement)
            self._sql(sql, args)
            return
        if self._staged is not None:
            self._change(statement)
            return
        with self.transaction():
            self._change(statement)

    # --- changes, on staging tables ---------------------------------------------------------------

    def _key(self, table: exp.Table) -> tuple[str, str]:
        return self._db(table.db), table.name.lower()

    def _ref(self, db: str, name: str) -> str:
        return f"`{db}`.`{name}`"

    def _exists(self, db: str, name: str) -> bool:
        return bool(self._spark.catalog.tableExists(f"{db}.{name}"))

    def _current(self, key: tuple[str, str]) -> str | None:
        """The name the transaction sees for a table, or None when it does not exist there."""
        assert self._staged is not None
        if key in self._staged:
            name = self._staged[key]
            return None if name.startswith(key[1] + DROPPED) else name
        return key[1] if self._exists(*key) else None

    def _stage(self, key: tuple[str, str], query: str | None, args: dict[str, Any] | None = None) -> str:
        """A fresh staging table for `key`, from `query` (or none yet); the one before it is dropped."""
        assert self._staged is not None
        db, name = key
        staged = f"{name}{STAGE}{self._tx}_{next(_views)}"
        if query is not None:
            self._sql(f"CREATE TABLE {self._ref(db, staged)} USING parquet AS {query}", args)
        previous = self._staged.get(key)
        self._staged[key] = staged
        if previous is not None:
            self._sql(f"DROP TABLE IF EXISTS {self._ref(db, previous)}")
        return staged

    def _copy(self, key: tuple[str, str], table: exp.Table) -> str:
        """The staging table of `key`, a copy of the table when the transaction has not staged it yet."""
        assert self._staged is not None
        current = self._current(key)
        if current is None:
            raise WarehouseError(f"Spark refused a statement: table {table.sql(self.dialect)} does not exist")
        if key in self._staged:
            return current
        return self._stage(key, f"SELECT * FROM {self._ref(key[0], current)}")

    def _change(self, statement: exp.Expr) -> None:
        if isinstance(statement, exp.Create):
            self._create(statement)
        elif isinstance(statement, exp.Drop):
            for table in statement.args.get("tables") or [statement.this]:
                self._drop(self._key(table))
        elif isinstance(statement, exp.Alter):
            self._alter(statement)
        elif isinstance(statement, exp.Insert):
            target = statement.this.this if isinstance(statement.this, exp.Schema) else statement.this
            self._copy(self._key(target), target)
            sql, args = self._bind_named(statement)
            self._sql(sql, args)  # the copy is staged now, so the rendered target is the staging table
        elif isinstance(statement, exp.Delete):
            self._delete(statement)
        else:
            assert isinstance(statement, exp.Update)
            self._update(statement)

    def _create(self, statement: exp.Create) -> None:
        target = statement.this.this if isinstance(statement.this, exp.Schema) else statement.this
        if statement.kind != "TABLE" or not isinstance(target, exp.Table):
            raise WarehouseError(f"the Spark warehouse creates tables and schemas only, not {statement.kind}")
        key = self._key(target)
        if statement.args.get("exists") and self._current(key) is not None:
            return
        self._stage(key, None)
        create = statement.copy()
        create.set("exists", False)
        sql, args = self._bind_named(create)  # renders the staging name: it is in `_staged` now
        self._sql(sql, args)

    def _drop(self, key: tuple[str, str]) -> None:
        assert self._staged is not None
        if self._current(key) is None:
            return
        staged = f"{key[1]}{DROPPED}{self._tx}"
        previous = self._staged.get(key)
        self._sql(f"CREATE TABLE IF NOT EXISTS {self._ref(key[0], staged)} (dropped BOOLEAN) USING parquet")
        self._staged[key] = staged
        if previous is not None:
            self._sql(f"DROP TABLE IF EXISTS {self._ref(key[0], previous)}")

    def _alter(self, statement: exp.Alter) -> None:
        table = statement.this
        key = self._key(table)
        for action in statement.args.get("actions") or []:
            if isinstance(action, exp.AlterRename):
                current = self._current(key)
                if current is None:
                    raise WarehouseError(f"Spark refused a statement: table {table.sql(self.dialect)} does not exist")
                new_key = (key[0], action.this.name.lower())
                if self._current(new_key) is not None:
                    raise WarehouseError(f"Spark refused a statement: table {action.this.name} already exists")
                self._stage(new_key, f"SELECT * FROM {self._ref(key[0], current)}")
                self._drop(key)
            elif isinstance(action, exp.ColumnDef):
                staged = self._copy(key, table)
                self._sql(f"ALTER TABLE {self._ref(key[0], staged)} ADD COLUMNS ({action.sql(self.dialect)})")
            else:
                raise WarehouseError(f"the Spark warehouse does not support ALTER TABLE {action.sql(self.dialect)}")

    def _source(self, table: exp.Table) -> tuple[tuple[str, str], str]:
        key = self._key(table)
        current = self._current(key)
        if current is None:
            raise WarehouseError(f"Spark refused a statement: table {table.sql(self.dialect)} does not exist")
        return key, current

    def _delete(self, statement: exp.Delete) -> None:
        """DELETE as a rewrite: the rows the condition does not hold for become the new staging table."""
        target = statement.this
        key, current = self._source(target)
        alias = target.alias or target.name
        where = statement.args.get("where")
        keep = exp.select("*").from_(_engine_table(key[0], current).as_(alias, quoted=True))
        if where is not None:
            keep = keep.where(exp.Not(this=exp.func("coalesce", exp.paren(where.this), exp.false())))
        else:
            keep = keep.where(exp.false())
        sql, args = self._bind_named(keep)
        self._stage(key, sql, args)

    def _update(self, statement: exp.Update) -> None:
        """UPDATE as a rewrite: each column is CASE WHEN the row matches THEN its new value ELSE itself;
        UPDATE ... FROM joins the source on the condition (one match per row, as PostgreSQL assumes)."""
        target = statement.this
        key, current = self._source(target)
        alias = target.alias or target.name
        columns = self._spark.table(self._ref(key[0], current)).columns
        where = statement.args.get("where")
        condition = where.this if where is not None else exp.true()
        sets = {e.this.name: e.expression for e in statement.expressions}
        unknown = [c for c in sets if c not in columns]
        if unknown:
            raise WarehouseError(f"Spark refused a statement: no column {unknown[0]!r} in {target.sql(self.dialect)}")
        source = _engine_table(key[0], current)
        query = exp.select().from_(source.as_(alias, quoted=True))
        matched: exp.Expr = exp.func("coalesce", exp.paren(condition), exp.false())
        joined = statement.args.get("from_") or statement.args.get("from")
        if joined is not None:
            other = joined.this
            other_alias = other.alias or other.name
            hit = exp.select(exp.Star(), exp.alias_(exp.true(), "__cb_hit")).from_(other.copy().as_("__cb_src"))
            query = query.join(hit.subquery(other_alias, copy=False), on=condition, join_type="left")
            matched = exp.func("coalesce", exp.column("__cb_hit", other_alias, quoted=True), exp.false())
        selected = [
            exp.alias_(
                exp.If(this=matched.copy(), true=sets[c], false=exp.column(c, alias, quoted=True)), c, quoted=True
            )
            if c in sets
            else exp.column(c, alias, quoted=True)
            for c in columns
        ]
        query = query.select(*selected)
        sql, args = self._bind_named(query)
        self._stage(key, sql, args)

    # --- transactions ---------------------------------------------------------------------------

    def _begin(self) -> None:
        if self._staged is not None:
            raise WarehouseError("the Spark warehouse does not nest transactions")
        self._staged, self._tx = {}, uuid.uuid4().hex[:10]

    def _commit(self) -> None:
        staged, tx = self._staged or {}, self._tx
        self._staged = None
        if staged:
            self.ensure_schema(SWAPS)
            marker = self._ref(self._db(SWAPS), MARKER + tx)
            self._sql(f"CREATE TABLE {marker} (done BOOLEAN) USING parquet")
            self._finish(tx)
            self._sql(f"DROP TABLE IF EXISTS {marker}")

    def _rollback(self) -> None:
        staged, tx = self._staged or {}, self._tx
        self._staged = None
        for (db, _), name in staged.items():
            self._sql(f"DROP TABLE IF EXISTS {self._ref(db, name)}")
        del tx

    def _brain_tables(self) -> list[tuple[str, str]]:
        dbs = [r[0] for r in self._spark.sql("SHOW DATABASES").collect()]
        mine = [d for d in dbs if d.startswith(self._prefix) and (self._prefix or d != "default")]
        return [(d, t.name) for d in mine for t in self._spark.catalog.listTables(d)]

    def _finish(self, tx: str) -> None:
        """Swap each staging table of `tx` in for its table (or drop the table): idempotent, so a restart
        can run it again after a crash half way."""
        for db, name in self._brain_tables():
            for mark, drop in ((STAGE, False), (DROPPED, True)):
                at = name.find(mark + tx)
                if at <= 0:
                    continue
                table = name[:at]
                self._sql(f"DROP TABLE IF EXISTS {self._ref(db, table)}")
                if drop:
                    self._sql(f"DROP TABLE {self._ref(db, name)}")
                else:
                    self._sql(f"ALTER TABLE {self._ref(db, name)} RENAME TO {self._ref(db, table)}")

    def recover(self) -> None:
        """Finish the swaps of a commit a crash interrupted and drop staging tables left by unfinished ones."""
        tables = self._brain_tables()
        committed = {n[len(MARKER) :] for d, n in tables if d == self._db(SWAPS) and n.startswith(MARKER)}
        for tx in committed:
            self._finish(tx)
            self._sql(f"DROP TABLE IF EXISTS {self._ref(self._db(SWAPS), MARKER + tx)}")
        for db, name in tables:
            found = re.search(f"({STAGE}|{DROPPED})([0-9a-f]{{10}})", name)
            if found and found.group(2) not in committed:
                self._sql(f"DROP TABLE IF EXISTS {self._ref(db, name)}")

    # --- data in --------------------------------------------------------------------------------

    def _write_arrow(self, table: exp.Table, data: pa.Table, *, create: bool) -> None:
        view = f"cb_arrow_in_{next(_views)}"
        frame = (
            self._spark.createDataFrame(data)
            if data.num_rows
            else self._spark.createDataFrame([], _schema(data.schema))
        )
        frame.createOrReplaceTempView(view)
        try:
            columns = [exp.to_identifier(name, quoted=True) for name in data.column_names]
            select = exp.select(*columns).from_(exp.to_identifier(view, quoted=True))
            if create:
                self.execute(exp.Create(this=table, kind="TABLE", expression=select))
            else:
                self.execute(exp.Insert(this=exp.Schema(this=table, expressions=columns), expression=select))
        finally:
            self._spark.catalog.dropTempView(view)

    def create_from_parquet(self, table: exp.Table, path: Path) -> None:
        """Create `table` from Parquet files Spark reads itself (a path the driver and executors see),
        staged and swapped in like any other change."""
        files = _engine_table("parquet", path.resolve().as_posix())
        self.execute(exp.Create(this=table, kind="TABLE", expression=exp.select("*").from_(files)))

    # --- catalog --------------------------------------------------------------------------------

    def ensure_schema(self, name: str) -> None:
        db = self._db(name)
        where = ""
        if self._location is not None:
            path = (self._location / name.lower()).as_posix()
            where = f" LOCATION {exp.Literal.string(path).sql(self.dialect)}"
        self._sql(f"CREATE DATABASE IF NOT EXISTS `{db}`{where}")

    def list_tables(self, schema: str) -> list[str]:
        db = self._db(schema)
        if not self._spark.catalog.databaseExists(db):
            return []
        names = [t.name for t in self._spark.catalog.listTables(db) if not t.isTemporary]
        visible = sorted(n for n in names if STAGE not in n and DROPPED not in n)
        if self._staged:  # inside a transaction: its creates, drops and renames
            staged = {n for (d, n), s in self._staged.items() if d == db and DROPPED not in s}
            gone = {n for (d, n), s in self._staged.items() if d == db and DROPPED in s}
            visible = sorted((set(visible) | staged) - gone)
        return visible

    def close(self) -> None:
        """The session stays: one per process, shared by every warehouse on it (a JVM start costs seconds)."""


def _engine_table(db: str, name: str) -> exp.Table:
    """A table reference already named as the engine knows it: rendering leaves it as it is."""
    table = exp.Table(this=exp.to_identifier(name, quoted=True), db=exp.to_identifier(db, quoted=True))
    table.meta[ENGINE] = True
    return table


def _schema(schema: pa.Schema) -> Any:
    from pyspark.sql.pandas.types import from_arrow_schema

    return from_arrow_schema(schema)


def _session(master: str, location: Path | None) -> Any:
    """One Spark session per process and master: a local JVM, or a Spark Connect client."""
    if master in _sessions:
        return _sessions[master]
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        raise MissingDependency("pyspark", "spark", "the Spark warehouse") from None
    if master.startswith("sc://"):
        try:
            session = SparkSession.builder.remote(master).getOrCreate()
        except Exception as exc:
            raise WarehouseError(
                f"cannot connect to the Spark Connect server {master}: {str(exc).strip()[:300]}",
                hint="check the URL in brain.yaml and that the server answers on its port (15002 by default)",
            ) from None
    else:
        assert location is not None
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")  # no network: bind the JVM to loopback
        location.mkdir(parents=True, exist_ok=True)
        builder = SparkSession.builder.master(master).appName("companybrain")
        for key, value in LOCAL_CONFIG.items():
            builder = builder.config(key, value)
        metastore = location / "metastore_db"
        builder = builder.config("spark.sql.warehouse.dir", (location / "managed").as_posix())
        builder = builder.config(
            "spark.hadoop.javax.jdo.option.ConnectionURL", f"jdbc:derby:;databaseName={metastore};create=true"
        )
        builder = builder.config("spark.driver.extraJavaOptions", f"-Dderby.system.home={location}")
        try:
            session = builder.getOrCreate()
        except Exception as exc:
            raise WarehouseError(
                f"cannot start a local Spark session: {str(exc).strip()[:300]}",
                hint="Spark needs Java 17 (java -version); set JAVA_HOME",
            ) from None
        session.sparkContext.setLogLevel("ERROR")
    _sessions[master] = session
    return session

"""The SQL door for BI tools: `brain serve --sql-port` also speaks the PostgreSQL wire protocol (buenavista's
server). A tool signs in with a user's API token as the password; each statement is translated
(sqldoor_sql.py): a read of a metric set runs through the one governed query path as that user (policies,
masking, audit), a catalog read runs on an in-memory mirror of the metric sets the user may read, which
holds no rows, no files and cannot be reconfigured. Nothing a tool sends is ever run on the warehouse."""

from __future__ import annotations

import logging
import socketserver
import struct
import threading
from collections.abc import Iterator
from datetime import date
from typing import TYPE_CHECKING, Any

from sqlglot import exp

from companybrain.delivery.sqldoor_sql import SERVER_VERSION, CatalogRead, Control, MetricRead, Show, translate
from companybrain.delivery.sqldoor_tables import SCHEMA, MetricTable, metric_tables
from companybrain.delivery.tokens import PREFIX
from companybrain.errors import BrainError, PolicyDenied, QueryError
from companybrain.governance.principal import Principal

if TYPE_CHECKING:
    import duckdb

    from companybrain.delivery.app import BrainService

log = logging.getLogger(__name__)

SETTINGS = {
    "server_version": SERVER_VERSION,
    "search_path": SCHEMA,
    "transaction isolation level": "read committed",
    "transaction_isolation": "read committed",
    "standard_conforming_strings": "on",
    "client_encoding": "UTF8",
    "datestyle": "ISO, MDY",
    "timezone": "UTC",
    "integer_datetimes": "on",
    "max_identifier_length": "63",
}
# the mirror: an in-memory DuckDB with the empty metric sets; after these settings it reads no file, loads no
# extension, and no statement can change them back
LOCKDOWN = (
    "SET threads = 1",
    "SET memory_limit = '256MB'",
    "SET autoinstall_known_extensions = false",
    "SET autoload_known_extensions = false",
    "SET enable_external_access = false",
    "SET lock_configuration = true",
)
CATALOG_SECONDS = 10.0  # a catalog read still running then (a join of the catalogs with themselves) is stopped
# SQLSTATE of what is refused: not allowed by policy, a sign-in that failed, anything else the door refuses
SQLSTATE = {PolicyDenied: "42501", QueryError: "42000"}
AUTH_FAILED = "28P01"
TEXT_OID = 25


def _buenavista() -> Any:
    try:
        from buenavista import core, postgres
    except ImportError:  # pragma: no cover - a dependency of the package
        raise BrainError("the SQL door needs buenavista: pip install 'buenavista>=0.5'") from None
    return core, postgres


class SqlDoor:
    """The PostgreSQL-protocol server of one BrainService, on its own threads (one per connection)."""

    def __init__(self, svc: BrainService, host: str = "127.0.0.1", port: int = 5433) -> None:
        self.svc = svc
        with svc.use() as brain:
            self.tables = metric_tables(brain)
            self.today = brain.project.spec.today or date.today()
        core, postgres = _buenavista()
        self._server = _server_class(core, postgres)((host, port), _connection_class(core)(self))
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def start(self) -> SqlDoor:
        self._thread = threading.Thread(target=self._server.serve_forever, name="sql-door", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def sign_in(self, user: str, password: str) -> Principal:
        """The principal of an API token that may read metrics; the connection's user must be the token's."""
        if not password.startswith(PREFIX):
            raise QueryError("sign in with an API token as the password", hint="brain tokens create USER")
        token = self.svc.tokens.lookup(password)
        if token is None or token.state() != "active":
            raise QueryError("the API token is unknown, expired or revoked", hint="brain tokens create USER")
        if "read:metrics" not in token.scopes:
            raise QueryError(f"API token {token.token_id} does not carry the scope 'read:metrics'")
        if user != token.user:
            raise QueryError(f"the API token is {token.user}'s: connect as user {token.user!r}")
        with self.svc.use() as brain:
            return brain.principal(token.user)

    def mirror(self, principal: Principal) -> tuple[duckdb.DuckDBPyConnection, dict[str, MetricTable]]:
        """An in-memory catalog of the metric sets this principal may read (their columns, no rows), and them."""
        import duckdb

        with self.svc.use() as brain:
            tables = metric_tables(brain, principal)
        db = duckdb.connect(":memory:")
        db.execute(exp.Create(this=exp.to_identifier(SCHEMA), kind="SCHEMA").sql(dialect="duckdb"))
        for table in tables.values():
            db.execute(_create(table).sql(dialect="duckdb"))
        db.execute(f"SET search_path = '{SCHEMA}'")
        for setting in LOCKDOWN:
            db.execute(setting)
        return db, tables


def _create(table: MetricTable) -> exp.Create:
    kinds = {"dimension": "VARCHAR", "grain": "DATE", "measure": "DOUBLE"}
    columns = [
        exp.ColumnDef(this=exp.to_identifier(c), kind=exp.DataType.build(kinds[table.kind(c)])) for c in table.columns
    ]
    target = exp.Schema(this=exp.table_(table.name, db=SCHEMA), expressions=columns)
    return exp.Create(this=target, kind="TABLE")


def _connection_class(core: Any) -> type:
    class DoorResult(core.QueryResult):
        def __init__(self, columns: list[tuple[str, Any]], rows: list[list[Any]] | None, status: str = "") -> None:
            super().__init__()
            self._columns, self._rows, self._status = columns, rows, status

        def has_results(self) -> bool:
            return self._rows is not None

        def column_count(self) -> int:
            return len(self._columns)

        def column(self, index: int) -> tuple[str, Any]:
            return self._columns[index]

        def rows(self) -> Iterator[list[Any]]:
            return iter(self._rows or [])

        def status(self) -> str:
            return self._status

    class DoorSession(core.Session):
        def __init__(self, door: SqlDoor) -> None:
            super().__init__()
            self.door = door
            self.principal: Principal | None = None
            self.catalog: duckdb.DuckDBPyConnection | None = None
            self.in_txn = False
            self.visible: dict[str, MetricTable] = {}

        def sign_in(self, user: str, password: str) -> None:
            self.principal = self.door.sign_in(user, password)
            self.catalog, self.visible = self.door.mirror(self.principal)

        def close(self) -> None:
            if self.catalog is not None:
                self.catalog.close()

        def in_transaction(self) -> bool:
            return self.in_txn

        def execute_sql(self, sql: str, params: Any = None) -> Any:
            if self.principal is None or self.catalog is None:
                raise QueryError("not signed in")
            statement = translate(sql, self.door.tables, self.door.today, params or ())
            if isinstance(statement, Control):
                if statement.in_transaction is not None:
                    self.in_txn = statement.in_transaction
                return DoorResult([], None, statement.status)
            if isinstance(statement, Show):
                if statement.name not in SETTINGS:
                    raise QueryError(f"unknown setting {statement.name!r}; the door shows {', '.join(SETTINGS)}")
                name = statement.name.replace("transaction isolation level", "transaction_isolation")
                return DoorResult([(name, core.BVType.TEXT)], [[SETTINGS[statement.name]]], "SHOW")
            if isinstance(statement, CatalogRead):
                return self._catalog(statement)
            return self._metrics(statement)

        def _catalog(self, statement: CatalogRead) -> Any:
            from buenavista.backends.duckdb import to_bvtype

            assert self.catalog is not None
            cursor = self.catalog.cursor()
            timer = threading.Timer(CATALOG_SECONDS, cursor.interrupt)
            timer.start()
            try:
                table = cursor.execute(statement.tree.sql(dialect="duckdb")).to_arrow_table()
            except Exception as exc:  # the engine's own words: what the mirror cannot answer
                reason = str(exc).splitlines()[0][:200]
                if "interrupt" in reason.lower():
                    reason = f"it ran longer than {CATALOG_SECONDS:g} s"
                raise QueryError(f"the catalog cannot answer this: {reason}") from None
            finally:
                timer.cancel()
                cursor.close()
            columns = []
            for f in table.schema:
                try:
                    columns.append((f.name, to_bvtype(f.type)))
                except Exception:  # nested or unusual catalog types are shown as text
                    columns.append((f.name, core.BVType.TEXT))
            rows = [list(r.values()) for r in table.to_pylist()]
            return DoorResult(columns, rows, f"SELECT {len(rows)}")

        def _metrics(self, statement: MetricRead) -> Any:
            types = {"dimension": core.BVType.TEXT, "grain": core.BVType.DATE, "measure": core.BVType.FLOAT}
            columns = [(shown, types[statement.table.kind(c)]) for shown, c in statement.outputs]
            if statement.query is None:  # LIMIT 0, a tool's look at the columns: those the catalog lists
                visible = self.visible.get(statement.table.name)
                if visible is None:
                    raise PolicyDenied(f"you may read no metric of {statement.table.name}", policy="sql door")
                return DoorResult(
                    [c for c, (_, name) in zip(columns, statement.outputs, strict=True) if name in visible.columns], []
                )
            assert self.principal is not None
            result, _ = self.door.svc.query(statement.query, self.principal)
            index = {name: i for i, name in enumerate(result.columns)}
            rows = []
            for row in result.rows:
                cells = []
                for _, column in statement.outputs:
                    value = row[index[column]]
                    kind = statement.table.kind(column)
                    if value is not None and kind == "measure":
                        value = float(value)
                    elif value is not None and kind == "dimension":
                        value = str(value)
                    cells.append(value)
                rows.append(cells)
            return DoorResult(columns, rows, f"SELECT {len(rows)}")

    class DoorConnection(core.Connection):
        def __init__(self, door: SqlDoor) -> None:
            super().__init__()
            self.door = door

        def parameters(self) -> dict[str, str]:
            return {
                "server_version": SERVER_VERSION,
                "server_encoding": "UTF8",
                "client_encoding": "UTF8",
                "DateStyle": "ISO, MDY",
                "TimeZone": "UTC",
                "integer_datetimes": "on",
                "standard_conforming_strings": "on",
            }

        def new_session(self) -> Any:
            return DoorSession(self.door)

    return DoorConnection


def _server_class(core: Any, postgres: Any) -> type:
    class Handler(postgres.BuenaVistaHandler):
        """buenavista's handler, but for the sign-in (a token is the password: asked in clear text, as
        PostgreSQL's `password` method does; buenavista only asks MD5 of a known password) and errors that
        carry a severity and SQLSTATE, which clients need to raise the right exception."""

        def send_auth_request(self, ctx: Any) -> None:
            self.wfile.write(struct.pack("!cii", postgres.ServerResponse.AUTHENTICATION_REQUEST, 8, 3))

        def handle_md5_password(self, ctx: Any, payload: bytes) -> None:
            password = payload.decode("utf-8", errors="replace").rstrip("\x00")
            try:
                ctx.session.sign_in(ctx.params.get("user", ""), password)
            except BrainError as exc:
                self._error(f"password authentication failed: {exc.message}", AUTH_FAILED, exc.hint)
                return
            self.send_authentication_ok()
            self.handle_post_auth(ctx)

        def handle_parse(self, ctx: Any, payload: bytes) -> None:
            super().handle_parse(ctx, payload)
            # a parameter of no stated type is read as text (buenavista would parse it as a date)
            for name, (sql, oids) in list(ctx.stmts.items()):
                ctx.stmts[name] = (sql, [oid or TEXT_OID for oid in oids])

        def send_error(self, exception: Any, ctx: Any = None) -> None:
            if isinstance(exception, BrainError):
                code = next((c for kind, c in SQLSTATE.items() if isinstance(exception, kind)), "42000")
                self._error(exception.message, code, exception.hint)
            else:  # no traceback to clients: the server log has it
                log.error("SQL door: %s", exception)
                self._error("the SQL door could not answer this statement (see the server log)", "XX000", None)
            if ctx:
                ctx.mark_error()

        def _error(self, message: str, code: str, hint: str | None) -> None:
            buf = postgres.BVBuffer()
            for field, value in (("S", "ERROR"), ("V", "ERROR"), ("C", code), ("M", message), ("H", hint)):
                if value:
                    buf.write_byte(field.encode())
                    buf.write_string(value)
            buf.write_byte(postgres.NULL_BYTE)
            out = buf.get_value()
            self.wfile.write(struct.pack("!ci", postgres.ServerResponse.ERROR_RESPONSE, len(out) + 4) + out)

    class Server(postgres.BuenaVistaServer):
        daemon_threads = True

        def __init__(self, address: tuple[str, int], conn: Any) -> None:
            # what BuenaVistaServer.__init__ sets, with this handler instead of its own
            socketserver.ThreadingTCPServer.__init__(self, address, Handler)
            self.conn, self.rewriter = conn, None
            self.extensions: dict[str, Any] = {}
            self.ctxts: dict[int, Any] = {}
            self.auth: dict[str, str] = {}

        def verify_request(self, request: Any, client_address: Any) -> bool:
            return True  # every connection signs in with a token; the interface is the operator's choice

    return Server

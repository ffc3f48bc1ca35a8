"""The Brain facade: what the CLI, the service and the tests call. One object per project."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import pyarrow as pa
from sqlglot import exp

from companybrain.errors import BrainError, Conflict, NotFound, PolicyDenied, WarehouseError
from companybrain.governance.audit import AuditKey, AuditLog
from companybrain.governance.lineage_events import Lineage
from companybrain.governance.policy import Policy
from companybrain.governance.principal import Principal, principal_for
from companybrain.ontology import build as build_mod
from companybrain.ontology.contracts import ContractResult, run_contracts
from companybrain.ontology.model import object_table, snake
from companybrain.project import Project, find_project
from companybrain.semantic import objects as objects_mod
from companybrain.semantic.compiler import WITHHELD, Compiled, compile_query
from companybrain.semantic.joins import overlay_schema, overlay_source
from companybrain.semantic.model import TIME_GRAINS, SemanticModel
from companybrain.semantic.query import MetricQuery, Result
from companybrain.sources import load_log, loader
from companybrain.warehouse import Warehouse, connect
from companybrain.warehouse.ddl import table as table_ref

if TYPE_CHECKING:
    from companybrain.decisions.actions import ActionDesk
    from companybrain.decisions.network import Disruption
    from companybrain.decisions.replan import Plan
    from companybrain.decisions.scenarios import ScenarioRun
    from companybrain.decisions.shortages import Projection

R = TypeVar("R")
# a warehouse error that a table or column the query names is not there (DuckDB's and PostgreSQL's words)
_MISSING = re.compile(
    r'relation "[^"]+" does not exist|column \S+ does not exist|Table with name \S+ does not exist'
    r"|does not have a column named|Referenced column \S+ not found"
)


def _withhold(table: pa.Table, compiled: Compiled) -> pa.Table:
    """The answer without its hidden columns; a note per metric whose small-group values were withheld."""
    for name, why in compiled.withheld.items():
        column = WITHHELD + name
        if column not in table.column_names:
            continue
        flags = table.column(column).to_pylist()
        count = sum(1 for flag in flags if flag)
        if count:
            compiled.notes.append(f"{count} of {len(flags)} values of {name} withheld: {why}")
    return table.select(compiled.columns) if table.num_columns != len(compiled.columns) else table


class Brain:
    """A loaded project and its warehouse, opened on first use."""

    def __init__(self, project: Project) -> None:
        self.project = project
        self._warehouse: Warehouse | None = None
        self._semantic: SemanticModel | None = None
        self._audit: AuditLog | None = None
        self._lineage: Lineage | None = None
        self._builds_exist = False
        self._loads_at_build: tuple[int | None, dict[str, Any]] = (None, {})

    @classmethod
    def open(cls, path: str | Path | None = None) -> Brain:
        """Open the project at `path`, else $BRAIN_PROJECT, else the current folder."""
        return cls(Project.load(find_project(str(path) if path is not None else None)))

    @property
    def warehouse(self) -> Warehouse:
        if self._warehouse is None:
            from companybrain.project import expand_env

            self._warehouse = connect(expand_env(self.project.spec.warehouse), self.project.root)
        return self._warehouse

    def close(self) -> None:
        if self._warehouse is not None:
            self._warehouse.close()
            self._warehouse = None
            self._audit = None

    def __enter__(self) -> Brain:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- sources ------------------------------------------------------------------------------

    def ingest(
        self, names: list[str] | None = None, progress: loader.Progress | None = None
    ) -> list[loader.SourceLoad]:
        """Land the sources (all, or `source` / `source.table` names) in the raw layer."""
        with self.lineage.run("ingest", *self.lineage.ingest_datasets(names)):
            return loader.ingest(self.project, self.warehouse, names, progress)

    def sources_status(self) -> list[dict[str, Any]]:
        """The latest load of every declared table, with totals of rows in the raw layer."""
        wh = self.warehouse
        load_log.ensure_tables(wh)
        latest: dict[tuple[str, str], dict[str, Any]] = {}
        last_ok: dict[tuple[str, str], dict[str, Any]] = {}
        for row in reversed(load_log.history(wh, limit=100_000)):
            key = (row["source"], row["table_name"])
            latest[key] = row
            if row["status"] == "ok":
                last_ok[key] = row
        raw_tables = set(wh.list_tables("raw"))
        status = []
        for source in self.project.spec.sources:
            for t in source.tables:
                key = (source.name, t.name)
                row = latest.get(key)
                name = f"{source.name}__{t.name}"
                rows = None
                if name in raw_tables:
                    rows = int(
                        wh.scalar(exp.select(exp.func("count", exp.Star())).from_(exp.to_table(f"raw.{name}"))) or 0
                    )
                status.append(
                    {
                        "source": source.name,
                        "table": t.name,
                        "raw_table": f"raw.{name}",
                        "status": row["status"] if row else "never loaded",
                        "last_checked": row["started_at"] if row else None,
                        "last_changed": last_ok[key]["started_at"] if key in last_ok else None,
                        "rows": rows,
                        "message": row["message"] if row else None,
                    }
                )
        return status

    def quarantine(self, source: str, table: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        """Rows a source sent that were not loaded, newest load first, with their reason."""
        loader.select_tables(self.project, [source if table is None else f"{source}.{table}"])
        load_log.ensure_tables(self.warehouse)
        return load_log.quarantined(self.warehouse, source, table, limit)

    # --- ontology -----------------------------------------------------------------------------

    def build(self, progress: build_mod.Progress | None = None, full: bool = False) -> build_mod.BuildReport:
        """Materialize the object types whose definition or data changed (all with `full`); a failing
        blocking contract keeps the previous version."""
        with self.lineage.run("build", *self.lineage.build_datasets()):
            return build_mod.build(self.project, self.warehouse, progress, full)

    def contracts(self) -> list[ContractResult]:
        """Evaluate every data contract on the objects as they are now."""
        self.require_built()
        return run_contracts(self.warehouse, self.project.objects)

    # --- governed reads: every one goes through the policy and leaves an audit record ---------

    @property
    def lineage(self) -> Lineage:
        """The OpenLineage run events of this project's jobs (governance/lineage_events.py)."""
        if self._lineage is None:
            self._lineage = Lineage(self.project)
        return self._lineage

    @property
    def semantic(self) -> SemanticModel:
        if self._semantic is None:
            self._semantic = SemanticModel(self.project)
        return self._semantic

    def principal(self, user: str | Principal | None = None, purpose: str | None = None) -> Principal:
        """The principal for a user name (default: the project's default user)."""
        if isinstance(user, Principal):
            return user
        return principal_for(self.project, user, purpose)

    def query(self, query: MetricQuery, user: str | Principal | None = None, scenario: str | None = None) -> Result:
        """Run a metric query as `user`: policy-checked, compiled, executed, audited; with `scenario`,
        over that scenario's overlays (`brain scenario run NAME` builds them) instead of the baseline."""
        started = time.perf_counter()
        table, compiled, build, sql, policy = self._run_query(query, user, scenario)
        definitions = {}
        for name in query.metrics:
            metric = self.semantic.metric(name)
            definitions[name] = {k: v for k, v in metric.model_dump().items() if v not in (None, [], "")}
        return Result(
            columns=list(table.column_names),
            rows=[list(r.values()) for r in table.to_pylist()],
            sql=sql,
            freshness=self._freshness(build, compiled.objects),
            policy={**policy.describe(), "row_filters": compiled.row_filters},
            definitions=definitions,
            period=compiled.period.as_dict() if compiled.period else None,
            notes=compiled.notes,
            seconds=time.perf_counter() - started,
        )

    def query_table(
        self, query: MetricQuery, user: str | Principal | None = None, scenario: str | None = None
    ) -> pa.Table:
        """The same governed, audited query as `query`, answered as Arrow: what models read."""
        return self._run_query(query, user, scenario)[0]

    def _run_query(
        self, query: MetricQuery, user: str | Principal | None, scenario: str | None
    ) -> tuple[pa.Table, Any, dict[str, Any], str, Policy]:
        principal = self.principal(user)
        policy = Policy(self.project, principal)
        request = query.as_dict() if scenario is None else {**query.as_dict(), "scenario": scenario}
        with self._audited(principal, "query", request) as audit:
            build = self.require_built()
            sources: dict[str, exp.Query] = {}
            if scenario is not None:
                schema = overlay_schema(scenario)
                overlays = set(self.warehouse.list_tables(schema))
                sources = {
                    name: overlay_source(obj, object_table(name), table_ref(schema, snake(name)))
                    for name, obj in self.project.objects.items()
                    if snake(name) in overlays
                }
                if not sources:
                    raise NotFound(f"scenario {scenario!r} has no overlays", hint=f"brain scenario run {scenario}")
            today = self.project.spec.today or date.today()
            compiled = compile_query(self.semantic, query, policy, today, sources)
            if sources:
                compiled.notes.append(f"scenario {scenario}: {', '.join(sorted(sources))} read from its overlays")
            sql = self.warehouse.render(compiled.tree)
            table = _withhold(self.warehouse.query_sql(sql), compiled)
            audit.update(sql=sql, rows=table.num_rows, build=build)
        return table, compiled, build, sql, policy

    def metrics_catalog(self, user: str | Principal | None = None) -> dict[str, Any]:
        """The metrics and dimensions the user may read, with descriptions and synonyms."""
        policy = Policy(self.project, self.principal(user))
        metrics = []
        for name, metric in self.project.metrics.items():
            objects = sorted({self.semantic.metric(b).object or "" for b in self.semantic.base_metrics(name)})
            try:
                policy.require_metric(name, objects, self.semantic.tags_read(name))
            except PolicyDenied:
                continue
            metrics.append(
                {
                    "name": name,
                    "description": metric.description,
                    "synonyms": metric.synonyms,
                    "object": metric.object,
                    "derived": metric.derived,
                    "expr": metric.expr,
                    "where": metric.where,
                    "format": metric.format,
                    "unit": metric.unit,
                    "on": objects,
                }
            )
        dimensions = [
            {"name": name, "description": d.description, "synonyms": d.synonyms, "object": d.object, "expr": d.expr}
            for name, d in self.project.dimensions.items()
            if policy.can_read_object(d.object)
        ]
        return {"metrics": metrics, "dimensions": dimensions, "time_grains": list(TIME_GRAINS)}

    def objects(
        self, type_name: str, where: str | None = None, limit: int | None = 20, user: str | Principal | None = None
    ) -> list[dict[str, Any]]:
        """Objects of a type that the user may see (masked properties read ***)."""
        return self.read(type_name, where, limit, user).to_pylist()

    def read(
        self,
        type_name: str,
        where: str | None = None,
        limit: int | None = None,
        user: str | Principal | None = None,
        columns: list[str] | None = None,
    ) -> pa.Table:
        """Objects of a type as Arrow (only `columns`, if given), under the user's policies and audited:
        what models and optimizers read (use `query` for aggregates)."""
        request = {"where": where, "limit": limit} | ({"columns": columns} if columns else {})

        def find(name: str, policy: Policy) -> tuple[pa.Table, exp.Select, int]:
            table, query, _ = objects_mod.find_objects(
                self.warehouse, self.semantic, policy, name, where, limit, columns
            )
            return table, query, table.num_rows

        return self._read_objects("objects", type_name, request, user, find)

    def count_objects(self, type_name: str, where: str | None = None, user: str | Principal | None = None) -> int:
        def count(name: str, policy: Policy) -> tuple[int, exp.Select, int]:
            return (*objects_mod.count_objects(self.warehouse, self.semantic, policy, name, where), 1)

        return self._read_objects("count", type_name, {"where": where}, user, count)

    def count_by(
        self, type_name: str, by: list[str], where: str | None = None, user: str | Principal | None = None
    ) -> list[dict[str, Any]]:
        """How many objects of a type the user may see, per value of the dimensions `by`."""

        def count(name: str, policy: Policy) -> tuple[list[dict[str, Any]], exp.Select, int]:
            table, query = objects_mod.count_by(self.warehouse, self.semantic, policy, name, by, where)
            return table.to_pylist(), query, table.num_rows

        return self._read_objects("count", type_name, {"by": by, "where": where}, user, count)

    def link_pairs(self, type_name: str, link: str, user: str | Principal | None = None) -> pa.Table:
        """(key, linked) pairs of a many-to-many link for every object of the type the user may see."""

        def pairs(name: str, policy: Policy) -> tuple[pa.Table, exp.Select, int]:
            table, query = objects_mod.link_pairs(self.warehouse, self.semantic, policy, name, link)
            return table, query, table.num_rows

        return self._read_objects("links", type_name, {"link": link}, user, pairs)

    def object(self, type_name: str, key: str, user: str | Principal | None = None) -> dict[str, Any]:
        """One object with its linked objects, as the user may see them."""

        def one(name: str, policy: Policy) -> tuple[dict[str, Any], exp.Select, int]:
            return (*objects_mod.get_object(self.warehouse, self.semantic, policy, name, key), 1)

        return self._read_objects("object", type_name, {"key": key}, user, one)

    def _read_objects(
        self,
        action: str,
        type_name: str,
        request: dict[str, Any],
        user: str | Principal | None,
        read: Callable[[str, Policy], tuple[R, exp.Select, int]],
    ) -> R:
        """One governed read of a type's objects: the user's policies, the last build, the audit record."""
        name = self._type(type_name)
        principal = self.principal(user)
        with self._audited(principal, action, {"type": name, **request}) as audit:
            audit["build"] = self.require_built()
            result, query, rows = read(name, Policy(self.project, principal))
            audit.update(sql=self.warehouse.render(query), rows=rows)
        return result

    # --- decisions ----------------------------------------------------------------------------

    def replan(
        self, disruption: Disruption, user: str | Principal | None = None, time_limit: float | None = None
    ) -> Plan:
        """Replan the network after a capacity loss: moves, delays, priorities, who to tell; the planner
        searches up to `time_limit` seconds (default: by size)."""
        from companybrain.decisions.planner import checked_time_limit
        from companybrain.decisions.replan import replan

        return replan(self, disruption, user, time_limit=checked_time_limit(time_limit))  # before the network loads

    def propose_replan(
        self, disruption: Disruption, user: str | Principal | None = None, time_limit: float | None = None
    ) -> tuple[Plan, list[dict[str, Any]], int | None]:
        """Replan, then propose the plan's actions as one batch with its expected value (ledger entry id)."""
        from companybrain.decisions.planner import checked_time_limit
        from companybrain.decisions.proposals import propose_replan

        return propose_replan(self, disruption, user, time_limit=checked_time_limit(time_limit))

    def propose_scenario(
        self, name: str, user: str | Principal | None = None
    ) -> tuple[ScenarioRun, list[dict[str, Any]], int | None]:
        """Run a scenario, then propose adopting it with its KPI diffs as the expected value (ledger entry id)."""
        from companybrain.decisions.proposals import propose_scenario

        return propose_scenario(self, name, user)

    @property
    def actions(self) -> ActionDesk:
        """Action types (actions/*.yaml), proposals, approvals, write-back and rollback; all audited."""
        from companybrain.decisions.actions import ActionDesk

        return ActionDesk(self)

    def value(self, user: str | Principal | None = None, use_case: str | None = None) -> dict[str, Any]:
        """The value ledger: expected vs realised impact of approved recommendations, by use case."""
        from companybrain.decisions.ledger import report

        return report(self, user, use_case)

    def project_shortages(
        self, user: str | Principal | None = None, forecast: str = "demand_forecast", write: bool = True
    ) -> Projection:
        """Component shortages per site and week from the demand forecast, open purchase orders at their
        predicted arrival; written as ProjectedShortage objects unless `write` is False."""
        from companybrain.decisions.shortages import project_shortages, write_shortages

        projection = project_shortages(self, user, forecast)
        if write:
            write_shortages(self, projection)
        return projection

    def scenarios(self) -> list[dict[str, Any]]:
        """The declared what-if scenarios and whether their overlays are current."""
        from companybrain.decisions.scenarios import list_scenarios

        return list_scenarios(self)

    def run_scenario(self, name: str, user: str | Principal | None = None) -> ScenarioRun:
        """Rebuild a scenario's overlays and diff its KPIs against the baseline, as `user`."""
        from companybrain.decisions.scenarios import run_scenario

        return run_scenario(self, name, user)

    def compare_scenarios(self, names: list[str], user: str | Principal | None = None) -> list[ScenarioRun]:
        """Several scenarios side by side (overlays reused, built when missing)."""
        from companybrain.decisions.scenarios import compare_scenarios

        return compare_scenarios(self, names, user)

    # --- audit ----------------------------------------------------------------------------------

    @property
    def audit(self) -> AuditLog:
        if self._audit is None:
            self._audit = AuditLog(self.warehouse, AuditKey.path_for(self.project.root))
        return self._audit

    @contextmanager
    def _audited(self, principal: Principal, action: str, request: dict[str, Any]) -> Iterator[dict[str, Any]]:
        """Record the read whatever happens: ok with its SQL and row count, or denied, or failed."""
        facts: dict[str, Any] = {"sql": None, "rows": None, "build": None}
        try:
            yield facts
        except PolicyDenied as exc:
            self.audit.append(principal, action, request, None, None, self.data_version(), f"denied: {exc.policy}")
            raise
        except BrainError as exc:
            self.audit.append(
                principal, action, request, facts["sql"], None, self.data_version(), f"error: {type(exc).__name__}"
            )
            changed = self._changed_since_built() if isinstance(exc, WarehouseError) else []
            if changed and _MISSING.search(exc.message):  # declared, not built yet: say so, not the SQL error
                raise Conflict(
                    f"{', '.join(changed)} changed since the last build (ontology/ or actions/): the objects "
                    "are not built as declared",
                    hint="run `brain build`",
                ) from exc
            raise
        build = facts["build"]
        self.audit.append(principal, action, request, facts["sql"], facts["rows"], f"build-{build['build_id']}")

    def _changed_since_built(self) -> list[str]:
        try:
            return build_mod.changed_since_built(self.project, self.warehouse)
        except BrainError:  # the warehouse failing: its own error says more
            return []

    def data_version(self) -> str | None:
        """`build-N` of the objects being read (the last successful build), for the audit log."""
        build = self._last_build()
        return f"build-{build['build_id']}" if build else None

    def _last_build(self) -> dict[str, Any] | None:
        """The last successful build (re-read on every read: another process may have built since)."""
        builds = build_mod.BUILDS
        if not self._builds_exist:
            if "builds" not in self.warehouse.list_tables(builds.db):
                return None
            self._builds_exist = True
        rows = self.warehouse.query_arrow(
            exp.select("build_id", "started_at")
            .from_(builds)
            .where(exp.column("status").eq(exp.Literal.string("ok")))
            .order_by(exp.Ordered(this=exp.column("build_id"), desc=True))
            .limit(1)
        ).to_pylist()
        return rows[0] if rows else None

    def _freshness(self, build: dict[str, Any], types: set[str]) -> dict[str, Any]:
        """When the objects were built, and when each source table behind them last changed before."""
        if self._loads_at_build[0] != build["build_id"]:
            log = load_log.LOAD_LOG
            rows = self.warehouse.query_arrow(
                exp.select(
                    exp.func(
                        "concat",
                        exp.Literal.string("raw."),
                        exp.column("source"),
                        exp.Literal.string("__"),
                        exp.column("table_name"),
                    ).as_("raw_table"),
                    exp.func("max", exp.column("started_at")).as_("last_changed"),
                )
                .from_(log)
                .where(exp.column("status").eq(exp.Literal.string("ok")))
                .where(exp.column("started_at") <= exp.Literal.string(str(build["started_at"])))
                .group_by(exp.column("source"), exp.column("table_name"))
            ).to_pylist()
            self._loads_at_build = (build["build_id"], {r["raw_table"]: r["last_changed"] for r in rows})
        last = self._loads_at_build[1]
        sources = sorted({src for t in types if (src := self.project.objects[t].source)})
        return {
            "built_at": build["started_at"],
            "data_version": f"build-{build['build_id']}",
            "sources": {name: last.get(name) for name in sources},
        }

    def _type(self, type_name: str) -> str:
        obj = self.project.object_type(type_name)
        return next(n for n, o in self.project.objects.items() if o is obj)

    def require_built(self) -> dict[str, Any]:
        """The last successful build (`build_id`, `started_at`); NotFound when nothing was built."""
        from companybrain.errors import NotFound

        build = self._last_build()
        if build is None:
            raise NotFound("the ontology has not been built yet", hint="run `brain ingest` then `brain build`")
        return build

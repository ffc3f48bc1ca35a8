"""The Brain facade: what the CLI, the service and the tests call. One object per project."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlglot import exp

from companybrain.ontology import build as build_mod
from companybrain.ontology import lookup
from companybrain.ontology.contracts import ContractResult, run_contracts
from companybrain.project import Project, find_project
from companybrain.sources import load_log, loader
from companybrain.warehouse import Warehouse, connect


class Brain:
    """A loaded project and its warehouse, opened on first use."""

    def __init__(self, project: Project) -> None:
        self.project = project
        self._warehouse: Warehouse | None = None

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

    def __enter__(self) -> Brain:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- sources ------------------------------------------------------------------------------

    def ingest(
        self, names: list[str] | None = None, progress: loader.Progress | None = None
    ) -> list[loader.SourceLoad]:
        """Land the sources (all, or `source` / `source.table` names) in the raw layer."""
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

    def build(self, progress: build_mod.Progress | None = None) -> build_mod.BuildReport:
        """Materialize every object type; a failing blocking contract keeps the previous version."""
        return build_mod.build(self.project, self.warehouse, progress)

    def contracts(self) -> list[ContractResult]:
        """Evaluate every data contract on the objects as they are now."""
        self._require_built()
        return run_contracts(self.warehouse, self.project.objects)

    def objects(self, type_name: str, where: str | None = None, limit: int = 20) -> list[dict[str, Any]]:
        name = self._type(type_name)
        self._require_built()
        return lookup.find_objects(self.warehouse, name, self.project.objects[name], where, limit)

    def count_objects(self, type_name: str, where: str | None = None) -> int:
        name = self._type(type_name)
        self._require_built()
        return lookup.count_objects(self.warehouse, name, self.project.objects[name], where)

    def object(self, type_name: str, key: str) -> dict[str, Any]:
        name = self._type(type_name)
        self._require_built()
        return lookup.get_object(self.warehouse, self.project.objects, name, key)

    def _type(self, type_name: str) -> str:
        obj = self.project.object_type(type_name)
        return next(n for n, o in self.project.objects.items() if o is obj)

    def _require_built(self) -> None:
        from companybrain.errors import NotFound
        from companybrain.ontology.model import SCHEMA

        if not self.warehouse.list_tables(SCHEMA):
            raise NotFound("the ontology has not been built yet", hint="run `brain ingest` then `brain build`")


__all__ = ["Brain"]

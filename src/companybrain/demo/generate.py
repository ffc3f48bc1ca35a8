"""generate_demo: build the Acme Industrial company for a scale and seed and write a complete
brain project (sources, ontology, ground truth) into a folder."""

from __future__ import annotations

import contextlib
import itertools
import json
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeAlias

import numpy as np
import pyarrow as pa

from companybrain.demo.common import AS_OF, SCALES, PartedTable, Scale, rng_for
from companybrain.errors import BrainError

MANIFEST = ".demo-manifest.json"
# what a demo folder holds besides the template folders (ontology, metrics, policies);
# regenerating removes exactly these, including the project state in .brain
OWNED = ("brain.yaml", "sources", "ground_truth", ".brain", MANIFEST)
# the tables write_ground_truth reads (small ones, kept after they are written)
GROUND_TRUTH_READS = ("hris.employees", "erp.quality_inspections", "erp.suppliers")
MONTH_COLUMN = {"service.tickets": "opened_at", "service.warranty_claims": "claim_date"}
Progress = Callable[[str, int, int], None]
Table: TypeAlias = pa.Table | PartedTable


@dataclass
class DemoSummary:
    """What generate_demo wrote: row counts per source table ("erp.orders") and the time taken."""

    out: Path
    scale: str
    seed: int
    tables: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0


def generate_demo(
    out: Path,
    *,
    scale: str = "medium",
    seed: int = 7,
    erp_url: str | None = None,
    crm_url: str | None = None,
    progress: Progress | None = None,
) -> DemoSummary:
    """Generate Acme Industrial into `out` (a new, empty or previous demo folder)."""
    from companybrain.demo import writers
    from companybrain.demo.ground_truth import write_ground_truth
    from companybrain.demo.project_files import SOURCES, write_project_files

    started = time.perf_counter()
    if scale not in SCALES:
        raise BrainError(f"unknown scale {scale!r}", hint=f"use one of: {', '.join(SCALES)}")
    out = Path(out)
    total = 9 + sum(len(s.tables) for s in SOURCES.values()) + 2
    done = 0

    def step(name: str) -> None:
        nonlocal done
        done += 1
        if progress is not None:
            progress(name, done, total)

    with contextlib.ExitStack() as stack:
        # connect to the databases first, so a wrong URL fails before any work is done
        sql_writers: dict[str, writers.SqlWriter] = {}
        if erp_url:
            sql_writers["erp"] = stack.enter_context(contextlib.closing(writers.PostgresWriter(erp_url)))
        if crm_url:
            sql_writers["crm"] = stack.enter_context(contextlib.closing(writers.MysqlWriter(crm_url)))
        _prepare_folder(out)
        sources = out / "sources"
        for name in ("erp", "crm"):
            if name not in sql_writers:
                sqlite = writers.SqliteWriter(sources / f"{name}.sqlite")
                sql_writers[name] = stack.enter_context(contextlib.closing(sqlite))
        landed = _Landing(sources, sql_writers, seed, step)
        failures, injection_ticket_id = _generate_and_land(SCALES[scale], seed, step, landed.land)

    write_project_files(out, landed.schemas, erp_url, crm_url)
    step("project files")
    write_ground_truth(
        out,
        scale=scale,
        seed=seed,
        tables=landed.kept,
        failures=failures,
        malformed=landed.malformed,
        injection_ticket_id=injection_ticket_id,
    )
    step("ground truth")

    counts = {name: landed.counts[name] for name in sorted(landed.counts)}
    manifest = {
        "generator": "companybrain.demo",
        "format": 1,
        "scale": scale,
        "seed": seed,
        "as_of": str(AS_OF),
        "erp": "postgresql" if erp_url else "sources/erp.sqlite",
        "crm": "mysql" if crm_url else "sources/crm.sqlite",
        "tables": counts,
    }
    (out / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return DemoSummary(out=out, scale=scale, seed=seed, tables=counts, seconds=time.perf_counter() - started)


class _Landing:
    """Writes each source table as soon as it is generated and keeps only what is needed later:
    schemas and row counts, and the few small tables the ground truth reads."""

    def __init__(self, sources: Path, sql_writers: dict, seed: int, step: Callable[[str], None]) -> None:
        self.sources = sources
        self.sql_writers = sql_writers
        self.seed = seed
        self.step = step
        self.schemas: dict[str, pa.Schema] = {}
        self.counts: dict[str, int] = {}
        self.kept: dict[str, pa.Table] = {}
        self.malformed: list[dict] = []

    def land(self, tables: dict[str, Table]) -> None:
        """Write these tables to their source system (database, CSV, JSON lines or Parquet)."""
        from companybrain.demo import writers
        from companybrain.demo.ground_truth import malformed_overtime_rows
        from companybrain.demo.project_files import SOURCES

        for name, table in tables.items():
            source, short = name.split(".", 1)
            self.schemas[name], self.counts[name] = table.schema, table.num_rows
            if name in GROUND_TRUTH_READS and isinstance(table, pa.Table):
                self.kept[name] = table
            if source in self.sql_writers:
                self.sql_writers[source].write(short, table, list(SOURCES[source].tables[short].primary_key))
            elif not isinstance(table, pa.Table):
                raise TypeError(f"{name}: only database tables are written in parts")
            elif source == "hris":
                replace = None
                if short == "overtime_monthly":
                    replace, self.malformed = malformed_overtime_rows(table, rng_for(self.seed, "malformed"))
                writers.write_csv(self.sources / "hris" / f"{short}.csv", table, replace)
            elif short == "sensor_readings":
                for month, part in _by_month(table, "ts"):
                    writers.write_parquet(self.sources / "telemetry" / f"sensor_readings_{month}.parquet", part)
            elif source == "telemetry":
                writers.write_parquet(self.sources / "telemetry" / f"{short}.parquet", table)
            else:
                for month, part in _by_month(table, MONTH_COLUMN[name]):
                    writers.write_jsonl(self.sources / "service" / f"{short}_{month}.jsonl", part)
            self.step(name)


def _generate_and_land(
    sc: Scale, seed: int, step: Callable[[str], None], land: Callable[[dict[str, Table]], None]
) -> tuple[pa.Table, int]:
    """Generate the company domain by domain, landing each domain's tables before the next;
    returns the failure list and the prompt-injection ticket id."""
    from companybrain.demo.company import generate_company
    from companybrain.demo.crm import generate_crm
    from companybrain.demo.operations import generate_operations
    from companybrain.demo.people import generate_people
    from companybrain.demo.sales import generate_sales
    from companybrain.demo.service import generate_service
    from companybrain.demo.skills import generate_skills
    from companybrain.demo.telemetry import downtime_table, failures_in_window, generate_downtime, sensor_readings

    company = generate_company(sc, seed)
    step("generate company")
    land(company.tables)
    people = generate_people(sc, seed, company)
    step("generate people")
    land(people.tables)
    land(generate_skills(seed, company, people))
    step("generate skills")
    sales = generate_sales(sc, seed, company, people)
    step("generate orders")
    # the other generators read the customers table; orders and lines leave memory once written
    land(sales.tables)
    sales.tables = {"erp.customers": sales.tables["erp.customers"]}
    downtime = generate_downtime(seed, company)
    step("generate downtime")
    land(generate_operations(seed, company, people, sales, downtime))
    step("generate operations")
    land(generate_crm(sc, seed, company, people, sales))
    step("generate crm")
    service = generate_service(sc, seed, company, people, sales)
    injection_ticket_id = service.pop("injection_ticket_id")
    step("generate service desk")
    land(service)
    del sales, service
    land(
        {
            "telemetry.downtime_events": downtime_table(seed, company, downtime),
            "telemetry.sensor_readings": sensor_readings(seed, company, downtime),
        }
    )
    step("generate telemetry")
    return failures_in_window(company, downtime), injection_ticket_id


def _prepare_folder(out: Path) -> None:
    """Create the folder; clear a previous demo; refuse a non-empty folder that is not one."""
    if out.exists() and not out.is_dir():
        raise BrainError(f"{out} is a file, not a folder", hint="pass --out with a new or empty folder")
    if out.is_dir() and any(out.iterdir()):
        if not (out / MANIFEST).is_file():
            raise BrainError(
                f"{out} is not empty and is not a previous demo (no {MANIFEST})",
                hint="choose a new or empty folder, e.g. `brain demo generate --out ./acme-demo`",
            )
        from companybrain.demo.project_files import template_folders

        for name in (*OWNED, *template_folders()):
            path = out / name
            if path.is_dir():
                shutil.rmtree(path)
            elif path.exists():
                path.unlink()
    out.mkdir(parents=True, exist_ok=True)


def _by_month(table: pa.Table, column: str) -> list[tuple[str, pa.Table]]:
    """Split a table sorted by a date/time column into (YYYY-MM, rows) parts."""
    values = table.column(column).to_numpy()
    months = values.astype("datetime64[M]")
    cuts = np.r_[0, np.flatnonzero(months[1:] != months[:-1]) + 1, len(months)]
    return [(str(months[a]), table.slice(a, b - a)) for a, b in itertools.pairwise(cuts)]

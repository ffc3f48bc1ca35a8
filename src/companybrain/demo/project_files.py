"""The demo's project files: the source catalogue (keys, file patterns, declared types), brain.yaml
and the ontology folder copied from the package."""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa

# ontology/, metrics/ and policies/ of the demo ship as YAML files inside the package
TEMPLATE_DIR = Path(__file__).parent / "project"


@dataclass(frozen=True)
class SourceTableDef:
    """How one generated table is stored and declared in brain.yaml."""

    primary_key: tuple[str, ...]
    files: str | None = None  # glob for file sources
    mode: str | None = None
    declare_types: bool = False  # text formats: declare column types so bad values are quarantined


@dataclass(frozen=True)
class SourceDef:
    kind: str  # sql | files
    format: str | None = None
    tables: dict[str, SourceTableDef] = field(default_factory=dict)


def _sql(*pairs: tuple[str, tuple[str, ...]]) -> dict[str, SourceTableDef]:
    return {name: SourceTableDef(primary_key=pk) for name, pk in pairs}


SOURCES: dict[str, SourceDef] = {
    "erp": SourceDef(
        "sql",
        tables=_sql(
            ("sites", ("site_id",)),
            ("lines", ("line_id",)),
            ("line_capabilities", ("line_id", "family_id")),
            ("product_families", ("family_id",)),
            ("products", ("product_id",)),
            ("components", ("component_id",)),
            ("bom", ("product_id", "component_id")),
            ("price_list", ("price_id",)),
            ("promotions", ("promotion_id",)),
            ("customers", ("customer_id",)),
            ("orders", ("order_id",)),
            ("order_lines", ("order_line_id",)),
            ("shipments", ("shipment_id",)),
            ("returns", ("return_id",)),
            ("suppliers", ("supplier_id",)),
            ("purchase_orders", ("po_id",)),
            ("stock", ("site_id", "component_id")),
            ("production", ("production_id",)),
            ("machines", ("machine_id",)),
            ("quality_inspections", ("inspection_id",)),
        ),
    ),
    "crm": SourceDef(
        "sql",
        tables=_sql(
            ("territories", ("territory_id",)),
            ("reps", ("rep_id",)),
            ("accounts", ("account_id",)),
            ("contacts", ("contact_id",)),
            ("sales_plays", ("play_id",)),
            ("opportunities", ("opportunity_id",)),
            ("opportunity_stage_history", ("history_id",)),
        ),
    ),
    "hris": SourceDef(
        "files",
        "csv",
        {
            "employees": SourceTableDef(("employee_id",), "employees*.csv", "full", True),
            "pay_bands": SourceTableDef(("pay_band_id",), "pay_bands*.csv", "full", True),
            "skills": SourceTableDef(("skill_id",), "skills*.csv", "full", True),
            "employee_skills": SourceTableDef(("employee_id", "skill_id"), "employee_skills*.csv", "full", True),
            "line_required_skills": SourceTableDef(("line_id", "skill_id"), "line_required_skills*.csv", "full", True),
            "overtime_monthly": SourceTableDef(("employee_id", "month"), "overtime_monthly*.csv", "full", True),
            "manager_changes": SourceTableDef(("change_id",), "manager_changes*.csv", "full", True),
        },
    ),
    "service": SourceDef(
        "files",
        "jsonl",
        {
            "tickets": SourceTableDef(("ticket_id",), "tickets_*.jsonl", None, True),
            "warranty_claims": SourceTableDef(("claim_id",), "warranty_claims_*.jsonl", None, True),
        },
    ),
    "telemetry": SourceDef(
        "files",
        "parquet",
        {
            "sensor_readings": SourceTableDef(("machine_id", "ts"), "sensor_readings_*.parquet"),
            "downtime_events": SourceTableDef(("event_id",), "downtime_events*.parquet"),
        },
    ),
}

LOGICAL_TYPES = {
    "int64": "integer",
    "double": "float",
    "string": "string",
    "bool": "boolean",
    "date32[day]": "date",
    "timestamp[us]": "timestamp",
}


def logical_type(arrow_type: pa.DataType) -> str:
    """The project's column type for an Arrow type."""
    return LOGICAL_TYPES[str(arrow_type)]


def _flow(value: object) -> str:
    """A YAML flow value: identifiers plain, anything else as a JSON (= YAML double-quoted) string."""
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_flow(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_flow(v)}" for k, v in value.items()) + "}"
    text = str(value)
    return text if text.replace("_", "").isalnum() and not text[0].isdigit() else json.dumps(text)


def brain_yaml(schemas: dict[str, pa.Schema], erp_url: str | None, crm_url: str | None) -> str:
    """brain.yaml for the generated sources; `schemas` maps "source.table" to its Arrow schema."""
    urls = {"erp": erp_url or "sqlite:///sources/erp.sqlite", "crm": crm_url or "sqlite:///sources/crm.sqlite"}
    out = [
        "# Acme Industrial - generated by `brain demo generate` (deterministic for a scale and seed).",
        "name: acme",
        "description: Acme Industrial demo company",
        "warehouse: duckdb:///.brain/warehouse.duckdb",
        "sources:",
    ]
    for source, spec in SOURCES.items():
        out.append(f"  - name: {source}")
        out.append(f"    type: {spec.kind}")
        if spec.kind == "sql":
            out.append(f"    url: {json.dumps(urls[source])}")
        else:
            out.append(f"    path: sources/{source}")
            out.append(f"    format: {spec.format}")
        out.append("    tables:")
        for table, tdef in spec.tables.items():
            entry: dict[str, object] = {"name": table}
            if tdef.primary_key:
                entry["primary_key"] = list(tdef.primary_key)
            if spec.kind == "sql":
                entry["cursor"] = "updated_at"
            if tdef.files:
                entry["files"] = tdef.files
            if tdef.mode:
                entry["mode"] = tdef.mode
            if tdef.declare_types:
                schema = schemas[f"{source}.{table}"]
                entry["columns"] = {f.name: logical_type(f.type) for f in schema}
            out.append(f"      - {_flow(entry)}")
    out.append("# the demo's alert receivers run on this machine; nothing else may be called")
    out.append("egress: {allow: [127.0.0.1, localhost]}")
    out.append("# the demo company's data ends here: relative periods (last_quarter, ytd) count from it")
    out.append("today: 2026-03-01")
    return "\n".join(out) + "\n"


def template_folders() -> list[str]:
    """The project folders copied from the package (ontology, metrics, policies, ...)."""
    return sorted(p.name for p in TEMPLATE_DIR.iterdir() if p.is_dir() and any(p.glob("*.yaml")))


def write_project_files(out: Path, schemas: dict[str, pa.Schema], erp_url: str | None, crm_url: str | None) -> None:
    """brain.yaml plus the ontology, metrics and policies folders."""
    (out / "brain.yaml").write_text(brain_yaml(schemas, erp_url, crm_url), encoding="utf-8")
    for folder in template_folders():
        target = out / folder
        target.mkdir(parents=True, exist_ok=True)
        for path in sorted((TEMPLATE_DIR / folder).glob("*.yaml")):
            shutil.copyfile(path, target / path.name)

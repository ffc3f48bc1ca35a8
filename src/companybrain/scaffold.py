"""`brain init`: an empty project that validates, with commented examples to start from."""

from __future__ import annotations

import json
import re
from pathlib import Path

from companybrain.errors import BrainError
from companybrain.specs.schema import KINDS, json_schema

BRAIN_YAML = """\
# yaml-language-server: $schema=.schemas/project.json
# A Company Brain project. `brain check` validates it; `brain ingest` lands the sources;
# `brain build` materializes the ontology.
name: {name}
description: ""
# The warehouse: a DuckDB file inside the project (default), or postgresql://user@host/db
warehouse: duckdb:///.brain/warehouse.duckdb
sources: []
#  - name: erp
#    type: sql
#    url: sqlite:///sources/erp.sqlite        # or postgresql://..., mysql://...
#    tables:
#      - {{name: orders, primary_key: [order_id], cursor: updated_at}}
#  - name: hris
#    type: files
#    path: sources/hris
#    format: csv
#    tables:
#      - {{name: employees, files: "employees*.csv", primary_key: [employee_id], mode: full}}
egress:
  allow: []   # hosts this project may call; nothing else leaves the machine
"""

ONTOLOGY_README = """\
# yaml-language-server: $schema=../.schemas/ontology.json
# Object types of the company model, mapped from raw tables. Example:
# objects:
#   Customer:
#     key: customer_id
#     source: raw.erp__customers
#     properties:
#       customer_id: {type: string}
#       name: {type: string, tags: [pii]}
#       region: {type: string}
#     contracts:
#       - {type: accepted_values, property: region, values: [NA, EMEA, APAC, LATAM]}
objects: {}
"""


def init_project(folder: Path) -> list[Path]:
    """Create a new project in `folder` (which may exist but must not hold a brain.yaml)."""
    if (folder / "brain.yaml").exists():
        raise BrainError(f"{folder} already holds a brain project", hint="use `brain check` to validate it")
    name = re.sub(r"[^a-z0-9_]+", "_", folder.resolve().name.lower()).strip("_") or "brain"
    if not name[0].isalpha():
        name = f"brain_{name}"
    written = {
        folder / "brain.yaml": BRAIN_YAML.format(name=name),
        folder / "ontology" / "objects.yaml": ONTOLOGY_README,
        folder / ".gitignore": ".brain/\n",
        folder / "sources" / ".gitkeep": "",
    }
    for kind in KINDS:
        written[folder / ".schemas" / f"{kind}.json"] = json.dumps(json_schema(kind), indent=2) + "\n"
    for path, text in written.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return sorted(written)

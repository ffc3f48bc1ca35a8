"""JSON Schema of every project file, so editors can complete and check the YAML."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from companybrain.specs.apps import AppSpec
from companybrain.specs.ontology import OntologyFile
from companybrain.specs.project import ProjectSpec

KINDS: dict[str, tuple[type[BaseModel], str]] = {
    "project": (ProjectSpec, "brain.yaml"),
    "ontology": (OntologyFile, "ontology/*.yaml"),
    "app": (AppSpec, "apps/*.yaml"),
}


def json_schema(kind: str) -> dict[str, Any]:
    model, files = KINDS[kind]
    schema = model.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = f"Company Brain {files}"
    return schema

"""OpenLineage run events (the openlineage-python client) for ingest, build, training and scoring, so that
DataHub, Marquez or OpenMetadata see what the brain read and wrote: a START event when a job begins, COMPLETE
or FAIL when it ends, with its input and output datasets, and the column lineage the ontology declares (each
property from its raw table's columns).

Where events go is the client's own configuration: `openlineage.yml` in the project folder, or the client's
usual places (OPENLINEAGE_CONFIG, OPENLINEAGE_URL, OPENLINEAGE__TRANSPORT__..., ./openlineage.yml). With none
of them the brain emits nothing."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlglot
from sqlglot import exp

from companybrain.ontology.model import snake
from companybrain.specs.ontology import SPEC_DIALECT

if TYPE_CHECKING:
    from companybrain.project import Project
    from companybrain.specs.usecases import UseCase

log = logging.getLogger(__name__)

CONFIG_FILE = "openlineage.yml"
PRODUCER = "https://github.com/companybrain/companybrain"
Datasets = tuple[list[Any], list[Any]]  # inputs, outputs


def _configured(root: Path) -> dict[str, Any] | bool | None:
    """The project's openlineage.yml as a dict, True when the client's own settings name a target, else False."""
    path = root / CONFIG_FILE
    if path.exists() and not os.environ.get("OPENLINEAGE_CONFIG"):
        import yaml

        loaded = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        return dict(loaded)
    names = ("OPENLINEAGE_CONFIG", "OPENLINEAGE_URL")
    if any(os.environ.get(n) for n in names) or any(k.startswith("OPENLINEAGE__") for k in os.environ):
        return True
    return Path(CONFIG_FILE).exists()


class Lineage:
    """The run events of one project's jobs; a no-op when lineage is not configured."""

    def __init__(self, project: Project) -> None:
        self.project = project
        self.namespace = f"companybrain://{project.spec.name}"
        config = _configured(project.root)
        self.client: Any = None
        if config:
            from openlineage.client import OpenLineageClient

            self.client = OpenLineageClient(config=config) if isinstance(config, dict) else OpenLineageClient()

    @contextmanager
    def run(self, job: str, inputs: list[Any], outputs: list[Any]) -> Iterator[None]:
        """START now, COMPLETE when the block ends, FAIL (with the error) when it raises."""
        if self.client is None:
            yield
            return
        from openlineage.client.event_v2 import Job, Run, RunEvent, RunState
        from openlineage.client.facet_v2 import error_message_run
        from openlineage.client.uuid import generate_new_uuid

        run_id = str(generate_new_uuid())
        job_ref = Job(namespace=self.namespace, name=job)

        def emit(state: Any, facets: dict[str, Any] | None = None) -> None:
            event = RunEvent(
                eventType=state,
                eventTime=datetime.now(UTC).isoformat(),
                run=Run(runId=run_id, facets=facets or {}),
                job=job_ref,
                inputs=inputs,
                outputs=outputs,
                producer=PRODUCER,
            )
            try:
                self.client.emit(event)
            except Exception:  # lineage is a report of the work, never a reason for it to fail
                log.exception("could not emit the OpenLineage %s event of %s", state.value, job)

        emit(RunState.START)
        try:
            yield
        except BaseException as exc:
            message = error_message_run.ErrorMessageRunFacet(message=str(exc)[:2000], programmingLanguage="python")
            emit(RunState.FAIL, {"errorMessage": message})
            raise
        emit(RunState.COMPLETE)

    # --- the datasets of each job -------------------------------------------------------------

    def ingest_datasets(self, names: list[str] | None) -> Datasets:
        """Each selected source table (in) and its raw table (out)."""
        if self.client is None:
            return [], []
        from openlineage.client.event_v2 import InputDataset, OutputDataset

        inputs, outputs = [], []
        for source in self.project.spec.sources:
            for table in source.tables:
                if names and source.name not in names and f"{source.name}.{table.name}" not in names:
                    continue
                inputs.append(InputDataset(namespace=f"source://{source.name}", name=table.name))
                outputs.append(OutputDataset(namespace=self.namespace, name=f"raw.{source.name}__{table.name}"))
        return inputs, outputs

    def build_datasets(self) -> Datasets:
        """The raw tables the object types read (in), and the object tables (out) with each property's columns."""
        if self.client is None:
            return [], []
        from openlineage.client.event_v2 import InputDataset, OutputDataset
        from openlineage.client.facet_v2 import column_lineage_dataset as cl
        from openlineage.client.facet_v2 import schema_dataset

        read: set[str] = set()
        outputs = []
        for name, obj in self.project.objects.items():
            sources = [obj.source] if obj.source else _tables_of(obj.sql)
            read.update(sources)
            fields: dict[str, Any] = {}
            if obj.source:  # a SELECT's columns are its own: the lineage of a mapped table only
                for prop, spec in obj.properties.items():
                    if spec.predicted_by:  # written by the use case's scoring (its own run), not read from raw
                        continue
                    columns = [spec.column or prop] if not spec.expr else _columns_of(spec.expr)
                    how = cl.Transformation(type="DIRECT", subtype="TRANSFORMATION" if spec.expr else "IDENTITY")
                    found = [
                        cl.InputField(namespace=self.namespace, name=obj.source, field=c, transformations=[how])
                        for c in columns
                    ]
                    if found:
                        fields[prop] = cl.Fields(inputFields=found, transformationDescription=spec.expr)
            schema = schema_dataset.SchemaDatasetFacet(
                fields=[schema_dataset.SchemaDatasetFacetFields(name=p, type=s.type) for p, s in obj.properties.items()]
            )
            facets: dict[str, Any] = {"schema": schema}
            if fields:
                facets["columnLineage"] = cl.ColumnLineageDatasetFacet(fields=fields)
            outputs.append(OutputDataset(namespace=self.namespace, name=f"ontology.{snake(name)}", facets=facets))
        inputs = [InputDataset(namespace=self.namespace, name=t) for t in sorted(read)]
        return inputs, outputs

    def usecase_datasets(self, uc: UseCase, step: str) -> Datasets:
        """Training reads the entity's objects and writes a model version; scoring reads both and writes the
        scores onto the ontology."""
        if self.client is None:
            return [], []
        from openlineage.client.event_v2 import InputDataset, OutputDataset

        entity = [InputDataset(namespace=self.namespace, name=f"ontology.{snake(uc.entity)}")] if uc.entity else []
        model = f"registry.{uc.name}"
        if step == "train":
            return entity, [OutputDataset(namespace=self.namespace, name=model)]
        written = uc.output.object or uc.entity or uc.name
        inputs = [*entity, InputDataset(namespace=self.namespace, name=model)]
        return inputs, [OutputDataset(namespace=self.namespace, name=f"ontology.{snake(written)}")]


def _tables_of(sql: str | None) -> list[str]:
    if not sql:
        return []
    tree = sqlglot.parse_one(sql, dialect=SPEC_DIALECT)
    return sorted({".".join(p for p in (t.db, t.name) if p) for t in tree.find_all(exp.Table)})


def _columns_of(expression: str) -> list[str]:
    tree = sqlglot.parse_one(expression, dialect=SPEC_DIALECT)
    return sorted({c.name for c in tree.find_all(exp.Column)})

"""OpenLineage run events of the demo's ingest, build, training and scoring, written by the openlineage-python
client's file transport (configured by openlineage.yml in the project) and read back: START then COMPLETE
(FAIL with the error), the datasets read and written, and column lineage that names real raw columns."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from companybrain import Brain, factory

pytestmark = pytest.mark.slow  # trains and scores one use case of the demo


def _events(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def test_demo_jobs_emit_run_events_with_datasets_and_column_lineage(small_demo: Callable[[str], Path]) -> None:
    root = small_demo("lineage")
    log = root / "lineage-events.jsonl"
    (root / "openlineage.yml").write_text(
        f"transport:\n  type: file\n  log_file_path: {log}\n  append: true\n", encoding="utf-8"
    )
    with Brain.open(root) as brain:
        source = brain.project.spec.sources[0]
        landed = f"{source.name}.{source.tables[0].name}"
        brain.ingest([landed])  # one table: the events name exactly what was asked
        brain.build()
        name = "lead_scoring"  # the demo's quickest use case to train
        trained = factory.train(brain, [name])
        scored = factory.score(brain, [name])
        with pytest.raises(Exception, match="nope"):
            brain.ingest(["nope"])
        events = _events(log)
        read = {
            f["name"] for e in events for o in e["outputs"] for fs in _lineage(o).values() for f in fs["inputFields"]
        }
        read |= {f"raw.{t}" for t in brain.warehouse.list_tables("raw")}
        columns = {t: set(brain.warehouse.query_sql(f"SELECT * FROM {t} LIMIT 0").column_names) for t in read}
    assert trained[0]["status"] == "ok" and scored[0]["status"] == "ok"
    by_job: dict[str, list[dict[str, Any]]] = {}
    for event in events:
        by_job.setdefault(event["job"]["name"], []).append(event)
    for job in ("build", f"train.{name}", f"score.{name}"):
        states = [e["eventType"] for e in by_job[job]]
        assert states == ["START", "COMPLETE"], (job, states)
        assert len({e["run"]["runId"] for e in by_job[job]}) == 1
    assert [e["eventType"] for e in by_job["ingest"]] == ["START", "COMPLETE", "START", "FAIL"]
    assert "nope" in by_job["ingest"][-1]["run"]["facets"]["errorMessage"]["message"]
    ingest = by_job["ingest"][1]
    assert [o["name"] for o in ingest["outputs"]] == [f"raw.{landed.replace('.', '__')}"]
    assert [i["name"] for i in ingest["inputs"]] == [source.tables[0].name]
    build = by_job["build"][1]
    outputs = {o["name"]: o for o in build["outputs"]}
    lineage = outputs["ontology.order_line"]["facets"]["columnLineage"]["fields"]
    assert lineage, "the order lines' properties name their raw columns"
    checked = 0
    for output in outputs.values():
        for fields in _lineage(output).values():
            for field in fields["inputFields"]:
                assert field["field"] in columns[field["name"]], field  # a real column of the table it names
                checked += 1
    assert checked > 100
    train = by_job[f"train.{name}"][1]
    entity = brain.project.usecases[name].entity or ""
    assert [i["name"] for i in train["inputs"]] == [f"ontology.{_snake(entity)}"]
    assert [o["name"] for o in train["outputs"]] == [f"registry.{name}"]
    assert f"registry.{name}" in [i["name"] for i in by_job[f"score.{name}"][1]["inputs"]]


def _lineage(dataset: dict[str, Any]) -> dict[str, Any]:
    found: dict[str, Any] = dataset.get("facets", {}).get("columnLineage", {}).get("fields", {})
    return found


def _snake(name: str) -> str:
    from companybrain.ontology.model import snake

    return snake(name)

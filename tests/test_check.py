"""`brain check`: every problem reported with file, line, key and a fix."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from companybrain.errors import ConfigError
from companybrain.project import Project
from tests.conftest import write
from tests.shop import make_shop


def problems(root: Path) -> list[tuple[str, int | None, str]]:
    with pytest.raises(ConfigError) as info:
        Project.load(root)
    return [(loc.file, loc.line, msg) for loc, msg in info.value.problems]


def test_shop_is_valid(tmp_path: Path) -> None:
    project = Project.load(make_shop(tmp_path / "shop"))
    assert set(project.objects) == {"Customer", "Order", "Employee"}
    assert "raw.erp__orders" in project.raw_tables()


def test_unknown_key_names_file_line_and_suggestion(tmp_path: Path) -> None:
    root = make_shop(tmp_path / "shop")
    text = (root / "brain.yaml").read_text().replace("primary_key: [order_id]", "primary_keys: [order_id]")
    (root / "brain.yaml").write_text(text)
    [(file, line, msg)] = problems(root)
    assert file == "brain.yaml"
    assert line == next(i for i, ln in enumerate(text.splitlines(), 1) if "primary_keys" in ln)
    assert "unknown key 'primary_keys'" in msg and "did you mean 'primary_key'" in msg


def test_ontology_errors_point_at_the_line(tmp_path: Path) -> None:
    root = make_shop(tmp_path / "shop")
    path = root / "ontology" / "shop.yaml"
    text = path.read_text()
    path.write_text(text.replace("region: {type: string}", "region: {type: strng}"))
    [(file, line, msg)] = problems(root)
    assert file == "ontology/shop.yaml" and "Input should be 'string'" in msg and "got 'strng'" in msg
    assert line == next(i for i, ln in enumerate(text.splitlines(), 1) if "region: {type: string}" in ln)
    # references across files are checked once every file parses
    text = text.replace("customer: {to: Customer,", "customer: {to: Custmer,")
    text = text.replace("source: raw.hris__employees", "source: raw.hris__employee")
    path.write_text(text)
    lines = text.splitlines()

    def line_of(fragment: str) -> int:
        return next(i for i, ln in enumerate(lines, 1) if fragment in ln)

    by_msg = {msg: line for _, line, msg in problems(root)}
    assert any("did you mean 'Customer'" in m and line == line_of("to: Custmer") for m, line in by_msg.items())
    assert any(
        "did you mean 'raw.hris__employees'" in m and line == line_of("raw.hris__employee")
        for m, line in by_msg.items()
    )


def test_yaml_syntax_error_has_a_line(tmp_path: Path) -> None:
    root = make_shop(tmp_path / "shop")
    write(root / "ontology" / "broken.yaml", "objects:\n  Thing:\n    key: [unclosed\n")
    [(file, line, msg)] = problems(root)
    assert file == "ontology/broken.yaml" and line is not None and "not valid YAML" in msg


def test_bad_expression_and_missing_key_property(tmp_path: Path) -> None:
    root = make_shop(tmp_path / "shop")
    path = root / "ontology" / "shop.yaml"
    path.write_text(
        path.read_text().replace('expr: "amount > 100"', 'expr: "amount >"').replace("key: employee_id", "key: emp_id")
    )
    messages = " | ".join(m for _, _, m in problems(root))
    assert "not a valid SQL expression" in messages
    assert "key 'emp_id' is not one of its properties" in messages


def test_duplicate_object_type_across_files(tmp_path: Path) -> None:
    root = make_shop(tmp_path / "shop")
    write(
        root / "ontology" / "x_more.yaml",
        """
        objects:
          Customer:
            key: id
            source: raw.erp__customers
            properties: {id: {type: integer}}
        """,
    )
    [(file, line, msg)] = problems(root)
    assert file == "ontology/x_more.yaml" and line == 2 and "already declared in ontology/shop.yaml" in msg


def test_check_command_json(tmp_path: Path, run_cli) -> None:
    root = make_shop(tmp_path / "shop")
    code, out, _ = run_cli("-p", str(root), "check", "--format", "json")
    assert code == 0 and json.loads(out)["ok"] is True
    (root / "brain.yaml").write_text(
        (root / "brain.yaml").read_text().replace("cursor: updated_at}", "cusor: updated_at}", 1)
    )
    code, out, _ = run_cli("-p", str(root), "check", "--format", "json")
    report = json.loads(out)
    assert code == 1 and report["ok"] is False
    [problem] = report["problems"]
    assert problem["file"] == "brain.yaml" and problem["line"] == 9 and "did you mean 'cursor'" in problem["message"]


def test_init_scaffolds_a_valid_project(tmp_path: Path, run_cli) -> None:
    code, _, _ = run_cli("init", str(tmp_path / "new"))
    assert code == 0
    assert Project.load(tmp_path / "new").spec.name == "new"
    assert (
        json.loads((tmp_path / "new" / ".schemas" / "project.json").read_text())["title"] == "Company Brain brain.yaml"
    )
    code, _, err = run_cli("init", str(tmp_path / "new"))
    assert code == 1 and "already holds a brain project" in err


def test_schema_command(run_cli) -> None:
    code, out, _ = run_cli("schema", "ontology")
    schema = json.loads(out)
    assert code == 0 and "objects" in schema["properties"]
    code, out, _ = run_cli("schema", "project")
    assert "warehouse" in json.loads(out)["properties"]


def test_max_quarantined_is_a_fraction(tmp_path: Path) -> None:
    root = make_shop(tmp_path / "shop")
    key = "primary_key: [order_id]"
    text = (root / "brain.yaml").read_text().replace(key, f"{key}, max_quarantined: 20")
    (root / "brain.yaml").write_text(text)
    [(file, line, msg)] = problems(root)
    assert file == "brain.yaml" and line == next(i for i, ln in enumerate(text.splitlines(), 1) if "max_quar" in ln)
    assert "max_quarantined must be a fraction of the rows read, from 0 to 1 (0.2 = 20%), got 20" in msg
    (root / "brain.yaml").write_text(text.replace("max_quarantined: 20", "max_quarantined: 0.05"))
    orders = Project.load(root).spec.sources[0].tables[1]
    assert (orders.max_quarantined, orders.name) == (0.05, "orders")
    assert Project.load(make_shop(tmp_path / "other")).spec.sources[0].tables[0].max_quarantined == 0.2


def test_warehouse_problems_name_a_mapped_column_the_raw_table_lacks(tmp_path: Path) -> None:
    from companybrain import Brain
    from companybrain.project_checks import warehouse_problems

    root = make_shop(tmp_path / "shop")
    path = root / "ontology" / "shop.yaml"
    with Brain.open(root) as brain:
        assert warehouse_problems(brain.project, brain.warehouse) == []  # nothing loaded: nothing to say
        brain.ingest()
        assert warehouse_problems(brain.project, brain.warehouse) == []
    text = path.read_text().replace("region: {type: string}", 'region: {type: string, column: "regoin"}')
    path.write_text(text)
    with Brain.open(root) as brain:
        [(location, message)] = warehouse_problems(brain.project, brain.warehouse)
    assert (location.file, location.key) == ("ontology/shop.yaml", "Customer.properties.region")
    assert location.line == next(i for i, ln in enumerate(text.splitlines(), 1) if "regoin" in ln)
    assert message.startswith(
        "Customer.region reads column 'regoin', which raw.erp__customers does not have (did you mean 'region'?)"
    )


def test_brain_check_reports_a_mapped_column_the_loaded_data_lacks(tmp_path: Path, run_cli: Any) -> None:
    from companybrain import Brain

    root = make_shop(tmp_path / "shop")
    code, out, _ = run_cli("-p", str(root), "check", "--format", "json")
    assert code == 0 and json.loads(out)["ok"]
    assert not (root / ".brain" / "warehouse.duckdb").exists()  # check never creates the warehouse
    with Brain.open(root) as brain:
        brain.ingest()
    path = root / "ontology" / "shop.yaml"
    path.write_text(path.read_text().replace("region: {type: string}", 'region: {type: string, column: "regoin"}'))
    code, out, _ = run_cli("-p", str(root), "check", "--format", "json")
    report = json.loads(out)
    assert code == 1 and not report["ok"]
    [problem] = report["problems"]
    assert problem["file"] == "ontology/shop.yaml" and "regoin" in problem["message"]


@pytest.mark.slow
def test_brain_check_refuses_a_shared_channel_for_an_audience_that_reads_unalike(small_demo: Any, run_cli: Any) -> None:
    root = small_demo("check-alerts")
    path = root / "alerts" / "operations.yaml"
    text = path.read_text()
    assert '"json://127.0.0.1:8099/alerts/{user}"' in text
    path.write_text(text.replace('"json://127.0.0.1:8099/alerts/{user}"', '"json://127.0.0.1:8099/alerts"', 1))
    code, out, _ = run_cli("-p", str(root), "check", "--format", "json")
    report = json.loads(out)
    problems = [p for p in report["problems"] if p["file"] == "alerts/operations.yaml"]
    assert code == 1 and any("{user}" in p["message"] for p in problems)

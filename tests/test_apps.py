"""Apps declared in apps/*.yaml: the demo's five validate, `brain check` points at the file and line of a
wrong or hostile name in an app, the JSON Schema describes the file, and `brain app new` scaffolds one
from a use case that validates (and refuses what it must)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from companybrain.project import Project

DEMO_APPS = {"maintenance_worklist", "talent_early_warning", "sales_list", "quality_watch", "demand_planner"}


@pytest.fixture(scope="module")
def demo_root(small_demo: Callable[[str], Path]) -> Path:
    return small_demo("apps-spec")


def test_the_demo_ships_five_apps_on_its_five_use_cases(demo_root: Path) -> None:
    project = Project.load(demo_root)
    assert set(project.apps) == DEMO_APPS
    five = {"machine_failure_risk", "attrition_risk", "lead_scoring", "quality_anomaly", "demand_forecast"}
    assert {app.usecase for app in project.apps.values()} == five
    for app in project.apps.values():
        for action in app.actions:  # every action a row offers is an action type with approval
            assert project.actions[action.type].approval.rules


@pytest.mark.parametrize(
    ("edit", "where", "said"),
    [
        (
            ("rank: {property: failure_risk_7d}", "rank: {property: failure_risk}"),
            ":8",
            "did you mean 'failure_risk_7d'",
        ),
        (("{property: failure_risk_7d}", "{metric: win_rate}"), ":8", "win_rate cannot be read per Machine"),
        (("{property: failure_risk_7d}", "{property: failure_risk_7d, metric: vibration}"), ":8", "one of them"),
        (("machine_type, manufacturer", "machine_type; DROP TABLE x, manufacturer"), ":9", "columns"),
        (("usecase: machine_failure_risk", "usecase: lead_scoring"), ":7", "predicts Opportunity, not Machine"),
        (("type: schedule_maintenance,", "type: drop_everything,"), ":12", "unknown action type 'drop_everything'"),
        (("{machine_id: machine_id}", "{machine: machine_id}"), ":12", "has no parameter 'machine'"),
        (("{metric: machine_failures", "{metric: machine_failure"), ":14", "unknown metric 'machine_failure'"),
        (("roles: [plant_manager,", "roles: [plant_manger,"), ":15", "unknown role 'plant_manger'"),
        (("limit: 50", "limit: 50\ncolour: red"), ":17", "unknown key 'colour'"),
    ],
)
def test_check_names_the_file_and_line_of_a_wrong_app(
    demo_root: Path,
    tmp_path: Path,
    run_cli: Callable[..., tuple[int, str, str]],
    edit: tuple[str, str],
    where: str,
    said: str,
) -> None:
    import shutil

    root = tmp_path / "acme"
    shutil.copytree(demo_root, root, ignore=shutil.ignore_patterns(".brain", "sources"))
    path = root / "apps" / "maintenance_worklist.yaml"
    text = path.read_text()
    assert edit[0] in text
    path.write_text(text.replace(edit[0], edit[1]))
    code, out, err = run_cli("-p", str(root), "check")
    said_all = " ".join((out + err).split())
    assert code == 1
    assert f"apps/maintenance_worklist.yaml{where}" in said_all
    assert said in said_all


def test_a_hostile_filter_in_an_app_is_refused_by_check(
    demo_root: Path, tmp_path: Path, run_cli: Callable[..., tuple[int, str, str]]
) -> None:
    import shutil

    root = tmp_path / "acme"
    shutil.copytree(demo_root, root, ignore=shutil.ignore_patterns(".brain", "sources"))
    path = root / "apps" / "talent_early_warning.yaml"
    path.write_text(
        path.read_text().replace("filter: \"status = 'active'\"", 'filter: "1 = 1; DROP TABLE raw.hris__employees"')
    )
    code, out, err = run_cli("-p", str(root), "check")
    assert code == 1
    said = " ".join((out + err).split())
    assert "apps/talent_early_warning.yaml:" in said and "not one condition" in said


def test_the_json_schema_of_an_app(run_cli: Callable[..., tuple[int, str, str]]) -> None:
    code, out, _ = run_cli("schema", "app")
    assert code == 0
    schema = json.loads(out)
    assert schema["title"] == "Company Brain apps/*.yaml"
    assert {"name", "object", "rank", "columns"} <= set(schema["required"])
    assert schema["additionalProperties"] is False


def test_app_new_scaffolds_an_app_that_validates(
    demo_root: Path, tmp_path: Path, run_cli: Callable[..., tuple[int, str, str]]
) -> None:
    import shutil

    root = tmp_path / "acme"
    shutil.copytree(demo_root, root, ignore=shutil.ignore_patterns(".brain", "sources"))
    code, _, err = run_cli("-p", str(root), "app", "new", "failure_watch", "--from-usecase", "machine_failure_risk")
    assert code == 0, err
    app = Project.load(root).apps["failure_watch"]
    assert (app.object, app.usecase, app.rank.property) == ("Machine", "machine_failure_risk", "failure_risk_7d")
    assert app.columns[0] == "machine_id" and "schedule_maintenance" in {a.type for a in app.actions}
    code, _, _ = run_cli("-p", str(root), "app", "new", "demand_view", "--from-usecase", "demand_forecast")
    forecast = Project.load(root).apps["demand_view"]
    assert code == 0 and forecast.object == "DemandForecast" and forecast.charts[0].forecast == "demand_forecast"
    for args, said in [
        (("failure_watch", "--from-usecase", "machine_failure_risk"), "exists already"),
        (("x", "--from-usecase", "machine_failure"), "did you mean 'machine_failure_risk'"),
        (("../../etc/passwd", "--from-usecase", "lead_scoring"), "must be snake_case"),
    ]:
        code, _, err = run_cli("-p", str(root), "app", "new", *args)
        assert code == 1 and said in " ".join(err.split())
    assert not list((root / "apps").glob("x.yaml")) and not (tmp_path / "etc").exists()


DEFECT_WATCH = """
name: defect_watch
object: Line
rank: {metric: defect_rate, period: last_year}
columns: [line_id, site_id, name]
filters: [site_id]
"""


def test_an_app_ranked_by_a_metric_reads_it_per_object_as_the_viewer(small_demo: Callable[[str], Path]) -> None:
    from companybrain.apps import worklist as wl
    from companybrain.brain import Brain
    from companybrain.semantic.query import MetricQuery

    root = small_demo("apps-metric")
    (root / "apps" / "defect_watch.yaml").write_text(DEFECT_WATCH.lstrip())
    with Brain.open(root) as brain:
        app = brain.project.apps["defect_watch"]
        for user in ("ceo", "mke_plant_manager"):
            principal = brain.principal(user)
            found = wl.worklist(brain, app, principal, wl.parse_asked(brain.project, app, principal))
            query = MetricQuery(("defect_rate",), by=("Line.line_id",), period="last_year")
            expected = {r["Line.line_id"]: r["defect_rate"] for r in brain.query(query, principal).records()}
            ranked = [(r["key"], r["values"]["defect_rate"]) for r in found["rows"]]
            assert ranked and all(expected.get(key) == value for key, value in ranked)
            rates = [value for _, value in ranked if value is not None]
            assert rates and rates == sorted(rates, reverse=True)
            assert found["columns"][-1] == "defect_rate" and found["sort"] == "-defect_rate"
        assert {r["values"]["site_id"] for r in found["rows"]} == {"MKE"}  # the plant manager's own lines
        said = wl.refusal(brain, app, brain.principal("emea_rep"))  # reads lines, not their defect rate
        assert said is not None and "defect_rate" in said


def test_app_show_reads_as_the_user_and_refuses_hostile_arguments(
    demo_root: Path, run_cli: Callable[..., tuple[int, str, str]]
) -> None:
    code, out, err = run_cli("-p", str(demo_root), "app", "show", "maintenance_worklist", "--as", "mke_plant_manager",
                             "--filter", "line_id=MKE-L1", "--format", "json")  # fmt: skip
    assert code == 0, err
    shown = json.loads(out)
    assert shown["rows"] and {r["values"]["line_id"] for r in shown["rows"]} == {"MKE-L1"}
    for args, said in [
        (("maintenance_worklist", "--sort", "x; DROP TABLE raw.erp__orders"), "cannot be sorted by"),
        (("maintenance_worklist", "--filter", "site_id"), "--filter takes column=value"),
        (("maintenance_worklist", "--filter", "manufacturer=ABB"), "filter by one of site_id"),
        (("maintenance_worklist", "--limit", "100000"), "limit must be from 1 to 50"),
        (("../../etc/passwd",), "no app '../../etc/passwd'"),
        (("maintenance_worklist", "--as", "emea_hrbp"), "may not open app 'maintenance_worklist'"),
    ]:
        code, _, err = run_cli("-p", str(demo_root), "app", "show", *args)
        assert code == 1 and said in " ".join(err.split()), (args, err)

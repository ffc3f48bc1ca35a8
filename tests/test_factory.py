"""The AI factory on the small demo: point-in-time features, baselines beaten on the planted signals,
promotion rules, predictions written back with their version, and failures that stay contained."""

from __future__ import annotations

import json
import shutil
from datetime import date, timedelta
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from companybrain import Brain, factory
from companybrain.errors import ConfigError
from companybrain.factory.line import split
from companybrain.factory.registry import Registry
from companybrain.factory.training import AS_OF, KEY, training_set

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def trained(small_demo) -> Path:
    """The small demo with every use case trained once and scored."""
    root = small_demo("factory")
    with Brain.open(root) as brain:
        results = factory.train(brain)
        assert all(r["status"] == "ok" for r in results), results
        scored = factory.score(brain)
        assert [r["status"] for r in scored if r["status"] != "ok"] == [] or all(
            "no champion" in r.get("error", "") for r in scored if r["status"] != "ok"
        ), scored
    return root


def _copy(root: Path, tmp_path: Path) -> Path:
    target = tmp_path / "acme"
    shutil.copytree(root, target)
    return target


def test_features_never_see_data_after_their_as_of_time(small_demo) -> None:
    root = small_demo("pit")
    cutoff, hr_cutoff = pd.Timestamp("2025-10-01"), pd.Timestamp("2025-03-01")
    with Brain.open(root) as brain:
        uc = brain.project.usecases["machine_failure_risk"]
        before = training_set(brain, uc, brain.principal(uc.run_as)).frame
        people = brain.project.usecases["attrition_risk"]
        before_people = training_set(brain, people, brain.principal(people.run_as)).frame
    # rewrite history after the cutoff: readings and overtime ten times larger, every failure gone
    db = duckdb.connect(str(root / ".brain" / "warehouse.duckdb"))
    db.execute("UPDATE raw.telemetry__sensor_readings SET vibration = vibration * 10 WHERE ts >= ?", [cutoff])
    db.execute(
        "UPDATE raw.hris__overtime_monthly SET overtime_hours = overtime_hours * 10 WHERE month >= ?", [hr_cutoff]
    )
    db.execute("UPDATE raw.telemetry__downtime_events SET cause = 'planned' WHERE started_at >= ?", [cutoff])
    db.close()
    with Brain.open(root) as brain:
        brain.build(full=True)
        after = training_set(brain, uc, brain.principal(uc.run_as)).frame
        after_people = training_set(brain, people, brain.principal(people.run_as)).frame
    for old, new, features, cutoff_at in (
        (before, after, list(uc.features), cutoff),
        (before_people, after_people, list(people.features), hr_cutoff),
    ):
        keep_old = old[old[AS_OF] <= cutoff_at].set_index([KEY, AS_OF]).sort_index()
        keep_new = new[new[AS_OF] <= cutoff_at].set_index([KEY, AS_OF]).sort_index()
        assert len(keep_old) > 1000 and keep_old.index.equals(keep_new.index)
        pd.testing.assert_frame_equal(keep_old[features], keep_new[features])
        # and the change is visible to snapshots after the cutoff: the test can fail
        late_old = old[old[AS_OF] > cutoff_at + pd.Timedelta(days=40)].set_index([KEY, AS_OF]).sort_index()
        late_new = new[new[AS_OF] > cutoff_at + pd.Timedelta(days=40)].set_index([KEY, AS_OF]).sort_index()
        assert not late_old[features].equals(late_new.loc[late_old.index, features])
    # labels look ahead: a snapshot whose whole horizon lies after the cutoff lost its failures
    ahead = before[(before[AS_OF] >= cutoff) & (before[AS_OF] < cutoff + pd.Timedelta(days=20))]
    assert ahead["_label"].sum() > 0
    assert after.set_index([KEY, AS_OF]).loc[ahead.set_index([KEY, AS_OF]).index, "_label"].sum() == 0


def test_the_planted_signals_are_found_and_the_baselines_beaten(trained: Path) -> None:
    with Brain.open(trained) as brain:
        registry = Registry(brain.project)
        forecast = registry.get("demand_forecast").metrics
        assert forecast["model_smape"] < forecast["baseline_smape"]
        failure = registry.versions("machine_failure_risk")[0].metrics
        # precursors of rising vibration and temperature: far better than chance, and than the baseline
        assert failure["model_roc_auc"] > 0.75
        assert failure["model_average_precision"] > failure["baseline_average_precision"]
        assert failure["model_average_precision"] > 5 * failure["model_base_rate"]
        # the defect drift planted on one line: the anomaly model ranks that line's recent weeks first
        uc = brain.project.usecases["quality_anomaly"]
        data = training_set(brain, uc, brain.principal(uc.run_as))
        _, test = split(uc, data.frame)
        drift = json.loads((trained / "ground_truth" / "quality_drift.json").read_text())
        truth = (test[KEY] == drift["line_id"]) & (
            test[AS_OF] >= pd.Timestamp(drift["start_date"]) + pd.Timedelta(days=30)
        )
        champion = factory.line.load_model(registry, registry.get("quality_anomaly"))
        model_auc = roc_auc_score(truth, champion.predict(test))
        base = factory.tabular.TabularModel("robust_zscore", "anomaly", data.features[:1], []).fit(
            data.frame[data.frame[AS_OF] <= test[AS_OF].min()], None, {}
        )
        base_auc = roc_auc_score(truth, base.predict(test))
        assert model_auc > 0.95 and model_auc > base_auc
        lines = brain.objects("Line", where="quality_anomaly IS NOT NULL", limit=None, user="data_steward")
        top = max(lines, key=lambda r: r["quality_anomaly"])
        assert top["line_id"] == drift["line_id"]


def test_predictions_are_written_back_with_version_and_reasons(trained: Path) -> None:
    with Brain.open(trained) as brain:
        machines = brain.objects("Machine", limit=None, user="data_steward")
        scored = [m for m in machines if m["failure_risk_7d"] is not None]
        assert len(scored) == len(machines)
        assert {m["failure_risk_7d_version"] for m in scored} == {"machine_failure_risk@v1"}
        top = max(scored, key=lambda m: m["failure_risk_7d"])
        assert "vibration" in top["failure_risk_7d_reasons"] or "temperature" in top["failure_risk_7d_reasons"]
        # the scores are read through the policies like any property: HR-tagged, EMEA for the EMEA partner
        emea = brain.objects("Employee", where="attrition_risk IS NOT NULL", limit=None, user="emea_hrbp")
        assert emea and {e["region"] for e in emea} == {"EMEA"}
        assert all(isinstance(e["attrition_risk"], float) for e in emea)
        ceo = brain.objects("Employee", where="status = 'active'", limit=5, user="ceo")
        assert all(e["attrition_risk"] == "***" for e in ceo)
        # a rebuild keeps the scores: they come from the factory's table, joined on the key
        brain.build(full=True)
        again = brain.objects("Machine", limit=None, user="data_steward")
        assert {m["machine_id"]: m["failure_risk_7d"] for m in again} == {
            m["machine_id"]: m["failure_risk_7d"] for m in machines
        }
        forecasts = brain.read("DemandForecast", user="data_steward")
        assert forecasts.num_rows > 0 and set(forecasts.column("model_version").to_pylist()) == {"demand_forecast@v1"}
        assert all(
            lo <= f <= hi
            for lo, f, hi in zip(
                forecasts.column("lower_80").to_pylist(),
                forecasts.column("forecast").to_pylist(),
                forecasts.column("upper_80").to_pylist(),
                strict=True,
            )
        )


def test_a_version_that_does_not_beat_the_champion_stays_challenger(trained: Path, tmp_path: Path) -> None:
    root = _copy(trained, tmp_path)
    with Brain.open(root) as brain:
        again = factory.train(brain, ["demand_forecast"])[0]
    assert again["version"] == 2 and again["promotion"] == "challenger"
    assert "does not beat champion v1" in again["promotion_reason"]
    # the rule is configurable: asked to beat only the baseline, the same result is promoted
    path = root / "usecases" / "demand_forecast.yaml"
    path.write_text(path.read_text() + "promotion: {must_beat: [baseline]}\n")
    with Brain.open(root) as brain:
        third = factory.train(brain, ["demand_forecast"])[0]
        versions = {v.version: v.status for v in Registry(brain.project).versions("demand_forecast")}
    assert third["promotion"] == "champion"
    assert versions == {3: "champion", 2: "challenger", 1: "retired"}


def test_a_use_case_with_missing_data_fails_alone(trained: Path, tmp_path: Path, run_cli) -> None:
    root = _copy(trained, tmp_path)
    (root / "usecases" / "future_demand.yaml").write_text(
        "name: future_demand\nowner: x@example.com\ntask: forecast\n"
        "series: {metric: units_sold, by: [family], grain: week, start: 2031-01-06}\n"
        "horizon: 4\noutput: {object: FutureDemand}\n"
    )
    code, out, _ = run_cli("-p", str(root), "factory", "train", "future_demand", "quality_anomaly", "--format", "json")
    assert code == 1
    report = {r["usecase"]: r for r in json.loads(out)}
    assert report["quality_anomaly"]["status"] == "ok"
    assert report["future_demand"]["status"] == "failed"
    assert "future_demand" in report["future_demand"]["error"]


def test_a_malformed_use_case_is_rejected_with_file_and_line(trained: Path, tmp_path: Path) -> None:
    root = _copy(trained, tmp_path)
    (root / "usecases" / "bad.yaml").write_text(
        "name: bad\nowner: x@example.com\ntask: classify\nentity: Machine\n"
        "target: {metric: machine_failures, horizon_days: 7}\n"
        "features:\n  vib: {metric: vibrations, window: 3}\n"
        "output: {property: bad_risk}\n"
    )
    with pytest.raises(ConfigError) as err:
        Brain.open(root)
    assert "usecases/bad.yaml:7" in str(err.value) and "did you mean 'vibration'" in str(err.value)
    (root / "usecases" / "bad.yaml").write_text("name: bad\nowner: x\ntask: clasify\n")
    with pytest.raises(ConfigError) as err:
        Brain.open(root)
    assert "usecases/bad.yaml:3" in str(err.value)


def test_show_reports_backtest_lineage_and_drift(trained: Path, run_cli) -> None:
    code, out, err = run_cli("-p", str(trained), "factory", "show", "machine_failure_risk", "--format", "json")
    assert code == 0, err
    report = json.loads(out)
    assert report["champion"]["version"] == 1
    assert "raw.telemetry__sensor_readings" in report["lineage"]["source_tables"]
    assert set(report["drift"]) == set(report["lineage"]["features"])
    assert all(d["status"] in ("stable", "moderate", "shifted") for d in report["drift"].values())
    listing = json.loads(run_cli("-p", str(trained), "factory", "list", "--format", "json")[1])
    assert {r["usecase"] for r in listing} == {
        "attrition_risk",
        "demand_forecast",
        "lead_scoring",
        "machine_failure_risk",
        "quality_anomaly",
        "supplier_delay_risk",
    }
    labelled = [r["champion_score"] for r in listing if r["champion"] and r["task"] != "anomaly"]
    assert labelled and np.isfinite(labelled).all()


def test_the_api_serves_use_cases_and_predictions_under_the_callers_policies(trained: Path, tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    from companybrain.delivery.app import create_app

    root = _copy(trained, tmp_path)
    with Brain.open(root) as brain, TestClient(create_app(brain=brain)) as client:
        svc = client.app.state.service  # type: ignore[attr-defined]
        token = {u: svc.tokens.create(u, ["read:objects"])[0] for u in ("emea_hrbp", "ceo", "data_steward")}
        writer = svc.tokens.create("data_steward", ["read:objects", "write:factory"])[0]

        def get(url: str, user: str) -> object:
            return client.get(url, headers={"Authorization": f"Bearer {token[user]}"})

        listing = get("/api/v1/usecases", "data_steward").json()
        assert {r["usecase"] for r in listing} >= {"machine_failure_risk", "demand_forecast"}
        detail = get("/api/v1/usecases/machine_failure_risk", "data_steward").json()
        assert detail["champion"]["version"] == 1 and "model" in detail["backtest"]
        risks = get("/api/v1/usecases/attrition_risk/predictions?limit=5", "emea_hrbp").json()["predictions"]
        assert len(risks) == 5 and {r["region"] for r in risks} == {"EMEA"}
        scores = [r["attrition_risk"] for r in risks]
        assert scores == sorted(scores, reverse=True)
        masked = get("/api/v1/usecases/attrition_risk/predictions", "ceo")
        assert masked.status_code == 403 and masked.headers["content-type"] == "application/problem+json"
        forecast = get("/api/v1/usecases/demand_forecast/predictions?limit=3", "data_steward").json()
        assert forecast["output"] == "DemandForecast" and len(forecast["predictions"]) == 3
        denied = client.post("/api/v1/usecases/score", headers={"Authorization": f"Bearer {token['data_steward']}"})
        assert denied.status_code == 403
        scored = client.post(
            "/api/v1/usecases/score?usecase=quality_anomaly", headers={"Authorization": f"Bearer {writer}"}
        ).json()["results"]
        assert [r["status"] for r in scored] == ["ok"]
        # a person's verdict and a person's promotion, as the caller, with the write scope only
        as_writer = {"Authorization": f"Bearer {writer}"}
        line = brain.objects("Line", limit=1, user="data_steward")[0]["line_id"]
        verdict = {"key": line, "verdict": "dismissed", "reason": "a planned changeover"}
        labelled = client.post("/api/v1/usecases/quality_anomaly/labels", json=verdict, headers=as_writer)
        assert labelled.status_code == 200, labelled.text
        assert labelled.json()["labelled_by"] == "data_steward" and labelled.json()["verdict"] == "dismissed"
        reader = {"Authorization": f"Bearer {token['data_steward']}"}
        assert client.post("/api/v1/usecases/quality_anomaly/labels", json=verdict, headers=reader).status_code == 403
        url = "/api/v1/usecases/machine_failure_risk/promote"
        same = client.post(url, json={"version": 1, "reason": "reviewed"}, headers=as_writer).json()
        assert same["status"] == "unchanged" and same["champion"] == 1
        assert client.post(url, json={"version": 9, "reason": "x"}, headers=as_writer).status_code == 404
        assert client.post(url, json={"version": 1, "reason": ""}, headers=as_writer).status_code == 422
        assert client.post(url, json={"version": True, "reason": "x"}, headers=as_writer).status_code == 422
        # hostile input: a key that is no object (SQL in it) is not found; a verdict off the list is refused
        labels = "/api/v1/usecases/quality_anomaly/labels"
        hostile = {**verdict, "key": "L1' OR '1'='1'; DELETE FROM factory.labels; --"}
        assert client.post(labels, json=hostile, headers=as_writer).status_code == 404
        assert client.post(labels, json={**verdict, "verdict": "maybe"}, headers=as_writer).status_code == 422


def test_build_trains_and_scores_only_what_is_due(trained: Path, tmp_path: Path, run_cli) -> None:
    root = _copy(trained, tmp_path)
    text = (root / "usecases" / "quality_anomaly.yaml").read_text()
    text = text.replace("name: quality_anomaly", "name: line_watch").replace("quality_anomaly}", "line_watch}")
    (root / "usecases" / "line_watch.yaml").write_text(text)
    code, out, err = run_cli("-p", str(root), "build", "--format", "json")
    assert code == 0, err
    due = json.loads(out)["factory"]
    # the demo's use cases were trained today; only the new one is due: trained, then scored
    assert [(r["usecase"], "backtest" in r, r["status"]) for r in due if r["status"] != "skipped"] == [
        ("line_watch", True, "ok"),
        ("line_watch", False, "ok"),
    ]
    assert due[[r["usecase"] for r in due].index("line_watch")]["reason"] == "never trained"
    # and the build says why the others wait
    skipped = {r["usecase"]: r["reason"] for r in due if r["status"] == "skipped"}
    assert set(skipped) == set(factory_names(root)) - {"line_watch"}
    assert all("schedule: next training on" in reason for reason in skipped.values()), skipped
    with Brain.open(root) as brain:
        lines = brain.objects("Line", where="line_watch IS NOT NULL", limit=None, user="data_steward")
    assert lines and all(r["line_watch_version"] == "line_watch@v1" for r in lines)


def factory_names(root: Path) -> list[str]:
    with Brain.open(root) as brain:
        return sorted(brain.project.usecases)


def test_a_schedule_come_round_trains_only_on_new_data(trained: Path, tmp_path: Path) -> None:
    """Past its schedule, a use case trains again only when data landed since its last training."""
    from companybrain.factory.schedule import due_usecases

    root = _copy(trained, tmp_path)
    later = date.today() + timedelta(days=40)
    with Brain.open(root) as brain:
        registry = Registry(brain.project)
        waiting = due_usecases(brain, registry, today=later)
        assert waiting and not any(d.due for d in waiting)
        assert all(d.reason.startswith("no data landed since") for d in waiting if "manual" not in d.reason)
        folder = root / "sources" / "service"
        ticket = json.loads((sorted(folder.glob("tickets_*.jsonl"))[-1]).read_text().splitlines()[0])
        ticket["ticket_id"] = 10_000_000
        (folder / "tickets_2026-03.jsonl").write_text(json.dumps(ticket) + "\n")
        [load] = brain.ingest(["service.tickets"])
        assert load.rows_loaded == 1
        due = due_usecases(brain, registry, today=later)
    assert {d.usecase for d in due if d.due} == {d.usecase for d in waiting if "manual" not in d.reason}
    assert all("data landed since" in d.reason for d in due if d.due)


def test_high_predictions_raise_alerts_with_their_reasons(trained: Path, tmp_path: Path) -> None:
    from companybrain.delivery.alerts import AlertEngine
    from tests.test_alerts import Receiver

    root = _copy(trained, tmp_path)
    receiver = Receiver()
    try:
        rules = (
            (root / "alerts" / "operations.yaml").read_text().replace("127.0.0.1:8099", f"127.0.0.1:{receiver.port}")
        )
        (root / "alerts" / "operations.yaml").write_text(rules)
        with Brain.open(root) as brain:
            level = brain.project.usecases["machine_failure_risk"].thresholds["high"]
            high = brain.count_objects("Machine", f"failure_risk_7d >= {level}", "data_steward")
            engine = AlertEngine(brain)
            try:
                report = engine.check(["machine_failure_risk_high"])
                again = engine.check(["machine_failure_risk_high"])
            finally:
                engine.close()
    finally:
        receiver.stop()
    assert report["errors"] == {} and high > 0
    assert len(report["fired"]) == high and {f["status"] for f in report["fired"]} == {"sent"}  # one per machine
    assert {f["status"] for f in again["fired"]} == {"deduplicated"}
    posted = receiver.at("/alerts")
    assert len(posted) == high
    assert all("failure_risk_7d" in p["title"] and "reasons: " in p["message"] for p in posted), posted


def test_streamed_telemetry_scores_a_machine_again(trained: Path, tmp_path: Path) -> None:
    from companybrain.delivery.events import EventProcessor

    root = _copy(trained, tmp_path)
    path = root / "usecases" / "machine_failure_risk.yaml"
    path.write_text(path.read_text().replace("every_seconds: 300", "every_seconds: 0"))
    with Brain.open(root) as brain:
        before = {m["machine_id"]: m for m in brain.objects("Machine", limit=None, user="data_steward")}
        machine = min(before, key=lambda k: before[k]["failure_risk_7d"])
        recent = brain.objects(
            "MachineDay",
            where=f"machine_id = '{machine}' AND day >= DATE '2026-02-01'",
            limit=None,
            user="data_steward",
        )
        vibration = float(np.mean([d["vibration"] for d in recent]))
        temperature = float(np.mean([d["temperature"] for d in recent]))
        # the day after the built data ends: a precursor of a failure, hour by hour
        events = [
            {
                "type": "telemetry",
                "machine_id": machine,
                "ts": f"2026-03-01T{h:02d}:00:00",
                "vibration": vibration * 2.5,
                "temperature": temperature + 14.0,
                "pressure": 5.0,
                "power_kw": 20.0,
            }
            for h in range(24)
        ]
        processor = EventProcessor(brain)
        try:
            summary = processor.ingest(events)
        finally:
            processor.close()
        after = {m["machine_id"]: m for m in brain.objects("Machine", limit=None, user="data_steward")}
    assert summary.rescored == {"machine_failure_risk": 1}
    assert after[machine]["failure_risk_7d"] > 3 * before[machine]["failure_risk_7d"]
    assert after[machine]["failure_risk_7d_version"] == before[machine]["failure_risk_7d_version"]
    assert (
        "vibration" in after[machine]["failure_risk_7d_reasons"]
        or "temperature" in after[machine]["failure_risk_7d_reasons"]
    )
    others = [k for k in before if k != machine]
    assert [after[k]["failure_risk_7d"] for k in others] == [before[k]["failure_risk_7d"] for k in others]


def test_live_accuracy_once_the_actuals_of_earlier_scores_arrive(trained: Path, tmp_path: Path) -> None:
    from datetime import date

    from companybrain.factory import monitor
    from companybrain.factory.line import load_model
    from companybrain.factory.training import scoring_set

    root = _copy(trained, tmp_path)
    with Brain.open(root) as brain:
        uc = brain.project.usecases["machine_failure_risk"]
        assert factory.show(brain, uc.name)["live_accuracy"]["status"] == "waiting for actuals"
        registry = Registry(brain.project)
        champion = registry.get(uc.name)
        model = load_model(registry, champion)
        # the champion's scores as they would have been logged on earlier mornings, horizon since passed
        for day in (date(2026, 2, 1), date(2026, 2, 8), date(2026, 2, 15)):
            data = scoring_set(brain, uc, brain.principal(uc.run_as), as_of=day)
            monitor.log_scores(brain, uc, champion, data.frame, model.predict(data.frame), day)
        live = factory.show(brain, uc.name)["live_accuracy"]
    assert live["status"] == "measured" and live["as_of_dates"] == ["2026-02-01", "2026-02-08", "2026-02-15"]
    assert live["scored_rows"] == live["rows"] > 0
    assert 0.5 < live["roc_auc"] <= 1.0 and 0 < live["base_rate"] < 1


def test_a_tracking_server_must_be_on_the_egress_allow_list(trained: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from companybrain.errors import PolicyDenied

    monkeypatch.setenv("BRAIN_MLFLOW_URI", "https://mlflow.example.com")
    with Brain.open(trained) as brain, pytest.raises(PolicyDenied, match=r"mlflow\.example\.com"):
        Registry(brain.project)


def test_reasons_carry_the_tags_of_the_inputs_they_quote(trained: Path, tmp_path: Path) -> None:
    from companybrain.delivery.alerts import AlertEngine

    root = _copy(trained, tmp_path)
    with Brain.open(root) as brain:
        props = brain.project.objects["Opportunity"].properties
        assert "financial" in props["win_probability_reasons"].tags  # they quote the (financial) amount
        rows = brain.objects("Opportunity", limit=3, user="data_steward")
        assert rows and all(r["win_probability_reasons"] == "***" for r in rows)  # data_team unmasks nothing
    # an alert tells its audience what it read: a sales rep may not receive people's attrition risks
    (root / "alerts" / "people.yaml").write_text(
        "alerts:\n  flight_risk:\n    type: prediction\n    usecase: attrition_risk\n    threshold: high\n"
        "    audience: {roles: [sales_rep]}\n    as_user: people_model\n"
        '    channels: ["json://127.0.0.1:8099/alerts"]\n'
    )
    with Brain.open(root) as brain, pytest.raises(ConfigError, match=r"emea_rep may not read Employee"):
        AlertEngine(brain)


def test_lineage_names_the_tables_of_features_read_through_links(trained: Path, run_cli) -> None:
    tables = {}
    for name in ("attrition_risk", "lead_scoring", "demand_forecast"):
        code, out, err = run_cli("-p", str(trained), "factory", "show", name, "--format", "json")
        assert code == 0, err
        tables[name] = json.loads(out)["lineage"]
    assert "raw.hris__pay_bands" in tables["attrition_risk"]["source_tables"]  # band.salary_midpoint
    assert "PayBand" in tables["attrition_risk"]["objects"]
    assert "raw.crm__accounts" in tables["lead_scoring"]["source_tables"]  # account.tier, region, industry
    # a forecast's dimensions are read through links too (family of the product, site)
    assert {"Product", "Site"} <= set(tables["demand_forecast"]["objects"])


def test_forecast_intervals_are_calibrated_and_their_coverage_reported(trained: Path, run_cli) -> None:
    code, out, err = run_cli("-p", str(trained), "factory", "show", "demand_forecast", "--format", "json")
    assert code == 0, err
    report = json.loads(out)
    intervals = report["intervals"]
    assert intervals["calibrated"] and len(intervals["factors_by_step"]["95"]) == 13
    assert set(intervals["backtest_coverage"]) == {"80%", "95%"}
    assert all(0 < share <= 1 for share in intervals["backtest_coverage"].values())
    from companybrain.factory.forecasting import ENSEMBLE_CANDIDATES

    # the members the version forecasts with, and those each backtest fold chose before its origin
    assert intervals["members"] and set(intervals["members"]) <= set(ENSEMBLE_CANDIDATES)
    assert len(intervals["members_per_fold"]) == report["backtest"]["folds"]
    code, out, _ = run_cli("-p", str(trained), "factory", "show", "demand_forecast")
    assert "80% interval held" in out


def test_drift_is_read_against_a_window_with_the_weekday_mix(trained: Path) -> None:
    with Brain.open(trained) as brain:
        drift = factory.show(brain, "machine_failure_risk")["drift"]
    # "today" (2026-03-01) is a Sunday, and the readings of weekends are lower: nothing has drifted
    assert {d["status"] for d in drift.values()} == {"stable"}, drift


def test_quarter_and_year_grains_pass_check_and_train(trained: Path, tmp_path: Path, run_cli) -> None:
    root = _copy(trained, tmp_path)
    for grain, horizon in (("quarter", 2), ("year", 1)):
        (root / "usecases" / f"demand_by_{grain}.yaml").write_text(
            f"name: demand_by_{grain}\nowner: x@example.com\ntask: forecast\nrun_as: data_steward\n"
            f"series: {{metric: units_sold, by: [family], grain: {grain}}}\n"
            f"horizon: {horizon}\nbacktest: {{folds: 1, windows: 1}}\n"
            f"output: {{object: DemandBy{grain.title()}}}\n"
        )
    code, _, err = run_cli("-p", str(root), "check")
    assert code == 0, err
    code, out, err = run_cli(
        "-p", str(root), "factory", "train", "demand_by_quarter", "demand_by_year", "--format", "json"
    )
    assert code == 0, err + out
    with Brain.open(root) as brain:
        from companybrain.factory.forecast_line import history

        quarters = history(brain, brain.project.usecases["demand_by_quarter"], "data_steward")
        years = history(brain, brain.project.usecases["demand_by_year"], "data_steward")
    # no series.start: all the history there is, in whole periods up to today (2026-03-01)
    assert quarters["ds"].min() == pd.Timestamp("2023-01-01") and quarters["ds"].max() == pd.Timestamp("2025-10-01")
    assert years["ds"].min() == pd.Timestamp("2023-01-01") and years["ds"].max() == pd.Timestamp("2025-01-01")


def test_unknown_params_are_refused_with_file_and_line(trained: Path, tmp_path: Path) -> None:
    root = _copy(trained, tmp_path)
    path = root / "usecases" / "lead_scoring.yaml"
    path.write_text(path.read_text().replace("min_child_samples: 200", "min_child_sample: 200"))
    (root / "usecases" / "forest.yaml").write_text(
        "name: forest\nowner: x@example.com\ntask: classify\nentity: Machine\nrun_as: data_steward\n"
        "target: {metric: machine_failures, horizon_days: 7}\n"
        "features:\n  vib: {metric: vibration, window: 3}\n"
        "model: random_forest\nparams:\n  n_estimators: 5\n  max_dept: 3\n"
        "output: {property: forest_risk}\n"
    )
    with pytest.raises(ConfigError) as err:
        Brain.open(root)
    message = str(err.value)
    assert "usecases/forest.yaml:12" in message and "did you mean 'max_depth'" in message
    line = next(i for i, t in enumerate(path.read_text().splitlines(), 1) if "min_child_sample:" in t)
    assert f"usecases/lead_scoring.yaml:{line}" in message and "did you mean 'min_child_samples'" in message


def test_anomaly_labels_decide_promotion_and_a_person_can_promote(trained: Path, tmp_path: Path, run_cli) -> None:
    from sqlglot import exp

    from companybrain.governance.audit import AUDIT

    root = _copy(trained, tmp_path)
    drift = json.loads((root / "ground_truth" / "quality_drift.json").read_text())
    with Brain.open(root) as brain:
        lines = brain.objects("Line", limit=None, user="data_steward")
    calm = sorted((r for r in lines if r["line_id"] != drift["line_id"]), key=lambda r: -r["quality_anomaly"])[:3]
    code, out, err = run_cli(
        "-p", str(root), "factory", "label", "quality_anomaly", drift["line_id"], "--confirmed",
        "--reason", "defect rate up since June", "--as", "data_steward", "--format", "json",
    )  # fmt: skip
    assert code == 0, err
    assert json.loads(out)["as_of"] == "2026-03-01" and json.loads(out)["labelled_by"] == "data_steward"
    for row in calm:
        code, _, err = run_cli("-p", str(root), "factory", "label", "quality_anomaly", row["line_id"], "--dismissed")
        assert code == 0, err
    with Brain.open(root) as brain:
        again = factory.train(brain, ["quality_anomaly"])[0]
    backtest = again["backtest"]
    assert backtest["labels"] == {"labelled_rows": 4, "confirmed": 1}
    assert backtest["model"]["roc_auc"] == 1.0 and "roc_auc" in backtest["baseline"]
    # the champion is scored again on the same labelled rows, and the rule compares them
    assert backtest["champion_labelled"]["version"] == 1
    assert again["promotion"] == "challenger" and "does not beat" in again["promotion_reason"]
    # a person decides instead, with a reason, audited
    code, out, err = run_cli(
        "-p", str(root), "factory", "promote", "quality_anomaly", "2", "--reason", "reviewed the new features",
        "--as", "data_steward", "--format", "json",
    )  # fmt: skip
    assert code == 0, err
    assert json.loads(out)["champion"] == 2 and json.loads(out)["previous"] == 1
    code, _, err = run_cli("-p", str(root), "factory", "promote", "quality_anomaly", "1", "--reason", " ")
    assert code == 1 and "needs a reason" in err
    with Brain.open(root) as brain:
        versions = {v.version: v for v in Registry(brain.project).versions("quality_anomaly")}
        audit = brain.warehouse.query_arrow(
            exp.select("action", "user_name", "request").from_(AUDIT.copy())
        ).to_pylist()
    assert versions[2].status == "champion" and versions[1].status == "retired"
    assert versions[2].promoted_by == "data_steward" and versions[2].promotion_reason == "reviewed the new features"
    promoted = [r for r in audit if r["action"] == "factory.promote"]
    assert promoted and promoted[-1]["user_name"] == "data_steward" and "reviewed" in promoted[-1]["request"]
    assert sum(r["action"] == "factory.label" for r in audit) == 4


def test_the_copilot_reads_what_the_factory_forecast(trained: Path) -> None:
    """'what demand do we expect ... next week, plant by plant': the forecast use case's rows of that week, as
    the user may read them, summed by plant; a week past the horizon is said; the future of an actual is refused."""
    from companybrain.copilot import Copilot, parse_plan

    brain = Brain.open(trained)
    copilot = Copilot(brain)
    family = brain.objects("DemandForecast", limit=1, user="data_steward")[0]["family"]
    answer = copilot.ask(f"What demand do we expect for {family} next week, plant by plant?", "data_steward")
    plan = answer.plan.model_dump()
    assert plan["kind"] == "forecast" and plan["by"] == ["site"] and plan["where"] == {"family": [family]}, answer.text
    rows = brain.objects("DemandForecast", f"family = '{family}' AND period = DATE '2026-03-02'", None, "data_steward")
    expected = {}
    for row in rows:
        expected[row["site"]] = expected.get(row["site"], 0.0) + row["forecast"]
    got = {site: value for site, value in answer.extra["table"]["rows"]}
    assert got.keys() == expected.keys() and all(got[s] == pytest.approx(expected[s]) for s in got)
    far = copilot.ask(f"demand forecast for {family} for the week of 2030-01-07", "data_steward")
    assert far.extra["table"]["rows"] == [] and "reaches the week of" in far.text
    assert copilot.ask("forecast demand for gearboxes", "data_steward").kind == "clarify"
    assert copilot.ask("what will revenue be next quarter", "ceo").kind == "refuse"
    from pydantic import ValidationError

    with pytest.raises(ValidationError):  # a plan from a model or a file: names, never SQL
        parse_plan({"kind": "forecast", "usecase": "demand_forecast", "where": {"family = 'x' OR 1=1 --": ["a"]},
                    "weeks": ["2026-03-02", "2026-03-02"]})  # fmt: skip
    brain.close()

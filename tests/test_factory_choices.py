"""The factory's choices on synthetic data, without a project: params reach the model and unknown ones are
named, choices (family, search, calibration) are made on the training rows only, reasons are named only
where they matter, and drift compares like with like."""

from __future__ import annotations

import inspect
from typing import Any

import numpy as np
import pandas as pd
import pytest

from companybrain.factory import monitor, params, selection
from companybrain.factory.tabular import TabularModel, classification_metrics
from companybrain.factory.training import AS_OF, KEY, LABEL, TrainingSet
from companybrain.specs.usecases import UseCase

FEATURES = ["driver", "weak", "noise_a", "noise_b"]


def frame(n: int = 3000, seed: int = 0) -> pd.DataFrame:
    """Daily snapshots of entities: `driver` moves the odds a lot, `weak` a little, the noise not at all."""
    rng = np.random.default_rng(seed)
    out = pd.DataFrame(
        {
            KEY: [f"e{i % 300}" for i in range(n)],
            AS_OF: pd.Timestamp("2025-01-01") + pd.to_timedelta(np.arange(n) // 10, unit="D"),
            "driver": rng.normal(0, 1, n),
            "weak": rng.normal(0, 1, n),
            "noise_a": rng.normal(0, 1, n),
            "noise_b": rng.normal(0, 1, n),
        }
    )
    logit = -1.5 + 1.6 * out["driver"] + 0.3 * out["weak"]
    out[LABEL] = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(float)
    return out


def usecase(**changes: Any) -> UseCase:
    spec: dict[str, Any] = {
        "name": "churn",
        "owner": "x@example.com",
        "task": "classify",
        "entity": "Customer",
        "target": {"event": "churned_at", "horizon_days": 7},
        "features": {name: {"property": name} for name in FEATURES},
        "output": {"property": "churn_risk"},
        "backtest": {"holdout_days": 60},
    }
    return UseCase.model_validate(spec | changes)


def data(rows: pd.DataFrame) -> TrainingSet:
    return TrainingSet(rows, list(FEATURES), [])


# --- parameters ----------------------------------------------------------------------------------


def test_the_parameter_tables_are_the_libraries_own() -> None:
    import lightgbm as lgb
    from lightgbm.basic import _ConfigAliases
    from sklearn.ensemble import IsolationForest, RandomForestClassifier, RandomForestRegressor
    from sklearn.linear_model import LogisticRegression, Ridge

    from companybrain.factory.forecast_models import model_class

    def names(cls: Any) -> set[str]:
        return set(inspect.signature(cls).parameters) - {"self", "kwargs"}

    aliases = _ConfigAliases._get_all_param_aliases()
    core = set(aliases) | {a for group in aliases.values() for a in group}
    assert names(lgb.LGBMModel.__init__) | core == params.LIGHTGBM
    assert names(LogisticRegression) == params.LOGISTIC_REGRESSION
    assert names(Ridge) == params.RIDGE
    assert names(RandomForestClassifier) == params.RANDOM_FOREST_CLASSIFIER
    assert names(RandomForestRegressor) == params.RANDOM_FOREST_REGRESSOR
    assert names(IsolationForest) == params.ISOLATION_FOREST
    for name in params.FORECAST:  # the class each name runs, as the forecaster looks it up
        assert params.FORECAST[name] == names(model_class(name)) - params.FORECAST_RESERVED, name


def test_unknown_parameters_are_named_with_a_did_you_mean() -> None:
    found = params.unknown("classify", "random_forest", {"n_estimator": 5, "max_depth": 3})
    assert found == [
        ("n_estimator", "unknown parameter 'n_estimator' for model 'random_forest': did you mean 'n_estimators'?")
    ]
    assert params.unknown("classify", "logistic_regression", {"C": 0.1, "class_weight": "balanced"}) == []
    assert params.unknown("anomaly", "robust_zscore", {"k": 1})[0][1].endswith("it takes no parameters")
    # an ensemble takes what either member takes, and hands each member its own
    assert params.unknown("classify", "ensemble", {"num_leaves": 7, "C": 0.5}) == []
    assert params.for_family("classify", "logistic_regression", {"num_leaves": 7, "C": 0.5}) == {"C": 0.5}


def test_every_family_fits_with_the_params_it_is_given() -> None:
    rows = frame(1500)
    label = rows[LABEL].to_numpy()
    forest = TabularModel("random_forest", "classify", FEATURES, []).fit(rows, label, {"n_estimators": 5})
    assert len(forest.estimator.named_steps["model"].estimators_) == 5
    logistic = TabularModel("logistic_regression", "classify", FEATURES, []).fit(
        rows, label, {"C": 0.01, "class_weight": "balanced"}
    )
    fitted = logistic.estimator.named_steps["model"]
    assert fitted.C == 0.01 and fitted.class_weight == "balanced"
    both = TabularModel("ensemble", "classify", FEATURES, []).fit(rows, label, {"n_estimators": 7, "C": 0.5})
    assert both.estimator[0].estimator.n_estimators == 7 and both.estimator[1].estimator.named_steps["model"].C == 0.5


# --- choices on the training window ---------------------------------------------------------------


def test_choices_are_made_on_the_training_rows_only() -> None:
    rows = frame(2000)
    uc = usecase(model="auto", search={"trials": 2, "space": {"n_estimators": [20, 60], "C": [0.1, 1.0]}})
    uc = uc.model_copy(update={"calibration": "sigmoid"})
    model, chosen = selection.fit(uc, data(rows), rows)
    assert chosen["family"] in ("lightgbm", "logistic_regression", "ensemble")
    assert chosen["trials"] == 6 and chosen["inner"]["kind"] == "time"
    assert model.calibrator is not None and model.calibrator[0] == "sigmoid"
    # the inner split judges the last quarter of the window with a model of rows whose target closed before it
    ((fit_rows, judged),) = selection.inner_splits(uc, rows)
    start = rows[AS_OF].max() - (rows[AS_OF].max() - rows[AS_OF].min()) * selection.INNER_SHARE
    assert (rows[AS_OF].iloc[judged] > start).all()
    assert (rows[AS_OF].iloc[fit_rows] + pd.Timedelta(days=7) <= start).all()
    # the backtest chooses inside its training rows: scrambling the test rows' labels changes no choice
    from companybrain.factory.line import holdout, split

    _, test = split(uc, rows)
    scrambled = rows.assign(**{LABEL: np.where(rows[AS_OF] >= test[AS_OF].min(), 1 - rows[LABEL], rows[LABEL])})
    assert holdout(uc, data(rows))["chosen"] == holdout(uc, data(scrambled))["chosen"]


def test_calibration_undoes_what_class_weights_do_to_probabilities() -> None:
    rows, test = frame(4000, seed=2), frame(3000, seed=3)
    weighted = usecase(model="lightgbm", params={"class_weight": "balanced"})
    calibrated = usecase(model="lightgbm", params={"class_weight": "balanced"}, calibration="isotonic")
    raw_model, _ = selection.fit(weighted, data(rows), rows)
    cal_model, _ = selection.fit(calibrated, data(rows), rows)
    label = test[LABEL].to_numpy()
    raw, cal = (
        classification_metrics(label, raw_model.predict(test)),
        classification_metrics(label, cal_model.predict(test)),
    )
    assert cal["brier"] < raw["brier"] - 0.01  # balanced weights inflate the probabilities; calibration maps them back
    assert abs(cal["roc_auc"] - raw["roc_auc"]) < 0.02


def test_search_keeps_the_declared_params_as_its_first_trial_and_fixes_what_is_given() -> None:
    uc = usecase(
        model="lightgbm", params={"num_leaves": 5}, search={"trials": 5, "space": {"learning_rate": [0.01, 0.3]}}
    )
    trials = selection._trials(uc)
    assert trials[0].params == {"num_leaves": 5}
    assert all(t.params["num_leaves"] == 5 and 0.01 <= t.params["learning_rate"] <= 0.3 for t in trials[1:])
    assert len({t.params["learning_rate"] for t in trials[1:]}) == 4


def test_repeated_and_grouped_folds_keep_a_group_in_one_fold() -> None:
    rows = frame(1200).assign(_group=lambda f: f[KEY].str[:3])
    uc = usecase(
        target={"outcome": "churned", "labelled": "churned IS NOT NULL"},
        backtest={"method": "cross_validation", "folds": 4, "repeats": 2, "group_by": "region"},
    )
    for repeat in range(2):
        splitter, groups = selection.folds(uc, 4, repeat, rows)
        for train, test in splitter.split(rows, rows[LABEL], groups):
            assert not set(groups[train]) & set(groups[test])


# --- reasons and drift ----------------------------------------------------------------------------


def test_reasons_name_only_material_contributions_and_say_how_much() -> None:
    rows = frame(6000, seed=4)
    model = TabularModel("lightgbm", "classify", FEATURES, []).fit(rows, rows[LABEL].to_numpy(), {})
    top = rows.iloc[np.argsort(-model.predict(rows))[:500]]
    named = [part.split("=")[0] for text in model.reasons(top) for part in text.split("; ") if part]
    assert named.count("driver") > 400
    assert named.count("noise_a") + named.count("noise_b") < 0.1 * named.count("driver")
    assert all(text.endswith("pts)") for text in model.reasons(top.iloc[:20]) if text)


def test_drift_compares_a_window_with_the_weekday_mix_of_the_training_rows() -> None:
    rng = np.random.default_rng(5)
    days = pd.date_range("2025-01-01", periods=365, freq="D")
    rows = pd.DataFrame({AS_OF: np.repeat(days, 50)})
    weekend = rows[AS_OF].dt.dayofweek >= 5
    rows["load"] = np.where(weekend, 0.3, 1.0) + rng.normal(0, 0.05, len(rows))  # stationary, lower on weekends
    profile = monitor.profile(rows, ["load"], [], every_days=1)
    sunday = rows[rows[AS_OF] == pd.Timestamp("2025-12-28")]
    assert monitor.drift(profile, sunday, ["load"], [])["load"]["status"] == "shifted"  # a Sunday alone
    window = monitor.window_as_ofs(profile, pd.Timestamp("2025-12-28").date())
    assert len(window) == 28
    recent = rows[rows[AS_OF].isin(pd.to_datetime(window))]
    assert monitor.drift(profile, recent, ["load"], [])["load"]["status"] == "stable"
    # a real shift is still seen
    assert monitor.drift(profile, recent.assign(load=recent["load"] + 0.5), ["load"], [])["load"]["status"] == "shifted"


@pytest.mark.parametrize("grain", ["quarter", "year"])
def test_quarter_and_year_are_grains_of_a_forecast(grain: str) -> None:
    uc = UseCase.model_validate(
        {
            "name": "yearly_demand",
            "owner": "x@example.com",
            "task": "forecast",
            "series": {"metric": "units_sold", "by": ["family"], "grain": grain},
            "horizon": 2,
            "output": {"object": "YearlyDemand"},
        }
    )
    assert uc.series is not None and uc.series.grain == grain

"""Exogenous regressors of a forecast: the effect learnt and used, no look-ahead, the YAML checked
(unknown and hostile names refused with file and line), and a use case trained on the small demo."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from companybrain import Brain, factory
from companybrain.errors import ConfigError
from companybrain.factory.forecasting import ForecastError, backtest, cross_validate, fit_predict

DRIVERS = """\
metrics:
  promotion_share:
    description: Share of order lines sold under a promotion.
    object: OrderLine
    expr: avg(CASE WHEN promotion_id IS NULL THEN 0.0 ELSE 1.0 END)
    where: order.status <> 'cancelled'
    time: order.order_date
    format: number
"""


def promoted_series(n_series: int = 8, periods: int = 96, lift: float = 0.5, seed: int = 3) -> pd.DataFrame:
    """Monthly counts with a season and promotions in random months that lift demand by exp(lift)."""
    rng = np.random.default_rng(seed)
    ds = pd.date_range("2016-01-01", periods=periods, freq="MS")
    frames = []
    for i in range(n_series):
        promo = (rng.random(periods) < 0.2).astype(float)
        level = 60 + 15 * i
        mean = level * (1 + 0.25 * np.sin(2 * np.pi * np.arange(periods) / 12)) * np.exp(lift * promo)
        frames.append(
            pd.DataFrame({"unique_id": f"s{i}", "ds": ds, "y": rng.poisson(mean).astype(float), "promo": promo})
        )
    return pd.concat(frames, ignore_index=True)


SETTINGS = {"model": "auto_ets", "horizon": 6, "season_length": 12, "freq": "MS", "n_jobs": 1}


@pytest.mark.slow
def test_a_planned_regressor_is_learnt_and_improves_the_held_out_folds() -> None:
    data = promoted_series()
    without = backtest(data, folds=2, windows=1, **SETTINGS)
    planned = backtest(data, folds=2, windows=1, regressors={"promo": "planned"}, **SETTINGS)
    assert planned["choice"]["regressors"]["promo"] == pytest.approx(0.5, abs=0.1)
    assert planned["metrics"]["model"]["smape"] < 0.8 * without["metrics"]["model"]["smape"]
    # the baseline never uses regressors
    assert planned["metrics"]["baseline"] == without["metrics"]["baseline"]


@pytest.mark.slow
def test_nothing_after_an_origin_reaches_its_forecast_but_a_planned_regressor() -> None:
    data = promoted_series(n_series=4)
    origin = data["ds"].max() - pd.DateOffset(months=6)
    later = data["ds"] > origin
    changed = data.copy()
    changed.loc[later, "y"] *= 10
    changed.loc[later, "promo"] = 1.0 - changed.loc[later, "promo"]

    def fold(frame: pd.DataFrame, kind: str) -> np.ndarray:
        cv = cross_validate(frame, folds=1, windows=1, regressors={"promo": kind}, **SETTINGS)
        return cv.sort_values(["unique_id", "ds"])["forecast"].to_numpy()

    # held: the last value before the origin stands for the future, so the rewritten future changes nothing
    assert np.allclose(fold(data, "last"), fold(changed, "last"))
    # planned: the plan (the recorded values of the fold's periods) moves the forecast, the actuals never do
    flipped_plan = data.copy()
    flipped_plan.loc[later, "promo"] = changed.loc[later, "promo"]
    assert np.allclose(fold(flipped_plan, "planned"), fold(changed, "planned"))
    assert not np.allclose(fold(data, "planned"), fold(changed, "planned"))


def test_a_planned_regressor_needs_its_plan_over_every_forecast_period() -> None:
    data = promoted_series(n_series=2)
    last = data["ds"].max()
    future = pd.DataFrame(
        {"unique_id": "s0", "ds": pd.date_range(last + pd.DateOffset(months=1), periods=6, freq="MS"), "promo": 1.0}
    )
    with pytest.raises(ForecastError) as err:
        fit_predict(data, regressors={"promo": "planned"}, future=future, **SETTINGS)
    assert "unique_id='s1'" in str(err.value) and "future: last" in (err.value.hint or "")
    both = pd.concat([future, future.assign(unique_id="s1", promo=0.0)])
    fc = fit_predict(data, regressors={"promo": "planned"}, future=both, **SETTINGS)
    promoted, plain = (fc[fc["unique_id"] == s]["forecast"].mean() for s in ("s0", "s1"))
    assert promoted > plain  # s0 is the smaller series but fully promoted


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d.assign(promo=d["promo"].where(d.index != 3)), "missing or non-numeric"),
        (lambda d: d.assign(promo=d["promo"].astype(str).where(d.index != 5, "1; DROP TABLE x")), "non-numeric"),
        (lambda d: d.drop(columns="promo"), "is not a column"),
        (lambda d: d.assign(y=d["y"] - 1000), "never negative"),
    ],
)
def test_unusable_regressor_input_is_refused(change, message: str) -> None:
    with pytest.raises(ForecastError, match=message):
        backtest(change(promoted_series(n_series=2)), folds=1, regressors={"promo": "planned"}, **SETTINGS)
    with pytest.raises(ForecastError, match="names a column of the series itself"):
        backtest(promoted_series(n_series=2), folds=1, regressors={"y": "last"}, **SETTINGS)


def _usecase(metric: str, future: str = "planned", name: str = "demand_drivers") -> str:
    return (
        f"name: {name}\nowner: x@example.com\ntask: forecast\nrun_as: data_steward\n"
        "series: {metric: units_sold, by: [family], grain: month}\n"
        "horizon: 3\nbacktest: {folds: 1, windows: 1}\n"
        "output: {object: DemandDrivers}\n"
        f"regressors:\n  - metric: {metric}\n    future: {future}\n"
    )


@pytest.mark.slow
@pytest.mark.parametrize(
    ("metric", "future", "expected"),
    [
        ("promotion_shar", "planned", "did you mean 'promotion_share'"),
        ("units_sold", "planned", "is the forecast metric itself"),
        ("'units_sold; DROP TABLE raw.erp__orders'", "planned", "should match pattern"),
        ("promotion_share", "tomorrow", "'planned' or 'last'"),
    ],
)
def test_regressors_in_the_yaml_are_checked_with_file_and_line(
    small_demo, metric: str, future: str, expected: str
) -> None:
    root = small_demo("regressor-yaml")
    (root / "metrics" / "drivers.yaml").write_text(DRIVERS)
    (root / "usecases" / "demand_drivers.yaml").write_text(_usecase(metric, future))
    with pytest.raises(ConfigError) as err:
        Brain.open(root)
    assert "usecases/demand_drivers.yaml:" in str(err.value) and expected in str(err.value)
    line = 11 if future == "tomorrow" else 10
    assert f"usecases/demand_drivers.yaml:{line}" in str(err.value)


@pytest.mark.slow
def test_a_use_case_with_a_regressor_trains_on_the_demo_and_says_what_it_learnt(small_demo, run_cli) -> None:
    root = small_demo("regressor-train")
    (root / "metrics" / "drivers.yaml").write_text(DRIVERS)
    (root / "usecases" / "demand_drivers.yaml").write_text(_usecase("promotion_share", "last"))
    code, _, err = run_cli("-p", str(root), "check")
    assert code == 0, err
    with Brain.open(root) as brain:
        trained = factory.train(brain, ["demand_drivers"])[0]
        assert trained["status"] == "ok", trained
        assert set(trained["forecaster"]["regressor_effects"]) == {"promotion_share"}
        assert "promotion_share" in trained["lineage"]["metrics"]
        brain.build()  # the use case's output type is new
        scored = factory.score(brain, ["demand_drivers"])[0]
        assert scored["status"] == "ok", scored
    code, out, err = run_cli("-p", str(root), "factory", "show", "demand_drivers", "--format", "json")
    assert code == 0, err
    shown = json.loads(out)["intervals"]["regressors"]["promotion_share"]
    assert (
        shown["future"] == "last"
        and shown["coefficient"] == trained["forecaster"]["regressor_effects"]["promotion_share"]
    )


@pytest.mark.slow
def test_a_planned_regressor_without_a_plan_is_refused_when_scoring(small_demo, tmp_path: Path) -> None:
    root = small_demo("regressor-plan")
    (root / "metrics" / "drivers.yaml").write_text(DRIVERS)
    (root / "usecases" / "demand_drivers.yaml").write_text(_usecase("promotion_share", "planned"))
    with Brain.open(root) as brain:
        assert factory.train(brain, ["demand_drivers"])[0]["status"] == "ok"
        scored = factory.score(brain, ["demand_drivers"])[0]
    assert scored["status"] == "failed"
    assert "planned regressor 'promotion_share' has no value" in scored["error"]
    assert "future: last" in scored["hint"]

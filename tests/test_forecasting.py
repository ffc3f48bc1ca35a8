"""The factory's forecasting engine on small synthetic series: accuracy against the seasonal-naive
baseline, interval coverage, awkward series, no look-ahead in the backtest, clear errors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from companybrain.errors import BrainError
from companybrain.factory.forecast_choice import Choice
from companybrain.factory.forecasting import (
    ENSEMBLE_CANDIDATES,
    FORECAST_MODELS,
    ForecastError,
    backtest,
    cross_validate,
    fit_predict,
    smape,
)
from companybrain.specs.usecases import MODELS


def seasonal_series(
    n_series: int, periods: int, season: int, freq: str, *, seed: int = 0, start: str = "2018-01-01"
) -> pd.DataFrame:
    """Level + trend + a sine season + Gaussian noise, each series with its own mix."""
    rng = np.random.default_rng(seed)
    ds = pd.date_range(start, periods=periods, freq=freq)
    t = np.arange(periods)
    frames = []
    for i in range(n_series):
        level, slope = rng.uniform(80, 200), rng.uniform(0.2, 1.0)
        amplitude, phase = rng.uniform(15, 30), rng.uniform(0, 2 * np.pi)
        y = level + slope * t + amplitude * np.sin(2 * np.pi * t / season + phase) + rng.normal(0, 4, periods)
        frames.append(pd.DataFrame({"unique_id": f"s{i:02d}", "ds": ds, "y": y}))
    return pd.concat(frames, ignore_index=True)


def test_models_are_the_use_case_models() -> None:
    assert MODELS["forecast"] == FORECAST_MODELS


@pytest.mark.parametrize(("season", "freq", "periods"), [(12, "MS", 96), (52, "W-MON", 156)])
def test_default_forecaster_beats_seasonal_naive(season: int, freq: str, periods: int) -> None:
    df = seasonal_series(8, periods, season, freq)
    horizon = 13 if season == 52 else 12
    report = backtest(df, model="ensemble", horizon=horizon, season_length=season, freq=freq, folds=2)
    model, baseline = report["metrics"]["model"], report["metrics"]["baseline"]
    assert report["beats_baseline"]
    assert model["smape"] < 0.9 * baseline["smape"]
    assert model["mase"] < baseline["mase"]
    assert [f["fold"] for f in report["per_fold"]] == [1, 2]
    assert all(f["model"]["smape"] < f["baseline"]["smape"] for f in report["per_fold"])


@pytest.mark.parametrize(("season", "freq", "periods"), [(12, "MS", 84), (52, "W-MON", 156)])
def test_intervals_cover_the_truth_at_about_the_nominal_rate(season: int, freq: str, periods: int) -> None:
    df = seasonal_series(30, periods, season, freq, seed=1)
    report = backtest(df, model="ensemble", horizon=12, season_length=season, freq=freq, folds=1)
    model = report["metrics"]["model"]
    assert report["points"] == 30 * 12
    assert 0.70 <= model["coverage_80"] <= 0.90
    assert 0.88 <= model["coverage_95"] <= 0.995


def test_short_constant_zero_and_tiny_series_are_forecast() -> None:
    ds = pd.date_range("2023-01-01", periods=30, freq="MS")
    frames = [
        seasonal_series(2, 30, 12, "MS", start="2023-01-01"),
        pd.DataFrame({"unique_id": "short", "ds": ds[:15], "y": np.linspace(10, 24, 15) + np.r_[[0, 1] * 7, 0]}),
        pd.DataFrame({"unique_id": "constant", "ds": ds, "y": 5.0}),
        pd.DataFrame({"unique_id": "zeros", "ds": ds, "y": 0.0}),
        pd.DataFrame({"unique_id": "tiny", "ds": ds[:3], "y": [1.0, 3.0, 2.0]}),
        pd.DataFrame({"unique_id": "single", "ds": ds[:1], "y": [7.0]}),
        pd.DataFrame({"unique_id": "sparse", "ds": ds, "y": [0.0] * 25 + [3.0, 0.0, 0.0, 1.0, 0.0]}),
    ]
    df = pd.concat(frames, ignore_index=True)
    for model in FORECAST_MODELS:
        fc = fit_predict(df, model=model, horizon=6, season_length=12, freq="MS", levels=[80, 95], params={})
        assert list(fc.columns) == ["unique_id", "ds", "forecast", "lo_80", "hi_80", "lo_95", "hi_95"]
        assert fc.groupby("unique_id").size().eq(6).all() and fc["unique_id"].nunique() == 8
        assert np.isfinite(fc[["forecast", "lo_80", "hi_80", "lo_95", "hi_95"]].to_numpy()).all(), model
        assert (fc["lo_95"] <= fc["lo_80"] + 1e-9).all() and (fc["lo_80"] <= fc["forecast"] + 1e-9).all()
        assert (fc["forecast"] <= fc["hi_80"] + 1e-9).all() and (fc["hi_80"] <= fc["hi_95"] + 1e-9).all()
        by_id = fc.set_index("unique_id")
        assert (by_id.loc["constant", "forecast"] == 5.0).all()
        assert (by_id.loc["zeros", ["forecast", "lo_95", "hi_95"]].to_numpy() == 0.0).all()
        # never-negative history, never-negative forecast
        assert (by_id.loc["sparse", ["forecast", "lo_95"]].to_numpy() >= 0).all()
        single = by_id.loc["single"]
        assert single["ds"].iloc[0] == pd.Timestamp("2023-02-01") and (single["forecast"] == 7.0).all()


def test_forecast_dates_follow_each_series() -> None:
    df = seasonal_series(2, 40, 52, "W-MON", start="2024-01-01")
    df = df[~((df["unique_id"] == "s01") & (df["ds"] > "2024-08-01"))]
    fc = fit_predict(df, model="ensemble", horizon=3, season_length=52, freq="W-MON")
    last = df.groupby("unique_id")["ds"].max()
    for uid, rows in fc.groupby("unique_id"):
        expected = pd.date_range(last[uid] + pd.Timedelta(weeks=1), periods=3, freq="W-MON")
        assert list(rows["ds"]) == list(expected)


def test_backtest_never_uses_data_after_the_origin() -> None:
    df = seasonal_series(6, 72, 12, "MS", seed=3)
    settings = {"model": "ensemble", "horizon": 6, "season_length": 12, "freq": "MS", "folds": 3}
    before = cross_validate(df, **settings)
    first_origin = before.loc[before["fold"] == 1, "origin"].iloc[0]
    future = df["ds"] > first_origin
    changed = df.assign(y=np.where(future, df["y"] * 10 + 1000, df["y"]))
    after = cross_validate(changed, **settings)

    forecasts = ["forecast", "lo_80", "hi_80", "lo_95", "hi_95", "baseline", "baseline_lo_95", "scale"]
    first = before["fold"] == 1
    assert (before.loc[first, "ds"] > first_origin).all()
    pd.testing.assert_frame_equal(before.loc[first, forecasts], after.loc[after["fold"] == 1, forecasts])
    # the later folds did see the change, so the check above is not vacuous
    assert not np.allclose(before.loc[~first, "forecast"], after.loc[after["fold"] > 1, "forecast"])


def test_smape_is_the_m3_definition() -> None:
    assert smape(np.array([100.0, 0.0]), np.array([50.0, 0.0])) == pytest.approx(200 * 50 / 150 / 2)
    assert smape(np.array([1.0]), np.array([0.0])) == pytest.approx(200.0)


def test_unknown_model_says_what_would_be_valid() -> None:
    df = seasonal_series(1, 30, 12, "MS")
    with pytest.raises(ForecastError, match=r"unknown forecast model 'auto_etz': did you mean 'auto_ets'\?") as info:
        fit_predict(df, model="auto_etz", horizon=3, season_length=12, freq="MS")
    assert isinstance(info.value, BrainError) and "ensemble" in str(info.value)
    with pytest.raises(ForecastError, match=r"unknown parameter 'dampd' for model 'auto_ets': did you mean 'damped'"):
        fit_predict(df, model="auto_ets", horizon=3, season_length=12, freq="MS", params={"dampd": True})
    with pytest.raises(ForecastError, match=r"unknown ensemble member 'thetta'"):
        fit_predict(df, model="ensemble", horizon=3, season_length=12, freq="MS", params={"members": ["thetta"]})


@pytest.mark.parametrize(
    ("frame", "freq", "message"),
    [
        (pd.DataFrame({"unique_id": [], "ds": [], "y": []}), "MS", "no rows to forecast"),
        (pd.DataFrame({"unique_id": ["a"], "date": ["2024-01-01"], "y": [1.0]}), "MS", "lacks column.*ds"),
        (
            pd.DataFrame({"unique_id": "a", "ds": pd.to_datetime(["2024-01-01", "2024-02-01", "2024-04-01"]), "y": 1}),
            "MS",
            r"non-regular dates: unique_id='a' jumps from 2024-02-01 00:00:00 to 2024-04-01",
        ),
        (
            pd.DataFrame({"unique_id": "a", "ds": pd.to_datetime(["2024-01-01", "2024-01-01"]), "y": 1}),
            "MS",
            "non-regular dates: unique_id='a' repeats",
        ),
        (
            pd.DataFrame({"unique_id": "a", "ds": pd.date_range("2024-01-03", periods=3, freq="7D"), "y": 1}),
            "W-MON",
            "is not a 'W-MON' date",
        ),
        (pd.DataFrame({"unique_id": "a", "ds": pd.date_range("2024-01-01", periods=3), "y": 1}), "fortnight", "freq"),
        (
            pd.DataFrame({"unique_id": "a", "ds": pd.date_range("2024-01-01", periods=2), "y": [1, None]}),
            "D",
            "y has 1",
        ),
    ],
)
def test_unusable_input_is_refused_with_the_reason(frame: pd.DataFrame, freq: str, message: str) -> None:
    with pytest.raises(ForecastError, match=message):
        fit_predict(frame, model="ensemble", horizon=2, season_length=1, freq=freq)


def test_backtest_refuses_too_little_history() -> None:
    df = seasonal_series(1, 10, 12, "MS")
    with pytest.raises(ForecastError, match="history too short for folds=3 of horizon=6"):
        backtest(df, model="ensemble", horizon=6, season_length=12, freq="MS", folds=3)


@pytest.mark.parametrize(("freq", "season", "horizon"), [("QS-JAN", 4, 4), ("YS-JAN", 1, 2)])
def test_quarterly_and_yearly_series_are_forecast_and_backtested(freq: str, season: int, horizon: int) -> None:
    df = seasonal_series(4, 40, max(season, 2), freq, start="1980-01-01")
    report = backtest(df, model="ensemble", horizon=horizon, season_length=season, freq=freq, folds=2)
    assert report["points"] == 4 * horizon * 2 and report["choice"]["members"]
    fc = fit_predict(df, model="ensemble", horizon=horizon, season_length=season, freq=freq)
    expected = pd.date_range(df["ds"].max(), periods=horizon + 1, freq=freq)[1:]
    assert list(fc.loc[fc["unique_id"] == "s00", "ds"]) == list(expected)


def test_each_fold_chooses_members_and_calibrates_intervals_on_earlier_windows() -> None:
    df = seasonal_series(12, 96, 12, "MS", seed=4)
    report = backtest(df, model="ensemble", horizon=6, season_length=12, freq="MS", folds=2, windows=2)
    for fold in report["per_fold"]:
        assert set(fold["members"]) <= set(ENSEMBLE_CANDIDATES)
        assert len(fold["factors"]["80"]) == len(fold["factors"]["95"]) == 6
    # no fold's choice sees its own actuals: wreck the last fold's months and neither fold chooses otherwise
    wrecked = df.assign(y=np.where(df["ds"] > df["ds"].max() - pd.DateOffset(months=6), df["y"] * 3, df["y"]))
    again = backtest(wrecked, model="ensemble", horizon=6, season_length=12, freq="MS", folds=2, windows=2)
    for fold, other in zip(report["per_fold"], again["per_fold"], strict=True):
        assert (fold["members"], fold["factors"]) == (other["members"], other["factors"])
    # the version to register chooses on every window of the history: the 2 before the folds and the 2 folds
    choice = Choice.from_dict(report["choice"])
    assert choice.report["windows"] == 4 and choice.report["points"] == 4 * 12 * 6
    # the chosen factors widen (or narrow) each step's interval around the same point forecast
    raw = fit_predict(df, model="ensemble", horizon=6, season_length=12, freq="MS", params={"members": choice.members})
    calibrated = fit_predict(
        df,
        model="ensemble",
        horizon=6,
        season_length=12,
        freq="MS",
        params={"members": choice.members},
        calibration=choice.factors,
    )
    pd.testing.assert_series_equal(raw["forecast"], calibrated["forecast"])
    step = raw.groupby("unique_id").cumcount().to_numpy()
    factor = np.asarray(choice.factors["95"])[step]
    np.testing.assert_allclose(
        (calibrated["hi_95"] - calibrated["lo_95"]).to_numpy(), factor * (raw["hi_95"] - raw["lo_95"]).to_numpy()
    )

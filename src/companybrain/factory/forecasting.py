"""The factory's forecasting engine: forecast and backtest many series at once with statsforecast.

Pure functions over a long frame with columns unique_id, ds, y at a regular frequency. `fit_predict`
forecasts every series `horizon` periods past its own last date, with prediction intervals;
`cross_validate` replays rolling origins, `backtest` scores them next to the seasonal-naive baseline.
pandas and statsforecast take ~2 s to import, so they are imported inside the functions.
"""

from __future__ import annotations

import inspect
import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from companybrain.errors import BrainError, did_you_mean
from companybrain.specs.usecases import BASELINE, MODELS

if TYPE_CHECKING:
    import pandas as pd

FORECAST_MODELS: tuple[str, ...] = MODELS["forecast"]
BASELINE_MODEL = BASELINE["forecast"]
# The default forecaster: the mean of AutoETS, the dynamic optimised Theta and the classic Theta.
# On M3 monthly (examples/m3) it scores sMAPE 13.51 against 14.16 for AutoETS and 13.83 for Theta,
# and the two Theta models cost a tenth of AutoETS.
ENSEMBLE_MEMBERS: tuple[str, ...] = ("auto_ets", "dynamic_optimized_theta", "theta")
# Models the ensemble may combine (`params: {members: [...]}`), beyond the use-case model names.
MEMBER_MODELS: tuple[str, ...] = (
    "auto_ets",
    "auto_theta",
    "auto_arima",
    "auto_ces",
    "dynamic_optimized_theta",
    "theta",
    "seasonal_naive",
)
# Seasons longer than this (52 weeks) are taken out by STL before the models see the series: ETS keeps
# at most 24 seasonal states, seasonal ARIMA at lag 52 is slow, and the ACF test Theta uses to decide
# on a season loses its power when a season spans 52 lags and the history holds two or three of them.
LONG_SEASON = 24
# The significance level of the test that decides whether a long-season series has a season at all.
SEASON_TEST_ALPHA = 0.01
# Below this many observations a series is forecast with the naive method: no model can be fitted
# (AutoETS refuses fewer than 7 points) and nothing better can be learnt from so little.
MIN_OBS_TO_FIT = 8
_RESERVED_PARAMS = {"season_length", "alias", "prediction_intervals"}
_COLUMNS = ("unique_id", "ds", "y")


class ForecastError(BrainError):
    """The series or settings given to the forecaster cannot be used (empty, irregular dates, unknown model)."""


@dataclass(frozen=True)
class _Job:
    """What to forecast, checked by `_check_settings`."""

    model: str
    horizon: int
    season_length: int
    freq: str
    levels: list[int]
    params: dict[str, Any]
    n_jobs: int | None

    @property
    def members(self) -> list[str]:
        return list(self.params.get("members", ENSEMBLE_MEMBERS)) if self.model == "ensemble" else [self.model]

    def member(self, name: str, season_length: int) -> Any:
        """One statsforecast model, aliased by its factory name; `params` go to a single model."""
        cls = _model_class(name)
        if name == "naive":
            return cls(alias=name)
        if name == "seasonal_naive":
            return cls(season_length=season_length, alias=name)
        params = self.params if name == self.model else {}
        return cls(season_length=season_length, alias=name, **params)


def fit_predict(
    df: pd.DataFrame,
    *,
    model: str,
    horizon: int,
    season_length: int,
    freq: str,
    levels: Sequence[int] = (80, 95),
    params: dict[str, Any] | None = None,
    n_jobs: int | None = None,
) -> pd.DataFrame:
    """Forecast each series `horizon` periods ahead: unique_id, ds, forecast, lo_<level>, hi_<level>."""
    job = _Job(model, horizon, season_length, freq, list(levels), dict(params or {}), n_jobs)
    _check_settings(job)
    return _forecast(_prepare(df, freq), job)


def cross_validate(
    df: pd.DataFrame,
    *,
    model: str,
    horizon: int,
    season_length: int,
    freq: str,
    folds: int,
    params: dict[str, Any] | None = None,
    levels: Sequence[int] = (80, 95),
    n_jobs: int | None = None,
) -> pd.DataFrame:
    """Rolling-origin forecasts of the model and the baseline: one row per fold, series and period.

    The origins are `folds` dates stepping back by `horizon` periods from the last date; each fold is
    fitted on the rows dated at or before its origin only. Columns: fold, origin, unique_id, ds, y,
    forecast, lo_/hi_<level>, baseline, baseline_lo_/hi_<level>, scale (the seasonal-naive in-sample
    MAE of the training rows, for MASE).
    """
    pd = _pandas()
    job = _Job(model, horizon, season_length, freq, list(levels), dict(params or {}), n_jobs)
    _check_settings(job)
    if folds < 1:
        raise ForecastError(f"folds={folds}: a backtest needs at least one fold")
    data = _prepare(df, freq)
    offset = _offset(freq)
    last = data["ds"].max()
    frames = []
    for fold in range(folds):
        origin = last - offset * (horizon * (folds - fold))
        train = data[data["ds"] <= origin]
        test = data[(data["ds"] > origin) & (data["ds"] <= origin + offset * horizon)]
        test = test[test["unique_id"].isin(train["unique_id"].unique())]
        if train.empty or test.empty:
            raise ForecastError(
                f"history too short for folds={folds} of horizon={horizon}: fold {fold + 1} starts at "
                f"{origin.date()} but the data run from {data['ds'].min().date()} to {last.date()}",
                hint="lower backtest.folds or horizon, or give more history",
            )
        fc = _forecast(train, job)
        base = fc.copy() if model == BASELINE_MODEL else _forecast(train, replace(job, model=BASELINE_MODEL, params={}))
        base = base.rename(columns={c: _baseline_column(c) for c in base.columns if c not in ("unique_id", "ds")})
        scored = test.merge(fc, on=["unique_id", "ds"]).merge(base, on=["unique_id", "ds"])
        scored = scored.merge(_mase_scale(train, season_length), on="unique_id", how="left")
        scored.insert(0, "origin", origin)
        scored.insert(0, "fold", fold + 1)
        frames.append(scored)
    return pd.concat(frames, ignore_index=True)


def backtest(
    df: pd.DataFrame,
    *,
    model: str,
    horizon: int,
    season_length: int,
    freq: str,
    folds: int,
    params: dict[str, Any] | None = None,
    levels: Sequence[int] = (80, 95),
    n_jobs: int | None = None,
) -> dict[str, Any]:
    """Rolling-origin backtest: sMAPE, MASE, MAE and interval coverage of the model and the seasonal-naive
    baseline side by side, overall and per fold (a JSON-ready dict)."""
    cv = cross_validate(
        df,
        model=model,
        horizon=horizon,
        season_length=season_length,
        freq=freq,
        folds=folds,
        params=params,
        levels=levels,
        n_jobs=n_jobs,
    )
    return score_cross_validation(cv, model=model, levels=levels) | {
        "horizon": horizon,
        "season_length": season_length,
        "freq": freq,
    }


def score_cross_validation(cv: pd.DataFrame, *, model: str, levels: Sequence[int] = (80, 95)) -> dict[str, Any]:
    """The backtest report of a `cross_validate` frame: overall and per-fold figures of model and baseline."""
    per_fold = []
    for (fold, origin), rows in cv.groupby(["fold", "origin"], sort=True):
        per_fold.append(
            {
                "fold": int(fold),
                "origin": origin.isoformat(),
                "series": int(rows["unique_id"].nunique()),
                "points": len(rows),
                "model": _metrics(rows, "", levels),
                "baseline": _metrics(rows, "baseline_", levels),
            }
        )
    overall_model, overall_base = _metrics(cv, "", levels), _metrics(cv, "baseline_", levels)
    return {
        "model": model,
        "baseline": BASELINE_MODEL,
        "folds": len(per_fold),
        "series": int(cv["unique_id"].nunique()),
        "points": len(cv),
        "metrics": {"model": overall_model, "baseline": overall_base},
        "beats_baseline": smape(cv["y"], cv["forecast"]) < smape(cv["y"], cv["baseline"]),
        "per_fold": per_fold,
    }


def smape(y: Any, f: Any) -> float:
    """Symmetric MAPE as in the M3 competition, 0-200: mean of 200 |y - f| / (|y| + |f|); 0 where both are 0."""
    y, f = np.asarray(y, dtype=float), np.asarray(f, dtype=float)
    denom = np.abs(y) + np.abs(f)
    terms = np.divide(200.0 * np.abs(y - f), denom, out=np.zeros_like(denom), where=denom > 0)
    return float(terms.mean()) if len(terms) else float("nan")


# --- settings and input -------------------------------------------------------------------------


def _check_settings(job: _Job) -> None:
    model, horizon, season_length, levels, params = job.model, job.horizon, job.season_length, job.levels, job.params
    if model not in FORECAST_MODELS:
        raise ForecastError(
            f"unknown forecast model {model!r}: {did_you_mean(model, FORECAST_MODELS)}",
            hint=f"set model to one of {', '.join(FORECAST_MODELS)} (default: ensemble)",
        )
    if horizon < 1:
        raise ForecastError(f"horizon={horizon}: forecast at least one period ahead")
    if season_length < 1:
        raise ForecastError(f"season_length={season_length}: use 1 for series without seasonality")
    bad = [lv for lv in levels if not 0 < lv < 100]
    if bad:
        raise ForecastError(f"levels={list(levels)}: interval levels are percentages between 0 and 100, not {bad}")
    if model == "ensemble":
        unknown = set(params) - {"members", "combine"}
        if unknown:
            name = sorted(unknown)[0]
            raise ForecastError(
                f"unknown ensemble parameter {name!r}: {did_you_mean(name, ['members', 'combine'])}",
                hint="the ensemble takes members (a list of models) and combine (mean or median)",
            )
        for member in params.get("members", ENSEMBLE_MEMBERS):
            if member not in MEMBER_MODELS:
                raise ForecastError(f"unknown ensemble member {member!r}: {did_you_mean(member, MEMBER_MODELS)}")
        if params.get("combine", "mean") not in ("mean", "median"):
            raise ForecastError(f"combine={params['combine']!r}: the ensemble combines by mean or median")
    else:
        accepted = set(inspect.signature(_model_class(model)).parameters) - _RESERVED_PARAMS
        for name in params:
            if name not in accepted:
                raise ForecastError(f"unknown parameter {name!r} for model {model!r}: {did_you_mean(name, accepted)}")


def _prepare(df: pd.DataFrame, freq: str) -> pd.DataFrame:
    """The input sorted by series and date, checked: columns, no gaps, dates on the frequency."""
    pd = _pandas()
    if not isinstance(df, pd.DataFrame):
        raise ForecastError(f"expected a DataFrame with columns unique_id, ds, y, got {type(df).__name__}")
    missing = [c for c in _COLUMNS if c not in df.columns]
    if missing:
        raise ForecastError(
            f"the series frame lacks column(s) {', '.join(missing)}; it has {', '.join(map(str, df.columns))}",
            hint="give one row per series and period: unique_id, ds (timestamp), y (number)",
        )
    if df.empty:
        raise ForecastError(
            "no rows to forecast: the series frame is empty", hint="check the series' metric and filter"
        )
    data = df.loc[:, list(_COLUMNS)]
    if not pd.api.types.is_datetime64_any_dtype(data["ds"]):
        try:
            data["ds"] = pd.to_datetime(data["ds"])
        except (ValueError, TypeError) as exc:
            raise ForecastError(f"ds must hold dates: {exc}") from None
    data["y"] = pd.to_numeric(data["y"], errors="coerce").astype("float64")
    if data["y"].isna().any():
        uid = data.loc[data["y"].isna(), "unique_id"].iloc[0]
        raise ForecastError(
            f"y has {int(data['y'].isna().sum())} missing or non-numeric value(s), e.g. in unique_id={uid!r}",
            hint="fill missing periods (0 for sums) before forecasting",
        )
    data = data.sort_values(["unique_id", "ds"], kind="stable", ignore_index=True)
    offset = _offset(freq)
    ds = pd.DatetimeIndex(data["ds"])
    same = data["unique_id"].to_numpy()[1:] == data["unique_id"].to_numpy()[:-1]
    with warnings.catch_warnings():
        # pandas warns when an offset has no vectorised implementation; the result is the same
        warnings.simplefilter("ignore", pd.errors.PerformanceWarning)
        on_freq = ((ds + offset) - offset) == ds
        following = ds[:-1] + offset
    if not on_freq.all():
        row = data.loc[~on_freq].iloc[0]
        raise ForecastError(
            f"ds={row['ds']} of unique_id={row['unique_id']!r} is not a {freq!r} date",
            hint="truncate dates to the series' grain, or give the frequency they follow (e.g. W-MON, MS, D)",
        )
    gaps = same & (ds[1:] != following)
    if gaps.any():
        i = int(np.argmax(gaps))
        kind = "repeats" if ds[i + 1] == ds[i] else "jumps from"
        raise ForecastError(
            f"non-regular dates: unique_id={data['unique_id'].iloc[i]!r} {kind} {ds[i]} to {ds[i + 1]}"
            f" (expected {following[i]} at freq={freq!r})",
            hint="give one row per period with no gaps or duplicates: fill missing periods (0 for sums)",
        )
    return data


def _offset(freq: str) -> Any:
    pd = _pandas()
    try:
        return pd.tseries.frequencies.to_offset(freq)
    except (ValueError, TypeError):
        raise ForecastError(
            f"freq={freq!r} is not a pandas frequency", hint="use e.g. D, W-MON, MS (month start), ME (month end)"
        ) from None


def _pandas() -> Any:
    import pandas  # a core dependency, imported when first needed

    return pandas


# --- models -------------------------------------------------------------------------------------


def _model_class(name: str) -> Any:
    from statsforecast import models as sf  # a core dependency; 1.9 s to import, so only when needed

    return {
        "auto_ets": sf.AutoETS,
        "auto_theta": sf.AutoTheta,
        "auto_arima": sf.AutoARIMA,
        "auto_ces": sf.AutoCES,
        "dynamic_optimized_theta": sf.DynamicOptimizedTheta,
        "theta": sf.Theta,
        "seasonal_naive": sf.SeasonalNaive,
        "naive": sf.Naive,
    }[name]


def _forecast(data: pd.DataFrame, job: _Job) -> pd.DataFrame:
    """Forecast checked input, each series by the way its history allows.

    Constant series repeat their value; tiny ones are forecast naively; series with fewer than two
    seasons (or, for a long season, without a significant one) by the models without a season; for
    a long season the season is taken out by STL first (see LONG_SEASON).
    """
    pd = _pandas()
    m = job.season_length
    stats = data.groupby("unique_id", sort=False)["y"].agg(["size", "min", "max"])
    constant = stats["min"] == stats["max"]
    tiny = ~constant & (stats["size"] < MIN_OBS_TO_FIT)
    # fewer than two seasons cannot tell a season from noise: fit the same models without one
    short = ~constant & ~tiny & (stats["size"] < 2 * m)
    regular = ~constant & ~tiny & ~short

    def rows_of(mask: Any) -> Any:
        return data if mask.all() else data[data["unique_id"].isin(stats.index[mask])]

    parts = []
    if m > LONG_SEASON and job.model != BASELINE_MODEL:
        if (regular | short).any():
            tested = _has_season(rows_of(regular), m) if regular.any() else pd.Series(dtype=bool)
            with_season = set(tested.index[tested])
            parts.append(_forecast_long_season(rows_of(regular | short), with_season, job))
    else:
        for mask, season in ((regular, m), (short, 1)):
            if mask.any():
                members = [job.member(name, season) for name in job.members]
                parts.append(_run_statsforecast(rows_of(mask), members, job))
    if tiny.any():
        parts.append(_run_statsforecast(rows_of(tiny), [job.member("naive", 1)], job))
    if constant.any():
        parts.append(_repeat_last(rows_of(constant), job))
    out = parts[0] if len(parts) == 1 else pd.concat(parts, ignore_index=True)
    # a series that never went below zero (sales, counts) is not forecast below zero
    nonnegative = stats.index[stats["min"] >= 0]
    value_cols = [c for c in out.columns if c not in ("unique_id", "ds")]
    if len(nonnegative):
        keep = out["unique_id"].isin(nonnegative).to_numpy()
        values = out[value_cols].to_numpy()
        values[keep] = np.clip(values[keep], 0.0, None)
        out[value_cols] = values
    if len(parts) > 1:
        out = out.sort_values(["unique_id", "ds"], ignore_index=True)
    return out


def _run_statsforecast(rows: pd.DataFrame, members: list[Any], job: _Job) -> pd.DataFrame:
    """Forecast with statsforecast and combine the members' forecasts and intervals."""
    from statsforecast import StatsForecast
    from statsforecast.models import Naive

    jobs = job.n_jobs if job.n_jobs is not None else _default_jobs(rows["unique_id"].nunique())
    # a member that fails on one series (a numerical corner) forecasts it naively instead of failing all
    sf = StatsForecast(models=members, freq=job.freq, n_jobs=jobs, fallback_model=Naive())
    fc = sf.forecast(df=rows, h=job.horizon, level=job.levels or None)
    aliases = [m.alias for m in members]
    out = fc[["unique_id", "ds"]].reset_index(drop=True)

    def combined(columns: list[str]) -> Any:
        values = fc[columns]
        if len(columns) == 1:
            return values.iloc[:, 0].to_numpy()
        # pandas skips a member's NaN without warning; averaging the members' quantiles is the usual
        # way to combine the intervals of an ensemble (Lichtendahl, Grushka-Cockayne & Winkler 2013)
        median = job.params.get("combine") == "median"
        return (values.median(axis=1) if median else values.mean(axis=1)).to_numpy()

    out["forecast"] = combined(aliases)
    for level in job.levels:
        out[f"lo_{level}"] = combined([f"{a}-lo-{level}" for a in aliases])
        out[f"hi_{level}"] = combined([f"{a}-hi-{level}" for a in aliases])
    return out


def _forecast_long_season(rows: pd.DataFrame, with_season: set[Any], job: _Job) -> pd.DataFrame:
    """Long season, in one statsforecast run: STL takes the season out of the series in `with_season`, the
    members forecast every series without a season, and the season's last cycle is added back to those
    series' forecasts, their intervals widened for the season's own error."""
    from statsmodels.tsa.seasonal import STL

    m = job.season_length
    values = rows["y"].to_numpy()
    starts, sizes = _series_bounds(rows)
    uids = rows["unique_id"].iloc[starts].to_numpy()
    has_season = np.array([uid in with_season for uid in uids], dtype=bool)
    adjusted = values.copy()
    last_cycle = np.zeros((len(starts), m))
    for i in np.flatnonzero(has_season):
        start, size = starts[i], sizes[i]
        y = values[start : start + size]
        # MSTL's settings (seasonal window of 11 cycles, degree 0); the jumps make it ~5x faster and
        # move the seasonal component by a fraction of a percent
        seasonal = STL(y, period=m, seasonal=11, seasonal_deg=0, seasonal_jump=2, trend_jump=10, low_pass_jump=6)
        component = seasonal.fit().seasonal
        adjusted[start : start + size] = y - component
        last_cycle[i] = component[size - m :]
    members = [job.member(name, 1) for name in job.members]
    out = _run_statsforecast(rows.assign(y=adjusted), members, job)
    # rows of `out` come per series in date order; match them to the series' position in `rows`
    index = out["unique_id"].map({uid: i for i, uid in enumerate(uids)}).to_numpy()
    step = out.groupby("unique_id", sort=False).cumcount().to_numpy()
    season = last_cycle[index, step % m]
    # the seasonal index is about a mean of k cycles: it absorbs 1/k of the noise (the members see
    # variance (1 - 1/k) s^2) and carries an error of s^2/k into every forecast, so the variance is
    # (1 + 1/k) / (1 - 1/k) times what the members report; STL's window stops k at 11 cycles.
    # Without this, 95% intervals covered 86% of 3-year weekly series.
    cycles = np.clip(sizes / m, 2.0, 11.0)[index]
    widen = np.where(has_season[index], np.sqrt((cycles + 1) / (cycles - 1)), 1.0)
    point = out["forecast"].to_numpy()
    for level in job.levels:
        for side in ("lo", "hi"):
            column = f"{side}_{level}"
            out[column] = point + (out[column].to_numpy() - point) * widen + season
    out["forecast"] = point + season
    return out


def _series_bounds(rows: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Start row and length of each series in a frame sorted by unique_id."""
    uids = rows["unique_id"].to_numpy()
    starts = np.flatnonzero(np.r_[True, uids[1:] != uids[:-1]])
    sizes = np.diff(np.r_[starts, len(uids)])
    return starts, sizes


def _has_season(data: pd.DataFrame, season_length: int) -> pd.Series:
    """Per series: does the position in the season explain the detrended series (one-way ANOVA F test)?

    Classical decomposition: a centred moving average of one season (a straight line when the history
    holds fewer than three seasons) removes the trend, the mean of each position is the seasonal index.
    The F test counts the indices' degrees of freedom, so a few cycles of noise are not mistaken for a
    season.
    """
    pd = _pandas()
    from scipy.special import fdtri  # the F quantile; scipy.stats would cost a second to import

    m = season_length
    weights = np.r_[0.5, np.ones(m - 1), 0.5] / m if m % 2 == 0 else np.ones(m) / m
    half = (len(weights) - 1) // 2
    values = data["y"].to_numpy()
    starts, sizes = _series_bounds(data)
    verdict = np.zeros(len(starts), dtype=bool)
    for i, (start, size) in enumerate(zip(starts, sizes, strict=True)):
        y = values[start : start + size]
        if size >= 3 * m:
            trend = np.convolve(y, weights, mode="valid")
            detrended = y[half : half + len(trend)] - trend
            position = (np.arange(len(detrended)) + half) % m
        else:
            # the moving average would leave one value per position: take a straight line out instead
            t = np.arange(size)
            detrended = y - np.polyval(np.polyfit(t, y, 1), t)
            position = t % m
        counts = np.bincount(position, minlength=m)
        means = np.bincount(position, weights=detrended, minlength=m) / np.maximum(counts, 1)
        within = float(np.sum((detrended - means[position]) ** 2))
        between = float(np.sum(counts * (means - detrended.mean()) ** 2))
        dof_within = len(detrended) - m
        if dof_within <= 0 or within <= 0:
            verdict[i] = between > 0
        else:
            statistic = (between / (m - 1)) / (within / dof_within)
            verdict[i] = statistic > fdtri(m - 1, dof_within, 1 - SEASON_TEST_ALPHA)
    return pd.Series(verdict, index=data["unique_id"].iloc[starts].to_numpy())


def _repeat_last(rows: pd.DataFrame, job: _Job) -> pd.DataFrame:
    """Constant series (all zeros included): the value itself, with no spread seen, so no interval width."""
    pd = _pandas()
    last = rows.groupby("unique_id", sort=True).tail(1)
    offset = _offset(job.freq)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", pd.errors.PerformanceWarning)
        dates = [pd.DatetimeIndex(last["ds"]) + offset * step for step in range(1, job.horizon + 1)]
    value = np.repeat(last["y"].to_numpy(), job.horizon)
    out = pd.DataFrame(
        {
            "unique_id": np.repeat(last["unique_id"].to_numpy(), job.horizon),
            "ds": np.stack([d.to_numpy() for d in dates], axis=1).ravel(),
            "forecast": value,
        }
    )
    for level in job.levels:
        out[f"lo_{level}"] = value
        out[f"hi_{level}"] = value
    return out


def _default_jobs(n_series: int) -> int:
    # worker processes cost ~0.1 s each to start: not worth it for a handful of series
    if n_series < 100:
        return 1
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)


# --- scoring ------------------------------------------------------------------------------------


def _baseline_column(column: str) -> str:
    return "baseline" if column == "forecast" else f"baseline_{column}"


def _mase_scale(train: pd.DataFrame, season_length: int) -> pd.DataFrame:
    """Per series, the in-sample MAE of the seasonal naive (lag 1 when shorter than a season and one)."""
    sizes = train.groupby("unique_id", sort=False)["y"].transform("size")
    lag_season = train.groupby("unique_id", sort=False)["y"].diff(season_length)
    lag_one = train.groupby("unique_id", sort=False)["y"].diff(1)
    diffs = lag_season.where(sizes > season_length, lag_one).abs()
    scale = diffs.groupby(train["unique_id"], sort=False).mean()
    return scale.rename("scale").reset_index()


def _metrics(rows: pd.DataFrame, prefix: str, levels: Sequence[int]) -> dict[str, float | None]:
    """sMAPE and MAE over all points, MASE averaged over series (and folds), coverage of each interval."""
    point = rows["forecast" if not prefix else "baseline"].to_numpy(dtype=float)
    y = rows["y"].to_numpy(dtype=float)
    err = np.abs(y - point)
    keys = ["fold", "unique_id"] if "fold" in rows.columns else ["unique_id"]
    per_series = rows.assign(err=err).groupby(keys, sort=False).agg(mae=("err", "mean"), scale=("scale", "first"))
    # a series that never changed in training has no scale: MASE is undefined for it
    per_series = per_series[per_series["scale"] > 0]
    out: dict[str, float | None] = {
        "smape": round(smape(y, point), 4),
        "mase": round(float((per_series["mae"] / per_series["scale"]).mean()), 4) if len(per_series) else None,
        "mae": round(float(err.mean()), 4),
    }
    for level in levels:
        lo = rows[f"{prefix}lo_{level}"].to_numpy(dtype=float)
        hi = rows[f"{prefix}hi_{level}"].to_numpy(dtype=float)
        known = ~(np.isnan(lo) | np.isnan(hi))
        inside = (y[known] >= lo[known]) & (y[known] <= hi[known])
        out[f"coverage_{level}"] = round(float(inside.mean()), 4) if known.any() else None
    return out

"""The forecasting engine under factory/forecasting.py: every member model's forecast of every series,
each series by the way its history allows, on statsforecast.

`member_forecasts` returns one column set per member (`<member>`, `<member>-lo-<level>`,
`<member>-hi-<level>`), unclipped, so that the caller can choose and combine members and calibrate
their intervals before the non-negative clip. statsforecast and statsmodels are imported inside the
functions (2 s).
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import pandas as pd

# Seasons longer than this (52 weeks) are taken out by STL before the models see the series: ETS keeps
# at most 24 seasonal states, seasonal ARIMA at lag 52 is slow, and the ACF test Theta uses to decide
# on a season loses its power when a season spans 52 lags and the history holds two or three of them.
LONG_SEASON = 24
# The significance level of the test that decides whether a long-season series has a season at all.
SEASON_TEST_ALPHA = 0.01
# Below this many observations a series is forecast with the naive method: no model can be fitted
# (AutoETS refuses fewer than 7 points) and nothing better can be learnt from so little.
MIN_OBS_TO_FIT = 8
BASELINE_MODEL = "seasonal_naive"


@dataclass(frozen=True)
class Job:
    """What to forecast (checked by forecasting._check_settings): `members` are the models run."""

    model: str
    members: tuple[str, ...]
    horizon: int
    season_length: int
    freq: str
    levels: tuple[int, ...]
    params: dict[str, Any]
    n_jobs: int | None

    def member(self, name: str, season_length: int) -> Any:
        """One statsforecast model, aliased by its factory name; `params` go to a single model."""
        cls = model_class(name)
        if name == "naive":
            return cls(alias=name)
        if name == "seasonal_naive":
            return cls(season_length=season_length, alias=name)
        params = self.params if name == self.model else {}
        return cls(season_length=season_length, alias=name, **params)


def model_class(name: str) -> Any:
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


def member_columns(member: str, levels: tuple[int, ...] | list[int]) -> list[str]:
    return [member, *[f"{member}-{side}-{level}" for level in levels for side in ("lo", "hi")]]


def member_forecasts(data: pd.DataFrame, job: Job) -> pd.DataFrame:
    """Every member's forecast of checked input, each series by the way its history allows.

    Constant series repeat their value; tiny ones are forecast naively; series with fewer than two
    seasons (or, for a long season, without a significant one) by the models without a season; for
    a long season the season is taken out by STL first (see LONG_SEASON).
    """
    import pandas as pd

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
    if m > LONG_SEASON and job.members != (BASELINE_MODEL,):
        if (regular | short).any():
            tested = has_season(rows_of(regular), m) if regular.any() else pd.Series(dtype=bool)
            with_season = set(tested.index[tested])
            parts.append(_forecast_long_season(rows_of(regular | short), with_season, job))
    else:
        for mask, season in ((regular, m), (short, 1)):
            if mask.any():
                models = [job.member(name, season) for name in job.members]
                parts.append(_run_statsforecast(rows_of(mask), models, job))
    if tiny.any():
        naive = _run_statsforecast(rows_of(tiny), [job.member("naive", 1)], job)
        parts.append(_as_members(naive, "naive", job))
    if constant.any():
        parts.append(_repeat_last(rows_of(constant), job))
    out = parts[0] if len(parts) == 1 else pd.concat(parts, ignore_index=True)
    if len(parts) > 1:
        out = out.sort_values(["unique_id", "ds"], ignore_index=True)
    return out


def _run_statsforecast(rows: pd.DataFrame, models: list[Any], job: Job) -> pd.DataFrame:
    """Each model's forecast and intervals, as statsforecast names them (alias, alias-lo-80, ...)."""
    from statsforecast import StatsForecast
    from statsforecast.models import Naive

    jobs = job.n_jobs if job.n_jobs is not None else default_jobs(rows["unique_id"].nunique())
    # a member that fails on one series (a numerical corner) forecasts it naively instead of failing all
    sf = StatsForecast(models=models, freq=job.freq, n_jobs=jobs, fallback_model=Naive())
    fc = sf.forecast(df=rows, h=job.horizon, level=list(job.levels) or None)
    columns = ["unique_id", "ds", *[c for m in models for c in member_columns(m.alias, job.levels)]]
    return fc[columns].reset_index(drop=True)


def _as_members(fc: pd.DataFrame, alias: str, job: Job) -> pd.DataFrame:
    """One model's columns copied under every member's name (the series every member forecasts alike)."""
    out = fc[["unique_id", "ds"]].copy()
    source = member_columns(alias, job.levels)
    for member in job.members:
        for src, dst in zip(source, member_columns(member, job.levels), strict=True):
            out[dst] = fc[src].to_numpy()
    return out


def _forecast_long_season(rows: pd.DataFrame, with_season: set[Any], job: Job) -> pd.DataFrame:
    """Long season, in one statsforecast run: STL takes the season out of the series in `with_season`, the
    members forecast every series without a season, and the season's last cycle is added back to those
    series' forecasts, their intervals widened for the season's own error."""
    from statsmodels.tsa.seasonal import STL

    m = job.season_length
    values = rows["y"].to_numpy()
    starts, sizes = series_bounds(rows)
    uids = rows["unique_id"].iloc[starts].to_numpy()
    has = np.array([uid in with_season for uid in uids], dtype=bool)
    adjusted = values.copy()
    last_cycle = np.zeros((len(starts), m))
    for i in np.flatnonzero(has):
        start, size = starts[i], sizes[i]
        y = values[start : start + size]
        # MSTL's settings (seasonal window of 11 cycles, degree 0); the jumps make it ~5x faster and
        # move the seasonal component by a fraction of a percent
        seasonal = STL(y, period=m, seasonal=11, seasonal_deg=0, seasonal_jump=2, trend_jump=10, low_pass_jump=6)
        component = seasonal.fit().seasonal
        adjusted[start : start + size] = y - component
        last_cycle[i] = component[size - m :]
    models = [job.member(name, 1) for name in job.members]
    out = _run_statsforecast(rows.assign(y=adjusted), models, job)
    # rows of `out` come per series in date order; match them to the series' position in `rows`
    index = out["unique_id"].map({uid: i for i, uid in enumerate(uids)}).to_numpy()
    step = out.groupby("unique_id", sort=False).cumcount().to_numpy()
    season = last_cycle[index, step % m]
    # the seasonal index is about a mean of k cycles: it absorbs 1/k of the noise (the members see
    # variance (1 - 1/k) s^2) and carries an error of s^2/k into every forecast, so the variance is
    # (1 + 1/k) / (1 - 1/k) times what the members report; STL's window stops k at 11 cycles.
    cycles = np.clip(sizes / m, 2.0, 11.0)[index]
    widen = np.where(has[index], np.sqrt((cycles + 1) / (cycles - 1)), 1.0)
    for member in job.members:
        point = out[member].to_numpy()
        for level in job.levels:
            for side in ("lo", "hi"):
                column = f"{member}-{side}-{level}"
                out[column] = point + (out[column].to_numpy() - point) * widen + season
        out[member] = point + season
    return out


def series_bounds(rows: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Start row and length of each series in a frame sorted by unique_id."""
    uids = rows["unique_id"].to_numpy()
    starts = np.flatnonzero(np.r_[True, uids[1:] != uids[:-1]])
    sizes = np.diff(np.r_[starts, len(uids)])
    return starts, sizes


def has_season(data: pd.DataFrame, season_length: int) -> pd.Series:
    """Per series: does the position in the season explain the detrended series (one-way ANOVA F test)?

    Classical decomposition: a centred moving average of one season (a straight line when the history
    holds fewer than three seasons) removes the trend, the mean of each position is the seasonal index.
    The F test counts the indices' degrees of freedom, so a few cycles of noise are not mistaken for a
    season.
    """
    import pandas as pd
    from scipy.special import fdtri  # the F quantile; scipy.stats would cost a second to import

    m = season_length
    weights = np.r_[0.5, np.ones(m - 1), 0.5] / m if m % 2 == 0 else np.ones(m) / m
    half = (len(weights) - 1) // 2
    values = data["y"].to_numpy()
    starts, sizes = series_bounds(data)
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


def _repeat_last(rows: pd.DataFrame, job: Job) -> pd.DataFrame:
    """Constant series (all zeros included): the value itself, with no spread seen, so no interval width."""
    import pandas as pd

    last = rows.groupby("unique_id", sort=True).tail(1)
    offset = pd.tseries.frequencies.to_offset(job.freq)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", pd.errors.PerformanceWarning)
        dates = [pd.DatetimeIndex(last["ds"]) + offset * step for step in range(1, job.horizon + 1)]
    value = np.repeat(last["y"].to_numpy(), job.horizon)
    out = pd.DataFrame(
        {
            "unique_id": np.repeat(last["unique_id"].to_numpy(), job.horizon),
            "ds": np.stack([d.to_numpy() for d in dates], axis=1).ravel(),
        }
    )
    for member in job.members:
        for column in member_columns(member, job.levels):
            out[column] = value
    return out


def default_jobs(n_series: int) -> int:
    # worker processes cost ~0.1 s each to start: not worth it for a handful of series
    if n_series < 100:
        return 1
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)

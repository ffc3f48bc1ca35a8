"""The factory's forecasting engine: forecast and backtest many series at once with statsforecast.

Pure functions over a long frame with columns unique_id, ds, y at a regular frequency. `fit_predict`
forecasts every series `horizon` periods past its own last date, with prediction intervals; `choose`
picks the ensemble's members and calibrates the intervals on rolling windows inside the history it is
given (factory/forecast_choice.py); `cross_validate` replays rolling origins, making that choice again
before each from earlier windows only, and `backtest` scores them next to the seasonal-naive baseline.
The models run in factory/forecast_models.py; pandas and statsforecast take ~2 s to import, so they
are imported inside the functions.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from companybrain.errors import BrainError, did_you_mean
from companybrain.factory import forecast_choice, forecast_regressors
from companybrain.factory.forecast_choice import Choice
from companybrain.factory.forecast_models import BASELINE_MODEL, Job, member_forecasts
from companybrain.factory.forecast_regressors import member_forecasts_with
from companybrain.factory.params import FORECAST, unknown
from companybrain.specs.usecases import MODELS

if TYPE_CHECKING:
    import pandas as pd

FORECAST_MODELS: tuple[str, ...] = MODELS["forecast"]
# The ensemble's candidates: before every fold and for the version it registers, the factory takes the
# mean of the subset of these with the lowest sMAPE on earlier windows of the same history (never on
# the periods it reports). AutoCES and AutoARIMA can be named (`params: {candidates: [...]}`); they
# cost several times AutoETS and did not help on the training windows tried.
ENSEMBLE_CANDIDATES: tuple[str, ...] = ("auto_ets", "dynamic_optimized_theta", "theta", "auto_theta")
# `fit_predict(model="ensemble")` called without chosen members (a scenario of an old version, a script)
ENSEMBLE_MEMBERS: tuple[str, ...] = ("auto_ets", "dynamic_optimized_theta", "theta")
# Models an ensemble may combine (`params: {members: [...]}` or `{candidates: [...]}`).
MEMBER_MODELS: tuple[str, ...] = tuple(FORECAST)
# rolling windows before each fold that choose the members and calibrate the intervals
DEFAULT_WINDOWS = 2
_COLUMNS = ("unique_id", "ds", "y")


class ForecastError(BrainError):
    """The series or settings given to the forecaster cannot be used (empty, irregular dates, unknown model)."""


def _job(
    model: str,
    horizon: int,
    season_length: int,
    freq: str,
    levels: Sequence[int],
    params: dict[str, Any] | None,
    n_jobs: int | None,
    members: Sequence[str] | None = None,
) -> Job:
    params = dict(params or {})
    if members is None:
        members = params.get("members", ENSEMBLE_MEMBERS) if model == "ensemble" else (model,)
    job = Job(model, tuple(members), horizon, season_length, freq, tuple(levels), params, n_jobs)
    _check_settings(job)
    return job


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
    calibration: dict[str, list[float]] | None = None,
    regressors: dict[str, str] | None = None,
    future: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Forecast each series `horizon` periods ahead: unique_id, ds, forecast, lo_<level>, hi_<level>.

    An ensemble combines `params["members"]` (default ENSEMBLE_MEMBERS); `calibration` (a `Choice`'s
    factors, per level and horizon step) widens or narrows the intervals. `regressors` (column of `df`
    -> "planned" or "last") move the forecast (factory/forecast_regressors.py); a planned one's values
    over the forecast periods come from `future` (unique_id, ds and a column per regressor)."""
    job = _job(model, horizon, season_length, freq, levels, params, n_jobs)
    regressors = dict(regressors or {})
    data = _prepare(df, freq, regressors)
    if future is not None:
        future = future.assign(ds=_pandas().to_datetime(future["ds"]))
    members = member_forecasts_with(data, data["ds"].max(), job, regressors, future if future is not None else data)
    fc = forecast_choice.combine(members, list(job.members), _how(job), job.levels)
    return _clip(forecast_choice.calibrate(fc, calibration or {}, job.levels), data)


def choose(
    df: pd.DataFrame,
    *,
    model: str,
    horizon: int,
    season_length: int,
    freq: str,
    levels: Sequence[int] = (80, 95),
    params: dict[str, Any] | None = None,
    windows: int = DEFAULT_WINDOWS,
    n_jobs: int | None = None,
    regressors: dict[str, str] | None = None,
) -> Choice:
    """The members (for an ensemble) and interval calibration, chosen on the last `windows` rolling
    origins of `df` itself: what `fit_predict(..., params=params_of(...), calibration=choice.factors)` uses."""
    job = _job(model, horizon, season_length, freq, levels, params, n_jobs, _pool(model, params))
    regressors = dict(regressors or {})
    data = _prepare(df, freq, regressors)
    last = data["ds"].max()
    origins = [last - _offset(freq) * (horizon * k) for k in range(windows, 0, -1)]
    frames = [frame for i, o in enumerate(origins) if (frame := _window(data, job, o, i, regressors)) is not None]
    return _choice(job, _concat(frames))


def params_of(model: str, params: dict[str, Any] | None, choice: Choice) -> dict[str, Any]:
    """The model's parameters with the chosen members: what fit_predict forecasts with."""
    out = dict(params or {})
    if model == "ensemble":
        out.pop("candidates", None)
        out["members"] = list(choice.members)
    return out


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
    windows: int = DEFAULT_WINDOWS,
    regressors: dict[str, str] | None = None,
) -> pd.DataFrame:
    """Rolling-origin forecasts of the model and the baseline: one row per fold, series and period.

    The origins are `folds` dates stepping back by `horizon` periods from the last date; each fold is
    fitted on the rows dated at or before its origin only, and its members and interval calibration
    are chosen on every origin before it (`windows` more before the first fold, and the earlier folds;
    all of their actuals end by the fold's origin). Columns:
    fold, origin, unique_id, ds, y, forecast, lo_/hi_<level>, baseline, baseline_lo_/hi_<level>, scale
    (the seasonal-naive in-sample MAE of the training rows, for MASE). `attrs["choices"]` holds each
    fold's choice and `attrs["choice"]` the one made on all of them (for the version to register).
    With `regressors`, each origin's effect is fitted on the rows up to it and put back with the
    regressors' values of its periods: the recorded ones for a planned regressor, the last before the
    origin for the others; the baseline never uses them.
    """
    pd = _pandas()
    job = _job(model, horizon, season_length, freq, levels, params, n_jobs, _pool(model, params))
    if folds < 1:
        raise ForecastError(f"folds={folds}: a backtest needs at least one fold")
    regressors = dict(regressors or {})
    data = _prepare(df, freq, regressors)
    offset = _offset(freq)
    last = data["ds"].max()
    origins = [last - offset * (horizon * k) for k in range(folds + windows, 0, -1)]
    for fold in range(folds):
        origin = origins[windows + fold]
        if data[data["ds"] <= origin].empty or data[data["ds"] > origin].empty:
            raise ForecastError(
                f"history too short for folds={folds} of horizon={horizon}: fold {fold + 1} starts at "
                f"{origin.date()} but the data run from {data['ds'].min().date()} to {last.date()}",
                hint="lower backtest.folds or horizon, or give more history",
            )
    window_frames: dict[int, Any] = {}
    member_fc: dict[int, Any] = {}
    for i, origin in enumerate(origins):
        train = data[data["ds"] <= origin]
        if train.empty:
            window_frames[i] = None
            continue
        member_fc[i] = member_forecasts_with(data, origin, job, regressors)
        test = data[(data["ds"] > origin) & (data["ds"] <= origin + offset * horizon)]
        window_frames[i] = forecast_choice.window_frame(test, member_fc[i], i, list(job.members), job.levels)
    frames, choices = [], []
    for fold in range(folds):
        at = windows + fold
        origin = origins[at]
        choice = _choice(job, _concat([window_frames[i] for i in range(at)]))
        choices.append(choice)
        train = data.loc[data["ds"] <= origin, list(_COLUMNS)]
        test = data.loc[(data["ds"] > origin) & (data["ds"] <= origin + offset * horizon), list(_COLUMNS)]
        test = test[test["unique_id"].isin(train["unique_id"].unique())]
        fc = forecast_choice.combine(member_fc[at], choice.members, choice.combine, job.levels)
        fc = _clip(forecast_choice.calibrate(fc, choice.factors, job.levels), train)
        base_job = Job(BASELINE_MODEL, (BASELINE_MODEL,), horizon, season_length, freq, job.levels, {}, n_jobs)
        base = forecast_choice.combine(member_forecasts(train, base_job), [BASELINE_MODEL], "mean", job.levels)
        base = _clip(base, train)
        base = base.rename(columns={c: _baseline_column(c) for c in base.columns if c not in ("unique_id", "ds")})
        scored = test.merge(fc, on=["unique_id", "ds"]).merge(base, on=["unique_id", "ds"])
        scored = scored.merge(_mase_scale(train, season_length), on="unique_id", how="left")
        scored.insert(0, "origin", origin)
        scored.insert(0, "fold", fold + 1)
        frames.append(scored)
    out = pd.concat(frames, ignore_index=True)
    out.attrs["choices"] = [c.as_dict() for c in choices]
    final = _choice(job, _concat([window_frames[i] for i in range(folds + windows)]))
    out.attrs["choice"] = final.as_dict()
    if regressors:
        out.attrs["choice"]["regressors"] = forecast_regressors.fit(data, tuple(regressors)).as_dict()
    return out


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
    windows: int = DEFAULT_WINDOWS,
    regressors: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Rolling-origin backtest: sMAPE, MASE, MAE and interval coverage of the model and the seasonal-naive
    baseline side by side, overall and per fold, with each fold's choice and the one for the version to
    register (`choice`): a JSON-ready dict."""
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
        windows=windows,
        regressors=regressors,
    )
    report = score_cross_validation(cv, model=model, levels=levels)
    return with_choices(report, cv, horizon=horizon, season_length=season_length, freq=freq, windows=windows)


def with_choices(report: dict[str, Any], cv: pd.DataFrame, **settings: Any) -> dict[str, Any]:
    """A backtest's scores with what each fold chose (members, interval factors), the choice for the version
    to register and the backtest's settings."""
    for fold, choice in zip(report["per_fold"], cv.attrs["choices"], strict=True):
        fold["members"] = choice["members"]
        fold["factors"] = choice["factors"]
    return report | settings | {"choice": cv.attrs["choice"]}


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


# --- choosing -----------------------------------------------------------------------------------


def _pool(model: str, params: dict[str, Any] | None) -> tuple[str, ...]:
    """The members a backtest or choice runs: the fixed members, else the ensemble's candidates."""
    params = params or {}
    if model != "ensemble":
        return (model,)
    return tuple(params.get("members") or params.get("candidates") or ENSEMBLE_CANDIDATES)


def _how(job: Job) -> str:
    return str(job.params.get("combine", "mean"))


def _choice(job: Job, windows: pd.DataFrame) -> Choice:
    fixed = list(job.params["members"]) if job.model == "ensemble" and "members" in job.params else None
    if job.model != "ensemble":
        fixed = [job.model]
    return forecast_choice.choose(
        windows, candidates=list(job.members), fixed=fixed, how=_how(job), levels=job.levels, horizon=job.horizon
    )


def _window(data: pd.DataFrame, job: Job, origin: Any, index: int, regressors: dict[str, str]) -> pd.DataFrame | None:
    if data[data["ds"] <= origin].empty:
        return None
    test = data[(data["ds"] > origin) & (data["ds"] <= origin + _offset(job.freq) * job.horizon)]
    fc = member_forecasts_with(data, origin, job, regressors)
    return forecast_choice.window_frame(test, fc, index, list(job.members), job.levels)


def _concat(frames: list[Any]) -> pd.DataFrame:
    pd = _pandas()
    found = [f for f in frames if f is not None and len(f)]
    return pd.concat(found, ignore_index=True) if found else pd.DataFrame({"window": [], "y": [], "step": []})


def _clip(out: pd.DataFrame, data: pd.DataFrame) -> pd.DataFrame:
    """A series that never went below zero (sales, counts) is not forecast below zero."""
    stats = data.groupby("unique_id", sort=False)["y"].min()
    nonnegative = stats.index[stats >= 0]
    value_cols = [c for c in out.columns if c not in ("unique_id", "ds")]
    if len(nonnegative) and value_cols:
        keep = out["unique_id"].isin(nonnegative).to_numpy()
        values = out[value_cols].to_numpy(dtype=float)
        values[keep] = np.clip(values[keep], 0.0, None)
        out[value_cols] = values
    return out


# --- settings and input -------------------------------------------------------------------------


def _check_settings(job: Job) -> None:
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
    problems = unknown("forecast", model, params)
    if problems:
        _, message = problems[0]
        hint = (
            "the ensemble takes members or candidates (lists of models) and combine (mean or median)"
            if model == "ensemble"
            else None
        )
        raise ForecastError(message, hint=hint)


def _prepare(df: pd.DataFrame, freq: str, regressors: dict[str, str] | None = None) -> pd.DataFrame:
    """The input sorted by series and date, checked: columns, no gaps, dates on the frequency, and the
    regressors' columns kept and checked."""
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
    regressors = regressors or {}
    for name in regressors:
        if name in _COLUMNS:
            raise ForecastError(f"regressor {name!r} names a column of the series itself")
        if name not in df.columns:
            raise ForecastError(
                f"regressor {name!r} is not a column of the series frame; it has {', '.join(map(str, df.columns))}",
                hint="give one column per regressor next to unique_id, ds, y",
            )
    data = df.loc[:, [*_COLUMNS, *regressors]].copy()
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
    forecast_regressors.check(data, regressors)
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

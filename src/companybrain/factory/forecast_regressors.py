"""Exogenous regressors of a forecast (a price, a promotion share): their effect is taken out of the
history before the members forecast it, and put back with the regressors' values over the forecast
periods.

The effect is multiplicative, one coefficient per regressor pooled over every series: log(1 + y) is
regressed on the regressors after each has had its centred rolling mean (LOCAL periods, per series)
taken out, so that the coefficient is learnt from how the series moves when a regressor moves (a
promotion week against the weeks around it, a price change), not from trends or seasons the two
share. The history is then divided by exp(coefficient x (value - the series' mean value)), every
member forecasts that adjusted history, and each forecast and interval bound is multiplied back by
the same factor at the future value. Every model of the factory can so use regressors, and the
members' choice and interval calibration see the forecasts with the regressors' effect in them.

Future values are never the forecast metric's: a `planned` regressor's come from the caller (a plan;
in a backtest, the recorded values of the fold's periods stand for it), a `last` one holds each
series' last value before the origin. Future values are clipped to the range the coefficient was
learnt on.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import pandas as pd

# periods of the centred rolling mean the regressors' moves are measured against
LOCAL = 9
FUTURE_KINDS = ("planned", "last")


@dataclass(frozen=True)
class Effect:
    """The regressors' coefficients and, per series, the mean value the history is adjusted to."""

    names: tuple[str, ...]
    coefficients: tuple[float, ...]
    means: pd.DataFrame  # unique_id and one column per regressor
    low: tuple[float, ...]
    high: tuple[float, ...]

    def as_dict(self) -> dict[str, float]:
        return {name: round(c, 6) for name, c in zip(self.names, self.coefficients, strict=True)}


def check(data: pd.DataFrame, regressors: dict[str, str]) -> None:
    """Regressor columns (of the caller's own copy) made numeric and checked complete; the forecast
    metric checked never negative."""
    import pandas as pd

    from companybrain.factory.forecasting import ForecastError

    for name, kind in regressors.items():
        if kind not in FUTURE_KINDS:
            raise ForecastError(f"regressor {name!r}: future={kind!r} is not one of {', '.join(FUTURE_KINDS)}")
        values = pd.to_numeric(data[name], errors="coerce")
        if values.isna().any():
            uid = data.loc[values.isna(), "unique_id"].iloc[0]
            raise ForecastError(
                f"regressor {name!r} has {int(values.isna().sum())} missing or non-numeric value(s), "
                f"e.g. in unique_id={uid!r}",
                hint="fill the regressor's missing periods (the previous value, or 0 for a share)",
            )
        data[name] = values.astype("float64")
    if regressors and (data["y"] < 0).any():
        raise ForecastError(
            "regressors take a multiplicative effect and need a metric that is never negative",
            hint="leave regressors out for a metric that can go below zero",
        )


def fit(train: pd.DataFrame, names: tuple[str, ...]) -> Effect:
    """The pooled coefficients of the regressors on log(1 + y), each measured against its local mean."""
    groups = train.groupby("unique_id", sort=False)

    def local(column: pd.Series) -> np.ndarray:
        rolled = column.groupby(train["unique_id"], sort=False).transform(
            lambda s: s.rolling(LOCAL, center=True, min_periods=1).mean()
        )
        return (column - rolled).to_numpy(dtype=float)

    z = np.log1p(train["y"].clip(lower=0))
    target = local(z)
    design = np.column_stack([local(train[name]) for name in names])
    moving = design.std(axis=0) > 1e-12
    coefficients = np.zeros(len(names))
    if moving.any():
        solved, *_ = np.linalg.lstsq(design[:, moving], target, rcond=None)
        coefficients[moving] = solved
    means = groups[list(names)].mean().reset_index()
    low = tuple(float(train[n].min()) for n in names)
    high = tuple(float(train[n].max()) for n in names)
    return Effect(names, tuple(float(c) for c in coefficients), means, low, high)


def exponent(rows: pd.DataFrame, effect: Effect) -> np.ndarray:
    """coefficient x (value - the series' mean value), summed over the regressors, for each row."""
    means = rows[["unique_id"]].merge(effect.means, on="unique_id", how="left", suffixes=("", "_mean"))
    total = np.zeros(len(rows))
    for name, c, lo, hi in zip(effect.names, effect.coefficients, effect.low, effect.high, strict=True):
        value = np.clip(rows[name].to_numpy(dtype=float), lo, hi)
        total += c * (value - means[name].to_numpy(dtype=float))
    return total


def adjust(train: pd.DataFrame, effect: Effect) -> pd.DataFrame:
    """unique_id, ds, y: the history with the regressors' effect taken out (as at each series' mean value)."""
    out = train[["unique_id", "ds", "y"]].copy()
    out["y"] = (1 + train["y"].to_numpy(dtype=float)) * np.exp(-exponent(train, effect)) - 1
    return out


def future_values(
    data: pd.DataFrame, train: pd.DataFrame, fc: pd.DataFrame, regressors: dict[str, str]
) -> pd.DataFrame:
    """unique_id, ds and each regressor for the forecast's rows: a `planned` one's from `data` (the plan),
    a `last` one's the series' last value in `train` (nothing after the origin)."""
    from companybrain.factory.forecasting import ForecastError

    names, planned = list(regressors), [n for n, kind in regressors.items() if kind == "planned"]
    out = fc[["unique_id", "ds"]].merge(data[["unique_id", "ds", *planned]], on=["unique_id", "ds"], how="left")
    last = train.groupby("unique_id", sort=False)[names].last()
    for name, kind in regressors.items():
        held = out["unique_id"].map(last[name]).to_numpy(dtype=float)
        if kind == "last":
            out[name] = held
        elif out[name].isna().any():
            row = out.loc[out[name].isna()].iloc[0]
            raise ForecastError(
                f"planned regressor {name!r} has no value for unique_id={row['unique_id']!r} at {row['ds'].date()}",
                hint=f"record the plan of {name} over every forecast period, or declare it future: last",
            )
    return out


def restore(fc: pd.DataFrame, future: pd.DataFrame, effect: Effect) -> pd.DataFrame:
    """Each forecast and bound multiplied back by the regressors' factor at its future value."""
    rows = fc[["unique_id", "ds"]].merge(future, on=["unique_id", "ds"], how="left")
    factor = np.exp(exponent(rows, effect))
    out = fc.copy()
    for column in [c for c in fc.columns if c not in ("unique_id", "ds")]:
        out[column] = (1 + fc[column].to_numpy(dtype=float)) * factor - 1
    return out


def member_forecasts_with(
    data: pd.DataFrame, origin: Any, job: Any, regressors: dict[str, str], plan: pd.DataFrame | None = None
) -> pd.DataFrame:
    """The members' forecasts from `origin`, fitted on `data`'s rows dated at or before it, with the
    regressors' planned values read from `plan` (default: `data`'s own rows after the origin)."""
    from companybrain.factory.forecast_models import member_forecasts
    from companybrain.factory.forecasting import ForecastError

    train = data[data["ds"] <= origin]
    if not regressors:
        return member_forecasts(train[["unique_id", "ds", "y"]], job)
    plan = data if plan is None else plan
    planned = [name for name, kind in regressors.items() if kind == "planned"]
    missing = [c for c in ("unique_id", "ds", *planned) if c not in plan.columns]
    if missing:
        raise ForecastError(
            f"the regressors' future values lack column(s) {', '.join(missing)}",
            hint="give unique_id, ds and one column per regressor for every forecast period",
        )
    effect = fit(train, tuple(regressors))
    fc = member_forecasts(adjust(train, effect), job)
    return restore(fc, future_values(plan, train, fc, regressors), effect)

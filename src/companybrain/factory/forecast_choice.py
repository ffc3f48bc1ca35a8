"""What the forecaster chooses, and how its intervals are calibrated: both on the training window only.

A *window* is a rolling origin inside the data the forecaster is given: every candidate member
forecasts `horizon` periods from there, and the actuals of those periods are known. From a set of
windows, `choose` picks the ensemble's members (the mean, or median, of the subset of candidates with
the lowest sMAPE over every window point) and calibrates the chosen forecast's intervals by split
conformal prediction, per horizon step: each actual's distance from the forecast in units of the
interval's half-width is a score, and the step's factor is the conformal quantile of those scores
(the ceil((n + 1) L)-th smallest of n), so that about L% of new actuals fall within the factor times
the half-width. The series are pooled (each scored against its own interval width, so wide series do
not swamp narrow ones); neighbouring steps are pooled until a step has MIN_POINTS scores.

The backtest (forecasting.cross_validate) makes this choice again before every fold from windows
that end at or before the fold's origin, so the reported figures are for the whole procedure, and
the version it registers carries the choice made on all the windows of the history.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from companybrain.factory.forecast_models import member_columns

if TYPE_CHECKING:
    import pandas as pd

# residuals behind each horizon step's calibration factor (neighbouring steps pooled until reached)
MIN_POINTS = 200


@dataclass
class Choice:
    """The ensemble's members, how they combine, and the interval factor of each level and step."""

    members: list[str]
    combine: str = "mean"
    factors: dict[str, list[float]] = field(default_factory=dict)
    report: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"members": self.members, "combine": self.combine, "factors": self.factors, "report": self.report}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Choice:
        members, factors = list(data["members"]), dict(data.get("factors", {}))
        return cls(members, data.get("combine", "mean"), factors, data.get("report", {}))


def combine(fc: pd.DataFrame, members: list[str], how: str, levels: list[int] | tuple[int, ...]) -> pd.DataFrame:
    """unique_id, ds, forecast, lo_<level>, hi_<level>: the members' forecasts and bounds combined.

    Averaging the members' quantiles is the usual way to combine an ensemble's intervals (Lichtendahl,
    Grushka-Cockayne & Winkler 2013); pandas skips a member's NaN.
    """
    out = fc[["unique_id", "ds"]].copy()

    def combined(columns: list[str]) -> np.ndarray:
        values = fc[columns]
        if len(columns) == 1:
            return values.iloc[:, 0].to_numpy(dtype=float)
        return (values.median(axis=1) if how == "median" else values.mean(axis=1)).to_numpy(dtype=float)

    out["forecast"] = combined(members)
    for level in levels:
        out[f"lo_{level}"] = combined([f"{m}-lo-{level}" for m in members])
        out[f"hi_{level}"] = combined([f"{m}-hi-{level}" for m in members])
    return out


def steps(frame: pd.DataFrame) -> np.ndarray:
    """1-based horizon step of each row of a forecast frame (rows per series in date order)."""
    ordered = frame.sort_values(["unique_id", "ds"], kind="stable")
    step = ordered.groupby("unique_id", sort=False).cumcount().to_numpy() + 1
    out = np.empty(len(frame), dtype=int)
    out[frame.index.get_indexer(ordered.index)] = step
    return out


def calibrate(fc: pd.DataFrame, factors: dict[str, list[float]], levels: list[int] | tuple[int, ...]) -> pd.DataFrame:
    """The combined forecast with each interval's half-width multiplied by its level's factor at the
    row's horizon step (beyond the calibrated steps, the last step's factor)."""
    if not factors:
        return fc
    out = fc.reset_index(drop=True)
    step = steps(out)
    point = out["forecast"].to_numpy(dtype=float)
    for level in levels:
        given = factors.get(str(level))
        if not given:
            continue
        factor = np.asarray(given, dtype=float)[np.minimum(step, len(given)) - 1]
        half = _half(out, level)
        out[f"lo_{level}"] = point - factor * half
        out[f"hi_{level}"] = point + factor * half
    return out


def choose(
    windows: pd.DataFrame,
    *,
    candidates: list[str],
    fixed: list[str] | None,
    how: str,
    levels: list[int] | tuple[int, ...],
    horizon: int,
) -> Choice:
    """Members and interval factors from window forecasts (columns: window, unique_id, ds, y, step and
    every candidate's columns). `fixed` members are kept as given; only their intervals are calibrated."""
    pool = fixed or candidates
    if windows.empty:
        return Choice(
            list(pool),
            how,
            {},
            {"windows": 0, "note": "no earlier window: members as given, intervals as the models give them"},
        )
    y = windows["y"].to_numpy(dtype=float)
    options = (
        [list(fixed)] if fixed else [list(c) for r in range(1, len(pool) + 1) for c in itertools.combinations(pool, r)]
    )
    scored = []
    for members in options:
        point = combine(windows, members, how, [])["forecast"].to_numpy()
        scored.append((_smape(y, point), members))
    best_smape, members = min(scored, key=lambda item: item[0])
    fc = combine(windows, members, how, levels)
    factors = {str(level): _factors(fc, y, windows["step"].to_numpy(), level, horizon) for level in levels}
    report = {
        "windows": int(windows["window"].nunique()),
        "points": len(windows),
        "members": members,
        "window_smape": round(best_smape, 4),
        "candidates": {"+".join(m): round(s, 4) for s, m in sorted(scored, key=lambda item: item[0])[:8]},
        "raw_coverage": {str(level): _coverage(fc, y, level) for level in levels},
    }
    return Choice(members, how, factors, report)


def _half(fc: pd.DataFrame, level: int) -> np.ndarray:
    return (fc[f"hi_{level}"].to_numpy(dtype=float) - fc[f"lo_{level}"].to_numpy(dtype=float)) / 2


def _factors(fc: pd.DataFrame, y: np.ndarray, step: np.ndarray, level: int, horizon: int) -> list[float]:
    point = fc["forecast"].to_numpy(dtype=float)
    half = _half(fc, level)
    usable = np.isfinite(half) & (half > 0) & np.isfinite(point)
    scores, at = np.abs(y - point)[usable] / half[usable], step[usable]
    if len(scores) == 0:
        return []
    factors = []
    for j in range(1, horizon + 1):
        reach = 0
        chosen = scores[at == j]
        while len(chosen) < MIN_POINTS and reach < horizon:
            reach += 1
            chosen = scores[np.abs(at - j) <= reach]
        factors.append(round(_conformal_quantile(chosen, level / 100), 4))
    return factors


def _conformal_quantile(scores: np.ndarray, level: float) -> float:
    """The ceil((n + 1) level)-th smallest score: at least `level` coverage for an exchangeable new point."""
    n = len(scores)
    rank = math.ceil((n + 1) * level)
    ordered = np.sort(scores)
    return float(ordered[min(rank, n) - 1])


def _coverage(fc: pd.DataFrame, y: np.ndarray, level: int) -> float:
    inside = (y >= fc[f"lo_{level}"].to_numpy()) & (y <= fc[f"hi_{level}"].to_numpy())
    return round(float(inside.mean()), 4) if len(y) else float("nan")


def _smape(y: np.ndarray, f: np.ndarray) -> float:
    denom = np.abs(y) + np.abs(f)
    terms = np.divide(200.0 * np.abs(y - f), denom, out=np.zeros_like(denom), where=denom > 0)
    return float(np.nanmean(terms)) if len(terms) else float("nan")


def window_frame(test: pd.DataFrame, fc: pd.DataFrame, window: int, members: list[str], levels: Any) -> pd.DataFrame:
    """One window's forecasts next to its actuals, with the horizon step of each row."""
    columns = ["unique_id", "ds", *[c for m in members for c in member_columns(m, levels)]]
    scored = test[["unique_id", "ds", "y"]].merge(fc[columns], on=["unique_id", "ds"])
    scored.insert(0, "step", steps(scored) if len(scored) else np.array([], dtype=int))
    scored.insert(0, "window", window)
    return scored

"""Hierarchical forecasts (site -> region -> company): the series summed to the levels a use case
declares, every node forecast, and the forecasts reconciled so that they add up.

The bottom level is the series as declared (`series.by`); each declared level keeps some of those
dimensions and sums over the others (`[]` is the total). With S the summing matrix (every node as a
sum of bottom series) and y^ the nodes' own forecasts of one period, the reconciled forecasts are
S P y^: bottom-up takes P = [0 I] (the bottom forecasts summed), and the others the projection
P = (S' W^-1 S)^-1 S' W^-1 of every level's forecasts onto the coherent ones (Wickramasuriya,
Athanasopoulos & Hyndman 2019): OLS with W = I, `wls_struct` with W = diag(S 1) (a node's number of
bottom series), `wls_var` with W = diag(each node's forecast variance), read from the half-width of
its own calibrated interval at that period. OLS and structural weights move every bottom series by
similar amounts whatever its size; variance weights put the adjustment where the forecast is least
sure. A bottom forecast below zero for a metric that never was is set to zero before summing,
so the levels still add up. Each interval keeps its node's calibrated half-width around the reconciled
forecast.

Pure functions over the long frames of factory/forecasting.py; node ids keep every dimension's place
in the series id, with ALL where a level sums over it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from companybrain.factory import forecasting

if TYPE_CHECKING:
    import pandas as pd

ALL = "(all)"
METHODS = ("bottom_up", "ols", "wls_struct", "wls_var")


@dataclass(frozen=True)
class Structure:
    """The nodes of every level, bottom first, and the summing matrix S (nodes x bottom series)."""

    nodes: list[str]
    level_of: dict[str, str]
    bottom: list[str]
    summing: np.ndarray

    def restricted(self, bottom: Sequence[str]) -> Structure:
        """The same hierarchy over some of the bottom series (a fold before every series had started)."""
        keep = [self.bottom.index(b) for b in bottom]
        sub = self.summing[:, keep]
        rows = np.flatnonzero(sub.sum(axis=1) > 0)
        nodes = [self.nodes[i] for i in rows]
        return Structure(nodes, {n: self.level_of[n] for n in nodes}, list(bottom), sub[rows])


def level_name(dims: Sequence[str], kept: Sequence[str]) -> str:
    return "+".join(kept) if kept else "total"


def structure(series_ids: Sequence[str], dims: Sequence[str], levels: Sequence[Sequence[str]]) -> Structure:
    """The hierarchy of `series_ids` (values of `dims` joined by forecast_line's separator) summed to each
    level (the dimensions it keeps); the bottom level is the series themselves."""
    from companybrain.factory.forecast_line import SEPARATOR

    bottom = sorted(series_ids)
    parts = [b.split(SEPARATOR) for b in bottom]
    nodes, level_of, rows = list(bottom), dict.fromkeys(bottom, level_name(dims, dims)), list(np.eye(len(bottom)))
    for kept in levels:
        keep = [d in kept for d in dims]
        name = level_name(dims, [d for d in dims if d in kept])
        ids = [SEPARATOR.join(v if k else ALL for v, k in zip(p, keep, strict=True)) for p in parts]
        for node in sorted(set(ids)):
            if node in level_of:  # a level equal to another (or to the bottom) adds nothing
                continue
            nodes.append(node)
            level_of[node] = name
            rows.append(np.array([1.0 if i == node else 0.0 for i in ids]))
    return Structure(nodes, level_of, bottom, np.vstack(rows))


def aggregate(data: pd.DataFrame, hierarchy: Structure) -> pd.DataFrame:
    """unique_id, ds, y of every node: the bottom series summed (a series not started yet counts 0)."""
    import pandas as pd

    wide = data.pivot(index="ds", columns="unique_id", values="y").reindex(columns=hierarchy.bottom)
    started = wide.notna().to_numpy()
    values = hierarchy.summing @ np.nan_to_num(wide.to_numpy(dtype=float)).T
    live = (hierarchy.summing @ started.T.astype(float)) > 0
    frame = pd.DataFrame(values.T, index=wide.index, columns=hierarchy.nodes)
    frame = frame.where(live.T)
    out = frame.reset_index().melt(id_vars="ds", var_name="unique_id", value_name="y").dropna(subset=["y"])
    return out[["unique_id", "ds", "y"]].sort_values(["unique_id", "ds"], ignore_index=True)


def projection(summing: np.ndarray, method: str, variances: np.ndarray | None = None) -> np.ndarray:
    """P of the method: the bottom series' reconciled forecasts are P y^ (`variances`: one per node,
    for wls_var)."""
    n_nodes, n_bottom = summing.shape
    if method == "bottom_up":
        return np.hstack([np.eye(n_bottom), np.zeros((n_bottom, n_nodes - n_bottom))])
    if method == "ols":
        weights = np.ones(n_nodes)
    elif method == "wls_var" and variances is not None:
        weights = 1.0 / np.maximum(variances, 1e-9 * max(float(np.nanmax(variances)), 1e-12))
    else:
        weights = 1.0 / summing.sum(axis=1)
    weighted = summing.T * weights
    return np.asarray(np.linalg.solve(weighted @ summing, weighted))


def reconcile(fc: pd.DataFrame, hierarchy: Structure, method: str, nonnegative: bool = True) -> pd.DataFrame:
    """The nodes' forecasts (unique_id, ds, forecast, lo_/hi_<level>, ...) reconciled per period: every
    node's forecast becomes the sum of its reconciled bottom series; intervals move with it."""
    bottom = [b for b in hierarchy.bottom if b in set(fc["unique_id"])]
    part = hierarchy.restricted(bottom) if len(bottom) < len(hierarchy.bottom) else hierarchy
    wide = fc.pivot(index="ds", columns="unique_id", values="forecast").reindex(columns=part.nodes)
    base = wide.to_numpy(dtype=float).T  # nodes x periods
    # a node a fold cannot forecast (no history yet) takes the sum of its bottom series' forecasts
    bottom_sum = part.summing @ np.nan_to_num(base[: len(bottom)])
    base = np.where(np.isnan(base), bottom_sum, base)
    if method == "wls_var":
        # each node's forecast variance from its own interval: the half-width of the narrowest level
        level = min(int(c[3:]) for c in fc.columns if c.startswith("lo_"))
        width = fc.assign(_half=(fc[f"hi_{level}"] - fc[f"lo_{level}"]) / 2)
        half = width.pivot(index="ds", columns="unique_id", values="_half").reindex(columns=part.nodes)
        variances = np.square(half.to_numpy(dtype=float).T)
        structural = part.summing.sum(axis=1, keepdims=True) * np.nanmean(variances[: len(bottom)])
        variances = np.where(np.isfinite(variances) & (variances > 0), variances, structural)
        reconciled_bottom = np.column_stack(
            [projection(part.summing, method, variances[:, t]) @ base[:, t] for t in range(base.shape[1])]
        )
    else:
        reconciled_bottom = projection(part.summing, method) @ base
    if nonnegative:
        reconciled_bottom = np.clip(reconciled_bottom, 0.0, None)
    reconciled = part.summing @ reconciled_bottom
    shift = (reconciled - base).T
    moved = wide.copy()
    moved[:] = shift
    delta = moved.reset_index().melt(id_vars="ds", var_name="unique_id", value_name="_shift")
    out = fc.merge(delta, on=["unique_id", "ds"], how="left")
    columns = ["forecast", *[c for c in fc.columns if c.startswith(("lo_", "hi_"))]]
    for column in columns:
        out[column] = out[column] + out["_shift"].fillna(0.0)
    return out.drop(columns="_shift")


def score_levels(
    cv: pd.DataFrame, hierarchy: Structure, method: str, nonnegative: bool, model: str, intervals: Sequence[int]
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """A cross_validate frame of every node reconciled fold by fold, and each level's figures before
    (`base`) and after (`reconciled`) reconciliation, next to the seasonal-naive baseline."""
    import pandas as pd

    reconciled = pd.concat(
        [reconcile(rows, hierarchy, method, nonnegative) for _, rows in cv.groupby("fold", sort=True)],
        ignore_index=True,
    )

    def figures(frame: pd.DataFrame) -> dict[str, Any]:
        return forecasting.score_cross_validation(frame, model=model, levels=intervals)["metrics"]

    per_level: dict[str, Any] = {}
    for name in dict.fromkeys(hierarchy.level_of.values()):
        ids = [n for n, lv in hierarchy.level_of.items() if lv == name]
        base = figures(cv[cv["unique_id"].isin(ids)])
        after = figures(reconciled[reconciled["unique_id"].isin(ids)])
        per_level[name] = {
            "nodes": len(ids),
            "base": base["model"],
            "reconciled": after["model"],
            "baseline": base["baseline"],
        }
    return reconciled, per_level


def backtest(
    data: pd.DataFrame,
    *,
    dims: Sequence[str],
    levels: Sequence[Sequence[str]],
    method: str,
    model: str,
    horizon: int,
    season_length: int,
    freq: str,
    folds: int,
    params: dict[str, Any] | None = None,
    intervals: Sequence[int] = (80, 95),
    windows: int = forecasting.DEFAULT_WINDOWS,
    n_jobs: int | None = None,
) -> dict[str, Any]:
    """The rolling-origin backtest of every node, before and after reconciliation, per level. The
    report's own figures (`metrics`, `per_fold`) are the bottom level's, reconciled: the series as
    declared, as the version forecasts them."""
    hierarchy = structure(sorted(data["unique_id"].unique()), dims, levels)
    nodes = aggregate(data, hierarchy)
    cv = forecasting.cross_validate(
        nodes,
        model=model,
        horizon=horizon,
        season_length=season_length,
        freq=freq,
        folds=folds,
        params=params,
        levels=intervals,
        n_jobs=n_jobs,
        windows=windows,
    )
    reconciled, per_level = score_levels(cv, hierarchy, method, bool((data["y"] >= 0).all()), model, intervals)
    bottom = reconciled[reconciled["unique_id"].isin(hierarchy.bottom)]
    report = forecasting.score_cross_validation(bottom, model=model, levels=intervals)
    settings = {"horizon": horizon, "season_length": season_length, "freq": freq, "windows": windows}
    report = forecasting.with_choices(report, cv, **settings)
    return report | {"hierarchy": {"method": method, "levels": per_level}}

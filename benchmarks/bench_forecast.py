"""Forecasting target (factory/forecasting): 10,000 weekly series forecast 13 weeks ahead through the
factory in <= 1.2x the time of calling the underlying library directly on the same data.

The series are synthetic and seeded: three years of weeks, each with its own level, trend, yearly
season (of varying strength, a quarter with none) and noise. The factory runs `fit_predict` with its
default forecaster (the mean of AutoETS, DynamicOptimizedTheta and Theta) and 80/95% intervals; it
checks the input, tests each series for a season, takes it out with STL where there is one, fits the
three models on statsforecast and combines them. The direct runs hand the same frame to statsforecast
with the same three models and intervals, averaged the same way, in two forms:

- mstl: the library's own way to give these models a 52-week season (MSTL), i.e. the same job;
- plain: the models alone with no season at all, the least work the library can do on this data.

Wall time on a shared machine is noisy; CPU time (this process and its worker processes) is printed
next to it.

Usage: python benchmarks/bench_forecast.py [--series 10000] [--weeks 156] [--n-jobs 2]
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable

import numpy as np
import pandas as pd

from companybrain.factory.forecasting import fit_predict

HORIZON = 13
SEASON = 52
LEVELS = [80, 95]
TARGET_RATIO = 1.2
REFERENCES = {
    "mstl": "the same models with MSTL for the season",
    "plain": "the same models, no season (least work)",
}


def weekly_series(n_series: int, weeks: int, seed: int) -> pd.DataFrame:
    """Level + trend + yearly season + noise, one row per series and week (Mondays)."""
    rng = np.random.default_rng(seed)
    t = np.arange(weeks)
    level = rng.uniform(50, 500, (n_series, 1))
    trend = rng.normal(0, 0.002, (n_series, 1)) * level * t
    strength = rng.choice([0.0, 0.1, 0.25, 0.4], (n_series, 1))
    season = strength * level * np.sin(2 * np.pi * (t + rng.integers(0, SEASON, (n_series, 1))) / SEASON)
    noise = rng.normal(0, 0.08, (n_series, weeks)) * level
    y = np.maximum(level + trend + season + noise, 0.0)
    ds = pd.date_range("2022-01-03", periods=weeks, freq="W-MON")
    return pd.DataFrame(
        {
            "unique_id": np.repeat([f"family_{i:05d}" for i in range(n_series)], weeks),
            "ds": np.tile(ds.to_numpy(), n_series),
            "y": y.ravel(),
        }
    )


def direct(df: pd.DataFrame, n_jobs: int, reference: str) -> pd.DataFrame:
    """The same three models straight on statsforecast, averaged the same way.

    `mstl`: the library's own way to give them a 52-week season (MSTL: STL, then the model on the
    seasonally adjusted series). `plain`: the models alone, no season - the least work possible.
    """
    from statsforecast import StatsForecast
    from statsforecast.models import MSTL, AutoETS, DynamicOptimizedTheta, Theta

    if reference == "mstl":
        models = [
            MSTL(SEASON, trend_forecaster=AutoETS(model="ZZN"), alias="ets"),
            MSTL(SEASON, trend_forecaster=DynamicOptimizedTheta(), alias="dotm"),
            MSTL(SEASON, trend_forecaster=Theta(), alias="theta"),
        ]
    else:
        models = [AutoETS(alias="ets"), DynamicOptimizedTheta(alias="dotm"), Theta(alias="theta")]
    fc = StatsForecast(models=models, freq="W-MON", n_jobs=n_jobs).forecast(df=df, h=HORIZON, level=LEVELS)
    members = ["ets", "dotm", "theta"]
    out = fc[["unique_id", "ds"]].assign(forecast=fc[members].mean(axis=1))
    for level in LEVELS:
        out[f"lo_{level}"] = fc[[f"{m}-lo-{level}" for m in members]].mean(axis=1)
        out[f"hi_{level}"] = fc[[f"{m}-hi-{level}" for m in members]].mean(axis=1)
    return out


def factory(df: pd.DataFrame, n_jobs: int) -> pd.DataFrame:
    return fit_predict(
        df, model="ensemble", horizon=HORIZON, season_length=SEASON, freq="W-MON", levels=LEVELS, n_jobs=n_jobs
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--series", type=int, default=10_000)
    parser.add_argument("--weeks", type=int, default=156)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--n-jobs", type=int, default=len(os.sched_getaffinity(0)))
    parser.add_argument("--reference", nargs="+", choices=sorted(REFERENCES), default=["mstl", "plain"])
    args = parser.parse_args()

    df = weekly_series(args.series, args.weeks, args.seed)
    print(f"{args.series:,} weekly series x {args.weeks} weeks ({len(df):,} rows), h={HORIZON}, {args.n_jobs} jobs")
    # compile and import once, outside the timings
    warm = weekly_series(8, args.weeks, args.seed + 1)
    for reference in args.reference:
        direct(warm, 1, reference)
    factory(warm, 1)

    ours, factory_wall, factory_cpu = timed(lambda: factory(df, args.n_jobs))
    assert len(ours) == args.series * HORIZON
    print(f"{'':<66} {'wall s':>8} {'CPU s':>8}")
    print(f"{'factory fit_predict(model=ensemble)':<66} {factory_wall:>8.1f} {factory_cpu:>8.1f}")
    for reference in args.reference:
        library, wall, cpu = timed(lambda reference=reference: direct(df, args.n_jobs, reference))
        assert len(library) == len(ours)
        name = f"statsforecast directly, {REFERENCES[reference]}"
        ratio = factory_wall / wall
        verdict = "MET" if ratio <= TARGET_RATIO else "MISSED"
        print(f"{name:<66} {wall:>8.1f} {cpu:>8.1f}")
        print(
            f"  factory / this: {ratio:.2f}x wall, {factory_cpu / cpu:.2f}x CPU (target <= {TARGET_RATIO}x: {verdict})"
        )


def timed(run: Callable[[], pd.DataFrame]) -> tuple[pd.DataFrame, float, float]:
    """The result, wall seconds and CPU seconds (this process and its finished workers)."""
    cpu_before, started = os.times(), time.perf_counter()
    result = run()
    wall, cpu_after = time.perf_counter() - started, os.times()
    return result, wall, sum(cpu_after[:4]) - sum(cpu_before[:4])


if __name__ == "__main__":
    main()

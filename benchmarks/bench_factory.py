"""The whole demo factory: train and score the five demo use cases at medium scale, against 5 minutes.

    python benchmarks/bench_factory.py [--project DIR] [--scale medium]

Without --project it generates, ingests and builds the demo first (not timed). Prints the time of
each use case's training and scoring, the total next to the target, and each backtest against its
baseline (the figures the README quotes): every figure is held out - whatever the factory chooses
(ensemble members, interval calibration, model family, parameters) it chooses inside each training
window. For the forecast, the share of the backtest's actuals inside the 80% and 95% intervals; for
lead scoring, how often each feature is named among the reasons of the scored opportunities.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

TARGET_SECONDS = 300.0
METRICS = {
    "forecast": ["smape", "mase", "coverage_80", "coverage_95"],
    "classify": ["roc_auc", "average_precision", "brier"],
    "anomaly": ["flagged_share"],
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--project", type=Path, help="An ingested and built demo project (default: generate one).")
    parser.add_argument("--scale", default="medium", choices=["small", "medium", "large"])
    args = parser.parse_args()
    from companybrain import Brain, factory

    root = args.project
    if root is None:
        from companybrain.demo.generate import generate_demo

        root = Path(tempfile.mkdtemp()) / "acme"
        print(f"generating the {args.scale} demo in {root} (not timed) ...", flush=True)
        generate_demo(root, scale=args.scale, seed=7)
        with Brain.open(root) as brain:
            brain.ingest()
            brain.build()
    for stale in (root / ".brain" / "mlflow.db", root / ".brain" / "mlruns"):
        if stale.is_dir():
            shutil.rmtree(stale)
        elif stale.exists():
            stale.unlink()
    with Brain.open(root) as brain:
        started = time.perf_counter()
        trained = factory.train(brain)
        scored = factory.score(brain)
        total = time.perf_counter() - started
    print(f"{'use case':<22} {'train s':>8} {'score s':>8}  backtest (model vs baseline)")
    for t, s in zip(trained, scored, strict=True):
        if t["status"] != "ok":
            print(f"{t['usecase']:<22} failed: {t['error']}")
            continue
        bt = t["backtest"]
        keys = [k for k in METRICS[t["task"]] if k in bt["model"]]
        figures = "; ".join(f"{k} {bt['model'][k]:.4f} vs {bt['baseline'][k]:.4f}" for k in keys)
        score_s = f"{s['seconds']:.1f}" if s["status"] == "ok" else "-"
        print(f"{t['usecase']:<22} {t['seconds']:>8.1f} {score_s:>8}  {figures}  [v{t['version']} {t['promotion']}]")
    print(
        f"whole factory (train + score, {len(trained)} use cases): {total:.1f} s; target <= {TARGET_SECONDS:.0f} s "
        f"({'met' if total <= TARGET_SECONDS else 'NOT met'})"
    )
    with Brain.open(root) as brain:
        quality_drift_check(brain, root)
        reasons_named(brain)
        drift_now(brain)


def reasons_named(brain: Any) -> None:
    """Lead scoring: the share of scored opportunities whose reasons name each feature (the plays and the
    account tiers move the win rate; region, industry and amount do not)."""
    from collections import Counter

    rows = brain.objects("Opportunity", where="win_probability IS NOT NULL", limit=None, user="sales_model")
    named: Counter[str] = Counter()
    for row in rows:
        for part in (row["win_probability_reasons"] or "").split("; "):
            if part:
                named[part.split("=")[0]] += 1
    with_reasons = sum(1 for r in rows if r["win_probability_reasons"])
    shares = ", ".join(f"{k} {v / len(rows):.0%}" for k, v in named.most_common())
    print(f"lead scoring reasons over {len(rows)} scored opportunities ({with_reasons} with any): {shares}")


def drift_now(brain: Any) -> None:
    """machine_failure_risk's drift as `factory show` reports it (today, 2026-03-01, is a Sunday)."""
    from companybrain import factory

    drift = factory.show(brain, "machine_failure_risk").get("drift", {})
    worst = sorted(drift.items(), key=lambda kv: -kv[1].get("psi", 0))[:3]
    print(
        "machine_failure_risk drift now: "
        + "; ".join(f"{k} PSI {v['psi']:.2f} (usual {v.get('usual_psi', 0):.2f}) {v['status']}" for k, v in worst)
    )


def quality_drift_check(brain: Any, root: Path) -> None:
    """The planted defect drift (ground_truth/quality_drift.json): ROC AUC of the anomaly scores at
    telling the drifting line's weeks (30 days after the drift began) from every other line-week of the
    backtest's holdout, for the champion and for the baseline (robust z-score of the monitored signal)."""
    import json

    import pandas as pd
    from sklearn.metrics import roc_auc_score

    from companybrain.factory.line import load_model, split
    from companybrain.factory.registry import Registry
    from companybrain.factory.tabular import TabularModel
    from companybrain.factory.training import AS_OF, KEY, training_set

    uc = brain.project.usecases["quality_anomaly"]
    data = training_set(brain, uc, brain.principal(uc.run_as))
    train, test = split(uc, data.frame)
    drift = json.loads((root / "ground_truth" / "quality_drift.json").read_text())
    since = pd.Timestamp(drift["start_date"]) + pd.Timedelta(days=30)
    truth = (test[KEY] == drift["line_id"]) & (test[AS_OF] >= since)
    registry = Registry(brain.project)
    model = load_model(registry, registry.get("quality_anomaly"))
    baseline = TabularModel("robust_zscore", "anomaly", data.features[:1], []).fit(train, None, {})
    print(
        f"planted defect drift on {drift['line_id']}: ROC AUC over {len(test)} holdout line-weeks "
        f"{roc_auc_score(truth, model.predict(test)):.4f} (model) vs {roc_auc_score(truth, baseline.predict(test)):.4f}"
        " (robust z-score of the 90-day defect rate)"
    )


if __name__ == "__main__":
    main()

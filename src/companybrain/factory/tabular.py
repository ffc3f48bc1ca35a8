"""Model families for entity use cases (classify, regress, anomaly), each with its top reasons.

LightGBM and scikit-learn do the learning; this module only gives them one shape: fit on a
frame of features, score a frame, and explain each score by the features that pushed it most
(LightGBM's own TreeSHAP contributions, or coefficient x standardized value for linear models,
or the largest robust z-scores for anomalies), naming a feature only where its effect is material:
it moves the probability (or the predicted value) by at least `min_effect`, and the reason says by how
much. `params` reach every family (an ensemble hands each member the keys it takes); a calibrator,
fitted by factory/selection.py on the training window, maps a classifier's scores to probabilities.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from companybrain.factory.params import LINEAR, for_family

SEED = 0
TOP_REASONS = 3
# a reason is named when it moves the score by at least this share of the spread (standard deviation)
# of the scores over the training rows, and for a probability by at least one percentage point
MATERIAL_SHARE = 0.25
MATERIAL_POINTS = 0.01
# an anomaly reason: a feature at least this many robust standard deviations from its training median
MATERIAL_Z = 2.0
SPREAD_SAMPLE = 20_000  # training rows whose scores' spread sets the default materiality
LIGHTGBM_DEFAULTS: dict[str, Any] = {
    # small, regularized trees: company data is noisy and positives are rare
    "n_estimators": 400,
    "learning_rate": 0.02,
    "num_leaves": 15,
    "min_child_samples": 100,
    "reg_lambda": 5.0,
    "subsample": 0.8,
    "subsample_freq": 1,
    "colsample_bytree": 0.9,
    "random_state": SEED,
    "n_jobs": 1,  # OpenMP threads spin when cores are shared: one is faster on a busy 2-core host
    "verbose": -1,
}
FOREST_DEFAULTS: dict[str, Any] = {"n_estimators": 300, "min_samples_leaf": 20, "n_jobs": 1, "random_state": SEED}


@dataclass
class TabularModel:
    """A fitted model with what it needs to score new rows the same way."""

    family: str
    task: str
    features: list[str]
    categorical: list[str]
    estimator: Any = None
    categories: dict[str, list[str]] = field(default_factory=dict)
    stats: dict[str, Any] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)
    # (method, fitted map) from raw scores to probabilities, or None
    calibrator: tuple[str, Any] | None = None

    # --- fit and score ----------------------------------------------------------------------

    def fit(self, frame: pd.DataFrame, label: np.ndarray | None, params: dict[str, Any]) -> TabularModel:
        """Fit on the rows of `frame` (and their labels); `params` as the use case gives them."""
        self.categories = {c: sorted(frame[c].dropna().astype(str).unique().tolist()) for c in self.categorical}
        self.params = dict(params)
        x = self._matrix(frame)
        if self.family == "lightgbm":
            import lightgbm as lgb

            cls = lgb.LGBMClassifier if self.task == "classify" else lgb.LGBMRegressor
            self.estimator = cls(**(LIGHTGBM_DEFAULTS | params)).fit(x, label)
        elif self.family == "ensemble":
            self.estimator = [
                TabularModel(family, self.task, self.features, self.categorical).fit(
                    frame, label, for_family(self.task, family, params)
                )
                for family in ("lightgbm", LINEAR[self.task])
            ]
        elif self.family in ("logistic_regression", "linear_regression"):
            self.estimator = self._linear(params).fit(x, label)
        elif self.family == "random_forest":
            from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor

            rf = RandomForestClassifier if self.task == "classify" else RandomForestRegressor
            self.estimator = self._pipeline(rf(**(FOREST_DEFAULTS | params))).fit(x, label)
        elif self.family == "isolation_forest":
            from sklearn.ensemble import IsolationForest

            forest = IsolationForest(**({"n_estimators": 300, "random_state": SEED, "n_jobs": 1} | params))
            self.estimator = self._pipeline(forest).fit(x)
            self.stats["train_scores"] = np.sort(-self.estimator.score_samples(x))
        elif self.family == "robust_zscore":
            numeric = x[self.features].astype(float)
            median = numeric.median()
            mad = (numeric - median).abs().median() * 1.4826
            self.stats.update(median=median.to_dict(), mad=mad.replace(0, np.nan).to_dict())
            self.stats["train_scores"] = np.sort(self._zscores(x).max(axis=1).fillna(0).to_numpy())
        else:
            raise ValueError(f"unknown model family {self.family!r}")
        if self.task != "anomaly":
            # a spread, not a figure: a sample of the training rows reads it as well as all of them (and
            # scoring 600,000 rows again cost a fifth of the attrition model's training)
            sample = frame.sample(n=SPREAD_SAMPLE, random_state=SEED) if len(frame) > SPREAD_SAMPLE else frame
            self.stats["score_sd"] = float(np.std(self.predict(sample))) if len(sample) > 1 else 0.0
        return self

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        """Probability of the positive class, the predicted value, or the anomaly score (0..1)."""
        return self.calibrate(self.raw_predict(frame))

    def calibrate(self, raw: np.ndarray) -> np.ndarray:
        """Raw classifier scores as calibrated probabilities (unchanged without a calibrator)."""
        if self.calibrator is None:
            return raw
        method, fitted = self.calibrator
        if method == "isotonic":
            return np.asarray(fitted.predict(raw), dtype=float)
        slope, intercept = fitted
        return np.asarray(1 / (1 + np.exp(-(slope * _logit(raw) + intercept))), dtype=float)

    def raw_predict(self, frame: pd.DataFrame) -> np.ndarray:
        """The model's own scores, before calibration."""
        x = self._matrix(frame)
        if self.family == "ensemble":
            return np.mean([member.predict(frame) for member in self.estimator], axis=0)
        threads = {"num_threads": 1} if self.family == "lightgbm" else {}
        if self.task == "classify":
            return np.asarray(self.estimator.predict_proba(x, **threads)[:, 1], dtype=float)
        if self.task == "regress":
            return np.asarray(self.estimator.predict(x, **threads), dtype=float)
        raw = (
            -self.estimator.score_samples(x)
            if self.family == "isolation_forest"
            else self._zscores(x).max(axis=1).fillna(0).to_numpy()
        )
        # the share of training rows less anomalous than this one: comparable across families
        train = self.stats["train_scores"]
        return np.searchsorted(train, raw, side="right") / len(train)

    def min_effect(self, given: float | None = None) -> float:
        """How much a feature must move a score to be named: `given`, else a share of the training scores'
        spread (a probability: at least one point), or MATERIAL_Z robust standard deviations (anomalies)."""
        if given is not None:
            return given
        if self.task == "anomaly":
            return MATERIAL_Z
        spread = MATERIAL_SHARE * float(self.stats.get("score_sd", 0.0))
        return max(spread, MATERIAL_POINTS) if self.task == "classify" else spread

    def reasons(self, frame: pd.DataFrame, top: int = TOP_REASONS, min_effect: float | None = None) -> list[str]:
        """Per row, the features that pushed the score up most and materially, each with how much: a
        probability in percentage points ('play=SP01 (+9.1 pts)'), a value in its units, an anomaly in
        robust standard deviations ('defect_rate_90d=0.061 (4.2 sd)')."""
        effects = self.effects(frame)
        floor = self.min_effect(min_effect)
        out = []
        values = frame[self.features]
        for i in range(len(frame)):
            order = np.argsort(-effects[i])[:top]
            parts = [
                f"{self.features[j]}={_fmt(values.iat[i, j])} ({self._say(effects[i, j])})"
                for j in order
                if effects[i, j] >= floor and effects[i, j] > 0
            ]
            out.append("; ".join(parts))
        return out

    def effects(self, frame: pd.DataFrame) -> np.ndarray:
        """Rows x features: how much each feature moved each score, in the score's own units (a
        probability's share, the predicted value, robust standard deviations for anomalies)."""
        contrib = self._contributions(self._matrix(frame))
        if self.task != "classify":
            return contrib
        # log-odds contributions as probability: the score against the score without this feature's push
        prob = np.clip(self.raw_predict(frame), 1e-9, 1 - 1e-9)
        margin = _logit(prob)[:, None]
        without = 1 / (1 + np.exp(-(margin - contrib)))
        calibrated = self.calibrate(prob)[:, None]
        return calibrated - self.calibrate(without.ravel()).reshape(without.shape)

    def _say(self, effect: float) -> str:
        if self.task == "classify":
            return f"+{100 * effect:.1f} pts"
        if self.task == "anomaly":
            return f"{effect:.1f} sd"
        return f"{effect:+.4g}"

    # --- internals --------------------------------------------------------------------------

    def _matrix(self, frame: pd.DataFrame) -> pd.DataFrame:
        x = frame[self.features].copy()
        for c in self.features:
            if c in self.categorical:
                x[c] = pd.Categorical(x[c].astype("string"), categories=self.categories.get(c, []))
            else:
                x[c] = pd.to_numeric(x[c], errors="coerce").astype(float)
        return x

    def _pipeline(self, estimator: Any) -> Any:
        from sklearn.compose import ColumnTransformer
        from sklearn.impute import SimpleImputer
        from sklearn.pipeline import Pipeline, make_pipeline
        from sklearn.preprocessing import OneHotEncoder, StandardScaler

        numeric = [f for f in self.features if f not in self.categorical]
        steps = [
            (
                "num",
                make_pipeline(SimpleImputer(strategy="median", keep_empty_features=True), StandardScaler()),
                numeric,
            )
        ]
        if self.categorical:
            encoder = OneHotEncoder(handle_unknown="ignore", sparse_output=False)
            steps.append(("cat", make_pipeline(SimpleImputer(strategy="most_frequent"), encoder), self.categorical))
        prep = ColumnTransformer(steps, verbose_feature_names_out=True)
        return Pipeline([("prep", prep), ("model", estimator)])

    def _linear(self, params: dict[str, Any]) -> Any:
        from sklearn.linear_model import LogisticRegression, Ridge

        if self.task == "classify":
            return self._pipeline(LogisticRegression(**({"max_iter": 2000} | params)))
        return self._pipeline(Ridge(**params))

    def _zscores(self, x: pd.DataFrame) -> pd.DataFrame:
        numeric = x[self.features].astype(float)
        median, mad = pd.Series(self.stats["median"]), pd.Series(self.stats["mad"])
        return ((numeric - median) / mad).abs()

    def _contributions(self, x: pd.DataFrame) -> np.ndarray:
        """Rows x features: how much each feature moved each score (log-odds for classifiers)."""
        if self.family == "ensemble":
            return np.mean([member._contributions(member._matrix(x)) for member in self.estimator], axis=0)
        if self.family == "lightgbm":
            return np.asarray(self.estimator.predict(x, pred_contrib=True, num_threads=1))[:, : len(self.features)]
        if self.family in ("logistic_regression", "linear_regression"):
            prep, model = self.estimator.named_steps["prep"], self.estimator.named_steps["model"]
            transformed = prep.transform(x)
            coef = np.ravel(model.coef_)
            names = prep.get_feature_names_out()
            parts = transformed * coef
            out = np.zeros((len(x), len(self.features)))
            for j, name in enumerate(names):
                kind, _, rest = name.partition("__")
                feature = rest if kind == "num" else next(c for c in self.categorical if rest.startswith(c + "_"))
                out[:, self.features.index(feature)] += parts[:, j]
            return out
        if self.family == "robust_zscore":
            return self._zscores(x).fillna(0).to_numpy()
        # isolation forest: how far each feature is from the training median, in robust units
        prep = self.estimator.named_steps["prep"]
        transformed = np.abs(prep.transform(x))
        names = list(prep.get_feature_names_out())
        out = np.zeros((len(x), len(self.features)))
        for j, name in enumerate(names):
            kind, _, rest = name.partition("__")
            if kind == "num":
                out[:, self.features.index(rest)] += transformed[:, j]
        return out


def _logit(p: np.ndarray) -> np.ndarray:
    clipped = np.clip(np.asarray(p, dtype=float), 1e-9, 1 - 1e-9)
    return np.asarray(np.log(clipped / (1 - clipped)))


def _fmt(value: Any) -> str:
    if isinstance(value, float | np.floating):
        return "n/a" if np.isnan(value) else f"{value:.4g}"
    return str(value)


def classification_metrics(label: np.ndarray, score: np.ndarray) -> dict[str, float]:
    """ROC AUC, average precision, Brier score, base rate and the lift of the top decile."""
    from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score

    label = label.astype(int)
    if len(np.unique(label)) < 2:
        return {"rows": float(len(label)), "base_rate": float(label.mean())}
    top = np.argsort(-score)[: max(len(score) // 10, 1)]
    return {
        "roc_auc": float(roc_auc_score(label, score)),
        "average_precision": float(average_precision_score(label, score)),
        "brier": float(brier_score_loss(label, np.clip(score, 0, 1))),
        "base_rate": float(label.mean()),
        "lift_top_decile": float(label[top].mean() / max(label.mean(), 1e-12)),
        "rows": float(len(label)),
    }


def regression_metrics(actual: np.ndarray, predicted: np.ndarray) -> dict[str, float]:
    err = predicted - actual
    total = float(((actual - actual.mean()) ** 2).sum())
    return {
        "mae": float(np.abs(err).mean()),
        "rmse": float(np.sqrt((err**2).mean())),
        "r2": float(1 - (err**2).sum() / total) if total > 0 else float("nan"),
        "rows": float(len(actual)),
    }

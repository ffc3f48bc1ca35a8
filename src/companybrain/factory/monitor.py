"""Monitoring: feature drift (population stability index) against the training data, and live
accuracy once the actuals of earlier scores have arrived.

Drift compares like with like. A use case with calendar snapshots learnt from every weekday (or
every week) of a year; today alone is one weekday of one season, and a Sunday's "yesterday" is a
Saturday. So "now" is the snapshots of the last DRIFT_WINDOW_DAYS (today's and those before it, at
the use case's own step), which hold the training's weekday mix, and each feature's PSI is read
against its *usual* PSI: the largest that a window of the same length inside the training period
showed against the whole of it (a feature with a yearly season moves that much month to month, and
the model learnt through it). A feature is shifted only beyond both the usual reading (0.25) and
its own usual range.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pyarrow as pa
from sqlglot import exp

from companybrain.factory.tabular import classification_metrics, regression_metrics
from companybrain.factory.training import AS_OF, KEY, _entities, _labels
from companybrain.ontology.model import FACTORY_SCHEMA
from companybrain.warehouse.ddl import create_table, table

if TYPE_CHECKING:
    from companybrain.brain import Brain
    from companybrain.factory.registry import Version
    from companybrain.specs.usecases import UseCase

BINS = 10
PSI_WARN, PSI_ALERT = 0.1, 0.25  # the usual reading: < 0.1 stable, 0.1-0.25 moderate, > 0.25 shifted
DRIFT_WINDOW_DAYS = 28  # four of every weekday
SCORE_LOG = table(FACTORY_SCHEMA, "score_log")
SCORE_LOG_COLUMNS = {
    "usecase": "string",
    "version": "integer",
    "as_of": "date",
    "entity_key": "string",
    "score": "float",
}


def profile(
    frame: pd.DataFrame, features: list[str], categorical: list[str], every_days: int | None = None
) -> dict[str, Any]:
    """Each feature's distribution in the training data (decile edges and shares, or category shares)
    and, for calendar snapshots (`every_days`), its usual PSI: the largest of the training's own
    DRIFT_WINDOW_DAYS windows against the whole."""
    out = _distributions(frame, features, categorical)
    if every_days is None or AS_OF not in frame or frame[AS_OF].nunique() < 2:
        return out
    as_of = pd.to_datetime(frame[AS_OF])
    last, first = as_of.max(), as_of.min()
    span = pd.Timedelta(days=max(DRIFT_WINDOW_DAYS, every_days))
    usual: dict[str, float] = {}
    end = last
    while end - span >= first - pd.Timedelta(days=1):
        rows = frame[(as_of > end - span) & (as_of <= end)]
        for name, found in drift(out, rows, features, categorical).items():
            usual[name] = max(usual.get(name, 0.0), found["psi"])
        end -= span
    for name, value in usual.items():
        out[name]["usual_psi"] = round(value, 4)
    out["_window"] = {"days": int(span.days), "every_days": every_days}
    return out


def _distributions(frame: pd.DataFrame, features: list[str], categorical: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in features:
        if name in categorical:
            shares = frame[name].astype("string").fillna("<missing>").value_counts(normalize=True)
            out[name] = {"kind": "categorical", "shares": {str(k): float(v) for k, v in shares.items()}}
            continue
        values = pd.to_numeric(frame[name], errors="coerce").to_numpy(dtype=float)
        finite = values[np.isfinite(values)]
        edges = np.unique(np.quantile(finite, np.linspace(0, 1, BINS + 1))) if len(finite) else np.array([])
        out[name] = {
            "kind": "numeric",
            "edges": edges[1:-1].tolist(),
            "shares": _shares(values, edges[1:-1]).tolist(),
            "missing": float(np.mean(~np.isfinite(values))) if len(values) else 0.0,
        }
    return out


def _shares(values: np.ndarray, inner_edges: np.ndarray) -> np.ndarray:
    finite = values[np.isfinite(values)]
    counts = np.bincount(np.searchsorted(inner_edges, finite, side="right"), minlength=len(inner_edges) + 1)
    return counts / max(len(finite), 1)


def psi(expected: np.ndarray, actual: np.ndarray) -> float:
    e = np.clip(np.asarray(expected, dtype=float), 1e-4, None)
    a = np.clip(np.asarray(actual, dtype=float), 1e-4, None)
    return float(np.sum((a - e) * np.log(a / e)))


def drift(train_profile: dict[str, Any], frame: pd.DataFrame, features: list[str], categorical: list[str]) -> dict:
    """PSI of every feature between the training data and the rows being scored."""
    found = {}
    for name in features:
        spec = train_profile.get(name)
        if spec is None:
            continue
        if spec["kind"] == "categorical":
            now = frame[name].astype("string").fillna("<missing>").value_counts(normalize=True)
            keys = sorted(set(spec["shares"]) | {str(k) for k in now.index})
            value = psi(
                np.array([spec["shares"].get(k, 0.0) for k in keys]), np.array([float(now.get(k, 0.0)) for k in keys])
            )
        else:
            values = pd.to_numeric(frame[name], errors="coerce").to_numpy(dtype=float)
            value = psi(np.array(spec["shares"]), _shares(values, np.array(spec["edges"])))
        usual = spec.get("usual_psi")
        beyond = value > usual if usual is not None else True
        found[name] = {
            "psi": round(value, 4),
            "status": "shifted"
            if value > PSI_ALERT and beyond
            else "moderate"
            if value > PSI_WARN and beyond
            else "stable",
        }
        if usual is not None:
            found[name]["usual_psi"] = usual
    return found


def window_as_ofs(train_profile: dict[str, Any], today: date) -> list[date]:
    """The as-of dates "now" stands for: today's and the earlier ones at the use case's step within the
    drift window (today alone for a use case without calendar snapshots)."""
    window = train_profile.get("_window")
    if not window:
        return [today]
    step = int(window["every_days"])
    return [today - timedelta(days=step * k) for k in range(max(1, int(window["days"]) // step))]


def log_scores(
    brain: Brain, uc: UseCase, version: Version, frame: pd.DataFrame, scores: np.ndarray, as_of: date
) -> None:
    """Keep every score with its as-of date, so that live accuracy can be measured when actuals arrive."""
    wh = brain.warehouse
    wh.ensure_schema(FACTORY_SCHEMA)
    wh.execute(create_table(SCORE_LOG, SCORE_LOG_COLUMNS))
    where = exp.and_(
        exp.column("usecase").eq(exp.Literal.string(uc.name)),
        exp.column("as_of").eq(exp.Cast(this=exp.Literal.string(as_of.isoformat()), to=exp.DataType.build("DATE"))),
    )
    rows = pa.table(
        {
            "usecase": pa.array([uc.name] * len(scores), pa.string()),
            "version": pa.array([version.version] * len(scores), pa.int64()),
            "as_of": pa.array([as_of] * len(scores), pa.date32()),
            "entity_key": pa.array(frame[KEY].astype(str).tolist(), pa.string()),
            "score": pa.array(scores, pa.float64()),
        }
    )
    with wh.transaction():
        wh.execute(exp.delete(SCORE_LOG, where=where))  # scoring twice on one day keeps the last
        wh.write_arrow(SCORE_LOG, rows, create=False)


def live_accuracy(brain: Brain, uc: UseCase) -> dict[str, Any]:
    """Accuracy of past scores whose horizon has passed, against what actually happened."""
    if uc.target is None or uc.target.outcome or not uc.target.horizon_days:
        return {"status": "not measurable", "reason": "no time-bound target to compare with"}
    wh = brain.warehouse
    if "score_log" not in wh.list_tables(FACTORY_SCHEMA):
        return {"status": "no scores yet"}
    today = brain.project.spec.today or date.today()
    ripe = today - timedelta(days=uc.target.horizon_days)
    log = wh.query_arrow(
        exp.select("version", "as_of", "entity_key", "score")
        .from_(SCORE_LOG)
        .where(exp.column("usecase").eq(exp.Literal.string(uc.name)))
    ).to_pandas()
    log = log[pd.to_datetime(log["as_of"]) <= pd.Timestamp(ripe)]
    if log.empty:
        return {"status": "waiting for actuals", "first_ripe": None}
    principal = brain.principal(uc.run_as)
    rows = pd.DataFrame({KEY: log["entity_key"].astype(str), AS_OF: pd.to_datetime(log["as_of"])})
    actual = _labels(brain, uc, principal, _entities(brain, uc, principal), rows)
    scores = log["score"].to_numpy(dtype=float)
    metrics = regression_metrics(actual, scores) if uc.task == "regress" else classification_metrics(actual, scores)
    return {
        "status": "measured",
        "scored_rows": len(log),
        "as_of_dates": sorted({str(d) for d in log["as_of"]}),
        **metrics,
    }


def current_drift(brain: Brain, uc: UseCase, train_profile: dict[str, Any]) -> dict[str, Any]:
    """PSI of each feature between the training data and the population now (the drift window's
    snapshots), computed with the definition `uc` (the version's own, as it was trained)."""
    from companybrain.errors import BrainError
    from companybrain.factory.training import scoring_set, today_of

    try:
        data = scoring_set(brain, uc, brain.principal(uc.run_as), window_as_ofs(train_profile, today_of(brain)))
    except BrainError as exc:
        return {"status": "not measurable", "reason": exc.message}
    return drift(train_profile, data.frame, data.features, data.categorical)

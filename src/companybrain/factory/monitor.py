"""Monitoring: feature drift (population stability index) against the training data, and live
accuracy once the actuals of earlier scores have arrived."""

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
SCORE_LOG = table(FACTORY_SCHEMA, "score_log")
SCORE_LOG_COLUMNS = {
    "usecase": "string",
    "version": "integer",
    "as_of": "date",
    "entity_key": "string",
    "score": "float",
}


def profile(frame: pd.DataFrame, features: list[str], categorical: list[str]) -> dict[str, Any]:
    """Each feature's distribution in the training data: decile edges and shares, or category shares."""
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
        found[name] = {
            "psi": round(value, 4),
            "status": "shifted" if value > PSI_ALERT else "moderate" if value > PSI_WARN else "stable",
        }
    return found


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

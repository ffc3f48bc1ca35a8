"""Labels for anomaly use cases: a person's verdict on a scored entity, and what the factory learns from it.

An anomaly model learns without labels, so its backtest alone cannot say whether a retrained version
is better. A verdict can: someone who looked at a flagged line says it *was* an anomaly (confirmed)
or was not (dismissed) - `brain factory label`, audited. The verdict is kept with the as-of date of
the score it judges (`factory.labels`). When the use case is trained again, the new version, the
baseline and the champion all score the labelled (entity, as-of) rows with their own features, and
their ROC AUC at telling confirmed from dismissed rows is the labelled metric that promotion compares
(all three on the same rows; the models never see a label, they only score the rows).
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pyarrow as pa
from sqlglot import exp

from companybrain.errors import BrainError
from companybrain.factory.tabular import classification_metrics
from companybrain.factory.training import AS_OF, KEY, _entities, _features, today_of
from companybrain.ontology.model import FACTORY_SCHEMA
from companybrain.warehouse.ddl import col, create_table, literal, table

if TYPE_CHECKING:
    from companybrain.brain import Brain
    from companybrain.factory.registry import Registry
    from companybrain.factory.training import TrainingSet
    from companybrain.governance.principal import Principal
    from companybrain.specs.usecases import UseCase

LABELS = table(FACTORY_SCHEMA, "labels")
LABEL_COLUMNS = {
    "usecase": "string",
    "entity_key": "string",
    "as_of": "date",
    "label": "float",
    "verdict": "string",
    "labelled_by": "string",
    "reason": "string",
    "labelled_at": "string",
}
VERDICTS = {"confirmed": 1.0, "dismissed": 0.0}


def record(
    brain: Brain,
    uc: UseCase,
    key: str,
    verdict: str,
    user: str | Principal | None,
    as_of: date | None = None,
    reason: str | None = None,
) -> dict[str, Any]:
    """Keep a person's verdict on an entity's anomaly score (the latest scored, or as of `as_of`); audited."""
    if uc.task != "anomaly" or uc.entity is None:
        raise BrainError(f"use case {uc.name} is a {uc.task} use case: only anomaly scores take a verdict")
    if verdict not in VERDICTS:
        raise BrainError(f"verdict {verdict!r} is not one of {', '.join(VERDICTS)}")
    principal = brain.principal(user)
    brain.object(uc.entity, key, principal)  # it exists, and this person may see it (raises otherwise)
    when = as_of or _last_scored(brain, uc, key) or today_of(brain)
    row = {
        "usecase": uc.name,
        "entity_key": key,
        "as_of": when,
        "label": VERDICTS[verdict],
        "verdict": verdict,
        "labelled_by": principal.user,
        "reason": reason or "",
        "labelled_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    wh = brain.warehouse
    wh.ensure_schema(FACTORY_SCHEMA)
    wh.execute(create_table(LABELS, LABEL_COLUMNS))
    same = exp.and_(
        col("usecase").eq(literal(uc.name)),
        col("entity_key").eq(literal(key)),
        col("as_of").eq(exp.Cast(this=literal(when.isoformat()), to=exp.DataType.build("DATE"))),
    )
    with wh.transaction():
        wh.execute(exp.delete(LABELS, where=same))  # a second verdict on the same score replaces the first
        wh.write_arrow(LABELS, pa.Table.from_pylist([row], schema=_schema()), create=False)
    request = {k: str(v) for k, v in row.items() if k != "labelled_at"}
    brain.audit.append(principal, "factory.label", request, None, 1, brain.data_version())
    return {**row, "as_of": when.isoformat()}


def read(brain: Brain, uc: UseCase) -> pd.DataFrame:
    """KEY, AS_OF, label of the use case's verdicts (empty when there are none)."""
    wh = brain.warehouse
    if "labels" not in wh.list_tables(FACTORY_SCHEMA):
        return pd.DataFrame({KEY: [], AS_OF: [], "label": []})
    rows = wh.query_arrow(
        exp.select("entity_key", "as_of", "label").from_(LABELS).where(col("usecase").eq(literal(uc.name)))
    ).to_pandas()
    return pd.DataFrame(
        {KEY: rows["entity_key"].astype(str), AS_OF: pd.to_datetime(rows["as_of"]), "label": rows["label"]}
    )


def evaluate(
    brain: Brain, uc: UseCase, data: TrainingSet, models: tuple[Any, Any, Any], registry: Registry
) -> dict[str, Any]:
    """The labelled figures of the backtest's model and baseline (and of the champion, scored again on
    the same rows), merged into the backtest's `model` and `baseline` figures."""
    found = read(brain, uc)
    if found.empty:
        return {}
    model, baseline, _ = models
    principal = brain.principal(uc.run_as)
    rows = _rows(brain, uc, principal, found)
    label = found["label"].to_numpy(dtype=float)
    counts = {"labelled_rows": len(label), "confirmed": int(label.sum())}
    out: dict[str, Any] = {"labels": counts}
    if len(np.unique(label)) < 2:
        out["labels"]["note"] = "verdicts of one kind only: no ROC AUC until both confirmed and dismissed ones exist"
        return out
    out["model_labelled"] = _scores(label, model.predict(rows.frame))
    out["baseline_labelled"] = _scores(label, baseline.predict(rows.frame))
    champion = registry.champion(uc.name)
    if champion is not None:
        from companybrain.factory.line import load_model, trained_definition

        try:
            theirs = trained_definition(registry, champion, uc)
            their_rows = _rows(brain, theirs, principal, found)
            out["_champion"] = _scores(label, load_model(registry, champion).predict(their_rows.frame))
            out["champion_labelled"] = {"version": champion.version, **out["_champion"]}
        except BrainError:
            pass  # a champion this release cannot score: compared by its registered figures
    return out


def _rows(brain: Brain, uc: UseCase, principal: Any, found: pd.DataFrame) -> TrainingSet:
    entities = _entities(brain, uc, principal)
    return _features(brain, uc, principal, entities, found[[KEY, AS_OF]].reset_index(drop=True))


def _scores(label: np.ndarray, score: np.ndarray) -> dict[str, float]:
    figures = classification_metrics(label, score)
    return {k: figures[k] for k in ("roc_auc", "average_precision") if k in figures}


def _last_scored(brain: Brain, uc: UseCase, key: str) -> date | None:
    from companybrain.factory.monitor import SCORE_LOG

    wh = brain.warehouse
    if "score_log" not in wh.list_tables(FACTORY_SCHEMA):
        return None
    found = wh.query_arrow(
        exp.select(exp.func("max", col("as_of")).as_("as_of"))
        .from_(SCORE_LOG)
        .where(exp.and_(col("usecase").eq(literal(uc.name)), col("entity_key").eq(literal(key))))
    ).to_pylist()
    value = found[0]["as_of"] if found else None
    return value if isinstance(value, date) else None


def _schema() -> pa.Schema:
    return pa.schema(
        [
            ("usecase", pa.string()),
            ("entity_key", pa.string()),
            ("as_of", pa.date32()),
            ("label", pa.float64()),
            ("verdict", pa.string()),
            ("labelled_by", pa.string()),
            ("reason", pa.string()),
            ("labelled_at", pa.string()),
        ]
    )

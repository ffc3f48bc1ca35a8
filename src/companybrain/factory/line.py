"""The factory line for entity use cases: train (backtest against the baseline, register, promote) and
score (write predictions back onto the ontology with the model version and reasons)."""

from __future__ import annotations

import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import joblib
import numpy as np
import pandas as pd
import pyarrow as pa
from sqlglot import exp

from companybrain.errors import BrainError
from companybrain.factory import labels, monitor, selection
from companybrain.factory.registry import CHALLENGER, CHAMPION, Registry, Version
from companybrain.factory.tabular import TabularModel, classification_metrics, regression_metrics
from companybrain.factory.training import (
    AS_OF,
    KEY,
    LABEL,
    RESOLVED,
    TrainingSet,
    metric_owner,
    scoring_set,
    today_of,
    training_set,
)
from companybrain.ontology.model import FACTORY_SCHEMA, object_table, prediction_table
from companybrain.semantic.query import MetricQuery
from companybrain.specs.usecases import UseCase
from companybrain.warehouse.ddl import col

if TYPE_CHECKING:
    from companybrain.brain import Brain

MODEL_FILE = "model.joblib"
TOO_GOOD_AUC = 0.98
REASONS_FOR_TOP = 2000


def train_entity(brain: Brain, uc: UseCase, registry: Registry) -> dict[str, Any]:
    """Build the training set, backtest model vs baseline on a later holdout, register, maybe promote."""
    started = time.perf_counter()
    principal = brain.principal(uc.run_as)
    data = training_set(brain, uc, principal)
    frame = data.frame
    backtest = cross_validation(uc, data) if uc.backtest.method == "cross_validation" else holdout(uc, data)
    models = backtest.pop("_models", None)
    if uc.task == "anomaly" and models is not None:
        found = labels.evaluate(brain, uc, data, models, registry)
        backtest["model"] |= found.pop("model_labelled", {})
        backtest["baseline"] |= found.pop("baseline_labelled", {})
        backtest |= found
    final, chosen = selection.fit(uc, data, frame)
    if chosen:
        backtest["chosen_for_version"] = chosen
    rescored = backtest.pop("_champion", None)
    status, reason = promotion(uc, registry, backtest, rescored)
    metrics = {f"model_{k}": v for k, v in backtest["model"].items()}
    metrics |= {f"baseline_{k}": v for k, v in backtest["baseline"].items()}
    params = {
        "task": uc.task,
        "entity": uc.entity,
        "model_family": final.family if uc.model_family == "auto" else uc.model_family,
        "baseline": uc.baseline,
        "features": ",".join(data.features),
        "backtest": uc.backtest.method,
        "holdout_days": uc.backtest.holdout_days,
        "training_rows": len(frame),
        **{f"param_{k}": v for k, v in uc.params.items()},
    }
    lineage = lineage_of(brain, uc, data)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / MODEL_FILE
        joblib.dump(final, path)
        version = registry.record(
            uc.name,
            status=status,
            model_family=final.family,
            data_version=brain.data_version(),
            params=params,
            metrics=metrics,
            artifacts={
                "backtest.json": backtest,
                "lineage.json": lineage,
                "profile.json": monitor.profile(frame, data.features, data.categorical, _calendar_step(uc)),
                "usecase.json": uc.model_dump(mode="json"),
            },
            files={"model": path},
        )
    return {
        "usecase": uc.name,
        "task": uc.task,
        "status": "ok",
        "version": version.version,
        "promotion": version.status,
        "promotion_reason": reason,
        "backtest": backtest,
        "lineage": lineage,
        "seconds": round(time.perf_counter() - started, 2),
    }


def _pair(uc: UseCase, data: TrainingSet, train: pd.DataFrame) -> tuple[TabularModel, TabularModel, dict[str, Any]]:
    """The model (with the choices the factory makes, made on `train` alone) and its baseline fitted on
    the same rows. An anomaly baseline watches the first feature (the monitored signal) alone, as a
    control chart would."""
    label = train[LABEL].to_numpy() if LABEL in train else None
    model, chosen = selection.fit(uc, data, train)
    base_features = data.features[:1] if uc.task == "anomaly" else data.features
    base_categorical = [c for c in data.categorical if c in base_features]
    baseline = TabularModel(uc.baseline, uc.task, base_features, base_categorical).fit(train, label, {})
    return model, baseline, chosen


def holdout(uc: UseCase, data: TrainingSet) -> dict[str, Any]:
    """Train on the earlier snapshots, test on the later ones."""
    train, test = split(uc, data.frame)
    model, baseline, chosen = _pair(uc, data, train)
    backtest: dict[str, Any] = {
        "method": "time",
        "train_rows": len(train),
        "test_rows": len(test),
        "train_as_of": [_day(train[AS_OF].min()), _day(train[AS_OF].max())],
        "test_as_of": [_day(test[AS_OF].min()), _day(test[AS_OF].max())],
        "model": _evaluate(uc, test, model.predict(test)),
        "baseline": _evaluate(uc, test, baseline.predict(test)),
        "_models": (model, baseline, test[AS_OF].min()),
    }
    if chosen:
        backtest["chosen"] = chosen
    backtest["warnings"] = leakage_warnings(uc, test, backtest["model"], data)
    return backtest


def cross_validation(uc: UseCase, data: TrainingSet) -> dict[str, Any]:
    """Every row scored by models that did not see it (stratified folds, grouped by `group_by`, repeated
    `repeats` times with other shuffles); figures on each repeat's pooled out-of-fold scores, averaged
    over the repeats, with the spread of the per-fold figures."""
    frame = data.frame
    if LABEL not in frame:
        raise BrainError(f"use case {uc.name}: cross_validation needs a target")
    label = frame[LABEL].to_numpy()
    folds = uc.backtest.folds
    per_fold: list[dict[str, Any]] = []
    per_repeat: list[dict[str, dict[str, float]]] = []
    chosen_families: list[str] = []
    for repeat in range(uc.backtest.repeats):
        splitter, groups = selection.folds(uc, folds, repeat, frame)
        scores = {"model": np.zeros(len(frame)), "baseline": np.zeros(len(frame))}
        for i, (train_idx, test_idx) in enumerate(splitter.split(frame, label, groups)):
            train, test = frame.iloc[train_idx], frame.iloc[test_idx]
            model, baseline, chosen = _pair(uc, data, train)
            if chosen:
                chosen_families.append(chosen["family"])
            scores["model"][test_idx] = model.predict(test)
            scores["baseline"][test_idx] = baseline.predict(test)
            per_fold.append(
                {
                    "repeat": repeat + 1,
                    "fold": i + 1,
                    "model": _evaluate(uc, test, scores["model"][test_idx]),
                    "baseline": _evaluate(uc, test, scores["baseline"][test_idx]),
                    **({"chosen": chosen} if chosen else {}),
                }
            )
        per_repeat.append({who: _evaluate(uc, frame, scores[who]) for who in ("model", "baseline")})
    metric, _ = uc.primary_metric
    spread = {
        f"{who}_{metric}_fold_sd": float(np.std([f[who].get(metric, np.nan) for f in per_fold]))
        for who in ("model", "baseline")
    }
    if uc.backtest.repeats > 1:
        spread |= {
            f"{who}_{metric}_repeat_sd": float(np.std([r[who].get(metric, np.nan) for r in per_repeat]))
            for who in ("model", "baseline")
        }
    backtest: dict[str, Any] = {
        "method": "cross_validation",
        "folds": folds,
        "repeats": uc.backtest.repeats,
        "grouped_by": uc.backtest.group_by,
        "rows": len(frame),
        "model": _mean_of(r["model"] for r in per_repeat),
        "baseline": _mean_of(r["baseline"] for r in per_repeat),
        "fold_spread": spread,
        "per_fold": per_fold,
    }
    if chosen_families:
        backtest["chosen_families"] = {f: chosen_families.count(f) for f in sorted(set(chosen_families))}
    backtest["warnings"] = leakage_warnings(uc, frame, backtest["model"], data)
    return backtest


def _mean_of(results: Any) -> dict[str, float]:
    found = list(results)
    return {k: float(np.mean([r[k] for r in found if k in r])) for k in found[0]}


def split(uc: UseCase, frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Holdout = the last `holdout_days` of as-of times; train = rows whose target window closed before it."""
    last = frame[AS_OF].max()
    test_start = last - pd.Timedelta(days=uc.backtest.holdout_days)
    horizon = uc.target.horizon_days if uc.target and uc.target.horizon_days else 0
    test = frame[frame[AS_OF] > test_start]
    train = frame[frame[AS_OF] + pd.Timedelta(days=horizon) <= test_start]
    if RESOLVED in frame:  # an outcome learnt from must have been known before the test period began
        train = train[train[RESOLVED] <= test_start]
    if len(train) == 0 or len(test) == 0:
        raise BrainError(
            f"use case {uc.name}: the backtest has {len(train)} training and {len(test)} test rows",
            hint="widen snapshots (start) or shorten backtest.holdout_days",
        )
    if LABEL in frame and uc.task == "classify":
        for part, rows in (("training", train), ("test", test)):
            if rows[LABEL].nunique() < 2:
                raise BrainError(
                    f"use case {uc.name}: the backtest's {part} rows all have one label",
                    hint="widen snapshots or change backtest.holdout_days",
                )
    return train.reset_index(drop=True), test.reset_index(drop=True)


def _evaluate(uc: UseCase, test: pd.DataFrame, score: np.ndarray) -> dict[str, float]:
    if LABEL not in test:
        return {"rows": float(len(test)), "flagged_share": float((score >= 0.99).mean())}
    label = test[LABEL].to_numpy()
    if uc.task == "regress":
        return regression_metrics(label, score)
    return classification_metrics(label, score)


def leakage_warnings(uc: UseCase, test: pd.DataFrame, result: dict[str, float], data: TrainingSet) -> list[str]:
    """A result that is too good is checked before it is believed: no single feature may predict alone."""
    if LABEL not in test or uc.task != "classify" or result.get("roc_auc", 0) < TOO_GOOD_AUC:
        return []
    from sklearn.metrics import roc_auc_score

    found = [f"backtest ROC AUC {result['roc_auc']:.3f} is suspiciously high; check the features for leakage"]
    label = test[LABEL].to_numpy()
    for name in data.features:
        if name in data.categorical:
            continue
        values = pd.to_numeric(test[name], errors="coerce").fillna(0).to_numpy()
        auc = roc_auc_score(label, values) if np.ptp(values) > 0 else 0.5
        if max(auc, 1 - auc) >= 0.95:
            found.append(
                f"feature {name} alone separates the classes (AUC {max(auc, 1 - auc):.3f}): does it see the future?"
            )
    return found


def promotion(
    uc: UseCase, registry: Registry, backtest: dict[str, Any], rescored: dict[str, float] | None = None
) -> tuple[str, str]:
    """Champion only if it beats what the rule names (the champion and/or the baseline) on the backtest.
    `rescored`: the champion's figures on this backtest's own rows (anomaly labels), where it was
    scored again; otherwise its figures as registered are compared."""
    metric, higher = uc.primary_metric
    mine = backtest["model"].get(metric)
    if mine is None:
        champion = registry.champion(uc.name)
        if champion is None:
            return CHAMPION, "no labelled metric to compare; first version becomes the champion"
        return CHALLENGER, (
            f"no labelled metric to compare with champion v{champion.version}; kept as challenger "
            f"(label its scores: brain factory label {uc.name} KEY --confirmed|--dismissed, or promote it: "
            f"brain factory promote {uc.name} VERSION --reason ...)"
        )
    margin = uc.promotion.min_improvement
    better = (lambda a, b: a > b + margin) if higher else (lambda a, b: a < b - margin)
    reasons = []
    if "baseline" in uc.promotion.must_beat:
        base = backtest["baseline"].get(metric)
        if base is not None and not better(mine, base):
            return CHALLENGER, f"{metric} {mine:.4f} does not beat the baseline's {base:.4f}"
        reasons.append(f"beats the baseline ({metric} {mine:.4f} vs {base:.4f})")
    if "champion" in uc.promotion.must_beat:
        champion = registry.champion(uc.name)
        theirs = champion.metrics.get(f"model_{metric}") if champion else None
        if rescored is not None:
            theirs = rescored.get(metric)
        if champion is not None and theirs is not None and not better(mine, theirs):
            return CHALLENGER, f"{metric} {mine:.4f} does not beat champion v{champion.version}'s {theirs:.4f}"
        if champion is not None and theirs is not None:
            reasons.append(f"beats champion v{champion.version} ({theirs:.4f})")
    return CHAMPION, "; ".join(reasons) or "the rule asks nothing"


def lineage_of(brain: Brain, uc: UseCase, data: TrainingSet) -> dict[str, Any]:
    """Source tables -> objects -> metrics/properties -> features -> model: the objects every metric
    query reaches (its links and dimensions included) and those of properties read through links."""
    assert uc.entity is not None
    entity = brain.project.objects[uc.entity]
    objects = {uc.entity}
    for prop in data.lineage.get("properties", []):
        owner = entity
        for hop in prop.split(".")[:-1]:
            objects.add(owner.links[hop].to)
            owner = brain.project.objects[owner.links[hop].to]
    owners = {name: metric_owner(brain, uc, f) for name, f in uc.features.items() if f.metric}
    queries = [
        MetricQuery(metrics=(f.metric,), by=(f"{f.via or owners[n]}.{brain.project.objects[owners[n]].key}", f.grain))
        for n, f in uc.features.items()
        if f.metric
    ]
    if uc.target is not None and uc.target.metric:
        queries.append(MetricQuery(metrics=(uc.target.metric,), by=(f"{uc.entity}.{entity.key}", "day")))
    objects |= objects_reached(brain, queries, uc.run_as)
    return {
        "source_tables": sources_of(brain, objects),
        "objects": sorted(objects),
        "metrics": data.lineage.get("metrics", []),
        "properties": data.lineage.get("properties", []),
        "features": data.features,
        "run_as": data.lineage.get("run_as"),
        "data_version": brain.data_version(),
    }


def objects_reached(brain: Brain, queries: list[MetricQuery], user: str | None) -> set[str]:
    """The object types the metric queries read (the compiler's own account: links, dimensions)."""
    from companybrain.governance.policy import Policy
    from companybrain.semantic.compiler import compile_query

    policy = Policy(brain.project, brain.principal(user))
    found: set[str] = set()
    for query in queries:
        found |= compile_query(brain.semantic, query, policy, today_of(brain)).objects
        for name in query.metrics:
            found |= {brain.semantic.metric(b).object or "" for b in brain.semantic.base_metrics(name)}
    return found - {""}


def sources_of(brain: Brain, objects: set[str]) -> list[str]:
    """The raw tables the object types are built from."""
    from companybrain.ontology.build import inputs_of

    return sorted({t for o in objects if o in brain.project.objects for t in inputs_of(brain.project.objects[o])})


# --- scoring ---------------------------------------------------------------------------------


def trained_definition(registry: Registry, version: Version, uc: UseCase) -> UseCase:
    """The use case as the version was trained (its features and their windows), with today's scoring
    settings (who is scored, as whom, live): a champion is always fed the inputs it learnt from."""
    from pydantic import ValidationError

    try:
        trained = UseCase.model_validate(registry.read_json(version, "usecase.json"))
    except ValidationError:
        raise BrainError(
            f"{version.label} was trained on a definition this release cannot read",
            hint=f"brain factory train {uc.name}",
        ) from None
    if (trained.entity, trained.output.property) != (uc.entity, uc.output.property):
        raise BrainError(
            f"{version.label} scores {trained.entity}.{trained.output.property}, the use case now "
            f"{uc.entity}.{uc.output.property}",
            hint=f"brain factory train {uc.name}",
        )
    return trained.model_copy(update={"population": uc.population, "run_as": uc.run_as, "live": uc.live})


def load_model(registry: Registry, version: Version) -> TabularModel:
    with tempfile.TemporaryDirectory() as tmp:
        model = joblib.load(registry.artifact(version, MODEL_FILE, Path(tmp)))
    assert isinstance(model, TabularModel)
    return model


def score_entity(brain: Brain, uc: UseCase, registry: Registry, version: int | None = None) -> dict[str, Any]:
    """Score the population now with the champion (or a version); write the scores onto the ontology."""
    started = time.perf_counter()
    chosen = registry.get(uc.name, version)
    model = load_model(registry, chosen)
    principal = brain.principal(uc.run_as)
    data = scoring_set(brain, trained_definition(registry, chosen, uc), principal)
    scores = model.predict(data.frame)
    # reasons for the highest scores, the ones people act on (tree SHAP costs milliseconds per row)
    explained = np.argsort(-scores)[:REASONS_FOR_TOP]
    reasons = [""] * len(scores)
    if model.family != "random_forest":
        texts = model.reasons(data.frame.iloc[explained], min_effect=uc.output.min_effect)
        for i, text in zip(explained, texts, strict=True):
            reasons[i] = text
    write_back(brain, uc, scores_table(data.frame[KEY].astype(str).tolist(), scores, reasons, chosen))
    definition = trained_definition(registry, chosen, uc)
    drift = monitor.current_drift(brain, definition, registry.read_json(chosen, "profile.json"))
    monitor.log_scores(brain, uc, chosen, data.frame, scores, today_of(brain))
    top = np.argsort(-scores)[:5]
    return {
        "usecase": uc.name,
        "status": "ok",
        "version": chosen.version,
        "scored": len(scores),
        "as_of": today_of(brain).isoformat(),
        "written_to": f"{uc.entity}.{uc.output.property}",
        "thresholds": {name: int((scores >= level).sum()) for name, level in uc.thresholds.items()},
        "top": [
            {"key": data.frame[KEY].iat[i], "score": round(float(scores[i]), 4), "reasons": reasons[i]} for i in top
        ],
        "drift": drift,
        "seconds": round(time.perf_counter() - started, 2),
    }


def scores_table(keys: list[str], scores: np.ndarray, reasons: list[str], version: Version) -> pa.Table:
    """The rows of a use case's scores table (ontology.model.PREDICTION_COLUMNS)."""
    scored_at = datetime.now(UTC).replace(tzinfo=None)
    return pa.table(
        {
            "_entity_key": pa.array(keys, pa.string()),
            "_value": pa.array(scores, pa.float64()),
            "_reasons": pa.array(reasons, pa.string()),
            "_version": pa.array([version.label] * len(keys), pa.string()),
            "_scored_at": pa.array([scored_at] * len(keys), pa.timestamp("us")),
        }
    )


def write_back(brain: Brain, uc: UseCase, scores: pa.Table, keys: list[str] | None = None) -> None:
    """Replace the use case's scores (all, or those of `keys`) and copy them onto the live objects, in
    one transaction."""
    assert uc.entity is not None and uc.output.property is not None
    if keys is not None and not keys:
        return
    wh = brain.warehouse
    brain.require_built()
    target = prediction_table(uc.name)
    obj = brain.project.objects[uc.entity]
    live = object_table(uc.entity)
    prop = uc.output.property
    columns = {prop: "_value", f"{prop}_reasons": "_reasons", f"{prop}_version": "_version"}
    wh.ensure_schema(FACTORY_SCHEMA)
    key = exp.Cast(this=exp.column(obj.key, table=live.name, quoted=True), to=exp.DataType.build("VARCHAR"))
    some = [exp.Literal.string(k) for k in keys] if keys is not None else None
    with wh.transaction():
        wh.execute(exp.delete(target, where=None if some is None else col("_entity_key").isin(*some)))
        wh.write_arrow(target, scores, create=False)
        if some is None:
            wh.execute(exp.update(live, {name: exp.null() for name in columns}))
        wh.execute(
            exp.Update(
                this=live.copy(),
                expressions=[exp.EQ(this=col(name), expression=col(source, "s")) for name, source in columns.items()],
                from_=exp.From(this=exp.alias_(target.copy(), "s")),
                where=exp.Where(
                    this=exp.EQ(this=col("_entity_key", "s"), expression=key)
                    if some is None
                    else exp.and_(exp.EQ(this=col("_entity_key", "s"), expression=key), key.isin(*some))
                ),
            )
        )
        wh.analyze(live)


def _calendar_step(uc: UseCase) -> int | None:
    """The snapshots' step in days, for a use case whose training rows follow a calendar."""
    one_per_entity = uc.snapshots.at or (uc.target is not None and uc.target.outcome)
    return None if one_per_entity else uc.snapshots.every_days


def _day(value: Any) -> str | None:
    return None if pd.isna(value) else pd.Timestamp(value).date().isoformat()

"""The AI factory: use cases trained, backtested, versioned and scored back onto the ontology."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import date
from typing import TYPE_CHECKING, Any

from companybrain.errors import BrainError, NotFound, did_you_mean

log = logging.getLogger("companybrain.factory")

if TYPE_CHECKING:
    from companybrain.brain import Brain
    from companybrain.specs.usecases import UseCase

Progress = Callable[[str, str], None]


def usecase(brain: Brain, name: str) -> UseCase:
    found = brain.project.usecases.get(name)
    if found is None:
        raise NotFound(
            f"unknown use case {name!r}; {did_you_mean(name, brain.project.usecases)}",
            hint="`brain factory list` shows the project's use cases",
        )
    return found


def _selected(brain: Brain, names: list[str] | None) -> list[str]:
    chosen = names or sorted(brain.project.usecases)
    for name in chosen:
        usecase(brain, name)
    return chosen


def train(brain: Brain, names: list[str] | None = None, progress: Progress | None = None) -> list[dict[str, Any]]:
    """Train each use case (all by default). One that fails is reported and the others still run."""
    from companybrain.factory.registry import Registry

    registry = Registry(brain.project)
    return [
        _each(name, "train", progress, lambda uc: _train_one(brain, uc, registry), brain)
        for name in _selected(brain, names)
    ]


def score(brain: Brain, names: list[str] | None = None, progress: Progress | None = None) -> list[dict[str, Any]]:
    """Score each use case with its champion and write the results onto the ontology."""
    from companybrain.factory.registry import Registry

    registry = Registry(brain.project)
    return [
        _each(name, "score", progress, lambda uc: _score_one(brain, uc, registry), brain)
        for name in _selected(brain, names)
    ]


def run_due(brain: Brain, progress: Progress | None = None) -> list[dict[str, Any]]:
    """Train and score the use cases that are due (see factory/schedule.py); the others are listed as
    skipped with the reason."""
    from companybrain.factory.registry import Registry
    from companybrain.factory.schedule import due_usecases

    registry = Registry(brain.project)
    results = []
    for decision in due_usecases(brain, registry):
        name = decision.usecase
        if not decision.due:
            results.append({"usecase": name, "step": "train", "status": "skipped", "reason": decision.reason})
            continue
        trained = _each(name, "train", progress, lambda uc: _train_one(brain, uc, registry), brain)
        results.append({**trained, "reason": decision.reason})
        if trained["status"] == "ok":
            results.append(_each(name, "score", progress, lambda uc: _score_one(brain, uc, registry), brain))
    return results


def show(brain: Brain, name: str) -> dict[str, Any]:
    """A use case's definition, versions (champion first), its champion's backtest, drift and live accuracy."""
    from companybrain.factory import monitor
    from companybrain.factory.registry import Registry

    uc = usecase(brain, name)
    registry = Registry(brain.project)
    versions = registry.versions(name)
    champion = next((v for v in versions if v.status == "champion"), None)
    out: dict[str, Any] = {
        "usecase": name,
        "description": uc.description,
        "owner": uc.owner,
        "task": uc.task,
        "entity": uc.entity,
        "output": f"{uc.entity}.{uc.output.property}" if uc.output.property else uc.output.object,
        "model_family": uc.model_family,
        "baseline": uc.baseline,
        "schedule": uc.schedule,
        "registry": registry.uri,
        "champion": champion.as_dict() if champion else None,
        "versions": [v.as_dict() for v in versions],
    }
    if champion is not None:
        out["backtest"] = registry.read_json(champion, "backtest.json")
        out["backtest"].pop("per_fold", None)
        if uc.task == "forecast":
            out["intervals"] = _interval_report(uc, registry, champion, out["backtest"])
        out["lineage"] = registry.read_json(champion, "lineage.json")
        if uc.task != "forecast":
            out["drift"] = _current_drift(brain, uc, registry, champion)
            out["live_accuracy"] = monitor.live_accuracy(brain, uc)
    return out


def promote(brain: Brain, name: str, version: int, user: Any, reason: str) -> dict[str, Any]:
    """A person makes a version the champion, with a reason: kept on the version and in the audit log.

    For what the backtest cannot decide (an anomaly use case without labels) or should not (a version
    the rule kept as challenger that people judged better on evidence of their own). The person must
    be able to read what the use case scores."""
    from companybrain.errors import PolicyDenied
    from companybrain.factory.registry import Registry
    from companybrain.governance.policy import Policy

    uc = usecase(brain, name)
    principal = brain.principal(user)
    request = {"usecase": name, "version": version, "reason": reason}
    if not reason or not reason.strip():
        raise BrainError("a promotion needs a reason", hint=f'brain factory promote {name} {version} --reason "..."')
    scored = uc.entity or uc.output.object or ""
    if scored not in brain.project.objects or not Policy(brain.project, principal).can_read_object(scored):
        brain.audit.append(principal, "factory.promote", request, None, None, brain.data_version(), "denied: object")
        raise PolicyDenied(f"{principal.user} may not read {scored}, which use case {name} scores", policy="object")
    registry = Registry(brain.project)
    current = registry.champion(name)
    if current is not None and current.version == version:
        brain.audit.append(principal, "factory.promote", request, None, None, brain.data_version(), "unchanged")
        return {
            "usecase": name,
            "status": "unchanged",
            "champion": version,
            "previous": version,
            "promoted_by": principal.user,
            "reason": reason.strip(),
            "hint": f"v{version} is already the champion of {name}: nothing changed",
        }
    chosen, previous = registry.promote(name, version, principal.user, reason.strip())
    if uc.task == "forecast":
        from companybrain.factory.forecast_line import record_champion, version_settings

        settings, _ = version_settings(registry, chosen)
        with brain.warehouse.transaction():
            record_champion(brain.warehouse, name, chosen.label, settings)
    request["previous"] = previous.version if previous else None
    brain.audit.append(principal, "factory.promote", request, None, None, brain.data_version(), "ok")
    return {
        "usecase": name,
        "status": "ok",
        "champion": chosen.version,
        "previous": previous.version if previous else None,
        "promoted_by": principal.user,
        "reason": reason.strip(),
        "hint": f"brain factory score {name} writes the new champion's predictions",
    }


def label(
    brain: Brain, name: str, key: str, verdict: str, user: Any, as_of: date | None, reason: str | None
) -> dict[str, Any]:
    """A person's verdict on an anomaly score: confirmed or dismissed (a label the next training uses)."""
    from companybrain.factory import labels

    return labels.record(brain, usecase(brain, name), key, verdict, user, as_of, reason)


def top_predictions(
    brain: Brain,
    uc: UseCase,
    user: Any,
    at_least: float | None = None,
    where: str | None = None,
    limit: int | None = None,
) -> list[dict[str, Any]]:
    """The objects a use case scored (at or above `at_least`, within `where`), highest first, read as
    `user` through the policies; PolicyDenied when the score is masked for them."""
    from sqlglot import exp

    from companybrain.errors import PolicyDenied
    from companybrain.specs.ontology import SPEC_DIALECT, parse_expression

    assert uc.entity is not None and uc.output.property is not None
    prop = uc.output.property
    scored: exp.Expr = exp.column(prop).is_(exp.null()).not_()
    if at_least is not None:
        scored = exp.column(prop) >= exp.Literal.number(at_least)
    condition = exp.and_(scored, parse_expression(where)) if where else scored
    rows = brain.objects(uc.entity, condition.sql(dialect=SPEC_DIALECT), None, user)
    if any(row.get(prop) == "***" for row in rows):
        raise PolicyDenied(f"{uc.entity}.{prop} is masked for {brain.principal(user).user}", policy="mask")
    rows.sort(key=lambda row: -float(row[prop]))
    return rows[:limit] if limit is not None else rows


def list_usecases(brain: Brain) -> list[dict[str, Any]]:
    from companybrain.factory.registry import Registry

    registry = Registry(brain.project)
    rows = []
    for name, uc in sorted(brain.project.usecases.items()):
        versions = registry.versions(name)
        champion = next((v for v in versions if v.status == "champion"), None)
        metric, _ = uc.primary_metric
        rows.append(
            {
                "usecase": name,
                "task": uc.task,
                "output": f"{uc.entity}.{uc.output.property}" if uc.output.property else uc.output.object,
                "owner": uc.owner,
                "versions": len(versions),
                "champion": champion.version if champion else None,
                "metric": metric,
                "champion_score": champion.metrics.get(f"model_{metric}") if champion else None,
                "baseline_score": champion.metrics.get(f"baseline_{metric}") if champion else None,
                "schedule": uc.schedule,
            }
        )
    return rows


def _interval_report(uc: UseCase, registry: Any, champion: Any, backtest: dict[str, Any]) -> dict[str, Any]:
    """What the forecast intervals held in the backtest, and how the champion calibrates them."""
    from companybrain.factory.forecast_line import CHOICE_FILE, version_settings

    settings, factors = version_settings(registry, champion)
    choice = registry.read_json(champion, CHOICE_FILE) if registry.has_artifact(champion, CHOICE_FILE) else {}
    effects = choice.get("regressors") or {}
    return {
        # coefficient: log(1 + y) moves by it per unit of the regressor (README: "Exogenous regressors")
        "regressors": {
            r["metric"]: {"future": r["future"], "coefficient": effects.get(r["metric"])}
            for r in settings.get("regressors") or []
        },
        "members": (settings.get("params") or {}).get("members") or [settings.get("model") or uc.model_family],
        "members_per_fold": backtest.get("members_per_fold"),
        "nominal": [f"{level}%" for level in uc.levels],
        "backtest_coverage": {f"{level}%": backtest.get("model", {}).get(f"coverage_{level}") for level in uc.levels},
        "calibrated": bool(factors),
        "factors_by_step": factors,
    }


def _current_drift(brain: Brain, uc: UseCase, registry: Any, champion: Any) -> dict[str, Any]:
    from companybrain.factory import monitor
    from companybrain.factory.line import trained_definition

    try:
        trained = trained_definition(registry, champion, uc)
    except BrainError as exc:
        return {"status": "not measurable", "reason": exc.message}
    return monitor.current_drift(brain, trained, registry.read_json(champion, "profile.json"))


def _train_one(brain: Brain, uc: UseCase, registry: Any) -> dict[str, Any]:
    if uc.task == "forecast":
        from companybrain.factory.forecast_line import train_forecast

        return train_forecast(brain, uc, registry)
    from companybrain.factory.line import train_entity

    return train_entity(brain, uc, registry)


def _score_one(brain: Brain, uc: UseCase, registry: Any) -> dict[str, Any]:
    if uc.task == "forecast":
        from companybrain.factory.forecast_line import score_forecast

        return score_forecast(brain, uc, registry)
    from companybrain.factory.line import score_entity

    return score_entity(brain, uc, registry)


def _each(
    name: str, step: str, progress: Progress | None, run: Callable[[UseCase], dict[str, Any]], brain: Brain
) -> dict[str, Any]:
    if progress:
        progress(name, step)
    try:
        uc = usecase(brain, name)
        with brain.lineage.run(f"{step}.{name}", *brain.lineage.usecase_datasets(uc, step)):
            return run(uc)
    except BrainError as exc:
        return {"usecase": name, "step": step, "status": "failed", "error": exc.message, "hint": exc.hint}
    except Exception as exc:  # one use case's failure must not stop the others; the report names it
        log.exception("use case %s failed at %s", name, step)
        return {
            "usecase": name,
            "step": step,
            "status": "failed",
            "error": f"{type(exc).__name__}: {exc}",
            "hint": None,
        }

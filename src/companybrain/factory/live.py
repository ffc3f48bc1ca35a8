"""Scores between builds: streamed events stand in for the days the built data does not have yet.

A use case with `live:` names the event type, the field that holds the entity's key, and which
day-grain metric each event field measures. When events arrive, the entities they name are scored
again with the champion, as of the end of the day of their latest event: that day's metric value is
the mean of the field over that day's events (only where the built data has no value for the day),
every earlier day comes from the company model as usual. Nothing else changes: same model, same
features, same write-back.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from companybrain.factory.line import load_model, scores_table, trained_definition, write_back
from companybrain.factory.registry import Registry
from companybrain.factory.training import AS_OF, KEY, Panel, _entities, _features, today_of

if TYPE_CHECKING:
    from companybrain.brain import Brain
    from companybrain.factory.tabular import TabularModel
    from companybrain.specs.usecases import UseCase

_MODELS: dict[tuple[str, str], TabularModel] = {}  # (use case, run id) -> the loaded champion


@dataclass
class LiveDays:
    """Per metric: (entity key, day) -> the day's value measured from the events."""

    values: dict[str, dict[tuple[str, np.datetime64], float]] = field(default_factory=dict)

    def fill(self, metric: str, panel: Panel) -> None:
        """Put the events' days into a metric panel where the built data has nothing for them."""
        for (key, day), value in self.values.get(metric, {}).items():
            row = panel.keys.get(key)
            if row is None:
                continue
            col = int(np.searchsorted(panel.starts, day))
            if col < len(panel.starts) and panel.starts[col] == day and np.isnan(panel.values[row, col]):
                panel.values[row, col] = value


def days_from_events(uc: UseCase, events: list[dict[str, Any]], today: date) -> tuple[LiveDays, dict[str, date]]:
    """Each entity's latest event day, and that day's mean of every mapped field. Only days around
    today count: a replay of history or a clock in the future never overwrites today's scores."""
    spec = uc.live
    assert spec is not None
    first, last = today - timedelta(days=1), today + timedelta(days=1)
    by_key: dict[str, list[tuple[date, dict[str, Any]]]] = defaultdict(list)
    for event in events:
        if event.get("type") != spec.event or event.get(spec.key) is None:
            continue
        try:
            day = date.fromisoformat(str(event.get("ts") or "")[:10])
        except ValueError:
            continue
        if not first <= day <= last:
            continue
        by_key[str(event[spec.key])].append((day, event))
    latest = {key: max(day for day, _ in items) for key, items in by_key.items()}
    values: dict[str, dict[tuple[str, np.datetime64], float]] = {metric: {} for metric in spec.metrics}
    for key, items in by_key.items():
        for metric, name in spec.metrics.items():
            found = [
                float(e[name])
                for day, e in items
                if day == latest[key] and isinstance(e.get(name), int | float) and not isinstance(e.get(name), bool)
            ]
            if found:
                values[metric][(key, np.datetime64(latest[key], "D"))] = float(np.mean(found))
    return LiveDays(values), latest


def rescore(brain: Brain, uc: UseCase, events: list[dict[str, Any]]) -> dict[str, Any]:
    """Score the entities the events name, as of the end of their latest day; write the scores back."""
    live, latest = days_from_events(uc, events, today_of(brain))
    if not latest:
        return {"usecase": uc.name, "rescored": 0}
    registry = Registry(brain.project)
    chosen = registry.get(uc.name)
    model = _MODELS.get((uc.name, chosen.run_id))
    if model is None:
        model = _MODELS[(uc.name, chosen.run_id)] = load_model(registry, chosen)
    uc = trained_definition(registry, chosen, uc)
    principal = brain.principal(uc.run_as)
    entities = _entities(brain, uc, principal)
    known = set(entities[KEY])
    keys = [k for k in latest if k in known]
    if not keys:
        return {"usecase": uc.name, "rescored": 0}
    rows = pd.DataFrame({KEY: keys, AS_OF: [pd.Timestamp(latest[k]) + pd.Timedelta(days=1) for k in keys]})
    data = _features(brain, uc, principal, entities[entities[KEY].isin(keys)], rows, live)
    scores = model.predict(data.frame)
    reasons = model.reasons(data.frame, min_effect=uc.output.min_effect)
    keyed = data.frame[KEY].astype(str).tolist()
    write_back(brain, uc, scores_table(keyed, scores, reasons, chosen), keys=keys)
    return {
        "usecase": uc.name,
        "rescored": len(keys),
        "version": chosen.version,
        "scores": {k: round(float(s), 4) for k, s in zip(keys, scores, strict=True)},
    }

"""A scenario's forecast: the project's forecast use cases refit on the series as the scenario has them.

The overlays change history (order lines in the scenario's period); a forecast fitted on that history
is what the company would now expect had the scenario happened. For each forecast use case whose
metric the scenario's overlays reach, the champion's model and settings are refit twice, both read
as the running user through the governed query path: on the baseline series and on the scenario's
(`scenario=NAME`). The baseline is refit rather than taken from the stored forecast so that the two
differ by the scenario alone: the stored one was read as the use case's `run_as` user (another user's
policies may show other rows) and may be from an older build. Each series is fitted on its own
history only, so a series the overlays leave unchanged would get the very same forecast in both:
only the series whose history the overlays change are refit (on both sides), and the totals are
over those series - the others' diff is zero by construction.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Any

from companybrain.errors import BrainError, PolicyDenied

if TYPE_CHECKING:
    import pandas as pd

    from companybrain.brain import Brain
    from companybrain.governance.principal import Principal
    from companybrain.specs.scenarios import ScenarioSpec
    from companybrain.specs.usecases import UseCase

DENIED = "denied for this user"
# the words a reason uses for a change type ("unchanged (does not depend on capacity)")
CHANGE_WORDS = {
    "price": "prices",
    "demand": "demand",
    "capacity": "capacity",
    "hiring": "hiring",
    "capital_project": "capital projects",
    "supplier_delay": "supplier delays",
}
# the object types each change type writes overlays of (decisions/overlays.py)
CHANGE_WRITES = {
    "price": {"OrderLine"},
    "demand": {"OrderLine"},
    "capacity": {"Line"},
    "hiring": {"Employee", "Line"},
    "capital_project": {"Line", "ProductionWeek"},
    "supplier_delay": {"PurchaseOrder"},
}
SAME = 1e-9  # relative: summing the same rows in another order differs in the last bits


@dataclass
class SeriesForecast:
    """One use case's forecast totals over its horizon, per series (key: the series' dimension values)."""

    usecase: str
    dimensions: list[str]
    periods: list[str]
    baseline: dict[tuple[str, ...], list[float]]
    scenario: dict[tuple[str, ...], list[float]] = field(default_factory=dict)

    def ratios(self) -> dict[tuple[str, ...], float]:
        """Scenario / baseline units over the horizon, per series whose forecast moved."""
        out = {}
        for key, values in self.scenario.items():
            base = sum(self.baseline.get(key, []))
            if base > 0 and abs(sum(values) - base) > SAME * base:
                out[key] = sum(values) / base
        return out


@dataclass
class BaselineForecasts:
    """Baseline histories and refits, per (use case, user): shared by the scenarios of a comparison."""

    histories: dict[tuple[str, str], Any] = field(default_factory=dict)
    forecasts: dict[tuple[str, str], Any] = field(default_factory=dict)


def forecast_usecases(brain: Brain) -> list[UseCase]:
    return [uc for _, uc in sorted(brain.project.usecases.items()) if uc.task == "forecast" and uc.series]


def measured_objects(brain: Brain, metric: str) -> set[str]:
    """The object types whose rows a metric sums or counts (not the ones it only joins for dimensions)."""
    semantic = brain.semantic
    return {o for b in semantic.base_metrics(metric) if (o := semantic.metric(b).object)}


def forecast_section(
    brain: Brain,
    spec: ScenarioSpec,
    overlays: dict[str, int],
    user: str | Principal | None,
    shared: BaselineForecasts,
) -> tuple[dict[str, Any], list[SeriesForecast]]:
    """The `forecast` section of a scenario run, and the recomputed forecasts (for the plan)."""
    started = time.perf_counter()
    usecases = forecast_usecases(brain)
    if not usecases:
        return {"status": "not applicable", "reason": "the project has no forecast use case", "usecases": []}, []
    reports, recomputed = [], []
    for uc in usecases:
        try:
            report, fc = _one(brain, spec, uc, overlays, user, shared)
        except BrainError as exc:  # this use case's section fails, not the run
            report = {"usecase": uc.name, "status": "failed", "reason": f"failed: {exc.message}", "hint": exc.hint}
            fc = None
        reports.append(report)
        if fc is not None:
            recomputed.append(fc)
    statuses = {str(r["status"]) for r in reports}
    status = next((s for s in ("recomputed", "failed", DENIED, "not recomputed") if s in statuses), "unchanged")
    reason = "; ".join(f"{r['usecase']}: {r['reason']}" for r in reports)
    seconds = round(time.perf_counter() - started, 3)
    return {"status": status, "reason": reason, "usecases": reports, "seconds": seconds}, recomputed


def _one(
    brain: Brain,
    spec: ScenarioSpec,
    uc: UseCase,
    overlays: dict[str, int],
    user: str | Principal | None,
    shared: BaselineForecasts,
) -> tuple[dict[str, Any], SeriesForecast | None]:
    assert uc.series is not None and uc.horizon is not None
    series = uc.series
    head: dict[str, Any] = {
        "usecase": uc.name,
        "metric": series.metric,
        "by": list(series.by),
        "grain": series.grain,
        "horizon": uc.horizon,
    }
    measured = measured_objects(brain, series.metric)
    if not measured & {t for t, n in overlays.items() if n}:
        if any(CHANGE_WRITES[c.type] & measured for c in spec.changes):  # it could have, but no row was in scope
            why = f"unchanged: the scenario's changes reach no {', '.join(sorted(measured))} row"
            return {**head, "status": "unchanged", "reason": why}, None
        kinds = ", ".join(dict.fromkeys(CHANGE_WORDS[c.type] for c in spec.changes))
        return {**head, "status": "unchanged", "reason": f"unchanged (does not depend on {kinds})"}, None
    from companybrain.factory.forecast_line import history, recorded_champion

    # the champion as the brain last promoted or scored it (factory.champions): no registry client to start
    recorded = recorded_champion(brain.warehouse, uc.name)
    if recorded is None:
        reason = (
            f"not recomputed: no champion of {uc.name} is recorded (train it, or score its champion: "
            f"brain factory score {uc.name})"
        )
        return {**head, "status": "not recomputed", "reason": reason}, None
    label, settings = recorded
    head |= {"champion": label, "model": settings.get("model") or uc.model_family}
    who = brain.principal(user).reader_key()
    try:
        base_history = _shared(shared.histories, (uc.name, who), lambda: history(brain, uc, user))
        scen_history = history(brain, uc, user, spec.name)
    except PolicyDenied as exc:
        return {**head, "status": DENIED, "reason": f"{DENIED}: {exc.message}"}, None
    changed = changed_series(base_history, scen_history)
    if not changed:
        why = (
            f"unchanged: the overlays do not reach the history of {series.metric} by {', '.join(series.by)} "
            f"before {brain.project.spec.today or date.today()} (the scenario's period is {spec.period})"
        )
        return {**head, "status": "unchanged", "reason": why}, None
    base = _refit(shared, (uc.name, f"{who}@{label}"), uc, settings, base_history, changed)
    scen = _fit(uc, settings, scen_history[scen_history["unique_id"].isin(changed)])
    total = int(base_history["unique_id"].nunique())
    return _report(head, uc, base, scen, changed, total, base_history.attrs["dimensions"])


def _refit(
    shared: BaselineForecasts,
    key: tuple[str, str],
    uc: UseCase,
    settings: dict[str, Any],
    history: pd.DataFrame,
    series: list[str],
) -> pd.DataFrame:
    """The baseline forecast of `series`: fitted once per use case and user, the missing series added."""
    import pandas as pd

    done = shared.forecasts.get(key)
    have = set(done["unique_id"]) if done is not None else set()
    missing = [s for s in series if s not in have and s in set(history["unique_id"])]
    if missing:
        fitted = _fit(uc, settings, history[history["unique_id"].isin(missing)])
        done = fitted if done is None else pd.concat([done, fitted], ignore_index=True)
        shared.forecasts[key] = done
    if done is None:
        return pd.DataFrame({"unique_id": [], "ds": pd.to_datetime([]), "forecast": []})
    return done[done["unique_id"].isin(series)]


def _shared(cache: dict[tuple[str, str], Any], key: tuple[str, str], make: Any) -> Any:
    if key not in cache:
        cache[key] = make()
    return cache[key]


def changed_series(base: pd.DataFrame, scen: pd.DataFrame) -> list[str]:
    """The series whose history differs between the baseline and the scenario (or exists in one only)."""
    merged = base.merge(scen, on=["unique_id", "ds"], how="outer", suffixes=("_b", "_s")).fillna(0.0)
    tolerance = SAME * merged[["y_b", "y_s"]].abs().max(axis=1).clip(lower=1.0)
    moved = (merged["y_b"] - merged["y_s"]).abs() > tolerance
    only_one = set(base["unique_id"]) ^ set(scen["unique_id"])
    return sorted(set(merged.loc[moved, "unique_id"]) | only_one)


def _fit(uc: UseCase, settings: dict[str, Any], data: pd.DataFrame) -> pd.DataFrame:
    """The champion's model and settings, refit on `data` (as score_forecast does), no intervals."""
    from companybrain.factory import forecasting
    from companybrain.factory.forecast_line import FREQ, SEASON

    assert uc.series is not None and uc.horizon is not None
    return forecasting.fit_predict(
        data,
        model=settings.get("model") or uc.model_family,
        horizon=uc.horizon,
        season_length=uc.season_length or SEASON[uc.series.grain],
        freq=FREQ[uc.series.grain],
        levels=(),
        params=settings.get("params") or {},
    )


def _per_series(fc: pd.DataFrame) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {}
    for uid, rows in fc.sort_values("ds").groupby("unique_id", sort=True):
        out[str(uid)] = [max(0.0, float(v)) for v in rows["forecast"]]
    return out


def _report(
    head: dict[str, Any],
    uc: UseCase,
    base_fc: pd.DataFrame,
    scen_fc: pd.DataFrame,
    changed: list[str],
    total_series: int,
    dims: list[str],
) -> tuple[dict[str, Any], SeriesForecast]:
    from companybrain.factory.forecast_line import SEPARATOR

    assert uc.series is not None
    periods = sorted({d.date().isoformat() for d in base_fc["ds"]} | {d.date().isoformat() for d in scen_fc["ds"]})
    base, scen = _per_series(base_fc), _per_series(scen_fc)
    rows = []
    for uid in sorted(set(base) | set(scen)):
        b, s = sum(base.get(uid, [])), sum(scen.get(uid, []))
        row: dict[str, Any] = {"series": uid, **dict(zip(dims, uid.split(SEPARATOR), strict=False))}
        rows.append(row | _diff(b, s))
    weeks = []
    for i, period in enumerate(periods):
        b = sum(v[i] for v in base.values() if i < len(v))
        s = sum(v[i] for v in scen.values() if i < len(v))
        weeks.append({"period": period, **_diff(b, s)})
    total = _diff(sum(map(sum, base.values())), sum(map(sum, scen.values())))
    report = {
        **head,
        "status": "recomputed",
        "reason": f"recomputed: the scenario changes the history of {len(changed)} of {total_series} series "
        f"({uc.series.metric} by {', '.join(uc.series.by)}); each was refit on the baseline and on the scenario, "
        "the others' forecast is the same in both",
        "baseline_source": "the champion refit on the baseline series, read as this user (like for like)",
        "from": periods[0] if periods else None,
        "to": periods[-1] if periods else None,
        "series_refit": len(changed),
        "series_total": total_series,
        "total": total,
        "total_of": "the refit series",
        "periods": weeks,
        "series": rows,
    }
    keyed = SeriesForecast(
        uc.name,
        list(uc.series.by),
        periods,
        {tuple(uid.split(SEPARATOR)): v for uid, v in base.items()},
        {tuple(uid.split(SEPARATOR)): v for uid, v in scen.items()},
    )
    return report, keyed


def _diff(b: float, s: float) -> dict[str, Any]:
    same = abs(s - b) <= SAME * max(abs(b), abs(s))
    return {
        "baseline": round(b, 3),
        "scenario": round(s, 3),
        "diff": 0.0 if same else round(s - b, 3),
        "diff_pct": None if not b else (0.0 if same else (s - b) / abs(b)),
    }

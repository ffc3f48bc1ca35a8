"""The factory line for forecast use cases: the metric's history through the query path, a rolling-origin
backtest against seasonal naive (members and interval calibration chosen before each fold on earlier
windows only), and forecasts written as objects of the use case's output type with the choice the
registered version made on the last windows of the history."""

from __future__ import annotations

import json
import time
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pandas as pd
import pyarrow as pa
from sqlglot import exp

from companybrain.errors import BrainError
from companybrain.factory import forecast_hierarchy, forecasting
from companybrain.factory.forecast_choice import Choice
from companybrain.factory.line import sources_of
from companybrain.factory.registry import Registry
from companybrain.factory.training import _periods, today_of
from companybrain.ontology.model import FACTORY_SCHEMA, materialize_query, object_table
from companybrain.semantic.query import MetricQuery
from companybrain.specs.usecases import UseCase
from companybrain.warehouse.base import Warehouse
from companybrain.warehouse.ddl import col, create_table, insert_select, insert_values, literal, table

if TYPE_CHECKING:
    from companybrain.brain import Brain
    from companybrain.governance.principal import Principal

FREQ = {"day": "D", "week": "W-MON", "month": "MS", "quarter": "QS-JAN", "year": "YS-JAN"}
SEASON = {"day": 7, "week": 52, "month": 12, "quarter": 4, "year": 1}
SEPARATOR = " | "
# without series.start, the history is all of the metric's: the query reads from this date on
EARLIEST = date(1900, 1, 1)
PERIOD_DAYS = {"day": 1, "week": 7, "month": 31, "quarter": 92, "year": 366}
CHOICE_FILE = "forecaster.json"


def history(brain: Brain, uc: UseCase, user: str | Principal | None, scenario: str | None = None) -> pd.DataFrame:
    """unique_id, ds, y: the metric per series and whole period up to today (from `series.start`, else all
    its history), missing periods as 0, read as `user` (the factory reads as the use case's `run_as`) and,
    with `scenario`, over its overlays."""
    assert uc.series is not None
    series = uc.series
    today = today_of(brain)
    starts, ends = _periods(series.grain, today - timedelta(days=2 * PERIOD_DAYS[series.grain]), today)
    done = ends <= pd.Timestamp(today).to_datetime64().astype("datetime64[D]")
    last = pd.Timestamp(starts[done][-1]).date()
    end = pd.Timestamp(ends[done][-1]).date() - timedelta(days=1)  # the last day of the last whole period
    if series.start is not None and series.start > end:
        raise BrainError(
            f"use case {uc.name}: series.start {series.start} is after the last whole {series.grain} ({last})",
            hint="move series.start earlier, or leave it out to use all the metric's history",
        )
    query = MetricQuery(
        metrics=(series.metric,),
        by=(*series.by, series.grain),
        where=series.where,
        period=f"{series.start or EARLIEST}..{end}",
    )
    raw = brain.query_table(query, user, scenario).to_pandas()
    if raw.empty:
        raise BrainError(f"use case {uc.name}: {series.metric} has no data by {', '.join(series.by)}")
    dims = list(raw.columns[: len(series.by)])
    raw["unique_id"] = raw[dims].astype(str).agg(SEPARATOR.join, axis=1)
    raw["ds"] = pd.to_datetime(raw[raw.columns[len(series.by)]])
    raw["y"] = pd.to_numeric(raw[raw.columns[len(series.by) + 1]], errors="coerce").fillna(0.0)
    raw = raw[raw["ds"] <= pd.Timestamp(last)]
    if raw.empty:
        raise BrainError(f"use case {uc.name}: no complete {series.grain} of {series.metric} before {today}")
    grid_starts, _ = _periods(series.grain, raw["ds"].min().date(), last)
    grid = pd.DatetimeIndex(grid_starts)
    frames = []
    for uid, rows in raw.groupby("unique_id", sort=True):
        span = grid[grid >= rows["ds"].min()]
        frames.append(pd.DataFrame({"unique_id": uid, "ds": span}).merge(rows[["ds", "y"]], on="ds", how="left"))
    out = pd.concat(frames, ignore_index=True)
    out["y"] = out["y"].fillna(0.0).astype(float)
    out.attrs["dimensions"] = dims
    return out


def regressors_of(uc: UseCase) -> dict[str, str]:
    """The use case's regressors as the engine takes them: metric -> planned or last."""
    return {r.metric: r.future for r in uc.regressors}


def regressor_values(
    brain: Brain, uc: UseCase, user: str | Principal | None, data: pd.DataFrame, periods_ahead: int = 0
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The history with a column per regressor (a period without a value takes the series' previous
    one, 0 before its first), and the planned regressors' values over the `periods_ahead` periods past
    it (unique_id, ds, a column each). Each regressor is a metric of the project, read through the
    query path by the series' dimensions and grain as `user`."""
    assert uc.series is not None
    series, out = uc.series, data.copy()
    last = data["ds"].max()
    ahead_starts, _ = _periods(
        series.grain, last.date(), last.date() + timedelta(days=PERIOD_DAYS[series.grain] * (periods_ahead + 1))
    )
    ahead = [d for d in pd.DatetimeIndex(ahead_starts) if d > last][:periods_ahead]
    until = (ahead[-1] if ahead else last).date() + timedelta(days=PERIOD_DAYS[series.grain] - 1)
    future = pd.DataFrame({"unique_id": [], "ds": pd.DatetimeIndex([])})
    if ahead:
        future = pd.DataFrame(
            [(uid, d) for uid in data["unique_id"].unique() for d in ahead], columns=["unique_id", "ds"]
        )
    for regressor in uc.regressors:
        query = MetricQuery(
            metrics=(regressor.metric,),
            by=(*series.by, series.grain),
            period=f"{series.start or EARLIEST}..{until}",
        )
        raw = brain.query_table(query, user).to_pandas()
        n = len(series.by)
        values = pd.DataFrame(
            {
                "unique_id": raw[list(raw.columns[:n])].astype(str).agg(SEPARATOR.join, axis=1) if len(raw) else [],
                "ds": pd.to_datetime(raw[raw.columns[n]]) if len(raw) else pd.DatetimeIndex([]),
                regressor.metric: pd.to_numeric(raw[raw.columns[n + 1]], errors="coerce") if len(raw) else [],
            }
        )
        out = out.merge(values, on=["unique_id", "ds"], how="left")
        out[regressor.metric] = out.groupby("unique_id", sort=False)[regressor.metric].ffill().fillna(0.0)
        if regressor.future == "planned" and ahead:
            future = future.merge(values, on=["unique_id", "ds"], how="left")
    out.attrs = data.attrs
    return out, future


def train_forecast(brain: Brain, uc: UseCase, registry: Registry) -> dict[str, Any]:
    """Backtest the forecaster on rolling origins against seasonal naive; register; promote by the rule."""
    from companybrain.factory.line import promotion

    assert uc.series is not None and uc.horizon is not None
    started = time.perf_counter()
    data = history(brain, uc, brain.principal(uc.run_as))
    if uc.regressors:
        data, _ = regressor_values(brain, uc, brain.principal(uc.run_as), data)
    season = uc.season_length or SEASON[uc.series.grain]
    common: dict[str, Any] = {
        "model": uc.model_family,
        "horizon": uc.horizon,
        "season_length": season,
        "freq": FREQ[uc.series.grain],
        "folds": uc.backtest.folds,
        "params": uc.params,
        "windows": uc.backtest.windows,
    }
    if uc.hierarchy is not None:
        h = uc.hierarchy
        report = forecast_hierarchy.backtest(
            data, dims=uc.series.by, levels=h.levels, method=h.method, intervals=uc.levels, **common
        )
    else:
        report = forecasting.backtest(data, levels=uc.levels, regressors=regressors_of(uc), **common)
    choice = report["choice"]
    backtest = {
        "series": report["series"],
        "folds": report["folds"],
        "points": report["points"],
        "model": _finite(report["metrics"]["model"]),
        "baseline": _finite(report["metrics"]["baseline"]),
        "intervals": {f"{level}%": report["metrics"]["model"].get(f"coverage_{level}") for level in uc.levels},
        "members_per_fold": [f["members"] for f in report["per_fold"]],
        "per_fold": report["per_fold"],
        "warnings": [],
    }
    if "hierarchy" in report:
        backtest["hierarchy"] = report["hierarchy"]
    status, reason = promotion(uc, registry, backtest)
    metrics = {f"model_{k}": v for k, v in backtest["model"].items()}
    metrics |= {f"baseline_{k}": v for k, v in backtest["baseline"].items()}
    objects = _objects(brain, uc)
    lineage = {
        "source_tables": sources_of(brain, objects),
        "objects": sorted(objects),
        "metrics": [uc.series.metric, *regressors_of(uc)],
        "dimensions": uc.series.by,
        "run_as": brain.principal(uc.run_as).user,
        "data_version": brain.data_version(),
    }
    version = registry.record(
        uc.name,
        status=status,
        model_family=uc.model_family,
        data_version=brain.data_version(),
        params={
            "task": "forecast",
            "metric": uc.series.metric,
            "by": ",".join(uc.series.by),
            "grain": uc.series.grain,
            "horizon": uc.horizon,
            "season_length": season,
            "model_family": uc.model_family,
            "baseline": uc.baseline,
            "folds": uc.backtest.folds,
            **({"regressors": ",".join(f"{k}:{v}" for k, v in regressors_of(uc).items())} if uc.regressors else {}),
            **{f"param_{k}": v for k, v in uc.params.items()},
        },
        metrics=metrics,
        artifacts={
            "backtest.json": backtest,
            "lineage.json": lineage,
            "usecase.json": uc.model_dump(mode="json"),
            CHOICE_FILE: choice,
        },
        files={},
    )
    if version.status == "champion":
        with brain.warehouse.transaction():
            record_champion(brain.warehouse, uc.name, version.label, _settings(uc.model_dump(mode="json"), choice))
    return {
        "usecase": uc.name,
        "task": "forecast",
        "status": "ok",
        "version": version.version,
        "promotion": version.status,
        "promotion_reason": reason,
        "backtest": {k: v for k, v in backtest.items() if k != "per_fold"},
        "forecaster": {"members": choice["members"], "interval_factors": choice["factors"]}
        | ({"regressor_effects": choice["regressors"]} if "regressors" in choice else {})
        | ({"hierarchy": backtest["hierarchy"]} if "hierarchy" in backtest else {}),
        "lineage": lineage,
        "seconds": round(time.perf_counter() - started, 2),
    }


def _settings(usecase: dict[str, Any], choice: dict[str, Any] | None) -> dict[str, Any]:
    """A version's settings as scoring and scenarios refit them: the use case with the chosen members."""
    if choice is None or usecase.get("model") not in (None, "ensemble"):
        return usecase
    params = {k: v for k, v in (usecase.get("params") or {}).items() if k != "candidates"}
    return usecase | {"params": params | {"members": list(choice["members"])}}


def version_settings(registry: Registry, version: Any) -> tuple[dict[str, Any], dict[str, list[float]]]:
    """A version's settings (its use case with the members it chose) and its interval calibration; a
    version registered before choices were recorded scores with its use case as it was, uncalibrated."""
    settings = registry.read_json(version, "usecase.json")
    if not registry.has_artifact(version, CHOICE_FILE):
        return settings, {}
    choice = registry.read_json(version, CHOICE_FILE)
    return _settings(settings, choice), Choice.from_dict(choice).factors


# the champion of each forecast use case, as the brain last promoted or scored it: what a scenario
# refits (decisions/scenario_forecast.py) without starting the registry's client
CHAMPIONS = table(FACTORY_SCHEMA, "champions")
CHAMPION_COLUMNS = {"usecase": "string", "version": "string", "settings": "string", "recorded_at": "string"}


def record_champion(wh: Warehouse, usecase: str, label: str, settings: dict[str, Any]) -> None:
    """Keep the champion's label and trained settings (call inside the caller's transaction)."""
    wh.ensure_schema(FACTORY_SCHEMA)
    wh.execute(create_table(CHAMPIONS, CHAMPION_COLUMNS))
    wh.execute(exp.delete(CHAMPIONS).where(col("usecase").eq(literal(usecase))))
    row = {"usecase": usecase, "version": label, "settings": json.dumps(settings, sort_keys=True)}
    wh.execute(insert_values(CHAMPIONS, {**row, "recorded_at": datetime.now(UTC).isoformat(timespec="seconds")}))


def recorded_champion(wh: Warehouse, usecase: str) -> tuple[str, dict[str, Any]] | None:
    """(label, settings) of the use case's champion as last recorded, or None."""
    if "champions" not in wh.list_tables(FACTORY_SCHEMA):
        return None
    query = exp.select("version", "settings").from_(CHAMPIONS).where(col("usecase").eq(literal(usecase)))
    rows = wh.query_arrow(query).to_pylist()
    return (rows[0]["version"], json.loads(rows[0]["settings"])) if rows else None


def score_forecast(brain: Brain, uc: UseCase, registry: Registry, version: int | None = None) -> dict[str, Any]:
    """Forecast every series `horizon` periods past the last whole period with the champion's settings."""
    assert uc.series is not None and uc.horizon is not None and uc.output.object is not None
    started = time.perf_counter()
    chosen = registry.get(uc.name, version)
    settings, factors = version_settings(registry, chosen)
    data = history(brain, uc, brain.principal(uc.run_as))
    dims = data.attrs["dimensions"]
    future = None
    if uc.regressors:
        data, future = regressor_values(brain, uc, brain.principal(uc.run_as), data, uc.horizon)
    hierarchy = None
    if uc.hierarchy is not None:
        hierarchy = forecast_hierarchy.structure(sorted(data["unique_id"].unique()), uc.series.by, uc.hierarchy.levels)
    fc = forecasting.fit_predict(
        forecast_hierarchy.aggregate(data, hierarchy) if hierarchy is not None else data,
        model=settings.get("model") or uc.model_family,
        horizon=uc.horizon,
        season_length=uc.season_length or SEASON[uc.series.grain],
        freq=FREQ[uc.series.grain],
        levels=uc.levels,
        params=settings.get("params") or {},
        calibration=factors,
        regressors=regressors_of(uc),
        future=future,
    )
    if hierarchy is not None and uc.hierarchy is not None:
        # written: the bottom series, reconciled, so that summing them by any declared level gives that
        # level's reconciled forecast
        fc = forecast_hierarchy.reconcile(fc, hierarchy, uc.hierarchy.method, bool((data["y"] >= 0).all()))
        fc = fc[fc["unique_id"].isin(hierarchy.bottom)].reset_index(drop=True)
    parts = fc["unique_id"].str.split(SEPARATOR, regex=False)
    columns: dict[str, Any] = {
        "forecast_id": (fc["unique_id"] + SEPARATOR + fc["ds"].dt.date.astype(str)).tolist(),
        "series": fc["unique_id"].tolist(),
    }
    for i, column in enumerate(uc.series.columns()):
        columns[column] = parts.str[i].tolist()
    columns["period"] = pa.array(fc["ds"].dt.date.tolist(), pa.date32())
    columns["forecast"] = pa.array(fc["forecast"].clip(lower=0).astype(float).tolist(), pa.float64())
    for level in uc.levels:
        columns[f"lower_{level}"] = pa.array(fc[f"lo_{level}"].clip(lower=0).astype(float).tolist(), pa.float64())
        columns[f"upper_{level}"] = pa.array(fc[f"hi_{level}"].astype(float).tolist(), pa.float64())
    columns["model_version"] = [chosen.label] * len(fc)
    columns["forecast_at"] = pa.array([datetime.now(UTC).replace(tzinfo=None)] * len(fc), pa.timestamp("us"))
    rows = pa.table(columns)
    source = table(FACTORY_SCHEMA, f"forecast__{uc.name}")
    obj = brain.project.objects[uc.output.object]
    live = object_table(uc.output.object)
    wh = brain.warehouse
    brain.require_built()
    with wh.transaction():
        if chosen.status == "champion":
            record_champion(wh, uc.name, chosen.label, settings)
        wh.execute(exp.delete(source))
        wh.write_arrow(source, rows, create=False)
        wh.execute(exp.delete(live))
        wh.execute(insert_select(live, list(obj.properties), materialize_query(obj)))
        wh.analyze(live)
    return {
        "usecase": uc.name,
        "status": "ok",
        "version": chosen.version,
        "series": int(fc["unique_id"].nunique()),
        "forecasts": len(fc),
        "from": str(fc["ds"].min().date()),
        "to": str(fc["ds"].max().date()),
        "written_to": uc.output.object,
        "dimensions": dims,
        "seconds": round(time.perf_counter() - started, 2),
    }


def _finite(metrics: dict[str, Any]) -> dict[str, float]:
    return {k: float(v) for k, v in metrics.items() if isinstance(v, int | float) and v == v}


def _objects(brain: Brain, uc: UseCase) -> set[str]:
    """The object types the series' query reads: the metric's, and those of its dimensions and filter."""
    from companybrain.factory.line import objects_reached

    assert uc.series is not None
    series = uc.series
    query = MetricQuery(metrics=(series.metric,), by=(*series.by, series.grain), where=series.where)
    queries = [query, *[MetricQuery(metrics=(r.metric,), by=(*series.by, series.grain)) for r in uc.regressors]]
    return objects_reached(brain, queries, uc.run_as)

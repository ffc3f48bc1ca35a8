"""The factory line for forecast use cases: the metric's history through the query path, a rolling-origin
backtest against seasonal naive, and forecasts written as objects of the use case's output type."""

from __future__ import annotations

import json
import time
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pandas as pd
import pyarrow as pa
from sqlglot import exp

from companybrain.errors import BrainError
from companybrain.factory import forecasting
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

FREQ = {"day": "D", "week": "W-MON", "month": "MS"}
SEASON = {"day": 7, "week": 52, "month": 12}
SEPARATOR = " | "


def history(brain: Brain, uc: UseCase, user: str | Principal | None, scenario: str | None = None) -> pd.DataFrame:
    """unique_id, ds, y: the metric per series and whole period up to today, missing periods as 0,
    read as `user` (the factory reads as the use case's `run_as`) and, with `scenario`, over its overlays."""
    assert uc.series is not None
    series = uc.series
    today = today_of(brain)
    starts, ends = _periods(series.grain, series.start or date(today.year - 10, 1, 1), today)
    complete = starts[ends <= pd.Timestamp(today).to_datetime64().astype("datetime64[D]")]
    if len(complete) == 0:
        raise BrainError(f"use case {uc.name}: no complete {series.grain} before {today}")
    first, last = pd.Timestamp(complete[0]).date(), pd.Timestamp(complete[-1]).date()
    end = last + timedelta(days={"day": 0, "week": 6, "month": 27}[series.grain])
    query = MetricQuery(
        metrics=(series.metric,), by=(*series.by, series.grain), where=series.where, period=f"{first}..{end}"
    )
    raw = brain.query_table(query, user, scenario).to_pandas()
    if raw.empty:
        raise BrainError(f"use case {uc.name}: {series.metric} has no data by {', '.join(series.by)}")
    dims = list(raw.columns[: len(series.by)])
    raw["unique_id"] = raw[dims].astype(str).agg(SEPARATOR.join, axis=1)
    raw["ds"] = pd.to_datetime(raw[raw.columns[len(series.by)]])
    raw["y"] = pd.to_numeric(raw[raw.columns[len(series.by) + 1]], errors="coerce").fillna(0.0)
    raw = raw[raw["ds"] <= pd.Timestamp(last)]
    grid = pd.DatetimeIndex(complete)
    frames = []
    for uid, rows in raw.groupby("unique_id", sort=True):
        span = grid[grid >= rows["ds"].min()]
        frames.append(pd.DataFrame({"unique_id": uid, "ds": span}).merge(rows[["ds", "y"]], on="ds", how="left"))
    out = pd.concat(frames, ignore_index=True)
    out["y"] = out["y"].fillna(0.0).astype(float)
    out.attrs["dimensions"] = dims
    return out


def train_forecast(brain: Brain, uc: UseCase, registry: Registry) -> dict[str, Any]:
    """Backtest the forecaster on rolling origins against seasonal naive; register; promote by the rule."""
    from companybrain.factory.line import promotion

    assert uc.series is not None and uc.horizon is not None
    started = time.perf_counter()
    data = history(brain, uc, brain.principal(uc.run_as))
    season = uc.season_length or SEASON[uc.series.grain]
    report = forecasting.backtest(
        data,
        model=uc.model_family,
        horizon=uc.horizon,
        season_length=season,
        freq=FREQ[uc.series.grain],
        folds=uc.backtest.folds,
        params=uc.params,
        levels=uc.levels,
    )
    backtest = {
        "series": report["series"],
        "folds": report["folds"],
        "points": report["points"],
        "model": _finite(report["metrics"]["model"]),
        "baseline": _finite(report["metrics"]["baseline"]),
        "per_fold": report["per_fold"],
        "warnings": [],
    }
    status, reason = promotion(uc, registry, backtest)
    metrics = {f"model_{k}": v for k, v in backtest["model"].items()}
    metrics |= {f"baseline_{k}": v for k, v in backtest["baseline"].items()}
    lineage = {
        "source_tables": _sources(brain, uc),
        "metrics": [uc.series.metric],
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
            **{f"param_{k}": v for k, v in uc.params.items()},
        },
        metrics=metrics,
        artifacts={"backtest.json": backtest, "lineage.json": lineage, "usecase.json": uc.model_dump(mode="json")},
        files={},
    )
    if version.status == "champion":
        with brain.warehouse.transaction():
            record_champion(brain.warehouse, uc.name, version.label, uc.model_dump(mode="json"))
    return {
        "usecase": uc.name,
        "task": "forecast",
        "status": "ok",
        "version": version.version,
        "promotion": version.status,
        "promotion_reason": reason,
        "backtest": {k: v for k, v in backtest.items() if k != "per_fold"},
        "lineage": lineage,
        "seconds": round(time.perf_counter() - started, 2),
    }


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
    settings = registry.read_json(chosen, "usecase.json")
    data = history(brain, uc, brain.principal(uc.run_as))
    dims = data.attrs["dimensions"]
    fc = forecasting.fit_predict(
        data,
        model=settings.get("model") or uc.model_family,
        horizon=uc.horizon,
        season_length=uc.season_length or SEASON[uc.series.grain],
        freq=FREQ[uc.series.grain],
        levels=uc.levels,
        params=settings.get("params") or {},
    )
    parts = fc["unique_id"].str.split(SEPARATOR, regex=False)
    columns: dict[str, Any] = {
        "forecast_id": (fc["unique_id"] + SEPARATOR + fc["ds"].dt.date.astype(str)).tolist(),
        "series": fc["unique_id"].tolist(),
    }
    for i, dim in enumerate(uc.series.by):
        columns[dim.replace(".", "_").lower()] = parts.str[i].tolist()
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


def _sources(brain: Brain, uc: UseCase) -> list[str]:
    from companybrain.ontology.build import inputs_of

    assert uc.series is not None
    semantic = brain.semantic
    objects = {semantic.metric(b).object or "" for b in semantic.base_metrics(uc.series.metric)} - {""}
    return sorted({t for o in objects for t in inputs_of(brain.project.objects[o])})

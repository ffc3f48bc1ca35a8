"""Point-in-time training sets: entity snapshots at as-of times, features that only see the past.

Every number comes through the one query path as the use case's `run_as` user: metric features
are one `MetricQuery` per metric at its grain, broken down by the entity's key; a snapshot's
window is the whole periods that end on or before its as-of time, so nothing after the as-of time
reaches a metric feature; the target looks only at [as-of, as-of + horizon). Property features are
the values as they stand now (the company model keeps no history of them): a use case should use
them only for values that do not change after the as-of time (a hire date, a product family).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pyarrow as pa
from sqlglot import exp

from companybrain.errors import BrainError, PolicyDenied
from companybrain.semantic.query import MetricQuery
from companybrain.specs.ontology import SPEC_DIALECT
from companybrain.specs.usecases import Feature, UseCase

if TYPE_CHECKING:
    from companybrain.brain import Brain
    from companybrain.factory.live import LiveDays
    from companybrain.governance.principal import Principal

KEY, AS_OF, LABEL, RESOLVED, GROUP = "_key", "_as_of", "_label", "_resolved", "_group"
DEFAULT_SPAN_DAYS = 365


class FeatureError(BrainError):
    """A use case's data cannot be read or shaped into features."""


@dataclass
class TrainingSet:
    """Rows of (entity, as-of time) with features and, when known, the label."""

    frame: pd.DataFrame
    features: list[str]
    categorical: list[str]
    lineage: dict[str, Any] = field(default_factory=dict)


def today_of(brain: Brain) -> date:
    return brain.project.spec.today or date.today()


def calendar_as_ofs(uc: UseCase, today: date) -> list[date]:
    """Training as-of dates: every N days, ending where the target's horizon still fits in the data."""
    horizon = uc.target.horizon_days if uc.target and uc.target.horizon_days else 0
    end = uc.snapshots.end or today - timedelta(days=horizon)
    start = uc.snapshots.start or end - timedelta(days=DEFAULT_SPAN_DAYS)
    if start > end:
        raise FeatureError(
            f"use case {uc.name}: snapshots start {start} is after the last as-of date {end}",
            hint="move snapshots.start earlier or shorten the target's horizon_days",
        )
    days = (end - start).days
    return [end - timedelta(days=d) for d in range(days % uc.snapshots.every_days, days + 1, uc.snapshots.every_days)][
        ::-1
    ]


def training_set(brain: Brain, uc: UseCase, principal: Principal) -> TrainingSet:
    """Every labelled snapshot the use case learns from."""
    entities = _entities(brain, uc, principal)
    if uc.snapshots.at:
        rows = pd.DataFrame({KEY: entities[KEY], AS_OF: _dates(entities[uc.snapshots.at])})
    elif uc.target and uc.target.outcome:  # an outcome with no time of its own: one row per entity, as of today
        rows = pd.DataFrame({KEY: entities[KEY], AS_OF: pd.Timestamp(today_of(brain))})
    else:
        as_ofs = calendar_as_ofs(uc, today_of(brain))
        rows = _alive_rows(uc, entities, as_ofs)
    if uc.target and uc.target.outcome:
        labelled = _keys_where(brain, uc, uc.target.labelled, principal)
        rows = rows[rows[KEY].isin(labelled)]
    rows = rows.dropna(subset=[AS_OF]).reset_index(drop=True)
    if rows.empty:
        raise FeatureError(f"use case {uc.name}: no {uc.entity} snapshots to learn from", hint=_data_hint(uc))
    out = _features(brain, uc, principal, entities, rows)
    if uc.target is not None and uc.target.resolved:
        known = entities.drop_duplicates(KEY).set_index(KEY)[uc.target.resolved]
        out.frame[RESOLVED] = _dates(out.frame[KEY].map(known)).to_numpy()
    if uc.backtest.group_by:
        group = entities.drop_duplicates(KEY).set_index(KEY)[uc.backtest.group_by]
        out.frame[GROUP] = out.frame[KEY].map(group).astype("string").to_numpy()
    if uc.target is not None:
        out.frame[LABEL] = _labels(brain, uc, principal, entities, rows)
        out.frame = out.frame.dropna(subset=[LABEL]).reset_index(drop=True)
        if uc.task == "classify" and out.frame[LABEL].nunique() < 2:
            raise FeatureError(
                f"use case {uc.name}: every training row has the same label ({out.frame[LABEL].iloc[0]!r})",
                hint="widen the snapshots or check the target's definition",
            )
    return out


def scoring_set(brain: Brain, uc: UseCase, principal: Principal, as_of: date | list[date] | None = None) -> TrainingSet:
    """The population to score now (or at `as_of`, or at each of several dates), with features as of then."""
    whens = as_of if isinstance(as_of, list) else [as_of or today_of(brain)]
    entities = _entities(brain, uc, principal)
    if uc.population:
        entities = entities[entities[KEY].isin(_keys_where(brain, uc, uc.population, principal))]
    if uc.snapshots.at:
        rows = pd.concat([entities[[KEY]].assign(**{AS_OF: pd.Timestamp(w)}) for w in whens], ignore_index=True)
    else:
        rows = _alive_rows(uc, entities, whens)
    if rows.empty:
        raise FeatureError(f"use case {uc.name}: no {uc.entity} to score as of {whens[-1]}", hint=_data_hint(uc))
    return _features(brain, uc, principal, entities, rows.reset_index(drop=True))


# --- entities --------------------------------------------------------------------------------


def _entities(brain: Brain, uc: UseCase, principal: Principal) -> pd.DataFrame:
    """The entity's properties the use case needs (link properties joined in), keyed by KEY."""
    assert uc.entity is not None
    obj = brain.project.objects[uc.entity]
    table = _read(brain, uc, uc.entity, principal)
    frame = pd.DataFrame({KEY: [str(k) for k in table.column(obj.key).to_pylist()]})
    wanted = [f.property or f.age_of for f in uc.features.values() if f.property or f.age_of]
    wanted += [p for p in (uc.snapshots.at, uc.snapshots.alive_from, uc.snapshots.alive_to) if p]
    if uc.target and uc.target.event:
        wanted.append(uc.target.event)
    if uc.target and uc.target.resolved:
        wanted.append(uc.target.resolved)
    if uc.backtest.group_by:
        wanted.append(uc.backtest.group_by)
    wanted += [obj.links[f.of].via for f in uc.features.values() if f.of]
    for name in dict.fromkeys(p for p in wanted if p):
        if "." not in name:
            frame[name] = _column(uc, table, name)
            continue
        link_name, _, prop = name.partition(".")
        link = obj.links[link_name]
        assert link.via is not None
        target_obj = brain.project.objects[link.to]
        linked = _read(brain, uc, link.to, principal)
        lookup = dict(
            zip((str(k) for k in linked.column(target_obj.key).to_pylist()), _column(uc, linked, prop), strict=True)
        )
        frame[name] = [lookup.get(str(k)) if k is not None else None for k in table.column(link.via).to_pylist()]
    return frame


def _read(brain: Brain, uc: UseCase, type_name: str, principal: Principal) -> pa.Table:
    try:
        return brain.read(type_name, user=principal)
    except PolicyDenied as exc:
        raise PolicyDenied(
            f"use case {uc.name} runs as {principal.user!r}, who may not read {type_name}: {exc.message}",
            policy=exc.policy,
            hint="set run_as in the use case to a user whose roles grant it",
        ) from None


def _column(uc: UseCase, table: pa.Table, name: str) -> list[Any]:
    values = table.column(name).to_pylist()
    if any(v == "***" for v in values[:1000]):
        raise FeatureError(
            f"use case {uc.name}: property {name!r} is masked for its run_as user",
            hint="give run_as a user whose role unmasks it, or drop the feature",
        )
    return values


def _keys_where(brain: Brain, uc: UseCase, where: str | None, principal: Principal) -> set[str]:
    assert uc.entity is not None
    key = brain.project.objects[uc.entity].key
    table = brain.read(uc.entity, where=where, user=principal)
    return {str(k) for k in table.column(key).to_pylist()}


def _dates(values: pd.Series) -> pd.Series:
    return pd.to_datetime(values).dt.normalize()


def _alive_rows(uc: UseCase, entities: pd.DataFrame, as_ofs: list[date]) -> pd.DataFrame:
    """(entity, as-of) for every entity that exists at each as-of time."""
    parts = []
    start = _dates(entities[uc.snapshots.alive_from]) if uc.snapshots.alive_from else None
    end = _dates(entities[uc.snapshots.alive_to]) if uc.snapshots.alive_to else None
    for when in as_ofs:
        ts = pd.Timestamp(when)
        alive = pd.Series(True, index=entities.index)
        if start is not None:
            alive &= start.le(ts).fillna(False)
        if end is not None:
            alive &= end.isna() | end.gt(ts)
        parts.append(pd.DataFrame({KEY: entities.loc[alive, KEY].to_numpy(), AS_OF: ts}))
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame({KEY: [], AS_OF: []})


# --- features --------------------------------------------------------------------------------


def _features(
    brain: Brain,
    uc: UseCase,
    principal: Principal,
    entities: pd.DataFrame,
    rows: pd.DataFrame,
    live: LiveDays | None = None,
) -> TrainingSet:
    frame = rows.copy()
    frame[AS_OF] = pd.to_datetime(frame[AS_OF])
    by_key = entities.drop_duplicates(KEY).set_index(KEY)
    categorical: list[str] = []
    metrics_used: set[str] = set()
    for name, feature in uc.features.items():
        if feature.property:
            frame[name] = frame[KEY].map(by_key[feature.property]).to_numpy()
            if feature.categorical:
                frame[name] = frame[name].astype("string")
                categorical.append(name)
            else:
                frame[name] = pd.to_numeric(frame[name], errors="coerce")
        elif feature.age_of:
            born = _dates(frame[KEY].map(by_key[feature.age_of]))
            frame[name] = (frame[AS_OF] - born).dt.days.astype("float")
        elif feature.metric:
            metrics_used.add(feature.metric)
            rows_of = frame
            if feature.of:  # each row reads the metric of the object it links to (its supplier)
                via = brain.project.objects[uc.entity or ""].links[feature.of].via or ""
                linked = frame[KEY].map(by_key[via]).map(lambda k: None if k is None or k != k else str(k))
                rows_of = frame.assign(**{KEY: linked})
            frame[name] = _metric_feature(brain, uc, principal, feature, rows_of, live)
    for name, feature in uc.features.items():
        if feature.expr:
            frame[name] = _evaluate(uc, name, feature.expr, frame)
    lineage = {
        "entity": uc.entity,
        "metrics": sorted(metrics_used | ({uc.target.metric} if uc.target and uc.target.metric else set())),
        "properties": sorted(set(properties_read(uc))),
        "vias": sorted({f.via for f in uc.features.values() if f.metric and f.via}),
        "run_as": principal.user,
    }
    return TrainingSet(frame, list(uc.features), categorical, lineage)


def properties_read(uc: UseCase) -> list[str]:
    """Every property of the entity (or `link.property`) the use case reads: features, snapshots, target."""
    found = [f.property or f.age_of or "" for f in uc.features.values()]
    found += [uc.snapshots.at or "", uc.snapshots.alive_from or "", uc.snapshots.alive_to or ""]
    if uc.target is not None:
        found += [uc.target.event or "", uc.target.resolved or ""]
    found.append(uc.backtest.group_by or "")
    return [p for p in dict.fromkeys(found) if p]


def _evaluate(uc: UseCase, name: str, expr: str, frame: pd.DataFrame) -> pd.Series:
    try:
        with np.errstate(divide="ignore", invalid="ignore"):
            value = frame.eval(expr.replace("/", " / "), engine="python")
    except Exception as exc:  # pandas raises many kinds for a bad expression
        raise FeatureError(f"use case {uc.name}: feature {name}: cannot evaluate {expr!r}: {exc}") from None
    return pd.to_numeric(value, errors="coerce").replace([np.inf, -np.inf], np.nan)


@dataclass
class Panel:
    """A metric at a grain: one row per entity, one column per period (NaN where no data)."""

    keys: dict[str, int]
    starts: np.ndarray  # datetime64[D] period starts
    ends: np.ndarray
    values: np.ndarray


def _periods(grain: str, start: date, end: date) -> tuple[np.ndarray, np.ndarray]:
    if grain == "day":
        starts = pd.date_range(start, end, freq="D")
        ends = starts + pd.Timedelta(days=1)
    elif grain == "week":
        starts = pd.date_range(pd.Timestamp(start) - pd.Timedelta(days=start.weekday()), end, freq="7D")
        ends = starts + pd.Timedelta(days=7)
    else:
        months = {"month": 1, "quarter": 3, "year": 12}[grain]
        first = pd.Timestamp(start).replace(day=1)
        first = first.replace(month=first.month - (first.month - 1) % months)
        starts = pd.date_range(first, end, freq=f"{months}MS")
        ends = starts + pd.DateOffset(months=months)
    return starts.values.astype("datetime64[D]"), pd.DatetimeIndex(ends).values.astype("datetime64[D]")


def metric_panel(
    brain: Brain,
    uc: UseCase,
    principal: Principal,
    metric: str,
    grain: str,
    via: str | None,
    start: date,
    end: date,
    only: list[str] | None = None,
    of: str | None = None,
) -> Panel:
    """The metric for every entity (or those keyed in `only`) at `grain` over [start, end], through the query path;
    with `of` (an object type), for every object of that type instead."""
    assert uc.entity is not None
    owner = of or uc.entity
    key = brain.project.objects[owner].key
    by = f"{via}.{key}" if via else f"{owner}.{key}"
    where = None
    if only is not None:
        column = exp.column(key, table=via or owner)
        where = column.isin(*[exp.Literal.string(k) for k in only]).sql(dialect=SPEC_DIALECT)
    query = MetricQuery(
        metrics=(metric,), by=(by, grain), where=where, period=f"{start.isoformat()}..{end.isoformat()}"
    )
    try:
        table = brain.query_table(query, user=principal)
    except PolicyDenied as exc:
        raise PolicyDenied(
            f"use case {uc.name} runs as {principal.user!r}, who may not read metric {metric}: {exc.message}",
            policy=exc.policy,
            hint="set run_as in the use case to a user whose roles grant it",
        ) from None
    starts, ends = _periods(grain, start, end)
    keys_col = [str(k) for k in table.column(0).to_pylist()]
    keys = {k: i for i, k in enumerate(dict.fromkeys(k for k in keys_col if k != "None"))}
    values = np.full((len(keys), len(starts)), np.nan)
    if table.num_rows:
        period = np.array(table.column(1).to_pylist(), dtype="datetime64[D]")
        col = np.searchsorted(starts, period)
        ok = (col < len(starts)) & (starts[np.minimum(col, len(starts) - 1)] == period)
        row = np.array([keys.get(k, -1) for k in keys_col])
        ok &= row >= 0
        values[row[ok], col[ok]] = np.array(table.column(2).to_pylist(), dtype=float)[ok]
    return Panel(keys, starts, ends, values)


def _metric_feature(
    brain: Brain, uc: UseCase, principal: Principal, feature: Feature, frame: pd.DataFrame, live: LiveDays | None
) -> np.ndarray:
    assert feature.metric is not None
    first = frame[AS_OF].min().date()
    last = frame[AS_OF].max().date()
    span = {"day": 1, "week": 7, "month": 31, "quarter": 92, "year": 366}[feature.grain] * (feature.window + 1)
    keys = sorted(set(frame[KEY].dropna())) if live is not None else None
    of = metric_owner(brain, uc, feature)
    since = first - timedelta(days=span)
    panel = metric_panel(brain, uc, principal, feature.metric, feature.grain, feature.via, since, last, keys, of)
    if live is not None and feature.grain == "day":
        live.fill(feature.metric, panel)
    return window_values(panel, frame, feature.window, feature.agg)


def metric_owner(brain: Brain, uc: UseCase, feature: Feature) -> str:
    """The object type a metric feature is read for: the entity, or the one its link `of` leads to."""
    assert uc.entity is not None
    return brain.project.objects[uc.entity].links[feature.of].to if feature.of else uc.entity


def window_values(panel: Panel, frame: pd.DataFrame, window: int, agg: str) -> np.ndarray:
    """For each row, `agg` over the `window` whole periods ending on or before its as-of time."""
    out = np.full(len(frame), np.nan)
    rows = frame[KEY].map(panel.keys).to_numpy(dtype=float)
    as_of = frame[AS_OF].values.astype("datetime64[D]")
    for when in np.unique(as_of):
        idx = np.nonzero(as_of == when)[0]
        stop = int(np.searchsorted(panel.ends, when, side="right"))
        begin = max(stop - window, 0)
        if stop <= 0:
            continue
        known = ~np.isnan(rows[idx])
        block = np.full((len(idx), stop - begin), np.nan)
        block[known] = panel.values[rows[idx][known].astype(int), begin:stop]
        out[idx] = aggregate(block, agg)
    return out


def aggregate(block: np.ndarray, agg: str) -> np.ndarray:
    """Combine each row of a (rows x periods) block; a missing period counts as 0 for sums."""
    with np.errstate(all="ignore"):
        if agg == "sum":
            return np.nansum(block, axis=1)
        empty = np.all(np.isnan(block), axis=1)
        if agg == "slope":
            x = np.arange(block.shape[1], dtype=float)
            ok = ~np.isnan(block)
            n = ok.sum(axis=1)
            xm = np.where(ok, x, 0).sum(axis=1) / np.maximum(n, 1)
            ym = np.nansum(block, axis=1) / np.maximum(n, 1)
            dx = np.where(ok, x - xm[:, None], 0)
            slope = (dx * np.where(ok, block - ym[:, None], 0)).sum(axis=1) / (dx**2).sum(axis=1)
            return np.where(n >= 2, slope, np.nan)
        if agg == "last":
            ok = ~np.isnan(block)
            last = block.shape[1] - 1 - np.argmax(ok[:, ::-1], axis=1)
            return np.where(empty, np.nan, block[np.arange(len(block)), last])
        fn: Any = {"mean": np.nanmean, "max": np.nanmax, "min": np.nanmin}[agg]
        return np.where(empty, np.nan, fn(np.where(empty[:, None], 0, block), axis=1))


# --- labels ----------------------------------------------------------------------------------


def _labels(brain: Brain, uc: UseCase, principal: Principal, entities: pd.DataFrame, rows: pd.DataFrame) -> np.ndarray:
    target = uc.target
    assert target is not None
    as_of = pd.to_datetime(rows[AS_OF])
    if target.event:
        assert target.horizon_days is not None
        event = _dates(rows[KEY].map(entities.drop_duplicates(KEY).set_index(KEY)[target.event]))
        end = as_of + pd.Timedelta(days=target.horizon_days)
        hit = event.ge(as_of) & event.lt(end)
        return hit.fillna(False).astype(float).to_numpy()
    if target.metric:
        assert target.horizon_days is not None
        first, last = as_of.min().date(), (as_of.max() + pd.Timedelta(days=target.horizon_days)).date()
        panel = metric_panel(brain, uc, principal, target.metric, "day", None, first, last)
        ahead = rows.assign(**{AS_OF: as_of + pd.Timedelta(days=target.horizon_days)})
        total = window_values(panel, ahead, target.horizon_days, "sum")
        return (total > target.above).astype(float) if uc.task == "classify" else total
    positive = _keys_where(brain, uc, target.outcome, principal)
    return rows[KEY].isin(positive).astype(float).to_numpy()


def _data_hint(uc: UseCase) -> str:
    return f"check that {uc.entity} has objects (`brain objects {uc.entity} --count`) and the snapshots' dates"

"""usecases/*.yaml: one AI use case per file - what the factory trains, backtests, scores and writes back.

An entity use case (classify, regress, anomaly) scores objects of one type: its training rows are
snapshots of those objects at as-of times, each with features that only see data before the
as-of time and a target that only sees data after it. A forecast use case forecasts a metric
broken down by dimensions at a time grain.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator

from companybrain.specs.base import Spec
from companybrain.specs.ontology import OBJECT_NAME, PROP_NAME, SqlExpression, parse_expression

USECASE_NAME = r"^[a-z][a-z0-9_]*$"
Task = Literal["forecast", "classify", "regress", "anomaly"]
Grain = Literal["day", "week", "month", "quarter", "year"]

MODELS: dict[str, tuple[str, ...]] = {
    "classify": ("lightgbm", "logistic_regression", "random_forest", "ensemble", "auto"),
    "regress": ("lightgbm", "linear_regression", "random_forest", "ensemble", "auto"),
    "anomaly": ("isolation_forest", "robust_zscore"),
    "forecast": ("ensemble", "auto_ets", "auto_theta", "auto_arima", "seasonal_naive"),
}
DEFAULT_MODEL = {"classify": "lightgbm", "regress": "lightgbm", "anomaly": "isolation_forest", "forecast": "ensemble"}
BASELINE = {
    "classify": "logistic_regression",
    "regress": "linear_regression",
    "anomaly": "robust_zscore",
    "forecast": "seasonal_naive",
}
# the backtest figure that decides promotion, and whether higher is better
PRIMARY_METRIC = {"classify": ("roc_auc", True), "regress": ("mae", False), "anomaly": ("roc_auc", True)}
FORECAST_METRIC = ("smape", False)
HIGHER_IS_BETTER = {"roc_auc", "average_precision", "lift_top_decile", "r2"}
LOWER_IS_BETTER = {"brier", "mae", "rmse", "smape", "mase"}


class Feature(Spec):
    """One input of the model, computed as of each snapshot's time.

    `metric`: the metric at `grain`, for the entity, over the `window` periods before the as-of time,
    combined by `agg`; with `of`, for the object a many-to-one link of the entity leads to (a purchase
    order's supplier: the supplier's late orders before the order was placed). `property`: a property
    of the entity (or `link.property`) as it stands - use it only for values that do not change after
    the as-of time. `age_of`: days from a date property to the as-of time. `expr`: arithmetic over
    other features.
    """

    metric: str | None = None
    grain: Grain = "day"
    window: int = Field(1, ge=1, le=1000, description="Periods of `grain` before the as-of time.")
    agg: Literal["sum", "mean", "max", "min", "last", "slope"] = "sum"
    via: str | None = Field(
        None, description="metric: link path from the metric's object to the entity, where several lead there."
    )
    of: Annotated[str | None, Field(pattern=PROP_NAME)] = Field(
        None, description="metric: a many-to-one link of the entity; the metric is read for the object it leads to."
    )
    property: str | None = None
    age_of: str | None = None
    expr: str | None = None
    categorical: bool = Field(False, description="A property whose values are categories, not numbers.")
    description: str = ""

    @model_validator(mode="after")
    def _one_source(self) -> Feature:
        given = [k for k in ("metric", "property", "age_of", "expr") if getattr(self, k)]
        if len(given) != 1:
            raise ValueError("a feature needs exactly one of metric, property, age_of or expr")
        if self.expr:
            parse_expression(self.expr)
        if self.categorical and not self.property:
            raise ValueError("only a property feature can be categorical")
        if self.of and not self.metric:
            raise ValueError("`of` names whose metric a feature reads: only for a metric feature")
        return self


class Target(Spec):
    """What is predicted for an entity use case.

    `event`: a date property; positive when it falls in [as-of, as-of + horizon_days).
    `metric`: the metric for the entity summed over [as-of, as-of + horizon_days); classify: positive
    when above `above`. `outcome`: a boolean (classify) or numeric (regress) expression over the
    entity's properties, known for the rows where `labelled` holds (e.g. closed opportunities).
    """

    event: str | None = None
    metric: str | None = None
    outcome: str | None = None
    labelled: str | None = Field(None, description="outcome: which entities have a known outcome.")
    resolved: str | None = Field(
        None,
        description="outcome: date property when the outcome became known (e.g. close_date); the backtest "
        "then trains only on outcomes known before its test period starts.",
    )
    horizon_days: int | None = Field(None, ge=1, le=3650)
    above: float = 0.0

    @model_validator(mode="after")
    def _shape(self) -> Target:
        given = [k for k in ("event", "metric", "outcome") if getattr(self, k)]
        if len(given) != 1:
            raise ValueError("a target needs exactly one of event, metric or outcome")
        if (self.event or self.metric) and self.horizon_days is None:
            raise ValueError(f"a {given[0]} target needs horizon_days (how far after the as-of time it looks)")
        if self.outcome and not self.labelled:
            raise ValueError("an outcome target needs labelled: the condition under which the outcome is known")
        for text in (self.outcome, self.labelled):
            if text:
                parse_expression(text)
        return self


class Snapshots(Spec):
    """The as-of times of the training rows: a calendar (every N days) or each entity's own time."""

    every_days: int = Field(7, ge=1, le=366)
    start: date | None = Field(None, description="First as-of date (default: a year before the last one).")
    end: date | None = Field(None, description="Last as-of date (default: today, minus the target's horizon).")
    at: str | None = Field(None, description="A date/timestamp property: one snapshot per entity at that time.")
    alive_from: str | None = Field(None, description="Date property: the entity exists from then (hire date).")
    alive_to: str | None = Field(None, description="Date property: the entity exists until then (exit date).")


class Series(Spec):
    """forecast: the metric to forecast, by which dimensions, at which grain."""

    metric: str
    by: list[str] = Field(min_length=1, description="Dimensions or Type.property, e.g. [family, site].")
    grain: Grain = "week"
    where: str | None = None
    start: date | None = Field(None, description="First period of history used (default: all the metric's history).")

    def columns(self) -> list[str]:
        """The columns of the forecast rows that hold each dimension of `by` (Type.prop -> type_prop)."""
        return [d.replace(".", "_").lower() for d in self.by]


class Regressor(Spec):
    """forecast: a metric that moves the forecast metric (a price, a promotion share), read by the series'
    dimensions and grain. Its values over the forecast periods must be known: `planned` reads them past
    today (a plan the project records: a price list, a promotion calendar) and the backtest takes the
    recorded values of each fold's periods as that plan; `last` holds each series' last value."""

    metric: Annotated[str, Field(pattern=PROP_NAME, max_length=64)]
    future: Literal["planned", "last"] = Field(
        description="planned: the metric has values over the forecast periods; last: hold the last value."
    )


class Hierarchy(Spec):
    """forecast: the levels the series are summed to and forecast at (each keeps some of `series.by`,
    `[]` is the total), reconciled so that they add up."""

    levels: list[list[str]] = Field(min_length=1, max_length=10, description="Each a subset of series.by.")
    method: Literal["bottom_up", "ols", "wls_struct", "wls_var"] = Field(
        "wls_var", description="bottom_up, or the OLS / WLS projection of every level's forecasts (README)."
    )


class Backtest(Spec):
    """How the model is judged on data it did not see.

    Entity tasks: the snapshots of the last `holdout_days` before the last one are the test set; the
    model trains on snapshots whose target window ends before the test set starts, so no label the
    model learned from overlaps a test row. For data without time (one snapshot per entity), method
    `cross_validation` scores every row out of fold over `folds` stratified folds (`repeats` times with
    other shuffles; `group_by` keeps the entities of one group in one fold). Forecasts: `folds`
    rolling origins, each `horizon` periods long, stepping back by the horizon; before each, `windows`
    earlier origins choose the ensemble's members and calibrate the intervals.
    """

    method: Literal["time", "cross_validation"] = Field(
        "time", description="time: a later holdout; cross_validation: k folds of entities, for data without time."
    )
    holdout_days: int = Field(90, ge=1, le=3650)
    folds: int = Field(3, ge=1, le=20)
    repeats: int = Field(1, ge=1, le=20, description="cross_validation: repeat the folds with other shuffles.")
    group_by: str | None = Field(
        None, description="cross_validation: a property (or link.property); one group's entities share a fold."
    )
    windows: int = Field(
        2, ge=1, le=10, description="forecast: earlier origins per fold that choose members and calibrate intervals."
    )


class Search(Spec):
    """A bounded hyperparameter search, on the training window only: each trial is fitted on the earlier
    part of the training rows (or inner folds) and judged on the later part; the best is refitted on
    all of them. The backtest repeats the search inside each of its training sets, so the figure it
    reports is for the search, not for the trial that happened to suit the test rows."""

    trials: int = Field(20, ge=1, le=500, description="Parameter sets tried, the model's own settings first.")
    space: dict[str, list[Any]] = Field(
        default_factory=dict,
        description="Parameter -> [low, high] (a range; log scale when high/low >= 10) or a list of choices "
        "(default: the family's usual space).",
    )

    @field_validator("space")
    @classmethod
    def _ranges(cls, space: dict[str, list[Any]]) -> dict[str, list[Any]]:
        for name, values in space.items():
            if not values:
                raise ValueError(f"search.space.{name} is empty: give [low, high] or a list of choices")
        return space


class Live(Spec):
    """Re-score from streamed events between builds: each event of type `event` names its entity in
    `key`; `metrics` maps a day-grain metric the features use to the event field that measures it.
    The day of an entity's latest event counts as a whole day of that metric (the mean of the field
    over that day's events, where the built data has none), and the entity is scored as of that
    day's end, at most every `every_seconds`."""

    event: str = "telemetry"
    key: str = Field(description="Event field holding the entity's key, e.g. machine_id.")
    metrics: dict[str, str] = Field(min_length=1, description="Metric -> event field, e.g. vibration: vibration.")
    every_seconds: float = Field(300.0, ge=0, description="Re-score an entity at most this often.")


class Output(Spec):
    """Where predictions go: a property on the entity (with its reasons and model version), or, for a
    forecast, an object type of forecast rows."""

    property: Annotated[str | None, Field(pattern=PROP_NAME)] = None
    object: Annotated[str | None, Field(pattern=OBJECT_NAME)] = None
    tags: list[str] = Field(default_factory=list, description="Tags of the written properties (e.g. hr).")
    description: str = ""
    min_effect: float | None = Field(
        None,
        ge=0,
        description="A reason is named when it moves the score by at least this much (classify: a probability "
        "share, 0.02 = 2 points; regress: the target's units; anomaly: robust standard deviations); default: a "
        "quarter of the spread of the training scores, at least 1 point for a probability, 2 sd for anomalies.",
    )


class Promotion(Spec):
    """When a new version becomes the champion (otherwise it stays a challenger)."""

    must_beat: list[Literal["champion", "baseline"]] = Field(
        default_factory=lambda: ["champion", "baseline"]  # type: ignore[arg-type]
    )
    metric: str | None = Field(
        None, description="Backtest metric that decides (default: roc_auc, mae, smape); e.g. average_precision."
    )

    @field_validator("metric")
    @classmethod
    def _known(cls, name: str | None) -> str | None:
        known = HIGHER_IS_BETTER | LOWER_IS_BETTER
        if name is not None and name not in known:
            from companybrain.errors import did_you_mean

            raise ValueError(f"unknown metric {name!r}; {did_you_mean(name, sorted(known))}")
        return name

    min_improvement: float = Field(0.0, ge=0, description="By at least this much of the primary metric.")


class UseCase(Spec):
    """One file under usecases/."""

    name: Annotated[str, Field(pattern=USECASE_NAME, max_length=48)]
    description: str = ""
    owner: str = Field(description="Who answers for this use case (a person or team address).")
    task: Task
    entity: Annotated[str | None, Field(pattern=OBJECT_NAME)] = Field(None, description="Object type scored.")
    population: SqlExpression | None = Field(None, description="Filter on the entity's properties: who is scored.")
    snapshots: Snapshots = Field(default_factory=Snapshots)
    target: Target | None = None
    features: dict[Annotated[str, Field(pattern=PROP_NAME)], Feature] = Field(default_factory=dict)
    series: Series | None = None
    horizon: int | None = Field(None, ge=1, le=520, description="forecast: periods ahead.")
    season_length: int | None = Field(None, ge=1, le=366, description="forecast: periods per season.")
    levels: list[int] = Field(default_factory=lambda: [80, 95], description="forecast: prediction intervals.")
    regressors: list[Regressor] = Field(
        default_factory=list, max_length=10, description="forecast: metrics that move the forecast (price, promotions)."
    )
    model: str | None = Field(
        None, description="Model family (default per task); classify/regress: auto chooses one on the training window."
    )
    params: dict[str, Any] = Field(default_factory=dict, description="Passed to the model family.")
    search: Search | None = Field(None, description="classify/regress: a hyperparameter search on the training window.")
    calibration: Literal["none", "sigmoid", "isotonic"] = Field(
        "none", description="classify: map scores to probabilities, fitted on the training window's inner folds."
    )
    hierarchy: Hierarchy | None = Field(None, description="forecast: levels to forecast at, reconciled.")
    backtest: Backtest = Field(default_factory=Backtest)
    promotion: Promotion = Field(default_factory=Promotion)
    output: Output
    thresholds: dict[str, float] = Field(default_factory=dict, description="Named score levels, e.g. high: 0.5.")
    schedule: Literal["daily", "weekly", "monthly", "manual"] = "weekly"
    run_as: str | None = Field(None, description="User whose rights the features are read with (default user).")
    live: Live | None = Field(None, description="Re-score from streamed events (entity use cases).")

    @model_validator(mode="after")
    def _consistent(self) -> UseCase:
        if self.task == "forecast":
            if self.series is None or self.horizon is None:
                raise ValueError("a forecast use case needs series and horizon")
            if self.output.object is None:
                raise ValueError("a forecast writes an object type of forecast rows: give output.object")
            if self.hierarchy is not None and self.regressors:
                raise ValueError("a forecast takes regressors or a hierarchy, not both yet: leave one out")
        else:
            if self.regressors or self.hierarchy is not None:
                raise ValueError(f"regressors and hierarchy are for forecasts; a {self.task} use case takes features")
            if self.entity is None:
                raise ValueError(f"a {self.task} use case needs entity (the object type it scores)")
            if not self.features:
                raise ValueError(f"a {self.task} use case needs features")
            if self.task != "anomaly" and self.target is None:
                raise ValueError(f"a {self.task} use case needs a target")
            if self.output.property is None:
                raise ValueError("give output.property: the property the scores are written to")
        one_row_per_entity = self.target is not None and self.target.outcome and not self.snapshots.at
        if self.backtest.method == "cross_validation" and not one_row_per_entity:
            raise ValueError(
                "backtest.method cross_validation is for data without time (an outcome target, one row per "
                "entity): snapshots of one entity over time would sit on both sides of a fold; use the time holdout"
            )
        if self.task not in ("classify", "regress") and self.search is not None:
            raise ValueError(f"search needs a labelled target: a {self.task} use case has none to judge trials by")
        if self.task != "classify" and self.calibration != "none":
            raise ValueError("calibration maps classifier scores to probabilities: only for task classify")
        if (self.backtest.repeats > 1 or self.backtest.group_by) and self.backtest.method != "cross_validation":
            raise ValueError("backtest.repeats and group_by are for method cross_validation (data without time)")
        if self.model is not None and self.model not in MODELS[self.task]:
            from companybrain.errors import did_you_mean

            raise ValueError(
                f"model {self.model!r} is not one for {self.task}; {did_you_mean(self.model, MODELS[self.task])}"
            )
        return self

    @property
    def usecases(self) -> dict[str, UseCase]:
        """The file as a project section (one use case per file, keyed by its name)."""
        return {self.name: self}

    @property
    def model_family(self) -> str:
        return self.model or DEFAULT_MODEL[self.task]

    @property
    def baseline(self) -> str:
        return BASELINE[self.task]

    @property
    def primary_metric(self) -> tuple[str, bool]:
        """The backtest metric that decides promotion, and whether higher is better."""
        if self.promotion.metric:
            return self.promotion.metric, self.promotion.metric in HIGHER_IS_BETTER
        return FORECAST_METRIC if self.task == "forecast" else PRIMARY_METRIC[self.task]


def cross_check(project: Any) -> list[tuple[Any, str]]:
    """Every metric, property and user a use case names must exist (with a 'did you mean')."""
    from companybrain.errors import did_you_mean

    problems: list[tuple[Any, str]] = []
    for name, uc in project.usecases.items():

        def problem(*path: str | int, msg: str, _name: str = name) -> None:
            problems.append((project.locate("usecases", _name, *path), msg))

        def check_metric(metric: str, *path: str | int) -> None:
            if metric not in project.metrics:
                problem(*path, msg=f"unknown metric {metric!r}; {did_you_mean(metric, project.metrics)}")

        for at, msg in _param_problems(uc):
            problem(*at, msg=msg)
        if uc.run_as is not None and uc.run_as not in project.users:
            problem("run_as", msg=f"unknown user {uc.run_as!r}; {did_you_mean(uc.run_as, project.users)}")
        if uc.series is not None:
            check_metric(uc.series.metric, "series", "metric")
        seen: set[str] = set()
        for i, regressor in enumerate(uc.regressors):
            if uc.series is not None and regressor.metric == uc.series.metric:
                problem(
                    "regressors",
                    i,
                    "metric",
                    msg=f"regressor metric={regressor.metric!r} is the forecast metric itself: its future is what is "
                    "forecast; name a metric that drives it (a price, a promotion share)",
                )
            elif regressor.metric in seen:
                problem("regressors", i, "metric", msg=f"regressor metric={regressor.metric!r} is named twice")
            else:
                check_metric(regressor.metric, "regressors", i, "metric")
            seen.add(regressor.metric)
        if uc.hierarchy is not None and uc.series is not None:
            by = uc.series.by
            for i, level in enumerate(uc.hierarchy.levels):
                for j, name in enumerate(level):
                    if name not in by:
                        problem(
                            "hierarchy",
                            "levels",
                            i,
                            j,
                            msg=f"hierarchy level {level}: {name!r} is not one of series.by {by}; "
                            f"{did_you_mean(name, by)}",
                        )
                if set(level) == set(by):
                    problem(
                        "hierarchy", "levels", i, msg=f"hierarchy level {level} is the series themselves (series.by)"
                    )
        obj = project.objects.get(uc.entity) if uc.entity else None
        if obj is None:
            continue

        def check_property(text: str, *path: str | int, _obj: Any = obj, _entity: str = uc.entity) -> None:
            owner, prop = _obj, text
            if "." in text:
                link, _, prop = text.partition(".")
                if link not in _obj.links or _obj.links[link].via is None:
                    many_to_one = [k for k, v in _obj.links.items() if v.via]
                    problem(*path, msg=f"{_entity} has no many-to-one link {link!r}; {did_you_mean(link, many_to_one)}")
                    return
                owner = project.objects.get(_obj.links[link].to)
                if owner is None:
                    return
            if prop not in owner.properties:
                problem(*path, msg=f"unknown property {text!r}; {did_you_mean(prop, owner.properties)}")

        for fname, feature in uc.features.items():
            if feature.metric:
                check_metric(feature.metric, "features", fname, "metric")
            if feature.of and (feature.of not in obj.links or obj.links[feature.of].via is None):
                many_to_one = [k for k, v in obj.links.items() if v.via]
                problem(
                    "features",
                    fname,
                    "of",
                    msg=f"{uc.entity} has no many-to-one link {feature.of!r}; {did_you_mean(feature.of, many_to_one)}",
                )
            for key in ("property", "age_of"):
                if getattr(feature, key):
                    check_property(getattr(feature, key), "features", fname, key)
        if uc.backtest.group_by:
            check_property(uc.backtest.group_by, "backtest", "group_by")
        snaps = uc.snapshots
        for key in ("at", "alive_from", "alive_to"):
            if getattr(snaps, key):
                check_property(getattr(snaps, key), "snapshots", key)
        if uc.live is not None:
            day_metrics = {f.metric for f in uc.features.values() if f.metric and f.grain == "day"}
            for metric in uc.live.metrics:
                if metric not in day_metrics:
                    problem(
                        "live",
                        "metrics",
                        metric,
                        msg=f"live metric {metric!r} is not a day-grain metric of the features; "
                        f"{did_you_mean(metric, sorted(day_metrics))}",
                    )
        if uc.target is not None:
            if uc.target.metric:
                check_metric(uc.target.metric, "target", "metric")
            if uc.target.event:
                check_property(uc.target.event, "target", "event")
            if uc.target.resolved:
                check_property(uc.target.resolved, "target", "resolved")
    return problems


def _param_problems(uc: UseCase) -> list[tuple[tuple[str, ...], str]]:
    """Every key of `params` (and of `search.space`) the model family does not take."""
    from companybrain.factory.params import unknown  # a table of names: imports no model library

    found: list[tuple[tuple[str, ...], str]] = [
        (("params", key), msg) for key, msg in unknown(uc.task, uc.model_family, uc.params)
    ]
    if uc.search is not None:
        found += [(("search", "space", key), msg) for key, msg in unknown(uc.task, uc.model_family, uc.search.space)]
    return found

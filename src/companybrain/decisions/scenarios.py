"""What-if scenarios: build a scenario's overlays (decisions/overlays.py) and diff its KPIs against
the baseline, through the one governed query path - the caller's policies, row filters and
masking apply to a scenario as to the baseline, and every read is audited with the scenario name.
Then carry it forward: the forecast refit on the scenario's series (scenario_forecast.py) and the
network plan of the weeks ahead with its capacity and forecasted demand (scenario_plan.py).
"""

from __future__ import annotations

import hashlib
import json
import time
from collections import OrderedDict
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

import pyarrow as pa
from sqlglot import exp

from companybrain.decisions.overlays import Overlays, apply_change
from companybrain.decisions.scenario_forecast import BaselineForecasts, forecast_section
from companybrain.decisions.scenario_plan import BaselinePlans, plan_section
from companybrain.decisions.shortages import slips, supply_section
from companybrain.errors import BrainError, ConfigError, Location, NotFound, PolicyDenied, QueryError, did_you_mean
from companybrain.governance.policy import Policy
from companybrain.semantic.joins import overlay_schema
from companybrain.semantic.period import Period, parse_period
from companybrain.semantic.query import MetricQuery
from companybrain.specs.scenarios import ScenarioSpec
from companybrain.warehouse.ddl import drop_table, table

if TYPE_CHECKING:
    from companybrain.brain import Brain
    from companybrain.governance.principal import Principal

DENIED = "denied"
META = "_scenario"
KPI_GROUPS = [
    ("revenue", "gross_margin", "units_sold"),
    ("on_time_delivery",),
    ("capacity_utilisation", "hours_available"),
    ("headcount", "headcount_cost"),
    ("supplier_late_rate", "supplier_delay_days"),
]


@dataclass
class SharedBaseline:
    """The baseline's forward sections (histories, refits, the loaded network and its plan), computed once
    per project load, build and today, and kept for the next runs of the process (the service's)."""

    forecasts: BaselineForecasts = field(default_factory=BaselineForecasts)
    plans: BaselinePlans = field(default_factory=BaselinePlans)


# (project load, build, today) -> its shared baseline; the baseline's parts are keyed by user inside
_BASELINES: OrderedDict[tuple[int, int, str], SharedBaseline] = OrderedDict()
BASELINES_KEPT = 2


def shared_baseline(brain: Brain) -> SharedBaseline:
    """The baseline kept for this project load and build (a new build or a reloaded project starts afresh)."""
    key = (id(brain.project), int(brain.require_built()["build_id"]), str(brain.project.spec.today or date.today()))
    if key not in _BASELINES:
        _BASELINES[key] = SharedBaseline()
        while len(_BASELINES) > BASELINES_KEPT:
            _BASELINES.popitem(last=False)
    _BASELINES.move_to_end(key)
    return _BASELINES[key]


@dataclass
class ScenarioRun:
    """A scenario's KPIs against the baseline, with what was overlaid and the assumptions made."""

    name: str
    description: str
    period: dict[str, str]
    build: int
    overlays: dict[str, int]
    kpis: list[dict[str, Any]]
    assumptions: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)
    forecast: dict[str, Any] = field(default_factory=dict)  # the forecast refit on the scenario's series
    plan: dict[str, Any] = field(default_factory=dict)  # the network plan of the weeks ahead
    supply: dict[str, Any] = field(default_factory=dict)  # component shortages ahead when a supplier slips

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _spec_hash(spec: ScenarioSpec) -> str:
    return hashlib.sha256(spec.model_dump_json().encode()).hexdigest()[:16]


def _spec(brain: Brain, name: str) -> ScenarioSpec:
    spec = brain.project.scenarios.get(name)
    if spec is None:
        raise NotFound(
            f"unknown scenario {name!r}; {did_you_mean(name, brain.project.scenarios)}", hint="brain scenario list"
        )
    return spec


def _period(brain: Brain, spec: ScenarioSpec) -> Period:
    try:
        return parse_period(spec.period, brain.project.spec.today or date.today())
    except QueryError as exc:
        file, lines = brain.project.origins.get(("scenarios", spec.name), ("scenarios", {}))
        raise ConfigError.at(Location(file, lines.get(("period",)), "period"), exc.message) from None


def build_overlays(brain: Brain, name: str, user: str | Principal | None = None) -> dict[str, Any]:
    """Drop and rebuild a scenario's overlay tables from the current objects; what it recorded."""
    spec = _spec(brain, name)
    period = _period(brain, spec)
    require_builder(brain, user)
    build = brain.require_built()
    wh = brain.warehouse
    schema = overlay_schema(name)
    for name_in_schema in wh.list_tables(schema):  # copy-on-write: rebuilt from scratch on every run
        wh.execute(drop_table(table(schema, name_in_schema)))
    wh.ensure_schema(schema)
    ov = Overlays(brain, spec, period)
    for index, change in enumerate(spec.changes):
        apply_change(ov, index, change, user)
    meta = {
        "scenario": name,
        "build_id": int(build["build_id"]),
        "built_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "spec_hash": _spec_hash(spec),
        "overlays": json.dumps(rows := ov.rows()),
        "assumptions": json.dumps(ov.assumptions),
        "capex": ov.capex,
        "people_cost": ov.people_cost,
    }
    wh.write_arrow(table(schema, META), pa.Table.from_pylist([meta]), create=True)
    return {**meta, "overlays": rows, "assumptions": ov.assumptions}


# what building overlays reads in full: the types changes write and the ones they look names up in
BUILD_READS = (
    "OrderLine",
    "Order",
    "Line",
    "Site",
    "Product",
    "ProductFamily",
    "Customer",
    "Employee",
    "PurchaseOrder",
    "Supplier",
)


def require_builder(brain: Brain, user: str | Principal | None) -> None:
    """Overlays are shared by everyone and read whole object types: only a user who may read all of
    them with no row filter builds them (anyone may then query them under their own policies)."""
    policy = Policy(brain.project, brain.principal(user))
    if policy.principal.unrestricted:
        return
    for type_name in (t for t in BUILD_READS if t in brain.project.objects):
        policy.require_object(type_name, " (building a scenario reads it in full)")
        if policy.row_filter(type_name) is not None:
            raise PolicyDenied(
                f"user {policy.principal.user!r} sees only some {type_name} rows, and a scenario's overlays are "
                "built from all of them",
                policy="scenario-build",
                hint="ask someone with full read access (e.g. finance or the data team) to run it; then compare it",
            )


def overlay_status(brain: Brain, name: str) -> dict[str, Any] | None:
    """What the scenario's overlays were built from, and whether they are stale; None if never built."""
    schema = overlay_schema(name)
    if META not in brain.warehouse.list_tables(schema):
        return None
    meta = brain.warehouse.query_arrow(exp.select("*").from_(table(schema, META))).to_pylist()[0]
    meta["overlays"], meta["assumptions"] = json.loads(meta["overlays"]), json.loads(meta["assumptions"])
    current = brain.require_built()["build_id"]
    stale = []
    if meta["build_id"] != current:
        stale.append(f"built from build {meta['build_id']}, the objects are now build {current}")
    if meta["spec_hash"] != _spec_hash(_spec(brain, name)):
        stale.append("the scenario file changed since")
    return {**meta, "stale": "; ".join(stale) or None}


def list_scenarios(brain: Brain) -> list[dict[str, Any]]:
    """Every declared scenario with its overlay status."""
    out = []
    for name, spec in sorted(brain.project.scenarios.items()):
        status = overlay_status(brain, name)
        state = "not run" if status is None else (f"stale: {status['stale']}" if status["stale"] else "current")
        out.append(
            {
                "name": name,
                "period": spec.period,
                "changes": ", ".join(c.type for c in spec.changes),
                "overlays": state,
                "description": spec.description,
            }
        )
    return out


def _kpis(brain: Brain, period: str, user: str | Principal | None, scenario: str | None) -> dict[str, Any]:
    """The KPI values over the period (a metric the user may not read is DENIED)."""

    def read(metrics: tuple[str, ...]) -> list[Any]:
        return brain.query(MetricQuery(metrics, period=period), user, scenario=scenario).rows[0]

    values: dict[str, Any] = {}
    for group in KPI_GROUPS:
        metrics = tuple(m for m in group if m in brain.project.metrics)
        if not metrics:
            continue
        try:
            values.update(zip(metrics, read(metrics), strict=True))
        except PolicyDenied:
            for m in metrics:
                try:
                    values[m] = read((m,))[0]
                except PolicyDenied:
                    values[m] = DENIED
    return values


def _diff(
    base: dict[str, Any], scen: dict[str, Any], meta: dict[str, Any], formats: dict[str, str]
) -> list[dict[str, Any]]:
    """One row per KPI; capex and the hires' cost come from the scenario itself (zero in the baseline)."""
    from_spec = {"capex": float(meta["capex"]), "added_people_cost": float(meta["people_cost"])}
    rows = []
    for name in [*base, *from_spec]:
        b, s = (0.0, from_spec[name]) if name in from_spec else (base[name], scen.get(name))
        row = {"kpi": name, "baseline": b, "scenario": s, "diff": None, "diff_pct": None, "status": "ok"}
        row["format"] = "currency" if name in from_spec else formats.get(name, "number")
        if b is DENIED or s is DENIED:
            row.update(baseline=None, scenario=None, status="denied for this user")
        elif b is not None and s is not None:
            # summing the same rows in another order differs in the last bits: that is no change
            row["diff"] = 0 if abs(s - b) <= 1e-9 * max(abs(b), abs(s)) else s - b
            row["diff_pct"] = (s - b) / abs(b) if b else None
        rows.append(row)
    return rows


def run_scenario(
    brain: Brain,
    name: str,
    user: str | Principal | None = None,
    rebuild: bool = True,
    baseline: dict[str, Any] | None = None,
    forward: SharedBaseline | None = None,
    ahead: bool = True,
) -> ScenarioRun:
    """(Re)build the scenario's overlays and diff its KPIs against the baseline over its period, then
    recompute the forecast and the plan ahead where the changes reach them, all as `user` (not with
    `ahead=False`: those sections then say `skipped`)."""
    spec = _spec(brain, name)
    period = _period(brain, spec)
    started = time.perf_counter()
    warnings = []
    status = overlay_status(brain, name)
    if status is not None and status["stale"]:
        if rebuild:
            warnings.append(f"rebuilt the stale overlays ({status['stale']})")
        else:
            warnings.append(f"overlays are stale ({status['stale']}): run `brain scenario run {name}` to rebuild")
    meta = build_overlays(brain, name, user) if rebuild or status is None else status
    built = time.perf_counter()
    base = baseline if baseline is not None else _kpis(brain, spec.period, user, None)
    scen = _kpis(brain, spec.period, user, name)
    formats: dict[str, str] = {m: brain.project.metrics[m].format for m in base}
    if any(v is DENIED for v in base.values()):
        warnings.append("some KPIs are not readable by this user (policies apply to scenarios as to the baseline)")
    measured = time.perf_counter()
    if ahead:
        forward = forward or shared_baseline(brain)
        forecast, forecasts = forecast_section(brain, spec, meta["overlays"], user, forward.forecasts)
        forecasted = time.perf_counter()
        plan = plan_section(brain, spec, period, user, forecasts, forward.plans)
        supply = supply_section(brain, slips(brain, spec), user)
    else:
        skipped = {"status": "skipped", "reason": "skipped: the KPIs over the period only were asked for"}
        forecast, plan, supply = skipped, skipped, skipped
        forecasted = time.perf_counter()
    for title, section in (("forecast", forecast), ("plan", plan), ("supply", supply)):
        if section["status"] == "failed":
            warnings.append(f"the {title} section failed: {section['reason']}")
    return ScenarioRun(
        name=name,
        description=spec.description,
        period=period.as_dict(),
        build=meta["build_id"],
        overlays=meta["overlays"],
        kpis=_diff(base, scen, meta, formats),
        assumptions=meta["assumptions"],
        warnings=warnings,
        seconds={
            "overlays": round(built - started, 3),
            "kpis": round(measured - built, 3),
            "forecast": round(forecasted - measured, 3),
            "plan": round(time.perf_counter() - forecasted, 3),
        },
        forecast=forecast,
        plan=plan,
        supply=supply,
    )


def compare_scenarios(
    brain: Brain, names: list[str], user: str | Principal | None = None, ahead: bool = True
) -> list[ScenarioRun]:
    """Several scenarios side by side; overlays are reused (a stale one is flagged), built if missing."""
    if not names:
        raise BrainError("name at least one scenario to compare", hint="brain scenario list")
    periods = {_spec(brain, n).period for n in names}
    shared = _kpis(brain, periods.pop(), user, None) if len(periods) == 1 else None
    forward = shared_baseline(brain)  # the forecast and plan ahead do not depend on the period
    return [run_scenario(brain, n, user, rebuild=False, baseline=shared, forward=forward, ahead=ahead) for n in names]

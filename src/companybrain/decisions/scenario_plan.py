"""A scenario's network plan over the weeks ahead (13 from the project's today), against the baseline's.

The open orders, sites, lines and their families are loaded once as the running user, as the replan
loads them (`network.load_network`, policies and audit apply); the scenario's network is that network with
the scenario's changes that reach the horizon:
- capacity: the lines' weekly units x (1 + change), for the days of each week inside the scenario's
  period (like a disruption, `network.disrupted_capacity`);
- hiring (Operations): the hires stay once hired, from the period's start; their labour hours
  (`overlays.HOURS_PER_OPERATOR_WEEK` each) become units at the site's hours per unit, spread over
  its lines in proportion to their hours - the site's units x (1 + added hours / the site's hours);
- capital project: a new line from its start (it stays), its units ramping up linearly; it makes
  the families the file names, else every family the site's lines make;
- demand and prices act through the forecast: the open orders of each forecast series are scaled by
  the series' scenario / baseline forecast over the horizon (same customers, due dates and unit
  values), rounded to whole units keeping the series' total.
Both networks are solved by the planner `brain replan` uses (`planner.optimise`: the LP over classes
of interchangeable orders, its rounding, then re-sequencing and windows re-solved exactly until the
time limit; the gap is to the best proven lower bound), without what a what-if does not need:
actions, notifications, the material check (it moves no order) and today's-practice baseline.
"""

from __future__ import annotations

import math
import time
from collections import defaultdict
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

import numpy as np

from companybrain.decisions.network import (
    HORIZON_WEEKS,
    CostModel,
    Disruption,
    Item,
    LineInfo,
    Network,
    load_network,
    resolve_line,
    resolve_site,
)
from companybrain.decisions.notify import kpis
from companybrain.decisions.overlays import HOURS_PER_OPERATOR_WEEK
from companybrain.decisions.scenario_forecast import DENIED, SeriesForecast
from companybrain.derived import derived
from companybrain.errors import BrainError, NotFound, PolicyDenied
from companybrain.specs.scenarios import CapacityChange, CapitalProject, Hiring, ScenarioSpec, as_list

if TYPE_CHECKING:
    from companybrain.brain import Brain
    from companybrain.governance.principal import Principal
    from companybrain.semantic.period import Period


def definitions(cost: CostModel) -> dict[str, str]:
    """What each plan KPI counts, for the reader of the section."""
    return {
        "late_orders": "open orders with a part finishing after its due date (plus transit)",
        "revenue_at_risk": "net value of the order parts finishing late",
        "lateness_penalty": f"per unit-day late: the family's unit value x {cost.lateness_rate_per_day:.1%} "
        "x the customer tier's weight (USD)",
        "extra_freight": "freight of work moved to another site, and changeovers to another line (USD)",
        "utilisation": "units of the open orders planned in the horizon / the lines' capacity over it",
        "gap_to_bound": "(plan cost - the best proven lower bound) / plan cost: how far the plan may be from the "
        "best one (the bound's kind: bound_kind)",
    }


SHOWN = (
    ("late_orders", "count"),
    ("revenue_at_risk", "currency"),
    ("lateness_penalty", "currency"),
    ("extra_freight", "currency"),
    ("utilisation", "percent"),
    ("gap_to_bound", "percent"),
)


@dataclass
class Loaded:
    """The network as one user may read it, with what the scenario's changes look up."""

    network: Network
    sites: list[dict[str, Any]]
    lines: list[dict[str, Any]]
    families: dict[str, dict[str, Any]]


@dataclass
class BaselinePlans:
    """The loaded network and its plan per user: shared by the scenarios of a comparison."""

    loaded: dict[str, Loaded] = field(default_factory=dict)
    plans: dict[str, dict[str, Any]] = field(default_factory=dict)


def horizon(brain: Brain) -> tuple[date, date]:
    start = brain.project.spec.today or date.today()
    return start, start + timedelta(days=7 * HORIZON_WEEKS)


def _window(change: Any, period: Period) -> tuple[date, date | None]:
    """When a change acts: a capacity change over the period; hires and new lines from then on."""
    if isinstance(change, CapacityChange):
        return period.start, period.end
    if isinstance(change, CapitalProject):
        return change.start or period.start, None
    return period.start, None


def _reaches(change: Any, period: Period, start: date, end: date) -> bool:
    first, last = _window(change, period)
    return first < end and (last is None or last > start)


def plan_section(
    brain: Brain,
    spec: ScenarioSpec,
    period: Period,
    user: str | Principal | None,
    forecasts: list[SeriesForecast],
    shared: BaselinePlans,
) -> dict[str, Any]:
    """The `plan` section of a scenario run: both plans' KPIs side by side, or why there is no replan."""
    started = time.perf_counter()
    start, end = horizon(brain)
    head: dict[str, Any] = {"horizon": {"start": start.isoformat(), "weeks": HORIZON_WEEKS, "end": end.isoformat()}}
    capacity = [c for c in spec.changes if _is_capacity(c)]
    acting = [c for c in capacity if _reaches(c, period, start, end)]
    demand = next((f for f in forecasts if f.ratios()), None)
    if not acting and demand is None:
        return {**head, **_unchanged(spec, capacity, period, start, end), "seconds": _since(started)}
    try:
        return {**head, **_replan(brain, spec, period, user, acting, demand, shared), "seconds": _since(started)}
    except PolicyDenied as exc:
        return {**head, "status": DENIED, "reason": f"{DENIED}: {exc.message}", "seconds": _since(started)}
    except BrainError as exc:  # the section fails, not the run: its KPIs stand
        failed = {"status": "failed", "reason": f"failed: {exc.message}", "hint": exc.hint}
        return {**head, **failed, "seconds": _since(started)}


def _replan(
    brain: Brain,
    spec: ScenarioSpec,
    period: Period,
    user: str | Principal | None,
    acting: list[Any],
    demand: SeriesForecast | None,
    shared: BaselinePlans,
) -> dict[str, Any]:
    key = brain.principal(user).reader_key()
    if key not in shared.loaded:
        shared.loaded[key] = _load(brain, user, horizon(brain)[0])
    loaded = shared.loaded[key]
    notes: list[str] = []
    scenario_net = _with_capacity(loaded, acting, period, notes)
    if demand is not None:
        scenario_net = _with_demand(brain, loaded, scenario_net, demand, notes)
    if key not in shared.plans:
        # the baseline's plan depends on the build, the reader and the horizon only: kept between runs
        start = horizon(brain)[0].isoformat()
        plan, kept = derived(brain, user, "baseline_plan", lambda: solve(loaded.network), key=start)
        shared.plans[key] = plan | {"solved": "kept from an earlier run on this build" if kept else "now"}
    base, scen = shared.plans[key], solve(scenario_net) | {"solved": "now"}
    why = []
    if acting:
        why.append(f"{', '.join(sorted({c.type.replace('_', ' ') for c in acting}))} in the horizon")
    if demand is not None:
        why.append(f"the {demand.usecase} forecast changes")
    return {
        "status": "recomputed",
        "reason": f"recomputed: {' and '.join(why)}",
        "changes": notes,
        "kpis": [_row(name, fmt, base, scen) for name, fmt in SHOWN],
        "definitions": definitions(loaded.network.cost),
        "baseline": base,
        "scenario": scen,
    }


def _since(started: float) -> float:
    return round(time.perf_counter() - started, 3)


def _is_capacity(change: Any) -> bool:
    if isinstance(change, Hiring):
        return change.function.lower() == "operations"
    return isinstance(change, CapacityChange | CapitalProject)


def _unchanged(spec: ScenarioSpec, capacity: list[Any], period: Period, start: date, end: date) -> dict[str, Any]:
    reasons = []
    if capacity:
        reasons.append(
            f"its capacity changes act over {period.text} ({period.start}..{period.end - timedelta(days=1)}), "
            f"outside the horizon {start}..{end - timedelta(days=1)}"
        )
    else:
        reasons.append("it changes no capacity")
    if any(c.type in ("price", "demand") for c in spec.changes):
        reasons.append("the forecasted demand did not change (see the forecast section)")
    else:
        reasons.append("nor the demand")
    if any(c.type == "supplier_delay" for c in spec.changes):
        reasons.append("supplier delays do not move production in the plan")
    return {"status": "unchanged", "reason": "unchanged: " + "; ".join(reasons)}


def _load(brain: Brain, user: str | Principal | None, start: date) -> Loaded:
    """The network as the replan loads it, with a disruption that keeps all capacity: the network as it is."""
    sites = brain.read("Site", user=user).to_pylist()
    if not sites:
        raise NotFound(f"user {brain.principal(user).user!r} sees no site to plan", hint="brain objects Site")
    quiet = Disruption(site=str(sites[0]["site_id"]), capacity=1.0, start=start, days=1)
    net = load_network(brain, quiet, user, parts=False)  # a what-if moves no order: no parts to check
    net.disrupted_lines, net.disruption = frozenset(), None
    net.materials = None  # material is checked after a solve and moves no order: a what-if needs no check
    lines = brain.read("Line", user=user).to_pylist()
    families = {str(f["family_id"]): f for f in brain.read("ProductFamily", user=user).to_pylist()}
    return Loaded(net, sites, lines, families)


def _with_capacity(loaded: Loaded, changes: list[Any], period: Period, notes: list[str]) -> Network:
    """The loaded network with the capacity changes that reach its horizon, in the file's order."""
    net = loaded.network
    lines = list(net.lines)
    capacity = net.capacity.copy()
    hours = {str(r["line_id"]): float(r.get("capacity_hours_per_week") or 0.0) for r in loaded.lines}
    for change in changes:
        first, last = _window(change, period)
        share = _week_shares(net, first, last)
        site = resolve_site(change.site, loaded.sites)
        at_site = [i for i, ln in enumerate(lines) if ln.site_id == site["site_id"]]
        if isinstance(change, CapacityChange):
            hit = at_site
            if change.line:
                line = resolve_line(
                    change.line, site, [{"line_id": ln.line_id, "site_id": ln.site_id, "name": ln.name} for ln in lines]
                )
                hit = [i for i in at_site if lines[i].line_id == line["line_id"]]
            factor = 1 + change.change_pct / 100 * share
            capacity[hit] *= factor
            for i in hit:
                hours[lines[i].line_id] *= 1 + change.change_pct / 100
            notes.append(
                f"capacity {change.change_pct:+g}% on {', '.join(lines[i].line_id for i in hit)} "
                f"in {_weeks_text(share)}"
            )
        elif isinstance(change, Hiring):
            total = sum(hours.get(lines[i].line_id, 0.0) for i in at_site)
            if not total:
                raise BrainError(f"site {site['site_id']} has no line hours to add the hires' hours to")
            added = change.headcount * HOURS_PER_OPERATOR_WEEK
            capacity[at_site] *= 1 + added / total * share
            for i in at_site:
                hours[lines[i].line_id] *= 1 + added / total
            notes.append(
                f"{change.headcount} Operations hires add {added:,.0f} labour hours a week at {site['site_id']}: "
                f"its lines' units +{added / total:.1%} in {_weeks_text(share)}"
            )
        elif isinstance(change, CapitalProject):
            line_id = f"{site['site_id']}-{change.name}"
            makes = _new_line_families(loaded, change, [lines[i] for i in at_site])
            lines.append(LineInfo(line_id, site["site_id"], change.name, float(change.capacity_units_per_week), makes))
            ramp = _ramp(net, change.start or period.start, change.ramp_up_weeks)
            capacity = np.vstack([capacity, change.capacity_units_per_week * ramp * share])
            hours[line_id] = change.capacity_hours_per_week
            notes.append(
                f"new line {line_id} ({change.capacity_units_per_week:,} units a week after a "
                f"{change.ramp_up_weeks}-week ramp-up from {change.start or period.start}; makes "
                f"{', '.join(sorted(makes))}): {float((change.capacity_units_per_week * ramp * share).sum()):,.0f} "
                "units in the horizon"
            )
    return replace(net, lines=lines, capacity=capacity, nominal=capacity.copy())


def _week_shares(net: Network, first: date, last: date | None) -> np.ndarray:
    """Per week of the horizon: the share of its days in [first, last)."""
    shares = np.zeros(net.weeks)
    for t in range(net.weeks):
        lo, hi = net.week_start(t), net.week_start(t + 1)
        upper = hi if last is None else min(hi, last)
        shares[t] = max(0, (upper - max(lo, first)).days) / 7.0
    return shares


def _weeks_text(share: np.ndarray) -> str:
    active = np.flatnonzero(share > 0)
    if len(active) == 0:
        return "no week of the horizon"
    return f"weeks {active[0] + 1}-{active[-1] + 1} of {len(share)}"


def _ramp(net: Network, start: date, weeks: int) -> np.ndarray:
    """A new line's share of its capacity per week of the horizon (linear ramp from its first Monday)."""
    monday = start + timedelta(days=(7 - start.weekday()) % 7)
    ramp = np.zeros(net.weeks)
    for t in range(net.weeks):
        running = (net.week_start(t) - monday).days // 7
        if net.week_start(t + 1) > monday:
            ramp[t] = min(1.0, (max(running, 0) + 1) / weeks) if weeks else 1.0
    return ramp


def _new_line_families(loaded: Loaded, change: CapitalProject, site_lines: list[LineInfo]) -> frozenset[str]:
    named = as_list(change.families)
    if not named:
        return frozenset().union(*(ln.families for ln in site_lines))
    by_name = {str(f.get("name", "")).lower(): fid for fid, f in loaded.families.items()}
    out = set()
    for name in named:
        fid = name if name in loaded.families else by_name.get(name.lower())
        if fid is None:
            raise NotFound(
                f"capital project {change.name}: no product family {name!r}", hint="brain objects ProductFamily"
            )
        out.add(fid)
    return frozenset(out)


def _series_dimensions(brain: Brain, dims: list[str]) -> list[tuple[str, str]] | None:
    """(object type, column) of each series dimension; None when one is not on a family, site or customer."""
    out = []
    for dim in dims:
        if dim in brain.project.dimensions:
            spec = brain.project.dimensions[dim]
            obj, column = spec.object, str(spec.expr)
        else:
            obj, _, column = dim.partition(".")
        if obj not in ("ProductFamily", "Site", "Customer"):
            return None
        out.append((obj, column))
    return out


def _series_of(item: Item, dims: list[tuple[str, str]], loaded: Loaded, sites: dict[str, Any]) -> tuple[str, ...]:
    """The forecast series an order part belongs to: its family's, site's or customer's dimension values."""
    values = []
    for obj, column in dims:
        if obj == "ProductFamily":
            row = loaded.families.get(item.family)
        elif obj == "Site":
            row = sites.get(item.site_id)
        else:
            row = loaded.network.customers.get(item.customer_id)
        values.append(str((row or {}).get(column)))
    return tuple(values)


def _with_demand(brain: Brain, loaded: Loaded, net: Network, forecast: SeriesForecast, notes: list[str]) -> Network:
    """Open orders of each forecast series scaled by its scenario / baseline forecast over the horizon."""
    dims = _series_dimensions(brain, forecast.dimensions)
    if dims is None:
        notes.append(
            f"demand not applied: the {forecast.usecase} series (by {', '.join(forecast.dimensions)}) "
            "cannot be matched to orders"
        )
        return net
    ratios = forecast.ratios()
    groups: dict[tuple[str, ...], list[int]] = defaultdict(list)
    sites = {s["site_id"]: s for s in loaded.sites}
    for n, item in enumerate(net.items):
        groups[_series_of(item, dims, loaded, sites)].append(n)
    qty = [i.qty for i in net.items]
    matched = 0
    for key, members in groups.items():
        if key in ratios:
            matched += 1
            for n, q in zip(members, _scaled([net.items[m].qty for m in members], ratios[key]), strict=True):
                qty[n] = q
    items = [_resized(i, q) for i, q in zip(net.items, qty, strict=True) if q > 0]
    before, after = sum(i.qty for i in net.items), sum(i.qty for i in items)
    notes.append(
        f"open orders of {matched} {forecast.usecase} series scaled by their scenario / baseline forecast: "
        f"{before:,} -> {after:,} units ({(after - before) / before:+.2%})"
    )
    return replace(net, items=items)


def _scaled(quantities: list[int], ratio: float) -> list[int]:
    """Whole units x ratio, rounded so that their sum is the rounded scaled total (largest remainders)."""
    exact = [q * ratio for q in quantities]
    floors = [math.floor(e) for e in exact]
    left = round(sum(exact)) - sum(floors)
    for n in sorted(range(len(exact)), key=lambda n: floors[n] - exact[n])[: max(left, 0)]:
        floors[n] += 1
    return floors


def _resized(item: Item, qty: int) -> Item:
    if qty == item.qty:
        return item
    k = qty / item.qty
    fields: dict[str, Any] = {"qty": qty, "value": item.value * k, "labour_hours": item.labour_hours * k}
    parts = getattr(item, "parts", None)
    if parts:
        fields["parts"] = tuple((c, u * k) for c, u in parts)
    return replace(item, **fields)


def solve(net: Network, time_limit: float | None = None) -> dict[str, Any]:
    """The network's plan by the replan's planner (`planner.optimise`, the same time limit by size) and its
    KPIs, with the best proven lower bound and which bound it is."""
    from companybrain.decisions.planner import optimise
    from companybrain.decisions.replan import build_options

    started = time.perf_counter()
    opts = build_options(net)
    planned = optimise(net, opts, time_limit)
    chosen, cost = planned.assignment, planned.cost
    bound = min(planned.bound, cost)
    k = kpis(net, opts, chosen, {})  # the replan's KPIs of an assignment; a what-if checks no material
    placed = sum(item.qty for o, item in zip(chosen, net.items, strict=True) if opts.line[o] >= 0)
    available = float(net.capacity.sum())
    return {
        "orders": len({i.order_id for i in net.items}),
        "units": int(sum(i.qty for i in net.items)),
        "capacity_units": round(available, 1),
        "late_orders": k["late_orders_total"],
        "late_orders_by_tier": k["late_orders"],
        "revenue_at_risk": k["revenue_at_risk"],
        "lateness_penalty": k["lateness_penalty"],
        "extra_freight": k["extra_freight"],
        "utilisation": round(placed / available, 4) if available else None,
        "cost": round(cost, 2),
        "lower_bound": round(bound, 2),
        "gap_to_bound": round((cost - bound) / cost, 6) if cost > 1e-9 else 0.0,
        "bound_kind": planned.bound_kind,
        "seconds": _since(started),
    }


def _row(name: str, fmt: str, base: dict[str, Any], scen: dict[str, Any]) -> dict[str, Any]:
    b, s = base[name], scen[name]
    diff = None if b is None or s is None else round(s - b, 6)
    return {
        "kpi": name,
        "baseline": b,
        "scenario": s,
        "diff": diff,
        "diff_pct": (diff / abs(b)) if diff is not None and b else None,
        "format": fmt,
    }

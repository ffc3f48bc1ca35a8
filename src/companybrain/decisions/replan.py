"""Network replanning when capacity is lost: the model, its solve with HiGHS, the bound and gap.

The order-level MIP (a binary per work item x line x week) is slow to prove; its LP relaxation is
not. Costs are linear in quantity and equal for every item of a class (family, home line, due
week, customer tier), so the LP over class flows per line and week *is* the order-level LP
relaxation: its value is a proven lower bound. Items are then assigned to the flows (largest
first, cheapest flow that still has room) and repaired by re-placing late items, which gives a
feasible plan; the reported gap is (plan - bound) / plan.

Capacity is cumulative per line (work can be made ahead), so for one item on one line every
on-time week is equivalent to the latest one: a class gets one on-time option per line plus one
per late week and one 'beyond the horizon' option (no capacity, lateness counted at the horizon)."""

from __future__ import annotations

import math
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from companybrain.decisions.baseline import Schedule, cheapest_feasible, local_scramble
from companybrain.decisions.network import Disruption, Network
from companybrain.errors import BrainError

if TYPE_CHECKING:
    from companybrain.brain import Brain
    from companybrain.governance.principal import Principal


@dataclass
class Options:
    """Every (class, line, week) choice with its unit cost; line -1 is 'beyond the horizon'."""

    item_class: np.ndarray
    cls: np.ndarray
    line: np.ndarray
    week: np.ndarray
    cost: np.ndarray
    freight: np.ndarray
    late_days: np.ndarray
    transit: np.ndarray
    class_qty: np.ndarray
    starts: np.ndarray  # options of class k: starts[k]:starts[k+1], cheapest first

    def for_class(self, k: int) -> Sequence[int]:
        return range(int(self.starts[k]), int(self.starts[k + 1]))


def build_options(net: Network) -> Options:
    """The classes of interchangeable items and the options of each, sorted cheapest first."""
    site_of = [ln.site_id for ln in net.lines]
    keys: dict[tuple[str, str, int, str], int] = {}  # (family, home line, due bucket, tier)
    item_class = np.empty(len(net.items), dtype=np.int64)
    for n, item in enumerate(net.items):
        offset = (item.due - net.start).days
        due_ref = 7 * (offset // 7) if offset >= 0 else offset  # on time within the due week's bucket
        item_class[n] = keys.setdefault((item.family, item.line_id, due_ref, item.tier), len(keys))
    lanes = {(a, b): net.cost.lane(net.sites[a], net.sites[b]) for a in net.sites for b in net.sites}
    capable: dict[str, list[int]] = defaultdict(list)
    for j, ln in enumerate(net.lines):
        for f in ln.families:
            capable[f].append(j)
    rows: list[tuple[float, int, int, int, float, float, int]] = []
    starts = [0]
    T = net.weeks
    line_index = {ln.line_id: j for j, ln in enumerate(net.lines)}
    for (family, home, due_ref, tier), k in keys.items():
        site = site_of[line_index[home]]
        per_day = net.unit_penalty.get(family, 0.0) * net.cost.tier_weight(tier)
        opts = []
        for j in capable[family]:
            freight, transit = lanes[(site_of[j], site)]
            freight = freight or (net.cost.line_change_per_unit if net.lines[j].line_id != home else 0.0)
            on_time = math.floor((due_ref - transit) / 7)
            if on_time >= 0:
                opts.append((freight, k, j, min(on_time, T - 1), freight, 0.0, transit))
            for t in range(max(on_time + 1, 0), T):
                late = 7 * t + transit - due_ref
                opts.append((freight + per_day * late, k, j, t, freight, float(late), transit))
        late = max(0, 7 * T - due_ref)
        opts.append((per_day * late, k, -1, T, 0.0, float(late), 0))
        opts.sort(key=lambda o: (o[0], o[3]))
        rows.extend(opts)
        starts.append(len(rows))
    a = np.array(rows, dtype=float).reshape(len(rows), 7)
    class_qty = np.zeros(len(keys))
    np.add.at(class_qty, item_class, [i.qty for i in net.items])
    return Options(
        item_class,
        a[:, 1].astype(np.int64),
        a[:, 2].astype(np.int64),
        a[:, 3].astype(np.int64),
        a[:, 0],
        a[:, 4],
        a[:, 5],
        a[:, 6].astype(np.int64),
        class_qty,
        np.array(starts, dtype=np.int64),
    )


def _solve(
    net: Network,
    col_row: np.ndarray,
    col_coef: np.ndarray,
    col_cost: np.ndarray,
    demand_row: np.ndarray,
    demand_coef: np.ndarray,
    n_demand: int,
    rhs: np.ndarray,
    integer: bool,
    time_limit: float,
) -> tuple[Any, Any]:
    """Demand rows (= rhs) then line x week rows (= capacity, with carry-forward slack columns)."""
    from companybrain.decisions.item_mip import highs, new_solver

    hs = highs()
    L, T = net.capacity.shape
    n_opt = len(col_cost)
    n_slack = L * T
    line_rows = n_demand + col_row  # -1 for 'beyond' stays negative below n_demand
    # each option column: a demand entry, and a capacity entry when it uses a line
    has_cap = col_row >= 0
    starts = np.zeros(n_opt + n_slack + 1, dtype=np.int64)
    per_col = 1 + has_cap.astype(np.int64)
    starts[1 : n_opt + 1] = np.cumsum(per_col)
    index = np.empty(int(per_col.sum()), dtype=np.int64)
    value = np.empty(len(index))
    first = starts[:n_opt]
    index[first], value[first] = demand_row, demand_coef
    index[first[has_cap] + 1], value[first[has_cap] + 1] = line_rows[has_cap], col_coef[has_cap]
    # slack of line j, week t: +1 in its row, -1 in week t+1's (carried forward), none past the last week
    row = n_demand + np.arange(L * T)
    carries = (np.arange(L * T) % T) + 1 < T
    lens = 1 + carries.astype(np.int64)
    starts[n_opt + 1 :] = starts[n_opt] + np.cumsum(lens)
    slack_index = np.empty(int(lens.sum()), dtype=np.int64)
    slack_value = np.empty(len(slack_index))
    first_of = np.cumsum(lens) - lens
    slack_index[first_of], slack_value[first_of] = row, 1.0
    slack_index[first_of[carries] + 1], slack_value[first_of[carries] + 1] = row[carries] + 1, -1.0
    index = np.concatenate([index, slack_index])
    value = np.concatenate([value, slack_value])
    lp = hs.HighsLp()
    lp.num_col_, lp.num_row_ = n_opt + n_slack, n_demand + L * T
    lp.col_cost_ = np.concatenate([col_cost, np.zeros(n_slack)])
    lp.col_lower_ = np.zeros(lp.num_col_)
    lp.col_upper_ = np.concatenate([np.full(n_opt, 1.0 if integer else hs.kHighsInf), np.full(n_slack, hs.kHighsInf)])
    caps = net.capacity.reshape(-1)
    lp.row_lower_ = lp.row_upper_ = np.concatenate([rhs, caps])
    lp.a_matrix_.format_ = hs.MatrixFormat.kColwise
    lp.a_matrix_.start_, lp.a_matrix_.index_, lp.a_matrix_.value_ = starts, index, value
    if integer:
        lp.integrality_ = [hs.HighsVarType.kInteger] * n_opt + [hs.HighsVarType.kContinuous] * n_slack
    h = new_solver(time_limit)
    if integer:
        h.setOptionValue("mip_rel_gap", 0.0)
    else:  # the flow LP has little to presolve: skipping it solves 3-4x faster, same optimum (1k-50k orders)
        h.setOptionValue("presolve", "off")
    h.passModel(lp)
    h.run()
    return h, hs


@dataclass
class LpSolution:
    """The class-flow LP: its value (a lower bound on any plan), units per option, duals per class."""

    value: float
    flows: np.ndarray
    class_duals: np.ndarray


def solve_lp(net: Network, opts: Options, time_limit: float = 60.0) -> LpSolution:
    """The LP over class flows, with the duals of its demand rows (USD per unit of each class).

    Solved by column generation: each class's cheapest few options (and 'beyond the horizon') first,
    then the options whose reduced cost at the duals is negative, until none is (the same optimum as
    the LP over every option: the flows use a few options of each class, 1,500 of 140,000 at 1k orders)."""
    T = net.weeks
    n_class = len(opts.class_qty)
    col_row = np.where(opts.line >= 0, opts.line * T + np.minimum(opts.week, T - 1), -1)
    rank = np.arange(len(opts.cost)) - opts.starts[opts.cls]
    first = np.flatnonzero((rank < FIRST_OPTIONS_PER_CLASS) | (opts.line < 0))
    deadline = time.perf_counter() + time_limit
    ones = np.ones(len(first))
    h, hs = _solve(net, col_row[first], ones, opts.cost[first], opts.cls[first], ones, n_class, opts.class_qty,
                   False, time_limit)  # fmt: skip
    # the LP's columns: the first options, the line x week slack columns (-1), then options added
    lp_option = np.concatenate([first, np.full(net.capacity.size, -1, dtype=np.int64)])
    in_lp = np.zeros(len(opts.cost), dtype=bool)
    in_lp[first] = True
    while True:
        if h.getModelStatus() != hs.HighsModelStatus.kOptimal:
            status = h.modelStatusToString(h.getModelStatus())
            raise BrainError(f"the replan LP did not solve to optimality: {status}")
        dual = np.asarray(h.getSolution().row_dual)
        capacity_dual = np.where(col_row >= 0, dual[n_class + np.maximum(col_row, 0)], 0.0)
        reduced = opts.cost - dual[opts.cls] - capacity_dual
        priced = np.flatnonzero((reduced < -REDUCED_COST_TOLERANCE) & ~in_lp)
        if len(priced) == 0:
            break
        uses = col_row[priced] >= 0
        starts = np.concatenate([[0], np.cumsum(1 + uses)])
        index = np.empty(int(starts[-1]), dtype=np.int32)
        index[starts[:-1]] = opts.cls[priced]
        index[starts[:-1][uses] + 1] = n_class + col_row[priced][uses]
        h.addCols(len(priced), opts.cost[priced].astype(float), np.zeros(len(priced)),
                  np.full(len(priced), hs.kHighsInf), len(index), starts[:-1].astype(np.int32), index,
                  np.ones(len(index)))  # fmt: skip
        lp_option = np.concatenate([lp_option, priced])
        in_lp[priced] = True
        h.setOptionValue("time_limit", max(deadline - time.perf_counter(), 0.01))
        h.run()
    values = np.asarray(h.getSolution().col_value)
    flows = np.zeros(len(opts.cost))
    flows[lp_option[lp_option >= 0]] = values[lp_option >= 0]
    duals = np.asarray(h.getSolution().row_dual)[:n_class]
    return LpSolution(float(h.getInfo().objective_function_value), flows, duals)


FIRST_OPTIONS_PER_CLASS = 4  # the LP starts from each class's cheapest options; the others are priced in
REDUCED_COST_TOLERANCE = 1e-7  # USD per unit: HiGHS's dual feasibility tolerance


def solve_order_mip(net: Network, opts: Options, time_limit: float = 60.0) -> dict[str, Any]:
    """The order-level MIP (a binary per item x option, cumulative capacity rows), for checking small
    instances and benchmarks. (The earlier carry-forward slack form made HiGHS 1.16's presolve report
    'Optimal' above a known feasible plan on a 25-order network; the cumulative form does not.)"""
    from companybrain.decisions.columns import Problem
    from companybrain.decisions.item_mip import solve_items

    problem = Problem.of(net, opts)
    result = solve_items(problem.items, problem.qty, problem.columns(), problem.cum_capacity, time_limit, gap=0.0)
    return {
        "status": result.status,
        "optimal": result.optimal,
        "objective": result.objective,
        "dual_bound": result.dual_bound,
        "gap": (result.objective - result.dual_bound) / result.objective if result.objective > 1e-9 else 0.0,
    }


def assign_to_flows(net: Network, opts: Options, flows: np.ndarray) -> np.ndarray:
    """Round the LP: each item takes its class's cheapest flow that still has room, then late items
    are re-placed at the cheapest option with capacity left (never worse than where they were)."""
    schedule = Schedule(net.capacity)
    remaining = flows.copy()
    qty = np.array([i.qty for i in net.items], dtype=float)
    members: dict[int, list[int]] = defaultdict(list)
    for n in sorted(range(len(net.items)), key=lambda n: -qty[n]):
        members[int(opts.item_class[n])].append(n)
    chosen = np.full(len(net.items), -1, dtype=np.int64)
    urgency = sorted(members, key=lambda k: -float(opts.cost[opts.starts[k + 1] - 1]))
    for k in urgency:
        span = opts.for_class(k)
        lo = int(opts.starts[k])  # the LP's solution is sparse; room only shrinks
        flowing = (lo + np.flatnonzero(remaining[lo : int(opts.starts[k + 1])] > 1e-6)).tolist()
        for n in members[k]:
            q = qty[n]
            roomy = [o for o in flowing if remaining[o] >= q - 1e-6]
            partial = [o for o in flowing if 1e-6 < remaining[o] < q - 1e-6]
            o = cheapest_feasible(schedule, [*roomy, *partial, *span], opts.line, opts.week, q)
            schedule.place(int(opts.line[o]), int(opts.week[o]), q)
            remaining[o] -= q
            chosen[n] = o
    for _ in range(2):
        late = sorted(
            (n for n in range(len(chosen)) if opts.late_days[chosen[n]] > 0),
            key=lambda n: -opts.cost[chosen[n]] * qty[n],
        )
        for n in late:
            o = int(chosen[n])
            schedule.remove(int(opts.line[o]), int(opts.week[o]), qty[n])
            best = cheapest_feasible(schedule, opts.for_class(int(opts.item_class[n])), opts.line, opts.week, qty[n])
            schedule.place(int(opts.line[best]), int(opts.week[best]), qty[n])
            chosen[n] = best
    return chosen


def plan_cost(net: Network, opts: Options, chosen: np.ndarray) -> float:
    """The objective of an assignment: freight plus tier-weighted lateness penalty (USD)."""
    return float(sum(opts.cost[o] * i.qty for o, i in zip(chosen, net.items, strict=True)))


@dataclass
class Plan:
    """A replan: actions, KPIs (no disruption / baseline / plan), the bound and gap, notifications."""

    disruption: Disruption | None
    horizon: dict[str, Any]
    cost: float
    lower_bound: float
    gap: float
    solve_seconds: float
    total_seconds: float
    items: int
    classes: int
    options: int
    kpis: dict[str, dict[str, Any]]
    improvement: dict[str, float]
    actions: list[dict[str, Any]]
    assignment: np.ndarray = field(repr=False)
    baseline_assignment: np.ndarray = field(repr=False)
    notifications: list[dict[str, Any]] = field(default_factory=list)
    user: str | None = None
    assumptions: dict[str, Any] = field(default_factory=dict)
    bound_kind: str = "LP relaxation"  # which proven lower bound `lower_bound` is (planner.py)

    def as_dict(self) -> dict[str, Any]:
        skip = {"assignment", "baseline_assignment"}
        out = {k: v for k, v in self.__dict__.items() if k not in skip}
        out["disruption"] = self.disruption.model_dump(mode="json") if self.disruption else None
        return out


def plan_network(net: Network, time_limit: float | None = None, target_gap: float = 1e-4) -> Plan:
    """Solve a loaded network within `time_limit` seconds (default: by its size, `planner.default_time_limit`):
    the planner's best plan and proven bound, baseline, KPIs and actions (no notifications)."""
    from companybrain.decisions.materials import expedites, shortages
    from companybrain.decisions.notify import actions_for, kpis
    from companybrain.decisions.planner import optimise

    started = time.perf_counter()
    opts = build_options(net)
    solve_started = time.perf_counter()
    planned = optimise(net, opts, time_limit, target_gap)
    chosen, bound = planned.assignment, planned.bound
    solve_seconds = time.perf_counter() - solve_started
    baseline = local_scramble(net, opts)
    cost, base_cost = plan_cost(net, opts, chosen), plan_cost(net, opts, baseline)
    if base_cost < cost:  # the rounding is a heuristic: never recommend worse than today's practice
        chosen, cost = baseline.copy(), base_cost
    reference = local_scramble(net, opts, capacity=net.nominal)
    short = {
        "no_disruption": shortages(net, opts, reference),
        "baseline": shortages(net, opts, baseline),
        "plan": shortages(net, opts, chosen),
    }
    table = {
        "no_disruption": kpis(net, opts, reference, short["no_disruption"]),
        "baseline": kpis(net, opts, baseline, short["baseline"]),
        "plan": kpis(net, opts, chosen, short["plan"]),
    }
    improvement = {
        key: table["baseline"][key] - table["plan"][key]
        for key in ("revenue_at_risk", "weighted_lateness_days", "lateness_penalty", "objective")
    }
    if bound > cost + 1e-6 * max(1.0, abs(cost)):
        raise BrainError(
            f"replan: the lower bound {bound:,.2f} is above the plan's cost {cost:,.2f}, which cannot happen",
            hint="report this with the disruption: the model or the solver misbehaved",
        )
    bound = min(bound, cost)  # a bound can exceed the cost only by the solver's tolerance
    return Plan(
        disruption=net.disruption,
        horizon={"start": net.start.isoformat(), "weeks": net.weeks, "end": net.week_start(net.weeks).isoformat()},
        cost=cost,
        lower_bound=bound,
        gap=(cost - bound) / cost if cost > 1e-9 else 0.0,
        bound_kind=planned.bound_kind,
        solve_seconds=solve_seconds,
        total_seconds=time.perf_counter() - started,
        items=len(net.items),
        classes=len(opts.class_qty),
        options=len(opts.cost),
        kpis=table,
        improvement=improvement,
        actions=actions_for(net, opts, chosen, baseline) + expedites(net, short["plan"], short["no_disruption"]),
        assignment=chosen,
        baseline_assignment=baseline,
        assumptions={
            "cost_model": {k: v for k, v in net.cost.__dict__.items()},
            "disrupted_lines": sorted(net.disrupted_lines),
            "planner": {
                "time_limit": planned.time_limit,
                "stopped": planned.stopped,
                "lp_bound": planned.lp_bound,
                "steps": {k: round(v, 3) for k, v in planned.steps.items()},
                "history": planned.history,
            },
            "materials": net.materials_note
            or "parts checked after the solve: stock and open purchase orders per site against each week's "
            "need inside the parts' lead times; expedites are proposed beyond the undisrupted schedule's shortages",
        },
    )


def replan(
    brain: Brain, disruption: Disruption, user: str | Principal | None = None, time_limit: float | None = None
) -> Plan:
    """Replan the network after `disruption`, reading as `user` (policies and audit apply)."""
    from companybrain.decisions.proposals import plan_with_network

    return plan_with_network(brain, disruption, user, time_limit)[0]

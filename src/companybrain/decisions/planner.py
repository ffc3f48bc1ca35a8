"""The replan's planner: anytime, with the best plan so far and its proven gap always at hand.

1. The LP over class flows (`replan.solve_lp`, by column generation): a first lower bound and the guide.
2. Rounding guided by the LP (`replan.assign_to_flows`), then line re-sequencing by DP
   (`resequence.py`): a first plan.
3. The bound made stronger where the LP is weak (lots large against capacity): the Lagrangian
   relaxation by line (`lagrangian.py`), started from the LP's duals. Its relaxed solutions, made
   feasible every few iterations and re-sequenced, are plans too, often better than the rounding
   on networks whose lots are large against capacity (which of them polishes best varies).
4. The plan made better until the time limit by large-neighbourhood search (`neighbourhoods.py`):
   windows of up to 50 order parts re-solved exactly with HiGHS, started from the incumbent, drawn
   where the plan and the Lagrangian bound disagree most (`lagrangian.DisagreementByLine`). On a
   small network the whole order-level MIP has the last 40% of the time: its dual bound is a bound.

It stops early once the proven gap is at most `target_gap`. The bound reported is the best of
the LP relaxation, the Lagrangian bound and the MIP's dual bound, and says which one it is."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from companybrain.decisions.columns import Problem
from companybrain.decisions.item_mip import solve_items
from companybrain.decisions.lagrangian import (
    LagrangianBound,
    Plans,
    disagreement,
    lagrangian_bound,
    lagrangian_plan,
)
from companybrain.decisions.neighbourhoods import LARGE_WINDOW_ITEMS, MAX_WINDOW_ITEMS, Search
from companybrain.decisions.resequence import Resequencer

if TYPE_CHECKING:
    from companybrain.decisions.network import Network
    from companybrain.decisions.replan import Options

FULL_MIP_COLUMNS = 40_000  # up to this many order-level columns the whole MIP ends the search
LP_BOUND = "LP relaxation"
LAGRANGIAN_BOUND = "Lagrangian relaxation by line"
MIP_BOUND = "MIP dual bound"


def default_time_limit(items: int) -> float:
    """Seconds the planner may take by default: 2 s up to 4,000 order parts, 4.5 s at 20,000, then
    1 s per 8,000 more (14.5 s at 100,000). It stops sooner once the target gap is proven. 10,000
    orders are ~20,100 parts: half a second is kept for a step's overrun under load, within 5 s."""
    if items <= 4000:
        return 2.0
    if items <= 20000:
        return 2.0 + 2.5 * (items - 4000) / 16000
    return min(30.0, 4.5 + (items - 20000) / 8000)


@dataclass
class PlannerResult:
    """The best plan found, its cost, the best proven lower bound and which kind of bound it is."""

    assignment: np.ndarray
    cost: float
    bound: float
    bound_kind: str
    lp_bound: float
    seconds: float
    time_limit: float
    stopped: str  # 'gap' (the target gap is proven), 'time' (the limit) or 'optimal'
    history: list[dict[str, float]] = field(default_factory=list)
    steps: dict[str, float] = field(default_factory=dict)

    @property
    def gap(self) -> float:
        return (self.cost - self.bound) / self.cost if self.cost > 1e-9 else 0.0


MAX_TIME_LIMIT = 3600.0  # seconds a caller may give the planner


def checked_time_limit(time_limit: object) -> float | None:
    """A time limit from a caller (CLI, API, a served command): None, or a number of seconds from 0.1 to
    MAX_TIME_LIMIT; anything else (negative, zero, inf, nan, text) is refused, never run or hung on."""
    from companybrain.errors import BrainError

    if time_limit is None:
        return None
    if (
        isinstance(time_limit, bool)
        or not isinstance(time_limit, int | float)
        or not 0.1 <= time_limit <= MAX_TIME_LIMIT
    ):
        raise BrainError(f"time_limit={time_limit!r} is not a number of seconds from 0.1 to {MAX_TIME_LIMIT:g}")
    return float(time_limit)


def optimise(net: Network, opts: Options, time_limit: float | None = None, target_gap: float = 1e-4) -> PlannerResult:
    """The best plan within `time_limit` seconds (default: `default_time_limit`), stopping once its
    proven gap is at most `target_gap`."""
    from companybrain.decisions.replan import assign_to_flows, solve_lp

    started = time.perf_counter()
    time_limit = checked_time_limit(time_limit)
    limit = default_time_limit(len(net.items)) if time_limit is None else time_limit
    deadline = started + max(limit - STOP_MARGIN, 0.5 * limit)  # a step may overrun its share by a few ms
    problem = Problem.of(net, opts)
    lp = solve_lp(net, opts, max(limit, 1.0))
    run = _Run(problem, assign_to_flows(net, opts, lp.flows), lp.value, started, target_gap)
    run.steps["lp_and_rounding"] = time.perf_counter() - started
    if not run.open(deadline):  # the rounding is already proven within the target (the demo's line-down)
        return run.result(limit)
    lag: LagrangianBound | None = None
    exact = _column_count(problem) <= MAX_EXACT_COLUMNS  # every column fits in memory: bounds beyond the LP
    cols = problem.columns() if exact else problem.columns(per_item=SEARCH_COLUMNS_PER_ITEM)
    resequencer = Resequencer(problem, cols)
    t = time.perf_counter()
    while run.open(deadline):
        assignment, improved = resequencer.sweep(run.assignment, t + 0.15 * (deadline - t))
        run.offer(assignment)
        if not improved:
            break
    run.steps["resequence"] = time.perf_counter() - t
    large = len(problem.qty) > LARGE_ITEMS
    whole = exact and len(cols) <= FULL_MIP_COLUMNS  # small: the whole MIP ends the run, for its dual bound
    if exact and run.open(deadline):
        t = time.perf_counter()
        multipliers = problem.qty * lp.class_duals[opts.item_class]  # their Lagrangian value is the LP's
        plans = Plans()
        share = LAGRANGIAN_SHARE_SMALL if whole else LAGRANGIAN_SHARE
        long = len(problem.qty) <= LONG_ASCENT_ITEMS
        lag = lagrangian_bound(
            problem, cols, multipliers, run.cost, t + share * (deadline - t), plans=plans,
            max_iterations=LONG_ASCENT_ITERATIONS if long else 200, patience=LONG_ASCENT_PATIENCE if long else 4,
        )  # fmt: skip
        run.raise_bound(lag.bound, LAGRANGIAN_BOUND)
        run.steps["lagrangian"] = time.perf_counter() - t
        t = time.perf_counter()
        # plans read off the relaxation, polished: often far better than the LP's rounding
        until = t + 0.3 * (deadline - t)
        for relaxed in [lagrangian_plan(problem, cols, lag.multipliers)] + [a for _, a in plans.found]:
            for _ in range(2):
                if run.open(until):
                    relaxed, _ = resequencer.sweep(relaxed, until)
            run.offer(relaxed)
        run.steps["lagrangian_plans"] = time.perf_counter() - t
        t = time.perf_counter()
        priced = run.assignment
        for prices in (lag.multipliers, lag.multipliers, lag.multipliers, None, None):
            if not run.open(deadline):
                break
            priced, _ = resequencer.sweep(priced, t + 0.1 * (deadline - t), prices)
            run.offer(priced)
        run.steps["priced_resequence"] = time.perf_counter() - t
    if run.open(deadline):
        t = time.perf_counter()
        until = t + (SEARCH_SHARE_SMALL if whole else 1.0) * (deadline - t)
        search = Search(
            problem, cols, run.assignment, run.cost, max_items=LARGE_WINDOW_ITEMS if large else MAX_WINDOW_ITEMS
        )
        if lag is not None:
            search.disagreement = disagreement(problem, cols, lag.multipliers)
        seconds = LARGE_WINDOW_SECONDS if large else WINDOW_SECONDS
        while run.open(until):
            if search.step(min(seconds, until - time.perf_counter())):
                run.offer(search.assignment)
        run.steps["search"] = time.perf_counter() - t
        run.steps["windows"] = search.windows
    if whole and run.open(deadline):
        t = time.perf_counter()
        start = problem.column_of(cols, run.assignment)
        mip = solve_items(problem.items, problem.qty, cols, problem.cum_capacity, deadline - t, start=start,
                          gap=target_gap)  # fmt: skip
        if mip.chosen is not None:
            run.offer(cols.option[mip.chosen])
        run.raise_bound(mip.dual_bound, MIP_BOUND)
        run.steps["whole_mip"] = time.perf_counter() - t
    return run.result(limit)


MAX_EXACT_COLUMNS = 3_000_000  # beyond this many order-level columns: LP bound, cheapest columns only
SEARCH_COLUMNS_PER_ITEM = 24
WINDOW_SECONDS = 0.2
STOP_MARGIN = 0.05  # seconds kept back so that the planner returns within its time limit
# beyond this many order parts (10,000 orders: ~20,000) the cost is spread thin over many items: larger,
# longer windows gained more there (bench_replan at 10,000 orders)
LARGE_ITEMS = 12_000
LARGE_WINDOW_SECONDS = 1.0
# of the time left, the Lagrangian ascent's: half gained on large networks, and on smaller ones since the
# windows are drawn by its multipliers (tight 1k orders, seeds 1-5, in turn with 0.25 at the same load)
LAGRANGIAN_SHARE = 0.5
# on a small network the whole MIP comes last: HiGHS overran a 0.2 s limit on it by 0.6 s at 100 orders
# (16,000 columns, load 4.7), so the ascent keeps a quarter there and the MIP its slot
LAGRANGIAN_SHARE_SMALL = 0.25
# up to this many order parts (~500 orders) the ascent can afford more, slower-shrinking steps: 400 with
# the step halved after 8 stale iterations, not 200 and 4, took the bound at tight 300 orders (seeds 1-3,
# against the best known) from 4.1 / 14.8 / 9.2% below to 3.6 / 9.2 / 8.0%; at 1k the search needs the time
LONG_ASCENT_ITEMS = 1_000
LONG_ASCENT_ITERATIONS = 400
LONG_ASCENT_PATIENCE = 8
SEARCH_SHARE_SMALL = 0.6  # of the time left on a small network; the whole MIP has the rest


def _column_count(problem: Problem) -> int:
    opts = problem.opts
    return int((opts.starts[opts.item_class + 1] - opts.starts[opts.item_class]).sum())


class _Run:
    """The incumbent, the best bound and its kind, and the history of both."""

    def __init__(self, problem: Problem, assignment: np.ndarray, lp_bound: float, started: float, target: float):
        self.problem, self.started, self.target, self.lp_bound = problem, started, target, lp_bound
        self.assignment, self.cost = assignment, problem.cost(assignment)
        self.bound, self.kind = min(lp_bound, self.cost), LP_BOUND
        self.history: list[dict[str, float]] = []
        self.steps: dict[str, float] = {}
        self._record()

    def gap(self) -> float:
        return (self.cost - self.bound) / self.cost if self.cost > 1e-9 else 0.0

    def open(self, deadline: float) -> bool:
        """Time is left and the target gap is not proven yet."""
        return time.perf_counter() < deadline - 0.01 and self.gap() > self.target

    def offer(self, assignment: np.ndarray) -> None:
        cost = self.problem.cost(assignment)
        if cost < self.cost - 1e-9 * max(1.0, self.cost):
            self.assignment, self.cost = assignment, cost
            self._record()

    def raise_bound(self, value: float, kind: str) -> None:
        if value > self.bound + 1e-9 * max(1.0, abs(value)):
            self.bound, self.kind = min(value, self.cost), kind
            self._record()

    def _record(self) -> None:
        self.history.append(
            {"seconds": round(time.perf_counter() - self.started, 3), "cost": self.cost, "bound": self.bound}
        )

    def result(self, limit: float) -> PlannerResult:
        bound = min(self.bound, self.cost)
        optimal = self.cost - bound <= 1e-9 * max(1.0, self.cost)
        stopped = "optimal" if optimal else "gap" if self.gap() <= self.target else "time"
        seconds = time.perf_counter() - self.started
        return PlannerResult(
            self.assignment, self.cost, bound, self.kind, self.lp_bound, seconds, limit, stopped, self.history,
            self.steps,
        )  # fmt: skip

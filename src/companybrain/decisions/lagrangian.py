"""A lower bound on the replan's cost stronger than the LP: Lagrangian relaxation by line.

Price each item's 'exactly one option' constraint with a multiplier v_n. What is left splits by
line: each line picks, among the items it can make, which to complete by which week so that the
whole units made by the end of every week fit its cumulative capacity — a nested knapsack, solved
here by dynamic programming over units used (items taken week by week: `knapsack.py`). Its value plus the sum of
the multipliers is a valid lower bound for *any* multipliers; whole items in the knapsack are what
the LP lacks (it may make 12 of an item's 40 units on time). The DP relaxes one thing more, so the
bound stays valid: an item may be taken at two weeks of the same line.

The multipliers start at the class LP's duals (the bound starts at least at the LP's value) and
move by subgradient steps toward a target between the best bound and the incumbent."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from companybrain.decisions.baseline import Schedule, cheapest_feasible
from companybrain.decisions.columns import Columns, Problem, order_by_line
from companybrain.decisions.knapsack import nested_knapsack

EPS = 1e-9


PLAN_EVERY = 5  # iterations between two plans read off the relaxation: they differ much from one to the next
# the subgradient steps (Polyak's rule): toward a target this share of the way from the best bound to the
# incumbent, halved after this many iterations without a better bound, deflected by the last direction
TARGET_SHARE = 0.5
STALE_ITERATIONS = 4
DEFLECTION = 0.5


@dataclass
class Plans:
    """The cheapest few plans read off the relaxation, to be polished: which one polishes best varies."""

    keep: int = 2
    found: list[tuple[float, np.ndarray]] = field(default_factory=list)

    def offer(self, problem: Problem, assignment: np.ndarray) -> None:
        self.found.append((problem.cost(assignment), assignment))
        self.found.sort(key=lambda pair: pair[0])
        del self.found[self.keep :]


@dataclass
class LagrangianBound:
    """The best bound found, the multipliers that gave it, and the last line solutions."""

    bound: float
    multipliers: np.ndarray
    iterations: int
    seconds: float


def evaluate(
    problem: Problem,
    cols: Columns,
    v: np.ndarray,
    picks: list[np.ndarray] | None = None,
    per_line: np.ndarray | None = None,
) -> tuple[float, np.ndarray]:
    """L(v) and, per item, how many options the relaxed solution gives it (the subgradient is 1 - that);
    the columns it takes are appended to `picks` when given, each line's relaxed value (its knapsack's
    reduced cost, <= 0) written to `per_line` when given."""
    T = problem.weeks
    reduced = cols.cost - v[cols.item]
    value = float(v.sum())
    count = np.zeros(len(v))
    negative = reduced < -EPS
    beyond = np.flatnonzero(negative & (cols.line < 0))
    value += float(reduced[beyond].sum())
    np.add.at(count, cols.item[beyond], 1.0)
    if picks is not None:
        picks.append(beyond)
    pick = np.flatnonzero(negative & (cols.line >= 0))
    by_line = pick[order_by_line(cols.line[pick])]
    lines = cols.line[by_line]
    cuts = np.flatnonzero(np.diff(lines)) + 1
    for part in np.split(by_line, cuts) if len(by_line) else []:
        j = int(cols.line[part[0]])
        week = np.minimum(cols.week[part], T - 1)
        gain, chosen = nested_knapsack(problem.qty[cols.item[part]], -reduced[part], week, problem.cum_capacity[j])
        value -= gain
        if per_line is not None:
            per_line[j] = -gain
        np.add.at(count, cols.item[part[chosen]], 1.0)
        if picks is not None:
            picks.append(part[chosen])
    return value, count


def lagrangian_bound(
    problem: Problem,
    cols: Columns,
    start: np.ndarray,
    incumbent: float,
    deadline: float,
    max_iterations: int = 200,
    patience: int = STALE_ITERATIONS,
    plans: Plans | None = None,
) -> LagrangianBound:
    """Subgradient ascent on the multipliers from `start` until `deadline` (perf_counter seconds); with
    `plans`, every few iterations the relaxed solution is made a feasible plan and kept if among the best."""
    started = time.perf_counter()
    v = start.astype(float).copy()
    best, best_v = -np.inf, v.copy()
    step, stale = 1.0, 0
    direction = np.zeros_like(v)
    iterations = 0
    while iterations < max_iterations and time.perf_counter() < deadline:
        picks: list[np.ndarray] | None = [] if plans is not None and iterations % PLAN_EVERY == 0 else None
        value, count = evaluate(problem, cols, v, picks)
        if plans is not None and picks is not None:
            plans.offer(problem, _feasible(problem, cols, picks))
        iterations += 1
        if not np.isfinite(best) or value > best + 1e-9 * max(1.0, abs(best)):
            best, best_v, stale = value, v.copy(), 0
        else:
            stale += 1
            if stale >= patience:
                step, stale = step / 2, 0
        g = 1.0 - count
        direction = g + DEFLECTION * direction  # deflected: damps the zig-zag of plain subgradient steps
        norm = float((direction * direction).sum())
        if norm == 0.0 or best >= incumbent - 1e-9 * max(1.0, incumbent) or step < 1e-3:
            break
        target = min(incumbent, best + TARGET_SHARE * (incumbent - best) + 1e-3 * abs(best))
        v = v + step * (target - value) / norm * direction
    return LagrangianBound(best, best_v, iterations, time.perf_counter() - started)


def disagreement(problem: Problem, cols: Columns, v: np.ndarray) -> DisagreementByLine:
    """How the gap between a plan and the bound L(v) splits by line (`DisagreementByLine`)."""
    relaxed = np.zeros(problem.lines)
    evaluate(problem, cols, v, per_line=relaxed)
    return DisagreementByLine(v, relaxed)


@dataclass
class DisagreementByLine:
    """What the plan's items on a line cost at the prices v (cost - v) less the line's relaxed value is
    >= 0 (the plan's items on a line are one of the sets its knapsack chose among), and these terms make
    up most of plan - L(v). Lines where it is large are where the plan and the bound disagree: where a
    window may gain."""

    prices: np.ndarray
    relaxed: np.ndarray  # per line: its knapsack's reduced cost at the prices (<= 0)

    def of(self, problem: Problem, assignment: np.ndarray, home: np.ndarray) -> np.ndarray:
        """Per line, its share of the disagreement; an item beyond the horizon counts for its home line."""
        opts = problem.opts
        reduced = opts.cost[assignment] * problem.qty - self.prices
        line = opts.line[assignment]
        out = -self.relaxed.copy()
        np.add.at(out, line[line >= 0], reduced[line >= 0])
        np.add.at(out, home[line < 0], np.maximum(reduced[line < 0], 0.0))
        return np.maximum(out, 0.0)


def lagrangian_plan(problem: Problem, cols: Columns, v: np.ndarray) -> np.ndarray:
    """A feasible plan read off the relaxed solution at multipliers `v`: each line keeps the items its
    knapsack takes (an item taken by two lines or weeks keeps its cheapest), and the items no line took
    go, costliest first, to their cheapest option that still fits (beyond the horizon at worst). Dropping
    items from a line's pick only frees capacity, so the picks stay feasible."""
    picks: list[np.ndarray] = []
    evaluate(problem, cols, v, picks)
    return _feasible(problem, cols, picks)


def _feasible(problem: Problem, cols: Columns, picks: list[np.ndarray]) -> np.ndarray:
    opts = problem.opts
    taken = np.concatenate(picks) if picks else np.zeros(0, dtype=np.int64)
    taken = taken[np.argsort(cols.cost[taken], kind="stable")]
    _, first = np.unique(cols.item[taken], return_index=True)
    taken = taken[first]
    assignment = problem.beyond_of_class[opts.item_class].copy()
    assignment[cols.item[taken]] = cols.option[taken]
    schedule = Schedule.of_slack(problem.residual(problem.loads(assignment)))
    missing = np.setdiff1d(problem.items, cols.item[taken])
    order = missing[np.argsort(-(opts.cost[assignment[missing]] * problem.qty[missing]), kind="stable")]
    for n in order:
        q = problem.qty[n]
        o = cheapest_feasible(schedule, opts.for_class(int(opts.item_class[n])), opts.line, problem.cap_week, q)
        schedule.place(int(opts.line[o]), int(problem.cap_week[o]), q)
        assignment[n] = o
    return assignment

"""Large-neighbourhood search for the replan: free the items of a few lines, re-solve them exactly
as a small order-level MIP (HiGHS) on the capacity the other items leave, keep the result when it
is cheaper. Windows are drawn where the cost is: a costly line's whole site (moves within a site
cost 1 USD a unit), or the line and the lines elsewhere that make the same families. A window with
more items than a small MIP solves quickly keeps those that cost (late or moved) and those made
earliest. A freed item may go to the window's lines or back to its own site; the other items keep
their places."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from companybrain.decisions.columns import Columns, Problem
from companybrain.decisions.item_mip import solve_items
from companybrain.decisions.lagrangian import DisagreementByLine

# a window's MIP stays small enough to solve in a fraction of a second: lots large against capacity make
# even 60 order parts take 0.1-1 s with HiGHS, and many small windows gain more than a few large ones
MAX_WINDOW_ITEMS = 50
LARGE_WINDOW_ITEMS = 400  # on a large network (`planner.LARGE_ITEMS`) larger windows gained more
MIN_WINDOW_ITEMS = 20
# a window's size follows HiGHS: smaller after one it could not solve within its time, larger after one
# solved fast (half the windows of 50 parts at tight 1k orders ran out of time 10-25% from their optimum)
SHRINK, GROW = 0.8, 1.1
WINDOW_GAP = 0.002  # a window stops within 0.2% of its own optimum: the next window gains more
EARLY_JITTER = 2.0  # weeks


@dataclass
class Search:
    """The incumbent and what the search learnt about window sizes."""

    problem: Problem
    cols: Columns  # every item's feasible columns, grouped by item
    assignment: np.ndarray
    cost: float
    rng: np.random.Generator = field(default_factory=lambda: np.random.default_rng(7))
    lines_per_window: int = 3
    columns_per_item: int = 12
    max_items: int = MAX_WINDOW_ITEMS
    windows: int = 0
    improved: int = 0
    disagreement: DisagreementByLine | None = None  # windows drawn where plan and bound disagree
    # windows solved to their optimum on the incumbent without a gain: the same window again gains nothing
    settled: set[int] = field(default_factory=set)

    def __post_init__(self) -> None:
        net = self.problem.net
        L = self.problem.lines
        fam = [ln.families for ln in net.lines]
        self.overlap = np.array([[len(fam[a] & fam[b]) for b in range(L)] for a in range(L)], dtype=float)
        site = [ln.site_id for ln in net.lines]
        self.same_site = np.array([[site[a] == site[b] for b in range(L)] for a in range(L)])
        index = {ln.line_id: j for j, ln in enumerate(net.lines)}
        self.home = np.array([index[i.line_id] for i in net.items], dtype=np.int64)
        self.first = np.searchsorted(self.cols.item, np.arange(len(self.problem.qty) + 1))
        self.window_items = self.max_items

    def hot_line(self) -> int:
        """A line drawn with probability growing with its share of the gap between the plan and the
        Lagrangian bound when known, else with the cost of the items on it or from it."""
        opts, p = self.problem.opts, self.problem
        if self.disagreement is not None:
            share = self.disagreement.of(p, self.assignment, self.home)
            if share.sum() > 0:
                share = share + 1e-3 * share.sum() / len(share)
                return int(self.rng.choice(p.lines, p=share / share.sum()))
        cost = opts.cost[self.assignment] * p.qty
        line = opts.line[self.assignment]
        where = np.where(line >= 0, line, self.home)
        weight = np.zeros(p.lines)
        np.add.at(weight, where, cost)
        np.add.at(weight, self.home, cost)
        weight = weight + 1e-3 * (weight.sum() + 1.0) / len(weight)
        return int(self.rng.choice(p.lines, p=weight / weight.sum()))

    def window(self, seed: int) -> np.ndarray:
        """Every other window: the seed line's site (moves there cost 1 USD a unit), else the seed line
        and the lines elsewhere that share most families with it."""
        if self.windows % 2 == 0:
            return np.flatnonzero(self.same_site[seed])
        score = self.overlap[seed] + self.rng.random(len(self.overlap)) * 0.4
        score[seed] = np.inf
        ranked = np.argsort(-score)
        ranked = ranked[(self.overlap[seed][ranked] > 0) | (ranked == seed)]
        return ranked[: self.lines_per_window]

    def _earliest(self, free: np.ndarray) -> np.ndarray:
        """A big window's items: those that cost (late or moved), then those made earliest, with a
        random jitter of a week or two. Lateness comes from the first weeks' capacity: an item made in
        week 9 competes with none of the items due in weeks 0-3."""
        p, opts = self.problem, self.problem.opts
        o = self.assignment[free]
        cost = opts.cost[o] * p.qty[free]
        week = p.cap_week[o] + EARLY_JITTER * self.rng.random(len(free))
        order = np.lexsort((week, cost <= 0))
        return np.sort(free[order[: self.window_items]])

    def step(self, seconds: float) -> bool:
        """One window: True when it found a cheaper plan."""
        p, opts = self.problem, self.problem.opts
        lines = self.window(self.hot_line())
        inside = np.zeros(p.lines, dtype=bool)
        inside[lines] = True
        current = opts.line[self.assignment]
        free = np.flatnonzero(((current >= 0) & inside[np.maximum(current, 0)]) | inside[self.home])
        if len(free) == 0:
            return False
        if len(free) > self.window_items:
            free = self._earliest(free)
        key = hash(free.tobytes())
        if key in self.settled:
            return False
        spans = [np.arange(self.first[n], self.first[n + 1]) for n in free]
        cols = self.cols.subset(np.concatenate(spans))
        now = self.assignment[cols.item]
        line = np.maximum(cols.line, 0)
        # a freed item may go to the window's lines, back to its own site, stay, or go beyond the horizon
        allowed = (cols.line >= 0) & (inside[line] | self.same_site[line, self.home[cols.item]])
        cols = cols.subset(allowed | (cols.line < 0) | (cols.option == now))
        starts = np.flatnonzero(np.r_[True, np.diff(cols.item) != 0])
        rank = np.arange(len(cols)) - np.repeat(starts, np.diff(np.r_[starts, len(cols)]))
        now = self.assignment[cols.item]
        cols = cols.subset((rank < self.columns_per_item) | (cols.line < 0) | (cols.option == now))
        load = p.loads(self.assignment) - p.loads(self.assignment, free)
        residual = p.residual(load)
        start = p.column_of(cols, self.assignment)
        before = float((opts.cost[self.assignment[free]] * p.qty[free]).sum())
        started = time.perf_counter()
        result = solve_items(free, p.qty, cols, residual, seconds, start=start, gap=WINDOW_GAP)
        self.windows += 1
        fast = result.optimal and time.perf_counter() - started < 0.4 * seconds
        if fast:
            self.lines_per_window = min(self.lines_per_window + 1, p.lines)
            self.window_items = min(round(self.window_items * GROW) + 1, self.max_items)
        elif not result.optimal:
            self.lines_per_window = max(self.lines_per_window - 1, 2)
            self.window_items = max(round(self.window_items * SHRINK), MIN_WINDOW_ITEMS)
        if result.chosen is None or result.objective >= before - 1e-6 * max(1.0, before):
            if result.optimal:
                self.settled.add(key)
            return False
        self.settled.clear()
        self.assignment = self.assignment.copy()
        self.assignment[free] = cols.option[result.chosen]
        self.cost = p.cost(self.assignment)
        self.improved += 1
        return True

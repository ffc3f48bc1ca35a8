"""Fast exact moves for the replan: re-sequence one line at a time with the nested-knapsack DP.

For a line, every item that is on it, or that could be made on it cheaper than where it is now, is
a candidate: taken at week t it costs its option there; left out, an item of this line goes beyond
the horizon (and is then put back wherever it fits cheapest) and an item of another line stays where
it is. The DP (`knapsack.nested_knapsack`) picks the set and weeks of most gain within the line's
cumulative capacity; the line's other load is none (all of its items are candidates), the other
lines only lose load, so the plan stays feasible. This is what rounding misses most: which whole
items get a line's scarce early weeks."""

from __future__ import annotations

import time

import numpy as np

from companybrain.decisions.baseline import Schedule
from companybrain.decisions.columns import Columns, Problem, order_by_line
from companybrain.decisions.knapsack import nested_knapsack

EPS = 1e-9


class Resequencer:
    """Line-by-line DP moves on an assignment (option index per item)."""

    def __init__(self, problem: Problem, cols: Columns) -> None:
        self.problem = problem
        opts = problem.opts
        self.by_item = cols  # grouped by item, cheapest first
        self.first = np.searchsorted(cols.item, np.arange(len(problem.qty) + 1))
        on_line = cols.line >= 0
        order = order_by_line(cols.line[on_line])
        self.cols = cols.subset(np.flatnonzero(on_line)[order])
        self.bounds = np.searchsorted(self.cols.line, np.arange(problem.lines + 1))
        beyond = np.flatnonzero(opts.line < 0)
        self.beyond_of_class = np.empty(len(opts.class_qty), dtype=np.int64)
        self.beyond_of_class[opts.cls[beyond]] = beyond

    def line(self, assignment: np.ndarray, j: int, prices: np.ndarray | None = None) -> tuple[np.ndarray, float]:
        """The best re-sequencing of line j: (new assignment, cost saved). With `prices` (USD per item,
        e.g. Lagrangian multipliers), an item of the line is worth its price elsewhere rather than the
        cheapest place it fits now: a move that pays only once other lines move too is seen."""
        p, opts = self.problem, self.problem.opts
        span = slice(self.bounds[j], self.bounds[j + 1])
        item, cost, week = self.cols.item[span], self.cols.cost[span], self.cols.week[span]
        if len(item) == 0:
            return assignment, 0.0
        now = assignment[item]
        mine = opts.line[now] == j
        if prices is None:
            fallback = np.where(mine, self._elsewhere(assignment, j)[item] * p.qty[item], opts.cost[now] * p.qty[item])
        else:
            fallback = np.where(mine, prices[item], opts.cost[now] * p.qty[item])
        gain = fallback - cost
        useful = gain > EPS
        if not useful.any():
            return assignment, 0.0
        item, gain, week = item[useful], gain[useful], week[useful]
        columns = self.cols.option[span][useful]
        _, chosen = nested_knapsack(p.qty[item], gain, np.minimum(week, p.weeks - 1), p.cum_capacity[j])
        picked = np.flatnonzero(chosen)
        picked = picked[np.argsort(-gain[picked])]
        _, first = np.unique(item[picked], return_index=True)  # an item taken twice keeps its best week
        picked = picked[first]
        new = assignment.copy()
        leaving = np.flatnonzero(opts.line[assignment] == j)
        new[leaving] = self.beyond_of_class[opts.item_class[leaving]]
        new[item[picked]] = columns[picked]
        self._put_back(new, np.flatnonzero(opts.line[new[leaving]] < 0) if len(leaving) else leaving, leaving)
        saved = p.cost(assignment) - p.cost(new)
        return (new, saved) if saved > EPS * max(1.0, p.cost(assignment)) else (assignment, 0.0)

    def _elsewhere(self, assignment: np.ndarray, j: int) -> np.ndarray:
        """Unit cost of the cheapest option off line j that fits now, for the items on line j."""
        p, opts, cols = self.problem, self.problem.opts, self.by_item
        out = np.zeros(len(assignment))
        mine = np.flatnonzero(opts.line[assignment] == j)
        if len(mine) == 0:
            return out
        slack = p.residual(p.loads(assignment))
        room = np.minimum.accumulate(slack[:, ::-1], axis=1)[:, ::-1]  # the least slack from each week on
        lo, counts = self.first[mine], self.first[mine + 1] - self.first[mine]
        owner = np.repeat(np.arange(len(mine)), counts)
        index = np.repeat(lo - (np.cumsum(counts) - counts), counts) + np.arange(int(counts.sum()))
        line, week = cols.line[index], np.minimum(cols.week[index], p.weeks - 1)
        fits = (line != j) & ((line < 0) | (room[np.maximum(line, 0), week] >= p.qty[cols.item[index]] - EPS))
        hits = np.flatnonzero(fits)  # every item has 'beyond the horizon', off every line
        _, first = np.unique(owner[hits], return_index=True)
        out[mine] = opts.cost[cols.option[index[hits[first]]]]
        return out

    def _put_back(self, assignment: np.ndarray, which: np.ndarray, leaving: np.ndarray) -> None:
        """Items of the line left out go to their cheapest option that still fits, beyond if none."""
        if len(which) == 0:
            return
        p, opts = self.problem, self.problem.opts
        schedule = Schedule.of_slack(p.residual(p.loads(assignment)))
        for n in leaving[which]:
            for o in opts.for_class(int(opts.item_class[n])):
                if opts.cost[o] >= opts.cost[assignment[n]]:
                    break
                if schedule.fits(int(opts.line[o]), int(p.cap_week[o]), p.qty[n]):
                    schedule.place(int(opts.line[o]), int(p.cap_week[o]), p.qty[n])
                    assignment[n] = o
                    break

    def sweep(
        self, assignment: np.ndarray, deadline: float, prices: np.ndarray | None = None
    ) -> tuple[np.ndarray, int]:
        """Every line once, costliest first, until `deadline`: (assignment, lines improved)."""
        p, opts = self.problem, self.problem.opts
        weight = np.zeros(p.lines)
        line = opts.line[assignment]
        np.add.at(weight, line[line >= 0], (opts.cost[assignment] * p.qty)[line >= 0])
        improved = 0
        for j in np.argsort(-weight):
            if time.perf_counter() > deadline:
                break
            assignment, saved = self.line(assignment, int(j), prices)
            improved += saved > 0
        return assignment, improved

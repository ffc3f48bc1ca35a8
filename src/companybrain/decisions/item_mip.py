"""The order-level MIP over some items (HiGHS): one binary per (item, option) column, one row per
item (it takes exactly one column), and per line touched one cumulative capacity row per week
(what is made by the end of week t fits what the line can make by then, in whole units).

The planner solves it on windows of the network (the other items stay where they are and keep
their capacity), on the whole network when it is small, and as its LP relaxation. A start (the
incumbent's columns) is passed in so HiGHS begins from it; its dual bound is returned with the
solution."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np

from companybrain.decisions.columns import Columns


@dataclass
class MipResult:
    """A solve of the order-level MIP over some items."""

    chosen: np.ndarray | None  # per item of the solve, the index of its column in `cols` (None: no solution)
    objective: float
    dual_bound: float
    optimal: bool
    status: str


@contextmanager
def _no_banner() -> Iterator[None]:
    """Silence what native code writes to stdout meanwhile (HiGHS's banner, printed when an instance is
    built, before any option): stdout is for --format json, and the banner tells a user nothing."""
    sys.stdout.flush()
    saved = os.dup(1)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    try:
        yield
    finally:
        os.dup2(saved, 1)
        os.close(saved)
        os.close(devnull)


def highs() -> Any:
    import highspy  # a declared dependency, imported only when a plan is made

    return highspy


def new_solver(time_limit: float) -> Any:
    """A quiet HiGHS instance with a time limit (no banner, no log)."""
    with _no_banner():
        h = highs().Highs()
    h.setOptionValue("output_flag", False)
    h.setOptionValue("time_limit", max(float(time_limit), 0.01))
    return h


def solve_items(
    items: np.ndarray,
    qty: np.ndarray,
    cols: Columns,
    residual: np.ndarray,
    time_limit: float,
    start: np.ndarray | None = None,
    relax: bool = False,
    gap: float = 1e-6,
    node_limit: int | None = None,
    options: dict[str, Any] | None = None,
) -> MipResult:
    """Solve for `items` (each must have a column in `cols`, e.g. beyond the horizon) on the
    cumulative capacity `residual` (lines x weeks) the other items leave; `start`: a column index
    per item to begin from."""
    hs = highs()
    T = residual.shape[1]
    pos = np.full(int(items.max()) + 1 if len(items) else 0, -1, dtype=np.int64)
    pos[items] = np.arange(len(items))
    row_of_item = pos[cols.item]
    touched = np.unique(cols.line[cols.line >= 0])
    line_row = np.full(residual.shape[0], -1, dtype=np.int64)
    line_row[touched] = len(items) + T * np.arange(len(touched))
    uses = cols.line >= 0
    spans = np.where(uses, T - np.minimum(cols.week, T), 0)  # a column at week w is in rows w..T-1
    per_col = 1 + spans
    starts = np.zeros(len(cols) + 1, dtype=np.int64)
    starts[1:] = np.cumsum(per_col)
    index = np.empty(int(starts[-1]), dtype=np.int64)
    value = np.empty(len(index))
    index[starts[:-1]] = row_of_item
    value[starts[:-1]] = 1.0
    n_cap = int(spans.sum())
    if n_cap:
        owner = np.repeat(np.arange(len(cols)), spans)
        step = np.arange(n_cap) - np.repeat(np.cumsum(spans) - spans, spans)
        slot = np.repeat(starts[:-1] + 1, spans) + step
        index[slot] = line_row[cols.line[owner]] + cols.week[owner] + step
        value[slot] = qty[cols.item[owner]]
    lp = hs.HighsLp()
    lp.num_col_ = len(cols)
    lp.num_row_ = len(items) + T * len(touched)
    lp.col_cost_ = cols.cost.astype(float)
    lp.col_lower_ = np.zeros(len(cols))
    lp.col_upper_ = np.ones(len(cols))
    caps = np.maximum(residual[touched].reshape(-1), 0.0)
    lp.row_lower_ = np.concatenate([np.ones(len(items)), np.full(len(caps), -hs.kHighsInf)])
    lp.row_upper_ = np.concatenate([np.ones(len(items)), caps])
    lp.a_matrix_.format_ = hs.MatrixFormat.kColwise
    lp.a_matrix_.start_, lp.a_matrix_.index_, lp.a_matrix_.value_ = starts, index, value
    if not relax:
        lp.integrality_ = np.full(len(cols), hs.HighsVarType.kInteger)
    h = new_solver(time_limit)
    for key, val in (options or {}).items():
        h.setOptionValue(key, val)
    if not relax:
        h.setOptionValue("mip_rel_gap", gap)
        if node_limit is not None:
            h.setOptionValue("mip_max_nodes", node_limit)
    h.passModel(lp)
    if start is not None and not relax:
        sol = hs.HighsSolution()
        x = np.zeros(len(cols))
        x[start] = 1.0
        sol.col_value = x
        sol.value_valid = True
        h.setSolution(sol)
    h.run()
    status = h.getModelStatus()
    info = h.getInfo()
    has = info.primal_solution_status == 2  # kSolutionStatusFeasible
    chosen = None
    if has:
        x = np.asarray(h.getSolution().col_value)
        if relax:
            chosen = None
        else:
            picked = np.flatnonzero(x > 0.5)
            chosen = np.full(len(items), -1, dtype=np.int64)
            chosen[row_of_item[picked]] = picked
            if (chosen < 0).any():
                chosen = None
    optimal = status == hs.HighsModelStatus.kOptimal
    objective = float(info.objective_function_value) if has else float("inf")
    bound = objective if relax and optimal else float(info.mip_dual_bound) if not relax else -float("inf")
    return MipResult(chosen, objective, bound, optimal, h.modelStatusToString(status))

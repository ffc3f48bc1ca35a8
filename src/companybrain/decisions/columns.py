"""The order-level view of a replan: every (item, option) pair an item may take, and the capacity a
partial plan leaves per line and week.

`replan.Options` lists the choices of a *class* of interchangeable items; an item takes one of its
class's options, but only where it fits on its own: an item of 40 units cannot be made by week t on
a line whose cumulative capacity through t is 12, whatever the other items do. Dropping those pairs
is the per item / line / week bound the class-level LP cannot express. Item quantities are whole
units, so cumulative capacity is rounded down to whole units as well (a valid cut: no set of items
can fill a fraction of a unit)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from companybrain.decisions.network import Network
    from companybrain.decisions.replan import Options

EPS = 1e-6


def order_by_line(line: np.ndarray) -> np.ndarray:
    """The indices that sort `line` (line numbers, -1 beyond the horizon), stable. On 16-bit values numpy
    sorts by radix: 4x faster than on int64 over the 2M columns of 10,000 tight orders."""
    small = len(line) == 0 or int(line.max()) < np.iinfo(np.int16).max
    return np.argsort(line.astype(np.int16) if small else line, kind="stable")


@dataclass
class Columns:
    """Item x option pairs, grouped by item (cheapest first within an item)."""

    item: np.ndarray  # item index per column
    option: np.ndarray  # option index of `Options`
    cost: np.ndarray  # USD: the option's unit cost x the item's quantity
    line: np.ndarray  # -1: beyond the horizon (uses no capacity)
    week: np.ndarray  # the capacity week the column uses (T for beyond the horizon)

    def __len__(self) -> int:
        return len(self.item)

    def astuple(self) -> tuple[np.ndarray, ...]:
        return self.item, self.option, self.cost, self.line, self.week

    def subset(self, keep: np.ndarray) -> Columns:
        return Columns(self.item[keep], self.option[keep], self.cost[keep], self.line[keep], self.week[keep])


@dataclass
class Problem:
    """The order-level problem: quantities, classes' options, whole-unit cumulative capacity."""

    net: Network
    opts: Options
    qty: np.ndarray  # units per item
    cum_capacity: np.ndarray  # lines x weeks, whole units made by the end of each week
    cap_week: np.ndarray  # per option: the capacity week it uses (T for beyond the horizon)

    @classmethod
    def of(cls, net: Network, opts: Options) -> Problem:
        T = net.weeks
        qty = np.array([i.qty for i in net.items], dtype=float)
        cum = np.floor(np.cumsum(net.capacity, axis=1) + EPS)
        cap_week = np.where(opts.line >= 0, np.minimum(opts.week, T - 1), T)
        return cls(net, opts, qty, cum, cap_week)

    @property
    def items(self) -> np.ndarray:
        return np.arange(len(self.qty))

    @property
    def lines(self) -> int:
        return int(self.cum_capacity.shape[0])

    @property
    def weeks(self) -> int:
        return int(self.cum_capacity.shape[1])

    def columns(self, items: np.ndarray | None = None, per_item: int | None = None) -> Columns:
        """The pairs of `items` (default all) that fit on their own, cheapest first per item; with
        `per_item`, only the class's cheapest options (and always 'beyond the horizon', its last)."""
        opts = self.opts
        items = np.arange(len(self.qty)) if items is None else np.asarray(items, dtype=np.int64)
        k = opts.item_class[items]
        lo, hi = opts.starts[k], opts.starts[k + 1]
        counts = hi - lo
        if per_item is not None:
            counts = np.minimum(counts, per_item)
        item = np.repeat(items, counts)
        first = np.cumsum(counts) - counts
        option = np.arange(int(counts.sum())) - np.repeat(first - lo, counts)
        line, week = opts.line[option], self.cap_week[option]
        q = self.qty[item]
        fits = (line < 0) | (q <= self.cum_capacity[np.maximum(line, 0), np.minimum(week, self.weeks - 1)] + EPS)
        item, option, line, week, q = item[fits], option[fits], line[fits], week[fits], q[fits]
        cols = Columns(item, option, opts.cost[option] * q, line, week)
        if per_item is not None:  # the capacity-free option keeps every item placeable
            beyond = self.beyond_of_class[k]
            extra = Columns(
                items, beyond, opts.cost[beyond] * self.qty[items], opts.line[beyond], self.cap_week[beyond]
            )
            both = Columns(*(np.concatenate([a, b]) for a, b in zip(cols.astuple(), extra.astuple(), strict=True)))
            cols = both.subset(np.lexsort((both.option, both.cost, both.item)))
            keep = np.r_[True, (np.diff(cols.item) != 0) | (np.diff(cols.option) != 0)]
            cols = cols.subset(keep)
        return cols

    @property
    def beyond_of_class(self) -> np.ndarray:
        """The 'beyond the horizon' option of each class."""
        opts = self.opts
        beyond = np.flatnonzero(opts.line < 0)
        out = np.empty(len(opts.class_qty), dtype=np.int64)
        out[opts.cls[beyond]] = beyond
        return out

    def column_of(self, cols: Columns, assignment: np.ndarray) -> np.ndarray:
        """Per item with columns in `cols` (in item order), the index of the column `assignment` takes."""
        hit = np.flatnonzero(cols.option == assignment[cols.item])
        _, first = np.unique(cols.item[hit], return_index=True)
        return hit[first]

    def loads(self, assignment: np.ndarray, items: np.ndarray | None = None) -> np.ndarray:
        """Units per line and week placed by `assignment` (of `items`, default all)."""
        items = np.arange(len(self.qty)) if items is None else items
        o = assignment[items]
        used = self.opts.line[o] >= 0
        load = np.zeros_like(self.cum_capacity)
        np.add.at(load, (self.opts.line[o][used], self.cap_week[o][used]), self.qty[items][used])
        return load

    def residual(self, load: np.ndarray) -> np.ndarray:
        """Cumulative capacity left per line and week after `load` (units per line and week)."""
        return self.cum_capacity - np.cumsum(load, axis=1)

    def cost(self, assignment: np.ndarray) -> float:
        return float((self.opts.cost[assignment] * self.qty).sum())

    def feasible(self, assignment: np.ndarray) -> bool:
        ok_class = bool((self.opts.cls[assignment] == self.opts.item_class).all())
        return ok_class and bool((self.residual(self.loads(assignment)) >= -EPS).all())

"""What the company does today when a line goes down: each plant scrambles on its own.

Every plant keeps its own orders on its own lines in earliest-due-date order; at the disrupted
site the orders of the lost line are re-sequenced (highest tier first among equal due dates) into
whatever capacity is left on the site's lines that can make them. No transfers between sites;
what does not fit is late. `Schedule` (cumulative capacity per line) is shared with the planner."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Protocol

import numpy as np

from companybrain.decisions.network import Network

EPS = 1e-6


class Schedule:
    """Cumulative capacity per line: an item completing in week t uses capacity of weeks <= t,
    so it fits when every cumulative slack from week t on still covers its quantity."""

    def __init__(self, capacity: np.ndarray) -> None:
        self.slack = np.cumsum(capacity, axis=1)

    @classmethod
    def of_slack(cls, slack: np.ndarray) -> Schedule:
        """A schedule whose cumulative slack per line and week is `slack` (what a partial plan leaves)."""
        schedule = cls(np.zeros((slack.shape[0], 0)))
        schedule.slack = slack.copy()
        return schedule

    def fits(self, line: int, week: int, qty: float) -> bool:
        return line < 0 or week >= self.slack.shape[1] or bool(self.slack[line, week:].min() >= qty - EPS)

    def place(self, line: int, week: int, qty: float) -> None:
        if line >= 0 and week < self.slack.shape[1]:
            self.slack[line, week:] -= qty

    def remove(self, line: int, week: int, qty: float) -> None:
        self.place(line, week, -qty)


def cheapest_feasible(
    schedule: Schedule, options: Iterable[int], opt_line: np.ndarray, opt_week: np.ndarray, qty: float
) -> int:
    """The first option (callers pass them cheapest first) whose line and week still have room."""
    for o in options:
        if schedule.fits(int(opt_line[o]), int(opt_week[o]), qty):
            return o
    raise AssertionError("every item has a capacity-free 'beyond the horizon' option")


def local_scramble(network: Network, options: OptionsLike, capacity: np.ndarray | None = None) -> np.ndarray:
    """The baseline assignment (an option index per item) on `capacity` (default: after the disruption)."""
    schedule = Schedule(network.capacity if capacity is None else capacity)
    line_index = {ln.line_id: i for i, ln in enumerate(network.lines)}
    weights = [network.cost.tier_weight(i.tier) for i in network.items]
    order = sorted(range(len(network.items)), key=lambda i: (network.items[i].due, -weights[i], i))
    chosen = np.full(len(network.items), -1, dtype=np.int64)
    ranked_by_class: dict[int, list[int]] = {}  # a class has one home line: its items rank options alike
    for i in order:
        item = network.items[i]
        k = int(options.item_class[i])
        ranked = ranked_by_class.get(k)
        if ranked is None:
            home = line_index[item.line_id]
            allowed = {home}
            if capacity is None and item.line_id in network.disrupted_lines:
                allowed |= {j for j, ln in enumerate(network.lines) if ln.site_id == item.site_id}
            # the home line first among equal costs: a plant moves work to another line only to gain
            ranked = ranked_by_class[k] = sorted(
                (o for o in options.for_class(k) if int(options.line[o]) in allowed or options.line[o] < 0),
                key=lambda o: (options.cost[o], options.line[o] != home, options.week[o]),
            )
        o = cheapest_feasible(schedule, ranked, options.line, options.week, item.qty)
        schedule.place(int(options.line[o]), int(options.week[o]), item.qty)
        chosen[i] = o
    return chosen


class OptionsLike(Protocol):
    """The part of `replan.Options` the baseline needs (declared here so the modules stay acyclic)."""

    item_class: np.ndarray
    line: np.ndarray
    week: np.ndarray
    cost: np.ndarray

    def for_class(self, k: int) -> Sequence[int]: ...

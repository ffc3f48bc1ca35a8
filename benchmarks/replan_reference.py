"""Reference optima of the replan benchmark, computed once and kept in benchmarks/replan_reference.json.

Each instance (family x orders x seed, `FAMILIES` below) is solved as the exact order-level MILP
(one binary per order part x option, `decisions/item_mip.py`) with HiGHS and a long
time limit, started from the planner's plan. An entry records the best solution found, HiGHS's dual
bound and whether optimality was proven. Instances too large for the exact MILP (`--milp-max-columns`)
get the planner's best plan with a long time limit instead (`method: planner`), with its proven bound.

Kept today: both families at 50-1,000 orders x seeds 1-5 (MILP, 150 s, 300 s for tight/1000/1) and
3,000-10,000 orders x seeds 1-7 (planner, 40 s); tight 50-1,000 x seeds 6-7, held out from the
planner's development (MILP, 150 s).

Usage: python benchmarks/replan_reference.py [--families tight loose] [--sizes 50 100 300 1000]
       [--seeds 1 2 3 4 5] [--time-limit 180] [--planner-time-limit 120]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from companybrain.decisions.network import Network, synthetic_network

HERE = Path(__file__).parent
REFERENCE = HERE / "replan_reference.json"
# today's synthetic network (lots up to 40 units, lines sized to 75% of their load: at 50 orders a line
# makes ~4 units a week) and a loose one like the demo's (20% loaded, >= 160 units a week per line)
FAMILIES: dict[str, dict[str, Any]] = {"tight": {}, "loose": {"utilisation": 0.2, "min_capacity": 160.0}}


def instance(family: str, orders: int, seed: int) -> Network:
    """The benchmark's network of a family, size and seed."""
    return synthetic_network(orders, seed=seed, **FAMILIES[family])


def load_reference() -> dict[str, dict[str, Any]]:
    """The kept reference entries by key `family/orders/seed`."""
    if not REFERENCE.is_file():
        return {}
    return {f"{e['family']}/{e['orders']}/{e['seed']}": e for e in json.loads(REFERENCE.read_text())["instances"]}


def _save(entries: dict[str, dict[str, Any]]) -> None:
    rows = sorted(entries.values(), key=lambda e: (e["family"], e["orders"], e["seed"]))
    REFERENCE.write_text(json.dumps({"generated_by": "benchmarks/replan_reference.py", "instances": rows}, indent=1))


def solve_reference(family: str, orders: int, seed: int, args: argparse.Namespace) -> dict[str, Any]:
    """The exact MILP (or, too large for it, the planner with a long limit) on one instance."""
    from companybrain.decisions.columns import Problem
    from companybrain.decisions.item_mip import solve_items
    from companybrain.decisions.planner import optimise
    from companybrain.decisions.replan import build_options

    net = instance(family, orders, seed)
    opts = build_options(net)
    problem = Problem.of(net, opts)
    started = time.perf_counter()
    planned = optimise(net, opts, time_limit=args.planner_time_limit if orders > args.milp_max_orders else 10.0)
    entry: dict[str, Any] = {"family": family, "orders": orders, "seed": seed, "items": len(net.items)}
    if orders > args.milp_max_orders:
        entry.update(
            method="planner",
            objective=planned.cost,
            dual_bound=planned.bound,
            bound_kind=planned.bound_kind,
            optimal=planned.cost - planned.bound <= 1e-6 * max(1.0, planned.cost),
            seconds=round(time.perf_counter() - started, 1),
            time_limit=args.planner_time_limit,
        )
        return entry
    cols = problem.columns()
    items = problem.items
    start = problem.column_of(cols, planned.assignment)
    result = solve_items(items, problem.qty, cols, problem.cum_capacity, args.time_limit, start=start, gap=1e-7)
    best = min(result.objective, planned.cost)
    entry.update(
        method="milp",
        objective=best,
        dual_bound=max(min(result.dual_bound, best), planned.bound),
        optimal=result.optimal or best - result.dual_bound <= 1e-7 * max(1.0, best),
        status=result.status,
        columns=len(cols),
        seconds=round(time.perf_counter() - started, 1),
        time_limit=args.time_limit,
    )
    return entry


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--families", nargs="+", default=list(FAMILIES), choices=list(FAMILIES))
    parser.add_argument("--sizes", type=int, nargs="+", default=[50, 100, 300, 1000])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3, 4, 5])
    parser.add_argument("--time-limit", type=float, default=180.0, help="seconds of the exact MILP per instance")
    parser.add_argument("--planner-time-limit", type=float, default=120.0, help="seconds of the planner beyond it")
    parser.add_argument("--milp-max-orders", type=int, default=1000, help="larger instances use the planner")
    parser.add_argument("--redo", action="store_true", help="solve again instances already in the file")
    args = parser.parse_args()
    entries = load_reference()
    for family in args.families:
        for orders in args.sizes:
            for seed in args.seeds:
                key = f"{family}/{orders}/{seed}"
                if key in entries and not args.redo:
                    continue
                entries[key] = solve_reference(family, orders, seed, args)
                e = entries[key]
                print(
                    f"{key}: {e['method']} {e['objective']:,.2f} bound {e['dual_bound']:,.2f} "
                    f"{'optimal' if e['optimal'] else 'best known'} in {e['seconds']} s",
                    flush=True,
                )
                _save(entries)


if __name__ == "__main__":
    main()

"""Network replanning (decisions/planner.py) at every size, against the best known solutions.

Families (benchmarks/replan_reference.py): `tight`, today's synthetic network (8 sites x 6 lines,
10 families, 1-3 order parts of 1-40 units per order, lines sized to 75% of their load: at 50 orders
a line makes ~4 units a week), and `loose`, like the demo's (lines 20% loaded and >= 160 units a
week). Per family and size, over the seeds, the median and worst of:

- `vs best`: plan cost against the best known solution (benchmarks/replan_reference.json: the exact
  MILP with a long limit, proven optimal or best known with its dual bound; where an instance has no
  reference, or this run's plan is cheaper, the plan itself is the best known: see `ref`);
- `gap`: the proven gap the planner reports, and which bound it is (LP, Lagrangian, MIP dual);
- `solve`: the planner's seconds, next to the class LP's alone (`lp`) measured in the same run.

A first plan, not counted, loads what a process loads once (numba's compiled knapsack DP: 0.4 s on
an idle machine, more under load), as a served brain has. Then the plan against the local scramble
(revenue at risk, weighted lateness) and the medium demo's Milwaukee L3 down 10 days from 2026-03-02
when `--project` is given.

Targets: within 2% of the best known at every size, 1% from 1k orders; proven gap <= 5% at 50-300
orders, <= 2% from 1k; solve <= 2 s at 1k, <= 5 s at 10k, <= 30 s at 50k.

The planner is cut by wall time, so on a shared machine its figures follow the load. To compare two
versions, `--against REV` runs the planner as it was at git revision REV (its `src/companybrain`,
from `git archive`) beside this tree's, each in its own warm process (imports and compiled code
loaded once), instance by instance in turn, so that both see the same load; `vs best` is then
against the best of the reference and both plans.

Usage: python benchmarks/bench_replan.py [--families tight loose] [--sizes 50 100 300 1000 3000 10000 50000]
       [--seeds 1 2 3 4 5] [--time-limit SECONDS] [--project PATH_TO_DEMO] [--against REV]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from datetime import date
from pathlib import Path
from typing import IO, Any

from replan_reference import FAMILIES, instance, load_reference

from companybrain.decisions.replan import build_options, plan_network, solve_lp

SHORT = {"LP relaxation": "LP", "Lagrangian relaxation by line": "Lagr", "MIP dual bound": "MIP"}


def run_one(family: str, orders: int, seed: int, time_limit: float | None, refs: dict[str, Any]) -> dict[str, Any]:
    """One instance: the plan, its gap and time, the LP's time, the comparison with the reference."""
    net = instance(family, orders, seed)
    opts = build_options(net)
    started = time.perf_counter()
    solve_lp(net, opts)
    lp_seconds = time.perf_counter() - started
    plan = plan_network(net, time_limit)
    ref = refs.get(f"{family}/{orders}/{seed}")
    best = min(plan.cost, ref["objective"]) if ref else plan.cost
    base, new = plan.kpis["baseline"], plan.kpis["plan"]
    return {
        "vs_best": (plan.cost - best) / best if best > 1e-9 else 0.0,
        "below_reference": bool(ref and plan.cost < ref["objective"] - 1e-6),
        "ref": "opt" if ref and ref["optimal"] else "bk" if ref else "none",
        "gap": plan.gap,
        "kind": SHORT.get(plan.bound_kind, plan.bound_kind),
        "solve": plan.solve_seconds,
        "lp": lp_seconds,
        "beats_scramble": new["revenue_at_risk"] <= base["revenue_at_risk"]
        and new["weighted_lateness_days"] <= base["weighted_lateness_days"],
        "risk": (base["revenue_at_risk"], new["revenue_at_risk"]),
        "lateness": (base["weighted_lateness_days"], new["weighted_lateness_days"]),
    }


def _pct(values: list[float]) -> str:
    return f"{statistics.median(values):.2%} / {max(values):.2%}"


def _secs(values: list[float]) -> str:
    return f"{statistics.median(values):.2f} / {max(values):.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--families", nargs="+", default=list(FAMILIES), choices=list(FAMILIES))
    parser.add_argument("--sizes", type=int, nargs="+", default=[50, 100, 300, 1000, 3000, 10000, 50000])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3, 4, 5])
    parser.add_argument("--time-limit", type=float, default=None, help="planner seconds (default: by size)")
    parser.add_argument("--project", default=None, help="a medium demo project: also its Milwaukee L3 line-down")
    parser.add_argument("--against", default=None, metavar="REV", help="also the planner at git revision REV, in turn")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)  # one side of --against
    args = parser.parse_args()
    if args.worker:
        return serve_plans(sys.stdin, sys.stdout)
    if args.against:
        return compare_with(checked_revision(args.against), args)
    refs = load_reference()
    cores = os.cpu_count() or 1
    print(f"load average at start: {os.getloadavg()[0]:.1f} ({cores} cores; solve times are wall seconds)")
    started = time.perf_counter()
    plan_network(instance("tight", 50, 1), args.time_limit)
    print(f"first plan in this process (tight 50 orders, seed 1, not counted): {time.perf_counter() - started:.2f} s")
    print(
        f"{'family':<6} {'orders':>6}  {'vs best (median / worst)':>24}  {'ref':>9}"
        f"  {'proven gap (median / worst)':>27}  {'bound':>12}"
        f"  {'solve s (median / worst)':>24}  {'lp s':>5}  beats scramble"
    )
    for family in args.families:
        for orders in args.sizes:
            rows = [run_one(family, orders, seed, args.time_limit, refs) for seed in args.seeds]
            kinds = ",".join(sorted({r["kind"] for r in rows}))
            refs_used = ",".join(sorted({r["ref"] for r in rows}))
            beats = sum(r["beats_scramble"] for r in rows)
            below = sum(r["below_reference"] for r in rows)
            print(
                f"{family:<6} {orders:>6}  {_pct([r['vs_best'] for r in rows]):>24}  {refs_used:>9}"
                f"  {_pct([r['gap'] for r in rows]):>27}  {kinds:>12}  {_secs([r['solve'] for r in rows]):>24}"
                f"  {statistics.median(r['lp'] for r in rows):>5.2f}  {beats}/{len(rows)}"
                + (f"  ({below} plan(s) below the reference)" if below else ""),
                flush=True,
            )
            if orders == 10000 and family == "tight":
                r = rows[0]
                print(
                    f"    seed {args.seeds[0]}: revenue at risk {r['risk'][0]:,.0f} -> {r['risk'][1]:,.0f}, "
                    f"weighted lateness {r['lateness'][0]:,.0f} -> {r['lateness'][1]:,.0f} days (scramble -> plan)"
                )
    print(f"load average at the end: {os.getloadavg()[0]:.1f}")
    if args.project:
        demo_line_down(args.project, args.time_limit)


def demo_line_down(project: str, time_limit: float | None) -> None:
    """The demo's headline: Milwaukee L3 down 10 days from 2026-03-02, as the CLI plans it."""
    from companybrain import Brain
    from companybrain.decisions.network import Disruption, load_network

    disruption = Disruption(site="Milwaukee", line="L3", capacity=0.0, start=date(2026, 3, 2), days=10)
    brain = Brain.open(project)
    try:
        net = load_network(brain, disruption)
        opts = build_options(net)
        started = time.perf_counter()
        solve_lp(net, opts)
        lp_seconds = time.perf_counter() - started
        plan = plan_network(net, time_limit)
    finally:
        brain.close()
    base, new = plan.kpis["baseline"], plan.kpis["plan"]
    print(
        f"demo Milwaukee L3 down 10 days: {plan.items:,} order parts, plan {plan.cost:,.0f}, proven gap "
        f"{plan.gap:.4%} ({plan.bound_kind}), solve {plan.solve_seconds:.2f} s (LP alone {lp_seconds:.2f} s); "
        f"revenue at risk {base['revenue_at_risk']:,.0f} -> {new['revenue_at_risk']:,.0f}, weighted lateness "
        f"{base['weighted_lateness_days']:,.0f} -> {new['weighted_lateness_days']:,.0f} days"
    )


REVISION = re.compile(r"[0-9A-Za-z][0-9A-Za-z._/~^@{}-]{0,99}")
ROOT = Path(__file__).resolve().parent.parent


def checked_revision(rev: str) -> str:
    """A git revision named on the command line, as the commit it names; anything else is refused."""
    if not REVISION.fullmatch(rev):
        raise SystemExit(f"--against {rev!r}: not a git revision (a commit, a tag or a branch, e.g. --against HEAD~3)")
    found = subprocess.run(
        ["git", "rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}"], cwd=ROOT, capture_output=True, text=True
    )
    if found.returncode != 0:
        raise SystemExit(f"--against {rev!r}: no such commit here (see `git log --oneline`)")
    return found.stdout.strip()


def serve_plans(requests: IO[str], answers: IO[str]) -> None:
    """One side of --against: for each line 'family orders seed time_limit', the plan's cost, gap and time."""
    import companybrain

    answers.write(json.dumps({"source": str(Path(companybrain.__file__).parent)}) + "\n")
    answers.flush()
    for line in requests:
        family, orders, seed, limit = line.split()
        plan = plan_network(instance(family, int(orders), int(seed)), None if limit == "-" else float(limit))
        answers.write(json.dumps({"cost": plan.cost, "gap": plan.gap, "solve": plan.solve_seconds}) + "\n")
        answers.flush()


class _Planner:
    """A warm planner process on a source tree (its `src` first on the path)."""

    def __init__(self, src: Path) -> None:
        env = dict(os.environ, PYTHONPATH=str(src))
        self.process = subprocess.Popen(
            [sys.executable, __file__, "--worker"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env
        )
        self.source = self._read()["source"]

    def _read(self) -> dict[str, Any]:
        assert self.process.stdout is not None
        return dict(json.loads(self.process.stdout.readline()))

    def plan(self, family: str, orders: int, seed: int, limit: float | None) -> dict[str, Any]:
        assert self.process.stdin is not None
        self.process.stdin.write(f"{family} {orders} {seed} {'-' if limit is None else limit}\n")
        self.process.stdin.flush()
        return self._read()

    def close(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        self.process.wait()


def compare_with(commit: str, args: argparse.Namespace) -> None:
    """The planner at `commit` and this tree's, per instance in turn (alternating which goes first)."""
    refs = load_reference()
    with tempfile.TemporaryDirectory() as tmp:
        archive = Path(tmp) / "src.tar"
        subprocess.run(["git", "archive", "-o", str(archive), commit, "src/companybrain"], cwd=ROOT, check=True)
        with tarfile.open(archive) as tar:
            tar.extractall(tmp, filter="data")
        sides = {commit[:7]: _Planner(Path(tmp) / "src"), "now": _Planner(ROOT / "src")}
        for name, side in sides.items():
            print(f"{name}: {side.source}")
            side.plan("tight", 50, 1, args.time_limit)  # warm: imports, compiled code
        print(f"load average at start: {os.getloadavg()[0]:.1f} ({os.cpu_count() or 1} cores)")
        for family in args.families:
            for orders in args.sizes:
                rows: dict[str, list[dict[str, Any]]] = {name: [] for name in sides}
                for seed in args.seeds:
                    names = list(sides) if seed % 2 else list(sides)[::-1]
                    got = {name: sides[name].plan(family, orders, seed, args.time_limit) for name in names}
                    ref = refs.get(f"{family}/{orders}/{seed}")
                    best = min([g["cost"] for g in got.values()] + ([ref["objective"]] if ref else []))
                    for name, g in got.items():
                        rows[name].append(dict(g, vs_best=(g["cost"] - best) / best if best > 1e-9 else 0.0))
                for name, r in rows.items():
                    print(
                        f"{family:<6} {orders:>6} {name:>8}  vs best {_pct([x['vs_best'] for x in r])}"
                        f"  gap {_pct([x['gap'] for x in r])}  solve {_secs([x['solve'] for x in r])} s",
                        flush=True,
                    )
        print(f"load average at the end: {os.getloadavg()[0]:.1f}")
        for side in sides.values():
            side.close()


if __name__ == "__main__":
    main()

"""What-if scenario target (decisions/scenarios): a scenario on the medium demo (~2M order lines)
rebuilds its overlays and diffs its KPIs against the baseline in <= 10 s.

Runs every scenario of the demo (scenarios/*.yaml); the price scenario also estimates the
elasticity from the whole order history. Each run also carries the scenario forward: the forecast
refit on the series it changes, and the 13-week network plan (baseline and scenario); their
seconds are shown apart, with what each section did. Two passes: cold (a fresh Brain per scenario,
as `brain scenario run` has; the process's imports are warm after the first) and warm (one Brain,
as the service keeps it: the baseline's network, plan and forecasts are computed once). Uses an
existing built demo (`make demo` writes demo/acme) or generates, ingests and builds one in a
temporary folder; the forecast is refit only where the demand_forecast use case has a champion
(`brain demo` trains it; `brain factory train demand_forecast` otherwise).
Usage: python benchmarks/bench_scenario.py [--project demo/acme] [--scale medium]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from companybrain import Brain
from companybrain.decisions.scenarios import run_scenario
from companybrain.demo.generate import generate_demo

TARGET_SECONDS = 10.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--project", type=Path, default=Path("demo/acme"))
    parser.add_argument("--scale", default="medium")
    args = parser.parse_args()
    root = args.project
    if not (root / "brain.yaml").is_file() or not (root / "scenarios").is_dir():
        root = Path(tempfile.mkdtemp(prefix="bench_scenario_")) / "acme"
        started = time.perf_counter()
        generate_demo(root, scale=args.scale, seed=7)
        with Brain.open(root) as brain:
            brain.ingest()
            brain.build()
        print(f"generated, ingested and built the {args.scale} demo in {root} [{time.perf_counter() - started:.0f} s]")
    with Brain.open(root) as brain:
        lines = brain.count_objects("OrderLine")
        names = sorted(brain.project.scenarios)
    target = f"<= {TARGET_SECONDS:.0f} s"
    # cold: a fresh Brain per scenario, as `brain scenario run` has; warm: one Brain for all, as the
    # service keeps it - the baseline's network, plan and forecasts are then computed once
    for mode in ("cold", "warm"):
        print(f"\n{mode}: {'a fresh Brain per scenario' if mode == 'cold' else 'one Brain, baseline kept'}")
        header = f"{'scenario':<20} {'overlay rows':>12} {'overlays s':>10} {'kpis s':>8} {'forecast s':>10}"
        print(f"{header} {'plan s':>8} {'total s':>8}  forecast / plan")
        worst = worst_kpis = 0.0
        shared = Brain.open(root) if mode == "warm" else None
        for name in names:
            brain = shared or Brain.open(root)
            started = time.perf_counter()
            run = run_scenario(brain, name)
            total = time.perf_counter() - started
            if shared is None:
                brain.close()
            worst = max(worst, total)
            worst_kpis = max(worst_kpis, run.seconds["overlays"] + run.seconds["kpis"])
            rows = sum(run.overlays.values())
            s = run.seconds
            print(
                f"{name:<20} {rows:>12,} {s['overlays']:>10.2f} {s['kpis']:>8.2f} {s['forecast']:>10.2f} "
                f"{s['plan']:>8.2f} {total:>8.2f}  {run.forecast['status']} / {run.plan['status']}"
            )
        if shared is not None:
            shared.close()
        for what, seconds in (("overlays and KPIs", worst_kpis), ("the whole run, forecast and plan included", worst)):
            verdict = "MET" if seconds <= TARGET_SECONDS else "MISSED"
            print(f"target ({mode}): {what} on {lines:,} order lines in {target} -> slowest {seconds:.2f} s {verdict}")


if __name__ == "__main__":
    main()

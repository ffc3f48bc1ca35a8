"""What-if scenario target (decisions/scenarios): a scenario on the medium demo (~2M order lines)
rebuilds its overlays and diffs its KPIs against the baseline in <= 10 s.

Runs every scenario of the demo (scenarios/*.yaml); the price scenario also estimates the
elasticity from the whole order history. Uses an existing built demo (`make demo` writes
demo/acme) or generates, ingests and builds one in a temporary folder.
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
        print(f"{'scenario':<20} {'overlay rows':>12} {'overlays s':>10} {'kpis s':>8} {'total s':>8}")
        worst = 0.0
        for name in sorted(brain.project.scenarios):
            started = time.perf_counter()
            run = run_scenario(brain, name)
            total = time.perf_counter() - started
            worst = max(worst, total)
            rows = sum(run.overlays.values())
            print(f"{name:<20} {rows:>12,} {run.seconds['overlays']:>10.2f} {run.seconds['kpis']:>8.2f} {total:>8.2f}")
        verdict = "MET" if worst <= TARGET_SECONDS else "MISSED"
        target = f"<= {TARGET_SECONDS:.0f} s"
        print(f"target: a scenario on {lines:,} order lines in {target} -> slowest {worst:.2f} s {verdict}")


if __name__ == "__main__":
    main()

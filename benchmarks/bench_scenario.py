"""What-if scenario target (decisions/scenarios): a scenario on the medium demo (~2M order lines)
runs in <= 10 s, its overlays and KPI diff, the forecast refit on the series it changes and the
13-week network plan (baseline and scenario) included.

Runs every scenario of the demo (scenarios/*.yaml), with each section's seconds and what it did.
Passes, slowest scenario against the target:
- first after a build: a fresh Brain per scenario (as `brain scenario run` has) with nothing kept
  from an earlier run (.brain/derived/ emptied): the elasticity is estimated from the whole order
  history and the baseline's plan solved, as the first run after every build does;
- cold: the same, with what the first pass kept for this build (elasticity, baseline plan);
- warm: one Brain for all, as the service keeps it;
- process: `brain scenario run NAME` as a new process (imports included), for the two slowest, timed
  once after a build (nothing kept) and once with what it kept.
Uses an existing built demo (`make demo` writes demo/acme) or generates, ingests and builds one in a
temporary folder; the forecast is refit only where the demand_forecast use case has a champion
(`brain demo` trains it; `brain factory train demand_forecast` otherwise).
Usage: python benchmarks/bench_scenario.py [--project demo/acme] [--scale medium]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from companybrain import Brain
from companybrain.decisions.scenarios import run_scenario
from companybrain.demo.generate import generate_demo
from companybrain.derived import FOLDER

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
    kept = root / FOLDER
    slowest: dict[str, float] = {}
    passes = {
        "first after a build": "a fresh Brain per scenario, nothing kept (.brain/derived/ emptied)",
        "cold": "a fresh Brain per scenario, with what the first pass kept for this build",
        "warm": "one Brain, baseline kept in memory",
    }
    for mode, what in passes.items():
        print(f"\n{mode}: {what}")
        header = f"{'scenario':<20} {'overlay rows':>12} {'overlays s':>10} {'kpis s':>8} {'forecast s':>10}"
        print(f"{header} {'plan s':>8} {'total s':>8}  forecast / plan")
        worst = worst_kpis = 0.0
        if mode == "first after a build":
            shutil.rmtree(kept, ignore_errors=True)
        shared = Brain.open(root) if mode == "warm" else None
        for name in names:
            brain = shared or Brain.open(root)
            started = time.perf_counter()
            run = run_scenario(brain, name)
            total = time.perf_counter() - started
            if shared is None:
                brain.close()
            worst = max(worst, total)
            slowest[name] = max(slowest.get(name, 0.0), total)
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
    brain_cli = shutil.which("brain") or str(Path(sys.executable).parent / "brain")
    print(f"\nprocess: `brain scenario run NAME` as a new process ({brain_cli}), imports and project load included")
    for name in sorted(slowest, key=slowest.__getitem__, reverse=True)[:2]:
        for label in ("after a build, nothing kept", "with what it kept"):
            if label.startswith("after"):
                shutil.rmtree(kept, ignore_errors=True)
            started = time.perf_counter()
            done = subprocess.run(
                [brain_cli, "-p", str(root), "scenario", "run", name, "--format", "json"], capture_output=True
            )
            seconds = time.perf_counter() - started
            if done.returncode:
                raise SystemExit(f"brain scenario run {name} failed:\n{done.stderr.decode()}")
            verdict = "MET" if seconds <= TARGET_SECONDS else "MISSED"
            print(f"target (process, {label}): {name} in {target} -> {seconds:.2f} s {verdict}")


if __name__ == "__main__":
    main()

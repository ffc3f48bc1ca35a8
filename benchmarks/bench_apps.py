"""Apps (issue 19): how long an app's page takes to read, per app and viewer, on a trained demo.

What an app page reads is its worklist (the governed object read of the rows, the counts of its threshold
tiles) and its charts (governed metric queries): `companybrain.apps.worklist`, in-process, as each
viewer. Reported per app and viewer: rows the viewer sees, the median and the slowest of the repeats,
against the cockpit's page target (a page fully rendered in < 2 s on the medium demo, bench_cockpit.py).

Usage: python benchmarks/bench_apps.py [--project demo/acme] [--repeats 5]
(without --project: generates the small demo in a temporary folder, ingests, builds, trains and scores it).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

TARGET_SECONDS = 2.0
VIEWERS = ("ceo", "mke_plant_manager", "planner", "emea_hrbp", "emea_rep")


def small_demo(folder: Path) -> Path:
    from companybrain import Brain, factory
    from companybrain.demo.generate import generate_demo

    root = folder / "acme"
    generate_demo(root, scale="small", seed=7)
    with Brain.open(root) as brain:
        brain.ingest()
        brain.build()
        factory.train(brain)
        factory.score(brain)
    return root


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--project", type=Path, help="A trained demo project (default: a fresh small demo).")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    from companybrain import Brain
    from companybrain.apps import worklist as wl

    with tempfile.TemporaryDirectory() as tmp:
        root = args.project or small_demo(Path(tmp))
        with Brain.open(root) as brain:
            print(f"{'app':<22} {'viewer':<18} {'rows':>6} {'p50 s':>7} {'max s':>7}  target < {TARGET_SECONDS:.1f} s")
            worst = 0.0
            for app in brain.project.apps.values():
                for user in VIEWERS:
                    principal = brain.principal(user)
                    if wl.refusal(brain, app, principal) is not None:
                        continue
                    asked = wl.parse_asked(brain.project, app, principal)
                    times = []
                    for _ in range(args.repeats):
                        started = time.perf_counter()
                        found = wl.worklist(brain, app, principal, asked)
                        wl.charts(brain, app, principal, asked)
                        times.append(time.perf_counter() - started)
                    worst = max(worst, max(times))
                    print(f"{app.name:<22} {user:<18} {found['matching']:>6} "
                          f"{statistics.median(times):>7.3f} {max(times):>7.3f}")  # fmt: skip
            verdict = "met" if worst < TARGET_SECONDS else "NOT met"
            print(f"slowest app read: {worst:.3f} s against the page target {TARGET_SECONDS:.1f} s: {verdict}")


if __name__ == "__main__":
    main()

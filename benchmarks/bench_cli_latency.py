"""CLI latency targets (issue 14): how long a person waits for `brain` in a terminal.

- `brain --help` as a new process: p50 < 0.5 s (importing the CLI must not import the engine);
- `brain ask "<question>"` as a new process on the medium demo: p50 <= 1 s over 10 questions;
- `Copilot.ask` in a warm process (the service, the cockpit): p50 <= 100 ms over the same questions.

Each figure is wall-clock time (what the person waits), with the CPU time of the process beside it: on a
machine shared with other work the wall time grows with the load average (printed with the results), the
CPU time much less. The first `brain ask` after a build, a project change or a new version of the package
fills the caches in `.brain/` (the validated project, the copilot's words); it is shown apart, not counted.
Python's own bytecode cache is on for the commands timed, as after `pip install` (which compiles the
package): with PYTHONDONTWRITEBYTECODE set, as on some CI machines, every process compiles the whole
package again (about 0.5 s of CPU on each command); the bench unsets it and says so.

Usage: python benchmarks/bench_cli_latency.py [--project /tmp/latency_demo] [--copy-from DIR] [--rounds 3]
(the project is written to: audit records, caches; with --copy-from a missing project folder is copied
from DIR first, else the medium demo is generated, ingested and built there).
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

TARGETS = {"help": 0.5, "ask": 1.0, "warm": 0.1}  # seconds, p50
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}  # bytecode cached, as installed
QUESTIONS = [
    "revenue by region last quarter",
    "sales by plant",
    "gross margin % by customer tier",
    "COGS by month in 2025",
    "how many open tickets by priority",
    "capacity utilization by site",
    "scrap rate per site in Q4 2025",
    "attrition rate by month in 2025",
    "order book by segment",
    "cost to serve by customer tier",
]


def brain_command() -> list[str]:
    """The `brain` of this interpreter's environment (its console script, else `python -m`)."""
    script = Path(sys.executable).parent / "brain"
    return [str(script)] if script.exists() else [sys.executable, "-m", "companybrain.cli.main"]


def timed(args: list[str]) -> tuple[float, float]:
    """Run one `brain ...` as a new process; its wall time and CPU time (user + system), in seconds."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run([*brain_command(), *args], capture_output=True, text=True, check=False, env=ENV)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"`brain {' '.join(args)}` exited {done.returncode}:\n{done.stdout}{done.stderr}")
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def prepare(root: Path, copy_from: Path | None) -> None:
    if (root / "brain.yaml").exists():
        return
    if copy_from is not None:
        print(f"copying {copy_from} to {root} ...")
        shutil.copytree(copy_from, root, symlinks=True)
        return
    from companybrain import Brain
    from companybrain.demo.generate import generate_demo

    print(f"generating the medium demo in {root} ...")
    generate_demo(root, scale="medium", seed=7)
    with Brain.open(root) as brain:
        brain.ingest()
        brain.build()


def warm_asks(root: Path, rounds: int) -> list[float]:
    """Seconds per Copilot.ask in one process that has answered every question once already."""
    from companybrain import Brain
    from companybrain.copilot import Copilot

    with Brain.open(root) as brain:
        copilot = Copilot(brain)
        for question in QUESTIONS:
            copilot.ask(question)
        times = []
        for _ in range(rounds):
            for question in QUESTIONS:
                started = time.perf_counter()
                copilot.ask(question)
                times.append(time.perf_counter() - started)
    return times


def line(name: str, walls: list[float], cpus: list[float] | None, target: float | None) -> str:
    p50 = statistics.median(walls)
    verdict = "" if target is None else f"target p50 <= {target:g} s  {'ok' if p50 <= target else 'MISSED'}"
    cpu = f"  cpu p50 {statistics.median(cpus):6.3f} s" if cpus else " " * 19
    return f"  {name:<34} n={len(walls):<3} p50 {p50:6.3f} s  worst {max(walls):6.3f} s{cpu}   {verdict}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--project", default="/tmp/latency_demo", type=Path)
    parser.add_argument("--copy-from", type=Path, default=None, help="copy a built demo from here if missing")
    parser.add_argument("--rounds", type=int, default=3, help="times each question is asked (new processes)")
    args = parser.parse_args()
    root = args.project.resolve()
    prepare(root, args.copy_from)
    print(f"{os.cpu_count()} cores; load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    if "PYTHONDONTWRITEBYTECODE" in os.environ:
        print("PYTHONDONTWRITEBYTECODE is set here: unset for the commands timed (bytecode cached, as installed)")

    help_runs = [timed(["--help"]) for _ in range(10)]
    first = timed(["-p", str(root), "ask", QUESTIONS[0]])  # fills the caches if anything changed
    ask_runs = [timed(["-p", str(root), "ask", q]) for _ in range(args.rounds) for q in QUESTIONS]
    warm = warm_asks(root, args.rounds)

    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(line("brain --help (new process)", [w for w, _ in help_runs], [c for _, c in help_runs], TARGETS["help"]))
    print(f"  first brain ask (caches filled)    wall {first[0]:.3f} s  cpu {first[1]:.3f} s")
    print(line("brain ask (new process)", [w for w, _ in ask_runs], [c for _, c in ask_runs], TARGETS["ask"]))
    for i, question in enumerate(QUESTIONS):
        runs = ask_runs[i :: len(QUESTIONS)]
        print(line(f"  {question[:30]}", [w for w, _ in runs], [c for _, c in runs], None))
    print(line("Copilot.ask (warm process)", warm, None, TARGETS["warm"]))


if __name__ == "__main__":
    main()

"""Copilot targets (embedded engine, "Ask the brain"), on the medium demo's shipped golden set:

- >= 95% exact answers on answerable questions (the table equals the expected plan's, run through
  Brain.query as the same user);
- >= 98% correct abstention (clarify or refuse) on questions that must not be answered;
- <= 1% confidently wrong answers;
- p50 latency < 300 ms per question (parse, validate, run).

Usage: python benchmarks/bench_copilot.py [--project /tmp/ask-medium] [--scale medium] [--set FILE]
(generates, ingests and builds the demo first if the project folder does not exist).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from companybrain import Brain
from companybrain.copilot.evaluate import TARGETS, default_golden, evaluate, load_golden


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--project", default="demo/acme-medium")
    parser.add_argument("--scale", default="medium")
    parser.add_argument("--set", dest="golden", default=None, help="golden set (default: the project's)")
    args = parser.parse_args()
    root = Path(args.project)
    if not (root / "brain.yaml").exists():
        from companybrain.demo.generate import generate_demo

        print(f"generating the {args.scale} demo in {root} ...")
        generate_demo(root, scale=args.scale, seed=7)
        with Brain.open(root) as brain:
            brain.ingest()
            brain.build()
    with Brain.open(root) as brain:
        golden = load_golden(Path(args.golden) if args.golden else default_golden(brain))
        started = time.perf_counter()
        report = evaluate(brain, golden)
        total = time.perf_counter() - started
    rows = [
        ("exact answers (answerable)", f"{report['exact_accuracy']:.1%}", f">= {TARGETS['exact_accuracy']:.0%}",
         report["exact_accuracy"] >= TARGETS["exact_accuracy"]),
        ("correct abstention", f"{report['abstention_accuracy']:.1%}", f">= {TARGETS['abstention_accuracy']:.0%}",
         report["abstention_accuracy"] >= TARGETS["abstention_accuracy"]),
        ("confidently wrong", f"{report['wrong_rate']:.1%}", f"<= {TARGETS['wrong_rate']:.0%}",
         report["wrong_rate"] <= TARGETS["wrong_rate"]),
        ("latency p50", f"{report['latency_ms_p50']:.0f} ms", "< 300 ms", report["latency_ms_p50"] < 300),
        ("latency p95", f"{report['latency_ms_p95']:.0f} ms", "-", True),
    ]  # fmt: skip
    print(f"{report['questions']} questions ({report['answerable']} answerable, {report['must_abstain']} must "
          f"abstain) on {root} in {total:.1f} s")  # fmt: skip
    for name, value, target, ok in rows:
        print(f"  {name:<28} {value:>9}   target {target:<9} {'ok' if ok else 'MISSED'}")
    for domain, figures in report["by_domain"].items():
        print(
            f"  {domain:<10} n={figures['questions']:<4} exact {figures['exact_accuracy']:.1%}  abstention "
            f"{figures['abstention_accuracy']:.1%}  wrong {figures['wrong_rate']:.1%}  "
            f"p50 {figures['latency_ms_p50']} ms"
        )
    for miss in report["misses"]:
        print(f"  {miss['verdict']}: ({miss['user']}) {miss['question']} -> {miss['plan']}")


if __name__ == "__main__":
    main()

"""Copilot targets (embedded engine, "Ask the brain") on the medium demo, on two kinds of set:

- the shipped golden set (copilot/golden.yaml: expected plans, written beside the parser - a regression
  gate): >= 95% exact answers, >= 98% correct abstention, <= 1% wrong, p50 latency < 300 ms;
- the independent sets (benchmarks/copilot/*_set.yaml: questions written by helpers that never read the
  copilot's code, expected values computed by SQL on the source systems): >= 90% exact on answerable
  questions, <= 2% confidently wrong, >= 97% correct refusal or clarification, no crash. dev, dev2 and fresh
  were read and developed against; fresh2, fresh3 and fresh4 were never read, and the newest (fresh4) is the
  result.

Usage: python benchmarks/bench_copilot.py [--project demo/acme] [--scale medium] [--golden FILE] [--set FILE ...]
(generates, ingests, builds and trains the demo first if the project folder does not exist; the independent
sets' expected values were computed on the medium demo of seed 7, so score them there).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from companybrain import Brain, factory
from companybrain.copilot.evaluate import TARGETS, default_golden, evaluate, load_golden
from companybrain.copilot.scoring import TARGETS as VALUE_TARGETS
from companybrain.copilot.scoring import evaluate_values, load_value_set

HERE = Path(__file__).resolve().parent / "copilot"


def _print(title: str, rows: list[tuple[str, str, str, bool]]) -> None:
    print(title)
    for name, value, target, ok in rows:
        print(f"  {name:<28} {value:>9}   target {target:<9} {'ok' if ok else 'MISSED'}")


def golden(brain: Brain, path: Path | None) -> None:
    started = time.perf_counter()
    report = evaluate(brain, load_golden(path or default_golden(brain)))
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
    _print(
        f"golden set: {report['questions']} questions ({report['answerable']} answerable, {report['must_abstain']} "
        f"must abstain) in {time.perf_counter() - started:.1f} s",
        rows,
    )
    _misses(report["misses"])


def independent(brain: Brain, path: Path) -> None:
    started = time.perf_counter()
    report = evaluate_values(brain, load_value_set(path))
    t = VALUE_TARGETS
    rows = [
        ("exact answers (answerable)", f"{report['exact_accuracy']:.1%}", f">= {t['exact_accuracy']:.0%}",
         report["exact_accuracy"] >= t["exact_accuracy"]),
        ("confidently wrong", f"{report['wrong_rate']:.1%}", f"<= {t['wrong_rate']:.0%}",
         report["wrong_rate"] <= t["wrong_rate"]),
        ("asked or refused (answerable)", f"{report['abstained_on_answerable']}", "-", True),
        ("correct abstention", f"{report['abstention_accuracy']:.1%}", f">= {t['abstention_accuracy']:.0%}",
         report["abstention_accuracy"] >= t["abstention_accuracy"]),
        ("crashes", f"{report['crashes']}", "0", report["crashes"] == 0),
        ("latency p50", f"{report['latency_ms_p50']:.0f} ms", "-", True),
    ]  # fmt: skip
    _print(
        f"{path.name}: {report['questions']} questions ({report['answerable']} answerable, {report['must_abstain']} "
        f"must abstain) in {time.perf_counter() - started:.1f} s",
        rows,
    )
    for domain, figures in report["by_domain"].items():
        print(
            f"  {domain:<12} n={figures['questions']:<4} exact {figures['exact_accuracy']:.1%}  wrong "
            f"{figures['wrong_rate']:.1%}  abstention {figures['abstention_accuracy']:.1%}"
        )
    _misses(report["misses"])


def _misses(misses: list[dict[str, Any]]) -> None:
    for miss in misses:
        print(f"  {miss['verdict']}: ({miss['user']}) {miss['question']} -> {miss.get('plan')}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--project", default="demo/acme")
    parser.add_argument("--scale", default="medium")
    parser.add_argument("--golden", default=None, help="golden set (default: the project's)")
    parser.add_argument("--set", dest="sets", action="append", help="an independent set (default: dev and fresh)")
    args = parser.parse_args()
    root = Path(args.project)
    if not (root / "brain.yaml").exists():
        from companybrain.demo.generate import generate_demo

        print(f"generating the {args.scale} demo in {root} ...")
        generate_demo(root, scale=args.scale, seed=7)
        with Brain.open(root) as brain:
            brain.ingest()
            brain.build()
            factory.train(brain)  # the predictions and forecasts some questions read
            factory.score(brain)
    sets = [Path(s) for s in args.sets] if args.sets else sorted(HERE.glob("*_set.yaml"))
    with Brain.open(root) as brain:
        golden(brain, Path(args.golden) if args.golden else None)
        for path in sets:
            independent(brain, path)


if __name__ == "__main__":
    main()

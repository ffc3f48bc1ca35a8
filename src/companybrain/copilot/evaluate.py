"""The golden-set evaluation: exact answers, correct abstentions, wrong answers and latency.

Expected tables are never stored: each expected plan runs through `Brain.query` as the same user,
so the set stays right whatever the data. Proposals run as dry runs, on both sides: checked exactly as
for real, nothing stored, so an evaluation leaves no proposal behind; an expected proposal this data
cannot make (no such order, or no part of it on the line named) must be answered by abstaining.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

from companybrain.copilot.answer import Copilot
from companybrain.copilot.plan import CountPlan, MetricPlan, Plan
from companybrain.errors import BrainError, ConfigError, Location, NotFound, PolicyDenied
from companybrain.specs import yaml_loader

if TYPE_CHECKING:
    from companybrain.brain import Brain

TARGETS = {"exact_accuracy": 0.95, "abstention_accuracy": 0.98, "wrong_rate": 0.01}


class GoldenQuestion(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    question: str
    domain: str
    expect: Plan
    user: str | None = None
    previous: MetricPlan | None = None


class GoldenSet(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    questions: list[GoldenQuestion] = Field(min_length=1)


@dataclass
class Outcome:
    question: str
    domain: str
    user: str
    expected: str  # answer | abstain
    got: str  # answer | clarify | refuse
    verdict: str  # correct | abstained | wrong | correct_abstention
    seconds: float
    plan: dict[str, Any] = field(default_factory=dict)


def load_golden(path: Path) -> GoldenSet:
    """A golden set file, validated (an error names the file)."""
    if not path.is_file():
        raise ConfigError.at(Location(str(path)), "no such golden set file")
    return yaml_loader.load(GoldenSet, path, str(path))  # errors name the file and line


def default_golden(brain: Brain) -> Path:
    return Path(brain.project.root) / "copilot" / "golden.yaml"


def evaluate(brain: Brain, golden: GoldenSet, engine: str | None = None) -> dict[str, Any]:
    """Run every golden question and score it; returns the figures, by domain, and the misses."""
    copilot = Copilot(brain, engine, dry_run=True)
    outcomes = []
    for item in golden.questions:
        user = brain.principal(item.user).user
        expected_rows = _expected(brain, item.expect, item.user)
        answer = copilot.ask(item.question, item.user, item.previous)
        got = answer.kind
        if expected_rows is None:
            verdict = "wrong" if got == "answer" else "correct_abstention"
        elif got != "answer":
            verdict = "abstained"
        else:
            expect = item.expect
            order_key = expect.order_by[0].lstrip("-") if isinstance(expect, MetricPlan) and expect.order_by else None
            got_rows = _records(answer)
            verdict = "correct" if same_table(expected_rows, got_rows, order_key) else "wrong"
        outcomes.append(
            Outcome(
                item.question,
                item.domain,
                user,
                "abstain" if expected_rows is None else "answer",
                got,
                verdict,
                answer.seconds,
                answer.plan.model_dump(exclude_defaults=True),
            )
        )
    report = _figures(outcomes)
    report["by_domain"] = {
        domain: _figures([o for o in outcomes if o.domain == domain]) for domain in sorted({o.domain for o in outcomes})
    }
    report["misses"] = [o.__dict__ for o in outcomes if o.verdict in ("wrong", "abstained")]
    report["targets"] = TARGETS
    report["passed"] = (
        report["exact_accuracy"] >= TARGETS["exact_accuracy"]
        and report["abstention_accuracy"] >= TARGETS["abstention_accuracy"]
        and report["wrong_rate"] <= TARGETS["wrong_rate"]
    )
    return report


def _records(answer: Any) -> list[dict[str, Any]]:
    if answer.result is not None:
        return list(answer.result.records())
    if "table" in answer.extra:
        table = answer.extra["table"]
        return [dict(zip(table["columns"], row, strict=True)) for row in table["rows"]]
    return [{"count": answer.extra.get("count")}]


def _expected(brain: Brain, plan: Any, user: str | None) -> list[dict[str, Any]] | None:
    """The expected table, or None when the right answer is to abstain."""
    from companybrain.copilot import forecasts, proposals
    from companybrain.copilot.intents import run as run_intent
    from companybrain.copilot.plan import (
        ForecastPlan,
        LookupPlan,
        ProposePlan,
        ReasonsPlan,
        ReplanPlan,
        ScenarioPlan,
        validate_propose,
    )

    kinds = MetricPlan | CountPlan | ScenarioPlan | ReplanPlan | ReasonsPlan | LookupPlan | ProposePlan | ForecastPlan
    if not isinstance(plan, kinds):
        return None
    try:
        if isinstance(plan, ProposePlan):
            validate_propose(brain, plan, user)  # an unknown action type or parameter is the golden set's error
            try:
                done = proposals.run(brain, plan, user, dry_run=True)
            except NotFound:  # no such order (or part of it) in this data: the right answer is to abstain
                return None
            return [dict(zip(done["columns"], row, strict=True)) for row in done["rows"]]
        if isinstance(plan, ForecastPlan):
            done = forecasts.run(brain, plan, user)
            return [dict(zip(done["columns"], row, strict=True)) for row in done["rows"]]
        if isinstance(plan, ScenarioPlan | ReplanPlan | ReasonsPlan | LookupPlan):
            done = run_intent(brain, plan, user)
            return [dict(zip(done["columns"], row, strict=True)) for row in done["rows"]]
        if isinstance(plan, CountPlan) and plan.by:
            return brain.count_by(plan.object, plan.by, plan.where_sql(), user)
        if isinstance(plan, CountPlan):
            return [{"count": brain.count_objects(plan.object, plan.where_sql(), user)}]
        if plan.compare:
            from companybrain.copilot.compare import compared

            table = compared(brain, plan, user)["table"]
            return [dict(zip(table["columns"], row, strict=True)) for row in table["rows"]]
        return brain.query(plan.metric_query(), user).records()
    except PolicyDenied:
        return None
    except BrainError as exc:
        raise ConfigError.at(Location("golden set"), f"the expected plan {plan.model_dump()} fails: {exc}") from None


def same_table(expected: list[dict[str, Any]], got: list[dict[str, Any]], order_key: str | None = None) -> bool:
    """Equal tables: same columns and rows (floats to 1e-9); with an `order_key`, the same sequence of
    its values, rows tied with the last one free to differ (the query path breaks ties arbitrarily)."""
    if len(expected) != len(got) or (expected and set(expected[0]) != set(got[0])):
        return False
    if not expected:
        return True
    columns = sorted(expected[0])
    if order_key is not None:
        if not all(_same(a[order_key], b[order_key]) for a, b in zip(expected, got, strict=True)):
            return False
        last = expected[-1][order_key]
        expected = [r for r in expected if not _same(r[order_key], last)]
        got = [r for r in got if not _same(r[order_key], last)]
    rows_e = sorted((tuple(r[c] for c in columns) for r in expected), key=repr)
    rows_g = sorted((tuple(r[c] for c in columns) for r in got), key=repr)
    return len(rows_e) == len(rows_g) and all(
        _same(a, b) for re_, rg in zip(rows_e, rows_g, strict=True) for a, b in zip(re_, rg, strict=True)
    )


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)
    return bool(a == b)


def _figures(outcomes: list[Outcome]) -> dict[str, Any]:
    answerable = [o for o in outcomes if o.expected == "answer"]
    abstain = [o for o in outcomes if o.expected == "abstain"]
    seconds = sorted(o.seconds for o in outcomes)
    return {
        "questions": len(outcomes),
        "answerable": len(answerable),
        "must_abstain": len(abstain),
        "exact_accuracy": _share(sum(o.verdict == "correct" for o in answerable), len(answerable)),
        "abstention_accuracy": _share(sum(o.verdict == "correct_abstention" for o in abstain), len(abstain)),
        "wrong_rate": _share(sum(o.verdict == "wrong" for o in outcomes), len(outcomes), empty=0.0),
        "abstained_on_answerable": sum(o.verdict == "abstained" for o in answerable),
        "latency_ms_p50": round(1000 * statistics.median(seconds), 1) if seconds else None,
        "latency_ms_p95": round(1000 * seconds[min(len(seconds) - 1, int(0.95 * len(seconds)))], 1)
        if seconds
        else None,
    }


def _share(n: int, total: int, empty: float = 1.0) -> float:
    return round(n / total, 4) if total else empty

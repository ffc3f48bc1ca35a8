"""Scoring the copilot on an independent evaluation set: questions written by someone who never saw the
parser, with expected answers computed from the source systems (values, not plans).

An answer is exact when its table holds every expected row - each expected label among the row's cells
(dates also read as their year, quarter and month), each expected number among its figures (to 0.1%) -
and nothing else that has a value; in the expected order where the question asked for one. A comparison
of periods may be expected one row per group (each period's value and the change) or one row per period
and group: both say the same. A lookup is exact when the object shows every expected field. A question
that must be refused or clarified is right only when the copilot does not answer it.
"""

from __future__ import annotations

import math
import re
import statistics
import time
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from companybrain.errors import ConfigError, Location
from companybrain.specs import yaml_loader

if TYPE_CHECKING:
    from companybrain.brain import Brain

TARGETS = {"exact_accuracy": 0.90, "abstention_accuracy": 0.97, "wrong_rate": 0.02}
REL_TOL = 1e-3

Cell = str | float | int | bool | None


class ValueQuestion(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    question: str
    user: str | None = None
    domain: str
    expect: Literal["answer", "abstain"]
    rows: list[list[Cell]] | None = None
    fields: dict[str, Cell] | None = None
    ordered: bool = False
    note: str | None = None
    source: str | None = None
    sql: str | None = None


class ValueSet(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    questions: list[ValueQuestion] = Field(min_length=1)


def is_value_set(path: Path) -> bool:
    """Whether a set file holds expected values (`expect: answer|abstain`) rather than expected plans."""
    return bool(re.search(r"^\s*expect:\s*(answer|abstain)\s*$", path.read_text(), re.MULTILINE))


def load_value_set(path: Path) -> ValueSet:
    if not path.is_file():
        raise ConfigError.at(Location(str(path)), "no such evaluation set file")
    return yaml_loader.load(ValueSet, path, str(path))


def table_of(answer: Any) -> tuple[list[str], list[list[Any]]]:
    """The columns and rows an answer shows (a metric result, a count, an object, a list)."""
    if answer.result is not None:
        return list(answer.result.columns), [list(r) for r in answer.result.rows]
    if "table" in answer.extra:
        return list(answer.extra["table"]["columns"]), [list(r) for r in answer.extra["table"]["rows"]]
    if "count" in answer.extra:
        return ["count"], [[answer.extra["count"]]]
    return [], []


def _labels(cell: Any) -> set[str]:
    """How a cell may be named: its text, and a date's year, quarter, month and day."""
    if cell is None:
        return set()
    if isinstance(cell, datetime):
        cell = cell.date()
    if isinstance(cell, date):
        return {
            cell.isoformat(),
            f"{cell.year}",
            f"{cell.year}-{cell.month:02d}",
            f"{cell.year}-q{(cell.month - 1) // 3 + 1}",
        }
    text = str(cell).strip().lower()
    if m := re.fullmatch(r"(\d{4})-(\d{2})-(\d{2})(?:[ t].*)?", text):
        return _labels(date(int(m[1]), int(m[2]), int(m[3])))
    return {text}


def _number(cell: Any) -> float | None:
    if isinstance(cell, bool) or cell is None:
        return None
    if isinstance(cell, int | float):
        return float(cell)
    return None


def _close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=REL_TOL, abs_tol=1e-6)


def _row_matches(expected: list[Cell], row: list[Any]) -> bool:
    labels = set().union(*(_labels(c) for c in row)) if row else set()
    figures = [n for c in row if (n := _number(c)) is not None]
    for cell in expected:
        if isinstance(cell, str):
            if not any(alt.strip().lower() in labels for alt in cell.split("|")):
                return False
        elif isinstance(cell, int | float) and not isinstance(cell, bool):
            hit = next((i for i, n in enumerate(figures) if _close(float(cell), n)), None)
            if hit is None:
                return False
            figures.pop(hit)
        elif cell is None and not any(c is None for c in row):
            return False
    return True


def _has_value(row: list[Any], columns: list[str], measures: set[str]) -> bool:
    """A row that says something: a figure other than 0, for a group that has a name (the group of rows
    with no value for the dimension, shown or not, is not another answer)."""
    if measures:
        labels = [c for name, c in zip(columns, row, strict=False) if name not in measures]
        if labels and all(c is None for c in labels):
            return False
    cells = [c for name, c in zip(columns, row, strict=False) if name in measures] if measures else row
    return any(_number(c) not in (None, 0.0) for c in cells)


def rows_match(question: ValueQuestion, columns: list[str], rows: list[list[Any]], measures: set[str]) -> bool:
    """Every expected row in the answer (in order, if asked for), and no other row with a value."""
    assert question.rows is not None
    left = list(range(len(rows)))
    order: list[int] = []
    for expected in question.rows:
        hit = next((i for i in left if _row_matches(expected, rows[i])), None)
        if hit is None:
            return False
        left.remove(hit)
        order.append(hit)
    if any(_has_value(rows[i], columns, measures) for i in left):
        return False
    return not question.ordered or order == sorted(order)


def fields_match(question: ValueQuestion, columns: list[str], rows: list[list[Any]]) -> bool:
    """A lookup: every expected field shown with its value (a property/value table, or one row)."""
    assert question.fields is not None
    shown: dict[str, Any] = {}
    if columns[:2] == ["property", "value"]:
        shown = {str(r[0]): r[1] for r in rows}
    elif len(rows) == 1:
        shown = dict(zip(columns, rows[0], strict=False))
    for name, want in question.fields.items():
        if name not in shown:
            return False
        got = shown[name]
        if isinstance(want, int | float) and not isinstance(want, bool):
            number = _number(got)
            if number is None or not _close(float(want), number):
                return False
        elif not (_labels(got) & _labels(want)):
            return False
    return True


def verdict(question: ValueQuestion, answer: Any) -> str:
    """correct | wrong | abstained (an answerable question not answered) | correct_abstention."""
    answered = answer.kind == "answer"
    if question.expect == "abstain":
        return "wrong" if answered else "correct_abstention"
    if not answered:
        return "abstained"
    columns, rows = table_of(answer)
    measures = set(answer.result.columns) - set(getattr(answer.plan, "by", [])) if answer.result is not None else set()
    if question.fields is not None:
        return "correct" if fields_match(question, columns, rows) else "wrong"
    if question.rows is not None:
        forms = [(columns, rows, measures), *_long_forms(answer, columns, rows)]
        return "correct" if any(rows_match(question, *form) for form in forms) else "wrong"
    return "wrong"


def _long_forms(
    answer: Any, columns: list[str], rows: list[list[Any]]
) -> list[tuple[list[str], list[list[Any]], set[str]]]:
    """A comparison of periods is shown one row per group with each period's value and the change; it says
    the same as one row per period and group, which is how some sets write it."""
    from companybrain.copilot.plan import MetricPlan

    plan = getattr(answer, "plan", None)
    if not isinstance(plan, MetricPlan) or not plan.compare or not rows:
        return []
    periods = list(plan.compare)
    by, metrics = list(plan.by), list(plan.metrics)
    width = len(periods) + (len(periods) == 2)
    long = [
        [period, *row[: len(by)], *[row[len(by) + width * i + p] for i in range(len(metrics))]]
        for row in rows
        for p, period in enumerate(periods)
    ]
    return [(["period", *by, *metrics], long, set(metrics))]


def evaluate_values(brain: Brain, questions: ValueSet, engine: str | None = None) -> dict[str, Any]:
    """Ask every question as its user and score it; the figures, by domain and user, and every miss."""
    from companybrain.copilot.answer import Copilot

    copilot = Copilot(brain, engine, dry_run=True)
    outcomes: list[dict[str, Any]] = []
    for item in questions.questions:
        started = time.perf_counter()
        try:
            answer = copilot.ask(item.question, item.user)
            got, plan, text = answer.kind, answer.plan.model_dump(exclude_defaults=True), answer.text
            outcome = verdict(item, answer)
        except Exception as exc:  # a crash is scored, not raised: the set must finish
            got, plan, text, outcome = "crash", {}, f"{type(exc).__name__}: {exc}", "crash"
        outcomes.append(
            {
                "id": item.id,
                "question": item.question,
                "user": brain.principal(item.user).user,
                "domain": item.domain,
                "expected": item.expect,
                "got": got,
                "verdict": outcome,
                "seconds": time.perf_counter() - started,
                "plan": plan,
                "answer": text,
            }
        )
    report = _figures(outcomes)
    for key in ("domain", "user"):
        report[f"by_{key}"] = {
            value: _figures([o for o in outcomes if o[key] == value]) for value in sorted({o[key] for o in outcomes})
        }
    report["misses"] = [o for o in outcomes if o["verdict"] not in ("correct", "correct_abstention")]
    report["targets"] = TARGETS
    report["passed"] = (
        report["exact_accuracy"] >= TARGETS["exact_accuracy"]
        and report["abstention_accuracy"] >= TARGETS["abstention_accuracy"]
        and report["wrong_rate"] <= TARGETS["wrong_rate"]
        and report["crashes"] == 0
    )
    return report


def _figures(outcomes: list[dict[str, Any]]) -> dict[str, Any]:
    answerable = [o for o in outcomes if o["expected"] == "answer"]
    abstain = [o for o in outcomes if o["expected"] == "abstain"]
    seconds = sorted(o["seconds"] for o in outcomes)

    def share(n: int, total: int, empty: float) -> float:
        return round(n / total, 4) if total else empty

    return {
        "questions": len(outcomes),
        "answerable": len(answerable),
        "must_abstain": len(abstain),
        "exact_accuracy": share(sum(o["verdict"] == "correct" for o in answerable), len(answerable), 1.0),
        "wrong_rate": share(sum(o["verdict"] == "wrong" for o in answerable), len(answerable), 0.0),
        "abstained_on_answerable": sum(o["verdict"] == "abstained" for o in answerable),
        "abstention_accuracy": share(sum(o["verdict"] == "correct_abstention" for o in abstain), len(abstain), 1.0),
        "answered_must_abstain": sum(o["verdict"] == "wrong" for o in abstain),
        "crashes": sum(o["verdict"] == "crash" for o in outcomes),
        "latency_ms_p50": round(1000 * statistics.median(seconds), 1) if seconds else None,
        "latency_ms_p95": round(1000 * seconds[min(len(seconds) - 1, int(0.95 * len(seconds)))], 1)
        if seconds
        else None,
    }

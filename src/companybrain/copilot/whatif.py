"""What-ifs in people's words: 'raise gearbox prices by 3%', 'what if APAC demand drops 10%', 'what if
supplier S0001 is 10 days late', 'open a second line in Monterrey'. The question is read into one change
of the kinds scenarios declare (specs/scenarios.py); every slot that change needs must be in the question
(which products, by how much, where, how many) - a missing one is asked for, never filled in, and never
replaced by a different declared scenario. The change runs as a scenario of this question only (not
written to the project), as the asking user.
"""

from __future__ import annotations

import re
from datetime import date
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from companybrain.copilot.plan import AnyPlan, ClarifyPlan, WhatIfPlan
from companybrain.copilot.vocabulary import Vocabulary, tokens

if TYPE_CHECKING:
    from companybrain.brain import Brain
    from companybrain.governance.principal import Principal

PCT = re.compile(r"([+-]?\d+(?:\.\d+)?)\s*(?:%|percent|per cent|pct)")
DOWN = re.compile(
    r"\b(?:cut|lower|drop|drops|dropped|fall|falls|fell|decrease|decreases|reduce|reduces|down|less|lose)\b"
)
LEVEL = re.compile(r"\b(?:at|to|only)\s+(\d+(?:\.\d+)?)\s*(?:%|percent|per cent)(?!\s*(?:more|less|higher|lower))")
LINE = re.compile(r"\b(?:[a-z]{3}-)?(l\d{1,2})\b|\bline\s+(\d{1,2})\b", re.IGNORECASE)
KINDS = [
    ("supplier_delay", re.compile(r"\bsupplier\b.*\b(?:late|delay|delayed|slower)\b|\b(?:late|delay)\b.*\bsupplier\b")),
    ("capital_project", re.compile(r"\b(?:new|second|third|another|extra|additional) (?:production )?line\b")),
    (
        "hiring",
        re.compile(r"\b(?:hire|hiring|recruit|add) \d*\s*\w*\s*(?:people|operators|engineers|staff|employees)\b"),
    ),
    ("price", re.compile(r"\bprices?\b|\bpricing\b")),
    ("demand", re.compile(r"\bdemand\b|\bvolumes?\b|\border intake\b")),
    ("capacity", re.compile(r"\bcapacity\b")),
]


def recognise(brain: Brain, text: str, vocab: Vocabulary, today: date) -> AnyPlan | None:
    """The what-if a question describes, a question for its missing slot, or None (no change recognised)."""
    kind = next((k for k, pattern in KINDS if pattern.search(text)), None)
    if kind is None:
        return None
    values = _values(text, vocab)
    pct = _pct(text)
    period = str(today.year - 1)  # the last full year, as the declared scenarios compare
    change: dict[str, Any] = {"type": kind}
    if kind in ("price", "demand"):
        scope = {d: values[d] for d in ("family", "segment", "region") if d in values}
        if kind == "price":
            scope.pop("region", None)
            if not scope:
                return _ask("Which products do the prices change for? Name a product family or a customer segment.")
            change["elasticity"] = "estimated"
        if pct is None:
            return _ask(f"By how much does the {kind} change? Say e.g. '+3%' or 'down 10%'.")
        change |= {k: v[0] if len(v) == 1 else v for k, v in scope.items()} | {"change_pct": pct}
    elif kind == "capacity":
        if "site" not in values:
            return _ask("Which site's capacity changes?")
        if pct is None:
            return _ask("By how much does the capacity change? Say e.g. 'down 20%'.")
        change |= {"site": values["site"][0], "change_pct": pct}
        line = LINE.search(text)
        if line is not None:  # "line 3", "L3", "MKE-L3": that line only
            change["line"] = line[1] or f"L{line[2]}"
    elif kind == "supplier_delay":
        supplier = values.get("supplier") or re.findall(r"\b[A-Z]\d{3,}\b", text.upper())
        days = re.search(r"(\d+)\s*days?", text)
        if not supplier:
            return _ask("Which supplier is late? Name it or give its id (e.g. S0001).")
        if days is None:
            return _ask("How many days late? Say e.g. '10 days late'.")
        change |= {"supplier": supplier[0], "days": int(days[1])}
    elif kind == "capital_project":
        if "site" not in values:
            return _ask("At which site does the new line open?")
        return _ask(
            f"A new line at {values['site'][0]}: what weekly capacity (units and hours) and what investment (capex)? "
            "Those decide the answer, so I will not assume them."
        )
    else:
        return _ask("Hiring at which site, in which function, how many people and at what cost per head? Those "
                    "decide the answer, so I will not assume them.")  # fmt: skip
    return WhatIfPlan(change=change, period=period)


def _ask(question: str) -> ClarifyPlan:
    return ClarifyPlan(question=question, options=[])


def _pct(text: str) -> float | None:
    """The change in percent: '+3%', 'down 10%'; a level ('at 80% of capacity', 'to 80%') is 80 - 100."""
    level = LEVEL.search(text)
    if level is not None:
        return float(level[1]) - 100
    found = PCT.search(text)
    if found is None:
        return None
    value = float(found[1])
    return -abs(value) if DOWN.search(text) and not found[1].startswith("+") else value


def _values(text: str, vocab: Vocabulary) -> dict[str, list[str]]:
    """The named dimensions' values the question names (a family, a region, a site, a supplier...)."""
    words = tokens(text)
    found: dict[str, list[str]] = {}
    for n in range(min(vocab.longest, len(words)), 0, -1):
        for i in range(len(words) - n + 1):
            for term in vocab.phrases.get(tuple(words[i : i + n]), ()):
                if term.kind == "value" and "." not in term.name and term.value:
                    found.setdefault(term.name, [])
                    if term.value not in found[term.name]:
                        found[term.name].append(term.value)
    return found


def describe_change(change: dict[str, Any]) -> str:
    """A change in words: 'prices +3% (family Gearboxes)', 'supplier S0001 10 days late'."""
    scope = ", ".join(f"{k} {v}" for k, v in change.items() if k in ("family", "segment", "region", "site", "line"))
    if change["type"] in ("price", "demand", "capacity"):
        noun = {"price": "prices", "demand": "demand", "capacity": "capacity"}[change["type"]]
        return f"{noun} {change['change_pct']:+g}%" + (f" ({scope})" if scope else "")
    if change["type"] == "supplier_delay":
        return f"supplier {change['supplier']} {change['days']} days late"
    return ", ".join(f"{k} {v}" for k, v in change.items())


def run(brain: Brain, plan: WhatIfPlan, user: str | Principal | None) -> dict[str, Any]:
    """Run the change as a scenario of this question only, as the user: the KPIs against the baseline."""
    from companybrain.decisions.scenarios import run_scenario
    from companybrain.errors import QueryError
    from companybrain.specs.scenarios import ScenarioSpec

    described = describe_change(plan.change)
    name = f"ask_{abs(hash((repr(sorted(plan.change.items())), plan.period))) % 10**8}"
    try:
        spec = ScenarioSpec(name=name, description=f"Asked: {described}",
                            period=plan.period, changes=[plan.change])  # fmt: skip
    except ValidationError as exc:
        raise QueryError(f"that what-if is not one I can run: {exc.errors()[0]['msg']}") from None
    brain.project.scenarios[name] = spec  # this process only; the project's files are not touched
    try:
        runs = run_scenario(brain, name, user, ahead=False)
    finally:
        brain.project.scenarios.pop(name, None)
    rows = [[k["kpi"], k["baseline"], k["scenario"], k["diff"], k["diff_pct"]] for k in runs.kpis]
    moved = [f"{k['kpi']} {k['diff_pct']:+.1%}" for k in runs.kpis if isinstance(k.get("diff_pct"), int | float)]
    text = (
        f"What if {described}, over {runs.period['from']} .. {runs.period['to']}, against "
        "the baseline: " + (", ".join(moved[:5]) or "no KPI moved") + "."
    )
    return {"text": text, "columns": ["kpi", "baseline", "scenario", "diff", "diff_pct"], "rows": rows}

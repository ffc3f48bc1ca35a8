"""Questions that ask the brain to decide or explain rather than to count: a what-if scenario, a replan
after a capacity loss, why a prediction is what it is, a change to propose (copilot/proposals.py).

Recognition is strict - a question must name the thing (a declared scenario, a site, an object's
key) - and anything short of that is a clarifying question, never a guess. Running goes through
the facade as the asking user, so the policies apply as to every other answer.
"""

from __future__ import annotations

import re
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

from companybrain.copilot.plan import (
    AnyPlan,
    ClarifyPlan,
    LookupPlan,
    ReasonsPlan,
    ReplanPlan,
    ScenarioPlan,
    WhatIfPlan,
)
from companybrain.errors import BrainError, PolicyDenied

if TYPE_CHECKING:
    from companybrain.brain import Brain
    from companybrain.governance.principal import Principal

WHAT_IF = re.compile(
    r"\b(what[- ]if|scenario|simulate|what happens if|what would happen)\b"
    r"|^\s*(?:if|suppose|supposing|imagine|assuming)\b|\bwould\b.*\bhave been\b|\bif\b.*\bhad (?:run|been|had)\b"
)  # "if line 3 had run at 80%, what would ... have been": a what-if, never the figure as it was
# a change asked for in the imperative: "raise gearbox prices by 3%" (a what-if, never applied)
WHATIF_CHANGE = re.compile(
    r"^\s*(?:let's |lets |suppose |say )?(?:(?:raise|lower|cut|increase|decrease) \w"
    r"|open (?:a|another|one more) (?:new |second |third |extra )?(?:production )?line)"
)
DOWN = re.compile(
    r"\b(is|are|goes|go|went|will be|were|was)\s+(down|out|stopped|offline)\b"
    r"|\b(outage|breaks down|stops|stopped for)\b"
)
LOOKUP = re.compile(r"^\s*(show( me)?|tell me about|look up|lookup|details (of|for)|open)\b")
WHY_RISK = re.compile(r"\bwhy\b.*\b(risk|likely|probability|anomal\w*)\b")
DAYS = re.compile(r"\b(\d{1,2})\s*(days?|weeks?)\b")
ISO_DAY = re.compile(r"\b(20\d\d-\d\d-\d\d)\b")
LINE = re.compile(r"\b(?:line\s+)?(l\d{1,2})\b")
KEY = re.compile(r"\b([A-Z]{1,6}\d*(?:-[A-Z0-9]+)+|[A-Z]\d{4,}|\d{2,})\b")


def recognise(brain: Brain, question: str, user: str | Principal | None) -> AnyPlan | None:
    """A decision or explanation plan for the question, a clarifying question, or None (not one of these)."""
    from companybrain.copilot import proposals

    proposal = proposals.recognise(brain, question, brain.project.spec.today or date.today())
    if proposal is not None:
        return proposal
    text = question.lower()
    if WHY_RISK.search(text):
        return _reasons(brain, question)
    if DOWN.search(text):
        return _replan(brain, text)
    if WHAT_IF.search(text) or WHATIF_CHANGE.search(text):
        return _scenario(brain, text, user)
    if LOOKUP.search(text):
        found = _lookup(brain, question)
        if found is not None:
            return found
    return None


STOP = {
    "what",
    "if",
    "we",
    "the",
    "a",
    "an",
    "by",
    "to",
    "of",
    "in",
    "on",
    "for",
    "and",
    "our",
    "would",
    "happen",
    "scenario",
    "simulate",
    "run",
    "did",
    "do",
    "does",
    "is",
    "are",
    "be",
    "with",
    "it",
    "at",
    "from",
}


def _stems(text: str) -> set[str]:
    words = re.findall(r"[a-z0-9]+", text.lower())
    return {w[:-1] if w.endswith("s") and len(w) > 3 else w for w in words if w not in STOP}


# the KPIs a scenario run takes from the scenario itself (decisions/scenarios.py), and words that name them
SPEC_KPIS = {"capex": {"capex", "capital", "investment"}, "added_people_cost": {"add", "adds", "added", "extra"}}


def _kpis_asked(brain: Brain, text: str, user: str | Principal | None) -> list[str]:
    """The KPIs a what-if asks for by name ('how much capex does it assume', 'what does that add to the salary
    bill'): the metrics the question names, read as any question is read, and the run's own KPIs by their
    words; what is added is a cost only where a figure of money is asked."""
    from companybrain.copilot.lexicon import lexicon
    from companybrain.copilot.reading import read
    from companybrain.copilot.vocabulary import vocabulary

    vocab = vocabulary(brain, user)
    reading = read(text, vocab, lexicon(), brain.project.spec.today or date.today())
    asked = [t.name for m in reading.mentions for t in m.of("metric")]
    money = any(vocab.metric_formats.get(m) == "currency" for m in asked) or "capex" in reading.tokens
    asked += [k for k, words in SPEC_KPIS.items() if words & set(reading.tokens) and (k == "capex" or money)]
    return list(dict.fromkeys(asked))


def _scenario(brain: Brain, text: str, user: str | Principal | None = None) -> AnyPlan:
    scenarios = brain.project.scenarios
    if not scenarios:
        return ClarifyPlan(question="This project declares no what-if scenarios (scenarios/*.yaml) to run.")
    asked = _stems(text)
    # a declared scenario is meant only when every word of its name is asked (but the direction words:
    # "raise pump prices" is pumps_price_up) and every figure given is the scenario's: "prices go up" is not
    # pumps_price_up (which products? by how much?), nor is "pump prices up 3%" - ask, never run another one
    figures = set(re.findall(r"(\d+(?:\.\d+)?)\s*(?:%|percent|days?|weeks?)", text))
    named = [
        n
        for n, spec in scenarios.items()
        if _stems(n.replace("_", " ")) - DIRECTIONS <= asked and figures <= _figures(spec)
    ]
    if len(named) == 1:
        return ScenarioPlan(name=named[0], kpis=_kpis_asked(brain, text, user))
    from companybrain.copilot import whatif
    from companybrain.copilot.vocabulary import vocabulary

    today = brain.project.spec.today or date.today()
    adhoc = whatif.recognise(brain, _spoken(text), vocabulary(brain, user), today)
    if adhoc is not None:
        return adhoc
    scored = sorted(
        ((len(asked & _stems(f"{n.replace('_', ' ')} {s.description}")), n) for n, s in scenarios.items()),
        reverse=True,
    )
    return ClarifyPlan(
        question="Which what-if do you mean? I run the project's declared scenarios; say which (or what changes, "
        "where and by how much, for the data team to declare it).",
        options=[n for _, n in scored[:6]],
    )


DIRECTIONS = {"up", "down", "new", "more", "less", "higher", "lower", "rise", "raise", "cut", "increase", "decrease"}


def _figures(spec: Any) -> set[str]:
    """Every number a scenario declares (its changes' percents, days, ...), as text."""
    found = set(re.findall(r"\d+(?:\.\d+)?", spec.model_dump_json()))
    return found | {f.rstrip("0").rstrip(".") for f in found if "." in f}


def _replan(brain: Brain, text: str) -> AnyPlan:
    sites = brain.project.objects.get("Site")
    if sites is None:
        return ClarifyPlan(question="This project has no sites to replan.")
    names = _site_names(brain)
    site = next((key for label, key in names if re.search(rf"\b{re.escape(label)}\b", text)), None)
    if site is None:
        return ClarifyPlan(question="Which site is down?", options=sorted({k for _, k in names})[:12])
    text = _spoken(text)
    days_match = DAYS.search(text)
    if days_match is None:
        return ClarifyPlan(question="For how long? Say e.g. 'for 10 days'.")
    days = int(days_match.group(1)) * (7 if days_match.group(2).startswith("week") else 1)
    today = brain.project.spec.today or date.today()
    start = _start(text, today)
    line_match = LINE.search(text)
    return ReplanPlan(
        site=site, line=line_match.group(1).upper() if line_match else None, start=start, days=min(days, 91)
    )


def _spoken(text: str) -> str:
    """'five days' -> '5 days': the lexicon's number words as digits."""
    from companybrain.copilot.lexicon import lexicon

    for words, value in sorted(lexicon().numbers.items(), key=lambda kv: -len(kv[0])):
        text = re.sub(rf"\b{re.escape(' '.join(words))}\b", str(value), text)
    return text


def _start(text: str, today: date) -> date:
    """The first day down: an ISO date, 'from the 16th' (the next 16th from today), else tomorrow."""
    iso = ISO_DAY.search(text)
    if iso:
        return date.fromisoformat(iso.group(1))
    day = re.search(r"\b(?:from|starting|since|on) (?:the )?(\d{1,2})(?:st|nd|rd|th)\b", text)
    if day and 1 <= int(day[1]) <= 31:
        year, month = today.year, today.month
        for _ in range(2):
            try:
                found = date(year, month, int(day[1]))
            except ValueError:
                found = None
            if found is not None and found >= today:
                return found
            year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return today + timedelta(days=1)


def _site_names(brain: Brain) -> list[tuple[str, str]]:
    """(lower-case name, city or id) -> site id, read through the facade (no user: the site list is public)."""
    rows = brain.read("Site", limit=200).to_pylist()
    key = brain.project.objects["Site"].key
    found = []
    for row in rows:
        for field in ("name", "city", key):
            value = row.get(field)
            if isinstance(value, str) and value and value != "***":
                found.append((value.lower(), str(row[key])))
    return sorted(found, key=lambda pair: -len(pair[0]))  # "new york" before "york"


def _reasons(brain: Brain, question: str) -> AnyPlan:
    scored = {
        uc.entity: uc.output.property
        for uc in brain.project.usecases.values()
        if uc.entity is not None and uc.output.property is not None
    }
    text = question.lower()
    entity = next((e for e in scored if re.search(rf"\b{e.lower()}s?\b", text)), None)
    key = KEY.search(question)
    if entity is None or key is None:
        options = [f"why is {e} <key> at risk" for e in sorted(scored)]
        return ClarifyPlan(question="Which object's prediction do you mean? Name its type and key.", options=options)
    prop = scored[entity]
    assert prop is not None
    return ReasonsPlan(object=entity, key=key.group(1), property=prop)


def _lookup(brain: Brain, question: str) -> AnyPlan | None:
    """`show order 42`: an object type named (or its synonym) right before a key with a digit in it."""
    for name, obj in brain.project.objects.items():
        words = {name.lower(), *(w.lower() for w in obj.synonyms)}
        for word in sorted(words, key=len, reverse=True):
            found = re.search(rf"\b{re.escape(word)}\s+#?([A-Za-z0-9][\w-]*\d[\w-]*)\b", question, re.IGNORECASE)
            if found:
                return LookupPlan(object=name, key=found.group(1))
    return None


def run(
    brain: Brain,
    plan: ScenarioPlan | ReplanPlan | ReasonsPlan | LookupPlan | WhatIfPlan,
    user: str | Principal | None,
) -> dict[str, Any]:
    """Run the plan as the user: the answer's words, and a table of evidence."""
    if isinstance(plan, WhatIfPlan):
        from companybrain.copilot import whatif

        return whatif.run(brain, plan, user)
    if isinstance(plan, ScenarioPlan):
        from companybrain.decisions.scenarios import run_scenario

        runs = run_scenario(brain, plan.name, user)
        kpis = [k for k in runs.kpis if k["kpi"] in plan.kpis] or runs.kpis  # what was asked, else every KPI
        rows = [[k["kpi"], k["baseline"], k["scenario"], k["diff"], k["diff_pct"]] for k in kpis]
        if len(kpis) < len(runs.kpis):  # "how much capex does the Pune line assume": that figure first
            from companybrain.copilot.answer import fmt

            moved = [
                f"{k['kpi'].replace('_', ' ')} {fmt(k['scenario'], k.get('format', 'number'))} against "
                f"{fmt(k['baseline'], k.get('format', 'number'))}"
                if k.get("status") == "ok"
                else f"{k['kpi'].replace('_', ' ')}: {k.get('status')}"
                for k in kpis
            ]
        else:
            moved = [f"{k['kpi']} {k['diff_pct']:+.1%}" for k in kpis if isinstance(k.get("diff_pct"), int | float)]
        text = (
            f"Scenario {plan.name} over {runs.period['from']} .. {runs.period['to']}, against the baseline: "
            + (", ".join(moved[:5]) or "no KPI moved")
            + "."
        )
        return {"text": text, "columns": ["kpi", "baseline", "scenario", "diff", "diff_pct"], "rows": rows}
    if isinstance(plan, ReplanPlan):
        from companybrain.decisions.network import Disruption

        disruption = Disruption(
            site=plan.site, line=plan.line, capacity=plan.capacity, start=plan.start, days=plan.days
        )
        result = brain.replan(disruption, user).as_dict()
        actions = result.get("actions", [])
        counts: dict[str, int] = {}
        for action in actions:
            counts[action["action"]] = counts.get(action["action"], 0) + 1
        kpis = result.get("kpis", {})
        rows = [
            [name, kpis.get("baseline", {}).get(name), kpis.get("plan", {}).get(name)] for name in kpis.get("plan", {})
        ]
        what = ", ".join(f"{n} {kind}s" for kind, n in sorted(counts.items())) or "no change needed"
        text = (
            f"With {plan.site}{' ' + plan.line if plan.line else ''} down from {plan.start} for {plan.days} days, "
            f"the plan: {what}; who to tell: {len(result.get('notifications', []))} people. "
            "Approve it with `brain replan ... --propose` or in the cockpit."
        )
        return {"text": text, "columns": ["kpi", "local scramble", "plan"], "rows": rows}
    if isinstance(plan, LookupPlan):
        shown = brain.object(plan.object, plan.key, user)["properties"]
        rows = [[k, v] for k, v in shown.items()]
        masked = [k for k, v in shown.items() if v == "***"]
        brief = ", ".join(f"{k} {v}" for k, v in list(shown.items())[1:7] if v not in (None, "***"))
        text = f"{plan.object} {plan.key}: {brief}." + (f" Masked for you: {', '.join(masked)}." if masked else "")
        return {"text": text, "columns": ["property", "value"], "rows": rows}
    found = brain.object(plan.object, plan.key, user)["properties"]
    score = found.get(plan.property)
    if score == "***":
        raise PolicyDenied(f"{plan.object}.{plan.property} is masked for this user", policy="masking")
    if score is None:
        raise BrainError(f"{plan.object} {plan.key} has no {plan.property} yet (not scored)")
    reasons = found.get(f"{plan.property}_reasons") or "none recorded (only the highest scores carry reasons)"
    version = found.get(f"{plan.property}_version")
    text = f"{plan.object} {plan.key}: {plan.property} {float(score):.2f} ({version}). Reasons: {reasons}."
    return {
        "text": text,
        "columns": ["object", "key", plan.property, "reasons", "model_version"],
        "rows": [[plan.object, plan.key, score, reasons, version]],
    }

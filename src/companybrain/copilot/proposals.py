"""Questions that ask the brain to change something: "delay order 1234 by 5 days" becomes a proposal.

The kind of change (delay, prioritise, move) names the action type that declares `from_replan: <kind>`
in actions/*.yaml, and the question's words fill only the parameters a replan action carries under the
same names (order_id, delay_days, new_date, line, from_line, to_line, week). Everything else is read
from the company's data (`of:`) or computed (`expr:`) by the action desk when the plan runs; a value
neither the question nor the data gives makes the copilot ask, never guess. Running submits through
ActionDesk.propose as the asking user - submit rights, checks, objects, policies and audit as for
`brain actions propose` - and never applies anything: the people the approval rule names decide.
"""

from __future__ import annotations

import re
from datetime import date
from typing import TYPE_CHECKING, Any

from companybrain.copilot.plan import AnyPlan, ClarifyPlan, ProposePlan, RefusePlan

if TYPE_CHECKING:
    from companybrain.brain import Brain
    from companybrain.governance.principal import Principal

VERBS = {
    "delay": re.compile(r"\b(delay|postpone|defer|push(?:\s+(?:back|out))?|slip|reschedule)\b"),
    # not "expedite": that is a purchased part's action (a supplier delivers sooner), not an order's place in line
    "prioritise": re.compile(r"\b(prioriti[sz]e|rush|fast[- ]track|put\b.*\bfirst|sequence\b.*\bfirst)\b"),
    "move": re.compile(r"\b(move|shift|transfer|reassign|relocate)\b"),
}
# a request, not a question about one: the verb comes first, after at most a polite or collective lead-in
REQUEST = re.compile(
    r"\s*(?:(?:please|pls|kindly)\s+|(?:can|could|would|will)\s+(?:you|we)\s+(?:please\s+)?"
    r"|(?:let's|lets|let us)\s+|(?:we|i)\s+(?:need|want|have|would like|'d like)\s+to\s+|(?:i'd|we'd)\s+like\s+to\s+)*"
)
WHAT_IF = re.compile(r"\b(what[- ]if|what would happen|scenario|simulate|why)\b")
DAYS = re.compile(r"\bby\s+(\d{1,3}|an?|one|two|three|four)\s*(days?|weeks?)\b")
WEEK = re.compile(r"\bweek\s+(\d{1,2})\b")
ISO_DAY = re.compile(r"\b(20\d\d-\d\d-\d\d)\b")
MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
MONTH = r"(jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec)[a-z]*\.?"
NAMED_DAY = re.compile(
    rf"\b(?:{MONTH}\s+(\d{{1,2}})(?:st|nd|rd|th)?|(\d{{1,2}})(?:st|nd|rd|th)?\s+(?:of\s+)?{MONTH})(?:,?\s+(20\d\d))?\b"
)
LINE_KEY = r"([A-Za-z]{2,5}-[A-Za-z]{0,2}\d{1,3})"
NUMBER_WORDS = {"a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4}
HINTS = {
    "new_date": "to which date, e.g. 'to 2026-03-20'",
    "delay_days": "by how many days, e.g. 'by 5 days'",
    "week": "in which week of the plan, e.g. 'in week 2'",
    "line": "on which line, e.g. 'on MKE-L3'",
    "from_line": "from which line, e.g. 'from MKE-L3'",
    "to_line": "to which line, e.g. 'to MKE-L4'",
}


def recognise(brain: Brain, question: str, today: date) -> AnyPlan | None:
    """A proposal plan for a question that asks to delay, prioritise or move an order; a clarifying
    question when it lacks what only the asker can say; None when it asks for no change."""
    text = question.lower()
    if WHAT_IF.search(text):
        return None  # "what if we delay ...": a what-if, not a request to act
    lead = REQUEST.match(text)
    start = lead.end() if lead else 0
    kinds = [kind for kind, verb in VERBS.items() if verb.match(text, start)]
    kinds += [kind for kind, verb in VERBS.items() if kind not in kinds and verb.search(text, start + 1)]
    if not kinds or not any(verb.match(text, start) for verb in VERBS.values()):
        return None  # "did we delay order 1234?", "which suppliers delay orders": asked about, not asked for
    types: dict[str, str] = {t.from_replan: name for name, t in brain.project.actions.items() if t.from_replan}
    spec_name = types.get(kinds[0])
    order_param = _order_parameter(brain, spec_name)
    if order_param is None:
        return None
    param, type_name, words = order_param
    found = _key(question, words)
    if found is None:
        if not re.search(rf"\b({'|'.join(map(re.escape, words))})s?\b", text):
            return None  # "move faster on quality": no order named, not a request about one
        return ClarifyPlan(question=f"Which {type_name.lower()}? Name it by its number, e.g. "
                           f"'{kinds[0]} {type_name.lower()} 1234 ...'.")  # fmt: skip
    key, end = found
    if len(kinds) > 1:
        return ClarifyPlan(question=f"Do you want to {' or '.join(kinds)} {type_name.lower()} {key}? One change at "
                           "a time.", options=[f"{k} {type_name.lower()} {key}" for k in kinds])  # fmt: skip
    assert spec_name is not None
    given: dict[str, str | int | float | bool] = {param: int(key) if key.isdigit() else key}
    kind = kinds[0]
    rest = question[end:]
    if kind == "delay":
        days, day = DAYS.search(rest.lower()), _day(rest.lower(), today)
        if days and day:
            return ClarifyPlan(question="By how many days, or to which date? Say one, not both.",
                               options=[f"delay {type_name.lower()} {key} {days.group(0)}",
                                        f"delay {type_name.lower()} {key} to {day}"])  # fmt: skip
        if days:
            count = NUMBER_WORDS.get(days.group(1)) or int(days.group(1))
            given["delay_days"] = count * (7 if days.group(2).startswith("week") else 1)
        elif day:
            given["new_date"] = day.isoformat()
    lines = [m.upper() for m in re.findall(rf"\b{LINE_KEY}\b", rest)]
    if kind == "prioritise" and lines:
        given["line"] = lines[0]
    if kind == "move":
        source = re.search(rf"\bfrom\s+(?:line\s+)?{LINE_KEY}\b", rest, re.IGNORECASE)
        target = re.search(rf"\b(?:to|onto)\s+(?:line\s+)?{LINE_KEY}\b", rest, re.IGNORECASE)
        if source:
            given["from_line"] = source.group(1).upper()
        if target:
            given["to_line"] = target.group(1).upper()
    if (week := WEEK.search(rest.lower())) and kind in ("prioritise", "move"):
        given["week"] = int(week.group(1))
    plan = ProposePlan(action=spec_name, parameters=given)
    return needs(brain, plan) or plan


def needs(brain: Brain, plan: ProposePlan) -> ClarifyPlan | None:
    """The clarifying question for what neither the plan nor the data fills, or None when nothing is missing."""
    desk = brain.actions
    spec = desk.action_type(plan.action)
    # what the data would read once its source is given is not asked for: only what the asker must say
    missing = [p for p in desk.unfilled(plan.action, dict(plan.parameters)) if not spec.parameters[p].of]
    if not missing:
        return None
    asks = [HINTS.get(p) or f"{p} ({spec.parameters[p].description or spec.parameters[p].type})" for p in missing]
    joined = " or ".join(asks) if set(missing) <= {"new_date", "delay_days"} else "; ".join(asks)
    return ClarifyPlan(
        question=f"To propose {plan.action} I still need {joined}. I will not guess it.",
        options=[p for p in missing],
    )


def run(brain: Brain, plan: ProposePlan, user: str | Principal | None, dry_run: bool = False) -> dict[str, Any]:
    """Submit the proposal as the user (a dry run checks it all and stores nothing): the answer's words,
    and a table of what was proposed, where each value came from, and who must approve it."""
    desk = brain.actions
    [action] = desk.propose([(plan.action, dict(plan.parameters))], user, source="copilot", dry_run=dry_run)
    spec = desk.action_type(plan.action)
    params = action["parameters"]
    approval = desk.approval_needed(plan.action, params)
    rows: list[list[Any]] = [["action_type", plan.action, "plan"], ["action_id", action["action_id"], "store"]]
    rows.append(["status", action["status"], "store"])
    groups: dict[str, list[str]] = {}
    for pname, p in spec.parameters.items():
        value = params.get(pname)
        if value is None:
            continue
        origin = (
            "asked" if pname in plan.parameters else "read from data" if p.of else "computed" if p.expr else "default"
        )
        rows.append([pname, value, origin])
        groups.setdefault(origin, []).append(
            f"{pname} {_shown(value)}" + (f" ({p.of})" if origin == "read from data" else "")
        )
    rows.append(["approval", approval, "approval rule"])
    parts = [f"{origin.capitalize()}: {', '.join(items)}." for origin, items in groups.items()]
    if dry_run:
        head = f"Checked, not stored (dry run): {plan.action} would be proposed."
    else:
        head = (
            f"Proposed action {action['action_id']} ({plan.action}), awaiting approval: nothing changes until "
            "it is approved."
        )
    tail = f" Who must approve: {approval.removeprefix('otherwise: ')}."
    if not dry_run:
        tail += f" (`brain actions approve {action['action_id']}`)"
    return {"text": " ".join([head, *parts]) + tail, "columns": ["field", "value", "source"], "rows": rows}


def refusal_without_scope() -> RefusePlan:
    """The refusal for a proposal asked with credentials that may read but not submit actions."""
    return RefusePlan(
        reason="these credentials may read but not submit actions (they lack the scope 'write:actions'); ask "
        "with a token that carries it (brain tokens create USER --scope read:metrics --scope write:actions)",
        policy="scope:write:actions",
    )


def _order_parameter(brain: Brain, action: str | None) -> tuple[str, str, list[str]] | None:
    """The parameter naming the object the change is about (`order_id`), its type and the words for it."""
    if action is None:
        return None
    spec = brain.project.actions[action]
    param = spec.parameters.get("order_id")
    if param is None or param.object is None or param.object not in brain.project.objects:
        return None
    obj = brain.project.objects[param.object]
    words = sorted({param.object.lower(), *(w.lower() for w in obj.synonyms)}, key=len, reverse=True)
    return "order_id", param.object, words


def _key(question: str, words: list[str]) -> tuple[str, int] | None:
    """The key named after the object's word ("order 1234", "order #1234"), and where it ends."""
    for word in words:
        # "purchase order 555" is not order 555
        pattern = rf"(?<!purchase )\b{re.escape(word)}s?\s+(?:no\.?\s*|number\s+|#)?#?(\d[\w-]*)\b"
        found = re.search(pattern, question, re.IGNORECASE)
        if found:
            return found.group(1), found.end(1)
    return None


def _day(text: str, today: date) -> date | None:
    """'to 2026-03-20', 'until March 20', 'to the 20th of March 2026': the date asked for (the next such day
    when no year is said)."""
    if not re.search(r"\b(to|until|till|on|for)\b", text):
        return None
    if iso := ISO_DAY.search(text):
        try:
            return date.fromisoformat(iso.group(1))
        except ValueError:
            return None
    named = NAMED_DAY.search(text)
    if named is None:
        return None
    month_name = named.group(1) or named.group(4)
    day = int(named.group(2) or named.group(3))
    month = MONTHS.index(month_name[:3]) + 1
    try:
        found = date(int(named.group(5)) if named.group(5) else today.year, month, day)
    except ValueError:
        return None
    if not named.group(5) and found < today:
        found = found.replace(year=today.year + 1)
    return found


def _shown(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.2f}" if not value.is_integer() else f"{value:.0f}"
    return str(value)

"""The embedded engine: a question becomes a plan using only the semantic model's own vocabulary.

Deterministic and conservative: words it cannot place make it ask, several readings make it
ask, and what the user may not read makes it refuse. It never guesses a metric.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date

from rapidfuzz import fuzz, process

from companybrain.copilot.plan import AnyPlan, ClarifyPlan, CountPlan, MetricPlan, RefusePlan
from companybrain.copilot.timeexpr import parse_time
from companybrain.copilot.vocabulary import Term, Vocabulary, raw_tokens, singular, tokens
from companybrain.errors import BrainError, PolicyDenied

Checker = Callable[[MetricPlan], None]  # raises when the plan does not validate for the user

HEADLINE = ["revenue", "gross_margin", "margin_pct", "on_time_delivery", "backlog", "win_rate", "headcount"]
STOP = set(
    tokens(
        "what whats what's is are was were be been being the a an of for in on at to from by per with and or "
        "me show give tell list how much many our we us my i do did does this that these those it its there "
        "their please can could would you your which who where when value total overall breakdown broken down "
        "split across each every all compare comparison compared versus vs against current currently now about "
        "same also too only just instead then as than display get see chart plot graph table report figure "
        "number numbers metric metrics kpi have has had top bottom highest lowest most least best worst "
        "largest biggest smallest fewest greatest rank ranked ranking sorted sort did happen during over since "
        "between year quarter month week day days weeks months years so far trend trends trending monthly "
        "quarterly yearly weekly daily annual annually ytd qtd mtd last previous prior past this next vs "
        "h1 h2 q1 q2 q3 q4 first second half whole entire company acme we're were our overall my "
        "dataset data look like looking want need know see much biggest lot lots any some was "
        "jan january feb february mar march apr april may june jun july jul august aug september sep sept october "
        "oct november nov december dec today yesterday how's going one ones"
    )
)
VAGUE = set(tokens("doing perform performing performance going overview status health business thing summary "
                   "update dashboard everything anything numbers kpis results result good bad ok okay"))  # fmt: skip
SENSITIVE = re.compile(
    r"\b(salar(?:y|ies)|payroll|compensation|wages?|bonus(?:es)?|pay(?:check| band| grade)?s?|ssn|social security"
    r"|home address(?:es)?|phone numbers?|email address(?:es)?|passwords?|credentials?|performance ratings?"
    r"|date of birth|birthdays?)\b"
)
INJECTION = re.compile(
    r"ignore (?:all |any |the )?(?:previous|prior|above|earlier|your)|disregard|system prompt|jailbreak|pretend"
    r"|\bact as\b|you are now|developer mode|\bdrop table\b|\bdelete from\b|\binsert into\b|\bselect\b.+\bfrom\b"
    r"|;\s*--|\bexec(?:ute)?\b|run (?:this |the )?(?:code|sql|python|script|query)|import os|rm -rf|\bsql\b"
    r"|bypass|override (?:the )?polic|without (?:the |any |my )?(?:row |region )?(?:filter|polic|restriction)"
)
# a URL, an address, or "send ... to": the copilot answers the asker here and never calls out
EXFILTRATION = re.compile(
    r"\b[a-z][a-z0-9+.-]*://|\bwww\.|[\w.+-]+@[\w-]+\.[a-z]|\b(?:send|post|upload|e-?mail|forward|exfiltrate)\b.*\bto\b"
)
COUNT = re.compile(
    r"\b(?:how many|number of|count of|count the|count)\s+(?:the |our |all |active )?([a-z]+(?: [a-z]+)?)"
)
GROWTH = re.compile(
    r"\b(?:growth|grow|grows|grew|grown|growing|yoy|qoq)\b"
    r"|\b(?:year|quarter|month) (?:over|on) (?:year|quarter|month)\b"
)
# "how much did we sell": the sales figure (units sold are asked for as units)
SELL = re.compile(r"\b(how much (?:did|do|have|has|will)? ?(?:we|i|acme|the company)? ?)(?:sell|sold|selling)\b")
DOWN_WORDS = {"lowest", "least", "smallest", "fewest", "bottom", "worst", "minimum", "min"}
UP_WORDS = {"top", "highest", "most", "largest", "biggest", "best", "greatest", "maximum", "max"}
LOWER_IS_BETTER = re.compile(
    r"cost|scrap|defect|late|delay|downtime|failure|exit|attrition|return|warranty|ticket|cycle"
)


@dataclass
class Draft:
    """What was recognised in one question, before it becomes a plan."""

    metrics: list[str] = field(default_factory=list)
    ambiguous: dict[str, list[str]] = field(default_factory=dict)  # word -> candidate metrics
    dims: list[str] = field(default_factory=list)
    explicit: set[str] = field(default_factory=set)  # dimensions asked for with by/per/each/which
    values: list[tuple[str, set[Term]]] = field(default_factory=list)  # phrase -> candidate values
    period: str | None = None
    grain: str | None = None
    rank: tuple[str, int | None] | None = None  # ("asc"|"desc", limit)
    rank_metric: str | None = None
    unknown: list[str] = field(default_factory=list)
    vague: bool = False
    counted: str | None = None  # "how many customers ...": the object type to count
    growth: bool = False  # "revenue growth in 2025": this period beside the one before, by its grain
    today: date | None = None


def plan_question(
    question: str, vocab: Vocabulary, today: date, check: Checker, previous: MetricPlan | None = None
) -> AnyPlan:
    """Plan a question; `check` validates a candidate plan for the asking user (compiles it)."""
    text = " " + question.lower().strip() + " "
    screened = screen(question)
    if screened is not None:
        return screened
    draft = _recognise(question, vocab, today)
    if previous is not None:
        return _follow_up(draft, previous, text, check)
    return _to_plan(draft, vocab, check)


def screen(question: str) -> RefusePlan | None:
    """The refusal for instructions, SQL, code or personal data in a question, before any engine reads it."""
    text = " " + question.lower().strip() + " "
    if INJECTION.search(text):
        return RefusePlan(reason="I only answer questions about the company's metrics; instructions, SQL and code "
                          "are not accepted.", policy="copilot-scope")  # fmt: skip
    if EXFILTRATION.search(text):
        return RefusePlan(reason="I answer here, to you; I do not send data to addresses or URLs.",
                          policy="copilot-scope")  # fmt: skip
    if SENSITIVE.search(text):
        return RefusePlan(reason="Individual pay and personal data are not available through the copilot: no metric "
                          "exposes them and the policy masks them.", policy="masking")  # fmt: skip
    return None


def _recognise(question: str, vocab: Vocabulary, today: date) -> Draft:
    draft = Draft()
    lower = question.lower()
    timing = parse_time(lower, today)
    draft.period, draft.grain = timing.period, timing.grain
    for start, end in sorted(timing.spans, reverse=True):
        lower = lower[:start] + " " + lower[end:]
    draft.today = today
    if counted := COUNT.search(lower):
        words = tokens(counted[1])
        for n in (2, 1):
            kinds = {t.kind for t in vocab.phrases.get(tuple(words[:n]), set())}
            if len(words) >= n and tuple(words[:n]) in vocab.object_types and "metric" not in kinds:
                # "how many machines" counts Machine objects; it is not a word of machine_failures
                draft.counted = vocab.object_types[tuple(words[:n])]
                cut = counted.start(1) + len(" ".join(counted[1].split()[:n]))
                lower = lower[: counted.start(1)] + " " + lower[cut:]
                break
    if GROWTH.search(question.lower()):
        draft.growth = True
        lower = GROWTH.sub(" ", lower)
    lower = SELL.sub(r"\1 sales ", lower)
    short = [(m.start(), m.group()) for m in re.finditer(r"\b[A-Z]{2}\b", question) if m.group() in vocab.short_values]
    for _, value in short:
        draft.values.append((value, vocab.short_values[value]))
        lower = re.sub(rf"\b{value.lower()}\b", " ", lower, count=1)
    words = tokens(lower)
    known = vocab.words()
    words = [_correct(w, known) for w in words]
    raw_words = raw_tokens(lower)
    if len(raw_words) != len(words):
        raw_words = words
    i, by_next, rank_seen, after_value = 0, False, False, False
    while i < len(words):
        for n in range(min(vocab.longest, len(words) - i), 0, -1):
            terms = vocab.phrases.get(tuple(words[i : i + n]))
            if terms:
                flags = (by_next, rank_seen, after_value)
                _place(draft, " ".join(words[i : i + n]), terms, flags, tuple(raw_words[i : i + n]), vocab.exact)
                after_value = bool(draft.values) and draft.values[-1][0] == " ".join(words[i : i + n])
                i += n
                break
        else:
            after_value = False
            w = words[i]
            by_next = w in ("by", "per", "each", "across", "which")
            if w in UP_WORDS | DOWN_WORDS:
                rank_seen = True
                draft.rank = ("asc" if w in DOWN_WORDS else "desc", _limit(words, i))
                if w in ("best", "worst"):
                    draft.rank = (w, draft.rank[1])
            elif not w.isdigit() and w not in STOP:
                if w in VAGUE:
                    draft.vague = True
                else:
                    candidates = sorted({t.name for key, ts in vocab.phrases.items() if w in key for t in ts
                                         if t.kind == "metric"})  # fmt: skip
                    # a bare word names a metric only when it is part of that one metric's own name
                    named = [c for c in candidates if w in tokens(c.replace("_", " "))]
                    if len(w) > 3 and len(candidates) == 1 and named:
                        draft.metrics.append(candidates[0])
                    elif len(w) > 3 and candidates:
                        draft.ambiguous[w] = candidates
                    else:
                        draft.unknown.append(w)
            i += 1
            continue
        by_next = False
    return draft


def _correct(word: str, known: set[str]) -> str:
    """A typo fixed to the vocabulary word it is close to ("revenu" -> "revenue")."""
    if word in known or word in STOP or word in VAGUE or len(word) < 5 or word.isdigit():
        return word
    match = process.extractOne(word, known, scorer=fuzz.ratio, score_cutoff=85)
    return singular(match[0]) if match else word


def _limit(words: list[str], i: int) -> int | None:
    nxt = words[i + 1] if i + 1 < len(words) else ""
    return int(nxt) if nxt.isdigit() and 0 < int(nxt) <= 1000 else None


def _place(
    draft: Draft,
    phrase: str,
    terms: set[Term],
    flags: tuple[bool, bool, bool],
    raw: tuple[str, ...],
    exact: dict[tuple[str, ...], set[Term]],
) -> None:
    by_next, rank_seen, after_value = flags
    named = {
        t for t in terms if t.kind == "metric" and tuple(tokens(t.name.replace("_", " "))) == tuple(phrase.split())
    }
    terms = named or terms  # a metric's own name beats another's synonym that reads the same
    if "metric" in {t.kind for t in terms}:  # "sales" is revenue before it is the Sales function
        terms = {t for t in terms if t.kind == "metric"}
    if len(terms) > 1 and raw in exact:  # "supplier delay" vs "supplier delays": the exact spelling decides
        terms = exact[raw] & terms or terms
    kinds = {t.kind for t in terms}
    if kinds == {"dimension"} and after_value and not by_next:
        return  # "OEM customers": the noun a value qualifies, not a breakdown
    if kinds == {"metric"}:
        names = sorted(t.name for t in terms)
        if len(names) > 1:
            draft.ambiguous[phrase] = names
        elif names[0] not in draft.metrics:
            draft.metrics.append(names[0])
            if by_next and rank_seen:
                draft.rank_metric = names[0]
    elif "dimension" in kinds and (by_next or "value" not in kinds):
        for t in terms:
            if t.kind == "dimension" and t.name not in draft.dims:
                draft.dims.append(t.name)
            if t.kind == "dimension" and by_next:
                draft.explicit.add(t.name)
    else:
        draft.values.append((phrase, {t for t in terms if t.kind == "value"}))


def _to_plan(draft: Draft, vocab: Vocabulary, check: Checker) -> AnyPlan:
    if draft.ambiguous:
        word, options = next(iter(draft.ambiguous.items()))
        return ClarifyPlan(question=f"Which '{word}' do you mean?", options=options)
    if not draft.metrics and draft.counted is not None:
        return _count(draft, vocab)
    if not draft.metrics:
        if draft.unknown and not draft.vague:
            return RefusePlan(reason=f"The semantic model has no metric for {', '.join(map(repr, draft.unknown))}; "
                              "ask about a metric (`brain metrics` lists them).", policy=None)  # fmt: skip
        return ClarifyPlan(question="Which metric do you want to see?", options=HEADLINE)
    if draft.unknown:
        partial = sorted({f"{t.name} = {t.value}" for key, ts in vocab.phrases.items() if draft.unknown[0] in key
                          for t in ts if t.kind == "value"})  # fmt: skip
        if partial:
            return ClarifyPlan(question=f"Which one do you mean by {draft.unknown[0]!r}?", options=partial[:12])
        return ClarifyPlan(
            question=f"I do not know what {', '.join(map(repr, draft.unknown))} means here; I will not guess. "
            "Rephrase with a metric, a dimension (by region, by site, ...) or a known value.",
            options=draft.metrics,
        )
    return _finish(draft, check)


def _finish(draft: Draft, check: Checker, base: MetricPlan | None = None) -> AnyPlan:
    metrics = draft.metrics or (list(base.metrics) if base else [])
    by = list(base.by) if base else []
    for dim in draft.dims:
        if dim not in by:
            by.append(dim)
    if draft.grain and draft.grain not in by:
        by = [draft.grain, *by]
    where = dict(base.where) if base else {}
    per_dim: dict[str, list[str]] = {}
    for phrase, terms in draft.values:
        values = {t.value for t in terms if t.value is not None}
        dims = sorted({t.name for t in terms}, key=lambda d: (d.startswith("sales_"), d))
        chosen = _reachable(dims, metrics, check)
        if chosen is None:
            return ClarifyPlan(question=f"{phrase!r} is a value of {', '.join(dims)}, which "
                               f"{', '.join(metrics)} cannot be broken down by.", options=dims)  # fmt: skip
        candidates = sorted({t.value for t in terms if t.name == chosen and t.value is not None} or values)
        if len(candidates) > 1:
            return ClarifyPlan(question=f"Which {chosen} do you mean by {phrase!r}?", options=candidates)
        per_dim.setdefault(chosen, [])
        if candidates[0] not in per_dim[chosen]:
            per_dim[chosen].append(candidates[0])
    where.update(per_dim)
    # "backlog in the NA region": the dimension word names the filter, it is not a breakdown
    by = [d for d in by if not (d in draft.dims and d not in draft.explicit and len(per_dim.get(d, [])) == 1)]
    for dim, chosen_values in per_dim.items():
        if len(chosen_values) > 1 and dim not in by:
            by.append(dim)
    period = draft.period or (base.period if base else None)
    if draft.growth:
        grown = growth_period(period, draft.grain, draft.today or date.today())
        if grown is None:
            return ClarifyPlan(question="Growth over which periods? Name them, e.g. '2025 vs 2024', 'Q4 2025' or "
                               "'by quarter in 2025'.", options=["2025 vs 2024", "by quarter", "by month"])  # fmt: skip
        period, grain = grown
        by = [grain, *[d for d in by if d != grain]]
    order_by, limit = (list(base.order_by), base.limit) if base else ([], None)
    if draft.rank is not None:
        ranked = [d for d in by if d not in ("day", "week", "month", "quarter", "year")]
        if not ranked:
            return ClarifyPlan(question="Ranked by what? Name what to rank, e.g. customers, sites or regions.",
                               options=["customer", "site", "region", "product", "segment"])  # fmt: skip
        metric = draft.rank_metric or metrics[0]
        direction, limit = draft.rank
        if direction in ("best", "worst"):
            better_low = bool(LOWER_IS_BETTER.search(metric))
            direction = "asc" if (direction == "best") == better_low else "desc"
        order_by = [("-" if direction == "desc" else "") + metric]
        limit = limit or 1
    plan = MetricPlan(metrics=metrics, by=by, where=where, period=period, order_by=order_by, limit=limit)
    try:
        check(plan)
    except PolicyDenied as exc:
        return RefusePlan(reason=exc.message, policy=exc.policy)
    except BrainError as exc:
        return ClarifyPlan(question=f"I cannot answer that as asked: {exc.message}", options=[])
    return plan


def _count(draft: Draft, vocab: Vocabulary) -> AnyPlan:
    """How many objects of a type, filtered on values of its own properties; anything else asks."""
    counted = draft.counted
    assert counted is not None
    if draft.unknown:
        return ClarifyPlan(question=f"I do not know what {', '.join(map(repr, draft.unknown))} means here; I will "
                           "not guess.", options=[])  # fmt: skip
    if draft.period or draft.explicit or draft.rank:
        return ClarifyPlan(question=f"I can count the {counted} objects you may see as they are now, filtered on "
                           "their own values, not over a period or broken down; which metric do you mean?",
                           options=sorted(n for n, d in vocab.metric_formats.items() if d == "count")[:12])  # fmt: skip
    where: dict[str, list[str]] = {}
    for phrase, terms in draft.values:
        own = sorted({(vocab.properties[t.name][1], t.value) for t in terms if t.value is not None
                      and vocab.properties.get(t.name, ("", ""))[0] == counted})  # fmt: skip
        if len({prop for prop, _ in own}) != 1:
            return ClarifyPlan(question=f"I can count {counted} objects only by their own values; {phrase!r} is "
                               f"not one of them.", options=[])  # fmt: skip
        values = sorted({value for _, value in own if value is not None})
        if len(values) > 1:
            return ClarifyPlan(question=f"Which one do you mean by {phrase!r}?", options=values)
        where.setdefault(own[0][0], []).append(values[0])
    return CountPlan(object=counted, where=where)


def growth_period(period: str | None, grain: str | None, today: date) -> tuple[str | None, str] | None:
    """The period and grain that show growth: a year, quarter or month beside the one before it; a range or
    an explicit grain as asked; None when the question does not say over what."""
    if period is None and grain in ("year", "quarter", "month"):
        # "year over year": the last complete periods, never the one still running
        count = {"year": 2, "quarter": 4, "month": 12}[grain]
        if grain == "year":
            return f"{today.year - count}-01-01..{today.year - 1}-12-31", grain
        months = 3 if grain == "quarter" else 1
        end = _month_start(today.year, today.month, -((today.month - 1) % months))
        start = _month_start(end.year, end.month, -count * months)
        return f"{start}..{date.fromordinal(end.toordinal() - 1)}", grain
    if period is None or ".." in period:
        return (period, grain) if grain else None
    relative = {"last_year": str(today.year - 1), "this_year": None, "last_quarter": _quarter(today, -1),
                "this_quarter": None, "last_month": _month(today, -1)}  # fmt: skip
    period = relative.get(period, period)
    if period is None:
        return None
    if re.fullmatch(r"\d{4}", period):
        year = int(period)
        return f"{year - 1}-01-01..{year}-12-31", "year"
    if m := re.fullmatch(r"(\d{4})-Q([1-4])", period):
        year, quarter = int(m[1]), int(m[2])
        prev_year, prev_quarter = (year, quarter - 1) if quarter > 1 else (year - 1, 4)
        end = date(year + (quarter == 4), quarter * 3 % 12 + 1, 1)
        return f"{date(prev_year, prev_quarter * 3 - 2, 1)}..{date.fromordinal(end.toordinal() - 1)}", "quarter"
    if m := re.fullmatch(r"(\d{4})-(\d{2})", period):
        year, month = int(m[1]), int(m[2])
        start = _month_start(year, month, -1)
        end = _month_start(year, month, 1)
        return f"{start}..{date.fromordinal(end.toordinal() - 1)}", "month"
    return None


def _month_start(year: int, month: int, shift: int) -> date:
    index = year * 12 + month - 1 + shift
    return date(index // 12, index % 12 + 1, 1)


def _quarter(today: date, shift: int) -> str:
    index = today.year * 4 + (today.month - 1) // 3 + shift
    return f"{index // 4}-Q{index % 4 + 1}"


def _month(today: date, shift: int) -> str:
    start = _month_start(today.year, today.month, shift)
    return f"{start.year}-{start.month:02d}"


def _reachable(dims: list[str], metrics: list[str], check: Checker) -> str | None:
    """The first dimension the metrics can be filtered on."""
    for dim in dims:
        try:
            check(MetricPlan(metrics=metrics, by=[dim]))
        except PolicyDenied:
            return dim  # the refusal comes with the whole plan
        except BrainError:
            continue
        return dim
    return None


def _follow_up(draft: Draft, previous: MetricPlan, text: str, check: Checker) -> AnyPlan:
    """Modify the previous plan: new metrics replace (or add, with 'also'), dimensions add, values and
    the period replace, a new ranking replaces."""
    if draft.ambiguous:
        word, options = next(iter(draft.ambiguous.items()))
        return ClarifyPlan(question=f"Which '{word}' do you mean?", options=options)
    if draft.unknown:
        return ClarifyPlan(question=f"I do not know what {', '.join(map(repr, draft.unknown))} means here.")
    if draft.metrics and re.search(r"\b(also|add|too|as well|and)\b", text):
        draft.metrics = [*previous.metrics, *[m for m in draft.metrics if m not in previous.metrics]]
    base = previous
    if re.search(r"\binstead\b", text) and draft.dims:
        base = previous.model_copy(update={"by": []})
    return _finish(draft, check, base)

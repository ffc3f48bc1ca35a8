"""The planner: one reading of a question (copilot/reading.py) becomes a plan - a metric query, a count
of objects, a list of what a model scored, an object by its key - checked for the asking user.

Words that cannot change the plan (a verb, a filler) do not stop it, and the plan says how the question
was read and what was ignored; it asks only when a word could change the answer (an unknown name, two
metrics equally meant, a slot left open) and refuses what the user may not read. It never guesses.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from companybrain.copilot.counting import date_stems
from companybrain.copilot.growth import EXPLICIT_GRAIN, growth_period, two_periods, with_one_before
from companybrain.copilot.keyed import Keyed
from companybrain.copilot.metric_choice import MetricChoice
from companybrain.copilot.plan import (
    AnyPlan,
    ClarifyPlan,
    CountPlan,
    MetricPlan,
    RefusePlan,
)
from companybrain.copilot.reading import Reading
from companybrain.copilot.resolve import (
    COUNTING,
    GROWTH,
    HEADLINE,
    HOW_WHAT,
    LOWER_IS_BETTER,
    NEGATION,
    TIME_GRAINS,
    Checker,
)
from companybrain.copilot.unknown_words import SHARE
from companybrain.copilot.vocabulary import Vocabulary, singular, stem, tokens
from companybrain.errors import BrainError
from companybrain.semantic.period import parse_period


@dataclass
class Understood:
    """A plan and how the question was read (said in the answer)."""

    plan: AnyPlan
    reading: str | None = None


class Planner(MetricChoice, Keyed):
    """One reading of one question becoming a plan, checked for the asking user."""

    def __init__(
        self, reading: Reading, vocab: Vocabulary, check: Checker, today: date, previous: MetricPlan | None
    ) -> None:
        self.r, self.vocab, self.check, self.today, self.previous = reading, vocab, check, today, previous
        self.notes: list[str] = []

    # --- the whole plan ---------------------------------------------------------------------------

    def plan(self) -> Understood:
        r = self.r
        if r.time.period is None and not r.time.compare and GROWTH.search(r.question.lower()) and not r.time.grain:
            return self._done(ClarifyPlan(question="Growth over which periods? Name them, e.g. '2025 vs 2024', "
                                          "'Q4 2025 against Q4 2024' or 'by quarter in 2025'.",
                                          options=["2025 vs 2024", "by quarter", "by month"]))  # fmt: skip
        counting = bool(COUNTING.search(r.question.lower()))
        subject = self._subject()
        predicted = self.predicted()
        if predicted is not None:
            if r.keys and not counting:
                return self._done(self._lookup(predicted[1]))
            return self._done(self._prediction_list(*predicted))
        how = HOW_WHAT.search(r.question.lower())
        if how and any(w == singular(how[1]) for w, _ in r.unknown) and not any(m.of("metric") for m in r.mentions):
            return self._done(RefusePlan(reason=f"The company model has no figure for how {how[1]} things are; ask "
                                         "about a metric (`brain metrics` lists them).", policy=None))  # fmt: skip
        hidden = self._hidden_asked()
        if hidden is not None:
            return self._done(hidden)
        if r.unseen:
            return self._done(RefusePlan(reason=f"{', '.join(r.unseen)} is outside the data you may see (or the "
                                         "company's data holds nothing there).", policy="row-filter"))  # fmt: skip
        metrics = self._unit_counted(self._metrics())
        if self.previous is not None and metrics == []:
            metrics = list(self.previous.metrics)  # "and by segment?": the same figures
        if (
            counting
            and subject is not None
            and (
                isinstance(metrics, ClarifyPlan)
                or not self._counted_by_metric(metrics, subject)
                or self._verb_names_date(subject)
            )
        ):
            return self._done(self._count(subject))
        if counting and isinstance(metrics, list) and len(metrics) == 1:  # "how many people did we hire in 2025"
            counted = self.vocab.metric_objects.get(metrics[0], set())
            if self.vocab.metric_formats.get(metrics[0]) == "count" and len(counted) == 1:
                (counted_type,) = counted
                if self._verb_names_date(counted_type):
                    return self._done(self._count(counted_type))
        if isinstance(metrics, ClarifyPlan):
            return self._done(metrics)
        if r.keys and not counting:
            keyed = self._keyed(metrics, subject)
            if keyed is not None:
                return self._done(keyed)
        if not metrics and subject is not None and self._by_mentions():
            return self._done(self._count(subject))
        if not metrics and counting and (valued := self._valued_subject()) is not None:
            return self._done(self._count(valued))
        if not metrics:
            if self._names_unknown():
                return self._done(self._unknown_clarify())
            if r.unknown or r.hints:
                words = [w for w, _ in r.unknown] + r.hints
                listed = ", ".join(map(repr, words))
                reason = (
                    f"The company model has no figure for {listed}; ask about a metric (`brain metrics` lists them)."
                )
                return self._done(RefusePlan(reason=reason, policy=None))
            if (sized := self._sized()) is not None:
                return self._done(sized)
            return self._done(ClarifyPlan(question="Which figure do you want to see?", options=HEADLINE))
        blocking = self._blocking({o for m in metrics for o in self.vocab.metric_objects.get(m, set())})
        if blocking:
            return self._done(self._unknown_clarify(metrics, blocking))
        unused = [w for w in r.hints if not any(w in self.vocab.metric_words.get(m, set()) for m in metrics)]
        if len({r.said.get(w, w) for w in unused}) >= 2:  # "average deal size": words the chosen figure does not use
            return self._done(self._unknown_clarify(metrics, unused))
        negated = next((m for m in r.mentions if m.before in NEGATION and m.of("value")), None)
        if negated is not None:
            return self._done(ClarifyPlan(question=f"I cannot leave out {negated.text!r} yet; ask for the values you "
                                          "want instead.", options=[]))  # fmt: skip
        plan = self._metric_plan(metrics)
        if isinstance(plan, MetricPlan) and not (plan.compare or plan.by) and COMPARING & set(r.ignored):
            ask = "Compare with what? Name the other period or the groups, e.g. '2025 vs 2024' or 'by region'."
            return self._done(ClarifyPlan(question=ask, options=["2025 vs 2024", "by region"]))
        return self._done(plan)

    def _unit_counted(self, metrics: list[str] | ClarifyPlan) -> list[str] | ClarifyPlan:
        """'how many days did it take to close the deals we closed', 'how long does a deal take to close': what is
        asked is a figure's unit (days), so the figure is one measured in it (sales_cycle_days), not the count of
        what else is named."""
        start = _after_counting(self.r.tokens)
        if 0 < start < len(self.r.tokens) and self.r.tokens[start] in UNIT_WORDS:
            units = {self.r.tokens[start]}
        elif re.search(r"\bhow long\b", self.r.question.lower()):
            units = {"day", "hour"}
        else:
            return metrics
        if isinstance(metrics, list) and any(units & self.vocab.metric_words.get(m, set()) for m in metrics):
            return metrics
        scored = self._scores(list(self.vocab.metric_words))
        fitting = [m for _, m in scored if units & self.vocab.metric_words[m]]
        if isinstance(metrics, list) and metrics:  # of the records the other words named (deals: opportunities)
            objects = {o for m in metrics for o in self.vocab.metric_objects.get(m, set())}
            fitting = [m for m in fitting if self.vocab.metric_objects.get(m, set()) & objects] or fitting
        if len(fitting) == 1:
            return fitting
        said = " or ".join(sorted(f"{u}s" for u in units))
        return ClarifyPlan(question=f"Which figure in {said} do you mean?", options=fitting[:6])

    def _done(self, plan: AnyPlan) -> Understood:
        if not isinstance(plan, MetricPlan | CountPlan):
            return Understood(plan)
        parts = [describe_plan(plan)]
        ignored = sorted({w for w, _ in self.r.unknown} | set(self.r.ignored))
        if isinstance(plan, CountPlan) and plan.dated:  # "installed": the date counted by
            ignored = [w for w in ignored if stem(w) not in date_stems(plan.dated)]
        if ignored:
            parts.append("ignored: " + ", ".join(repr(w) for w in ignored))
        parts.extend(dict.fromkeys(self.notes))
        return Understood(plan, "I read this as: " + "; ".join(parts) + ".")

    # --- what is counted or measured --------------------------------------------------------------

    def _verb_names_date(self, subject: str) -> bool:
        """'how many people did we hire in 2025': a word of the question names a date of the counted objects,
        and a period is asked for, so it counts those whose date is in the period."""
        if self.r.time.period is None:
            return False
        stems = {s for d in self.vocab.dates.get(subject, []) for s in date_stems(d)}
        return any(stem(w) in stems for w, _ in self.r.unknown)

    def _counted_by_metric(self, metrics: list[str], subject: str) -> bool:
        """'how many orders' counts with the order count metric (periods apply), as does a count metric the
        question names or whose words hold the counted noun ('customers bought' -> buying customers);
        'how many machines' counts Machine objects (no metric counts them)."""
        named = {t.name for m in self._metric_mentions() for t in m.of("metric")}
        start = _after_counting(self.r.tokens)
        counted = next((m for m in self.r.mentions if m.index >= start and not self._values_of(m)), None)
        if counted is not None and counted.rewritten and counted.of("metric"):
            named |= {t.name for t in counted.of("metric")}  # "how many people": headcount
        spoken = set(tokens(re.sub(r"(?<=[a-z])(?=[A-Z])", " ", subject)))
        return any(
            self.vocab.metric_formats.get(m) == "count"
            and (
                m in named
                or subject in self.vocab.metric_objects.get(m, set())
                or spoken <= self.vocab.metric_words.get(m, set())
            )
            for m in metrics
        )

    def _valued_subject(self) -> str | None:
        """'how many prospects': the object type whose property holds the value named."""
        for mention in self.r.mentions:
            types = {t.name.split(".", 1)[0] for t in mention.of("value") if "." in t.name}
            if len(types) == 1:
                return types.pop()
        return None

    def _subject(self) -> str | None:
        """The object type the question is about ('how many machines ...', 'how many production lines'):
        the first object named (or a dimension that names objects of one type) after 'how many', else in
        the question."""
        start = _after_counting(self.r.tokens)
        if 0 < start < len(self.r.tokens) and self.r.tokens[start] in {*self.r.hints, *UNIT_WORDS}:
            return None  # "how many hours did line 3 use": hours of a figure, not lines
        first = next((m for m in self.r.mentions if m.index == start > 0), None)
        if first is not None and first.of("metric") and not first.of("object", "dimension", "value"):
            return None  # "how many capacity hours did the Pune lines have": a figure, not lines
        if first is not None and first.of("value") and not first.of("object", "dimension", "metric"):
            after = first.index + len(first.text.split())
            if not any(m.index == after and m.of("object", "dimension") for m in self.r.mentions):
                return None  # "how many bearings did we sell to EMEA customers": units of a family, not customers
        for mention in sorted(self.r.mentions, key=lambda m: (m.index < start, m.index)):
            if mention.by:
                continue
            objects = [t.name for t in mention.of("object")]
            objects += [self.vocab.dimension_objects[t.name] for t in mention.of("dimension") if self._identity(t.name)]
            if objects and not (mention.rewritten and mention.of("metric")):
                return objects[0]
        return None

    def _sized(self) -> AnyPlan | None:
        """'our ten biggest customers': things ranked by size with no figure named are ranked by the first figure
        of money declared where more is better (revenue) that can be read per those things; else None."""
        r = self.r
        if r.rank is None or r.rank_index is None or r.tokens[r.rank_index] not in ("biggest", "largest"):
            return None
        for metric in self.vocab.higher:
            if self.vocab.metric_formats.get(metric) != "currency":
                continue
            plan = self._metric_plan([metric])
            if isinstance(plan, MetricPlan) and plan.by:
                self.notes.append(f"'biggest' read as by {metric}")
                return plan
            return None
        return None

    def _hidden_asked(self) -> RefusePlan | None:
        """A property the question asks about ('the average salary') of a type the user may not read, or
        that they see masked: refused rather than answered with another figure; where a figure is named by its
        own name ('what gross margin did the panels earn'), that figure is what is asked."""
        if any(  # the metric's own name, not a synonym ('sales' in 'the salaries in the sales team')
            m.rewritten is None and not m.of("object") and m.text.replace(" ", "_") in {t.name for t in m.of("metric")}
            for m in self.r.mentions
        ):
            return None
        for mention in self.r.mentions:
            if mention.of("metric", "object", "dimension") or mention.by:
                continue
            props = [t.name for t in mention.of("property")]
            if props and all(p.split(".", 1)[0] not in self.vocab.readable or p in self.vocab.masked for p in props):
                return RefusePlan(reason=f"{props[0]} is not readable for you (masked, or a type your roles do not "
                                  "grant).", policy="masking")  # fmt: skip
        return None

    # --- a metric plan ----------------------------------------------------------------------------

    def _metric_plan(self, metrics: list[str]) -> AnyPlan:
        r = self.r
        by: list[str] = []
        for mention in self._by_mentions():
            if mention.of("metric") and any(t.name in metrics for t in mention.of("metric")):
                continue  # "top 5 customers by revenue": what they are ranked by
            chosen = self._dimension(mention, metrics)
            if isinstance(chosen, ClarifyPlan | RefusePlan):
                return chosen
            if chosen is not None and chosen not in by:
                by.append(chosen)
        where, extra_by = self._filters(metrics)
        if isinstance(where, ClarifyPlan | RefusePlan):
            return where
        where.update(self._key_filters(self._subject()))
        by += [d for d in extra_by if d not in by]
        # "annual payroll" of a figure of today (a yearly cost) is that figure, not one broken down by year
        annual = r.time.grain == "year" and not EXPLICIT_GRAIN.search(r.question.lower())
        timed = any(self.vocab.metric_times.get(m) for m in metrics)
        if r.time.grain and r.time.grain not in by and not r.time.compare and (timed or not annual):
            by = [r.time.grain, *by]
        order_by: list[str] = []
        limit: int | None = None
        ranked = r.rank is not None or r.ordering
        if ranked:
            if not [d for d in by if d not in TIME_GRAINS] and self.previous is not None:
                by = [*by, *[d for d in self.previous.by if d not in by]]  # "which one is the lowest?"
            subjects = [d for d in by if d not in TIME_GRAINS]
            if not subjects:
                implied = self._implied_dimension(metrics)
                if isinstance(implied, ClarifyPlan):
                    return implied
                if implied is None:
                    return ClarifyPlan(question="Ranked by what? Name what to rank, e.g. customers, sites or regions.",
                                       options=["customer", "site", "region", "product", "segment"])  # fmt: skip
                by.append(implied)
            metric = metrics[0]
            # "customers ranked by customers" counts what is ranked (one each); "machines by machine failures"
            # counts downtime events, and by machine type it counts several machines
            owners = {self._owner(d) or "" for d in by if self._identity(d) or d.endswith(("_id", ".name"))}
            keys = {self.vocab.object_keys.get(o) for o in owners}
            itself = owners & self.vocab.metric_objects.get(metric, set()) or self.vocab.distinct.get(metric) in keys
            if self.vocab.metric_formats.get(metric) == "count" and itself:
                return ClarifyPlan(question=f"Ranked by what? {metric} counts the {', '.join(sorted(owners))} "
                                   "themselves; name a figure (revenue, orders, units, ...).",
                                   options=["revenue", "orders", "units_sold"])  # fmt: skip
            direction, limit = r.rank if r.rank is not None else ("desc", None)
            if direction in ("best", "worst"):
                low = bool(LOWER_IS_BETTER.search(metric))
                direction = "asc" if (direction == "best") == low else "desc"
            order_by = [("-" if direction == "desc" else "") + metric]
            if limit is None and r.rank is not None and not r.ordering:
                limit = self._number_limit() or 1
        period = r.time.period
        compare = list(r.time.compare)
        if GROWTH.search(r.question.lower()) and not compare:
            grown = growth_period(period, r.time.grain, self.today)
            if grown is None:
                return ClarifyPlan(question="Growth over which periods? Name them, e.g. '2025 vs 2024', "
                                   "'Q4 2025 against Q4 2024' or 'by quarter in 2025'.",
                                   options=["2025 vs 2024", "by quarter", "by month"])  # fmt: skip
            period, grain = grown
            if EXPLICIT_GRAIN.search(r.question.lower()) and r.time.grain and r.time.period:
                # "growth by quarter in 2025": every quarter of 2025 and the one before, by quarter
                period, grain = with_one_before(r.time.period, r.time.grain, self.today), r.time.grain
            pair = two_periods(period, grain)
            explicit = re.search(
                r"\b(?:by|per|each|every) (?:year|quarter|month|week|day)\b|\b(?:monthly|quarterly|weekly|daily)\b",
                r.question.lower(),
            )
            if pair is not None and not explicit:  # "growth in 2025": 2025 against 2024, with the change
                period, compare = None, pair
                by = [d for d in by if d != grain]
            else:
                by = [grain, *[d for d in by if d != grain]]
        ahead = (
            (None if set(metrics) <= self.vocab.ahead else self._not_yet(period, compare))
            or self._excluded(metrics, where)
            or self._no_history(metrics, by, period, compare)
        )
        counted = {o for m in metrics for o in self.vocab.metric_objects.get(m, set())}
        if ahead is not None and ahead.kind == "clarify" and len(counted) == 1 and COUNTING.search(r.question.lower()):
            return self._count(counted.pop())  # "how many orders got cancelled": the orders, counted
        if ahead is not None:
            return ahead
        if SHARE.search(r.question.lower()) and all(self.vocab.metric_formats.get(m) == "count" for m in metrics):
            shares = [self.vocab.ratios.get(m) for m in metrics]  # "what share of POs came in late"
            if None in shares:
                return ClarifyPlan(question=f"A share of {', '.join(metrics)} out of what? No figure of the "
                                   "company's model is that share; name one.", options=[])  # fmt: skip
            metrics = [m for m in shares if m is not None]
            self.notes.append("the share: " + ", ".join(metrics))
        if self.previous is not None:
            return self._follow_up(metrics, by, where, period, order_by, limit)
        plan = MetricPlan(
            metrics=metrics,
            by=by,
            where=where,
            period=None if compare else period,
            compare=compare,
            order_by=order_by,
            limit=limit,
        )
        return self._checked(plan)

    def _excluded(self, metrics: list[str], where: dict[str, list[str]]) -> ClarifyPlan | None:
        """A value the metric leaves out by its own definition ('orders' are not cancelled): filtering on it
        would answer 0, which is not what was asked."""
        for metric in metrics:
            own = self.vocab.metric_where.get(metric, "").lower()
            for values in where.values():
                for value in values:
                    if f"'{value.lower()}'" in own and re.search(r"<>|!=|\bnot\b", own):
                        return ClarifyPlan(question=f"{metric} leaves {value!r} out by its definition ({own}); "
                                           "ask for a figure that counts them.", options=[])  # fmt: skip
        return None

    def _no_history(
        self, metrics: list[str], by: list[str], period: str | None, compare: list[str]
    ) -> ClarifyPlan | None:
        """A figure read as it stands today (a backlog, open tickets) asked of the past, by month or against
        another period: the brain keeps no history of it, so it says so rather than answer today's value."""
        untimed = [m for m in metrics if m in self.vocab.untimed]
        if not untimed:
            return None
        asked = ", ".join(untimed)
        today = f"{asked} {'is' if len(untimed) == 1 else 'are'} read as it stands today ({self.today})"
        grains = [d for d in by if d in TIME_GRAINS]
        if compare or grains:
            how = f"by {grains[0]}" if grains else f"in {' against '.join(compare)}"
        elif period is not None and not _holds(period, self.today):
            how = f"in {period}"
        else:
            return None
        objects = {o for m in untimed for o in self.vocab.metric_objects.get(m, set())}
        over_time = [  # average_headcount for headcount: the same records, over a period
            m for m, placed in self.vocab.metric_objects.items()
            if placed == objects and m not in self.vocab.untimed and any(u in m for u in untimed)
        ]  # fmt: skip
        instead = f" {', '.join(over_time)} reads it over a period; or ask" if over_time else " Ask"
        return ClarifyPlan(question=f"{today}: the company's data keeps no history of it, so I cannot say what it "
                           f"was {how.replace('_', ' ')}.{instead} for {asked} as it stands today.",
                           options=[])  # fmt: skip

    def _not_yet(self, period: str | None, compare: list[str]) -> RefusePlan | None:
        """A period that starts after today has no data yet: said, not answered with an empty table."""
        for text in ([period] if period else []) + compare:
            try:
                start = parse_period(text, self.today).start
            except (ValueError, BrainError):
                continue
            if start > self.today:
                return RefusePlan(reason=f"{text} has not happened yet (the data runs to {self.today}); the copilot "
                                  "answers from what happened, forecasts are the AI factory's use cases (`brain "
                                  "factory list`).", policy=None)  # fmt: skip
        return None

    # --- follow-ups -------------------------------------------------------------------------------

    def _follow_up(
        self,
        metrics: list[str],
        by: list[str],
        where: dict[str, list[str]],
        period: str | None,
        order_by: list[str],
        limit: int | None,
    ) -> AnyPlan:
        """Modify the previous plan: new metrics replace (or add, with 'also'), dimensions add, values and
        the period replace, a new ranking replaces."""
        base = self.previous
        assert base is not None
        text = self.r.question.lower()
        if re.search(r"\b(also|add|too|as well|and)\b", text):
            metrics = [*base.metrics, *[m for m in metrics if m not in base.metrics]]
        keep_by = [] if re.search(r"\binstead\b", text) and by else list(base.by)
        plan = MetricPlan(
            metrics=metrics or list(base.metrics),
            by=[*keep_by, *[d for d in by if d not in keep_by]],
            where={**base.where, **where},
            period=period or base.period,
            order_by=order_by or list(base.order_by),
            limit=limit or base.limit,
        )
        return self._checked(plan)


# a score threshold said in the question: "20% or more", "above 30%", "at least 0.25", "over 25 percent"
UNIT_WORDS = {"day", "hour", "week", "minute"}  # 'how many days ...': a figure's unit, not things counted
COMPARING = {"compare", "compared", "compares", "comparing", "versus", "vs"}


def _after_counting(words: list[str]) -> int:
    """The index of the first word after 'how many' / 'number of' (0 when the question has neither)."""
    for i in range(len(words) - 1):
        if (words[i], words[i + 1]) in (("how", "many"), ("number", "of"), ("count", "of")):
            return i + 2
    return 0


def describe_plan(plan: MetricPlan | CountPlan) -> str:
    """A plan in words: 'revenue by region, 2025, where segment = OEM'."""
    if isinstance(plan, CountPlan):
        text = f"the number of {plan.object} objects"
    else:
        text = ", ".join(m.replace("_", " ") for m in plan.metrics)
    if plan.by:
        text += " by " + ", ".join(plan.by)
    filters = "; ".join(f"{d} = {', '.join(v)}" for d, v in sorted(plan.where.items()))
    if filters:
        text += f" where {filters}"
    if isinstance(plan, CountPlan) and plan.dated and plan.period:
        text += f", {plan.period} by {plan.dated.replace('_', ' ')}"
    if isinstance(plan, MetricPlan):
        if plan.compare:
            text += ", " + " against ".join(plan.compare)
        elif plan.period:
            text += f", {plan.period}"
        if plan.order_by:
            text += f", ordered by {plan.order_by[0].lstrip('-')} " + (
                "descending" if plan.order_by[0][0] == "-" else "ascending"
            )
        if plan.limit:
            text += f", first {plan.limit}"
    return text


def _holds(period: str, today: date) -> bool:
    """Whether a period holds today (this month, year to date): a figure of today answers it."""
    try:
        span = parse_period(period, today)
    except (ValueError, BrainError):
        return False
    return span.start <= today < span.end

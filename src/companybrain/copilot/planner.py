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

from companybrain.copilot.plan import (
    AnyPlan,
    ClarifyPlan,
    CountPlan,
    LookupPlan,
    MetricPlan,
    PredictionListPlan,
    RefusePlan,
)
from companybrain.copilot.reading import Mention, Reading
from companybrain.copilot.resolve import (
    COUNTING,
    GROWTH,
    HEADLINE,
    HOW_WHAT,
    LISTED,
    LOWER_IS_BETTER,
    NEGATION,
    RISK_WORDS,
    TIME_GRAINS,
    TOPIC,
    Checker,
    Resolver,
)
from companybrain.copilot.vocabulary import Term, Vocabulary, distances, singular, tokens
from companybrain.errors import BrainError
from companybrain.semantic.period import parse_period

EXPLICIT_GRAIN = re.compile(r"\b(?:by|per|each|every) (?:year|quarter|month|week|day)\b|\b(?:month|quarter)ly\b")


@dataclass
class Understood:
    """A plan and how the question was read (said in the answer)."""

    plan: AnyPlan
    reading: str | None = None


class Planner(Resolver):
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
        predicted = self._predicted()
        if predicted is not None:
            if r.keys and not counting:
                return self._done(self._lookup(predicted[1]))
            return self._done(self._prediction_list(*predicted))
        how = HOW_WHAT.search(r.question.lower())
        if how and any(w == singular(how[1]) for w, _ in r.unknown):
            return self._done(RefusePlan(reason=f"The company model has no figure for how {how[1]} things are; ask "
                                         "about a metric (`brain metrics` lists them).", policy=None))  # fmt: skip
        hidden = self._hidden_asked()
        if hidden is not None:
            return self._done(hidden)
        if r.unseen:
            return self._done(RefusePlan(reason=f"{', '.join(r.unseen)} is outside the data you may see (or the "
                                         "company's data holds nothing there).", policy="row-filter"))  # fmt: skip
        metrics = self._metrics()
        if self.previous is not None and metrics == []:
            metrics = list(self.previous.metrics)  # "and by segment?": the same figures
        if (
            counting
            and subject is not None
            and (isinstance(metrics, ClarifyPlan) or not self._counted_by_metric(metrics, subject))
        ):
            return self._done(self._count(subject))
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
        return self._done(self._metric_plan(metrics))

    def _done(self, plan: AnyPlan) -> Understood:
        if not isinstance(plan, MetricPlan | CountPlan):
            return Understood(plan)
        parts = [describe_plan(plan)]
        ignored = sorted({w for w, _ in self.r.unknown} | set(self.r.ignored))
        if ignored:
            parts.append("ignored: " + ", ".join(repr(w) for w in ignored))
        parts.extend(self.notes)
        return Understood(plan, "I read this as: " + "; ".join(parts) + ".")

    # --- what is counted or measured --------------------------------------------------------------

    def _metrics(self) -> list[str] | ClarifyPlan:
        """The metrics the question names: every full name or synonym written out (several when listed),
        else the one metric its words fit best (everyday words rewritten count here); two fitting equally
        well make it ask."""
        listed = self._listed()
        if len(listed) > 1 and re.search(r"\b(?:of it|of that|of which|of this)\b", self.r.question.lower()):
            # "our cost to serve, and how much of it was freight, returns and warranty": the whole, then its parts
            whole = [b for m in self._metric_mentions() if isinstance(b := self._best(m), str) and b not in listed]
            return [*dict.fromkeys(whole), *listed]
        if len(listed) > 1:
            return listed
        named: list[str] = []
        mentions = self._metric_mentions()
        if len(mentions) > 1 and not LISTED.search(self.r.question.lower()):
            # "ticket volume", "sales cycle for deals closed": one figure, the first named; the rest qualify it;
            # but in "open order backlog" the first names no objects and the last word is the figure
            mentions = sorted(mentions, key=lambda m: m.index)
            first, second = mentions[0], mentions[1]
            compound = second.index == first.index + len(first.text.split()) and not first.of("object")
            mentions = [second] if compound else [first]
        for mention in mentions:
            best = self._best(mention)
            if isinstance(best, ClarifyPlan):
                return best
            if best not in named:
                named.append(best)
        named = self._refined(named)
        if named:
            return named
        scored = [(sc, m) for sc, m in self._scores(list(self.vocab.metric_words)) if self._matches(m) >= 1]
        if not scored:
            return []
        if scored[0][0] < _WEAKEST_FIT:  # "is that good?": one word of 'cost of goods sold' names no figure;
            words = set(self.r.words) | set(self.r.hints)  # "show margin": a word of several names, which?
            named = sorted(m for _, m in scored if words & set(tokens(m.replace("_", " "))))
            if named:
                return ClarifyPlan(question=f"Which of these do you mean: {', '.join(named[:6])}?", options=named[:6])
            return []
        top = [m for s, m in scored if s >= scored[0][0] - 1e-9]
        if len(top) > 1:
            return ClarifyPlan(question=f"Which of these do you mean: {', '.join(top[:6])}?", options=top[:6])
        return [top[0]]

    def _listed(self) -> list[str]:
        """'material, labour and overhead cost': the words listed before one noun, each with that noun, where
        that makes a metric's name."""
        text = re.sub(r"[^a-z, ]", " ", self.r.question.lower())
        found = []
        for m in re.finditer(r"((?:\w+, )+\w+,? and \w+)\b ?(\w*)", text):
            # the noun after the list ('... and overhead cost'), else one named before it ('cost of goods sold
            # into materials, labour and overhead'): the first that makes a metric of every word listed
            words = re.split(r",? and |, ", m[1])
            for noun in dict.fromkeys([m[2], *tokens(text[: m.start()])[::-1]]):
                names = [
                    t.name
                    for word in words
                    for t in self.vocab.phrases.get(tuple(tokens(f"{word} {noun}")), set())
                    if t.kind == "metric"
                ]
                if noun and (noun == m[2] or len(set(names)) == len(words)):
                    found += names
                    break
        return list(dict.fromkeys(found))

    def _metric_mentions(self) -> list[Mention]:
        """Mentions that name a metric by its own name or synonym (not an everyday word the lexicon read,
        not an object type's name that is also a count: those only weigh in the scores)."""
        found = []
        for mention in self.r.mentions:
            if not mention.of("metric") or mention.rewritten is not None:
                continue
            if mention.of("object") and not self._counted_metric(mention):
                continue  # "customers" names the Customer objects before it names a metric
            if self._qualifier(mention) or (mention.of("value") and mention.before in TOPIC):
                continue  # "defect tickets", "complaints about deliveries": a kind, not the figure
            found.append(mention)
        return found

    def _best(self, mention: Mention) -> str | ClarifyPlan:
        candidates = sorted({t.name for t in mention.of("metric")})
        if len(candidates) == 1:
            return candidates[0]
        own = [m for m in candidates if tuple(m.split("_")) == tuple(mention.text.split()) or m == mention.text + "s"]
        if len(own) == 1:  # a metric's own name beats another's synonym that reads the same
            return own[0]
        scored = self._scores(candidates)
        if len(scored) > 1 and abs(scored[0][0] - scored[1][0]) < 1e-9:
            options = [m for s, m in scored if abs(s - scored[0][0]) < 1e-9]
            return ClarifyPlan(question=f"Which of these do you mean: {', '.join(options)}?", options=options)
        return scored[0][1]

    def _matches(self, metric: str) -> int:
        """How many of the question's content words are words of the metric's names (other than the words
        that name an object type: 'machines' alone names no machine metric)."""
        words = (set(self.r.words) | set(self.r.hints)) - self.r.object_words
        return len(words & self.vocab.metric_words.get(metric, set()))

    def _scores(self, metrics: list[str]) -> list[tuple[float, str]]:
        """Metrics by how well their names fit the question's words: each word of the name or a synonym
        used counts, each word of the name the question does not use counts a little against (the plain
        'tickets' before 'open tickets'); the objects the question names count too."""
        r = self.r
        words = set(r.words) | set(r.hints)
        words |= {w for m in r.mentions if m.of("value") and not self._verb(m) for w in m.text.split()}
        subjects = {t.name for m in r.mentions for t in m.of("object")}
        counting = bool(COUNTING.search(r.question.lower()))
        scored = []
        for name in metrics:
            own = self.vocab.metric_words.get(name, set())
            name_words = set(tokens(name.replace("_", " ")))
            # a whole name or synonym used counts fully; a word of a longer one by half ('sales' is revenue's
            # synonym, and only a word of 'cost of sales')
            whole = {w for ph in self.vocab.metric_phrases.get(name, []) if set(ph) <= words for w in ph}
            score = len(whole) + 0.4 * len((words & own) - whole) - 0.25 * len(name_words - words)
            if subjects & self.vocab.metric_objects.get(name, set()):
                score += 0.5
            if counting:  # "how many bearings did we sell": a count, not an amount of money (units, not sales)
                score += -1.0 if self.vocab.metric_formats.get(name) == "currency" else 0.5 * bool(own & set(r.hints))
            scored.append((score, name))
        return sorted(scored, key=lambda x: (-x[0], x[1]))

    def _refined(self, named: list[str]) -> list[str]:
        """A metric named in passing refined by the other words ('deals' + 'won' -> deals won, 'units' +
        'sold' -> units sold): another metric on the same objects that the question's words fit better."""
        if len(named) != 1:
            return named
        scored = {m: sc for sc, m in self._scores(list(self.vocab.metric_words))}
        objects = self.vocab.metric_objects.get(named[0])
        # "tickets that are open": a metric whose own name holds the value word (open_tickets) means it already
        valued = {w for m in self.r.mentions if m.of("value") and not m.of("metric") for w in m.text.split()}
        better = [
            m
            for m, sc in scored.items()
            if m != named[0]
            and self.vocab.metric_objects.get(m) == objects
            and (
                sc >= scored[named[0]] + 0.75
                or (sc >= scored[named[0]] and valued & set(tokens(m.replace("_", " "))) - set(tokens(named[0])))
            )
        ]
        return [max(better, key=lambda m: scored[m])] if better else named

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
        if 0 < start < len(self.r.tokens) and self.r.tokens[start] in self.r.hints:
            return None  # "how many hours did line 3 use": hours of a figure, not lines
        first = next((m for m in self.r.mentions if m.index == start > 0), None)
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

    def _hidden_asked(self) -> RefusePlan | None:
        """A property the question asks about ('the average salary') of a type the user may not read, or
        that they see masked: refused rather than answered with another figure."""
        for mention in self.r.mentions:
            if mention.of("metric", "object", "dimension") or mention.by:
                continue
            props = [t.name for t in mention.of("property")]
            if props and all(p.split(".", 1)[0] not in self.vocab.readable or p in self.vocab.masked for p in props):
                return RefusePlan(reason=f"{props[0]} is not readable for you (masked, or a type your roles do not "
                                  "grant).", policy="masking")  # fmt: skip
        return None

    def _keyed(self, metrics: list[str], subject: str | None) -> AnyPlan | None:
        """A key with a metric: the metric for that object (vibration of machine M1), if it can be read so;
        a key alone, a property of its object asked for (the salary of employee E1), or a figure that is
        not about it: the object itself."""
        types = {t for key in self.r.keys for t in self._key_types(key, subject)}
        asked = {t.name for m in self.r.mentions for t in m.of("property") if t.name.split(".", 1)[0] in types}
        own_count = all(
            self.vocab.metric_formats.get(m) == "count" and self.vocab.metric_objects.get(m) == types for m in metrics
        )
        if metrics and not asked and not own_count:
            where = self._key_filters(subject)
            if where and self._valid(MetricPlan(metrics=metrics, where=where)) is True:
                return None  # the metric plan takes the key as a filter
        return self._lookup(subject)

    def _lookup(self, subject: str | None) -> AnyPlan:
        key = self.r.keys[0]
        types = self._key_types(key, subject)
        if len(types) != 1:
            options = [f"{t} {key}" for t in types] or [f"{subject or 'Order'} {key}"]
            return ClarifyPlan(question=f"Which object is {key!r}? Name its type, e.g. 'order {key}'.",
                               options=options)  # fmt: skip
        hidden = self._masked_asked(types[0])
        if hidden:
            return RefusePlan(reason=f"{', '.join(hidden)} is masked for you.", policy="masking")
        return LookupPlan(object=types[0], key=key)

    def _predicted(self) -> tuple[str, str] | None:
        """(use case, entity) when the question asks for what a model scores ('most likely to fail', 'the
        machines above the high-risk threshold')."""
        for mention in self.r.mentions:
            for term in mention.of("property"):
                if term.name in self.vocab.predicted:
                    return self.vocab.predicted[term.name], term.name.split(".", 1)[0]
        if RISK_WORDS & set(self.r.tokens):
            entities = {t.split(".", 1)[0]: uc for t, uc in self.vocab.predicted.items()}
            named = [t.name for m in self.r.mentions for t in m.of("object") if t.name in entities]
            if len(set(named)) == 1:
                return entities[named[0]], named[0]
        return None

    def _prediction_list(self, usecase: str, entity: str) -> AnyPlan:
        where: dict[str, list[str]] = {}
        for mention in self.r.mentions:
            values = self._values_of(mention, entity)
            if values:
                chosen = self._count_value(entity, mention, values)
                if isinstance(chosen, ClarifyPlan):  # "open deals": a word of another type's category
                    self.notes.append(f"{mention.text!r} does not describe {entity} objects: left out")
                    continue
                where.setdefault(chosen[0], []).append(chosen[1])
        if self._names_unknown():
            return self._unknown_clarify()
        hidden = self._masked_asked(entity)
        if hidden:
            return RefusePlan(reason=f"{', '.join(hidden)} is masked for you.", policy="masking")
        levels = self.vocab.thresholds.get(usecase, {})
        question = self.r.question.lower()
        spoken = SCORE_AT_LEAST.search(question)  # "a risk of 20% or more", "above 0.3"
        at_least = None
        if spoken is not None:
            number = float(spoken["pct"] or spoken["pct2"] or spoken["share"])
            at_least = number / 100 if (spoken["pct"] or spoken["pct2"]) else number
        limit = (self.r.rank[1] if self.r.rank else None) or self._number_limit(exclude=spoken)
        if (
            at_least is None
            and limit is None
            and re.search(r"\b(threshold|high[- ]risk|at risk|above|over)\b", question)
        ):
            at_least = levels.get("high", max(levels.values())) if levels else None  # "the machines at risk"
        counting = bool(COUNTING.search(question))
        one = re.match(r"\s*(?:which|what) (\w+)", question)
        if limit is None and self.r.rank is not None and one and not one[1].endswith("s"):
            limit = 1  # "which line has the most unusual results": one line
        if counting:
            limit = None
        return PredictionListPlan(usecase=usecase, where=where, limit=limit, at_least=at_least, count=counting)

    # --- unknown words ----------------------------------------------------------------------------

    def _names_unknown(self) -> bool:
        """An unknown word written like a name ('Zorgon', 'Tesla') may be a value the model does not know:
        answering without it would answer another question."""
        return any(is_name for _, is_name in self.r.unknown)

    def _blocking(self, objects: set[str]) -> list[str]:
        """The unknown words that could change the answer, so that it is asked about rather than ignored. Only
        a word read as a verb or an adverb is left out (and the answer says so): one ending in -ly, one before a
        particle ('racked up', 'set us back', 'break down'), one after a subject or an auxiliary ('did we
        inspect', "what's sitting in"), the first word ('split last month's cost'), or a past participle ('POs
        arrived late'), none of them just before a figure or an object type. Any other unknown word may be a
        kind of thing the data does not hold ('competitor revenue', 'returning customers', 'blue widgets'), as
        may a name ('Zorgon'), a near spelling of a value ('Milwuakee') or a word about time ('the start of')."""
        r = self.r
        starts = {m.index: m for m in r.mentions}
        blocking: list[str] = []
        for i, word in sorted(r.unknown_at.items()):
            nxt = starts.get(i + 1)
            before = r.tokens[i - 1] if i > 0 else ""
            after = r.tokens[i + 1 : i + 3]
            modifier = nxt is not None and bool(nxt.of("metric", "object"))
            verb_like = (
                word.endswith("ly")
                or (after[:1] and after[0] in PARTICLES)
                or (len(after) == 2 and after[0] in OBJECT_PRONOUNS and after[1] in PARTICLES)
                or before in SUBJECTS
                or i == 0
                or word.endswith("ed")
            )
            named = any(w == word and is_name for w, is_name in r.unknown)
            if SHARE.search(r.question.lower()) and word in SHARE_WORDS:
                continue  # "what share of POs came in late": a share, read below
            if named or word in TIME_WORDS or self.vocab.near_value(word) or modifier or not verb_like:
                blocking.append(word)
            elif _stem(word) in self._property_stems(objects):
                blocking.append(word)  # "how many people did we hire" (hire_date): it may narrow the figure
        return blocking

    def _property_stems(self, objects: set[str]) -> set[str]:
        """The stems of the words of the properties of the objects counted or measured (Employee.hire_date),
        but for words of a figure's name: 'how many people did we hire' may be about the hire date; in 'open
        orders to ship' the ship date is a shipment's, not the orders'."""
        names = {t.name for terms in self.vocab.phrases.values() for t in terms if t.kind == "property"}
        words = {
            w
            for name in names
            if name.split(".", 1)[0] in objects
            for w in tokens(name.split(".")[-1].replace("_", " "))
        }
        words -= {w for ws in self.vocab.metric_words.values() for w in ws}
        return {_stem(w) for w in words if len(w) >= 4}

    def _unknown_clarify(self, metrics: list[str] | None = None, words: list[str] | None = None) -> ClarifyPlan:
        names = words or [w for w, is_name in self.r.unknown if is_name] or [w for w, _ in self.r.unknown]
        return ClarifyPlan(
            question=f"I do not know {', '.join(repr(n) for n in names)} in the company's data, so I will not "
            "guess; ask with a metric, a breakdown (by region, by site, ...) or a value the data holds.",
            options=metrics or [],
        )

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
        if r.time.grain and r.time.grain not in by and not r.time.compare:
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
            owners = {self._owner(d) or "" for d in by}
            spoken = {w for o in owners for w in tokens(re.sub(r"(?<=[a-z])(?=[A-Z])", " ", o))}
            if self.vocab.metric_formats.get(metric) == "count" and spoken & set(tokens(metric.replace("_", " "))):
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
                period, grain = _with_one_before(r.time.period, r.time.grain, self.today), r.time.grain
            pair = _two_periods(period, grain)
            explicit = re.search(
                r"\b(?:by|per|each|every) (?:year|quarter|month|week|day)\b|\b(?:monthly|quarterly|weekly|daily)\b",
                r.question.lower(),
            )
            if pair is not None and not explicit:  # "growth in 2025": 2025 against 2024, with the change
                period, compare = None, pair
                by = [d for d in by if d != grain]
            else:
                by = [grain, *[d for d in by if d != grain]]
        ahead = self._not_yet(period, compare) or self._excluded(metrics, where)
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

    def _count(self, subject: str) -> AnyPlan:
        where: dict[str, list[str]] = {}
        for mention in self.r.mentions:
            values = self._values_of(mention, subject)
            if not values and mention.of("value") and not mention.of("metric", "object", "dimension", "property"):
                kinds = sorted({t.name for t in mention.of("value")})  # a value of other objects: not dropped
                return ClarifyPlan(question=f"I cannot count {subject} objects by {mention.text!r} ({', '.join(kinds)})"
                                   "; ask with a value of theirs.", options=[])  # fmt: skip
            if not values:
                continue
            chosen = self._count_value(subject, mention, values)
            if isinstance(chosen, ClarifyPlan):
                return chosen
            dim, value = chosen
            where.setdefault(dim, []).append(value)
        for name, keys in self._key_filters(subject).items():
            owner, prop = name.split(".", 1)
            where.setdefault(prop if owner == subject else name, []).extend(keys)
        by: list[str] = []
        for mention in self._by_mentions():
            for name in self._dimension_candidates(mention):
                if self._valid(CountPlan(object=subject, by=[name])) is True:
                    by.append(name)
                    break
            else:
                return ClarifyPlan(question=f"I cannot count {subject} objects by {mention.text!r}.")
        blocking = self._blocking({subject})
        if blocking:
            return self._unknown_clarify(words=blocking)
        if self.r.time.period or self.r.time.compare:  # "machines installed before 2010": which date is it?
            return ClarifyPlan(question=f"A count of {subject} objects is of them as they are now, with no period; "
                               "name a figure that has one, or the value to count by.", options=[])  # fmt: skip
        return self._checked(CountPlan(object=subject, where=where, by=by))

    def _count_value(self, subject: str, mention: Mention, values: list[Term]) -> tuple[str, str] | ClarifyPlan:
        near = {t: d for t, d in distances(self.vocab, {subject}).items() if d <= 1}
        declared = {d for d, paths in self.vocab.dimension_paths.items() if subject in paths}
        candidates = sorted(
            ((t.name, t.value or "") for t in values if (self._owner(t.name) or "") in near or t.name in declared),
            key=lambda dv: (near.get(self._owner(dv[0]) or "", 99), dv),
        )
        for dim, value in candidates:
            name = dim.split(".", 1)[1] if dim.startswith(subject + ".") else dim
            if self._valid(CountPlan(object=subject, where={name: [value]})) is True:
                return name, value
        return ClarifyPlan(question=f"I cannot count {subject} objects by {mention.text!r}.")

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
SCORE_AT_LEAST = re.compile(
    r"(?:\b(?:above|over|at least|more than|greater than|exceeding|of at least)\s+(?:(?P<pct>\d+(?:\.\d+)?)\s*"
    r"(?:%|percent)|(?P<share>0?\.\d+)))|(?P<pct2>\d+(?:\.\d+)?)\s*(?:%|percent)\s*(?:or (?:more|higher|above)|and "
    r"(?:above|up|over)|\+|plus)"
)
PARTICLES = {"up", "down", "back", "in", "out", "off", "over", "on", "through", "around", "away", "into"}
OBJECT_PRONOUNS = {"us", "them", "it", "me", "you", "him", "her"}
SUBJECTS = {
    "we", "i", "you", "they", "he", "she", "it", "did", "do", "does", "to", "will", "would", "can", "could",
    "should", "has", "have", "had", "is", "are", "was", "were", "be", "been", "s", "who", "that", "which",
}  # fmt: skip
SHARE_WORDS = {"share", "proportion", "percentage", "fraction", "part", "percent", "often"}
SHARE = re.compile(rf"\b(?:what|which) (?:{'|'.join(sorted(SHARE_WORDS - {'often'}))})\b|\bhow often\b")
# words about time that the time expressions did not place: left out, they would change the period
TIME_WORDS = {
    "start", "beginning", "begin", "end", "ending", "past", "due", "ago", "earlier", "later", "next", "coming",
    "year", "month", "quarter", "week", "day", "season", "recent", "latest", "previous", "prior", "upcoming",
}  # fmt: skip
_WEAKEST_FIT = 0.3  # a metric chosen by its words alone fits at least this well (a whole word of its name: 0.4)


def _with_one_before(period: str, grain: str, today: date) -> str | None:
    """A period widened by one bucket of `grain` at its start (2025 by quarter: 2024-10-01..2025-12-31)."""
    from companybrain.semantic.period import parse_period

    found = parse_period(period, today)
    months = {"year": 12, "quarter": 3, "month": 1}.get(grain)
    if months is None:
        return None
    index = found.start.year * 12 + found.start.month - 1 - months
    start = date(index // 12, index % 12 + 1, 1)
    return f"{start.isoformat()}..{date.fromordinal(found.end.toordinal() - 1).isoformat()}"


def _two_periods(period: str | None, grain: str) -> list[str] | None:
    """A range of exactly two whole years, quarters or months, as the two periods, latest first."""
    if period is None or ".." not in period:
        return None
    start, end = (date.fromisoformat(d) for d in period.split(".."))
    months = (end.year - start.year) * 12 + end.month - start.month + 1
    step = {"year": 12, "quarter": 3, "month": 1}.get(grain)
    if step is None or start.day != 1 or months != 2 * step:
        return None
    later = date(start.year + (start.month - 1 + step) // 12, (start.month - 1 + step) % 12 + 1, 1)

    def label(d: date) -> str:
        if grain == "year":
            return str(d.year)
        return f"{d.year}-Q{(d.month - 1) // 3 + 1}" if grain == "quarter" else f"{d.year}-{d.month:02d}"

    return [label(later), label(start)]


def _stem(word: str) -> str:
    """A crude stem, enough to tie a verb to a name of the model: hire, hired, hiring -> hir; unresolved ->
    resolv."""
    if word.startswith("un") and len(word) > 6:
        word = word[2:]
    for suffix in ("ations", "ation", "ings", "ing", "ions", "ion", "ers", "er", "ed", "es", "s", "e"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            return word[: -len(suffix)]
    return word


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

"""Objects by their key and what a model scored: 'show me order 300006', 'vibration of machine M1' (a key as a
metric's filter), 'which machines are most likely to fail', 'how many deals have better than even odds' - a
part of the planner. A lookup answers only what the object shows; a level said in words cuts a list of scores,
and one that cannot be applied is asked about."""

from __future__ import annotations

import re

from companybrain.copilot.counting import Counting
from companybrain.copilot.plan import AnyPlan, ClarifyPlan, LookupPlan, MetricPlan, PredictionListPlan, RefusePlan
from companybrain.copilot.resolve import COUNTING, RISK_WORDS

SCORE_AT_LEAST = re.compile(
    r"(?:\b(?:above|over|at least|more than|greater than|higher than|better than|exceeding|of at least)\s+(?:an?\s+)?"
    r"(?:(?P<pct>\d+(?:\.\d+)?)\s*"
    r"(?:%|percent)|(?P<share>0?\.\d+)))|(?P<pct2>\d+(?:\.\d+)?)\s*(?:%|percent)\s*(?:or (?:more|higher|above)|and "
    r"(?:above|up|over)|\+|plus)"
)

AMOUNT_OR_COUNT = re.compile(r"\bhow (?:much|many)\b")
EVEN_ODDS = re.compile(r"\b(?:better|more|higher) than (?:even|50[-/ ]?50)\b")
SCORE_SPOKEN = re.compile(r"\d+(?:\.\d+)?\s*(?:%|percent)|\b0?\.\d+\b")


class Keyed(Counting):
    """Lookups by key and lists of what a model scored (a part of the planner)."""

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
        return self._beyond_lookup(types[0], key) or LookupPlan(object=types[0], key=key)

    def _beyond_lookup(self, found: str, key: str) -> AnyPlan | None:
        """'who is the contact at account A1', 'rep R1's quota attainment', 'how much of K1 is on hand': the
        question asks for more than the object shows - another type's records or property, or words it does
        not know - so it is refused or asked about, never answered with the object alone."""
        others = [  # what a mention names, unless it names something of the object itself ('status', 'line')
            {t.name.split(".", 1)[0] for t in m.of("object", "property")}
            for m in self.r.mentions
            if not any(t.name.split(".", 1)[0] == found for t in m.terms)
        ]
        other = sorted(set().union(*others))
        if other and other[0] not in self.vocab.readable:
            return RefusePlan(reason=f"{other[0]} records are not readable for you.", policy="masking")
        if other:
            return ClarifyPlan(question=f"I can show {found} {key} itself; what you ask about is in {other[0]} "
                               "records, which I do not read from it yet.", options=[f"{found} {key}"])  # fmt: skip
        unknown = [w for w, _ in self.r.unknown if w not in RISK_WORDS]
        if unknown or AMOUNT_OR_COUNT.search(self.r.question.lower()):
            words = ", ".join(map(repr, unknown)) or "an amount"
            return ClarifyPlan(question=f"I can show {found} {key} itself; I do not know what {words} asks of it.",
                               options=[f"{found} {key}"])  # fmt: skip
        return None

    def predicted(self) -> tuple[str, str] | None:
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
        elif EVEN_ODDS.search(question):  # "better than even odds of being won"
            at_least = 0.5
        elif SCORE_SPOKEN.search(question):  # "below 20%", "between 10 and 20%": a bound we cannot apply
            ask = "I can list the highest scores, or those at or above a level ('a risk of 20% or more'); which?"
            return ClarifyPlan(question=ask, options=["at or above a level", "the highest N"])
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

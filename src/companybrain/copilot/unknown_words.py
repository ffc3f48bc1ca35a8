"""Words the reading could not place: which of them could change the answer (asked about) and which cannot
(left out, and the answer says so)."""

from __future__ import annotations

import re

from companybrain.copilot.plan import ClarifyPlan
from companybrain.copilot.resolve import Resolver
from companybrain.copilot.vocabulary import stem

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


class UnknownWords(Resolver):
    """The unknown words of one reading (a part of the planner)."""

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
            elif stem(word) in self._property_stems(objects):
                blocking.append(word)  # "how many people did we hire" (hire_date): it may narrow the figure
        return blocking

    def _property_stems(self, objects: set[str]) -> set[str]:
        """The stems of the words of the properties of the objects counted or measured (Employee.hire_date),
        but for words of a figure's name: 'how many people did we hire' may be about the hire date; in 'open
        orders to ship' the ship date is a shipment's, not the orders'."""
        words = {w for o in objects for w in self.vocab.property_words.get(o, set())}
        words -= {w for ws in self.vocab.metric_words.values() for w in ws}
        return {stem(w) for w in words if len(w) >= 4}

    def _unknown_clarify(self, metrics: list[str] | None = None, words: list[str] | None = None) -> ClarifyPlan:
        names = words or [w for w, is_name in self.r.unknown if is_name] or [w for w, _ in self.r.unknown]
        return ClarifyPlan(
            question=f"I do not know {', '.join(repr(n) for n in names)} in the company's data, so I will not "
            "guess; ask with a metric, a breakdown (by region, by site, ...) or a value the data holds.",
            options=metrics or [],
        )

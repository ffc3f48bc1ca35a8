"""Counting objects: 'how many machines are down', 'claims filed last year' (by the date the question's words or
the type's figures name), 'how many operators do we have' (the type's count of today)."""

from __future__ import annotations

import re

from companybrain.copilot.plan import AnyPlan, ClarifyPlan, CountPlan, MetricPlan
from companybrain.copilot.reading import Mention
from companybrain.copilot.unknown_words import UnknownWords
from companybrain.copilot.vocabulary import Term, distances, stem, tokens
from companybrain.semantic.period import parse_period

# a count of what there is today: "how many operators do we have", "are there", "have we got"
HAVING = re.compile(r"\b(?:do we (?:currently |still )?(?:have|employ)|have we got|are there|we have|on the books)\b")


class Counting(UnknownWords):
    """The count plans of one reading (a part of the planner)."""

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
        dated = self._count_date(subject, where) if self.r.time.period and self.vocab.dates.get(subject) else None
        blocking = self._blocking({subject})
        if isinstance(dated, str):  # "how many people did we hire in 2025": the verb names the date
            blocking = [w for w in blocking if stem(w) not in date_stems(dated)]
        if blocking:
            return self._unknown_clarify(words=blocking)
        if self.r.time.compare or (self.r.time.period and dated is None):
            return ClarifyPlan(question=f"A count of {subject} objects is of them as they are now, with no period; "
                               "name a figure that has one, or the value to count by.", options=[])  # fmt: skip
        if isinstance(dated, ClarifyPlan):
            return dated
        if self.r.time.period and dated is not None:  # "claims filed last year": those whose date is in the period
            span = parse_period(self.r.time.period, self.today)
            return self._checked(CountPlan(object=subject, where=where, by=by, dated=dated,
                                           period=self.r.time.period, between=[span.start, span.end]))  # fmt: skip
        current = self.vocab.current.get(subject, [])
        if len(current) == 1 and HAVING.search(self.r.question.lower()):
            # "how many machine operators do we have": those there today, as the project counts them (headcount:
            # the active ones), not every record ever kept
            plan = MetricPlan(metrics=current, where={self._qualified(subject, k): v for k, v in where.items()},
                              by=[self._qualified(subject, b) for b in by])  # fmt: skip
            if self._valid(plan) is True:
                return self._checked(plan)
        return self._checked(CountPlan(object=subject, where=where, by=by))

    def _qualified(self, subject: str, name: str) -> str:
        """A count's property as a dimension of a metric on the same objects (role -> Employee.role)."""
        return name if "." in name or name in self.vocab.dimension_objects else f"{subject}.{name}"

    def _count_date(self, subject: str, where: dict[str, list[str]]) -> str | ClarifyPlan:
        """The date a period counts objects by: their only date; else the one whose words the question or a
        filter uses ('resignations last year': the exit reason's exit date); else the one the type's figures
        place it in time by ('orders got cancelled last year': order_date); else asked."""
        dates = self.vocab.dates[subject]
        if len(dates) == 1:
            return dates[0]
        placed = {  # the date the project places these objects in time by, in its figures of them, but for a
            # figure of the event that date marks (exits: exit_date IS NOT NULL)
            t for m, objects in self.vocab.metric_objects.items() if objects == {subject}
            if (t := self.vocab.metric_times.get(m)) in dates and t not in self.vocab.metric_where.get(m, "")
        }  # fmt: skip
        words = {stem(w) for w in tokens(self.r.question)} | {
            stem(w) for prop in where for w in prop.split(".")[-1].split("_")
        }
        used = [d for d in dates if date_stems(d) & words]
        if len(used) == 1:
            return used[0]
        if not used and len(placed) == 1:
            return placed.pop()  # "how many orders got cancelled last year": by their order date
        options = used or dates
        spoken = " or ".join(d.replace("_", " ") for d in options)
        return ClarifyPlan(question=f"Count {subject} objects by which date, {spoken}?", options=options)

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


def date_stems(prop: str) -> set[str]:
    """The stems a date property is named by: hire_date -> {hir}, install_date -> {install}."""
    return {stem(w) for w in prop.split("_") if w != "date"}

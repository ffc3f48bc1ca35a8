"""Which metrics a question names: every full name or synonym written out, a list of parts, else the metric
the question's words fit best (everyday words the lexicon rewrote count), refined by the other words; two
fitting equally well make it ask."""

from __future__ import annotations

import re

from companybrain.copilot.plan import ClarifyPlan, MetricPlan
from companybrain.copilot.reading import Mention
from companybrain.copilot.resolve import COUNTING, GROWTH, LISTED, TOPIC, Resolver
from companybrain.copilot.vocabulary import stem, tokens

AMOUNT = re.compile(r"\bhow much\b(?! of\b)")  # an amount ('how much did we book'), not 'how much of K01 is left'

# verbs of records' own event ('claims filed', 'credit notes issued', 'goods that came back'), as stems
OWN_EVENT = {stem(w) for w in ("filed", "issued", "raised", "submitted", "lodged", "logged", "processed", "came")}

_WEAKEST_FIT = 0.3  # a metric chosen by its words alone fits at least this well (a whole word of its name: 0.4)


class MetricChoice(Resolver):
    """The metrics of one reading (a part of the planner)."""

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
        named = self._own_date(self._refined(named))
        if len(named) == 1 and (fitter := self._fits_better(named[0])) is not None:
            named = [fitter]
        if named:
            return self._counted_not_amount(named) or named
        scored = [(sc, m) for sc, m in self._scores(list(self.vocab.metric_words)) if self._matches(m) >= 1]
        if not scored:
            return []
        if scored[0][0] < _WEAKEST_FIT:  # "is that good?": one word of 'cost of goods sold' names no figure;
            words = set(self.r.words) | set(self.r.hints)  # "show margin": a word of several names, which?
            named = sorted(m for _, m in scored if words & set(tokens(m.replace("_", " "))))
            if len(named) == 1 and tokens(named[0].replace("_", " "))[-1] in words:
                return [named[0]]  # "utilisation by site": the head word of one figure's own name, and no other's
            if named:
                return ClarifyPlan(question=f"Which of these do you mean: {', '.join(named[:6])}?", options=named[:6])
            return []
        top = [m for s, m in scored if s >= scored[0][0] - 1e-9]
        objects = {frozenset(self.vocab.metric_objects.get(m, set())) for m in top}
        if len(top) > 1 and len(objects) == 1:
            # "how many people have left": 'people' names the records (their count today, headcount), the other
            # word which of them (exits)
            current = set(self.vocab.current.get(next(iter(next(iter(objects))), ""), []))
            flows = [m for m in top if m not in current]
            if len(flows) == 1 and len(top) - len(flows) == 1:
                top = flows
        if len(top) > 1:
            return ClarifyPlan(question=f"Which of these do you mean: {', '.join(top[:6])}?", options=top[:6])
        chosen = self._stray(top[0]) or self._own_date(self._refined([top[0]]))
        return chosen if isinstance(chosen, ClarifyPlan) else self._counted_not_amount(chosen) or chosen

    def _counted_not_amount(self, named: list[str]) -> ClarifyPlan | None:
        """'how much did we book': an amount asked, and the figure the words chose is a count (orders) with no
        amount of its records to take instead; asked, not answered with a count."""
        question = self.r.question.lower()
        if len(named) != 1 or not AMOUNT.search(question) or GROWTH.search(question):
            return None
        if self.vocab.metric_formats.get(named[0]) != "count":
            return None
        return ClarifyPlan(question=f"'How much' asks for an amount, and {named[0]} is a count; which amount do you "
                           "mean? (`brain metrics` lists the figures.)", options=[named[0]])  # fmt: skip

    def _stray(self, chosen: str) -> ClarifyPlan | None:
        """'how many deals did we lose': an everyday word read as a figure of other records (lose: exits, people
        who left) than those the plain figure the other words chose counts (opportunities: all of them) may say
        which of them; it is not dropped silently."""
        objects = self.vocab.metric_objects.get(chosen, set())
        if self.vocab.metric_where.get(chosen):  # 'purchase orders came in late': a figure that says which already
            return None
        for mention in self.r.mentions:
            if mention.rewritten is None or mention.of("object", "dimension", "value", "property"):
                continue
            read = [t.name for t in mention.of("metric")]
            others = {o for m in read for o in self.vocab.metric_objects.get(m, set())}
            if read and chosen not in read and objects and others and not others & objects:
                return ClarifyPlan(question=f"I read '{mention.text}' as {', '.join(read)} ({'/'.join(sorted(others))}"
                                   f"), which is not a figure of the {'/'.join(sorted(objects))} records {chosen} "
                                   "counts; I will not guess. Which figure do you mean?",
                                   options=[chosen, *read])  # fmt: skip
        return None

    def _fits_better(self, chosen: str) -> str | None:
        """'how late was Jiangsu Hengli with its deliveries': a figure named in passing (deliveries) that the
        question's own values cannot filter (a supplier), where the figure the words fit far better can (the
        suppliers' delay days): that one."""
        scored = self._scores(list(self.vocab.metric_words))
        own = dict((m, sc) for sc, m in scored)
        best = scored[0][1]
        if best == chosen or own[best] < own[chosen] + 1.0 or self._matches(best) < 1:
            return None
        return best if self._filters_fit(best) and not self._filters_fit(chosen) else None

    def _filters_fit(self, metric: str) -> bool:
        where, _ = self._filters([metric])
        if not isinstance(where, dict) or not where:
            return False
        return self._valid(MetricPlan(metrics=[metric], where=where)) is True

    def _own_date(self, named: list[str]) -> list[str]:
        """'warranty claims filed last year', 'credit notes we issued': a verb of the records' own event places
        them by their own date - the same figure placed so (warranty_cost_by_claim_date), not by the date of
        the order they belong to (warranty_cost, as the margin counts it)."""
        if len(named) != 1 or "." not in (self.vocab.metric_times.get(named[0]) or ""):
            return named
        if not OWN_EVENT & {stem(w) for w in self.r.tokens}:
            return named
        chosen = named[0]
        same = [
            m
            for m in self.vocab.metric_objects
            if m != chosen
            and self.vocab.metric_objects[m] == self.vocab.metric_objects.get(chosen)
            and self.vocab.metric_where.get(m) == self.vocab.metric_where.get(chosen)
            and self.vocab.metric_formats.get(m) == self.vocab.metric_formats.get(chosen)
            and "." not in (self.vocab.metric_times.get(m) or ".")
        ]
        if len(same) == 1:
            self.notes.append(f"placed by the records' own {str(self.vocab.metric_times[same[0]]).replace('_', ' ')}")
            return same
        return named

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
        amount = bool(AMOUNT.search(r.question.lower()))
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
            elif amount and self.vocab.metric_formats.get(name) == "count":
                score -= 1.0  # "how much did the play win us", "how much have German customers bought": money
            scored.append((score, name))
        return sorted(scored, key=lambda x: (-x[0], x[1]))

    def _refined(self, named: list[str]) -> list[str]:
        """A metric named in passing refined by the other words ('deals' + 'won' -> deals won, 'units' +
        'sold' -> units sold): another metric on the same objects that the question's words fit better."""
        if len(named) != 1:
            return named
        scored = {m: sc for sc, m in self._scores(list(self.vocab.metric_words))}
        objects = self.vocab.metric_objects.get(named[0])
        question = self.r.question.lower()
        if (
            AMOUNT.search(question)
            and not GROWTH.search(question)
            and self.vocab.metric_formats.get(named[0]) == "count"
        ):
            money = [  # "how much did the play win us": the amount won, not the deals
                m
                for m in scored
                if self.vocab.metric_objects.get(m) == objects and self.vocab.metric_formats.get(m) == "currency"
            ]
            if money:  # the one sharing a word of the count's name (deals won -> won amount), then the best fit
                own = set(tokens(named[0].replace("_", " ")))
                return [max(money, key=lambda m: (len(own & set(tokens(m.replace("_", " ")))), scored[m], m))]
            # "how much have German customers bought": a count of who bought (distinct customers of the orders) asked
            # 'how much' is the amount they bought - of what makes up the orders (their lines), the first figure
            # declared on those records where more is better (revenue); 'how much did we book' (orders) stays asked
            distinct = named[0] in self.vocab.distinct
            parts = {t for t, linked in self.vocab.links.items() if distinct and objects and objects & linked}
            whole = [
                m
                for m in self.vocab.higher
                if self.vocab.metric_formats.get(m) == "currency" and self.vocab.metric_objects.get(m, set()) & parts
            ]
            if whole:
                self.notes.append(f"the amount of {named[0]} read as {whole[0]}")
                return whole[:1]
        # "reps who won the most deals": a value of the counted objects (an opportunity won) that names a figure of
        # the same kind on them (deals_won, a count like opportunities) is that figure, however well 'deals' fits
        own_values = {
            w
            for m in self.r.mentions
            if not m.of("metric")
            and not self._verb(m)
            and any(t.name.split(".")[0] in (objects or set()) for t in m.of("value"))
            for w in m.text.split()
        }
        form = self.vocab.metric_formats.get(named[0])
        kind = [
            m
            for m in scored
            if m != named[0]
            and self.vocab.metric_objects.get(m) == objects
            and self.vocab.metric_formats.get(m) == form
            and own_values & set(tokens(m.replace("_", " "))) - set(tokens(named[0].replace("_", " ")))
        ]
        if kind:
            return [max(kind, key=lambda m: (scored[m], m))]
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

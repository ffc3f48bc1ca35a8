"""Resolving what a question names against the model, for the planner (copilot/planner.py): which words are
values here and of what, which breakdown a word after 'by' means, which way a key or property is reached
from what is measured - each candidate checked by compiling it for the asking user, none guessed."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date

from companybrain.copilot.plan import AnyPlan, ClarifyPlan, CountPlan, MetricPlan, RefusePlan
from companybrain.copilot.reading import Mention, Reading
from companybrain.copilot.vocabulary import FLAG, Term, Vocabulary, distances, stem, tokens
from companybrain.errors import BrainError, PolicyDenied
from companybrain.semantic.joins import AmbiguousPath

Checker = Callable[[MetricPlan | CountPlan], None]  # raises when the plan does not validate for the user

HEADLINE = ["revenue", "gross_margin", "margin_pct", "on_time_delivery", "backlog", "win_rate", "headcount"]

TIME_GRAINS = ("day", "week", "month", "quarter", "year", "fiscal_quarter", "fiscal_year")

# a URL, an address, or "send ... to": the copilot answers the asker here and never calls out

# an order to change the data: the copilot reads; changes are declared actions (copilot/proposals.py)

GROWTH = re.compile(
    r"\b(?:growth|grow|grows|grew|grown|growing|yoy|qoq)\b"
    r"|\b(?:year|quarter|month) (?:over|on) (?:year|quarter|month)\b"
    r"|\b(?:is|are|was|were|going|gone|went|go|goes) (?:\w+ )?(?:up|down)\b"
)

PREPOSITIONS = {"in", "at", "from", "with", "for", "of", "about", "on", "to", "under", "vs", "versus", "or", "and"}
NEGATION = {"excluding", "except", "without", "exclude", "excluded", "not", "but"}

TOPIC = {"about", "regarding", "concerning"}
# a category's word after these is what the objects are: "tickets that are open", "orders got cancelled"
PREDICATE = {"is", "are", "was", "were", "be", "been", "being", "got", "get", "gets", "become", "became", "still"}

LISTED = re.compile(r"\band\b|,|&|\bplus\b|\bvs\.?\b|\bversus\b|\bagainst\b|\bwith\b|\bas well as\b")

# a word of a category that is also a verb ("did my customers open"): not a value after these

VERB_BEFORE = {"did", "do", "does", "we", "they", "who", "i", "you", "customer", "people", "employee"}

RISK_WORDS = {
    "risk", "risky", "likely", "likelihood", "probability", "chance", "chances", "odd", "odds", "anomaly", "score",
}  # fmt: skip

# "how happy are ...": the word after "how" names the figure asked for

HOW_WHAT = re.compile(r"^\s*how (\w+) (?:are|is|were|was|do|does|did)\b")

LOWER_IS_BETTER = re.compile(
    r"cost|scrap|defect|late|delay|downtime|failure|exit|attrition|return|warranty|ticket|cycle"
)

COUNTING = re.compile(r"\b(?:how many|number of|count of|count the|count)\b")


class Resolver:
    """What the words of one reading name, for the metrics chosen."""

    r: Reading
    vocab: Vocabulary
    check: Checker
    today: date
    notes: list[str]

    def _metrics(self) -> list[str] | ClarifyPlan:  # the planner's choice of metrics
        raise NotImplementedError

    def _qualifier(self, mention: Mention) -> bool:
        """A word that qualifies the next noun rather than naming a figure ('defect tickets')."""
        nxt = self._next(mention)
        if nxt is None or not mention.of("value"):
            return False
        types = {t.name.split(".", 1)[0] for t in mention.of("value")}
        owners = {t.name.split(".", 1)[0] for t in nxt.of("property")}
        return bool(types & ({t.name for t in nxt.of("object")} | self._metric_types(nxt) | owners))

    def _unplaced_adjective(self, mention: Mention, own_words: set[str]) -> bool:
        """'open deals' where 'open' is no value of a deal: a word that narrows the noun after it, which the
        plan would silently drop."""
        nxt = self._next(mention)
        if not mention.of("value") or mention.of("metric", "object", "dimension", "property") or nxt is None:
            return False
        if set(mention.text.split()) <= own_words or self._verb(mention):
            return False
        return bool(nxt.of("object") or nxt.of("metric")) and not nxt.by

    def _verb(self, mention: Mention) -> bool:
        """'did my customers open': a category's word used as a verb."""
        single = not mention.written_as_name and len(mention.text.split()) == 1
        return single and mention.before in VERB_BEFORE and not self._qualifier(mention)

    def _next(self, mention: Mention) -> Mention | None:
        end = mention.index + len(mention.text.split())
        return next((m for m in self.r.mentions if m.index == end), None)

    def _metric_types(self, mention: Mention) -> set[str]:
        return {o for t in mention.of("metric") for o in self.vocab.metric_objects.get(t.name, set())}

    def _own_name(self, mention: Mention) -> bool:
        return any(tuple(tokens(t.name.replace("_", " "))) == tuple(mention.text.split()) for t in mention.of("metric"))

    def _counted_metric(self, mention: Mention) -> bool:
        """'orders' names the order count metric; 'customers' is the Customer objects (no metric of that name)."""
        words = tuple(mention.text.split())
        return any(tuple(t.name.split("_")) == words or t.name == mention.text + "s" for t in mention.of("metric"))

    def _identity(self, dimension: str) -> bool:
        """A named dimension that names its objects (its expression is their name or key)."""
        owner, expr = self.vocab.properties.get(dimension, ("", ""))
        return bool(owner) and expr in ("name", self.vocab.object_keys.get(owner))

    def _by_mentions(self) -> list[Mention]:
        return [m for m in self.r.mentions if m.by]

    # --- objects by key, and what a model predicted -----------------------------------------------

    def _key_types(self, key: str, subject: str | None) -> list[str]:
        """The object types a key may belong to: the one named next to it, else those whose keys look alike."""
        shaped = self.vocab.types_of_key(key)
        named = [t.name for m in self.r.mentions for t in m.of("object")]
        return [t for t in named if t in shaped] or ([subject] if subject in shaped else []) or shaped

    def _masked_asked(self, type_name: str) -> list[str]:
        """Properties of a type the question asks for that the user sees masked (its name, an email, a cost)."""
        asked = {t.name for m in self.r.mentions for t in m.of("property") if t.name.split(".", 1)[0] == type_name}
        words = set(self.r.tokens) - {"id"}
        for prop in self.vocab.masked:
            owner, name = prop.split(".", 1)
            if owner == type_name and set(name.split("_")) & words:
                asked.add(prop)  # "what does it cost": std_cost; "the names": full_name
        return sorted(asked & self.vocab.masked)

    def _key_filters(self, subject: str | None) -> dict[str, list[str]]:
        """Keys named in the question as filters: the key property of the object each belongs to."""
        where: dict[str, list[str]] = {}
        bases = {o for m in self._metrics_named() for o in self.vocab.metric_objects.get(m, set())}
        for key in self.r.keys:
            types = self._key_types(key, subject)
            if len(types) == 1:
                where.setdefault(self._key_reference(types[0], bases), []).append(key)
        return where

    def _metrics_named(self) -> list[str]:
        found = self._metrics()
        return found if isinstance(found, list) else []

    def _key_reference(self, type_name: str, bases: set[str]) -> str:
        """How to name an object's key from what is measured: through the path the project declares for
        the object's dimension (a production week's line), else `Type.key`."""
        key = self.vocab.object_keys[type_name]
        return self._declared(type_name, key, bases) or f"{type_name}.{key}"

    def _declared(self, type_name: str, prop: str, bases: set[str]) -> str | None:
        """`Type.prop` as a link path, where the project declares how the measured type reaches `Type` (the
        `paths:` of a dimension of that type): a purchase order's supplier, not its component's usual one."""
        for dim, owner in sorted(self.vocab.dimension_objects.items()):
            paths = self.vocab.dimension_paths.get(dim, {})
            if owner == type_name:
                for base in sorted(bases):
                    if base in paths:
                        return f"{paths[base]}.{prop}"
        return None

    def _resolved(self, name: str, metrics: list[str]) -> str | None:
        """An ambiguous `Type.prop` read through the path the project declares for that type, if it does."""
        if "." not in name:
            return None
        owner, prop = name.split(".", 1)
        bases = {o for m in metrics for o in self.vocab.metric_objects.get(m, set())}
        found = self._declared(owner, prop, bases)
        if found is not None:
            self.notes.append(f"{name} read as {found} (the way the project declares)")
        return found

    def _number_limit(self, exclude: re.Match[str] | None = None) -> int | None:
        """A count named in the question ("the 5 machines"), not one that is a threshold (`exclude`)."""
        taken = {int(float(g)) for g in (exclude.groups() if exclude else ()) if g and "." not in g}
        small = [n for n in self.r.numbers if 0 < n <= 1000 and n not in taken]
        keys = [int(k) for k in self.r.keys if k.isdigit() and 0 < int(k) <= 1000]
        found = small or keys
        return found[0] if found else None

    def _checked(self, plan: MetricPlan | CountPlan) -> AnyPlan:
        try:
            self.check(plan)
        except PolicyDenied as exc:
            return RefusePlan(reason=exc.message, policy=exc.policy)
        except BrainError as exc:
            return ClarifyPlan(question=f"I cannot answer that as asked: {exc.message}", options=[])
        return plan

    def _valid(self, plan: MetricPlan | CountPlan) -> bool | PolicyDenied | AmbiguousPath:
        try:
            self.check(plan)
        except PolicyDenied as exc:
            return exc
        except AmbiguousPath as exc:
            return exc
        except BrainError:
            return False
        return True

    def _dimension(self, mention: Mention, metrics: list[str]) -> str | ClarifyPlan | RefusePlan | None:
        """The breakdown a phrase after 'by' names, resolved to what the metrics can be broken down by:
        a named dimension, a property of the object measured, or of an object it links to."""
        candidates = self._dimension_candidates(mention, metrics)
        denied: PolicyDenied | None = None
        for name in candidates:
            ok = self._valid(MetricPlan(metrics=metrics, by=[name]))
            if ok is True:
                return name
            if isinstance(ok, AmbiguousPath):
                declared = self._resolved(name, metrics)
                if declared is not None and self._valid(MetricPlan(metrics=metrics, by=[declared])) is True:
                    return declared
                return ClarifyPlan(question=ok.message, options=[".".join(p) for p in ok.candidates][:6])
            if isinstance(ok, PolicyDenied):
                denied = denied or ok
        if denied is not None:
            return RefusePlan(reason=denied.message, policy=denied.policy)
        if candidates:
            return ClarifyPlan(question=f"{', '.join(metrics)} cannot be broken down by {mention.text!r}.",
                               options=candidates[:6])  # fmt: skip
        return None

    def _closeness(self, name: str, near: dict[str, int], named_types: set[str]) -> tuple[bool, int, bool, str]:
        """The order to try dimensions in: of an object the question names, then nearest to the measured
        objects, a named dimension before a bare property."""
        owner = self._owner(name) or ""
        return (owner not in named_types, near.get(owner, 99), "." in name, name)

    def _dimension_candidates(self, mention: Mention, metrics: list[str] | None = None) -> list[str]:
        names = [t.name for t in mention.of("dimension")]
        props = [t.name for t in mention.of("property")]
        for term in mention.of("object"):
            key = self.vocab.object_keys.get(term.name)
            identity = [
                d for d, (obj, expr) in self.vocab.properties.items() if obj == term.name and expr in ("name", key)
            ]
            names += [d for d in identity if d not in names]
            names.append(f"{term.name}.name" if f"{term.name}.name" in self._props() else f"{term.name}.{key}")
        for term in mention.of("value"):  # "by tier" where tier is only known as a value's dimension
            if term.name not in names and term.name not in props:
                (props if "." in term.name else names).append(term.name)
        if not metrics:
            return list(dict.fromkeys(names + props))
        near = self._near(metrics)
        word = mention.text.split()[-1]  # "exits by reason": a property of what is measured ending in the word
        props += [p for p in self._props() if p.endswith("_" + word) and near.get(p.split(".", 1)[0], 99) <= 1]
        return self._ordered(names + props, mention.text, metrics)

    def _ordered(self, candidates: list[str], text: str, metrics: list[str]) -> list[str]:
        """Dimensions in the order to try them: a property of the measured type named like the word; then a
        property of the same name on the way to a named dimension's object (the opportunity's account's
        region before the customer's); then the named dimensions, nearest first; then other properties."""
        near = self._near(metrics)
        names = [c for c in candidates if "." not in c]
        props = [c for c in candidates if "." in c]
        named = [n for n in dict.fromkeys(names) if n in near or (self._owner(n) or "") in near]
        first: list[str] = []
        for dim in named:  # pipeline by region: the opportunity's account's region, on its way to the customer's
            owner = self._owner(dim) or ""
            first += [
                p
                for p in props
                if p.split(".", 1)[1] == self.vocab.properties.get(dim, ("", ""))[1]
                and near.get(p.split(".", 1)[0], 99) < near.get(owner, 99)
                and owner in distances(self.vocab, {p.split(".", 1)[0]})
            ]
        rest = sorted(dict.fromkeys(names + props), key=lambda d: (d not in named, self._closeness(d, near, set())))
        # "tickets by category": the ticket's own category before a dimension that only has it as a synonym
        word = "_".join(text.split())
        own = [p for p in props if near.get(p.split(".", 1)[0], 99) == 0 and p.split(".", 1)[1] == word]
        return list(dict.fromkeys(own + first + rest))

    def _props(self) -> set[str]:
        return {t.name for terms in self.vocab.phrases.values() for t in terms if t.kind == "property"}

    def _implied_dimension(self, metrics: list[str]) -> str | ClarifyPlan | None:
        """'Which customer cost the most ...': the object named is what is ranked."""
        at = self.r.rank_index if self.r.rank_index is not None else -1
        # "which site in my region has the most ...": the noun after which/what; else the one after the
        # ranking word ("top 5 customers"), else the nearest before it
        kinds = [m.index for m in self.r.mentions if m.of("object", "dimension") and not m.of("metric")]
        asked = min(kinds, default=-1) if self.r.tokens[:1] in (["which"], ["what"]) else -1  # "which three reps"
        ordered = sorted(self.r.mentions, key=lambda m: (m.index != asked, m.index < at, abs(m.index - at)))
        for mention in ordered:
            if mention.of("object", "dimension") and not mention.of("metric"):
                chosen = self._dimension(mention, metrics)
                if isinstance(chosen, RefusePlan):
                    return ClarifyPlan(question=chosen.reason)
                return chosen
        return None

    def _filters(self, metrics: list[str]) -> tuple[dict[str, list[str]] | ClarifyPlan | RefusePlan, list[str]]:
        """Values named in the question as filters on what the metrics can be filtered by; several values of
        one dimension (Bologna vs Wroclaw) also break the answer down by it."""
        where: dict[str, list[str]] = {}
        own_words = {w for m in metrics for w in self.vocab.metric_words.get(m, set())}
        # "pipeline expected to close in Q2": the word of the date the figures are placed by (close_date) names
        # that date, not a value (closed) the figures' own filter rules out
        dated = {stem(w) for m in metrics for w in str(self.vocab.metric_times.get(m) or "").split(".")[-1].split("_")}
        for mention in self.r.mentions:
            if len(mention.text.split()) == 1 and stem(mention.text) in dated - {stem("date")}:
                continue
            values = self._values_of(mention)
            if not values and self._unplaced_adjective(mention, own_words):
                nxt = self._next(mention)
                noun = nxt.text if nxt is not None else "objects"
                return ClarifyPlan(question=f"I cannot tell which {noun} are {mention.text!r} in the company's data; "
                                   "I will not guess.", options=[]), []  # fmt: skip
            if not values or set((mention.rewritten or mention.text).split()) <= own_words:
                continue  # "open tickets ... still open": the metric already means it
            chosen = self._value(mention, values, metrics)
            if isinstance(chosen, ClarifyPlan | RefusePlan):
                return chosen, []
            if chosen is None:
                continue
            dim, value = chosen
            where.setdefault(dim, [])
            if value not in where[dim]:
                where[dim].append(value)
        extra = [d for d, vs in where.items() if len(vs) > 1]
        return where, extra

    def _values_of(self, mention: Mention, subject: str | None = None) -> list[Term]:
        """The values a mention names, if it is a value here: a name (a site, a region, a tier) anywhere; a
        category's everyday word ('open', 'high', 'defect') only before a noun of its type ('open deals',
        'defect tickets') or after in/at/from/with; never a phrase that names a metric, dimension or type."""
        values = mention.of("value")
        if not values or (mention.by and mention.of("dimension", "property")) or self._verb(mention):
            return []
        if mention.before in TOPIC:
            return values  # "complaints about deliveries"
        flags = [
            t
            for t in values
            if t.value == FLAG and mention.of("property") and Term("property", t.name) in mention.terms
        ]
        if flags:
            return flags  # "revenue from orders under a promotion": the property's own word, as a filter
        if mention.of("metric", "object", "dimension", "property") and not self._qualifier(mention):
            return []
        if subject is not None and any(t.name.startswith(subject + ".") for t in values):
            return values  # "how many prospects": a kind of the counted objects
        if mention.before in PREDICATE and not mention.by:
            return values  # "orders that got cancelled", "tickets that are open"
        # a name as written (Wroclaw, EMEA), several words, after in/at/from..., or before its type's noun
        # ("key accounts", "defect tickets"); a lone common word elsewhere ("quality results") is not a filter
        if mention.written_as_name or mention.index < 0 or len(mention.text.split()) > 1:
            return values
        if mention.before in PREPOSITIONS or self._qualifier(mention):
            return values
        if self.r.tokens[max(mention.index - 2, 0) : mention.index] == ["how", "many"]:
            return values  # "how many bearings did we sell": units of that family
        return []

    def _near(self, metrics: list[str]) -> dict[str, int]:
        """How far each object type is from what the metrics measure (0: their own type)."""
        starts = {o for m in metrics for o in self.vocab.metric_objects.get(m, set())}
        return distances(self.vocab, starts)

    def _owner(self, name: str) -> str | None:
        """The object type a dimension or `Type.prop` is about."""
        return name.split(".", 1)[0] if "." in name else self.vocab.dimension_objects.get(name)

    def _value(
        self, mention: Mention, values: list[Term], metrics: list[str]
    ) -> tuple[str, str] | ClarifyPlan | RefusePlan | None:
        by_dim: dict[str, set[str]] = {}
        for t in values:
            by_dim.setdefault(t.name, set()).add(t.value or "")
        nxt = self._next(mention)
        noun = {t.name for t in nxt.of("object")} if nxt is not None else set()
        if nxt is not None:  # "Brazilian accounts": an account is also a customer (a dimension naming customers)
            noun |= {self.vocab.dimension_objects[t.name] for t in nxt.of("dimension") if self._identity(t.name)}
        if noun:  # a value of the noun's own type, else of one it links to ("the Pune lines": the lines' site's)
            reach = distances(self.vocab, noun)
            own = {d: v for d, v in by_dim.items() if (self._owner(d) or "") in noun}
            # but not where the noun's own objects have that property: "US customers" a rep may not see are
            # not the customers of a site in the US
            own_words = {w for o in noun for w in self.vocab.property_words.get(o, set())}
            linked = {
                d: v
                for d, v in by_dim.items()
                if (self._owner(d) or "") in reach and not set(tokens(d.split(".")[-1].replace("_", " "))) & own_words
            }
            if not (own or linked):
                kinds = ", ".join(sorted(noun))
                return RefusePlan(
                    reason=f"{mention.text!r} is not among the {kinds} objects you may see.", policy="row-filter"
                )
            by_dim = own or linked
        dims = self._ordered(list(by_dim), mention.text, metrics)
        denied: PolicyDenied | None = None
        for dim in dims:
            options = sorted(by_dim[dim])
            ok = self._valid(MetricPlan(metrics=metrics, where={dim: options[:1]}))
            if isinstance(ok, AmbiguousPath):
                declared = self._resolved(dim, metrics)
                if (
                    declared is None
                    or self._valid(MetricPlan(metrics=metrics, where={declared: options[:1]})) is not True
                ):
                    return ClarifyPlan(question=ok.message, options=[".".join(p) for p in ok.candidates][:6])
                dim, ok = declared, True
            if ok is True:
                if len(options) > 1:
                    return ClarifyPlan(question=f"Which {dim} do you mean by {mention.text!r}?", options=options)
                if not self.vocab.seen(dim, options[0]):
                    return RefusePlan(reason=f"{dim} {options[0]} is outside the data you may see.",
                                      policy="row-filter")  # fmt: skip
                return dim, options[0]
            if isinstance(ok, PolicyDenied):
                denied = denied or ok
        if denied is not None:
            return RefusePlan(reason=denied.message, policy=denied.policy)
        return ClarifyPlan(question=f"{mention.text!r} is a value of {', '.join(dims[:4])}, which "
                           f"{', '.join(metrics)} cannot be filtered by.", options=dims[:6])  # fmt: skip

    # --- counting objects -------------------------------------------------------------------------

"""Reading a question: every word placed - a term of the model (metric, dimension, property, object type,
value), a time expression, a key, a number, a ranking word, a function word - or left unknown.

The project's own names come first; the business lexicon (lexicon.yaml) rewrites everyday phrases into
them; filler and function words are placed as such. An unknown word is kept with its position and the
way it was written, so the planner can tell a stray verb ("did we *bring in*") from a name it does not
know ("*Zorgon* Ltd"), which could change the answer.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from datetime import date

from companybrain.copilot.countries import COUNTRY_NAMES
from companybrain.copilot.lexicon import Lexicon
from companybrain.copilot.timeexpr import TimeParse, parse_time
from companybrain.copilot.vocabulary import Term, Vocabulary, raw_tokens, singular, tokens

FUNCTION = set(
    tokens(
        "what whats is are was were be been being the a an of for in on at to from with and or me show give tell "
        "list how much many our we us my i do did does this that these those it its there their please can could "
        "would you your which who whom where when value total overall all any some so than then as also too only "
        "just have has had get see look like want need know got make made makes one ones thing things same "
        "other else both either each every more most less least vs versus against compared compare comparison "
        "with without into onto over under since between during before after until till up down off out "
        "about around per by through via within across first here"
    )
)
ARTICLES = {"the", "a", "an", "our", "my", "their", "its", "this", "that", "these", "those"}
UP = {
    "top", "highest", "most", "largest", "biggest", "best", "greatest", "maximum", "max", "leading", "busiest",
    "strongest", "fattest", "richest", "heaviest", "widest", "fastest", "longest",
}  # fmt: skip
DOWN = {
    "lowest", "least", "smallest", "fewest", "bottom", "worst", "minimum", "min", "weakest", "thinnest",
    "slimmest", "poorest", "cheapest", "narrowest", "shortest",
}  # fmt: skip
ORDERING = {"rank", "ranked", "ranking", "order", "ordered", "sort", "sorted"}
BY_WORDS = {"by", "per", "each", "across", "every"}
# a key someone types: parts joined by dashes with a digit (MKE-L3-M2), letters then 3+ digits (C00117,
# E001885, K00001), or a number of 4+ digits that is not a year (123456)
KEY = re.compile(
    r"(?<![\w-])#?(?:(?=[A-Za-z0-9-]*\d)[A-Za-z0-9]+(?:-[A-Za-z0-9]+)+|[A-Za-z]{1,4}\d{3,}|\d{4,})(?![\w-])"
)


_COUNTRIES = {" ".join(tokens(name)) for names in COUNTRY_NAMES.values() for name in names}


@dataclass
class Mention:
    """A phrase of the question and what it may mean; `by` when it follows a breakdown word."""

    text: str
    terms: set[Term]
    index: int
    by: bool = False
    rewritten: str | None = None  # the lexicon's reading of an everyday phrase
    before: str = ""  # the word just before it
    written_as_name: bool = False  # capitalised in the question (Wroclaw, EMEA), not at its start

    def kinds(self) -> set[str]:
        return {t.kind for t in self.terms}

    def of(self, *kinds: str) -> list[Term]:
        return sorted((t for t in self.terms if t.kind in kinds), key=lambda t: (t.kind, t.name, t.value or ""))


@dataclass
class Reading:
    question: str
    mentions: list[Mention] = field(default_factory=list)
    hints: list[str] = field(default_factory=list)  # words that name part of something (a lexicon target)
    said: dict[str, str] = field(default_factory=dict)  # a hint -> the words of the question it came from
    keys: list[str] = field(default_factory=list)
    numbers: list[int] = field(default_factory=list)
    rank: tuple[str, int | None] | None = None  # ("desc" | "asc" | "best" | "worst", limit)
    ordering: bool = False  # "order / rank / sort the sites by ...": every row, sorted
    unknown: list[tuple[str, bool]] = field(default_factory=list)  # (word, written as a name?)
    unknown_at: dict[int, str] = field(default_factory=dict)  # where each unknown word is
    ignored: list[str] = field(default_factory=list)
    unseen: list[str] = field(default_factory=list)  # places named that no value the user may see holds
    rank_index: int | None = None  # where the ranking word is
    time: TimeParse = field(default_factory=TimeParse)
    words: list[str] = field(default_factory=list)  # every content word, as read (for scoring metrics)
    object_words: set[str] = field(default_factory=set)  # the words that name object types
    tokens: list[str] = field(default_factory=list)  # the words of the question, as matched

    def of(self, *kinds: str) -> list[Mention]:
        return [m for m in self.mentions if m.kinds() & set(kinds)]


def read(question: str, vocab: Vocabulary, lexicon: Lexicon, today: date) -> Reading:
    """Place every word of the question."""
    reading = Reading(question)
    lower = question.lower()
    reading.time = parse_time(lower, today, lexicon.numbers)
    original = question
    for start, end in reversed(_merged(reading.time.spans)):
        lower = lower[:start] + " " + lower[end:]
        original = original[:start] + " " + original[end:]
    for m in KEY.finditer(original):
        if not re.fullmatch(r"(19|20)\d\d", m.group()):
            reading.keys.append(m.group().lstrip("#"))
    for key in reading.keys:
        lower = re.sub(rf"(?<![\w-]){re.escape(key.lower())}(?![\w-])", " ", lower, count=1)
        original = re.sub(rf"(?<![\w-]){re.escape(key)}(?![\w-])", " ", original, count=1)
    codes: dict[str, str] = {}  # placeholder word -> a short value as written ("NA", "EMEA", "B5")
    for code in re.findall(r"\b[A-Z][A-Z0-9]{1,4}\b", original):
        if code in vocab.short_values:
            placeholder = f"qqcode{len(codes)}qq"
            codes[placeholder] = code
            lower = re.sub(rf"\b{code.lower()}\b", f" {placeholder} ", lower, count=1)
        elif (code.lower(),) not in vocab.phrases and (code in COUNTRY_NAMES or code in lexicon.aliases.values()):
            reading.unseen.append(code)  # a country or region the user's data does not hold
            lower = re.sub(rf"\b{code.lower()}\b", " ", lower, count=1)
    capitalised = re.findall(r"(?<![.?!]\s)(?<!^)\b[A-Z][A-Za-z]+\b", original.strip())
    names = {singular(w.lower()) for w in capitalised if not w.isupper()}  # not acronyms (CRM, KPI)
    acronyms = {singular(w.lower()) for w in re.findall(r"\b[A-Z]{2,5}\b", original)}
    words = [singular(w) for w in raw_tokens(lower)]
    if re.match(r"\s*(?:please\s+)?(?:order|rank|sort|list)\s+(?:the|all|our|my|these|those|them|every)\b", lower):
        reading.ordering = True  # "Order the sites by ...", "Rank the regions by ..."
        words = words[1:] if words[0] in ORDERING else words
    reading.tokens = words
    _place(reading, words, vocab, lexicon, names, codes, acronyms)
    _merge_owned(reading)
    _numbered(reading, vocab)
    return reading


def _numbered(reading: Reading, vocab: Vocabulary) -> None:
    """'line 3': a kind of thing and a number, read as the values of that kind whose name ends so
    ('Milwaukee line 3'); several (every site has a line 3) are asked about, never left out."""
    for n, mention in enumerate(reading.mentions):
        end = mention.index + len(mention.text.split())
        if end >= len(reading.tokens) or not reading.tokens[end].isdigit() or not mention.of("dimension", "object"):
            continue
        kinds = {t.name for t in mention.of("dimension")}
        types = tuple(f"{t.name}." for t in mention.of("object"))
        tail = (mention.text.split()[-1], reading.tokens[end])
        values = {
            t
            for key, terms in vocab.phrases.items()
            if key[-2:] == tail
            for t in terms
            if t.kind == "value" and (t.name in kinds or t.name.startswith(types))
        }
        if values:
            reading.mentions[n] = replace(mention, text=f"{mention.text} {tail[1]}", terms=values)
        elif tail[0] not in ("day", "week", "month", "quarter", "year", "top", "first", "last"):
            reading.unknown.append((" ".join(tail), True))  # "line 12" where there is none: asked, not dropped
            reading.unknown_at[end] = " ".join(tail)
        else:
            continue
        if int(tail[1]) in reading.numbers:
            reading.numbers.remove(int(tail[1]))


def _merged(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Spans in order, those that overlap made one (two patterns may read the same words)."""
    out: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if out and start < out[-1][1]:
            out[-1] = (out[-1][0], max(end, out[-1][1]))
        else:
            out.append((start, end))
    return out


def _merge_owned(reading: Reading) -> None:
    """'order channel', 'customer region', 'ticket priority': an object type named just before one of its
    properties (or a dimension it holds) is that property - one mention, not two."""
    merged: list[Mention] = []
    for mention in reading.mentions:
        last = merged[-1] if merged else None
        owners = {t.name for t in last.of("object")} if last is not None else set()
        if last is not None and owners and mention.index == last.index + len(last.text.split()):
            word = mention.text
            owned = {t for t in mention.of("property") if t.name.split(".", 1)[0] in owners}
            if owned:
                merged[-1] = Mention(f"{last.text} {word}", owned, last.index, by=last.by, before=last.before)
                continue
        merged.append(mention)
    reading.mentions = merged


def _place(
    reading: Reading,
    words: list[str],
    vocab: Vocabulary,
    lexicon: Lexicon,
    names: set[str],
    codes: dict[str, str],
    acronyms: set[str],
) -> None:
    longest = max(vocab.longest, lexicon.longest)
    i, by_next = 0, False
    while i < len(words):
        if words[i] in codes:  # a short value as written, in its place
            code = codes[words[i]]
            before = words[i - 1] if i > 0 else ""
            terms: set[Term] = set(vocab.short_values.get(code, set()))
            reading.mentions.append(Mention(code, terms, i, by=by_next, before=before, written_as_name=True))
            by_next = False
            i += 1
            continue
        placed = 0
        for n in range(min(longest, len(words) - i), 0, -1):
            phrase = tuple(words[i : i + n])
            found = _meaning(phrase, vocab, lexicon)
            if found is None:
                continue
            kind, value = found
            before = next((w for w in reversed(words[:i]) if w not in ARTICLES), "")
            if kind == "terms" and reading.mentions and reading.mentions[-1].by and before == "and":
                by_next = True  # "by region and segment"
            if kind == "terms":
                assert isinstance(value, set)
                named = (
                    any(w in names for w in phrase)
                    or (any(w in acronyms for w in phrase) and all(t.kind == "value" for t in value))
                    or phrase in lexicon.demonyms  # "German revenue": a proper adjective, first word or not
                )
                reading.mentions.append(
                    Mention(" ".join(phrase), value, i, by=by_next, before=before, written_as_name=named)
                )
                if any(t.kind in ("metric", "object") for t in value):
                    reading.words.extend(phrase)
                if not any(t.kind == "metric" for t in value):
                    reading.object_words.update(phrase)
                by_next = False
            elif kind == "rewrite":
                assert isinstance(value, tuple)
                if value == ("by",):
                    by_next = words[i + n : i + n + 1] != ["all"]  # "across all the plants": all of them together
                else:
                    targets = vocab.phrases.get(value)
                    if targets:
                        reading.mentions.append(
                            Mention(
                                " ".join(phrase), set(targets), i, by=by_next, rewritten=" ".join(value), before=before
                            )
                        )
                        by_next = False
                    else:
                        reading.hints.extend(value)
                        reading.said.update({w: " ".join(phrase) for w in value})
                    reading.words.extend(value)
            elif kind == "number":
                assert isinstance(value, int)
                reading.numbers.append(value)
            elif kind == "unseen":
                reading.unseen.append(str(value))
            placed = n
            break
        if placed:
            i += placed
            continue
        word = words[i]
        if word in BY_WORDS:
            by_next = True
        elif word in UP | DOWN:
            reading.rank = (_direction(word), _limit(words, i, reading))
            reading.rank_index = i
            if i + 1 < len(words) and words[i + 1] == "first":
                reading.ordering = True  # "biggest first", "worst first": every row, in that order
        elif word in ORDERING:
            reading.ordering = True
        elif word.isdigit():
            reading.numbers.append(int(word))
        elif word in lexicon.verbs:
            reading.ignored.append(word)  # a verb that names no figure, filter or breakdown
        elif word not in FUNCTION:
            if any(word in words for words in vocab.metric_words.values()):
                reading.hints.append(word)  # "late", "average": a word of some metric's name
            elif word in acronyms:
                reading.ignored.append(word)  # "the CRM", "in SAP": a system's name, not a value
            else:
                reading.unknown.append((word, word in names))
                reading.unknown_at[i] = word
            reading.words.append(word)
        i += 1


def _meaning(phrase: tuple[str, ...], vocab: Vocabulary, lexicon: Lexicon) -> tuple[str, object] | None:
    """What a phrase means, the project's own names first: terms, a rewrite, a number or a filler."""
    if phrase in vocab.phrases:
        return "terms", set(vocab.phrases[phrase])
    for table in (lexicon.aliases, lexicon.demonyms):
        if phrase in table:
            terms = _value_terms(table[phrase], vocab)
            return ("terms", terms) if terms else ("unseen", table[phrase])
    if len(phrase) <= 3 and " ".join(phrase) in _COUNTRIES:
        return "unseen", " ".join(phrase)  # a country the user's data does not hold
    if phrase in lexicon.rewrite:
        return "rewrite", lexicon.rewrite[phrase]
    if phrase in lexicon.numbers:
        return "number", lexicon.numbers[phrase]
    if phrase in lexicon.fillers:
        return "filler", None
    return None


def _value_terms(name: str, vocab: Vocabulary) -> set[Term]:
    """The values a name is (a value as written, a short code, or a country's name)."""
    if name in vocab.short_values:
        return set(vocab.short_values[name])
    terms = set(vocab.phrases.get(tuple(tokens(name)), set()))
    for code, countries in COUNTRY_NAMES.items():
        if name in countries:
            terms |= set(vocab.short_values.get(code, set()))
    return {t for t in terms if t.kind == "value"}


def _direction(word: str) -> str:
    if word in ("best", "worst"):
        return word
    return "asc" if word in DOWN else "desc"


def _limit(words: list[str], i: int, reading: Reading) -> int | None:
    """`top 5`, `5 biggest`, `the three worst`: the number next to a ranking word."""
    for j in (i + 1, i - 1):
        if 0 <= j < len(words) and words[j].isdigit() and 0 < int(words[j]) <= 1000:
            return int(words[j])
    if reading.numbers and len(reading.numbers) == 1 and 0 < reading.numbers[0] <= 100:
        return reading.numbers[0]
    return None

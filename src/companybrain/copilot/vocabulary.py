"""The words the embedded engine understands: metric and dimension names and synonyms from the
semantic model, and dimension values read through the governed path as the asking user."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from companybrain.copilot.countries import COUNTRY_NAMES, holds_countries
from companybrain.derived import derived, project_digest
from companybrain.errors import PolicyDenied

if TYPE_CHECKING:
    from companybrain.brain import Brain
    from companybrain.governance.principal import Principal

# corporate and site suffixes: "Alpine Controls S.L." is also "Alpine Controls", "Bologna Plant" "Bologna"
_SUFFIXES = {
    "inc", "ltd", "ltda", "llc", "gmbh", "ag", "sa", "s", "a", "p", "l", "de", "c", "v", "co", "k", "kk", "bv",
    "nv", "spa", "srl", "sl", "plc", "oy", "ab", "as", "jsc", "pvt", "sp", "z", "o", "cv", "pty", "corp",
}  # fmt: skip
_SITE_WORDS = {"plant", "works", "work", "factory", "site"}
_MAX_VALUES = 5000


def singular(word: str) -> str:
    """A crude singular, applied to questions and vocabulary alike, so only consistency matters."""
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


def raw_tokens(text: str) -> list[str]:
    """Lower-case word tokens as written (no singular); '%' reads 'percent'."""
    text = text.lower().replace("%", " percent ").replace("'s ", " ").replace("&", " and ")
    return re.findall(r"[a-z0-9]+", text)


def tokens(text: str) -> list[str]:
    """Lower-case singular word tokens; '%' reads 'percent'."""
    return [singular(w) for w in raw_tokens(text)]


@dataclass(frozen=True)
class Term:
    """What a phrase means: a metric, a dimension, or a value of a dimension."""

    kind: str  # metric | dimension | value
    name: str  # metric or dimension name
    value: str | None = None


@dataclass
class Vocabulary:
    """Phrases (token tuples) to the terms they may mean."""

    phrases: dict[tuple[str, ...], set[Term]] = field(default_factory=dict)
    exact: dict[tuple[str, ...], set[Term]] = field(default_factory=dict)  # unsingularised spellings
    short_values: dict[str, set[Term]] = field(default_factory=dict)  # "NA": matched case-sensitively
    metric_formats: dict[str, str] = field(default_factory=dict)
    metric_descriptions: dict[str, str] = field(default_factory=dict)
    object_types: dict[tuple[str, ...], str] = field(default_factory=dict)  # ("order", "line") -> OrderLine
    properties: dict[str, tuple[str, str]] = field(default_factory=dict)  # dimension -> (object, property)
    longest: int = 1

    def add(self, phrase: str, term: Term) -> None:
        key = tuple(tokens(phrase))
        if not key:
            return
        self.phrases.setdefault(key, set()).add(term)
        self.exact.setdefault(tuple(raw_tokens(phrase)), set()).add(term)
        self.longest = max(self.longest, len(key))

    def add_value(self, dimension: str, value: str) -> None:
        term = Term("value", dimension, value)
        stripped = value.strip()
        if len(stripped) <= 2:
            if stripped.isupper():
                self.short_values.setdefault(stripped, set()).add(term)
            return
        self.add(stripped, term)
        full = tokens(stripped)
        for cut, least in ((_SUFFIXES, 2), (_SITE_WORDS, 1)):
            # "Alpine Works Ltda." is also "Alpine Works"; a single word only for a site ("Bologna Plant")
            words = list(full)
            while len(words) > least and words[-1] in cut:
                words = words[:-1]
            if words != full:
                self.add(" ".join(words), term)

    def words(self) -> set[str]:
        return {w for key in self.phrases for w in key}


_CACHE: dict[tuple[str, str, str | None, bytes], Vocabulary] = {}


def vocabulary(brain: Brain, user: str | Principal | None) -> Vocabulary:
    """The vocabulary for `user`, cached per project (as loaded), user and build (values change with builds): in
    memory, and on disk (`derived`) so that one-shot `brain ask` calls skip reading the values."""
    name, version = brain.principal(user).user, brain.data_version()
    key = (str(brain.project.root), name, version, project_digest(brain.project))  # a reopened, edited project
    if key not in _CACHE:
        if version is None:  # nothing built: no values to read (and nothing to keep)
            values = _read_values(brain, user)
        else:
            kept, _ = derived(brain, user, "copilot_values", lambda: _read_values(brain, user))
            values = [(d, v) for d, v in kept]
        _CACHE[key] = _build(brain, values)
    return _CACHE[key]


def _read_values(brain: Brain, user: str | Principal | None) -> list[tuple[str, str]]:
    """Dimension values the user may see, read through the governed path."""
    by_object: dict[str, list[tuple[str, str]]] = {}
    for name, dim in brain.project.dimensions.items():
        if re.fullmatch(r"\w+", dim.expr) and not dim.expr.endswith("_id"):
            by_object.setdefault(dim.object, []).append((name, dim.expr))
    pairs: list[tuple[str, str]] = []
    for type_name, dims in by_object.items():
        try:
            table = brain.read(type_name, limit=_MAX_VALUES * 4, user=user)
        except PolicyDenied:  # the user may not read these objects: their values stay unknown
            continue
        for name, column in dims:
            if column not in table.column_names:
                continue
            values = {v for v in table.column(column).to_pylist() if isinstance(v, str) and v != "***"}
            if len(values) <= _MAX_VALUES:
                pairs.extend((name, value) for value in sorted(values))
    return pairs


def _build(brain: Brain, values: list[tuple[str, str]]) -> Vocabulary:
    vocab = Vocabulary()
    for name, metric in brain.project.metrics.items():
        vocab.metric_formats[name] = metric.format or "number"
        vocab.metric_descriptions[name] = metric.description or ""
        for phrase in [name.replace("_", " "), *metric.synonyms]:
            vocab.add(phrase, Term("metric", name))
    for type_name in brain.project.objects:
        vocab.object_types[tuple(tokens(re.sub(r"(?<=[a-z])(?=[A-Z])", " ", type_name)))] = type_name
    for name, dim in brain.project.dimensions.items():
        if re.fullmatch(r"\w+", dim.expr):
            vocab.properties[name] = (dim.object, dim.expr)
        for phrase in [name.replace("_", " "), *dim.synonyms]:
            vocab.add(phrase, Term("dimension", name))
        enumeration = re.search(r"\(([^()]*,[^()]*)\)", dim.description or "")
        if enumeration and "..." not in enumeration[1]:
            for value in enumeration[1].split(","):
                vocab.add_value(name, value.strip())
    for name, value in values:
        vocab.add_value(name, value)
    countries = {
        name
        for name, dim in brain.project.dimensions.items()
        if holds_countries(name, dim.description or "", list(dim.synonyms))
    }
    for name, value in values:
        # "Germany" is the value DE of a country dimension (only codes the user can see are named)
        for country in COUNTRY_NAMES.get(value, ()) if name in countries else ():
            vocab.add(country, Term("value", name, value))
    return vocab

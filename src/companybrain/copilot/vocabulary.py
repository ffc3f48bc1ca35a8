"""The words the embedded engine understands: metric and dimension names and synonyms from the
semantic model, and dimension values read through the governed path as the asking user."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NamedTuple

from companybrain.copilot.countries import COUNTRY_NAMES, holds_countries
from companybrain.derived import derived, project_digest
from companybrain.errors import BrainError, PolicyDenied

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
_NEAR, _NEAR_LENGTH = 85, 5  # a misspelling: this rapidfuzz ratio or more, of a word this long or longer
FLAG = "true"  # the value a boolean property's own word names ("active" for is_active)
KEY_PREFIX = "key:"  # a value pair naming the shape of an object type's keys
_MAX_CATEGORIES = 60  # a property with more distinct values than this is not a category
_MAX_ROWS = 600_000  # object types with more objects are not scanned for categories


def singular(word: str) -> str:
    """A crude singular, applied to questions and vocabulary alike, so only consistency matters."""
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 4 and word.endswith(("sses", "xes", "ches", "shes", "zes")):
        return word[:-2]
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


class Term(NamedTuple):
    """What a phrase means: a metric, a named dimension, a property of an object type (`Type.prop`),
    an object type, or a value of a dimension or property. (A tuple: a vocabulary holds tens of
    thousands, and reads them back from disk in every `brain ask`.)"""

    kind: str  # metric | dimension | property | object | value
    name: str  # metric, dimension, Type.prop or Type name
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
    metric_objects: dict[str, set[str]] = field(default_factory=dict)  # metric -> its base object types
    dimension_objects: dict[str, str] = field(default_factory=dict)  # named dimension -> its object type
    dimension_paths: dict[str, dict[str, str]] = field(default_factory=dict)  # dimension -> base type -> path
    seen_values: dict[str, set[str]] = field(default_factory=dict)  # dimension -> values read as the user
    predicted: dict[str, str] = field(default_factory=dict)  # Type.prop -> the use case that scores it
    thresholds: dict[str, dict[str, float]] = field(default_factory=dict)  # use case -> named score levels
    key_shapes: dict[str, set[str]] = field(default_factory=dict)  # object type -> shapes of its keys
    object_keys: dict[str, str] = field(default_factory=dict)  # object type -> its key property
    property_words: dict[str, set[str]] = field(default_factory=dict)  # object type -> its properties' words
    dates: dict[str, list[str]] = field(default_factory=dict)  # object type -> its date properties
    current: dict[str, list[str]] = field(default_factory=dict)  # object type -> its counts of today (headcount)
    metric_times: dict[str, str | None] = field(default_factory=dict)  # metric -> what places it in time (None)
    untimed: set[str] = field(default_factory=set)  # metrics read as they stand today (a backlog): no history
    distinct: dict[str, str] = field(default_factory=dict)  # metric -> the property it counts distinct values of
    links: dict[str, set[str]] = field(default_factory=dict)  # object type -> the types it links to (many-to-one)
    masked: set[str] = field(default_factory=set)  # Type.prop the user sees masked
    readable: set[str] = field(default_factory=set)  # the object types the user may read
    metric_words: dict[str, set[str]] = field(default_factory=dict)  # metric -> the words of its names
    metric_phrases: dict[str, list[tuple[str, ...]]] = field(default_factory=dict)  # metric -> name, synonyms
    value_words: set[str] = field(default_factory=set)  # the longer words of the values (for misspellings)
    metric_where: dict[str, str] = field(default_factory=dict)  # metric -> its own filter ("status <> 'cancelled'")
    higher: list[str] = field(default_factory=list)  # metrics where more is better (revenue), as declared
    ahead: set[str] = field(default_factory=set)  # metrics whose dates may lie ahead (the pipeline's close dates)
    # forecast use case -> (the object type of its rows, the metric forecast, the series' dimensions, their columns)
    forecasts: dict[str, tuple[str, str, list[str], list[str]]] = field(default_factory=dict)
    ratios: dict[str, str] = field(default_factory=dict)  # a count metric -> the share metric it is the top of
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
        self.value_words.update(w for w in tokens(stripped) if len(w) >= _NEAR_LENGTH)
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

    def types_of_key(self, key: str) -> list[str]:
        """The object types whose keys look like this one (C00117 like a customer's, MKE-L3 like a line's)."""
        shape = key_shape(key)
        return sorted(t for t, shapes in self.key_shapes.items() if shape in shapes)

    def seen(self, dimension: str, value: str) -> bool:
        """Whether the user may see this value (False only when the dimension's values were read and it is
        not among them: a value named in a description that the user's row filters hide)."""
        seen = self.seen_values.get(dimension)
        return seen is None or value in seen

    def near_value(self, word: str) -> bool:
        """Whether a word is, or is a near spelling of, a word of a value the user may see ('milwuakee')."""
        if len(word) < _NEAR_LENGTH:
            return False
        from rapidfuzz import fuzz, process

        alike = [w for w in self.value_words if w[0] == word[0]]  # a misspelling keeps the first letter
        return process.extractOne(word, alike, scorer=fuzz.ratio, score_cutoff=_NEAR) is not None

    def words(self) -> set[str]:
        return {w for key in self.phrases for w in key}


# the word for a flag that is false ("open deals": not is_closed)
OPPOSITES = {"closed": "open", "open": "closed", "active": "inactive", "inactive": "active"}

# words every question uses: a property so named (an action's `how`) is not read in them
QUESTION_WORDS = {"how", "what", "when", "where", "which", "who", "whom", "why", "is", "are", "the", "a", "an", "of"}

_CACHE: dict[tuple[str, str, str | None, bytes], Vocabulary] = {}


def vocabulary(brain: Brain, user: str | Principal | None) -> Vocabulary:
    """The vocabulary for `user`, cached per project (as loaded), user and build (values change with builds): in
    memory, and on disk (`derived`) so that one-shot `brain ask` calls skip reading the values."""
    name, version = brain.principal(user).user, brain.data_version()
    key = (str(brain.project.root), name, version, project_digest(brain.project))  # a reopened, edited project
    if key not in _CACHE:
        if version is None:  # nothing built: no values to read (and nothing to keep)
            _CACHE[key] = _build(brain, _read_values(brain, user), brain.principal(user))
        else:  # kept whole: reading it back is a tenth of building it
            specs = sorted(brain.project.usecases.items())  # what is predicted, and its levels
            usecases = hashlib.sha256(b"".join(n.encode() + s.model_dump_json().encode() for n, s in specs)).hexdigest()
            _CACHE[key], _ = derived(
                brain,
                user,
                "copilot_vocabulary",
                lambda: _build(brain, _read_values(brain, user), brain.principal(user)),
                key=usecases,
                pickled=True,
            )
    return _CACHE[key]


def _read_values(brain: Brain, user: str | Principal | None) -> list[tuple[str, str]]:
    """Values the user may see, read through the governed path: of the named dimensions, and of the
    categorical text properties (few distinct values: a ticket's priority, a machine's maker) of the
    object types they may read, as `Type.prop`."""
    from companybrain.governance.policy import Policy

    policy = Policy(brain.project, brain.principal(user))
    wanted: dict[str, list[tuple[str, str]]] = {}
    for name, dim in brain.project.dimensions.items():
        if re.fullmatch(r"\w+", dim.expr) and not dim.expr.endswith("_id"):
            wanted.setdefault(dim.object, []).append((name, dim.expr))
    for type_name, obj in brain.project.objects.items():
        if not policy.can_read_object(type_name):
            continue
        for prop_name, prop in obj.properties.items():
            if _categorical(obj.key, prop_name, prop) and not policy.masked(type_name, prop_name):
                wanted.setdefault(type_name, []).append((f"{type_name}.{prop_name}", prop_name))
    pairs: list[tuple[str, str]] = []
    for type_name, obj in brain.project.objects.items():
        if policy.can_read_object(type_name) and not policy.masked(type_name, obj.key):
            try:
                keys = brain.read(type_name, limit=_MAX_CATEGORIES + 1, user=user, columns=[obj.key]).column(0)
            except PolicyDenied:
                continue
            keys = keys.to_pylist()
            pairs.extend((f"{KEY_PREFIX}{type_name}", key_shape(k)) for k in keys[:20] if k is not None)
            if len(keys) <= _MAX_CATEGORIES:  # a few objects (sites, families): their keys are names too ("MKE")
                pairs.extend((f"{type_name}.{obj.key}", k) for k in keys if isinstance(k, str) and k.isalpha())
    for type_name, columns in wanted.items():
        try:
            if brain.count_objects(type_name, user=user) > _MAX_ROWS:
                columns = [(n, c) for n, c in columns if "." not in n]  # a big table: named dimensions only
            if not columns:
                continue
            table = brain.read(type_name, user=user, columns=sorted({c for _, c in columns}))
        except PolicyDenied:  # the user may not read these objects: their values stay unknown
            continue
        for name, column in columns:
            values = {v for v in table.column(column).to_pylist() if isinstance(v, str) and v != "***"}
            limit = _MAX_VALUES if "." not in name else _MAX_CATEGORIES
            if len(values) <= limit:
                pairs.extend((name, value) for value in sorted(values))
    return pairs


def _many_to_one(link: Any) -> bool:
    columns = getattr(link, "columns", None)
    return bool(columns) if columns is not None else getattr(link, "via", None) is not None


def distances(vocab: Vocabulary, starts: set[str]) -> dict[str, int]:
    """How many many-to-one links away each object type is from the nearest of `starts`."""
    found = dict.fromkeys(starts, 0)
    frontier = list(starts)
    while frontier:
        nxt = []
        for current in frontier:
            for target in vocab.links.get(current, ()):
                if target not in found:
                    found[target] = found[current] + 1
                    nxt.append(target)
        frontier = nxt
    return found


def key_shape(key: str) -> str:
    """A key's shape: letters as A, digits as 9 (C00117 -> A99999, MKE-L3 -> AAA-A9); any number is `9+`."""
    text = str(key)
    return "9+" if text.isdigit() else re.sub(r"\d", "9", re.sub(r"[A-Za-z]", "A", text))


def _add_head_words(vocab: Vocabulary, values: list[tuple[str, str]]) -> None:
    """'pumps' for the family Hydraulic Pumps: the last word of a value of a small named dimension, where
    it is no other value's last word and no other phrase."""
    by_dim: dict[str, list[str]] = {}
    for name, value in values:
        if "." not in name and not name.startswith(KEY_PREFIX):
            by_dim.setdefault(name, []).append(value)
    for name, dim_values in by_dim.items():
        if len(dim_values) > _MAX_CATEGORIES:
            continue
        heads = [tokens(v)[-1] if len(tokens(v)) > 1 else "" for v in dim_values]
        metric_words = {w for words in vocab.metric_words.values() for w in words}
        for value, head in zip(dim_values, heads, strict=True):
            if len(head) >= 4 and heads.count(head) == 1 and (head,) not in vocab.phrases and head not in metric_words:
                vocab.add(head, Term("value", name, value))


def _add_leading_words(vocab: Vocabulary, values: list[tuple[str, str]]) -> None:
    """'Jiangsu Hengli' for the supplier Jiangsu Hengli Precision Castings Co., Ltd.: the first two words of a
    longer name of a named dimension, where no other of its values starts so and they are no other phrase."""
    by_dim: dict[str, list[str]] = {}
    for name, value in values:
        if "." not in name and not name.startswith(KEY_PREFIX):
            by_dim.setdefault(name, []).append(value)
    for name, dim_values in by_dim.items():
        leads = [tuple(tokens(v)[:2]) if len(tokens(v)) > 2 else () for v in dim_values]
        for value, lead in zip(dim_values, leads, strict=True):
            if lead and leads.count(lead) == 1 and lead not in vocab.phrases and all(len(w) >= 3 for w in lead):
                vocab.add(" ".join(lead), Term("value", name, value))


def _categorical(key: str, name: str, prop: Any) -> bool:
    """A text property that sorts objects into a few kinds (not a key, an id, free text or personal data)."""
    return (
        prop.type == "string"
        and name != key
        and not name.endswith(("_id", "_key", "_code"))
        and not {"pii", "untrusted"} & set(prop.tags)
        and name not in ("name", "full_name", "first_name", "last_name", "email", "phone", "subject", "body")
    )


def _build(brain: Brain, values: list[tuple[str, str]], principal: Principal | None = None) -> Vocabulary:
    vocab = Vocabulary()
    for name, metric in brain.project.metrics.items():
        vocab.metric_formats[name] = metric.format or "number"
        vocab.metric_descriptions[name] = metric.description or ""
        vocab.metric_where[name] = str(metric.where or "")
        if metric.ahead:
            vocab.ahead.add(name)
        if metric.better == "higher":
            vocab.higher.append(name)
        owner = brain.project.objects.get(metric.object or "")
        timed = owner is None or bool(metric.time_of(owner.time) or metric.averaged_over_days)
        vocab.metric_times[name] = (metric.time or (owner.time if owner is not None else None)) if timed else None
        if not timed:
            vocab.untimed.add(name)
        if counted := re.fullmatch(r"\s*count\s*\(\s*distinct\s+(\w+)\s*\)\s*", str(metric.expr), re.IGNORECASE):
            vocab.distinct[name] = counted[1]  # customers_buying: count(distinct customer_id)
        if metric.object and metric.format == "count" and not timed:  # headcount: a count of today
            vocab.current.setdefault(metric.object, []).append(name)
        top = re.fullmatch(r"\s*(\w+)\s*/\s*\w+\s*", str(metric.expr)) if metric.format == "percent" else None
        if top and top[1] in brain.project.metrics:
            vocab.ratios.setdefault(top[1], name)  # supplier_late_rate = purchase_orders_late / received
        for phrase in [name.replace("_", " "), *metric.synonyms]:
            vocab.add(phrase, Term("metric", name))
    for name in brain.project.metrics:
        words = {
            w for phrase in [name.replace("_", " "), *brain.project.metrics[name].synonyms] for w in tokens(phrase)
        }
        vocab.metric_words[name] = words
        vocab.metric_phrases[name] = [
            tuple(tokens(ph)) for ph in [name.replace("_", " "), *brain.project.metrics[name].synonyms] if tokens(ph)
        ]
        try:
            bases = brain.semantic.base_metrics(name)
        except BrainError:
            continue
        vocab.metric_objects[name] = {o for b in bases if (o := brain.project.metrics[b].object)}
    from companybrain.governance.policy import Policy

    policy = Policy(brain.project, principal) if principal is not None else None
    for type_name, obj in brain.project.objects.items():
        if policy is not None:
            vocab.masked |= {f"{type_name}.{p}" for p in obj.properties if policy.masked(type_name, p)}
            if policy.can_read_object(type_name):
                vocab.readable.add(type_name)
        vocab.object_keys[type_name] = obj.key
        vocab.links[type_name] = {link.to for link in obj.links.values() if _many_to_one(link)}
        spoken = re.sub(r"(?<=[a-z])(?=[A-Z])", " ", type_name)
        vocab.object_types[tuple(tokens(spoken))] = type_name
        for phrase in [spoken, *obj.synonyms]:
            vocab.add(phrase, Term("object", type_name))
        for prop_name, prop in obj.properties.items():
            if prop_name == obj.key or not prop_name.endswith("_id"):
                for phrase in [prop_name.replace("_", " "), *prop.synonyms]:
                    if set(tokens(phrase)) - QUESTION_WORDS:  # a property called `how` is no word of a question
                        vocab.add(phrase, Term("property", f"{type_name}.{prop_name}"))
                vocab.property_words.setdefault(type_name, set()).update(tokens(prop_name.replace("_", " ")))
            readable = policy is None or (policy.can_read_object(type_name) and not policy.masked(type_name, prop_name))
            if prop.type == "date":  # "claims filed last year": counted by their date (masked ones too: chosen
                # among all, a hidden date is then refused, never swapped for the date the user sees)
                vocab.dates.setdefault(type_name, []).append(prop_name)
            if prop.type == "boolean" and readable:  # "active reps", "orders under a promotion": a flag is true
                flag = re.sub(r"^(is|has)_", "", prop_name).replace("_", " ")
                vocab.add(flag, Term("value", f"{type_name}.{prop_name}", FLAG))
                if flag in OPPOSITES:  # "open deals": is_closed is false
                    vocab.add(OPPOSITES[flag], Term("value", f"{type_name}.{prop_name}", "false"))
    for name, dim in brain.project.dimensions.items():
        vocab.dimension_objects[name] = dim.object
        vocab.dimension_paths[name] = dict(dim.paths)
        if re.fullmatch(r"\w+", dim.expr):
            vocab.properties[name] = (dim.object, dim.expr)
        for phrase in [name.replace("_", " "), *dim.synonyms]:
            vocab.add(phrase, Term("dimension", name))
        enumeration = re.search(r"\(([^()]*,[^()]*)\)", dim.description or "")
        if enumeration and "..." not in enumeration[1]:
            for value in enumeration[1].split(","):
                vocab.add_value(name, value.strip())
    for name, value in values:
        if name.startswith(KEY_PREFIX):
            vocab.key_shapes.setdefault(name[len(KEY_PREFIX) :], set()).add(value)
            continue
        vocab.add_value(name, value)
        vocab.seen_values.setdefault(name, set()).add(value)
    _add_head_words(vocab, values)
    _add_leading_words(vocab, values)
    for uc_name, uc in brain.project.usecases.items():
        if uc.task == "forecast" and uc.output.object and uc.series is not None:
            vocab.forecasts[uc_name] = (uc.output.object, uc.series.metric, uc.series.by, uc.series.columns())
        if uc.entity is None or uc.output.property is None:
            continue
        target = f"{uc.entity}.{uc.output.property}"
        vocab.predicted[target] = uc_name
        vocab.thresholds[uc_name] = dict(uc.thresholds)
        spoken = " ".join(w for w in uc.output.property.split("_") if not any(c.isdigit() for c in w))
        for phrase in {spoken, uc_name.replace("_", " ")}:
            vocab.add(phrase, Term("property", target))
    outputs = {t: [w for w in t.split(".", 1)[1].split("_") if w.isalpha()] for t in vocab.predicted}
    heads = [parts[-1] for parts in outputs.values() if parts]
    for target, parts in outputs.items():  # "anomaly" alone, where one use case's output ends in it
        head = parts[-1] if parts else ""
        if heads.count(head) == 1 and head.isalpha() and (head,) not in vocab.phrases:
            vocab.add(head, Term("property", target))
    countries = {
        name
        for name, dim in brain.project.dimensions.items()
        if holds_countries(name, dim.description or "", list(dim.synonyms))
    }
    countries |= {name for name, _ in values if name.endswith(".country")}
    for name, value in values:
        # "Germany" is the value DE of a country dimension (only codes the user can see are named)
        for country in COUNTRY_NAMES.get(value, ()) if name in countries else ():
            vocab.add(country, Term("value", name, value))
    return vocab


def stem(word: str) -> str:
    """A crude stem, enough to tie a verb to a name of the model: hire, hired, hiring -> hir; unresolved ->
    resolv."""
    if word.startswith("un") and len(word) > 6:
        word = word[2:]
    for suffix in ("ations", "ation", "ings", "ing", "ions", "ion", "ers", "er", "ed", "es", "s", "e"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            return word[: -len(suffix)]
    return word

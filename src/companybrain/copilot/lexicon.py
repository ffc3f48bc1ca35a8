"""The business lexicon (copilot/lexicon.yaml, shipped with the package, plus the project's own
`copilot/lexicon.yaml` if it has one): everyday phrases rewritten to the words a model uses, filler
words, aliases of values, adjectives of countries and number words. Data, read once."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

from companybrain.copilot.vocabulary import tokens
from companybrain.specs import yaml_loader

if TYPE_CHECKING:
    from companybrain.brain import Brain

Phrase = tuple[str, ...]


class LexiconFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    rewrite: dict[str, str] = Field(default_factory=dict)
    fillers: list[str] = Field(default_factory=list)
    aliases: dict[str, str] = Field(default_factory=dict)
    demonyms: dict[str, str] = Field(default_factory=dict)
    numbers: dict[str, int] = Field(default_factory=dict)
    verbs: list[str] = Field(default_factory=list)


@dataclass
class Lexicon:
    rewrite: dict[Phrase, Phrase] = field(default_factory=dict)
    fillers: set[Phrase] = field(default_factory=set)
    aliases: dict[Phrase, str] = field(default_factory=dict)
    demonyms: dict[Phrase, str] = field(default_factory=dict)
    numbers: dict[Phrase, int] = field(default_factory=dict)
    verbs: set[str] = field(default_factory=set)
    longest: int = 1

    def merge(self, data: LexiconFile) -> None:
        for phrase, target in data.rewrite.items():
            self._add(self.rewrite, phrase, tuple(tokens(target)))
        for phrase in data.fillers:
            key = tuple(tokens(phrase))
            if key:
                self.fillers.add(key)
                self.longest = max(self.longest, len(key))
        for table, values in ((self.aliases, data.aliases), (self.demonyms, data.demonyms)):
            for phrase, value in values.items():
                self._add(table, phrase, value)
        for phrase, number in data.numbers.items():
            self._add(self.numbers, phrase, number)
        self.verbs |= {w for verb in data.verbs for w in tokens(verb)}

    def _add(self, table: dict[Phrase, Any], phrase: str, value: Any) -> None:
        key = tuple(tokens(phrase))
        if key:
            table[key] = value
            self.longest = max(self.longest, len(key))


@functools.lru_cache(maxsize=8)
def lexicon(project_file: Path | None = None, mtime: float | None = None) -> Lexicon:
    """The shipped lexicon, with the project's own file (if any) merged over it."""
    lex = Lexicon()
    shipped = resources.files("companybrain.copilot").joinpath("lexicon.yaml")
    with resources.as_file(shipped) as path:
        lex.merge(yaml_loader.load(LexiconFile, path, "companybrain/copilot/lexicon.yaml"))
    if project_file is not None:
        lex.merge(yaml_loader.load(LexiconFile, project_file, "copilot/lexicon.yaml"))
    return lex


def project_lexicon(brain: Brain) -> Lexicon:
    """The lexicon of a project: read once per process, and kept whole in `.brain/derived` for the next
    (reading the YAML is a third of a one-shot `brain ask`); an edit of either file makes it anew."""
    path = brain.project.root / "copilot" / "lexicon.yaml"
    own = path if path.is_file() else None
    files = [resources.files("companybrain.copilot").joinpath("lexicon.yaml"), *([own] if own else [])]
    key = [f"{f.name}:{len(f.read_bytes())}:{Path(str(f)).stat().st_mtime_ns}" for f in files]

    def read() -> Lexicon:
        return lexicon(own, own.stat().st_mtime if own else None)

    version = brain.data_version()
    if version is None:
        return read()
    kept = (str(brain.project.root), version, *key)
    if kept not in _KEPT:
        from companybrain.derived import derived

        _KEPT[kept] = derived(brain, None, "copilot_lexicon", read, key, pickled=True)[0]
    return _KEPT[kept]


_KEPT: dict[tuple[str, ...], Lexicon] = {}  # in this process, per project, build and lexicon files

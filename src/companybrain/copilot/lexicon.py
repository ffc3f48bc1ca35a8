"""The business lexicon (copilot/lexicon.yaml, shipped with the package, plus the project's own
`copilot/lexicon.yaml` if it has one): everyday phrases rewritten to the words a model uses, filler
words, aliases of values, adjectives of countries and number words. Data, read once."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from companybrain.copilot.vocabulary import tokens
from companybrain.specs import yaml_loader

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


def project_lexicon(root: Path) -> Lexicon:
    path = root / "copilot" / "lexicon.yaml"
    return lexicon(path, path.stat().st_mtime) if path.is_file() else lexicon()

"""What a connector hands the loader: Arrow batches, rows it could not parse, and its new state."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

import pyarrow as pa

from companybrain.specs.project import SourceTable


@dataclass(frozen=True)
class Rejected:
    """A row that was not loaded: unparseable text, a broken JSON line, a value of the wrong type."""

    location: str
    reason: str
    record: str
    unit: str = ""  # the file it came from ("" for a SQL table): a load's limit on bad rows is per file


@dataclass
class Extract:
    """One table's read. Iterate `batches` first; `rejected` and `state` are complete after."""

    batches: Iterator[pa.Table]
    state: dict[str, Any]
    replace: bool = False
    replaced_files: list[str] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)
    unchanged: bool = False
    # True when one read cannot repeat a key (a SQL table snapshot): appends need no upsert
    keys_unique: bool = False


class Connector(Protocol):
    """Reads one source's tables; knows nothing about the warehouse."""

    name: str

    def extract(self, table: SourceTable, previous: dict[str, Any]) -> Extract:
        """Read what changed since `previous` (the state the last successful load stored)."""
        ...

"""What a connector hands the loader: Arrow batches, rows it could not parse, and its new state."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

import pyarrow as pa

from companybrain.specs.project import SourceTable


@dataclass(frozen=True)
class Rejected:
    """A row that never became a row: unparseable text, a broken JSON line."""

    location: str
    reason: str
    record: str


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

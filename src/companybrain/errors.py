"""The one error hierarchy: every error a user can act on is a BrainError that says what to fix."""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass


class BrainError(Exception):
    """Root of every error Company Brain raises on purpose; `transient` decides retries."""

    transient = False

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        self.message = message
        self.hint = hint
        super().__init__(message if hint is None else f"{message}\n  hint: {hint}")


@dataclass(frozen=True)
class Location:
    """A place in a project file, for error messages: `file:line`."""

    file: str
    line: int | None = None
    key: str | None = None

    def __str__(self) -> str:
        where = self.file if self.line is None else f"{self.file}:{self.line}"
        return where if self.key is None else f"{where} ({self.key})"


class ConfigError(BrainError):
    """A project file is invalid; carries every problem found, each with its location."""

    def __init__(self, problems: list[tuple[Location, str]]) -> None:
        self.problems = problems
        lines = [f"{loc}: {msg}" for loc, msg in problems]
        head = "invalid project" if len(problems) > 1 else "invalid project file"
        super().__init__(head + ":\n  " + "\n  ".join(lines), hint="fix the file, then run `brain check`")

    @classmethod
    def at(cls, location: Location, message: str) -> ConfigError:
        return cls([(location, message)])


class ProjectNotFound(BrainError):
    """No brain.yaml where the project was expected."""


class MissingDependency(BrainError):
    """An optional library is needed for this feature; the message names the install command."""

    def __init__(self, package: str, extra: str, feature: str) -> None:
        super().__init__(
            f"{feature} needs the package {package!r}, which is not installed",
            hint=f"pip install 'companybrain[{extra}]'",
        )


class ConnectorError(BrainError):
    """A source could not be read (unreachable, bad credentials, missing table or file)."""

    transient = True


class SchemaDriftError(BrainError):
    """A source's schema changed in a way that cannot be loaded safely (type change, key gone)."""


class WarehouseError(BrainError):
    """The warehouse could not be reached or refused a statement."""


class ContractFailed(BrainError):
    """A blocking data contract failed; the previous objects were kept."""


class NotFound(BrainError):
    """A named thing (object type, object key, source, table) does not exist."""


class QueryError(BrainError):
    """A filter or query expression is invalid for the object type it is applied to."""


class Conflict(BrainError):
    """The thing is not in a state that allows this (an action already applied, rejected, ...)."""


def did_you_mean(name: str, candidates: Iterable[str]) -> str:
    """A 'did you mean ...' suffix, or the list of valid names when nothing is close."""
    options = sorted(set(candidates))
    close = difflib.get_close_matches(name, options, n=1, cutoff=0.6)
    if close:
        return f"did you mean {close[0]!r}?"
    if not options:
        return "nothing is declared yet"
    shown = ", ".join(options[:12]) + (", ..." if len(options) > 12 else "")
    return f"valid: {shown}"


class PolicyDenied(BrainError):
    """The caller's policies do not allow this read; nothing was returned."""

    def __init__(self, message: str, *, policy: str, hint: str | None = None) -> None:
        self.policy = policy
        super().__init__(message, hint=hint)

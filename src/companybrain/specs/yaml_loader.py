"""Load YAML with line numbers and validate it into a spec model, errors pointing at file:line."""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError

from companybrain.errors import ConfigError, Location, did_you_mean

M = TypeVar("M", bound=BaseModel)
Path_ = tuple[str | int, ...]


def read_yaml(path: Path, display: str) -> tuple[Any, dict[Path_, int]]:
    """Parse a YAML file; return plain data and a map from key path to 1-based line."""
    try:
        data = YAML(typ="rt").load(path.read_text(encoding="utf-8"))
    except MarkedYAMLError as exc:
        mark = exc.problem_mark
        line = mark.line + 1 if mark is not None else None
        raise ConfigError.at(Location(display, line), f"not valid YAML: {exc.problem}") from None
    lines: dict[Path_, int] = {}
    return _plain(data, (), lines), lines


def _plain(node: Any, path: Path_, lines: dict[Path_, int]) -> Any:
    if isinstance(node, CommentedMap):
        out = {}
        for key, value in node.items():
            line, _col = node.lc.key(key)
            lines[(*path, str(key))] = line + 1
            out[str(key)] = _plain(value, (*path, str(key)), lines)
        return out
    if isinstance(node, CommentedSeq):
        items = []
        for i, value in enumerate(node):
            line, _col = node.lc.item(i)
            lines[(*path, i)] = line + 1
            items.append(_plain(value, (*path, i), lines))
        return items
    if isinstance(node, str):
        return str(node)
    return node


def validate(model: type[M], data: Any, display: str, lines: dict[Path_, int]) -> M:
    """Validate data into `model`; every pydantic error becomes a located ConfigError problem."""
    try:
        return model.model_validate(data if data is not None else {})
    except ValidationError as exc:
        raise ConfigError([_problem(err, model, display, lines) for err in exc.errors(include_url=False)]) from None


def load(model: type[M], path: Path, display: str) -> M:
    data, lines = read_yaml(path, display)
    return validate(model, data, display, lines)


def _problem(err: Any, model: type[BaseModel], display: str, lines: dict[Path_, int]) -> tuple[Location, str]:
    loc = _data_path(tuple(err["loc"]), lines)
    line = _nearest_line(loc, lines)
    key = ".".join(str(p) for p in loc) or None
    message = err["msg"]
    if err["type"] == "extra_forbidden" and loc:
        allowed = _allowed_fields(model, tuple(err["loc"])[:-1])
        message = f"unknown key {loc[-1]!r}; {did_you_mean(str(loc[-1]), allowed)}"
    elif err["type"] == "missing":
        message = f"missing required key {loc[-1]!r}" if loc else "missing required key"
    elif "input" in err and not isinstance(err["input"], dict | list):
        message = f"{message} (got {err['input']!r})"
    return Location(display, line, key), message


def _data_path(loc: tuple[Any, ...], lines: dict[Path_, int]) -> tuple[Any, ...]:
    """The error's path in the YAML data, without the union tags pydantic inserts ('sql', 'function-after[...]')."""
    prefixes = {key[:n] for key in lines for n in range(1, len(key) + 1)}
    path: tuple[Any, ...] = ()
    for i, part in enumerate(loc):
        candidate = (*path, part)
        if candidate in prefixes or (i == len(loc) - 1 and not _is_union_tag(part)):
            path = candidate
    return path


def _is_union_tag(part: Any) -> bool:
    return isinstance(part, str) and (part[:1].isupper() or "[" in part)


def _nearest_line(loc: tuple[Any, ...], lines: dict[Path_, int]) -> int | None:
    for end in range(len(loc), -1, -1):
        line = lines.get(loc[:end])
        if line is not None:
            return line
    return 1 if lines else None


def _allowed_fields(model: type[BaseModel], parent: tuple[Any, ...]) -> list[str]:
    current: Any = model
    for part in parent:
        if isinstance(part, int):
            continue
        field = getattr(current, "model_fields", {}).get(part)
        if field is None:
            # a dict of models: the key is a user name, not a field
            continue
        current = _model_of(field.annotation)
        if current is None:
            return []
    return list(getattr(current, "model_fields", {}))


def _model_of(annotation: Any) -> Any:
    import typing

    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in typing.get_args(annotation):
        found = _model_of(arg)
        if found is not None:
            return found
    return None

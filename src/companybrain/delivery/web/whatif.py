"""The what-if builder of the Scenarios page: its kinds of change and their fields come from the scenario spec
(specs/scenarios.py), and the choices of a field from the project's model, read as the viewer. A kind of change
whose records the project does not have is not offered; a field whose records the viewer may not read is typed.
"""

from __future__ import annotations

import re
import types
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel
from pydantic_core import PydanticUndefined

from companybrain.delivery.web import layout
from companybrain.delivery.web.reads import guarded
from companybrain.errors import did_you_mean
from companybrain.specs.scenarios import Change

if TYPE_CHECKING:
    from pydantic.fields import FieldInfo

    from companybrain.delivery.app import BrainService
    from companybrain.delivery.web.session import Viewer
    from companybrain.project import Project

# What the scenario engine (decisions/overlays.py) rewrites for each kind of change: a project without these
# records has no such kind. And where it looks a field's names up: `Type.property` or a named dimension.
REWRITES: dict[str, tuple[str, ...]] = {
    "price": ("OrderLine",),
    "demand": ("OrderLine",),
    "capacity": ("Site", "Line"),
    "hiring": ("Site", "Employee"),
    "capital_project": ("Site", "Line"),
    "supplier_delay": ("Supplier", "PurchaseOrder"),
}
LOOKUPS: dict[str, str] = {
    "family": "ProductFamily.name",
    "families": "ProductFamily.name",
    "segment": "segment",
    "region": "region",
    "site": "Site.name",
    "line": "Line.line_id",
    "function": "Employee.function",
    "supplier": "Supplier.name",
}
CHOICES = 200  # more values than this: typed, not picked
SLIDER = (-50, 50)


@dataclass
class Field:
    """One input of the builder."""

    name: str  # the spec's field
    label: str
    help: str
    widget: Literal["slider", "number", "text", "date", "select", "multi"]
    required: bool
    default: str = ""
    choices: list[str] = field(default_factory=list)
    minimum: float | None = None
    whole: bool = False  # a whole number

    def key(self, kind: str) -> str:
        """The form's name of the input: the kind's own (demand.change_pct), so that kinds never mix."""
        return f"{kind}.{self.name}"


@dataclass
class Kind:
    """A kind of change the project's model can take, with its fields."""

    name: str
    label: str
    help: str
    fields: list[Field]


def _changes() -> dict[str, type[BaseModel]]:
    """The spec's kinds of change by their `type`."""
    union = get_args(Change)[0]
    return {get_args(cls.model_fields["type"].annotation)[0]: cls for cls in get_args(union)}


def offered(project: Project) -> list[str]:
    """The kinds of change the project's model can take, those its declared scenarios use first."""
    used = [c.type for s in project.scenarios.values() for c in s.changes]
    kinds = [k for k in _changes() if all(t in project.objects for t in REWRITES.get(k, ()))]
    return sorted(kinds, key=lambda k: (k not in used, kinds.index(k)))


def build_refusal(svc: BrainService, viewer: Viewer) -> str | None:
    """Why the viewer may not build a what-if (decisions.scenarios.require_builder), or None: a builder they
    can never run is not offered."""
    from companybrain.decisions.scenarios import require_builder
    from companybrain.errors import PolicyDenied

    try:
        with svc.use() as brain:
            require_builder(brain, viewer.principal)
    except PolicyDenied as exc:
        return f"{exc.message}: {exc.hint}" if exc.hint else exc.message
    return None


def kinds(svc: BrainService, viewer: Viewer) -> list[Kind]:
    """The builder's kinds of change, each with its fields and their choices as the viewer may read them."""
    project = svc.brain.project
    classes = _changes()
    values: dict[str, list[str] | None] = {}  # each source read once for the page
    found = []
    for name in offered(project):
        cls = classes[name]
        asked = {key: info for key, info in cls.model_fields.items() if key != "type"}
        fields = {key: _field(svc, viewer, key, info, values) for key, info in asked.items()}
        if any(fields[key] is None and info.is_required() for key, info in asked.items()):
            continue  # it names records the project does not have
        shown = [f for f in fields.values() if f is not None]
        found.append(Kind(name, layout.humanize(name), _said(cls.__doc__ or "", tuple(asked)), shown))
    return found


def _said(text: str, fields: tuple[str, ...] = ()) -> str:
    """A description for people: a field named in it (`change_pct`) by its label, a word to type in quotes."""

    def word(found: re.Match[str]) -> str:
        return f"the {layout.humanize(found[1]).lower()} below" if found[1] in fields else f"'{found[1]}'"

    return re.sub(r"`([^`]+)`", word, text.strip())


def _field(
    svc: BrainService, viewer: Viewer, name: str, info: FieldInfo, known: dict[str, list[str] | None]
) -> Field | None:
    """The input of one field; None when it names records the project does not have."""
    required = info.is_required()
    default = "" if info.default in (None, PydanticUndefined) else str(info.default)
    kinds_of = _types(info.annotation)
    label, help_text = layout.humanize(name), _said(info.description or "")

    def make(widget: Any, **extra: Any) -> Field:
        return Field(name, label, help_text, widget, required, **{"default": default, **extra})

    if name in LOOKUPS:
        source = LOOKUPS[name]
        if not _in_model(svc.brain.project, source):
            return None
        if source not in known:
            known[source] = _values(svc, viewer, source)
        values = known[source]
        if values is None:
            return make("text")
        return make("multi" if list in kinds_of and name.endswith("s") else "select", choices=values)
    minimum = next((v for m in info.metadata for b in ("ge", "gt") if (v := getattr(m, b, None)) is not None), None)
    if name == "change_pct":
        return make("slider", default=default or "10", minimum=minimum)
    if date in kinds_of:
        return make("date")
    if str in kinds_of and float in kinds_of:  # a number or a word (an elasticity, or `estimated`)
        words = [a for t in get_args(info.annotation) if get_origin(t) is Literal for a in get_args(t)]
        return make("text", default=default or (str(words[0]) if words else ""))
    if int in kinds_of or float in kinds_of:
        return make("number", minimum=minimum, whole=float not in kinds_of)
    return make("text")


def _types(annotation: Any) -> set[Any]:
    """The plain types a field takes (str for a Literal of words, list for a list)."""
    found: set[Any] = set()
    origin = get_origin(annotation)
    if origin in (Union, types.UnionType):
        for arg in get_args(annotation):
            found |= _types(arg)
    elif origin is Literal:
        found.add(str)
    elif origin is list:
        found.add(list)
    elif hasattr(annotation, "__metadata__"):  # Annotated[float, ...]
        found |= _types(get_args(annotation)[0])
    elif annotation is not type(None):
        found.add(annotation)
    return found


def _in_model(project: Project, source: str) -> bool:
    if "." in source:
        type_name, prop = source.split(".", 1)
        return type_name in project.objects and prop in project.objects[type_name].properties
    return source in project.dimensions


def _values(svc: BrainService, viewer: Viewer, source: str) -> list[str] | None:
    """The values of `Type.property` or a dimension the viewer may see (None: not readable, or too many)."""
    project = svc.brain.project
    type_name = source.split(".", 1)[0] if "." in source else project.dimensions[source].object

    def read() -> list[dict[str, Any]]:
        with svc.use() as brain:
            return brain.count_by(type_name, [source], None, viewer.principal)

    rows, _, _ = guarded(read)
    if rows is None or len(rows) > CHOICES:
        return None
    return sorted(str(r[source]) for r in rows if r.get(source) not in (None, ""))


def change(kind: Kind | None, form: dict[str, list[str]]) -> dict[str, Any]:
    """One change of the scenario spec from the builder's fields of `kind` (the spec validates it)."""
    if kind is None:
        raise ValueError("choose a kind of change the builder offers")
    out: dict[str, Any] = {"type": kind.name}
    for f in kind.fields:
        given = [v.strip() for v in form.get(f.key(kind.name), []) if v.strip()]
        if not given:
            continue
        if f.choices:  # a value from the model the viewer may see, never free text sent in its place
            for value in given:
                if value not in f.choices:
                    raise ValueError(f"{f.label}: {value!r} is not among the choices; {did_you_mean(value, f.choices)}")
        out[f.name] = given if f.widget == "multi" else given[-1]
    return out


def defaults(kinds_offered: list[Kind], period: str) -> dict[str, str]:
    """The builder's first values: the first kind, each field's default, the period."""
    form = {"kind": kinds_offered[0].name if kinds_offered else "", "period": period}
    for k in kinds_offered:
        form |= {f.key(k.name): f.default for f in k.fields if f.default}
    return form

"""What the cockpit draws, read from the project: pages of metrics, each role's overview, the panels of the
use cases, and the words people read (labels from the model's names and descriptions, reasons from the
features' descriptions). No metric, object or property name of any one project is written here.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import PurePosixPath
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from companybrain.governance.principal import Principal
    from companybrain.project import Project
    from companybrain.semantic.model import SemanticModel
    from companybrain.specs.usecases import UseCase

OVERVIEW_TILES = 6
DEFAULT_THRESHOLD = 0.5
# words written short in names, as people say them
WORDS = {
    "pct": "%",
    "id": "ID",
    "qty": "quantity",
    "avg": "average",
    "num": "number",
    "no": "number",
    "kpi": "KPI",
    "hr": "HR",
}
RESERVED = {"", "signin", "signout", "static", "alerts", "ask", "scenarios", "disruption", "objects", "export.csv"}
RESERVED |= {"predictions"}


def humanize(name: str) -> str:
    """`on_time_delivery` -> `On time delivery`, `margin_pct` -> `Margin %`, `order_id` -> `Order ID`."""
    spaced = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name.strip())  # OrderLine -> Order_Line
    words = [WORDS.get(w.lower(), _span(w) or _lower(w)) for w in re.split(r"[_\s]+", spaced) if w]
    text = " ".join(words)
    return text[:1].upper() + text[1:]


SPANS = {"d": "days", "w": "weeks", "m": "months", "y": "years"}


def _span(word: str) -> str | None:
    """A window written short in a name: 90d -> 90 days, 6m -> 6 months."""
    found = re.fullmatch(r"(\d+)([dwmy])", word.lower())
    return f"{found[1]} {SPANS[found[2]]}" if found else None


def _lower(word: str) -> str:
    """A capitalised word in lower case (Line -> line); an acronym as written (SKU)."""
    return word.lower() if word[:1].isupper() and word[1:].islower() else word


@dataclass(frozen=True)
class Area:
    """A page of metrics: those declared in one metrics file, in the file's order."""

    slug: str
    title: str
    file: str
    metrics: tuple[str, ...]


def areas(project: Project) -> list[Area]:
    """One page per metrics file (metrics/finance.yaml -> Finance), in file order."""
    by_file: dict[str, list[str]] = {}
    for name in project.metrics:
        file = project.origins.get(("metrics", name), ("metrics",))[0]
        by_file.setdefault(file, []).append(name)
    found = []
    for file, names in by_file.items():
        stem = re.sub(r"[^a-z0-9]+", "-", PurePosixPath(file).stem.lower()).strip("-") or "metrics"
        slug = stem if stem not in RESERVED else f"{stem}-metrics"
        found.append(Area(slug, humanize(PurePosixPath(file).stem.replace("-", "_")), file, tuple(names)))
    return found


def area_of(project: Project, slug: str) -> Area | None:
    return next((a for a in areas(project) if a.slug == slug), None)


def metric_label(project: Project, name: str) -> str:
    metric = project.metrics.get(name)
    return (metric.label if metric is not None and metric.label else None) or humanize(name)


def dimension_label(project: Project, name: str) -> str:
    """A dimension, a time grain or `Type.property`, as people name it."""
    dim = project.dimensions.get(name)
    if dim is not None:
        return dim.label or humanize(name)
    if "." in name:
        type_name, prop = name.split(".", 1)
        obj = project.objects.get(type_name)
        if obj is not None and prop == obj.key:
            return humanize(type_name)
        return f"{humanize(type_name)} {property_label(project, type_name, prop).lower()}"
    return humanize(name)


def property_label(project: Project, type_name: str, prop: str) -> str:
    """A property by its description when that is a short name, else by its own name."""
    obj = project.objects.get(type_name)
    spec = obj.properties.get(prop) if obj is not None else None
    text = (spec.description if spec is not None else "").strip().rstrip(".")
    if text and len(text) <= 32 and "(" not in text:
        return text[:1].upper() + text[1:]
    return humanize(prop)


def column_label(project: Project, name: str) -> str:
    """The header of a table column: a metric, a dimension, or Type.property."""
    return metric_label(project, name) if name in project.metrics else dimension_label(project, name)


# --- links from a value to its object page ---------------------------------------------------------------


def object_link(project: Project, column: str, base_type: str | None = None) -> tuple[str, str] | None:
    """(object type, property) whose value a column holds, for a link to the object: a dimension over a plain
    property, `Type.property`, or a property of `base_type` that is its key or a link to another type."""
    dim = project.dimensions.get(column)
    if dim is not None:
        return (dim.object, dim.expr) if re.fullmatch(r"[a-z][a-z0-9_]*", dim.expr) else None
    if "." in column:
        type_name, prop = column.split(".", 1)
        obj = project.objects.get(type_name)
        return (type_name, prop) if obj is not None and prop in obj.properties else None
    if base_type is not None and base_type in project.objects:
        obj = project.objects[base_type]
        if column == obj.key:
            return base_type, column
        for link in obj.links.values():
            if link.via == column and link.to in project.objects:
                return link.to, project.objects[link.to].key
    return None


# --- each role's overview ----------------------------------------------------------------------------


@dataclass
class Overview:
    """The metrics a viewer's overview shows, and why these."""

    metrics: list[str]
    why: str
    hidden: list[str] = field(default_factory=list)  # declared for the role, but not readable by this viewer


def overview_for(project: Project, principal: Principal, readable: set[str]) -> Overview:
    """The overview declared for the viewer's roles (policies: cockpit: overview), else one chosen from
    what the roles grant: their metrics in the order granted, one page (metrics file) after another."""
    roles = [project.roles[r] for r in principal.roles if r in project.roles]
    declared = list(dict.fromkeys(m for role in roles if role.cockpit for m in role.cockpit.overview))
    named = ", ".join(humanize(r) for r in principal.roles) or "none"
    if declared:
        shown = [m for m in declared if m in readable]
        return Overview(shown, f"The overview of your role ({named})", [m for m in declared if m not in readable])
    granted: list[str] = []
    for role in roles:
        listed = [] if role.metrics == "*" else [m for m in role.metrics if m != "*"]
        granted += [m for m in listed if m in readable]
    if any(role.metrics == "*" or "*" in role.metrics for role in roles) or not granted:
        granted += [m for m in project.metrics if m in readable]
    granted = list(dict.fromkeys(granted))
    # take one metric of each page in turn, so that the overview spans what the viewer may read
    pages = [[m for m in granted if m in area.metrics] for area in areas(project)]
    chosen: list[str] = []
    while len(chosen) < min(OVERVIEW_TILES, len(granted)):
        for names in pages:
            if names and len(chosen) < OVERVIEW_TILES:
                chosen.append(names.pop(0))
    if not roles:
        return Overview(chosen, "Chosen from the project's figures (it declares no roles yet)")
    return Overview(chosen, f"Chosen from what your role ({named}) may read")


# --- use cases: risk lists, thresholds, reasons ------------------------------------------------------------


def scored_usecases(project: Project) -> list[UseCase]:
    """Use cases that write a score onto an object type (a property of the entity)."""
    return [u for u in project.usecases.values() if u.entity and u.output.property]


def forecast_usecases(project: Project) -> list[UseCase]:
    """Use cases that write a forecast of a metric (rows of an object type the factory fills)."""
    return [u for u in project.usecases.values() if u.series is not None and u.output.object]


def threshold(uc: UseCase) -> tuple[str, float]:
    """The score from which the use case calls an object high: its `high` threshold, else its highest one."""
    if "high" in uc.thresholds:
        return "high", uc.thresholds["high"]
    if uc.thresholds:
        name = max(uc.thresholds, key=lambda k: uc.thresholds[k])
        return name, uc.thresholds[name]
    return "high", DEFAULT_THRESHOLD


def score_format(uc: UseCase) -> str:
    """Probabilities and anomaly ranks read as percentages; a regression's value as a number."""
    return "number" if uc.task == "regress" else "percent"


# name=value (+effect) from a classifier or a regression; name=value (4.2 sd) from an anomaly detector
_REASON = re.compile(r"\s*([a-z][a-z0-9_]*)=(.*?)\s*\(([+-][^)]*|[0-9.]+ sd)\)\s*")


def reasons(project: Project, uc: UseCase, text: str | None) -> list[str]:
    """A model's reasons ('vibration_rise=1.8 (+0.31); ...') as people read them: each feature's description
    (or what it is computed from) and its value, formatted; for an anomaly, how far from its usual it is."""
    out = []
    for part in (text or "").split(";"):
        found = _REASON.fullmatch(part)
        if found is None:
            if part.strip():
                out.append(part.strip())
            continue
        name, raw, effect = found[1], found[2], found[3]
        try:
            value: Any = float(raw)
        except ValueError:
            value = raw
        said = f"{feature_label(project, uc, name)}: {reason_value(value)}"
        if effect.endswith(" sd"):
            said += f" ({float(effect[:-3]):.1f} times its usual spread from normal)"
        out.append(said)
    return out


def reason_value(value: Any) -> str:
    """A feature's value as written in a reason: 6,489 / 85 / 43.1 / 3.58 / 0.044 / 0.000012 (never 2.69e+04)."""
    if not isinstance(value, float):
        return str(value)
    size = abs(value)
    if size >= 1000 or (size >= 10 and value.is_integer()):
        return f"{value:,.0f}"
    if size >= 0.1 or size == 0:
        return f"{value:,.1f}" if size >= 10 else f"{value:.2f}"
    digits = 1 - math.floor(math.log10(size))  # two significant digits, written out
    return f"{value:.{digits}f}".rstrip("0")  # 0.0199 is 0.02, as two significant digits say


def feature_label(project: Project, uc: UseCase, name: str) -> str:
    """A feature in words: its description, or what it is computed from."""
    feature = uc.features.get(name)
    if feature is None:
        return humanize(name)
    if feature.description:
        return feature.description.rstrip(".")
    if feature.metric:
        what = metric_label(project, feature.metric)
        agg = {"sum": "total", "mean": "average", "slope": "trend", "last": "latest"}.get(feature.agg, feature.agg)
        if feature.window == 1:
            return f"{what} of the last {feature.grain}"
        return f"{what}, {agg} over the last {feature.window} {feature.grain}s"
    if feature.property and uc.entity:
        return property_label(project, uc.entity, feature.property.split(".")[-1])
    if feature.age_of and uc.entity:
        return f"Days since {property_label(project, uc.entity, feature.age_of).lower()}"
    return humanize(name)


def shown_properties(project: Project, type_name: str, limit: int = 2) -> list[str]:
    """Properties that say which object a row is, beside its key: its links to other types, then its time."""
    obj = project.objects[type_name]
    found = [link.via for link in obj.links.values() if link.via and link.via in obj.properties]
    if obj.time and obj.time in obj.properties:
        found.append(obj.time)
    return list(dict.fromkeys(found))[:limit]


# --- which dimensions a metric can be broken down by --------------------------------------------------


def dimensions_for(model: SemanticModel, metric: str, candidates: list[str]) -> list[str]:
    """The named dimensions among `candidates` that reach every object the metric is computed from."""
    return [d for d in candidates if _reaches(model, metric, d)]


@cache
def _reaches(model: SemanticModel, metric: str, dimension: str) -> bool:
    from companybrain.errors import BrainError
    from companybrain.semantic.joins import JoinPlan

    try:
        for base in model.base_metrics(metric):
            obj = model.metric(base).object
            if obj is None:
                continue
            model.dimension(dimension, JoinPlan(model.objects, obj))
    except BrainError:
        return False
    return True

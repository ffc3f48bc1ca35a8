"""`brain app new NAME --from-usecase U`: an app file written from a use case, checked before it is written.

A scored use case gives a worklist of its entity ranked by its score: the key, the properties the model
reads and those that link to other objects as columns (the categorical and linking ones as filters), the
action types whose parameters name the entity as actions from a row, the metric its target counts as a
chart. A forecast gives its forecast rows, largest first,
with their intervals, and the forecast against what happened as a chart.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from companybrain.errors import BrainError, ConfigError, Location, NotFound, did_you_mean
from companybrain.specs.apps import APP_NAME, AppSpec, cross_check

if TYPE_CHECKING:
    from companybrain.project import Project
    from companybrain.specs.usecases import UseCase

MAX_COLUMNS = 6


def app_from_usecase(project: Project, name: str, usecase: str) -> dict[str, Any]:
    """The app's declaration as data, from the use case (not written, not checked)."""
    uc = project.usecases.get(usecase)
    if uc is None:
        raise NotFound(f"no use case {usecase!r}; {did_you_mean(usecase, project.usecases)}", hint="brain factory list")
    if uc.series is not None:
        return _forecast_app(project, name, uc)
    assert uc.entity is not None and uc.output.property is not None
    obj = project.objects[uc.entity]
    links = [ln.via for ln in obj.links.values() if ln.via and ln.via in obj.properties and ln.via != obj.key]
    read = [f.property for f in uc.features.values() if f.property and f.property in obj.properties]
    categorical = [f.property for f in uc.features.values() if f.categorical and f.property in obj.properties]
    columns = list(dict.fromkeys([obj.key, *read, *links]))[:MAX_COLUMNS]
    actions = [
        {"type": action_name, "from_row": {param: obj.key}}
        for action_name, action in project.actions.items()
        for param, spec in action.parameters.items()
        if spec.object == uc.entity and not spec.of
    ]
    data: dict[str, Any] = {
        "name": name,
        "title": name.replace("_", " ").capitalize(),
        "description": uc.description,
        "object": uc.entity,
        "usecase": uc.name,
        "rank": {"property": uc.output.property},
    }
    if uc.population:
        data["filter"] = uc.population
    filters = [c for c in columns if c in categorical or c in links][:3]
    data |= {"columns": columns, "filters": filters, "actions": actions}
    if uc.target is not None and uc.target.metric:
        data["charts"] = [{"metric": uc.target.metric, "grain": "month"}]
    return data


def _forecast_app(project: Project, name: str, uc: UseCase) -> dict[str, Any]:
    assert uc.series is not None and uc.output.object is not None
    dims = [d.replace(".", "_").lower() for d in uc.series.by]
    bounds = [f"{side}_{level}" for level in uc.levels for side in ("lower", "upper")]
    return {
        "name": name,
        "title": name.replace("_", " ").capitalize(),
        "description": uc.description,
        "object": uc.output.object,
        "usecase": uc.name,
        "rank": {"property": "forecast"},
        "columns": [*dims, "period", "forecast", *bounds],
        "filters": [*dims, "period"],
        "charts": [{"forecast": uc.name}],
    }


def write_app(project: Project, name: str, usecase: str) -> Path:
    """Write apps/NAME.yaml from the use case, once it validates against the project; never over a file."""
    import re

    if not re.fullmatch(APP_NAME, name) or len(name) > 48:
        raise BrainError(f"app name {name[:60]!r} must be snake_case (a-z, 0-9, _), at most 48 characters")
    path = project.root / "apps" / f"{name}.yaml"
    if path.exists() or name in project.apps:
        raise BrainError(f"app {name!r} exists already ({path.relative_to(project.root)})", hint="choose another NAME")
    data = app_from_usecase(project, name, usecase)
    spec = AppSpec.model_validate(data)
    display = str(path.relative_to(project.root))
    project.apps[name] = spec
    try:
        problems = cross_check(project)
    finally:
        del project.apps[name]
    mine = [(Location(display, None, loc.key), msg) for loc, msg in problems if loc.key and loc.key.startswith(name)]
    if mine:
        raise ConfigError(mine)
    path.parent.mkdir(exist_ok=True)
    path.write_text(_yaml(data, uc_name=usecase), encoding="utf-8")
    return path


def _yaml(data: dict[str, Any], uc_name: str) -> str:
    """The declaration as YAML, one key a line (flow style for lists and maps), with a header."""
    lines = [
        "# yaml-language-server: $schema=../.schemas/app.json",
        f"# Written by `brain app new {data['name']} --from-usecase {uc_name}`: edit the columns, filters and actions,",
        "# then `brain check`. The cockpit shows it under Apps; GET /api/v1/apps/" + data["name"] + " serves it.",
    ]
    for key, value in data.items():
        if key == "actions":
            lines.append("actions:" if value else "actions: []")
            lines += [f"  - {json.dumps(item)}" for item in value]
        else:
            lines.append(f"{key}: {json.dumps(value)}")
    return "\n".join(lines) + "\n"

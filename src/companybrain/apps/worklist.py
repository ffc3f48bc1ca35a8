"""An app's worklist as one viewer may see it: which apps they may open, their rows (governed reads only),
the use case's threshold tiles, the actions they may propose from a row, and the charts.

What a viewer asks of an app (a sort key, filters, a row limit, the fields of a proposal) is checked
against the app's own allow-lists before anything is read: a name that is not one of the app's columns
is refused with the names that are, and a filter's value must parse as its column's type. Values reach
the query path as literals inside a filter that it parses into a tree; nothing is pasted into SQL.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from companybrain.errors import NotFound, PolicyDenied, QueryError, did_you_mean
from companybrain.governance.policy import MASK, Policy
from companybrain.semantic.query import MetricQuery

if TYPE_CHECKING:
    from companybrain.brain import Brain
    from companybrain.governance.principal import Principal
    from companybrain.project import Project
    from companybrain.specs.apps import AppSpec

MAX_FILTER_VALUE = 200
NUMBERS = ("integer", "float", "decimal")


@dataclass(frozen=True)
class Asked:
    """What a viewer asks of an app, checked: a sort key (`-name` for descending), filters, a row limit."""

    sort: str
    descending: bool
    filters: dict[str, Any] = field(default_factory=dict)
    limit: int = 50


def find_app(project: Project, name: str) -> AppSpec:
    """The app called `name` (an allow-list: the project's apps), or NotFound with the names there are."""
    app = project.apps.get(name)
    if app is None:
        shown = name if len(name) <= 60 and name.isprintable() else name[:60].encode("unicode_escape").decode()
        raise NotFound(f"no app {shown!r}; {did_you_mean(name, project.apps)}", hint="brain app list")
    return app


def refusal(brain: Brain, app: AppSpec, principal: Principal) -> str | None:
    """Why the principal may not open the app, or None: it must name them (when it names anyone) and their
    roles must let them read the object type and what ranks it (the property, or the metric)."""
    project = brain.project
    if app.audience is not None and not principal.unrestricted:
        named = principal.user in app.audience.users or set(principal.roles) & set(app.audience.roles)
        if not named:
            return f"the app is for {_audience(app)}"
    policy = Policy(project, principal)
    if not policy.can_read_object(app.object):
        return f"your roles do not give access to {app.object} records"
    if app.rank.property is not None and policy.masked(app.object, app.rank.property):
        return f"{app.object}.{app.rank.property}, which ranks the list, is hidden from your roles"
    if app.rank.metric is not None:
        model = brain.semantic
        owners = sorted({model.metric(b).object or "" for b in model.base_metrics(app.rank.metric)})
        try:
            policy.require_metric(app.rank.metric, owners, model.tags_read(app.rank.metric))
        except PolicyDenied:
            return f"the metric {app.rank.metric}, which ranks the list, is not granted to your roles"
    return None


def _audience(app: AppSpec) -> str:
    assert app.audience is not None
    return " and ".join(
        part
        for part in (
            f"roles {', '.join(app.audience.roles)}" if app.audience.roles else "",
            f"users {', '.join(app.audience.users)}" if app.audience.users else "",
        )
        if part
    )


def require_open(brain: Brain, app: AppSpec, principal: Principal) -> None:
    """PolicyDenied unless the principal may open the app."""
    why = refusal(brain, app, principal)
    if why is not None:
        raise PolicyDenied(f"user {principal.user!r} may not open app {app.name!r}: {why}", policy="app-access")


def open_apps(brain: Brain, principal: Principal) -> list[AppSpec]:
    """The apps the principal may open, in the project's order."""
    return [app for app in brain.project.apps.values() if refusal(brain, app, principal) is None]


def title(app: AppSpec) -> str:
    return app.title or app.name.replace("_", " ").capitalize()


def shown_columns(project: Project, app: AppSpec, principal: Principal) -> tuple[list[str], list[str]]:
    """(columns the viewer sees: the key, the app's columns, the rank - a property, or a metric's name last;
    the columns hidden from them)."""
    obj = project.objects[app.object]
    wanted = list(dict.fromkeys([obj.key, *app.columns, *([app.rank.property] if app.rank.property else [])]))
    policy = Policy(project, principal)
    hidden = [c for c in wanted if policy.masked(app.object, c)]
    return [c for c in wanted if c not in hidden] + ([app.rank.metric] if app.rank.metric else []), hidden


def reasons_property(project: Project, app: AppSpec) -> str | None:
    """`<rank>_reasons` when the rank is a use case's score that carries its reasons."""
    name = f"{app.rank.property}_reasons"
    return name if app.rank.property and name in project.objects[app.object].properties else None


def parse_asked(
    project: Project,
    app: AppSpec,
    principal: Principal,
    sort: str | None = None,
    filters: dict[str, str] | None = None,
    limit: int | None = None,
) -> Asked:
    """Check a viewer's sort key, filters and limit against the app's columns; QueryError names what is valid."""
    columns, _ = shown_columns(project, app, principal)
    if sort:
        name = sort[1:] if sort.startswith("-") else sort
        if name not in columns:
            raise QueryError(
                f"app {app.name!r} cannot be sorted by {name[:60]!r}; sort by one of {', '.join(columns)}",
                hint=f"sort={app.rank.column} or sort=-{app.rank.column}",
            )
        asked_sort, descending = name, sort.startswith("-")
    else:
        asked_sort, descending = app.rank.column, app.rank.order == "desc"
    checked: dict[str, Any] = {}
    obj = project.objects[app.object]
    for name, value in (filters or {}).items():
        if name not in app.filters or name not in columns:
            usable = [f for f in app.filters if f in columns]
            raise QueryError(
                f"app {app.name!r} cannot be filtered by {name[:60]!r}; "
                + (f"filter by one of {', '.join(usable)}" if usable else "it takes no filters")
            )
        checked[name] = _typed(name, obj.properties[name].type, value)
    if limit is not None and not 1 <= limit <= app.limit:
        raise QueryError(f"limit must be from 1 to {app.limit} for app {app.name!r}; got {limit}")
    return Asked(asked_sort, descending, checked, limit or app.limit)


def _typed(name: str, kind: str, value: str) -> Any:
    """A filter's value as its column's type, or QueryError saying what the column takes."""
    if len(value) > MAX_FILTER_VALUE or not value.isprintable():
        raise QueryError(f"the value of filter {name!r} must be printable text of at most {MAX_FILTER_VALUE} chars")
    try:
        if kind == "integer":
            return int(value)
        if kind in ("float", "decimal"):
            return float(value)
        if kind == "date":
            return date.fromisoformat(value)
        if kind == "boolean":
            return {"true": True, "false": False}[value.lower()]
    except (ValueError, KeyError):
        raise QueryError(f"filter {name!r} takes a {kind} value; got {value[:60]!r}") from None
    return value


def _literal(value: Any) -> str:
    """A checked value as a literal of the filter language (parsed into a tree by the query path)."""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, date):
        return f"DATE '{value.isoformat()}'"
    return "'" + str(value).replace("'", "''") + "'"


def _where(app: AppSpec, asked: Asked) -> str | None:
    parts = [f"({app.filter})"] if app.filter else []
    parts += [f"{name} = {_literal(value)}" for name, value in asked.filters.items()]
    return " AND ".join(parts) or None


def worklist(brain: Brain, app: AppSpec, principal: Principal, asked: Asked) -> dict[str, Any]:
    """The app's rows as the principal may see them, sorted and cut to the limit, with the threshold tiles,
    the actions they may propose and the charts. Every read is the governed object or metric read."""
    project = brain.project
    require_open(brain, app, principal)
    obj = project.objects[app.object]
    columns, hidden = shown_columns(project, app, principal)
    reasons = reasons_property(project, app)
    readable_reasons = reasons is not None and not Policy(project, principal).masked(app.object, reasons)
    read = [c for c in columns if c != app.rank.metric] + ([reasons] if reasons and readable_reasons else [])
    rows = brain.read(app.object, _where(app, asked), None, principal, read).to_pylist()
    if app.rank.metric is not None:
        per_object = metric_per_object(brain, app, principal)
        rows = [{**r, app.rank.metric: per_object.get(r.get(obj.key))} for r in rows]
    matching = len(rows)
    rows = _sorted(rows, asked.sort, asked.descending)[: asked.limit]
    uc = project.usecases.get(app.usecase or "")
    levels = sorted(uc.thresholds.items(), key=lambda kv: -kv[1]) if uc is not None else []
    return {
        "name": app.name,
        "title": title(app),
        "description": app.description,
        "object": app.object,
        "key": obj.key,
        "rank": app.rank.model_dump() | {"column": app.rank.column, "usecase": app.usecase},
        "columns": columns,
        "hidden_columns": hidden,
        "sort": ("-" if asked.descending else "") + asked.sort,
        "filters": {k: v.isoformat() if isinstance(v, date) else v for k, v in asked.filters.items()},
        "filter_columns": [f for f in app.filters if f in columns],
        "matching": matching,
        "tiles": _tiles_of(brain, app, principal, asked, levels),
        "rows": [
            {
                "key": r.get(obj.key),
                "values": {c: r.get(c) for c in columns},
                "reasons": r.get(reasons) if reasons and readable_reasons else None,
                "level": next((n for n, lv in levels if _at_least(r.get(app.rank.column), lv)), None),
            }
            for r in rows
        ],
        "actions": proposable(project, app, principal),
    }


def metric_per_object(brain: Brain, app: AppSpec, principal: Principal) -> dict[Any, Any]:
    """The ranking metric per object key over the rank's period, by the governed metric query."""
    assert app.rank.metric is not None
    key = f"{app.object}.{brain.project.objects[app.object].key}"
    query = MetricQuery((app.rank.metric,), by=(key,), period=app.rank.period)
    return {r.get(key): r.get(app.rank.metric) for r in brain.query(query, principal).records()}


def _at_least(value: Any, level: float) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and value >= level


def _sorted(rows: list[dict[str, Any]], key: str, descending: bool) -> list[dict[str, Any]]:
    """Rows by one column, empty values last whichever the direction."""
    present = [r for r in rows if r.get(key) is not None and r.get(key) != MASK]
    empty = [r for r in rows if r.get(key) is None or r.get(key) == MASK]
    return sorted(present, key=lambda r: r[key], reverse=descending) + empty


def _tiles_of(
    brain: Brain, app: AppSpec, principal: Principal, asked: Asked, levels: list[tuple[str, float]]
) -> list[dict[str, Any]]:
    """How many of the listed objects score at or above each of the use case's own thresholds (counted by
    the governed count, over the app's filter and the viewer's), and how many are scored at all."""
    if not levels or app.rank.property is None:
        return []
    where = _where(app, asked)
    prop = app.rank.property

    def count(condition: str) -> int:
        return brain.count_objects(app.object, f"({where}) AND {condition}" if where else condition, principal)

    scored = count(f"{prop} IS NOT NULL")
    return [
        {"name": name, "level": level, "count": count(f"{prop} >= {float(level)!r}"), "scored": scored}
        for name, level in levels
    ]


def proposable(project: Project, app: AppSpec, principal: Principal) -> list[dict[str, Any]]:
    """The app's actions the principal may submit, each with the fields a person fills in (the others come
    from the row, or are read from the data by the action type itself)."""
    from companybrain.decisions.approvals import describe, is_one_of

    out = []
    for action in app.actions:
        spec = project.actions[action.type]
        if not is_one_of(principal, spec.submit.roles, spec.submit.users):
            continue
        fields = [
            {
                "name": name,
                "type": p.type,
                "required": p.required and p.default is None,
                "default": p.default,
                "choices": p.choices,
                "description": p.description,
            }
            for name, p in spec.parameters.items()
            if name not in action.from_row and not p.of and not p.expr
        ]
        out.append(
            {
                "type": action.type,
                "label": action.label or spec.description or action.type,
                "description": spec.description,
                "from_row": dict(action.from_row),
                "fields": fields,
                "approval": [describe(rule) for rule in spec.approval.rules],
            }
        )
    return out


def propose_from_row(
    brain: Brain,
    app: AppSpec,
    principal: Principal,
    action_type: str,
    key: str,
    typed: dict[str, str],
    submission: str | None = None,
) -> list[dict[str, Any]]:
    """Propose one of the app's actions for the row with this key: the row (read as the proposer) fills the
    parameters the app maps, the person's fields the rest; the action desk checks everything else."""
    project = brain.project
    require_open(brain, app, principal)
    offered = {a["type"]: a for a in proposable(project, app, principal)}
    if action_type not in offered:
        names = [a.type for a in app.actions]
        raise QueryError(
            f"app {app.name!r} offers no action {action_type[:60]!r} to user {principal.user!r}; "
            + (f"it offers {', '.join(names)}" if names else "it offers none")
        )
    action = offered[action_type]
    allowed = {f["name"] for f in action["fields"]}
    unknown = sorted(set(typed) - allowed)
    if unknown:
        raise QueryError(
            f"action {action_type!r} from app {app.name!r} takes no field {unknown[0][:60]!r}; "
            f"{did_you_mean(unknown[0], allowed)}"
        )
    obj = project.objects[app.object]
    key_value = _typed(obj.key, obj.properties[obj.key].type, key)
    read = list(dict.fromkeys(action["from_row"].values()))
    rows = brain.read(app.object, f"{obj.key} = {_literal(key_value)}", 1, principal, read).to_pylist()
    if not rows:
        raise NotFound(f"no {app.object} {key[:60]!r} that user {principal.user!r} may see")
    params: dict[str, Any] = {}
    for param, column in action["from_row"].items():
        value = rows[0].get(column)
        if value == MASK:
            raise PolicyDenied(f"{app.object}.{column} is hidden from user {principal.user!r}", policy="masking")
        params[param] = value.isoformat() if isinstance(value, date | datetime) else value
    params |= {k: v for k, v in typed.items() if v != ""}
    return brain.actions.propose([(action_type, params)], principal, source=f"app:{app.name}", submission=submission)


def charts(brain: Brain, app: AppSpec, principal: Principal, asked: Asked) -> list[dict[str, Any]]:
    """The app's charts as the principal may read them: a metric by its grain over the last year, or a
    forecast against what happened (its intervals when the viewer's filters leave one series)."""
    from companybrain.errors import BrainError

    project = brain.project
    today = project.spec.today or date.today()
    out: list[dict[str, Any]] = []
    for chart in app.charts:
        try:
            if chart.metric is not None:
                start = date(today.year - 1, today.month, 1)
                end = date(today.year, today.month, 1) - timedelta(days=1)
                query = MetricQuery((chart.metric,), by=(chart.grain,), period=f"{start}..{end}")
                result = brain.query(query, principal).records()
                out.append(
                    {
                        "kind": "metric",
                        "title": chart.title or _metric_title(project, chart.metric, chart.grain),
                        "metric": chart.metric,
                        "series": [("actual", [(r.get(chart.grain), r.get(chart.metric)) for r in result])],
                    }
                )
            else:
                out.append(_forecast_chart(brain, app, principal, asked, chart.forecast or "", chart.title))
        except BrainError as exc:
            out.append(
                {"kind": "problem", "title": chart.title or chart.metric or chart.forecast, "problem": exc.message}
            )
    return out


def _metric_title(project: Project, metric: str, grain: str) -> str:
    spec = project.metrics[metric]
    return f"{spec.label or metric.replace('_', ' ').capitalize()} per {grain}, last 12 months"


def _forecast_chart(
    brain: Brain, app: AppSpec, principal: Principal, asked: Asked, name: str, chart_title: str
) -> dict[str, Any]:
    project = brain.project
    uc = project.usecases[name]
    assert uc.series is not None
    columns = {dim: dim.replace(".", "_").lower() for dim in uc.series.by}
    rows = brain.read(app.object, _where(app, asked), None, principal).to_pylist()
    ahead: dict[Any, list[float]] = {}
    single = len({r.get("series") for r in rows}) == 1
    level = min(uc.levels) if uc.levels else None
    for r in rows:
        if not isinstance(r.get("forecast"), int | float):
            continue
        sums = ahead.setdefault(r["period"], [0.0, 0.0, 0.0])
        sums[0] += float(r["forecast"])
        if level is not None and isinstance(r.get(f"lower_{level}"), int | float):
            sums[1] += float(r[f"lower_{level}"])
            sums[2] += float(r[f"upper_{level}"])
    if not ahead:
        raise NotFound(f"no forecast rows of {name!r} to draw yet", hint="brain factory train")
    first = min(ahead)
    days = {"day": 1, "week": 7, "month": 31}.get(uc.series.grain, 7) * 2 * len(ahead)
    where = " AND ".join(
        f"{dim} = {_literal(asked.filters[col])}" for dim, col in columns.items() if col in asked.filters
    )
    query = MetricQuery(
        (uc.series.metric,),
        by=(uc.series.grain,),
        where=where or None,
        period=f"{first - timedelta(days=days)}..{first - timedelta(days=1)}",
    )
    actual = brain.query(query, principal).records()
    series = [
        ("actual", [(r.get(uc.series.grain), r.get(uc.series.metric)) for r in actual]),
        ("forecast", [(p, v[0]) for p, v in sorted(ahead.items())]),
    ]
    if single and level is not None:
        series += [
            (f"lower {level}%", [(p, v[1]) for p, v in sorted(ahead.items())]),
            (f"upper {level}%", [(p, v[2]) for p, v in sorted(ahead.items())]),
        ]
    by = ", ".join(columns.values())
    note = "" if single else f" (choose one {by} for its intervals)"
    return {
        "kind": "forecast",
        "title": (chart_title or f"{uc.series.metric.replace('_', ' ').capitalize()}: actual, then forecast") + note,
        "metric": uc.series.metric,
        "series": series,
    }

"""A page for every object (`/cockpit/objects/{Type}/{key}`), read through the governed `Brain.object`, so that
any key on any page links somewhere; lists of objects by property values; and the CSV export of what a page
shows (the same governed reads, as the viewer)."""

from __future__ import annotations

import csv
import io
from datetime import date, datetime
from typing import Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from companybrain.delivery.web import layout, reads
from companybrain.delivery.web.charts import fmt
from companybrain.delivery.web.deps import Svc, Who
from companybrain.delivery.web.reads import guarded
from companybrain.delivery.web.render import NO_STORE, PREFIX, page
from companybrain.semantic.query import MetricQuery

router = APIRouter(include_in_schema=False)
LIST_ROWS = 50
EXPORT_ROWS = 10_000
MATCH = "p."  # a property's value to list objects by: ?p.region=EMEA (or the bare property name)


def object_href(type_name: str, key: Any = None, match: dict[str, Any] | None = None) -> str:
    """The page of one object, or the list of objects whose properties have the given values."""
    if key is not None:
        return f"{PREFIX}/objects/{quote(type_name)}/{quote(str(key), safe='')}"
    return f"{PREFIX}/objects/{quote(type_name)}?" + urlencode({k: str(v) for k, v in (match or {}).items()})


def _missing(request: Request, svc: Svc, viewer: Who, type_name: str) -> HTMLResponse:
    return page(
        request,
        svc,
        viewer,
        "refused.html",
        status=404,
        title="Not found",
        message=f"There is no kind of record called {type_name!r} in this project.",
    )


@router.get("/objects/{type_name}/{key}", response_class=HTMLResponse)
def one_object(type_name: str, key: str, request: Request, svc: Svc, viewer: Who) -> HTMLResponse:
    """One object as the viewer may see it: its properties, its models' scores with reasons, its links."""
    project = svc.brain.project
    if type_name not in project.objects:
        return _missing(request, svc, viewer, type_name)

    def read() -> dict[str, Any]:
        with svc.use() as brain:
            return brain.object(type_name, key, viewer.principal)

    found, denied, error = guarded(read)
    title = f"{layout.humanize(type_name)} {key}"
    if found is None:  # not there, or not among the rows the viewer may see: the page does not say which
        said = denied or f"There is no {layout.humanize(type_name).lower()} {key} that you may see."
        return page(request, svc, viewer, "object.html", status=404 if error else 403, title=title, failure=said)
    obj = project.objects[type_name]
    values = found["properties"]
    predicted = {
        p: spec.predicted_by
        for p, spec in obj.properties.items()
        if spec.predicted_by and f"{p}_reasons" in obj.properties  # the score (its reasons and version beside it)
    }
    scores_of = {p for p, spec in obj.properties.items() if spec.predicted_by}
    rows = []
    for prop, spec in obj.properties.items():
        if prop in scores_of or prop in predicted:
            continue
        value = values.get(prop)
        link = layout.object_link(project, prop, type_name)
        href = object_href(link[0], value) if link and prop != obj.key and value not in (None, "***") else None
        rows.append(
            {
                "label": layout.property_label(project, type_name, prop),
                "description": spec.description,
                "value": "hidden from you" if value == "***" else _value(value, spec.unit, spec.currency),
                "masked": value == "***",
                "href": href,
            }
        )
    scores = []
    for prop, usecase in predicted.items():
        uc = project.usecases.get(usecase or "")
        if uc is None or values.get(prop) is None:
            continue
        level_name, level = layout.threshold(uc)
        score = values[prop]
        scores.append(
            {
                "title": uc.description.rstrip(".") or layout.humanize(uc.name),
                "score": fmt(score, layout.score_format(uc)),
                "high": isinstance(score, int | float) and score >= level,
                "level": f"{level_name} from {fmt(level, layout.score_format(uc))}",
                "reasons": layout.reasons(project, uc, values.get(f"{prop}_reasons")),
            }
        )
    links, hidden = [], []
    for name, link in found["links"].items():
        label = layout.humanize(name)
        if link.get("denied"):
            hidden.append(label)
            continue
        target = project.objects[link["type"]]
        if link["kind"] == "many_to_one":
            other = link.get("object")
            if other:
                links.append(
                    {
                        "label": label,
                        "items": [(other.get(target.key), object_href(link["type"], other.get(target.key)))],
                    }
                )
            continue
        items = [(k, object_href(link["type"], k)) for k in link.get("keys", [])]
        links.append({"label": label, "count": link.get("count", len(items)), "items": items})
    return page(
        request,
        svc,
        viewer,
        "object.html",
        title=title,
        type_label=layout.humanize(type_name),
        description=obj.description,
        rows=rows,
        scores=scores,
        links=links,
        hidden=[f"{', '.join(hidden)}: your roles do not give access to those records"] if hidden else [],
        failure=None,
    )


def _value(value: Any, unit: str | None, currency: str | None) -> str:
    if value is None or value == "":
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int | float):
        text = f"{value:,}" if isinstance(value, int) else f"{value:,.2f}"
        return f"{text} {currency or unit or ''}".strip()
    if isinstance(value, datetime | date):
        return value.isoformat(sep=" ", timespec="minutes") if isinstance(value, datetime) else value.isoformat()
    return str(value)


def _matches(project: Any, type_name: str, params: dict[str, str]) -> dict[str, str]:
    obj = project.objects[type_name]
    found = {}
    for key, value in params.items():
        name = key[len(MATCH) :] if key.startswith(MATCH) else key
        if name in obj.properties and value != "":
            found[name] = value
    return found


@router.get("/objects/{type_name}", response_class=HTMLResponse, response_model=None)
def object_list(type_name: str, request: Request, svc: Svc, viewer: Who) -> HTMLResponse | RedirectResponse:
    """The objects whose properties have the values in the address (one: straight to its page)."""
    project = svc.brain.project
    if type_name not in project.objects:
        return _missing(request, svc, viewer, type_name)
    match = _matches(project, type_name, dict(request.query_params))
    where = " AND ".join(f"{p} = {reads.quote(v)}" for p, v in match.items()) or None
    panel = reads.objects(svc, viewer, type_name, where, LIST_ROWS + 1)
    obj = project.objects[type_name]
    if match and panel.ok and len(panel.rows) == 1:
        return RedirectResponse(object_href(type_name, panel.rows[0].get(obj.key)), status_code=303)
    shown = [obj.key, *[p for p in layout.shown_properties(project, type_name, 4) if p != obj.key]]
    rows = [[_cell(project, type_name, p, r.get(p)) for p in shown] for r in panel.rows[:LIST_ROWS]]
    said = ", ".join(f"{layout.property_label(project, type_name, p).lower()} {v}" for p, v in match.items())
    return page(
        request,
        svc,
        viewer,
        "objects.html",
        title=f"{layout.humanize(type_name)}" + (f": {said}" if said else ""),
        columns=[layout.property_label(project, type_name, p) for p in shown],
        rows=rows,
        more=len(panel.rows) > LIST_ROWS,
        failure=panel.problem,
        export=f"{PREFIX}/export.csv?" + urlencode({"type": type_name, **{MATCH + p: v for p, v in match.items()}}),
    )


def _cell(project: Any, type_name: str, prop: str, value: Any) -> dict[str, Any]:
    """A property's value, linked to the object it names (its own key, or a link's key)."""
    target = layout.object_link(project, prop, type_name)
    linked = target is not None and value not in (None, "***")
    return {"value": value, "href": object_href(target[0], value) if linked and target else None}


@router.get("/export.csv", response_model=None)
def export(request: Request, svc: Svc, viewer: Who) -> Response:
    """What a panel shows, as CSV: a metric query (m, by, period, filters, order, limit) or a list of
    objects (type, and p.<property>=value or score + min), read as the viewer through the governed path."""
    from companybrain.delivery.web.pages import view_of

    params = request.query_params
    project = svc.brain.project
    if params.get("type"):
        type_name = params["type"]
        if type_name not in project.objects:
            return Response(f"no kind of record {type_name!r}\n", status_code=404, media_type="text/plain")
        match = _matches(project, type_name, {k: v for k, v in params.items() if k.startswith(MATCH)})
        conditions = [f"{p} = {reads.quote(v)}" for p, v in match.items()]
        score = params.get("score", "")
        if score in project.objects[type_name].properties:
            try:
                conditions.append(f"{score} >= {float(params.get('min') or 0)!r}")
            except ValueError:
                return Response("min must be a number\n", status_code=400, media_type="text/plain")
        panel = reads.objects(svc, viewer, type_name, " AND ".join(conditions) or None, EXPORT_ROWS)
        if panel.problem:
            return Response(panel.problem + "\n", status_code=403 if panel.denied else 400, media_type="text/plain")
        rows = panel.rows
        if score in project.objects[type_name].properties:
            rows = sorted(rows, key=lambda r: -float(r.get(score) or 0))
        columns = list(rows[0]) if rows else list(project.objects[type_name].properties)
        headers = [layout.property_label(project, type_name, c) for c in columns]
        return csv_response(type_name.lower(), headers, [[r.get(c) for c in columns] for r in rows])
    view = view_of(request, svc, viewer)
    names = tuple(m for m in params.getlist("m") if m)
    by = tuple(b for b in params.getlist("by") if b)
    limit = params.get("limit", "")
    query = MetricQuery(
        names,
        by=by,
        where=view.where(),
        period=view.period_text,
        order_by=tuple(o for o in params.getlist("order") if o),
        limit=min(int(limit), EXPORT_ROWS) if limit.isdigit() else EXPORT_ROWS,
    )
    panel = reads.metric(svc, viewer, query)
    if panel.problem or panel.result is None:
        text = panel.problem or "nothing to export"
        return Response(text + "\n", status_code=403 if panel.denied else 400, media_type="text/plain")
    result = panel.result
    headers = [layout.column_label(project, c) for c in result.columns]
    return csv_response("-".join(names) or "export", headers, result.rows)


def csv_response(name: str, headers: list[str], rows: list[list[Any]]) -> Response:
    """Rows as a CSV download named `name`.csv."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(headers)
    for row in rows:  # full precision and ISO dates: a spreadsheet formats them
        writer.writerow(["" if v is None else v.isoformat() if isinstance(v, date | datetime) else v for v in row])
    headers_out = {**NO_STORE, "Content-Disposition": f'attachment; filename="{name}.csv"'}
    return Response(out.getvalue(), media_type="text/csv; charset=utf-8", headers=headers_out)

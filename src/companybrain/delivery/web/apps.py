"""The cockpit's apps (apps/*.yaml): the list of apps a viewer may open with the proposals awaiting their
approval, and each app's page - threshold tiles, a worklist to sort and filter, each row linked to its
object with the model's reasons, the actions the viewer may propose from a row, and the app's charts.
The worklist is companybrain/apps/worklist.py's, the same the API serves, read as the viewer."""

from __future__ import annotations

import secrets
from datetime import date, datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse

from companybrain.delivery.web import layout
from companybrain.delivery.web.deps import Svc, Who
from companybrain.delivery.web.objects import object_href
from companybrain.delivery.web.reads import guarded
from companybrain.delivery.web.render import PREFIX, page
from companybrain.delivery.web.session import check_csrf, form_data

router = APIRouter(include_in_schema=False)
FILTER = "f."
INBOX_ROWS = 200


def _message(viewer: Who) -> str | None:
    said: str | None = viewer.session.data.pop("app_message", None)
    return said


@router.get("/apps", response_class=HTMLResponse)
def apps_index(request: Request, svc: Svc, viewer: Who) -> HTMLResponse:
    """The apps the viewer may open, and the proposals that wait for their approval."""
    from companybrain.apps.worklist import open_apps, title

    shown = [
        {"name": a.name, "title": title(a), "description": a.description, "href": f"{PREFIX}/apps/{a.name}"}
        for a in open_apps(svc.brain, viewer.principal)
    ]
    hidden = len(svc.brain.project.apps) - len(shown)
    inbox, problem = awaiting(svc, viewer)
    return page(
        request,
        svc,
        viewer,
        "apps.html",
        title="Apps",
        apps=shown,
        inbox=inbox,
        inbox_problem=problem,
        can_write="write:actions" in viewer.session.scopes,
        message=_message(viewer),
        hidden=[f"{hidden} app{'s' if hidden > 1 else ''}: your roles do not give access to what they list"]
        if hidden
        else [],
    )


def awaiting(svc: Svc, viewer: Who) -> tuple[list[dict[str, Any]], str | None]:
    """Proposed actions whose approval rule lets the viewer's approval count (their own only where the
    action type allows self-approval), newest first: the viewer's inbox of decisions."""
    from companybrain.decisions import approvals as ap

    def read() -> list[dict[str, Any]]:
        with svc.use() as brain:
            desk = brain.actions
            rows = desk.visible(desk.find(status="proposed", limit=INBOX_ROWS), viewer.principal)
            out = []
            for row in rows:
                spec = brain.project.actions.get(row["action_type"])
                if spec is None or (row["proposed_by"] == viewer.user and not spec.approval.self_approval):
                    continue
                rule = ap.rule_for(spec, row["parameters"])
                done = ap.people(brain.project, row["approvals"])
                if any(a["user"] == viewer.user for a in row["approvals"]):
                    continue
                if ap.counts(rule, done, viewer.principal, row["parameters"]):
                    needs = desk.approval_needed(row["action_type"], row["parameters"]).removeprefix("otherwise: ")
                    out.append({**row, "needs": needs})
            return out

    rows, denied, error = guarded(read)
    return sorted(rows or [], key=lambda r: -int(r["action_id"])), denied or error


@router.post("/apps/inbox/decide")
async def decide(request: Request, svc: Svc, viewer: Who) -> RedirectResponse:
    """Approve or reject one proposed action from the viewer's inbox (the action desk checks their right)."""
    from companybrain.delivery.alerts import deliver_action_messages

    form = await form_data(request)
    check_csrf(viewer, form)
    verb = form.get("decision", "")
    raw = form.get("action_id", "")
    if "write:actions" not in viewer.session.scopes:
        said = "Not recorded: your sign-in token does not carry the scope write:actions."
    elif verb not in ("approve", "reject") or not raw.isdigit() or len(raw) > 10:
        said = "Choose Approve or Reject on one of the proposals below."
    else:
        action_id = int(raw)

        def run() -> str:
            with svc.changing() as brain:
                if verb == "approve":
                    outcomes = brain.actions.approve([action_id], viewer.principal, form.get("note") or None)
                    if any(o.status == "applied" for o in outcomes):
                        deliver_action_messages(brain)
                else:
                    outcomes = brain.actions.reject([action_id], viewer.principal, form.get("note") or "rejected")
            return "; ".join(o.message for o in outcomes)

        done, denied, error = await run_in_threadpool(guarded, run)
        said = done or denied or error or ""
    viewer.session.data["app_message"] = said
    return RedirectResponse(f"{PREFIX}/apps", status_code=303)


@router.get("/apps/{name}", response_class=HTMLResponse)
def app_page(name: str, request: Request, svc: Svc, viewer: Who) -> HTMLResponse:
    """One app as the viewer may see it: tiles, the worklist (sort, filter, drill, propose), the charts."""
    from companybrain.apps import worklist as wl

    project = svc.brain.project
    if name not in project.apps:
        message = f"There is no app {name[:60]!r} in this project: its apps are the files of apps/."
        return page(request, svc, viewer, "refused.html", status=404, title="Not found", message=message)
    app = project.apps[name]
    why = wl.refusal(svc.brain, app, viewer.principal)
    if why is not None:
        message = f"The app {wl.title(app)} is not available to you: {why}."
        return page(request, svc, viewer, "refused.html", status=403, title=wl.title(app), message=message)
    params = request.query_params
    filters = {k[len(FILTER) :]: v for k, v in params.items() if k.startswith(FILTER) and v}

    def read() -> tuple[dict[str, Any], list[dict[str, Any]]]:
        with svc.use() as brain:
            asked = wl.parse_asked(project, app, viewer.principal, params.get("sort") or None, filters)
            return wl.worklist(brain, app, viewer.principal, asked), wl.charts(brain, app, viewer.principal, asked)

    found, denied, error = guarded(read)
    if found is None:
        return page(request, svc, viewer, "app.html", status=400 if error else 403, title=wl.title(app),
                    failure=denied or error, app=None, charts=[], message=None)  # fmt: skip
    listed, charts = found
    return page(
        request,
        svc,
        viewer,
        "app.html",
        title=wl.title(app),
        app=_drawn(svc, app, listed, filters),
        charts=charts,
        failure=None,
        nonce=secrets.token_hex(8),
        view=request.url.query,
        message=_message(viewer),
        can_write="write:actions" in viewer.session.scopes,
        hidden=_hidden_columns(svc, app.object, listed["hidden_columns"]),
    )


def _hidden_columns(svc: Svc, type_name: str, hidden: list[str]) -> list[str]:
    if not hidden:
        return []
    return [f"columns {', '.join(_label(svc, type_name, c) for c in hidden)}: your roles do not give access to them"]


def _label(svc: Svc, type_name: str, prop: str) -> str:
    """A column as people name it: a property's label, or a metric's (the rank of an app ranked by one)."""
    project = svc.brain.project
    if prop not in project.objects[type_name].properties and prop in project.metrics:
        return layout.metric_label(project, prop)
    return layout.property_label(project, type_name, prop)


def _drawn(svc: Svc, app: Any, listed: dict[str, Any], filters: dict[str, str]) -> dict[str, Any]:
    """The worklist as the page draws it: labels, sort links, formatted values and links to objects."""
    project = svc.brain.project
    uc = project.usecases.get(app.usecase or "")
    score_form = layout.score_format(uc) if uc is not None and uc.entity else "number"
    rank = app.rank.column
    if app.rank.metric is not None:
        score_form = project.metrics[app.rank.metric].format or "number"
    base = {FILTER + k: v for k, v in filters.items()}
    columns = []
    for c in listed["columns"]:
        sort = f"-{c}" if listed["sort"] != f"-{c}" else c
        columns.append(
            {
                "name": c,
                "label": _label(svc, app.object, c),
                "href": f"{PREFIX}/apps/{app.name}?" + urlencode({**base, "sort": sort}),
                "sorted": "desc" if listed["sort"] == f"-{c}" else "asc" if listed["sort"] == c else "",
            }
        )
    rows = []
    for r in listed["rows"]:
        cells = []
        for c in listed["columns"]:
            value = r["values"].get(c)
            target = layout.object_link(project, c, app.object)
            href = object_href(target[0], value) if target and value not in (None, "***") else None
            form = score_form if c == rank else None
            cells.append({"name": c, "value": value, "text": _text(value, form), "href": href})
        rows.append(
            {
                "key": r["key"],
                "href": object_href(app.object, r["key"]),
                "cells": cells,
                "level": r["level"],
                "reasons": layout.reasons(project, uc, r["reasons"]) if uc is not None and r["reasons"] else [],
            }
        )
    tiles = [
        {
            "name": t["name"],
            "label": f"{layout.humanize(t['name'])} (≥ {_text(t['level'], score_form)})",
            "count": t["count"],
            "scored": t["scored"],
        }
        for t in listed["tiles"]
    ]
    return {
        **listed,
        "columns_drawn": columns,
        "rows_drawn": rows,
        "tiles_drawn": tiles,
        "object_label": layout.humanize(app.object),
        "filter_inputs": [
            {"name": f, "label": _label(svc, app.object, f), "value": filters.get(f, "")}
            for f in listed["filter_columns"]
        ],
        "has_reasons": any(r["reasons"] for r in rows),
    }


def _text(value: Any, form: str | None) -> str:
    from companybrain.delivery.web.charts import fmt

    if value is None or value == "":
        return "-"
    if value == "***":
        return "hidden"
    if form is not None and isinstance(value, int | float):
        return str(fmt(value, form))
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:,.2f}"
    if isinstance(value, datetime | date):
        return value.isoformat()[:16].replace("T", " ")
    return str(value)


@router.post("/apps/{name}/propose")
async def propose(name: str, request: Request, svc: Svc, viewer: Who) -> RedirectResponse:
    """Propose one of the app's actions from a row: the row fills what the app maps, the form the rest."""
    from companybrain.apps import worklist as wl

    form = await form_data(request)
    check_csrf(viewer, form)
    back = f"{PREFIX}/apps/{name}" if name in svc.brain.project.apps else f"{PREFIX}/apps"
    kept = [(k, v) for k, v in parse_qsl(form.get("view", "")) if k == "sort" or k.startswith(FILTER)]
    back += f"?{urlencode(kept)}" if kept and back != f"{PREFIX}/apps" else ""  # the same sort and filters
    if "write:actions" not in viewer.session.scopes:
        viewer.session.data["app_message"] = (
            "Not recorded: your sign-in token does not carry the scope write:actions, which proposing needs."
        )
        return RedirectResponse(back, status_code=303)
    fields = {k[len("field.") :]: v for k, v in form.items() if k.startswith("field.")}

    def run() -> list[dict[str, Any]]:
        with svc.use() as brain:
            app = wl.find_app(brain.project, name)
            return wl.propose_from_row(
                brain, app, viewer.principal, form.get("action_type", ""), form.get("key", ""), fields,
                form.get("submission") or None,
            )  # fmt: skip

    rows, denied, error = await run_in_threadpool(guarded, run)
    if rows:
        row = rows[0]
        with svc.use() as brain:
            needs = brain.actions.approval_needed(row["action_type"], row["parameters"])
        needs = needs.removeprefix("otherwise: ")
        said = f"Proposed action {row['action_id']} ({layout.humanize(row['action_type'])}): it waits for {needs}."
    else:
        said = f"Not proposed: {denied or error}"
    viewer.session.data["app_message"] = said
    return RedirectResponse(back, status_code=303)

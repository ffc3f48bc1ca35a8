"""Templates (Jinja2, autoescaped) and the page frame: navigation by what the viewer may read."""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING, Any

from fastapi import Request
from fastapi.responses import HTMLResponse

from companybrain.delivery.web import charts

if TYPE_CHECKING:
    import jinja2

    from companybrain.delivery.app import BrainService
    from companybrain.delivery.web.session import Viewer

PREFIX = "/cockpit"


@cache
def environment() -> jinja2.Environment:
    """The template environment (templates ship inside the package)."""
    try:
        import jinja2
    except ImportError:  # pragma: no cover - a declared dependency
        from companybrain.errors import BrainError

        raise BrainError("the cockpit needs Jinja2", hint="pip install 'jinja2>=3.1'") from None
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("companybrain.delivery.web", "templates"),
        autoescape=jinja2.select_autoescape(["html"]),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals.update(fmt=charts.fmt, line_chart=charts.line_chart, bar_chart=charts.bar_chart, prefix=PREFIX)
    from companybrain.delivery.web.layout import humanize

    env.globals.update(grouped_bars=charts.grouped_bars, pairs=pairs, run_label=run_label, humanize=humanize)
    return env


def run_label(name: str) -> str:
    """A scenario run as people name it: a what-if built in the cockpit is 'What-if 2', not its key."""
    from companybrain.delivery.web.layout import humanize

    if name.startswith("cockpit_"):
        return f"What-if {name.rsplit('_', 1)[-1]}"
    return humanize(name)


def pairs(rows: list[dict[str, Any]], label: str, value: str) -> list[tuple[Any, Any]]:
    """(label, value) of each row, for a chart."""
    return [(r.get(label), r.get(value)) for r in rows]


def navigation(project: Any, readable: set[str], predictions: bool) -> list[dict[str, Any]]:
    """The navigation, read from the project: the overview, a page per metrics file (greyed out, with why,
    when the viewer may read none of its metrics), the models' predictions, and the pages of the decisions
    the project declares what for."""
    from companybrain.delivery.web import whatif
    from companybrain.delivery.web.layout import areas

    entries: list[dict[str, Any]] = [{"slug": "", "title": "Overview", "available": True}]
    for area in areas(project):
        available = bool(readable & set(area.metrics))
        entries.append({"slug": area.slug, "title": area.title, "available": available})
    if predictions:
        entries.append({"slug": "predictions", "title": "Predictions", "available": True})
    if project.apps:
        entries.append({"slug": "apps", "title": "Apps", "available": True})
    if _plans_networks(project):
        entries.append({"slug": "disruption", "title": "Disruption", "available": True})
    if "ProjectedShortage" in project.objects:
        entries.append({"slug": "supply", "title": "Supply", "available": True})
    if project.scenarios or whatif.offered(project):
        entries.append({"slug": "scenarios", "title": "Scenarios", "available": True})
    entries += [
        {"slug": "alerts", "title": "Alerts", "available": True},
        {"slug": "ask", "title": "Ask", "available": True},
    ]
    for e in entries:
        e["href"] = f"{PREFIX}/{e['slug']}"
    return entries


def _plans_networks(project: Any) -> bool:
    """Whether the project has the object types a network replan reads (decisions/notify.py)."""
    from companybrain.decisions.notify import PLAN_TYPES

    return all(t in project.objects for t in PLAN_TYPES)


def page(
    request: Request,
    svc: BrainService,
    viewer: Viewer,
    template: str,
    status: int = 200,
    **context: Any,
) -> HTMLResponse:
    """A full page as the viewer: the frame (navigation, user, sign-out) around `template`."""
    from companybrain.delivery.web.layout import forecast_usecases, humanize, scored_usecases
    from companybrain.delivery.web.reads import catalog

    readable = set(context.pop("readable", None) or catalog(svc, viewer))
    project = svc.brain.project
    models = bool(scored_usecases(project) or forecast_usecases(project))
    context.setdefault("hidden", [])
    html = (
        environment()
        .get_template(template)
        .render(
            request=request,
            user=viewer.user,
            roles=", ".join(humanize(r) for r in viewer.principal.roles),
            csrf=viewer.session.csrf,
            pages=navigation(project, readable, models),
            path=request.url.path,
            **context,
        )
    )
    return HTMLResponse(html, status_code=status, headers=NO_STORE)


def bare(template: str, status: int = 200, **context: Any) -> HTMLResponse:
    """A page outside the frame (sign-in)."""
    html = environment().get_template(template).render(**context)
    return HTMLResponse(html, status_code=status, headers=NO_STORE)


# pages show one user's governed data: never cached by the browser or a proxy, never framed
NO_STORE = {
    "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
    "frame-ancestors 'none'; form-action 'self'",
    "Referrer-Policy": "same-origin",
}


def refused(
    request: Request, svc: BrainService, viewer: Viewer, readable: dict[str, Any], slug: str
) -> HTMLResponse | None:
    """A 403 page when the viewer may read none of the page's metrics."""
    from companybrain.delivery.web.layout import area_of, metric_label

    area = area_of(svc.brain.project, slug)
    if area is None or any(n in readable for n in area.metrics):
        return None
    roles = ", ".join(viewer.principal.roles) or "none"
    shown = ", ".join(metric_label(svc.brain.project, m) for m in area.metrics[:6])
    more = f" and {len(area.metrics) - 6} more" if len(area.metrics) > 6 else ""
    return page(
        request,
        svc,
        viewer,
        "refused.html",
        status=403,
        readable=readable,
        title=area.title,
        message=f"The {area.title} page is not available to you: your roles ({roles}) give access to none of "
        f"its figures ({shown}{more}).",
    )

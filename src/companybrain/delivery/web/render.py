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

# slug, title, metrics of which the viewer must read at least one (empty: everyone)
PAGES: list[tuple[str, str, tuple[str, ...]]] = [
    ("", "Overview", ()),
    ("margin", "Margin", ("true_margin", "gross_margin")),
    ("sales", "Sales", ("win_rate",)),
    ("talent", "Talent", ("headcount", "attrition_rate", "skills_coverage")),
    ("operations", "Operations", ("capacity_utilisation", "downtime_hours")),
    ("disruption", "Disruption", ()),
    ("scenarios", "Scenarios", ()),
    ("alerts", "Alerts", ()),
    ("ask", "Ask", ()),
]
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
    env.globals.update(grouped_bars=charts.grouped_bars, pairs=pairs)
    return env


def pairs(rows: list[dict[str, Any]], label: str, value: str) -> list[tuple[Any, Any]]:
    """(label, value) of each row, for a chart."""
    return [(r.get(label), r.get(value)) for r in rows]


def allowed_pages(readable: set[str]) -> list[dict[str, Any]]:
    """The navigation: every page, marked available or not for the viewer."""
    return [
        {
            "slug": slug,
            "title": title,
            "href": f"{PREFIX}/{slug}",
            "available": not needs or bool(readable & set(needs)),
        }
        for slug, title, needs in PAGES
    ]


def page(
    request: Request,
    svc: BrainService,
    viewer: Viewer,
    template: str,
    status: int = 200,
    **context: Any,
) -> HTMLResponse:
    """A full page as the viewer: the frame (navigation, user, sign-out) around `template`."""
    from companybrain.delivery.web.reads import catalog

    readable = set(context.pop("readable", None) or catalog(svc, viewer))
    html = (
        environment()
        .get_template(template)
        .render(
            request=request,
            user=viewer.user,
            roles=", ".join(viewer.principal.roles),
            csrf=viewer.session.csrf,
            pages=allowed_pages(readable),
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
    title, needs = next((t, n) for s, t, n in PAGES if s == slug)
    if any(n in readable for n in needs):
        return None
    return page(
        request,
        svc,
        viewer,
        "refused.html",
        status=403,
        readable=readable,
        title=title,
        message=f"The {title} page is not available to you: your roles ({', '.join(viewer.principal.roles)}) "
        f"grant none of {', '.join(needs)}.",
    )

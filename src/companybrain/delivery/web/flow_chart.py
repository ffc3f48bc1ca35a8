"""What moves where, as a picture: a flow chart (Sankey) of a plan's moves, drawn on the server as SVG.

The lines that lose work on the left, the lines that take it on the right, one band per flow as wide as
the order parts it carries; another site's line is coloured by its site. No script, no outside file;
every label is escaped here.
"""

from __future__ import annotations

from typing import Any

from markupsafe import Markup, escape

from companybrain.delivery.web.charts import PALETTE, fmt

WIDTH = 760
ROW = 26  # height per node at least
GAP = 8
MAX_FLOWS = 24


def flow_chart(flows: list[dict[str, Any]], title: str = "What moves where") -> Markup:
    """A Sankey of flows ({from_line, to_line, from_site, to_site, parts, units, value}); empty: a note."""
    if not flows:
        return Markup('<p class="empty">Nothing moves: the plan delays or prioritises only.</p>')
    flows = _top(flows)
    left = _nodes(flows, "from")
    right = _nodes(flows, "to")
    total = sum(f["parts"] for f in flows)
    scale = max(len(left), len(right)) * ROW / total if total else 1.0  # the busier side about ROW per node
    height = int(max(_place(left, scale), _place(right, scale))) + 30
    sites = sorted({n["site"] or "" for n in [*left.values(), *right.values()]})
    colour = {s: PALETTE[i % len(PALETTE)] for i, s in enumerate(sites)}
    node_w, x_left, x_right = 14, 170, WIDTH - 184
    out = [
        f'<svg class="chart flow" viewBox="0 0 {WIDTH} {height}" role="img" aria-label="{escape(title)}" '
        f'xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>'
    ]
    used_left: dict[str, float] = {k: 0.0 for k in left}
    used_right: dict[str, float] = {k: 0.0 for k in right}
    for f in sorted(flows, key=lambda f: (left[f["from_line"]]["y"], right[f["to_line"]]["y"])):
        a, b = left[f["from_line"]], right[f["to_line"]]
        w = max(f["parts"] * scale, 1.5)
        y0 = a["y"] + used_left[f["from_line"]]
        y1 = b["y"] + used_right[f["to_line"]]
        used_left[f["from_line"]] += f["parts"] * scale
        used_right[f["to_line"]] += f["parts"] * scale
        x0, x1 = x_left + node_w, x_right
        mid = (x0 + x1) / 2
        path = (
            f"M{x0:.1f},{y0:.1f} C{mid:.1f},{y0:.1f} {mid:.1f},{y1:.1f} {x1:.1f},{y1:.1f} "
            f"L{x1:.1f},{y1 + w:.1f} C{mid:.1f},{y1 + w:.1f} {mid:.1f},{y0 + w:.1f} {x0:.1f},{y0 + w:.1f} Z"
        )
        what = (
            f"{f['from_line']} → {f['to_line']}: {f['parts']} order parts, {f['units']:,} units, "
            f"{fmt(f.get('value'), 'currency', 'USD')}"
        )
        out.append(
            f'<path class="band" d="{path}" fill="{colour[b["site"] or ""]}" fill-opacity="0.35" '
            f'data-from="{escape(f["from_line"])}" data-to="{escape(f["to_line"])}" data-parts="{f["parts"]}">'
            f"<title>{escape(what)}</title></path>"
        )
    for side, nodes, x in (("from", left, x_left), ("to", right, x_right)):
        for name, n in nodes.items():
            out.append(
                f'<rect class="node {side}" x="{x}" y="{n["y"]:.1f}" width="{node_w}" height="{max(n["h"], 2):.1f}" '
                f'fill="{colour[n["site"] or ""]}"><title>{escape(name)}: {n["parts"]} order parts</title></rect>'
            )
            label = f"{name}" + (f" ({n['site']})" if n["site"] and not name.startswith(str(n["site"])) else "")
            label += f" · {n['parts']}"
            if side == "from":
                lx, anchor = x - 6, "end"
            else:
                lx, anchor = x + node_w + 6, "start"
            out.append(
                f'<text class="flabel" x="{lx}" y="{n["y"] + max(n["h"], 2) / 2 + 4:.1f}" text-anchor="{anchor}">'
                f"{escape(label)}</text>"
            )
    out.append(
        f'<text class="axis" x="{x_left + node_w}" y="{height - 8}">order parts leave these lines</text>'
        f'<text class="axis" x="{x_right}" y="{height - 8}" text-anchor="end">and are made on these</text></svg>'
    )
    return Markup("".join(out))


def _top(flows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The largest flows; the rest become one flow per source line to "other lines"."""
    ranked = sorted(flows, key=lambda f: -f["parts"])
    if len(ranked) <= MAX_FLOWS:
        return ranked
    kept, rest = ranked[: MAX_FLOWS - 1], ranked[MAX_FLOWS - 1 :]
    other = {
        "from_line": "other lines",
        "to_line": "other lines",
        "from_site": None,
        "to_site": None,
        "parts": sum(f["parts"] for f in rest),
        "units": sum(f["units"] for f in rest),
        "value": sum(float(f.get("value") or 0) for f in rest),
    }
    return [*kept, other]


def _nodes(flows: list[dict[str, Any]], side: str) -> dict[str, dict[str, Any]]:
    nodes: dict[str, dict[str, Any]] = {}
    for f in flows:
        n = nodes.setdefault(f[f"{side}_line"], {"site": f.get(f"{side}_site"), "parts": 0})
        n["parts"] += f["parts"]
    return dict(sorted(nodes.items(), key=lambda kv: (str(kv[1]["site"]), kv[0])))


def _place(nodes: dict[str, dict[str, Any]], scale: float) -> float:
    """Stack the nodes top to bottom, each as tall as its parts (with room for its label); the bottom."""
    y = 10.0
    for n in nodes.values():
        n["y"] = y
        n["h"] = n["parts"] * scale
        y += max(n["h"], ROW) + GAP
    return y

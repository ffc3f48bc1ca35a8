"""Charts drawn on the server as inline SVG: lines for trends, bars for breakdowns.

No chart library and no JavaScript: the page is complete when the HTML arrives, works with no
internet, and every label is escaped here.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from markupsafe import Markup, escape

PALETTE = ("#2563eb", "#f59e0b", "#10b981", "#ef4444", "#8b5cf6", "#0ea5e9")
PERCENT_FORMATS = {"percent"}


def fmt(value: Any, form: str = "number", unit: str | None = None) -> str:
    """A figure as a person reads it: 12.3M USD, 64.2%, 1,234."""
    if value is None:
        return "-"
    if isinstance(value, datetime | date):
        return value.isoformat()[:10]
    if not isinstance(value, int | float):
        return str(value)
    if form in PERCENT_FORMATS:
        return f"{value:.1%}"
    if form == "count":
        return f"{value:,.0f}"
    text = _compact(float(value))
    if form == "currency":  # the metric's own currency; none said (an axis tick), none written
        return f"{text} {unit}".strip() if unit and unit != "USD per year" else f"{text} USD/yr" if unit else text
    return f"{text} {unit}" if unit else text


def _compact(value: float) -> str:
    size = abs(value)
    for limit, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if size >= limit:
            return f"{value / limit:,.1f}{suffix}"
    return f"{value:,.2f}" if size < 10 and value != int(value) else f"{value:,.0f}"


def _ticks(low: float, high: float, count: int = 4) -> list[float]:
    """Round tick values covering [low, high]."""
    if high <= low:
        high = low + (abs(low) or 1.0)
    if low < 0 < high and -low < 0.02 * high:
        low = 0.0
    raw = (high - low) / count
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    first = math.floor(low / step) * step
    return [first + i * step for i in range(count + 2) if first + i * step <= high + step * 0.999]


def _label(value: Any, monthly: bool = True) -> str:
    """A category or a point in time; a month (2025-09) only when the series is by month."""
    if isinstance(value, datetime | date):
        return value.isoformat()[:7] if monthly and value.day == 1 else value.isoformat()[:10]
    return "Not recorded" if value is None else str(value)


def _monthly(xs: Sequence[Any]) -> bool:
    """Whether the dates of a series are all firsts of the month (a week that starts on the 1st is no month)."""
    dates = [x for x in xs if isinstance(x, datetime | date)]
    return bool(dates) and all(d.day == 1 for d in dates)


def line_chart(
    points: Sequence[tuple[Any, float | None]],
    form: str = "number",
    unit: str | None = None,
    series: Sequence[tuple[str, Sequence[tuple[Any, float | None]]]] | None = None,
    width: int = 560,
    height: int = 200,
    title: str = "",
    zero: bool = False,
) -> Markup:
    """A line chart of (x label, value) points; `series` draws several named lines on one axis.

    The axis spans the data (a trend is what it shows); `zero` makes it start at zero."""
    lines = list(series) if series is not None else [("", points)]
    monthly = _monthly([x for _, pts in lines for x, _ in pts])
    xs = list(dict.fromkeys(_label(x, monthly) for _, pts in lines for x, _ in pts))
    values = [v for _, pts in lines for _, v in pts if v is not None]
    if not xs or not values:
        return Markup('<p class="empty">No data for this period.</p>')
    right, top, bottom = 12, 12, 28
    low, high = min(values), max(values)
    if zero:
        low = min(0.0, low)
    else:
        pad = (high - low) * 0.1 or abs(high) * 0.05 or 1.0
        low, high = (low - pad if low - pad >= 0 or low < 0 else 0.0), high + pad  # no negative axis for >= 0 data
    ticks = _ticks(low, high, 3 if height < 150 else 4)
    lo, hi = ticks[0], ticks[-1]
    labels = [fmt(t, "number" if form == "count" else form, "") for t in ticks]  # axis ticks: short (30k)
    left = max(36, 7 * max(len(t) for t in labels) + 10)  # room for the widest tick label

    def x_at(i: int) -> float:
        return left + (width - left - right) * (i / max(1, len(xs) - 1))

    def y_at(v: float) -> float:
        return top + (height - top - bottom) * (1 - (v - lo) / ((hi - lo) or 1))

    parts = [_open(width, height, title)]
    for t, text in zip(ticks, labels, strict=True):
        y = y_at(t)
        parts.append(f'<line class="grid" x1="{left}" x2="{width - right}" y1="{y:.1f}" y2="{y:.1f}"/>')
        parts.append(f'<text class="ytick" x="{left - 6}" y="{y + 4:.1f}">{escape(text)}</text>')
    every = max(1, math.ceil(len(xs) / max(2, (width - left) // 64)))
    for i, x in enumerate(xs):
        if i % every == 0:
            parts.append(f'<text class="xtick" x="{x_at(i):.1f}" y="{height - 8}">{escape(x)}</text>')
    index = {x: i for i, x in enumerate(xs)}
    for n, (name, pts) in enumerate(lines):
        color = PALETTE[n % len(PALETTE)]
        coords = [(x_at(index[_label(x, monthly)]), y_at(v), x, v) for x, v in pts if v is not None]
        path = " ".join(f"{'M' if i == 0 else 'L'}{cx:.1f},{cy:.1f}" for i, (cx, cy, _, _) in enumerate(coords))
        parts.append(f'<path class="series" d="{path}" stroke="{color}"/>')
        for cx, cy, x, v in coords:
            tip = f"{name + ' · ' if name else ''}{_label(x, monthly)}: {fmt(v, form, unit)}"
            parts.append(
                f'<circle cx="{cx:.1f}" cy="{cy:.1f}" r="2.5" fill="{color}"><title>{escape(tip)}</title></circle>'
            )
    parts.append("</svg>")
    if series is not None:
        parts.append(_legend([name for name, _ in lines]))
    return Markup("".join(parts))


def bar_chart(
    bars: Sequence[tuple[Any, float | None]],
    form: str = "number",
    unit: str | None = None,
    links: Sequence[str | None] | None = None,
    width: int = 560,
    title: str = "",
) -> Markup:
    """Horizontal bars of (label, value), longest first as given; negative values grow left of zero.

    `links` makes each bar a link (drill down)."""
    monthly = _monthly([k for k, _ in bars])
    rows = [(_label(k, monthly), v) for k, v in bars]
    values = [v for _, v in rows if v is not None]
    if not values:
        return Markup('<p class="empty">No data for this selection.</p>')
    row_h, label_w, value_w = 22, 170, 90
    height = row_h * len(rows) + 8
    lo, hi = min(0.0, min(values)), max(0.0, max(values))
    span = (hi - lo) or 1.0
    plot = width - label_w - value_w

    def x_at(v: float) -> float:
        return label_w + plot * (v - lo) / span

    parts = [_open(width, height, title)]
    zero = x_at(0.0)
    for i, (label, v) in enumerate(rows):
        y = 4 + i * row_h
        short = label if len(label) <= 24 else label[:23] + "…"
        text = (
            f'<text class="blabel" x="{label_w - 6}" y="{y + 15}" data-label="{escape(label)}">{escape(short)}</text>'
        )
        bar = ""
        if v is not None:
            x0, x1 = sorted((zero, x_at(v)))
            cls = "bar neg" if v < 0 else "bar"
            bar = f'<rect class="{cls}" x="{x0:.1f}" y="{y + 3}" width="{max(1.0, x1 - x0):.1f}" height="{row_h - 6}"/>'
        value = f'<text class="bvalue" x="{width - value_w + 6}" y="{y + 15}">{escape(fmt(v, form, unit))}</text>'
        link = links[i] if links is not None and i < len(links) else None
        tip = f"<title>{escape(label)}: {escape(fmt(v, form, unit))}</title>"
        row = f'<g class="row" data-value="{v}">{tip}{text}{bar}{value}</g>'
        if link:
            row = f'<a href="{escape(link)}" class="drill">{row}</a>'
        parts.append(row)
    parts.append(f'<line class="axis" x1="{zero:.1f}" x2="{zero:.1f}" y1="0" y2="{height}"/></svg>')
    return Markup("".join(parts))


def grouped_bars(
    categories: Sequence[str], series: Sequence[tuple[str, Sequence[float | None]]], form: str = "percent"
) -> Markup:
    """Vertical grouped bars: one group per category, one bar per series (scenario comparison)."""
    values = [v for _, vs in series for v in vs if v is not None]
    if not categories or not series or not values:
        return Markup('<p class="empty">Nothing to compare yet.</p>')
    width, height, left, bottom, top = 720, 280, 84, 78, 10
    ticks = _ticks(min(0.0, min(values)), max(0.0, max(values)))
    lo, hi = ticks[0], ticks[-1]

    def y_at(v: float) -> float:
        return top + (height - top - bottom) * (1 - (v - lo) / ((hi - lo) or 1))

    group_w = (width - left - 8) / len(categories)
    bar_w = max(3.0, (group_w - 10) / len(series))
    parts = [_open(width, height, "")]
    for t in ticks:
        y = y_at(t)
        parts.append(f'<line class="grid" x1="{left}" x2="{width - 8}" y1="{y:.1f}" y2="{y:.1f}"/>')
        parts.append(f'<text class="ytick" x="{left - 6}" y="{y + 4:.1f}">{escape(fmt(t, form))}</text>')
    for c, category in enumerate(categories):
        gx = left + c * group_w + 5
        for s, (name, vs) in enumerate(series):
            v = vs[c] if c < len(vs) else None
            if v is None:
                continue
            y0, y1 = sorted((y_at(0.0), y_at(v)))
            tip = f"{name} · {category}: {fmt(v, form)}"
            parts.append(
                f'<rect x="{gx + s * bar_w:.1f}" y="{y0:.1f}" width="{bar_w - 1:.1f}" height="{max(1.0, y1 - y0):.1f}" '
                f'fill="{PALETTE[s % len(PALETTE)]}"><title>{escape(tip)}</title></rect>'
            )
        label = category.replace("_", " ")
        label = label if len(label) <= 22 else label[:21] + "…"
        x, y = gx + group_w / 2 - 5, height - bottom + 12
        parts.append(
            f'<text class="slant" x="{x:.1f}" y="{y}" transform="rotate(-30 {x:.1f} {y})">{escape(label)}</text>'
        )
    parts.append(f'<line class="axis" x1="{left}" x2="{width - 8}" y1="{y_at(0.0):.1f}" y2="{y_at(0.0):.1f}"/></svg>')
    parts.append(_legend([name for name, _ in series]))
    return Markup("".join(parts))


def _open(width: int, height: int, title: str) -> str:
    label = f' aria-label="{escape(title)}"' if title else ""
    return (
        f'<svg class="chart" viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img"{label} '
        f'xmlns="http://www.w3.org/2000/svg" preserveAspectRatio="xMinYMin meet">'
    )


def _legend(names: Sequence[str]) -> str:
    items = "".join(
        f'<span><i style="background:{PALETTE[i % len(PALETTE)]}"></i>{escape(n)}</span>' for i, n in enumerate(names)
    )
    return f'<div class="legend">{items}</div>'

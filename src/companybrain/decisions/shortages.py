"""Projected component shortages: the demand forecast exploded through the bills of materials into
component need per site and week, netted against stock and the open purchase orders at the date they
are expected to arrive - their promised date plus the delay the supplier risk use case predicts.

The netting is the replan's too (decisions/materials.py calls `supply_by_week` and `expected_delays`),
so a plan's parts check and this forecast never disagree on when a part runs out. Week by week, the
backlog is what the weeks so far need beyond stock and what has arrived; a week is short by the part
of its own need the backlog leaves uncovered (earlier weeks' needs are served first). The products
that part would have gone into are what is at risk: their units, revenue and margin at recent prices,
and the open orders due that week at the site that carry them."""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
from sqlglot import exp

from companybrain.errors import NotFound, PolicyDenied
from companybrain.ontology.model import FACTORY_SCHEMA
from companybrain.semantic.query import MetricQuery
from companybrain.specs.ontology import SPEC_DIALECT
from companybrain.warehouse.ddl import table

if TYPE_CHECKING:
    from companybrain.brain import Brain
    from companybrain.governance.principal import Principal
    from companybrain.specs.scenarios import ScenarioSpec

SHORTAGES = table(FACTORY_SCHEMA, "projected_shortages")  # the source of ontology ProjectedShortage
RISK = "late_risk"  # PurchaseOrder's property scored by usecases/supplier_delay_risk.yaml
LATE_DAYS = 7  # that use case's target: more than a week late
HISTORY_DAYS = 365  # receipts that give a supplier's typical delay when late
MIX_WEEKS = 13  # order history that splits a family's forecast into products and prices them
EPS = 1e-9
COLUMNS = {
    "shortage_id": "string",
    "site_id": "string",
    "component_id": "string",
    "supplier_id": "string",
    "week": "date",
    "need": "float",
    "available": "float",
    "qty_short": "float",
    "units_at_risk": "float",
    "revenue_at_risk": "float",
    "margin_at_risk": "float",
    "orders_at_risk": "integer",
    "reasons": "string",
    "projected_at": "timestamp",
}


@dataclass(frozen=True)
class Arrival:
    """An open purchase order as the netting counts it."""

    po_id: int
    promised: date
    expected: date  # promised + the predicted delay, in whole days
    qty: float


def week_of(day: date, start: date) -> int:
    """The first week (0 = the one starting at `start`) whose start sees `day`'s receipt."""
    return max(0, math.ceil((day - start).days / 7))


def supply_by_week(on_hand: float, arrivals: list[tuple[date, float]], start: date, weeks: int) -> np.ndarray:
    """Stock plus what has arrived by the start of each week."""
    supply = np.full(weeks, float(on_hand))
    for day, qty in arrivals:
        first = week_of(day, start)
        if first < weeks:
            supply[first:] += qty
    return supply


def inside_lead_time(component: dict[str, Any] | None, weeks: int) -> int:
    """The weeks that start before an order placed today at the component's normal lead time arrives."""
    lead = int(component.get("lead_time_days") or 0) if component else 0
    return min(weeks, math.ceil(lead / 7))


def short_by_week(need: np.ndarray, supply: np.ndarray) -> np.ndarray:
    """Units of each week's own need left uncovered: the backlog, capped at the week's need."""
    backlog = np.maximum(np.cumsum(need) - supply, 0.0)
    return np.minimum(need, backlog)


def expected_delays(brain: Brain, user: str | Principal | None, open_pos: list[dict[str, Any]]) -> dict[int, float]:
    """PO -> days it is expected to arrive after its promised date: its late risk times its supplier's mean
    delay over the last year's receipts more than a week late (every supplier's where it has none). Empty
    while no PO is scored (the use case is absent or not trained): the promised dates stand."""
    scored = [p for p in open_pos if p.get(RISK) is not None]
    if not scored:
        return {}
    from companybrain.factory.training import today_of

    since = today_of(brain) - timedelta(days=HISTORY_DAYS)
    late = exp.and_(
        exp.column("received_date") >= exp.cast(exp.Literal.string(since.isoformat()), "date"),
        exp.column("delay_days") > exp.Literal.number(LATE_DAYS),
    )
    history = brain.read("PurchaseOrder", where=late.sql(dialect=SPEC_DIALECT), user=user).to_pylist()
    by_supplier: dict[str, list[float]] = defaultdict(list)
    for r in history:
        by_supplier[str(r["supplier_id"])].append(float(r["delay_days"]))
    everyone = [d for ds in by_supplier.values() for d in ds]
    fallback = float(np.mean(everyone)) if everyone else float(LATE_DAYS + 1)
    typical = {s: float(np.mean(ds)) for s, ds in by_supplier.items()}
    return {int(p["po_id"]): float(p[RISK]) * typical.get(str(p["supplier_id"]), fallback) for p in scored}


@dataclass
class Projection:
    """The shortage rows, and what they were computed from (for the page and the report)."""

    start: date
    weeks: int
    rows: list[dict[str, Any]]
    arrivals: dict[tuple[str, str], list[Arrival]]
    orders_at_risk: set[int]
    blocked: dict[tuple[str, str, int], tuple[float, float, float]]  # (site, product, week) -> units, revenue, margin

    def totals(self) -> dict[str, float]:
        """What all the short weeks put at risk together: an order counted once, a product's units once
        however many of its parts are short (the shortest part decides)."""
        return {
            "shortages": len(self.rows),
            "qty_short": round(sum(r["qty_short"] for r in self.rows), 1),
            "units_at_risk": round(sum(b[0] for b in self.blocked.values()), 1),
            "orders_at_risk": len(self.orders_at_risk),
            "revenue_at_risk": round(sum(b[1] for b in self.blocked.values()), 2),
            "margin_at_risk": round(sum(b[2] for b in self.blocked.values()), 2),
        }


def project_shortages(
    brain: Brain,
    user: str | Principal | None,
    forecast: str = "demand_forecast",
    extra_delay_days: dict[str, int] | None = None,
) -> Projection:
    """Component shortages per site and week over the forecast's horizon, with what they put at risk.

    `extra_delay_days`: supplier id -> days its open orders slip on top of the prediction (a scenario)."""
    from companybrain.decisions.materials import load_materials

    uc = brain.project.usecases.get(forecast)
    if uc is None or uc.series is None or uc.output.object is None:
        raise NotFound(f"no forecast use case {forecast!r}", hint="name a forecast use case (`brain factory list`)")
    mat, why = load_materials(brain, user)
    if mat is None:
        raise NotFound(why or "no material data", hint="the project needs BomLine, Stock, PurchaseOrder objects")
    family_col, site_col = uc.series.columns()[:2]
    rows = brain.read(uc.output.object, user=user).to_pylist()
    if not rows:
        raise NotFound(f"{uc.output.object} has no rows", hint=f"run `brain factory score {forecast}` first")
    start = min(r["period"] for r in rows)
    weeks = max((r["period"] - start).days // 7 for r in rows) + 1
    mix, price, margin = _product_mix(brain, user, start)
    # (site, component) -> week -> need, and the share of it each product takes (for what is at risk)
    need: dict[tuple[str, str], np.ndarray] = {}
    by_product: dict[tuple[str, str], dict[str, np.ndarray]] = defaultdict(dict)
    for r in rows:
        w = (r["period"] - start).days // 7
        for (site_id, product), share in mix.get((r[family_col], r[site_col]), {}).items():
            units = float(r["forecast"] or 0.0) * share
            for component, per_unit in mat.bom.get(product, ()):
                key = (site_id, component)
                need.setdefault(key, np.zeros(weeks))[w] += units * per_unit
                by_product[key].setdefault(product, np.zeros(weeks))[w] += units
    extra = extra_delay_days or {}
    arrivals = {
        key: [
            Arrival(
                r.po_id, r.promised, (r.expected or r.promised) + timedelta(days=extra.get(r.supplier_id, 0)), r.qty
            )
            for r in rs
        ]
        for key, rs in mat.receipts.items()
    }
    orders = _open_orders(brain, user, start, weeks)
    out: list[dict[str, Any]] = []
    at_risk: set[int] = set()
    blocked: dict[tuple[str, str, int], tuple[float, float, float]] = {}
    for key, wanted in sorted(need.items()):
        site_id, component = key
        got = supply_by_week(
            mat.stock.get(key, 0.0), [(a.expected, a.qty) for a in arrivals.get(key, [])], start, weeks
        )
        short = short_by_week(wanted, got)
        # beyond the lead time an order placed today still comes in time: a buyer's routine, as in the replan
        short[inside_lead_time(mat.components.get(component), weeks) :] = 0.0
        for w in np.nonzero(short > EPS)[0].tolist():
            frac = float(short[w] / wanted[w])
            products = {p: float(u[w]) * frac for p, u in by_product[key].items() if u[w] > EPS}
            week = start + timedelta(weeks=w)
            hit = {o for (s, p, wk), os in orders.items() if s == site_id and wk == w and p in products for o in os}
            at_risk |= hit
            for p, u in products.items():
                if u > blocked.get((site_id, p, w), (0.0,))[0]:
                    blocked[(site_id, p, w)] = (u, u * price.get((site_id, p), 0.0), u * margin.get((site_id, p), 0.0))
            out.append(
                {
                    "shortage_id": f"{site_id}:{component}:{week.isoformat()}",
                    "site_id": site_id,
                    "component_id": component,
                    "supplier_id": str(mat.components.get(component, {}).get("supplier_id") or ""),
                    "week": week,
                    "need": round(float(wanted[w]), 3),
                    "available": round(float(max(got[w] - (np.cumsum(wanted)[w] - wanted[w]), 0.0)), 3),
                    "qty_short": round(float(short[w]), 3),
                    "units_at_risk": round(sum(products.values()), 3),
                    "revenue_at_risk": round(sum(u * price.get((site_id, p), 0.0) for p, u in products.items()), 2),
                    "margin_at_risk": round(sum(u * margin.get((site_id, p), 0.0) for p, u in products.items()), 2),
                    "orders_at_risk": len(hit),
                    "reasons": _reasons(arrivals.get(key, []), week, mat.stock.get(key, 0.0)),
                }
            )
    return Projection(start, weeks, out, arrivals, at_risk, blocked)


def supply_section(brain: Brain, slipping: dict[str, int], user: str | Principal | None) -> dict[str, Any]:
    """A scenario's supply ahead: the shortage projection with the slipping suppliers' open orders `days`
    later against the baseline's - the shortages, orders, revenue and margin they put at risk."""
    if not slipping:
        return {"status": "unchanged", "reason": "no supplier slips in this scenario"}
    try:
        base = project_shortages(brain, user).totals()
        scen = project_shortages(brain, user, extra_delay_days=slipping).totals()
    except (NotFound, PolicyDenied) as exc:
        return {"status": "failed", "reason": exc.message}
    return {
        "status": "ok",
        "slips": slipping,
        "kpis": [
            {"kpi": k, "baseline": base[k], "scenario": scen[k], "diff": round(scen[k] - base[k], 2)} for k in base
        ],
    }


def write_shortages(brain: Brain, projection: Projection) -> int:
    """Replace the projected shortages (the ProjectedShortage objects) with `projection`'s rows."""
    from datetime import UTC, datetime

    from companybrain.ontology.model import materialize_query, object_table
    from companybrain.warehouse.ddl import insert_select

    now = datetime.now(UTC).replace(tzinfo=None)
    rows = [{**r, "projected_at": now} for r in projection.rows]
    schema = pa.schema([(name, _ARROW[kind]) for name, kind in COLUMNS.items()])
    data = pa.Table.from_pylist(rows, schema=schema)
    wh = brain.warehouse
    brain.require_built()
    obj = brain.project.objects["ProjectedShortage"]
    live = object_table("ProjectedShortage")
    with wh.transaction():
        wh.ensure_table(SHORTAGES, COLUMNS)
        wh.execute(exp.delete(SHORTAGES))
        if data.num_rows:
            wh.write_arrow(SHORTAGES, data, create=False)
        wh.execute(exp.delete(live))
        wh.execute(insert_select(live, list(obj.properties), materialize_query(obj)))
    return data.num_rows


_ARROW = {
    "string": pa.string(),
    "date": pa.date32(),
    "float": pa.float64(),
    "integer": pa.int64(),
    "timestamp": pa.timestamp("us"),
}


def _reasons(arrivals: list[Arrival], week: date, on_hand: float) -> str:
    """Why the week is short: the stock, and the open orders that arrive after it or later than promised."""
    parts = [f"stock {on_hand:g}"]
    for a in arrivals:
        if a.expected >= week + timedelta(days=7) or a.expected > a.promised:
            slip = (a.expected - a.promised).days
            when = f"expected {a.expected.isoformat()}" + (f", {slip} days after its promise" if slip > 0 else "")
            parts.append(f"PO {a.po_id} ({a.qty:g}) {when}")
    if len(parts) == 1:
        parts.append("no open order")
    return "; ".join(parts[:4])


def _product_mix(
    brain: Brain, user: str | Principal | None, start: date
) -> tuple[
    dict[tuple[str, str], dict[tuple[str, str], float]], dict[tuple[str, str], float], dict[tuple[str, str], float]
]:
    """(family, site) as the forecast names them -> {(site id, product): share of the family's units} over
    the last MIX_WEEKS weeks, and each (site id, product)'s revenue and margin per unit."""
    period = f"{(start - timedelta(weeks=MIX_WEEKS)).isoformat()}..{(start - timedelta(days=1)).isoformat()}"
    query = MetricQuery(
        metrics=("units_sold", "revenue", "gross_margin"),
        by=("product.product_id", "family", "site", "production_line.site.site_id"),
        period=period,
    )
    rows = [r for r in brain.query_table(query, user=user).to_pylist() if r["units_sold"]]
    totals: dict[tuple[str, str], float] = defaultdict(float)
    for r in rows:
        totals[(r["family"], r["site"])] += float(r["units_sold"])
    mix: dict[tuple[str, str], dict[tuple[str, str], float]] = defaultdict(dict)
    price, margin = {}, {}
    for r in rows:
        units = float(r["units_sold"])
        site_id, product = r["production_line.site.site_id"], r["product.product_id"]
        mix[(r["family"], r["site"])][(site_id, product)] = units / totals[(r["family"], r["site"])]
        price[(site_id, product)] = float(r["revenue"] or 0.0) / units
        margin[(site_id, product)] = float(r["gross_margin"] or 0.0) / units
    return dict(mix), price, margin


def _open_orders(
    brain: Brain, user: str | Principal | None, start: date, weeks: int
) -> dict[tuple[str, str, int], set[int]]:
    """(site id, product, week) -> the open orders due that week with a line of the product made there."""
    query = MetricQuery(
        metrics=("units_sold",),
        by=("order.order_id", "order.due_date", "product.product_id", "production_line.site.site_id"),
        where="order_status = 'open'",
    )
    found: dict[tuple[str, str, int], set[int]] = defaultdict(set)
    for r in brain.query_table(query, user=user).to_pylist():
        if not r["units_sold"] or r["order.due_date"] is None:
            continue
        w = (r["order.due_date"] - start).days // 7
        if 0 <= w < weeks:
            found[(r["production_line.site.site_id"], r["product.product_id"], w)].add(int(r["order.order_id"]))
    return found


def slips(brain: Brain, spec: ScenarioSpec) -> dict[str, int]:
    """Supplier id -> days its orders slip, from a scenario's supplier_delay changes (id or name, as the
    overlays resolved them)."""
    from companybrain.ontology.model import object_table
    from companybrain.specs.scenarios import SupplierDelay

    changes = [c for c in spec.changes if isinstance(c, SupplierDelay)]
    if not changes:
        return {}
    rows = brain.warehouse.query_arrow(exp.select("supplier_id", "name").from_(object_table("Supplier"))).to_pylist()
    ids = {str(v).lower(): str(r["supplier_id"]) for r in rows for v in (r["supplier_id"], r["name"])}
    found: dict[str, int] = {}
    for change in changes:
        supplier = ids.get(change.supplier.lower())
        if supplier is not None:
            found[supplier] = found.get(supplier, 0) + change.days
    return found

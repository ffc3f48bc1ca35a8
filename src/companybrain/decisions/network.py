"""The production network a replan works on: open orders as work items, lines with weekly
capacity and the product families they can make, and the transfer lanes between sites.

Everything is read through the governed `Brain.read` / `Brain.object` path (policies and audit
apply); `synthetic_network` builds the same structure without a project, for tests and benchmarks."""

from __future__ import annotations

import math
import random
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from companybrain.decisions.materials import Materials, load_materials
from companybrain.errors import NotFound, PolicyDenied, did_you_mean

if TYPE_CHECKING:
    import pyarrow as pa

    from companybrain.brain import Brain
    from companybrain.governance.principal import Principal

HORIZON_WEEKS = 13


class Disruption(BaseModel):
    """Capacity lost at a site (or one of its lines) for some days."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    site: str = Field(description="Site by site_id, name or city.")
    line: str | None = Field(None, description="Line by line_id (MKE-L3) or short name (L3); all lines if empty.")
    capacity: float = Field(0.0, ge=0.0, le=1.0, description="Fraction of capacity kept (0 = line down).")
    start: date = Field(description="First day of the disruption; the 13-week horizon starts here.")
    days: int = Field(gt=0, le=HORIZON_WEEKS * 7, description="Length of the disruption in days.")


def load_disruption(path: str | Path) -> Disruption:
    """A disruption from a YAML or JSON file; an unknown key is an error naming it (file:line)."""
    from companybrain.specs import yaml_loader

    file = Path(path)
    if not file.is_file():
        raise NotFound(f"disruption file {str(path)!r} does not exist", hint="pass --file PATH to a YAML or JSON file")
    return yaml_loader.load(Disruption, file, str(path))


@dataclass(frozen=True)
class CostModel:
    """Every cost and lead-time parameter of the replan, in one place (USD, days).

    Lanes: distance_km = great-circle km between the sites' latitude/longitude x `circuity`;
    freight per unit = handling + per_1000km x distance_km / 1000; transit days =
    base + ceil(distance_km / km_per_day). Within a site both are 0; moving work to another line of
    the same site costs `line_change_per_unit` (changeover, routing), so work stays put unless it gains.
    Lateness: penalty per unit per day late = rate_per_day x the family's average unit value
    x the customer tier's weight (strategic > key > standard).
    Expediting a part (decisions/materials.py) costs `expedite_premium` x its standard cost per unit
    and arrives after `expedite_lead` x its normal lead time, `expedite_min_days` at the soonest."""

    handling_per_unit: float = 15.0
    freight_per_unit_per_1000km: float = 12.0
    circuity: float = 1.2
    transit_base_days: int = 2
    km_per_transit_day: float = 800.0
    line_change_per_unit: float = 1.0
    lateness_rate_per_day: float = 0.005
    tier_weights: dict[str, float] = field(default_factory=lambda: {"strategic": 4.0, "key": 2.0, "standard": 1.0})
    expedite_premium: float = 0.3
    expedite_lead: float = 0.25
    expedite_min_days: int = 3

    def tier_weight(self, tier: str) -> float:
        return self.tier_weights.get(tier, 1.0)

    def distance_km(self, a: SiteInfo, b: SiteInfo) -> float:
        """Great-circle distance (haversine, earth radius 6371 km) times the circuity factor."""
        la1, lo1, la2, lo2 = map(math.radians, (a.latitude, a.longitude, b.latitude, b.longitude))
        h = math.sin((la2 - la1) / 2) ** 2 + math.cos(la1) * math.cos(la2) * math.sin((lo2 - lo1) / 2) ** 2
        return 2 * 6371.0 * math.asin(math.sqrt(h)) * self.circuity

    def lane(self, a: SiteInfo, b: SiteInfo) -> tuple[float, int]:
        """(freight USD per unit, transit days) to move goods made at `a` to ship from `b`."""
        if a.site_id == b.site_id:
            return 0.0, 0
        km = self.distance_km(a, b)
        freight = self.handling_per_unit + self.freight_per_unit_per_1000km * km / 1000.0
        return freight, self.transit_base_days + math.ceil(km / self.km_per_transit_day)


@dataclass(frozen=True)
class SiteInfo:
    site_id: str
    name: str
    city: str
    latitude: float
    longitude: float
    plant_manager_id: str | None = None
    cost_per_labour_hour: float = 0.0


@dataclass(frozen=True)
class LineInfo:
    line_id: str
    site_id: str
    name: str
    capacity_per_week: float
    families: frozenset[str]


@dataclass(frozen=True)
class Item:
    """The part of one open order made on one line: what the replan assigns to a line and week."""

    order_id: int
    customer_id: str
    tier: str
    family: str
    line_id: str
    site_id: str
    qty: int
    value: float
    due: date
    labour_hours: float = 0.0
    parts: tuple[tuple[str, float], ...] = ()  # (component, units) the order part needs


@dataclass
class Network:
    """Sites, lines (capacity per week after the disruption), open work items, lanes and costs."""

    start: date
    sites: dict[str, SiteInfo]
    lines: list[LineInfo]
    items: list[Item]
    capacity: np.ndarray  # lines x weeks, after the disruption
    nominal: np.ndarray  # lines x weeks, without it
    disrupted_lines: frozenset[str]
    unit_penalty: dict[str, float]  # family -> USD per unit-day late, before the tier weight
    customers: dict[str, dict[str, Any]] = field(default_factory=dict)
    disruption: Disruption | None = None
    cost: CostModel = field(default_factory=CostModel)
    weeks: int = HORIZON_WEEKS
    materials: Materials | None = None  # none: the plan is made without the material check
    materials_note: str | None = None

    def week_start(self, week: int) -> date:
        return self.start + timedelta(days=7 * week)

    @cached_property
    def flat_parts(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str]]:
        """Every (item index, component code, units) the items need, as arrays; the components by code."""
        components = sorted({c for item in self.items for c, _ in item.parts})
        code = {c: n for n, c in enumerate(components)}
        rows = [(n, code[c], q) for n, item in enumerate(self.items) for c, q in item.parts]
        a = np.array(rows, dtype=float).reshape(len(rows), 3)
        return a[:, 0].astype(np.int64), a[:, 1].astype(np.int64), a[:, 2], components


def disrupted_capacity(
    nominal: np.ndarray, lines: list[LineInfo], hit: frozenset[str], kept: float, start: date, first: date, days: int
) -> np.ndarray:
    """Nominal capacity with the disrupted lines' loss, pro rata for the days of each week it covers."""
    capacity = nominal.copy()
    for t in range(nominal.shape[1]):
        lo, hi = start + timedelta(days=7 * t), start + timedelta(days=7 * t + 7)
        overlap = max(0, (min(hi, first + timedelta(days=days)) - max(lo, first)).days)
        for i, line in enumerate(lines):
            if line.line_id in hit and overlap:
                capacity[i, t] *= 1.0 - (1.0 - kept) * overlap / 7.0
    return capacity


def resolve_site(name: str, sites: list[dict[str, Any]]) -> dict[str, Any]:
    wanted = name.strip().lower()
    for s in sites:
        if wanted in {str(s["site_id"]).lower(), str(s["name"]).lower(), str(s["city"]).lower()}:
            return s
    names = [str(s[k]) for s in sites for k in ("site_id", "city")]
    raise NotFound(f"no site {name!r} (by site_id, name or city); {did_you_mean(name, names)}")


def resolve_line(name: str, site: dict[str, Any], lines: list[dict[str, Any]]) -> dict[str, Any]:
    wanted = name.strip().lower()
    own = [ln for ln in lines if ln["site_id"] == site["site_id"]]
    for ln in own:
        short = str(ln["line_id"]).split("-", 1)[-1].lower()
        if wanted in {str(ln["line_id"]).lower(), short, str(ln["name"]).lower()}:
            return ln
    raise NotFound(
        f"site {site['site_id']} has no line {name!r}; {did_you_mean(name, [str(ln['line_id']) for ln in own])}"
    )


def load_network(
    brain: Brain,
    disruption: Disruption,
    user: str | Principal | None = None,
    cost: CostModel | None = None,
    parts: bool = True,
) -> Network:
    """Read sites, lines and their families, open orders and their lines, products and customers, and
    (with `parts`) what the material check needs."""
    cost = cost or CostModel()
    # first: no access, no plan
    orders = brain.read(
        "Order", where="status = 'open'", user=user, columns=["order_id", "customer_id", "site_id", "due_date"]
    )
    site_rows = brain.read("Site", user=user).to_pylist()
    hit_site = resolve_site(disruption.site, site_rows)
    line_rows = brain.read("Line", user=user).to_pylist()
    hit = [resolve_line(disruption.line, hit_site, line_rows)] if disruption.line else None
    hit_ids = (
        frozenset(ln["line_id"] for ln in hit)
        if hit
        else frozenset(ln["line_id"] for ln in line_rows if ln["site_id"] == hit_site["site_id"])
    )
    sites = {
        s["site_id"]: SiteInfo(
            s["site_id"],
            s["name"],
            s["city"],
            float(s["latitude"]),
            float(s["longitude"]),
            s["plant_manager_id"],
            _number(s.get("labour_rate_per_hour")) + _number(s.get("overhead_rate_per_labour_hour")),
        )
        for s in site_rows
    }
    makes: dict[str, set[str]] = defaultdict(set)
    for pair in brain.link_pairs("Line", "families", user=user).to_pylist():
        makes[pair["key"]].add(pair["linked"])
    lines = [
        LineInfo(
            ln["line_id"],
            ln["site_id"],
            ln["name"],
            float(ln["capacity_units_per_week"] or 0),
            frozenset(makes[ln["line_id"]]),
        )
        for ln in line_rows
    ]
    materials, note = load_materials(brain, user) if parts else (None, "no material check: not asked for")
    customers = {c["customer_id"]: c for c in brain.read("Customer", user=user).to_pylist()}
    tiers = {c: str(row["tier"]) for c, row in customers.items()}
    items = _open_items(brain, user, orders, {ln.line_id: ln for ln in lines}, tiers, materials)
    weeks = HORIZON_WEEKS
    nominal = np.array([[ln.capacity_per_week] * weeks for ln in lines], dtype=float).reshape(len(lines), weeks)
    capacity = disrupted_capacity(
        nominal, lines, hit_ids, disruption.capacity, disruption.start, disruption.start, disruption.days
    )
    return Network(
        start=disruption.start,
        sites=sites,
        lines=lines,
        items=items,
        capacity=capacity,
        nominal=nominal,
        disrupted_lines=hit_ids,
        unit_penalty=family_penalties(items, cost),
        customers=customers,
        disruption=disruption,
        cost=cost,
        weeks=weeks,
        materials=materials,
        materials_note=note,
    )


def _number(value: Any) -> float:
    return float(value) if isinstance(value, int | float) else 0.0


def _open_items(
    brain: Brain,
    user: str | Principal | None,
    orders: pa.Table,
    lines: dict[str, LineInfo],
    tiers: dict[str, str],
    materials: Materials | None = None,
) -> list[Item]:
    import pyarrow.compute as pc

    if orders.num_rows == 0:
        raise NotFound("there are no open orders to replan", hint="check Order.status with `brain objects Order`")
    ids = orders.column("order_id")
    wanted = ["order_id", "product_id", "production_line_id", "qty", "net_amount"]
    order_lines = brain.read("OrderLine", where=f"order_id >= {pc.min(ids).as_py()}", user=user, columns=wanted)
    order_lines = order_lines.filter(pc.is_in(order_lines.column("order_id"), value_set=ids))
    if str(order_lines.schema.field("net_amount").type) not in ("double", "float"):
        raise PolicyDenied(
            "replanning needs OrderLine.net_amount, which is masked for this user",
            policy="masking",
            hint="run as a user whose roles unmask financial data (e.g. --as cfo)",
        )
    products = {p["product_id"]: p for p in brain.read("Product", user=user).to_pylist()}
    head = {o["order_id"]: o for o in orders.to_pylist()}
    grouped: dict[tuple[int, str, str], list[float]] = defaultdict(lambda: [0, 0.0, 0.0])
    parts: dict[tuple[int, str, str], dict[str, float]] = defaultdict(lambda: defaultdict(float))
    bom = materials.bom if materials else {}
    for r in order_lines.to_pylist():
        product = products.get(r["product_id"])
        if product is None or r["production_line_id"] not in lines:
            continue  # a line or product the user's row filters hide is not part of their network
        key = (r["order_id"], r["production_line_id"], product["family_id"])
        acc = grouped[key]
        acc[0] += r["qty"] or 0
        acc[1] += r["net_amount"] or 0.0
        acc[2] += (r["qty"] or 0) * _number(product.get("labour_hours_per_unit"))
        for component, per_unit in bom.get(r["product_id"], ()):
            parts[key][component] += (r["qty"] or 0) * per_unit
    items = []
    for (order_id, line_id, family), (qty, value, hours) in sorted(grouped.items()):
        o = head[order_id]
        if qty > 0:
            site_id = lines[line_id].site_id
            items.append(
                Item(
                    order_id,
                    o["customer_id"],
                    tiers.get(o["customer_id"], "standard"),  # a customer the user may not see: no priority
                    family,
                    line_id,
                    site_id,
                    int(qty),
                    value,
                    o["due_date"],
                    hours,
                    tuple(sorted(parts[(order_id, line_id, family)].items())),
                )
            )
    return items


def family_penalties(items: list[Item], cost: CostModel) -> dict[str, float]:
    """USD per unit-day late by family: the lateness rate times the family's average unit value."""
    qty: dict[str, float] = defaultdict(float)
    value: dict[str, float] = defaultdict(float)
    for i in items:
        qty[i.family] += i.qty
        value[i.family] += i.value
    return {f: cost.lateness_rate_per_day * value[f] / qty[f] for f in qty}


def synthetic_network(
    orders: int,
    seed: int = 0,
    sites: int = 8,
    lines_per_site: int = 6,
    families: int = 10,
    utilisation: float = 0.75,
    disruption_days: int = 10,
    cost: CostModel | None = None,
    min_capacity: float = 1.0,
) -> Network:
    """A random network shaped like the demo's (for tests and benchmarks): site 0's line 1 is down
    for `disruption_days` from the start; lines carry `utilisation` of their capacity on average and
    make at least `min_capacity` units a week (order parts are 1-40 units: a high floor makes lots
    small against capacity, as in the demo)."""
    rng = random.Random(seed)
    cost = cost or CostModel()
    start = date(2026, 3, 2)
    places = [(43.0, -87.9), (44.5, 11.3), (34.9, -82.4), (25.7, -100.3), (18.5, 73.9), (31.3, 120.6)]
    places += [(51.1, 17.0), (-25.4, -49.3)]
    site_info = {
        f"S{s:02d}": SiteInfo(f"S{s:02d}", f"Site {s}", f"City {s}", *places[s % len(places)], f"E{s:05d}", 50.0)
        for s in range(sites)
    }
    fams = [f"F{f:02d}" for f in range(families)]
    lines = []
    for s in site_info:
        for k in range(1, lines_per_site + 1):
            made = frozenset(rng.sample(fams, rng.randint(1, 3)))
            lines.append(LineInfo(f"{s}-L{k}", s, f"{s} line {k}", 0.0, made))
    tiers = ["strategic"] * 1 + ["key"] * 3 + ["standard"] * 6
    items: list[Item] = []
    load: dict[str, float] = defaultdict(float)
    for order_id in range(1, orders + 1):
        due = start + timedelta(days=rng.randint(-3, 7 * HORIZON_WEEKS))
        tier = rng.choice(tiers)
        for line in rng.sample(lines, rng.randint(1, 3)):
            qty = rng.randint(1, 40)
            family = rng.choice(sorted(line.families))
            unit = 200.0 + 100.0 * fams.index(family)
            value = qty * unit * rng.uniform(0.8, 1.2)
            customer = f"C{order_id % 500:04d}"
            items.append(Item(order_id, customer, tier, family, line.line_id, line.site_id, qty, value, due, 2.0 * qty))
            load[line.line_id] += qty
    lines = [
        LineInfo(
            ln.line_id,
            ln.site_id,
            ln.name,
            max(min_capacity, load[ln.line_id] / HORIZON_WEEKS / utilisation),
            ln.families,
        )
        for ln in lines
    ]
    nominal = np.array([[ln.capacity_per_week] * HORIZON_WEEKS for ln in lines], dtype=float)
    hit = frozenset({lines[0].line_id})
    capacity = disrupted_capacity(nominal, lines, hit, 0.0, start, start, disruption_days)
    disruption = Disruption(
        site=lines[0].site_id, line=lines[0].line_id, capacity=0.0, start=start, days=disruption_days
    )
    customers: dict[str, dict[str, Any]] = {
        i.customer_id: {"name": f"Customer {i.customer_id}", "tier": i.tier, "account_owner_id": f"AO{i.customer_id}"}
        for i in items
    }
    penalties = family_penalties(items, cost)
    return Network(start, site_info, lines, items, capacity, nominal, hit, penalties, customers, disruption, cost)

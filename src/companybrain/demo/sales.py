"""ERP sales: customers, promotions, orders and order lines (seasonality, trend, promotions,
price changes and a per-family price elasticity), shipments and returns."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa

from companybrain.demo.common import (
    HISTORY_DAYS,
    HISTORY_START,
    MONTH_FACTOR,
    REGIONS,
    PartedTable,
    Scale,
    business_seconds,
    clip_before_as_of,
    day_offset,
    ids,
    make_table,
    rng_for,
    to_timestamp,
    weighted_choice,
)
from companybrain.demo.company import Company
from companybrain.demo.names import company_names
from companybrain.demo.people import People

TERRITORIES = [  # id, name, region, countries
    ("T-NA-US", "United States", "NA", ("US",)),
    ("T-NA-CAMX", "Canada and Mexico", "NA", ("CA", "MX")),
    ("T-EU-SOUTH", "Southern Europe", "EMEA", ("IT", "ES", "FR")),
    ("T-EU-NORTH", "Northern Europe", "EMEA", ("DE", "NL", "SE", "GB")),
    ("T-EU-EAST", "Central and Eastern Europe", "EMEA", ("PL",)),
    ("T-AP-CN", "Greater China", "APAC", ("CN", "TW")),
    ("T-AP-IN", "India", "APAC", ("IN",)),
    ("T-AP-SEA", "Japan, Korea, South-East Asia and Oceania", "APAC", ("JP", "KR", "SG", "TH", "VN", "AU")),
    ("T-LA-BR", "Brazil", "LATAM", ("BR",)),
    ("T-LA-SC", "Southern Cone and Andes", "LATAM", ("AR", "CL", "CO")),
]
REGION_SHARE = (0.40, 0.30, 0.22, 0.08)
COUNTRY_WEIGHTS = {
    "NA": {"US": 0.78, "CA": 0.12, "MX": 0.10},
    "EMEA": {"DE": 0.25, "IT": 0.18, "FR": 0.15, "GB": 0.12, "ES": 0.10, "NL": 0.08, "SE": 0.05, "PL": 0.07},
    "APAC": {"CN": 0.40, "IN": 0.20, "JP": 0.12, "KR": 0.08, "SG": 0.05, "TH": 0.05, "VN": 0.05, "AU": 0.05},
    "LATAM": {"BR": 0.55, "AR": 0.15, "CL": 0.15, "CO": 0.15},
}
SEGMENTS = ("OEM", "Distributor", "Aftermarket", "Industrial")
SEGMENT_SHARE = (0.30, 0.25, 0.20, 0.25)
SEGMENT_EXTRA_LINES = (3.5, 5.0, 1.2, 2.2)  # order lines per order = 1 + Poisson(this)
SEGMENT_QTY = (1.5, 2.0, 0.5, 1.0)
TIERS = ("strategic", "key", "standard")
# yearly demand growth per region (ground truth trend) and the ship-from sites per region
REGION_GROWTH = {"NA": 0.05, "EMEA": 0.02, "APAC": 0.12, "LATAM": 0.07}
REGION_SITES = {
    "NA": {"MKE": 0.45, "MTY": 0.25, "GSP": 0.30},
    "EMEA": {"BLQ": 0.6, "WRO": 0.4},
    "APAC": {"SZV": 0.6, "PNQ": 0.4},
    "LATAM": {"CWB": 0.65, "MTY": 0.35},
}
CROSS_REGION_SHARE = 0.08
WEEKDAY_FACTOR = (1.0, 1.05, 1.05, 1.0, 0.95, 0.15, 0.05)  # Mon..Sun
SITE_LATE_SHARE = {
    "MKE": 0.08,
    "BLQ": 0.10,
    "MTY": 0.15,
    "SZV": 0.12,
    "PNQ": 0.18,
    "WRO": 0.09,
    "CWB": 0.20,
    "GSP": 0.07,
}
CARRIERS = {
    "NA": ["UPS Freight", "XPO Logistics", "J.B. Hunt"],
    "EMEA": ["DHL Freight", "DB Schenker", "Kuehne+Nagel"],
    "APAC": ["SF Express", "Blue Dart", "Nippon Express"],
    "LATAM": ["Jadlog", "Estafeta"],
    "cross": ["Maersk", "DHL Global Forwarding", "Kuehne+Nagel"],
}
RETURN_REASONS = ("damaged in transit", "wrong item shipped", "defective", "no longer needed", "quality issue")
CANCEL_SHARE = 0.025
LINE_CHUNK_ORDERS = 250_000  # orders whose lines are priced at once (about a million lines)
PART_ROWS = 500_000  # order lines per part of the order_lines table when it is written


@dataclass
class Sales:
    """Customers, orders and order lines as arrays for the other generators, plus the tables."""

    customer_ids: np.ndarray
    customer_region: np.ndarray  # index into REGIONS
    customer_owner: np.ndarray  # employee index of the account owner
    customer_tier: np.ndarray
    customer_segment: np.ndarray
    customer_created_day: np.ndarray
    customer_domains: np.ndarray
    territory_of_rep: dict[int, int]  # employee index -> territory index
    order_customer: np.ndarray
    order_site: np.ndarray
    order_day: np.ndarray
    order_status: np.ndarray  # 0 open, 1 shipped, 2 cancelled
    order_ship_day: np.ndarray
    order_delivered_day: np.ndarray  # -1 when not delivered yet
    line_order: np.ndarray
    line_product: np.ndarray
    line_line: np.ndarray  # production line index
    line_qty: np.ndarray
    line_net: np.ndarray
    tables: dict[str, pa.Table] = field(default_factory=dict)


def generate_sales(scale: Scale, seed: int, company: Company, people: People) -> Sales:
    """Customers, promotions, orders, order lines, shipments and returns."""
    rng = rng_for(seed, "sales")
    cust = _customers(rng, scale, company, people)
    promo_depth, promo_id, promotions = _promotions(rng, company)
    tables = {"erp.customers": cust.pop("table"), "erp.promotions": promotions}

    # --- orders: who, when, from where -------------------------------------------------------
    seg = cust["segment"]
    p_cust = cust["weight"] / cust["weight"].sum()
    lines_per_order = float(np.sum(p_cust * (1 + np.array(SEGMENT_EXTRA_LINES)[seg])))
    n_orders = max(round(scale.order_lines / lines_per_order), 100)
    o_cust = rng.choice(len(p_cust), n_orders, p=p_cust)
    o_region = cust["region"][o_cust]
    o_day = np.empty(n_orders, dtype=np.int64)
    for r, region in enumerate(REGIONS):
        mask = o_region == r
        o_day[mask] = weighted_choice(rng, _day_weights(region), int(mask.sum()))
    # customers won during the history only order after they were created
    created = cust["created_day"][o_cust]
    early = o_day < created
    o_day[early] = created[early] + (rng.random(early.sum()) * (HISTORY_DAYS - created[early])).astype(int)
    o_secs = business_seconds(rng, n_orders)
    order = np.lexsort((o_secs, o_day))
    o_cust, o_region, o_day, o_secs = o_cust[order], o_region[order], o_day[order], o_secs[order]
    o_site = _ship_from(rng, company, o_region)

    # --- order lines ---------------------------------------------------------------------------
    # Twenty million lines (large) do not fit in memory as tables: keep compact per-line arrays,
    # draw each random stream in consecutive chunks (the same values as one draw of the whole) and
    # build the order_lines table part by part when it is written (see _order_line_parts).
    n_lines = 1 + rng.poisson(np.array(SEGMENT_EXTRA_LINES)[seg[o_cust]])
    l_order = np.repeat(np.arange(n_orders, dtype=np.int32), n_lines)
    l_site = o_site.astype(np.int8)[l_order]
    l_prod = np.empty(len(l_order), dtype=np.int32)
    fam_of = company.product_family
    for s in range(len(company.site_ids)):
        mask = l_site == s
        made_here = np.isin(fam_of, [f for (site, f) in company.lines_for if site == s])
        candidates = np.flatnonzero(made_here)
        l_prod[mask] = candidates[weighted_choice(rng, company.product_popularity[candidates], int(mask.sum()))]
    l_fam = fam_of.astype(np.int16)[l_prod]
    l_line = np.empty(len(l_order), dtype=np.int32)
    for (s, f), capable in company.lines_for.items():
        mask = (l_site == s) & (l_fam == f)
        l_line[mask] = capable[rng.integers(0, len(capable), mask.sum())]
    del l_site, mask
    order_discount = cust["discount"][o_cust]
    lines = _LinePricing(company, promo_depth, promo_id, order_discount, o_region, o_day, l_order, l_prod, l_fam)
    first_line = np.cumsum(n_lines) - n_lines
    # chunks end at order boundaries, so an order's total sums its lines in one pass as before
    edges = [*first_line[::LINE_CHUNK_ORDERS].tolist(), len(l_order)]
    chunks = list(itertools.pairwise(edges))
    discount = np.empty(len(l_order))
    with_promo = np.zeros(n_orders)
    for a, b in chunks:
        depth = lines.depth(a, b)
        discount[a:b] = np.round(lines.customer_discount(a, b) + rng.uniform(0, 2, b - a) + depth, 1)
        with_promo += np.bincount(l_order[a:b], depth > 0, minlength=n_orders)
    # demand responds to the net price relative to the starting list price (ground truth elasticity)
    mean_qty = np.empty(len(l_order))
    seg_qty = np.array(SEGMENT_QTY)[seg[o_cust]]
    for a, b in chunks:
        relative = lines.net_unit(a, b, discount[a:b]) / company.ref_price[l_prod[a:b]]
        mean_qty[a:b] = (
            company.product_base_qty[l_prod[a:b]]
            * seg_qty[l_order[a:b]]
            * relative ** company.elasticity[l_fam[a:b]]
            * rng.lognormal(0, 0.3, b - a)
        )
    qty = np.empty(len(l_order), dtype=np.int32)
    net = np.empty(len(l_order))
    o_total = np.zeros(n_orders)
    for a, b in chunks:
        qty[a:b] = np.maximum(1, rng.poisson(mean_qty[a:b]))
        net[a:b] = np.round(qty[a:b] * lines.net_unit(a, b, discount[a:b]), 2)
        o_total += np.bincount(l_order[a:b], net[a:b], minlength=n_orders)
    del mean_qty
    o_total = np.round(o_total, 2)
    o_promo = with_promo > 0

    # --- fulfilment ----------------------------------------------------------------------------
    lead = np.clip(np.round(rng.lognormal(np.log(28), 0.55, n_orders)), 7, 90).astype(int)
    due = o_day + lead
    requested = np.maximum(o_day + 3, due - rng.integers(0, 9, n_orders))
    site_region = np.array([REGIONS.index(r) for r in company.site_region])[o_site]
    cross = site_region != o_region
    transit = np.where(cross, rng.integers(14, 31, n_orders), rng.integers(3, 8, n_orders))
    month = ((HISTORY_START + o_day.astype("timedelta64[D]")).astype("datetime64[M]").astype(int)) % 12
    late_share = np.array([SITE_LATE_SHARE[s] for s in company.site_ids])[o_site] * np.where(month >= 9, 1.5, 1.0)
    late = rng.random(n_orders) < late_share
    delay = np.where(late, 1 + np.round(rng.gamma(1.5, 3.0, n_orders)), -rng.integers(0, 4, n_orders))
    ship = np.maximum(o_day + 1, due - transit + delay).astype(int)
    cancelled = rng.random(n_orders) < CANCEL_SHARE
    status = np.where(cancelled, 2, np.where(ship >= HISTORY_DAYS, 0, 1))
    delivered = ship + transit + rng.integers(-1, 3, n_orders)
    delivered = np.where((status == 1) & (delivered < HISTORY_DAYS), np.maximum(delivered, ship + 1), -1)
    created_ts = to_timestamp(o_day, o_secs)
    touched = np.where(
        status == 2,
        np.minimum(o_day + rng.integers(0, 10, n_orders), HISTORY_DAYS - 1),
        np.where(status == 0, o_day, np.where(delivered >= 0, delivered, ship)),
    )
    updated = clip_before_as_of(np.maximum(to_timestamp(touched, business_seconds(rng, n_orders)), created_ts))
    order_ids = np.arange(1, n_orders + 1)
    channel = np.where(
        np.isin(seg[o_cust], [0, 1]) & (rng.random(n_orders) < 0.6),
        "EDI",
        np.array(["portal", "email", "sales rep"])[rng.integers(0, 3, n_orders)],
    )

    tables["erp.orders"] = make_table(
        {
            "order_id": order_ids,
            "customer_id": cust["ids"][o_cust],
            "site_id": company.site_ids[o_site],
            "order_date": HISTORY_START + o_day.astype("timedelta64[D]"),
            "requested_date": HISTORY_START + requested.astype("timedelta64[D]"),
            "due_date": HISTORY_START + due.astype("timedelta64[D]"),
            "status": np.array(["open", "shipped", "cancelled"])[status],
            "promotion": o_promo,
            "channel": channel,
            "currency": np.full(n_orders, "USD"),
            "order_total": o_total,
            "created_at": created_ts,
            "updated_at": updated,
        }
    )
    # what only the orders table needed (about a gigabyte at the large scale)
    del o_secs, created, early, with_promo, o_promo, lead, due, requested, site_region, transit, month
    del late_share, late, delay, cancelled, touched, updated, channel

    def order_line_part(a: int, b: int) -> pa.Table:
        order = l_order[a:b]
        promo = lines.promotion(a, b)
        return make_table(
            {
                "order_line_id": np.arange(a + 1, b + 1),
                "order_id": order_ids[order],
                "line_number": np.arange(a, b) - first_line[order] + 1,
                "product_id": company.product_ids[l_prod[a:b]],
                "production_line_id": company.line_ids[l_line[a:b]],
                "qty": qty[a:b].astype(np.int64),  # written as before; int32 only in memory
                "unit_price": lines.unit_price(a, b),
                "discount_pct": discount[a:b],
                "net_amount": net[a:b],
                "promotion_id": pa.array(promo, mask=promo < 0),
                "updated_at": created_ts[order],
            }
        )

    tables["erp.order_lines"] = PartedTable.of(order_line_part, len(l_order), PART_ROWS)
    shipped = np.flatnonzero(status == 1)
    tables["erp.shipments"] = _shipments(
        rng, company, shipped, o_site, o_region, cross, ship, delivered, o_total, order_ids
    )
    tables["erp.returns"] = _returns(rng, status, delivered, l_order, l_prod, qty, net, company)
    return Sales(
        customer_ids=cust["ids"],
        customer_region=cust["region"],
        customer_owner=cust["owner"],
        customer_tier=cust["tier"],
        customer_segment=seg,
        customer_created_day=cust["created_day"],
        customer_domains=cust["domains"],
        territory_of_rep=cust["territory_of_rep"],
        order_customer=o_cust,
        order_site=o_site,
        order_day=o_day,
        order_status=status,
        order_ship_day=ship,
        order_delivered_day=delivered,
        line_order=l_order,
        line_product=l_prod,
        line_line=l_line,
        line_qty=qty,
        line_net=net,
        tables=tables,
    )


@dataclass(frozen=True)
class _LinePricing:
    """Prices of a range of order lines, recomputed from per-order and per-line indices when needed
    (full-length copies of each would not fit in memory at the large scale)."""

    company: Company
    promo_depth: np.ndarray  # (region, family, day) -> discount percent of the running promotion
    promo_id: np.ndarray  # (region, family, day) -> promotion id, -1 for none
    order_discount: np.ndarray  # the customer's discount percent, per order
    o_region: np.ndarray
    o_day: np.ndarray
    l_order: np.ndarray
    l_prod: np.ndarray
    l_fam: np.ndarray

    def _cell(self, a: int, b: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        order = self.l_order[a:b]
        return self.o_region[order], self.l_fam[a:b], self.o_day[order]

    def depth(self, a: int, b: int) -> np.ndarray:
        return self.promo_depth[self._cell(a, b)]

    def promotion(self, a: int, b: int) -> np.ndarray:
        return self.promo_id[self._cell(a, b)]

    def customer_discount(self, a: int, b: int) -> np.ndarray:
        return self.order_discount[self.l_order[a:b]]

    def unit_price(self, a: int, b: int) -> np.ndarray:
        return self.company.price_at(self.l_prod[a:b].astype(np.int64), self.o_day[self.l_order[a:b]])

    def net_unit(self, a: int, b: int, discount: np.ndarray) -> np.ndarray:
        return self.unit_price(a, b) * (1 - discount / 100)


def _day_weights(region: str) -> np.ndarray:
    """Relative order intake per day: weekday, month seasonality, regional holidays and trend."""
    days = HISTORY_START + np.arange(HISTORY_DAYS).astype("timedelta64[D]")
    weekday = (days.astype(int) + 3) % 7  # 1970-01-01 was a Thursday
    month = days.astype("datetime64[M]").astype(int) % 12
    w = np.array(WEEKDAY_FACTOR)[weekday] * np.array(MONTH_FACTOR)[month]
    w *= (1 + REGION_GROWTH[region]) ** (np.arange(HISTORY_DAYS) / 365.25)
    md = (days - days.astype("datetime64[Y]")).astype(int)  # day of year
    w[(md >= 356) | (md <= 1)] *= 0.35  # Christmas to New Year
    if region == "EMEA":
        w[month == 7] *= 0.7  # August holidays
    if region == "APAC":
        for lunar_new_year in ("2024-02-10", "2025-01-29", "2026-02-17"):
            offset = day_offset(lunar_new_year)
            w[max(offset - 5, 0) : offset + 10] *= 0.45
    return w


def _ship_from(rng: np.random.Generator, company: Company, o_region: np.ndarray) -> np.ndarray:
    site_index = {s: i for i, s in enumerate(company.site_ids)}
    o_site = np.empty(len(o_region), dtype=np.int64)
    for r, region in enumerate(REGIONS):
        mask = o_region == r
        sites = np.array([site_index[s] for s in REGION_SITES[region]])
        o_site[mask] = sites[weighted_choice(rng, np.array(list(REGION_SITES[region].values())), int(mask.sum()))]
    cross = rng.random(len(o_region)) < CROSS_REGION_SHARE
    o_site[cross] = weighted_choice(rng, company.site_weight, int(cross.sum()))
    return o_site


def _customers(rng: np.random.Generator, scale: Scale, company: Company, people: People) -> dict:
    n = scale.customers
    region = rng.choice(len(REGIONS), n, p=REGION_SHARE)
    country = np.empty(n, dtype=object)
    for r, name in enumerate(REGIONS):
        mask = region == r
        options = COUNTRY_WEIGHTS[name]
        country[mask] = np.array(list(options))[weighted_choice(rng, np.array(list(options.values())), int(mask.sum()))]
    names, domains = company_names(rng, country.astype(str))
    segment = rng.choice(len(SEGMENTS), n, p=SEGMENT_SHARE)
    weight = rng.lognormal(0, 1.1, n)
    rank = np.argsort(np.argsort(-weight))
    tier = np.where(rank < 0.05 * n, 0, np.where(rank < 0.20 * n, 1, 2))
    discount = np.select([tier == 0, tier == 1], [rng.uniform(8, 15, n), rng.uniform(4, 9, n)], rng.uniform(0, 4, n))
    discount += np.where(segment == 1, 5.0, 0.0)
    territory_of_country = {c: t for t, terr in enumerate(TERRITORIES) for c in terr[3]}
    territory = np.array([territory_of_country[c] for c in country])
    owner, territory_of_rep = _account_owners(rng, people, company, region, territory)
    new_customer = rng.random(n) < 0.15
    created_day = np.where(new_customer, rng.integers(30, HISTORY_DAYS - 120, n), -rng.integers(180, 5500, n))
    created_ts = to_timestamp(created_day, business_seconds(rng, n))
    customer_ids = ids("C", np.arange(1, n + 1), 5)
    table = make_table(
        {
            "customer_id": customer_ids,
            "name": names,
            "region": np.array(REGIONS)[region],
            "country": country.astype(str),
            "segment": np.array(SEGMENTS)[segment],
            "tier": np.array(TIERS)[tier],
            "territory_id": np.array([t[0] for t in TERRITORIES])[territory],
            "account_owner_id": people.employee_ids[owner],
            "credit_limit": np.round(weight * 250_000, -4).clip(20_000),
            "payment_terms_days": rng.choice([30, 45, 60, 90], n, p=[0.4, 0.2, 0.3, 0.1]),
            "currency": np.full(n, "USD"),
            "created_at": created_ts,
            "updated_at": clip_before_as_of(created_ts + rng.integers(0, 400, n).astype("timedelta64[D]")),
        }
    )
    return {
        "ids": customer_ids,
        "region": region,
        "segment": segment,
        "tier": tier,
        "weight": weight,
        "discount": discount,
        "owner": owner,
        "created_day": created_day,
        "domains": domains,
        "territory_of_rep": territory_of_rep,
        "table": table,
    }


def _account_owners(
    rng: np.random.Generator, people: People, company: Company, region: np.ndarray, territory: np.ndarray
) -> tuple[np.ndarray, dict[int, int]]:
    """Account executives get territories of their region; each customer an active one as owner."""
    reps = people.with_role("Account Executive")
    rep_region = np.array([REGIONS.index(r) for r in company.site_region[people.site[reps]]])
    territory_of_rep: dict[int, int] = {}
    for r, name in enumerate(REGIONS):
        terrs = [t for t, terr in enumerate(TERRITORIES) if terr[2] == name]
        for k, rep in enumerate(reps[rep_region == r]):
            territory_of_rep[int(rep)] = terrs[k % len(terrs)]
    active = people.exit_day[reps] >= HISTORY_DAYS
    owner = np.empty(len(region), dtype=np.int64)
    for t in range(len(TERRITORIES)):
        mask = territory == t
        pool = np.array([rep for rep, a in zip(reps, active, strict=True) if a and territory_of_rep[int(rep)] == t])
        if len(pool) == 0:  # nobody left in the territory: someone in the region covers
            region_of_t = REGIONS.index(TERRITORIES[t][2])
            pool = reps[active & (rep_region == region_of_t)]
        if len(pool) == 0:
            pool = reps[active]
        owner[mask] = pool[rng.integers(0, len(pool), mask.sum())]
    return owner, territory_of_rep


def _promotions(rng: np.random.Generator, company: Company) -> tuple[np.ndarray, np.ndarray, pa.Table]:
    """Two promotions per region and quarter, each on one or two families for 10-21 days."""
    n_fam = len(company.family_ids)
    depth = np.zeros((len(REGIONS), n_fam, HISTORY_DAYS))
    promo = np.full((len(REGIONS), n_fam, HISTORY_DAYS), -1, dtype=np.int64)
    rows: dict[str, list] = {k: [] for k in ("region", "family", "start", "end", "pct")}
    quarters = np.arange("2023-03", "2026-03", 3, dtype="datetime64[M]")
    for r in range(len(REGIONS)):
        for q in quarters:
            q_start = int((q.astype("datetime64[D]") - HISTORY_START).astype(int))
            for _ in range(2):
                start = q_start + int(rng.integers(0, 70))
                end = min(start + int(rng.integers(10, 22)), HISTORY_DAYS - 1)
                pct = float(rng.choice([10.0, 12.5, 15.0, 20.0]))
                for f in rng.choice(n_fam, int(rng.integers(1, 3)), replace=False):
                    rows["region"].append(r)
                    rows["family"].append(int(f))
                    rows["start"].append(start)
                    rows["end"].append(end)
                    rows["pct"].append(pct)
    for i in range(len(rows["pct"])):
        r, f, s, e = rows["region"][i], rows["family"][i], rows["start"][i], rows["end"][i]
        depth[r, f, s : e + 1] = rows["pct"][i]
        promo[r, f, s : e + 1] = i + 1
    start_dates = HISTORY_START + np.array(rows["start"]).astype("timedelta64[D]")
    fam_names = company.family_ids[np.array(rows["family"])]
    region_names = np.array(REGIONS)[np.array(rows["region"])]
    year_q = [f"{str(d)[:4]} Q{(int(str(d)[5:7]) - 1) // 3 + 1}" for d in start_dates]
    table = make_table(
        {
            "promotion_id": np.arange(1, len(start_dates) + 1),
            "name": np.array(
                [f"{y} {r} {f} promotion" for y, r, f in zip(year_q, region_names, fam_names, strict=True)]
            ),
            "region": region_names,
            "family_id": fam_names,
            "start_date": start_dates,
            "end_date": HISTORY_START + np.array(rows["end"]).astype("timedelta64[D]"),
            "discount_pct": np.array(rows["pct"]),
            "updated_at": start_dates.astype("datetime64[s]") - np.timedelta64(7 * 86400, "s"),
        }
    )
    return depth, promo, table


def _shipments(rng, company, shipped, o_site, o_region, cross, ship, delivered, o_total, order_ids) -> pa.Table:
    n = len(shipped)
    carrier = np.empty(n, dtype=object)
    for r, region in enumerate(REGIONS):
        mask = (o_region[shipped] == r) & ~cross[shipped]
        options = np.array(CARRIERS[region], dtype=object)
        carrier[mask] = options[rng.integers(0, len(options), mask.sum())]
    mask = cross[shipped]
    carrier[mask] = np.array(CARRIERS["cross"], dtype=object)[rng.integers(0, 3, mask.sum())]
    freight = np.round(35 + o_total[shipped] * np.where(cross[shipped], 0.035, 0.012) * rng.lognormal(0, 0.2, n), 2)
    dlv = delivered[shipped]
    ship_ts = to_timestamp(ship[shipped], business_seconds(rng, n))
    dlv_ts = to_timestamp(np.maximum(dlv, 0), business_seconds(rng, n))
    return make_table(
        {
            "shipment_id": np.arange(1, n + 1),
            "order_id": order_ids[shipped],
            "site_id": company.site_ids[o_site[shipped]],
            "carrier": carrier,
            "ship_date": HISTORY_START + ship[shipped].astype("timedelta64[D]"),
            "delivered_date": np.where(
                dlv >= 0, HISTORY_START + np.maximum(dlv, 0).astype("timedelta64[D]"), np.datetime64("NaT")
            ).astype("datetime64[D]"),
            "status": np.where(dlv >= 0, "delivered", "in_transit"),
            "freight_cost": freight,
            "updated_at": clip_before_as_of(np.where(dlv >= 0, dlv_ts, ship_ts)),
        }
    )


def _returns(rng, status, delivered, l_order, l_prod, qty, net, company) -> pa.Table:
    eligible = np.flatnonzero((status[l_order] == 1) & (delivered[l_order] >= 0))
    chosen = eligible[rng.random(len(eligible)) < 0.015]
    ret_day = delivered[l_order[chosen]] + rng.integers(5, 61, len(chosen))
    keep = ret_day < HISTORY_DAYS
    chosen, ret_day = chosen[keep], ret_day[keep]
    order = np.argsort(ret_day, kind="stable")  # return ids follow the return date
    chosen, ret_day = chosen[order], ret_day[order]
    n = len(chosen)
    ret_qty = 1 + (rng.random(n) * qty[chosen]).astype(int)
    ret_qty = np.minimum(ret_qty, qty[chosen])
    credit = np.round(net[chosen] / qty[chosen] * ret_qty, 2)
    return make_table(
        {
            "return_id": np.arange(1, n + 1),
            "order_line_id": chosen + 1,
            "product_id": company.product_ids[l_prod[chosen]],
            "return_date": HISTORY_START + ret_day.astype("timedelta64[D]"),
            "qty": ret_qty,
            "credit_amount": credit,
            "reason": np.array(RETURN_REASONS)[rng.choice(len(RETURN_REASONS), n, p=[0.3, 0.15, 0.25, 0.15, 0.15])],
            "updated_at": to_timestamp(ret_day, business_seconds(rng, n)),
        }
    )

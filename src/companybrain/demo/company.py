"""Acme's master data: sites, production lines, product families, products, components, BOM,
suppliers, machines and the price list."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa

from companybrain.demo.catalog import (
    COMPONENT_CATEGORIES,
    DELAYED_SUPPLIER_INDEX,
    DELAYED_SUPPLIER_NAME,
    FAMILIES,
    MACHINE_TYPES,
    MANUFACTURERS,
    SHARED_CATEGORIES,
    SITES,
    SUPPLIER_COUNTRIES,
    SUPPLIER_REGION,
)
from companybrain.demo.common import (
    AS_OF,
    HISTORY_DAYS,
    HISTORY_START,
    Scale,
    day_offset,
    ids,
    make_table,
    rng_for,
)
from companybrain.demo.names import company_name_space, company_names, person_names


@dataclass
class Company:
    """Master data as arrays for the other generators, plus the finished tables."""

    site_ids: np.ndarray
    site_region: np.ndarray
    site_country: np.ndarray
    site_weight: np.ndarray
    family_ids: np.ndarray
    elasticity: np.ndarray
    line_ids: np.ndarray
    line_site: np.ndarray
    line_families: list[np.ndarray]
    lines_for: dict[tuple[int, int], np.ndarray]  # (site, family) -> capable line indexes
    product_ids: np.ndarray
    product_family: np.ndarray
    product_popularity: np.ndarray
    product_base_qty: np.ndarray
    labour_hours: np.ndarray
    ref_price: np.ndarray  # list price in force at the start of the history
    price_product: np.ndarray  # price list entries, sorted by (product, valid_from)
    price_from_day: np.ndarray  # valid_from as a day offset from HISTORY_START
    price_value: np.ndarray
    component_ids: np.ndarray
    component_cost: np.ndarray
    component_supplier: np.ndarray
    supplier_ids: np.ndarray
    supplier_lead_time: np.ndarray
    supplier_reliability: np.ndarray
    supplier_country: np.ndarray
    machine_ids: np.ndarray
    machine_line: np.ndarray
    machine_type: np.ndarray
    machine_install: np.ndarray
    tables: dict[str, pa.Table] = field(default_factory=dict)

    def price_at(self, product: np.ndarray, day: np.ndarray) -> np.ndarray:
        """The list price of each product on each day (vectorized price-list lookup)."""
        span = HISTORY_DAYS + 10_000
        keys = self.price_product * span + (self.price_from_day + 5_000)
        wanted = product * span + (day + 5_000)
        pos = np.searchsorted(keys, wanted, side="right") - 1
        return self.price_value[pos]


def generate_company(scale: Scale, seed: int) -> Company:
    """Sites, lines, families, products, components, BOM, price list, suppliers and machines."""
    rng = rng_for(seed, "company")
    site_ids = np.array([s[0] for s in SITES])
    family_ids = np.array([f[0] for f in FAMILIES])
    fam_index = {f: i for i, f in enumerate(family_ids)}

    # lines: every family of a site has a line; some lines make a second or third family
    line_ids, line_site, line_fams = [], [], []
    for s, site in enumerate(SITES):
        fams = [fam_index[f] for f in site[9]]
        for n in range(site[8]):
            own = {fams[n % len(fams)]}
            for _ in range(int(rng.integers(0, 3))):
                own.add(fams[int(rng.integers(0, len(fams)))])
            line_ids.append(f"{site[0]}-L{n + 1}")
            line_site.append(s)
            line_fams.append(np.array(sorted(own)))
    lines_for: dict[tuple[int, int], list[int]] = {}
    for i, capable in enumerate(line_fams):
        for f in capable:
            lines_for.setdefault((line_site[i], int(f)), []).append(i)

    products = _products(rng, scale, family_ids)
    components, bom = _components_and_bom(rng, scale, products)
    suppliers = _suppliers(rng, scale)
    comp_supplier = _assign_suppliers(rng, len(components["component_id"]), len(suppliers["supplier_id"]))
    components["supplier_id"] = suppliers["supplier_id"][comp_supplier]
    components["lead_time_days"] = suppliers["lead_time_days"][comp_supplier]

    # roll the material cost up the BOM; list price = (material + labour + overhead) x markup
    bom_cost = bom["qty"] * components["std_cost"][bom["component_idx"]]
    material = np.round(np.bincount(bom["product_idx"], bom_cost, minlength=len(products["product_id"])), 2)
    conversion = products["labour_hours_per_unit"] * 30.0 * 1.45
    markup = rng.uniform(1.35, 1.85, len(material))
    ref_price = np.round((material + conversion) * markup, 2)
    price = _price_list(rng, ref_price)

    machines = _machines(rng, scale, np.array(line_ids))
    company = Company(
        site_ids=site_ids,
        site_region=np.array([s[4] for s in SITES]),
        site_country=np.array([s[3] for s in SITES]),
        site_weight=np.array([s[10] for s in SITES]),
        family_ids=family_ids,
        elasticity=np.array([f[3] for f in FAMILIES]),
        line_ids=np.array(line_ids),
        line_site=np.array(line_site),
        line_families=line_fams,
        lines_for={k: np.array(v) for k, v in lines_for.items()},
        product_ids=products["product_id"],
        product_family=products["family_idx"],
        product_popularity=products["popularity"],
        product_base_qty=products["base_qty"],
        labour_hours=products["labour_hours_per_unit"],
        ref_price=ref_price,
        price_product=price["product_idx"],
        price_from_day=price["from_day"],
        price_value=price["price"],
        component_ids=components["component_id"],
        component_cost=components["std_cost"],
        component_supplier=comp_supplier,
        supplier_ids=suppliers["supplier_id"],
        supplier_lead_time=suppliers["lead_time_days"],
        supplier_reliability=suppliers["reliability"],
        supplier_country=suppliers["country"],
        machine_ids=machines["machine_id"],
        machine_line=machines["line_idx"],
        machine_type=machines["type_idx"],
        machine_install=machines["install_date"],
    )
    master_ts = (HISTORY_START - np.timedelta64(400, "D")).astype("datetime64[s]")
    t = company.tables
    t["erp.product_families"] = make_table(
        {
            "family_id": family_ids,
            "name": np.array([f[1] for f in FAMILIES]),
            "description": np.array([f"{f[1]} for industrial customers" for f in FAMILIES]),
            "updated_at": np.full(len(FAMILIES), master_ts),
        }
    )
    t["erp.line_capabilities"] = make_table(
        {
            "line_id": np.repeat(company.line_ids, [len(f) for f in line_fams]),
            "family_id": family_ids[np.concatenate(line_fams)],
            "updated_at": np.full(sum(len(f) for f in line_fams), master_ts),
        }
    )
    current_price = price["price"][np.r_[np.flatnonzero(np.diff(price["product_idx"])), len(price["price"]) - 1]]
    t["erp.products"] = make_table(
        {
            "product_id": products["product_id"],
            "sku": products["sku"],
            "name": products["name"],
            "family_id": family_ids[products["family_idx"]],
            "list_price": current_price,
            "std_material_cost": material,
            "labour_hours_per_unit": np.round(products["labour_hours_per_unit"], 3),
            "launch_date": products["launch_date"],
            "is_active": np.ones(len(material), dtype=bool),
            "updated_at": products["updated_at"],
        }
    )
    t["erp.components"] = make_table(
        {
            k: components[k]
            for k in (
                "component_id",
                "name",
                "category",
                "std_cost",
                "uom",
                "supplier_id",
                "lead_time_days",
                "updated_at",
            )
        }
    )
    t["erp.bom"] = make_table(
        {
            "product_id": products["product_id"][bom["product_idx"]],
            "component_id": components["component_id"][bom["component_idx"]],
            "qty": bom["qty"],
            "updated_at": np.full(len(bom["qty"]), master_ts),
        }
    )
    valid_from = HISTORY_START + price["from_day"].astype("timedelta64[D]")
    last = np.r_[price["product_idx"][1:] != price["product_idx"][:-1], True]
    valid_to = np.where(last, np.datetime64("NaT"), np.r_[valid_from[1:], valid_from[:1]] - np.timedelta64(1, "D"))
    t["erp.price_list"] = make_table(
        {
            "price_id": np.arange(1, len(valid_from) + 1),
            "product_id": products["product_id"][price["product_idx"]],
            "valid_from": valid_from,
            "valid_to": valid_to.astype("datetime64[D]"),
            "price": price["price"],
            "currency": np.full(len(valid_from), "USD"),
            "updated_at": valid_from.astype("datetime64[s]") - np.timedelta64(14, "D"),
        }
    )
    t["erp.suppliers"] = make_table({k: suppliers[k] for k in suppliers if not k.startswith("_")})
    t["erp.machines"] = make_table(
        {
            "machine_id": machines["machine_id"],
            "line_id": company.line_ids[machines["line_idx"]],
            "site_id": site_ids[company.line_site[machines["line_idx"]]],
            "machine_type": np.array([m[0] for m in MACHINE_TYPES])[machines["type_idx"]],
            "manufacturer": machines["manufacturer"],
            "install_date": machines["install_date"],
            "rated_power_kw": np.array([m[4] for m in MACHINE_TYPES])[machines["type_idx"]],
            "updated_at": machines["install_date"].astype("datetime64[s]") + np.timedelta64(8 * 3600, "s"),
        }
    )
    return company


def _products(rng: np.random.Generator, scale: Scale, family_ids: np.ndarray) -> dict[str, np.ndarray]:
    share = np.array([f[9] for f in FAMILIES])
    counts = np.maximum(5, np.floor(share / share.sum() * scale.products)).astype(int)
    counts[np.argmax(counts)] += scale.products - counts.sum()
    fam = np.repeat(np.arange(len(FAMILIES)), counts)
    n = len(fam)
    singular = np.array([f[2] for f in FAMILIES])[fam]
    series = np.array(["S", "X", "M", "H", "P", "C", "R"])[rng.integers(0, 7, n)]
    size = (rng.integers(1, 60, n) * 10).astype(str)
    name = np.char.add(np.char.add(np.char.add(singular, " "), np.char.add(series, "-")), size)
    number = np.arange(1, n + 1)
    labour = np.array([f[6] for f in FAMILIES])[fam] * rng.lognormal(0, 0.25, n)
    launch = HISTORY_START - rng.integers(30, 4000, n).astype("timedelta64[D]")
    return {
        "product_id": ids("P", number, 5),
        "sku": np.char.add(np.char.add(family_ids[fam], "-"), np.char.zfill(number.astype(str), 5)),
        "name": name,
        "family_idx": fam,
        "popularity": rng.lognormal(0.0, 1.0, n),
        # bigger (pricier) variants of a family sell in smaller quantities
        "base_qty": np.array([f[7] for f in FAMILIES], dtype=float)[fam] * rng.lognormal(0, 0.35, n),
        "labour_hours_per_unit": labour,
        "launch_date": launch,
        "updated_at": (launch + np.timedelta64(1, "D")).astype("datetime64[s]"),
    }


def _components_and_bom(
    rng: np.random.Generator, scale: Scale, products: dict[str, np.ndarray]
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    n_fam = len(FAMILIES)
    cats = COMPONENT_CATEGORIES
    n = scale.components
    cat = rng.integers(0, len(cats), n)
    shared = np.isin(np.array([c[0] for c in cats])[cat], list(SHARED_CATEGORIES))
    # each non-shared component belongs to one family's pool; costs scale with that family's price
    home = rng.integers(0, n_fam, n)
    fam_mid = np.array([np.sqrt(f[4] * f[5]) for f in FAMILIES])
    fam_comps = np.array([np.mean(f[8]) for f in FAMILIES])
    unit = fam_mid / fam_comps * 0.35
    rel = np.array([c[1] for c in cats])[cat]
    level = np.where(shared, np.median(unit), unit[home])
    cost = np.round(level * rel / 1.2 * rng.lognormal(0, 0.3, n), 2).clip(0.05)
    spec = rng.integers(10, 990, n).astype(str)
    comp = {
        "component_id": ids("K", np.arange(1, n + 1), 5),
        "name": np.char.add(np.char.add(np.array([c[0] for c in cats])[cat], " "), spec),
        "category": np.array([c[0] for c in cats])[cat],
        "std_cost": cost,
        "uom": np.full(n, "ea"),
        "updated_at": np.full(n, (HISTORY_START - np.timedelta64(300, "D")).astype("datetime64[s]")),
    }
    fam = products["family_idx"]
    lo = np.array([f[8][0] for f in FAMILIES])[fam]
    hi = np.array([f[8][1] for f in FAMILIES])[fam]
    k = rng.integers(lo, hi + 1)
    prod_idx = np.repeat(np.arange(len(fam)), k)
    pools = [np.flatnonzero(~shared & (home == f)) for f in range(n_fam)]
    shared_pool = np.flatnonzero(shared)
    use_shared = rng.random(len(prod_idx)) < 0.3
    comp_idx = np.empty(len(prod_idx), dtype=np.int64)
    comp_idx[use_shared] = shared_pool[rng.integers(0, len(shared_pool), use_shared.sum())]
    for f in range(n_fam):
        mask = ~use_shared & (fam[prod_idx] == f)
        comp_idx[mask] = pools[f][rng.integers(0, len(pools[f]), mask.sum())]
    # one BOM row per (product, component)
    _, first = np.unique(prod_idx * n + comp_idx, return_index=True)
    prod_idx, comp_idx = prod_idx[first], comp_idx[first]
    typical = np.array([c[2] for c in cats])[cat[comp_idx]]
    qty = typical * rng.integers(1, 4, len(comp_idx))
    return comp, {"product_idx": prod_idx, "component_idx": comp_idx, "qty": qty.astype(float)}


def _price_list(rng: np.random.Generator, ref_price: np.ndarray) -> dict[str, np.ndarray]:
    """Price entries: the starting list price, yearly list increases and product-specific moves."""
    n = len(ref_price)
    prod = [np.arange(n)]
    day = [np.full(n, day_offset("2022-01-01"))]
    factor = [np.ones(n)]
    for date, lo, hi in (("2024-01-01", 1.02, 1.07), ("2025-01-01", 1.01, 1.06), ("2026-01-01", 1.00, 1.04)):
        prod.append(np.arange(n))
        day.append(np.full(n, day_offset(date)))
        factor.append(rng.uniform(lo, hi, n))
    moved = np.flatnonzero(rng.random(n) < 0.35)
    prod.append(moved)
    day.append(rng.integers(60, HISTORY_DAYS - 30, len(moved)))
    factor.append(rng.uniform(0.86, 1.12, len(moved)))
    p, d, f = np.concatenate(prod), np.concatenate(day), np.concatenate(factor)
    order = np.lexsort((d, p))
    p, d, f = p[order], d[order], f[order]
    keep = np.r_[True, (p[1:] != p[:-1]) | (d[1:] != d[:-1])]
    p, d, f = p[keep], d[keep], f[keep]
    logf = np.cumsum(np.log(f))
    start = np.r_[0, np.flatnonzero(p[1:] != p[:-1]) + 1]
    logf -= np.repeat(logf[start] - np.log(f[start]), np.diff(np.r_[start, len(p)]))
    return {"product_idx": p, "from_day": d, "price": np.round(ref_price[p] * np.exp(logf), 2)}


def _suppliers(rng: np.random.Generator, scale: Scale) -> dict[str, np.ndarray]:
    n = scale.suppliers
    weights = np.array([c[1] for c in SUPPLIER_COUNTRIES])
    ci = rng.choice(len(SUPPLIER_COUNTRIES), n, p=weights / weights.sum())
    ci[DELAYED_SUPPLIER_INDEX] = 0  # China
    country = np.array([c[0] for c in SUPPLIER_COUNTRIES])[ci]
    lo = np.array([c[2][0] for c in SUPPLIER_COUNTRIES])[ci]
    hi = np.array([c[2][1] for c in SUPPLIER_COUNTRIES])[ci]
    names, domains = company_names(rng, country, taken=company_name_space() - n)
    names[DELAYED_SUPPLIER_INDEX] = DELAYED_SUPPLIER_NAME
    domains[DELAYED_SUPPLIER_INDEX] = "hengli-castings.example"
    first, last = person_names(rng, country)
    email = np.array([f"{a}.{b}@{d}".lower() for a, b, d in zip(first, last, domains, strict=True)], dtype=object)
    reliability = np.round(rng.beta(18, 2, n), 3)
    reliability[DELAYED_SUPPLIER_INDEX] = 0.93  # looks fine on paper; the delays grow in the POs
    since = HISTORY_START - rng.integers(200, 5000, n).astype("timedelta64[D]")
    return {
        "supplier_id": ids("S", np.arange(1, n + 1), 4),
        "name": names,
        "country": country,
        "region": np.array([SUPPLIER_REGION.get(c, "APAC") for c in country]),
        "lead_time_days": rng.integers(lo, hi + 1),
        "reliability": reliability,
        "payment_terms_days": rng.choice([30, 45, 60, 90], n),
        "contact_name": np.char.add(np.char.add(first.astype(str), " "), last.astype(str)).astype(object),
        "contact_email": email,
        "supplier_since": since,
        "updated_at": since.astype("datetime64[s]") + np.timedelta64(9 * 3600, "s"),
    }


def _assign_suppliers(rng: np.random.Generator, n_components: int, n_suppliers: int) -> np.ndarray:
    weight = rng.lognormal(0, 0.8, n_suppliers)
    weight[DELAYED_SUPPLIER_INDEX] = 0
    weight = weight / weight.sum() * 0.95
    weight[DELAYED_SUPPLIER_INDEX] = 0.05  # a big supplier, so its delays matter
    return rng.choice(n_suppliers, n_components, p=weight)


def _machines(rng: np.random.Generator, scale: Scale, line_ids: np.ndarray) -> dict[str, np.ndarray]:
    lo, hi = scale.machines_per_line
    per_line = rng.integers(lo, hi + 1, len(line_ids))
    line_idx = np.repeat(np.arange(len(line_ids)), per_line)
    n = len(line_idx)
    number = np.arange(n) - np.repeat(np.cumsum(per_line) - per_line, per_line) + 1
    install = np.datetime64("2008-01-01") + rng.integers(0, 6000, n).astype("timedelta64[D]")
    install = np.minimum(install, AS_OF - np.timedelta64(400, "D"))
    return {
        "machine_id": np.char.add(np.char.add(line_ids[line_idx], "-M"), number.astype(str)),
        "line_idx": line_idx,
        "type_idx": rng.integers(0, len(MACHINE_TYPES), n),
        "manufacturer": np.array(MANUFACTURERS)[rng.integers(0, len(MANUFACTURERS), n)],
        "install_date": install,
    }

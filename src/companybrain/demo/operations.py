"""ERP operations: sites and lines with their capacities, weekly production, quality inspections
(with the planted defect drift) and purchase orders (with the planted supplier delays)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa

from companybrain.demo.catalog import DELAYED_SUPPLIER_INDEX, SITES
from companybrain.demo.common import (
    AS_OF,
    HISTORY_DAYS,
    HISTORY_START,
    clip_before_as_of,
    day_offset,
    lookup_or_null,
    make_table,
    rng_for,
    to_timestamp,
)
from companybrain.demo.company import Company
from companybrain.demo.people import People
from companybrain.demo.sales import Sales
from companybrain.demo.telemetry import Downtime

N_WEEKS = (HISTORY_DAYS - 1 + 2) // 7 + 1  # Monday-based weeks; HISTORY_START is a Wednesday
FIRST_MONDAY = HISTORY_START - np.timedelta64(2, "D")
# Planted quality drift (ground truth): this line's defect rate climbs linearly from the date.
QUALITY_DRIFT: dict[str, Any] = {
    "line_id": "SZV-L3",
    "start_date": "2025-06-02",
    "base_defect_rate": 0.012,
    "increase_per_30_days": 0.005,
}
# Planted supplier delays (ground truth): received - promised grows linearly from the date.
SUPPLIER_DRIFT: dict[str, Any] = {"start_date": "2023-09-01", "delay_days_per_30_days": 0.7, "noise_sd_days": 2.5}


def defect_rate(company: Company, line: np.ndarray, day: np.ndarray, base: np.ndarray) -> np.ndarray:
    """Each line's true defect rate on a day offset, with the drifting line's rise."""
    drift_line = int(np.flatnonzero(company.line_ids == QUALITY_DRIFT["line_id"])[0])
    start = day_offset(QUALITY_DRIFT["start_date"])
    rise = np.maximum(day - start, 0) / 30 * QUALITY_DRIFT["increase_per_30_days"]
    return np.where(line == drift_line, QUALITY_DRIFT["base_defect_rate"] + rise, base[line])


def line_base_defect_rates(seed: int, company: Company) -> np.ndarray:
    """Every line's normal defect rate (the drifting line starts from the documented base)."""
    rng = rng_for(seed, "defects")
    base = np.round(rng.uniform(0.008, 0.025, len(company.line_ids)), 4)
    base[company.line_ids == QUALITY_DRIFT["line_id"]] = QUALITY_DRIFT["base_defect_rate"]
    return base


def generate_operations(
    seed: int, company: Company, people: People, sales: Sales, downtime: Downtime
) -> dict[str, pa.Table]:
    """sites, lines, production, quality_inspections and purchase_orders."""
    rng = rng_for(seed, "operations")
    n_lines = len(company.line_ids)
    base_rate = line_base_defect_rates(seed, company)
    tables: dict[str, pa.Table] = {}

    # weekly production of what shipped, made in the days before shipping
    shipped = sales.order_status[sales.line_order] == 1
    day = np.maximum(sales.order_ship_day[sales.line_order][shipped] - 2, 0)
    week = (day + 2) // 7
    line = sales.line_line[shipped]
    cell = line * N_WEEKS + week
    units = np.bincount(cell, sales.line_qty[shipped], minlength=n_lines * N_WEEKS).reshape(n_lines, N_WEEKS)
    std_hours = np.bincount(
        cell, (sales.line_qty * company.labour_hours[sales.line_product])[shipped], minlength=n_lines * N_WEEKS
    ).reshape(n_lines, N_WEEKS)
    hours = np.round(std_hours * rng.uniform(0.95, 1.12, (n_lines, N_WEEKS)), 1)
    week_day = np.arange(N_WEEKS) * 7 - 2 + 3  # mid-week day offset
    rate = defect_rate(company, np.repeat(np.arange(n_lines), N_WEEKS), np.tile(week_day, n_lines), base_rate)
    scrap = rng.binomial(units.astype(np.int64).ravel(), np.clip(rate * 0.8, 0, 1)).reshape(n_lines, N_WEEKS)
    down_hours = np.round(downtime.hours_by_line_week(company, N_WEEKS), 2)

    # capacity: the busiest week plus a little headroom, so peak weeks run close to full
    cap_units = np.maximum(10, np.ceil(units.max(axis=1) * rng.uniform(1.0, 1.15, n_lines))).astype(np.int64)
    cap_hours = np.maximum(40, np.ceil(hours.max(axis=1) * rng.uniform(1.02, 1.15, n_lines)))
    week_start = FIRST_MONDAY + (np.arange(N_WEEKS) * 7).astype("timedelta64[D]")
    report_ts = clip_before_as_of(
        (week_start + np.timedelta64(7, "D")).astype("datetime64[s]") + np.timedelta64(6 * 3600, "s")
    )
    li, wi = np.repeat(np.arange(n_lines), N_WEEKS), np.tile(np.arange(N_WEEKS), n_lines)
    tables["erp.production"] = make_table(
        {
            "production_id": np.arange(1, n_lines * N_WEEKS + 1),
            "line_id": company.line_ids[li],
            "site_id": company.site_ids[company.line_site[li]],
            "week_start": week_start[wi],
            "units_produced": units.astype(np.int64).ravel(),
            "hours_used": hours.ravel(),
            "scrap_units": scrap.ravel(),
            "downtime_hours": down_hours.ravel(),
            "updated_at": report_ts[wi],
        }
    )
    master_ts = (HISTORY_START - np.timedelta64(200, "D")).astype("datetime64[s]")
    number = np.array([int(x.split("-L")[1]) for x in company.line_ids])
    site_names = np.array([s[2] for s in SITES])[company.line_site]
    tables["erp.lines"] = make_table(
        {
            "line_id": company.line_ids,
            "site_id": company.site_ids[company.line_site],
            "name": np.char.add(np.char.add(site_names, " line "), number.astype(str)),
            "capacity_units_per_week": cap_units,
            "capacity_hours_per_week": cap_hours,
            "shifts_per_day": rng.choice([2, 3], n_lines, p=[0.6, 0.4]),
            "commissioned_date": HISTORY_START - rng.integers(700, 9000, n_lines).astype("timedelta64[D]"),
            "updated_at": np.full(n_lines, master_ts),
        }
    )
    tables["erp.sites"] = make_table(
        {
            "site_id": company.site_ids,
            "name": np.array([s[1] for s in SITES]),
            "city": np.array([s[2] for s in SITES]),
            "country": company.site_country,
            "region": company.site_region,
            "currency": np.array([s[5] for s in SITES]),
            "labour_rate_per_hour": np.array([s[6] for s in SITES]),
            "overhead_rate_per_labour_hour": np.array([s[7] for s in SITES]),
            "plant_manager_id": people.employee_ids[people.plant_manager],
            "latitude": np.array([s[11] for s in SITES]),
            "longitude": np.array([s[12] for s in SITES]),
            "updated_at": np.full(len(SITES), master_ts),
        }
    )
    tables["erp.quality_inspections"] = _inspections(rng, company, people, sales, base_rate)
    tables["erp.purchase_orders"] = _purchase_orders(rng, company)
    tables["erp.stock"] = _stock(rng_for(seed, "stock"), company, sales)
    return tables


def _inspections(
    rng: np.random.Generator, company: Company, people: People, sales: Sales, base_rate: np.ndarray
) -> pa.Table:
    """On about 60% of weekdays each line samples a batch of one product it makes."""
    n_lines = len(company.line_ids)
    days = np.arange(HISTORY_DAYS)
    weekday = (days + 2) % 7  # 0 = Monday
    line = np.repeat(np.arange(n_lines), HISTORY_DAYS)
    day = np.tile(days, n_lines)
    keep = (np.tile(weekday, n_lines) < 5) & (rng.random(len(day)) < 0.6)
    line, day = line[keep], day[keep]
    n = len(line)
    # the product: one the line actually made, drawn from its order lines
    by_line = np.argsort(sales.line_line, kind="stable")
    counts = np.bincount(sales.line_line, minlength=n_lines)
    offsets = np.r_[0, np.cumsum(counts)[:-1]]
    pick = offsets[line] + (rng.random(n) * np.maximum(counts[line], 1)).astype(int)
    product = sales.line_product[by_line[np.minimum(pick, len(by_line) - 1)]]
    sampled = 20 + rng.poisson(30, n)
    rate = defect_rate(company, line, day, base_rate)
    defects = rng.binomial(sampled, np.clip(rate, 0, 1))
    inspectors = people.with_role("Quality Inspector")
    inspector = people.pick_employed(rng, inspectors, people.site[inspectors], company.line_site[line], day)
    ts = to_timestamp(day, rng.integers(6 * 3600, 22 * 3600, n))
    return make_table(
        {
            "inspection_id": np.arange(1, n + 1),
            "line_id": company.line_ids[line],
            "product_id": company.product_ids[product],
            "inspector_id": lookup_or_null(people.employee_ids, inspector),
            "inspected_at": ts,
            "sampled_units": sampled,
            "defects": defects,
            "result": np.where(defects / sampled > 0.05, "fail", "pass"),
            "updated_at": ts + np.timedelta64(1800, "s"),
        }
    )


def _stock(rng: np.random.Generator, company: Company, sales: Sales) -> pa.Table:
    """On-hand stock of each component at each site that uses it: the site's weekly use over the
    last 8 weeks (order lines x BOM) times its supplier's lead time in weeks, x 0.8-1.3, plus up to
    a week - most parts are covered until a normal purchase order arrives, some are already short."""
    bom = company.tables["erp.bom"]
    product = {p: i for i, p in enumerate(company.product_ids.tolist())}
    component = {c: i for i, c in enumerate(company.component_ids.tolist())}
    b_prod = np.array([product[p] for p in bom.column("product_id").to_pylist()], dtype=np.int64)
    b_comp = np.array([component[c] for c in bom.column("component_id").to_pylist()], dtype=np.int64)
    b_qty = np.asarray(bom.column("qty").to_numpy(), dtype=float)
    recent = sales.order_day[sales.line_order] >= HISTORY_DAYS - 56
    site = company.line_site[sales.line_line[recent]]
    n_s, n_p, n_c = len(company.site_ids), len(company.product_ids), len(company.component_ids)
    units = np.bincount(site * n_p + sales.line_product[recent], sales.line_qty[recent], minlength=n_s * n_p).reshape(
        n_s, n_p
    )
    weekly = np.zeros((n_c, n_s))
    np.add.at(weekly, b_comp, (units[:, b_prod] * b_qty).T / 8.0)
    comp, site_idx = np.nonzero(weekly)
    lead_weeks = company.supplier_lead_time[company.component_supplier[comp]] / 7.0
    cover = lead_weeks * rng.uniform(0.8, 1.3, len(comp)) + rng.uniform(0.0, 1.0, len(comp))
    return make_table(
        {
            "site_id": company.site_ids[site_idx],
            "component_id": company.component_ids[comp],
            "on_hand": np.ceil(weekly[comp, site_idx] * cover).astype(np.int64),
            "updated_at": clip_before_as_of(np.full(len(comp), AS_OF.astype("datetime64[s]"))),
        }
    )


def _purchase_orders(rng: np.random.Generator, company: Company) -> pa.Table:
    """Replenishment orders per component every 2-8 weeks, late by the supplier's habits."""
    n_c = len(company.component_ids)
    interval = rng.integers(14, 57, n_c)
    k = (HISTORY_DAYS - 30) // interval
    comp = np.repeat(np.arange(n_c), k)
    step = np.arange(len(comp)) - np.repeat(np.cumsum(k) - k, k)
    day = np.repeat(rng.integers(0, 14, n_c), k) + step * interval[comp] + rng.integers(-3, 4, len(comp))
    day = np.clip(day, 0, HISTORY_DAYS - 1)
    order = np.lexsort((comp, day))
    comp, day = comp[order], day[order]
    n = len(comp)
    sup = company.component_supplier[comp]
    cost = company.component_cost[comp]
    qty = np.maximum(10, np.round(2000 / np.sqrt(cost + 1) * rng.lognormal(0, 0.3, n), -1)).astype(np.int64)
    promised = day + company.supplier_lead_time[sup]
    late = rng.random(n) < (1 - company.supplier_reliability[sup]) * 1.5
    delay = np.where(late, np.round(rng.gamma(2.0, 3.0, n)), -rng.integers(0, 3, n))
    drift_start = day_offset(SUPPLIER_DRIFT["start_date"])
    drifting = (sup == DELAYED_SUPPLIER_INDEX) & (day >= drift_start)
    trend = (day - drift_start) / 30 * SUPPLIER_DRIFT["delay_days_per_30_days"]
    delay = np.where(
        drifting, np.maximum(np.round(trend + rng.normal(0, SUPPLIER_DRIFT["noise_sd_days"], n)), -2), delay
    )
    received = promised + delay.astype(int)
    cancelled = rng.random(n) < 0.01
    status = np.where(cancelled, "cancelled", np.where(received >= HISTORY_DAYS, "open", "received"))
    got = status == "received"
    order_ts = to_timestamp(day, rng.integers(8 * 3600, 17 * 3600, n))
    touched = np.where(got, received, np.where(cancelled, np.minimum(day + 5, HISTORY_DAYS - 1), day))
    site_weight = company.site_weight
    return make_table(
        {
            "po_id": np.arange(1, n + 1),
            "supplier_id": company.supplier_ids[sup],
            "component_id": company.component_ids[comp],
            "site_id": company.site_ids[rng.choice(len(site_weight), n, p=site_weight / site_weight.sum())],
            "qty": qty,
            "unit_cost": np.round(cost * rng.uniform(0.95, 1.05, n), 2),
            "order_date": HISTORY_START + day.astype("timedelta64[D]"),
            "promised_date": HISTORY_START + promised.astype("timedelta64[D]"),
            "received_date": np.where(
                got, HISTORY_START + received.astype("timedelta64[D]"), np.datetime64("NaT")
            ).astype("datetime64[D]"),
            "status": status,
            "updated_at": clip_before_as_of(
                np.maximum(to_timestamp(touched, rng.integers(8 * 3600, 17 * 3600, n)), order_ts)
            ),
        }
    )

"""HRIS: the organisation (sites x functions x teams), pay, overtime, manager changes and the
planted attrition model that decides who leaves."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa

from companybrain.demo.catalog import SITES
from companybrain.demo.common import (
    EMAIL_DOMAIN,
    HISTORY_DAYS,
    HISTORY_START,
    MONTH_FACTOR,
    Scale,
    column,
    day_offset,
    ids,
    lookup_or_null,
    make_table,
    rng_for,
)
from companybrain.demo.company import Company
from companybrain.demo.names import emails, person_names, phones

# function, share of headcount, individual roles (role, pay band, weight), team manager role,
# paid overtime (hourly staff)
FUNCTIONS = [
    (
        "Operations",
        0.50,
        [
            ("Machine Operator", 2, 0.45),
            ("Assembler", 2, 0.25),
            ("Maintenance Technician", 3, 0.15),
            ("Production Planner", 4, 0.05),
            ("Material Handler", 1, 0.10),
        ],
        "Shift Supervisor",
        True,
    ),
    (
        "Engineering",
        0.09,
        [("Process Engineer", 5, 0.5), ("Design Engineer", 5, 0.35), ("Automation Engineer", 5, 0.15)],
        "Engineering Manager",
        False,
    ),
    ("Quality", 0.06, [("Quality Inspector", 3, 0.6), ("Quality Engineer", 5, 0.4)], "Quality Manager", True),
    (
        "Supply Chain",
        0.07,
        [("Buyer", 4, 0.35), ("Logistics Coordinator", 3, 0.35), ("Supply Planner", 4, 0.3)],
        "Supply Chain Manager",
        True,
    ),
    (
        "Sales",
        0.09,
        [("Account Executive", 5, 0.55), ("Sales Engineer", 5, 0.25), ("Inside Sales Representative", 3, 0.2)],
        "Sales Manager",
        False,
    ),
    (
        "Customer Service",
        0.05,
        [("Service Agent", 3, 0.6), ("Field Service Technician", 4, 0.4)],
        "Service Manager",
        True,
    ),
    ("Finance", 0.05, [("Accountant", 4, 0.6), ("Financial Analyst", 5, 0.4)], "Finance Manager", False),
    (
        "HR",
        0.04,
        [("HR Business Partner", 5, 0.3), ("Recruiter", 4, 0.35), ("HR Specialist", 3, 0.35)],
        "HR Manager",
        False,
    ),
    (
        "IT",
        0.05,
        [("Systems Engineer", 5, 0.5), ("Data Analyst", 5, 0.3), ("Service Desk Analyst", 3, 0.2)],
        "IT Manager",
        False,
    ),
]
FUNCTION_NAMES = [f[0] for f in FUNCTIONS] + ["Executive"]
EXECUTIVES = [  # role, function; all at Milwaukee, the first one is the CEO
    ("Chief Executive Officer", "Executive"),
    ("Chief Operating Officer", "Executive"),
    ("Chief Financial Officer", "Finance"),
    ("Chief Human Resources Officer", "HR"),
    ("Chief Sales Officer", "Sales"),
    ("Chief Technology Officer", "IT"),
    ("VP Supply Chain", "Supply Chain"),
    ("VP Quality", "Quality"),
]
# who a site's function head reports to (index into EXECUTIVES; None = the site's plant manager)
HEAD_REPORTS_TO = {"Sales": 4, "Finance": 2, "HR": 3, "IT": 5}
BAND_MIDPOINT_USD = [34_000, 42_000, 52_000, 64_000, 80_000, 100_000, 130_000, 175_000, 260_000]
COUNTRY_PAY_FACTOR = {"US": 1.0, "IT": 0.72, "MX": 0.32, "CN": 0.38, "IN": 0.26, "PL": 0.42, "BR": 0.34}
MANAGER_BAND, HEAD_BAND, PLANT_MANAGER_BAND, EXEC_BAND = 6, 7, 8, 9

# The planted attrition model (ground truth): monthly exit hazard
#   h = BASE_HAZARD * exp(sum of the terms below), for people who are not exempt
ATTRITION: dict[str, Any] = {
    "base_monthly_hazard": 0.0055,
    "overtime_per_hour": 0.045,  # x trailing 3-month mean monthly overtime hours
    "compa_ratio": -4.0,  # x (salary / band midpoint - 1): 10% below midpoint -> x1.49
    "manager_changes_12m": 0.45,  # x manager changes in the trailing 12 months
    "performance": {"1": 0.9, "2": 0.45, "3": 0.0, "4": -0.1, "5": -0.2},
    "tenure_under_12_months": 0.7,
    "tenure_12_to_24_months": 0.3,
}
REORGS = [
    ("BLQ", "Operations", "2024-09-16"),
    ("MTY", "Supply Chain", "2025-04-07"),
    ("PNQ", "Engineering", "2025-10-06"),
]
NO_EXIT = 10**6


@dataclass
class People:
    """Employees as arrays for the other generators, plus the HRIS tables."""

    employee_ids: np.ndarray
    site: np.ndarray
    function: np.ndarray  # index into FUNCTION_NAMES
    role: np.ndarray
    line: np.ndarray  # production line index, -1 if none
    hire_day: np.ndarray  # day offset from HISTORY_START
    exit_day: np.ndarray  # NO_EXIT when still employed
    plant_manager: np.ndarray  # employee index per site
    tables: dict[str, pa.Table] = field(default_factory=dict)

    def with_role(self, role: str, *, active_at_end: bool = False) -> np.ndarray:
        """Indexes of employees with a role (optionally only those still employed at AS_OF)."""
        mask = self.role == role
        if active_at_end:
            mask &= self.exit_day >= HISTORY_DAYS
        return np.flatnonzero(mask)

    def pick_employed(
        self, rng: np.random.Generator, pool: np.ndarray, pool_group: np.ndarray, group: np.ndarray, day: np.ndarray
    ) -> np.ndarray:
        """For each (group, day), someone from `pool` in that group employed that day (-1 if none)."""
        out = np.full(len(group), -1)
        for g in np.unique(group):
            candidates = pool[pool_group == g]
            todo = np.flatnonzero(group == g)
            for _ in range(12 if len(candidates) else 0):  # redraw until employed that day
                pick = candidates[rng.integers(0, len(candidates), len(todo))]
                ok = (self.hire_day[pick] <= day[todo]) & (self.exit_day[pick] > day[todo])
                out[todo[ok]] = pick[ok]
                todo = todo[~ok]
                if len(todo) == 0:
                    break
        return out


def generate_people(scale: Scale, seed: int, company: Company) -> People:
    """Employees (current and former since the history start), pay bands, overtime, manager moves."""
    rng = rng_for(seed, "people")
    org = _organisation(rng, scale, company)
    n = len(org["site"])
    site_country = company.site_country[org["site"]]
    first, last = person_names(rng, site_country)
    band = org["band"]
    factor = np.array([COUNTRY_PAY_FACTOR[c] for c in site_country])
    midpoint = np.array(BAND_MIDPOINT_USD)[band - 1] * factor
    compa = np.clip(rng.normal(1.0, 0.09, n), 0.8, 1.22)
    salary = np.round(midpoint * compa, -2)
    rating = rng.choice(np.arange(1, 6), n, p=[0.05, 0.15, 0.5, 0.22, 0.08])

    months = np.arange("2023-03", "2026-03", dtype="datetime64[M]")
    m_start = (months.astype("datetime64[D]") - HISTORY_START).astype(int)
    m_end = np.r_[m_start[1:], HISTORY_DAYS] - 1
    n_months = len(months)
    hourly = np.array([FUNCTIONS[f][4] if f < len(FUNCTIONS) else False for f in org["function"]])
    person_ot = np.where(hourly, rng.gamma(2.0, 4.5, n), rng.gamma(0.8, 2.0, n))
    month_of_year = months.astype(int) % 12
    site_crunch = rng.lognormal(0, 0.18, (len(SITES), n_months))
    load = np.array(MONTH_FACTOR)[month_of_year][None, :] * site_crunch[org["site"]]
    overtime = np.round(np.clip(person_ot[:, None] * load * rng.lognormal(0, 0.35, (n, n_months)), 0, 80), 1)

    changes = _manager_changes(rng, org, company, m_start)
    mc12 = np.zeros((n, n_months + 12))
    np.add.at(mc12, (changes["emp"], changes["month"]), 1)
    np.add.at(mc12, (changes["emp"], changes["month"] + 12), -1)
    mc12 = np.cumsum(mc12, axis=1)[:, :n_months]

    exit_day, exit_reason = _simulate_attrition(rng, org, overtime, compa, rating, mc12, m_start, m_end)
    active_month = (org["hire_day"][:, None] <= m_end[None, :]) & (exit_day[:, None] > m_start[None, :])
    # the events after someone left never happened
    keep = changes["day"] < exit_day[changes["emp"]]
    changes = {k: v[keep] for k, v in changes.items()}

    # employee numbers follow hire order, like a real HRIS
    order = np.lexsort((np.arange(n), org["hire_day"]))
    number = np.empty(n, dtype=np.int64)
    number[order] = np.arange(1, n + 1)
    emp_id = ids("E", number, 6)
    hire_date = HISTORY_START + org["hire_day"].astype("timedelta64[D]")
    exited = exit_day < NO_EXIT
    exit_date = np.where(
        exited, HISTORY_START + np.minimum(exit_day, HISTORY_DAYS).astype("timedelta64[D]"), np.datetime64("NaT")
    )
    hrbp = _hr_partners(org, company)
    site_ids = company.site_ids[org["site"]]
    last_change = np.full(n, -10_000)
    np.maximum.at(last_change, changes["emp"], changes["day"])
    touched = np.maximum.reduce([org["hire_day"], np.where(exited, exit_day, -10_000), last_change])
    pay_band = np.char.add("B", band.astype(str))

    tables: dict[str, pa.Table] = {}
    tables["hris.employees"] = make_table(
        {
            "employee_id": emp_id,
            "first_name": first,
            "last_name": last,
            "email": emails(first, last, EMAIL_DOMAIN),
            "work_phone": phones(rng, site_country),
            "site_id": site_ids,
            "region": company.site_region[org["site"]],
            "country": site_country,
            "function": np.array(FUNCTION_NAMES)[org["function"]],
            "role": org["role"],
            "manager_id": lookup_or_null(emp_id, org["manager"]),
            "line_id": lookup_or_null(company.line_ids, org["line"]),
            "hr_partner_id": emp_id[hrbp],
            "hire_date": hire_date,
            "exit_date": exit_date.astype("datetime64[D]"),
            "exit_reason": column(exit_reason, mask=~exited),
            "status": np.where(exited, "exited", "active"),
            "pay_band": pay_band,
            "pay_band_id": np.char.add(np.char.add(site_country, "-"), pay_band),
            "salary": salary,
            "currency": np.full(n, "USD"),
            "performance_rating": rating,
            "updated_at": (HISTORY_START + np.clip(touched, -20_000, HISTORY_DAYS - 1).astype("timedelta64[D]")).astype(
                "datetime64[s]"
            )
            + np.timedelta64(17 * 3600, "s"),
        }
    ).take(np.argsort(number))
    bands = np.arange(1, 10)
    countries = sorted(COUNTRY_PAY_FACTOR)
    pb_country = np.repeat(countries, len(bands))
    pb_band = np.tile(bands, len(countries))
    pb_mid = np.round(
        np.array(BAND_MIDPOINT_USD)[pb_band - 1] * np.array([COUNTRY_PAY_FACTOR[c] for c in pb_country]), -2
    )
    tables["hris.pay_bands"] = make_table(
        {
            "pay_band_id": np.char.add(np.char.add(pb_country, "-B"), pb_band.astype(str)),
            "country": pb_country,
            "pay_band": np.char.add("B", pb_band.astype(str)),
            "currency": np.full(len(pb_band), "USD"),
            "salary_min": np.round(pb_mid * 0.8, -2),
            "salary_midpoint": pb_mid,
            "salary_max": np.round(pb_mid * 1.2, -2),
        }
    )
    emp_idx, month_idx = np.nonzero(active_month)
    by_id = np.lexsort((month_idx, number[emp_idx]))
    emp_idx, month_idx = emp_idx[by_id], month_idx[by_id]
    tables["hris.overtime_monthly"] = make_table(
        {
            "employee_id": emp_id[emp_idx],
            "month": months[month_idx].astype("datetime64[D]"),
            "overtime_hours": overtime[emp_idx, month_idx],
        }
    )
    order = np.lexsort((changes["day"], number[changes["emp"]]))
    changes = {k: v[order] for k, v in changes.items()}
    tables["hris.manager_changes"] = make_table(
        {
            "change_id": np.arange(1, len(order) + 1),
            "employee_id": emp_id[changes["emp"]],
            "changed_at": HISTORY_START + changes["day"].astype("timedelta64[D]"),
            "old_manager_id": emp_id[changes["old"]],
            "new_manager_id": emp_id[changes["new"]],
            "reason": np.array(["team change", "reorganisation", "transfer"])[changes["reason"]],
        }
    )
    return People(
        employee_ids=emp_id,
        site=org["site"],
        function=org["function"],
        role=org["role"],
        line=org["line"],
        hire_day=org["hire_day"],
        exit_day=exit_day,
        plant_manager=org["plant_manager"],
        tables=tables,
    )


def _organisation(rng: np.random.Generator, scale: Scale, company: Company) -> dict[str, np.ndarray]:
    """Executives, plant managers, one head per site x function, teams of ~11 under managers."""
    n_sites, n_fn = len(SITES), len(FUNCTIONS)
    cols: dict[str, list] = {k: [] for k in ("site", "function", "role", "band", "manager", "line", "hire_day", "kind")}

    def add(site, function, role, band, manager, hire_day, kind, line=-1) -> np.ndarray:
        values = (site, function, role, band, manager, hire_day, kind, line)
        count = max(np.size(v) for v in values)
        start = sum(len(x) for x in cols["role"])
        for key, value in (
            ("site", site),
            ("function", function),
            ("role", role),
            ("band", band),
            ("manager", manager),
            ("hire_day", hire_day),
            ("kind", kind),
            ("line", line),
        ):
            cols[key].append(np.broadcast_to(np.asarray(value), (count,)).copy())
        return np.arange(start, start + count)

    def tenure(lo_years, hi_years, size=None):
        return -rng.integers(int(lo_years * 365), int(hi_years * 365), size)

    fn_index = {f: i for i, f in enumerate(FUNCTION_NAMES)}
    execs = []
    for k, (role, fn) in enumerate(EXECUTIVES):
        execs.append(add(0, fn_index[fn], role, EXEC_BAND, -1 if k == 0 else 0, tenure(4, 20), "exec")[0])
    plant_manager = np.array(
        [
            add(s, fn_index["Operations"], "Plant Manager", PLANT_MANAGER_BAND, execs[1], tenure(3, 18), "exec")[0]
            for s in range(n_sites)
        ]
    )
    reserved = len(execs) + n_sites + n_sites * n_fn
    share = np.outer(company.site_weight, [f[1] for f in FUNCTIONS])
    sizes = rng.multinomial(max(scale.employees - reserved, n_sites * n_fn * 2), (share / share.sum()).ravel())
    lines_of_site = [np.flatnonzero(company.line_site == s) for s in range(n_sites)]
    for s in range(n_sites):
        for f, (fn, _share, roles, mgr_role, _hourly) in enumerate(FUNCTIONS):
            boss = plant_manager[s] if fn not in HEAD_REPORTS_TO else execs[HEAD_REPORTS_TO[fn]]
            head = add(s, f, f"Head of {fn}", HEAD_BAND, boss, tenure(2, 15), "head")[0]
            size = max(int(sizes[s * n_fn + f]), 2)
            n_mgr = max(1, round(size / 11))
            mgrs = add(s, f, mgr_role, MANAGER_BAND, head, tenure(2, 15, n_mgr), "manager")
            n_ic = size - n_mgr
            weights = np.array([r[2] for r in roles])
            pick = rng.choice(len(roles), n_ic, p=weights / weights.sum())
            if fn == "HR":
                pick[0] = 0  # every site has an HR business partner
            hired_in_window = rng.random(n_ic) < 0.22
            hire = np.where(
                hired_in_window,
                rng.integers(0, HISTORY_DAYS - 20, n_ic),
                -np.minimum(rng.exponential(6 * 365, n_ic).astype(int) + 1, rng.integers(28 * 365, 38 * 365, n_ic)),
            )
            line = np.full(n_ic, -1)
            if fn == "Operations":
                line = lines_of_site[s][rng.integers(0, len(lines_of_site[s]), n_ic)]
            kinds = np.where((np.arange(n_ic) == 0) & (fn == "HR"), "hrbp", "ic")
            add(
                s,
                f,
                np.array([r[0] for r in roles])[pick],
                np.array([r[1] for r in roles])[pick],
                mgrs[rng.integers(0, n_mgr, n_ic)],
                hire,
                kinds,
                line,
            )
    org = {k: np.concatenate(v) for k, v in cols.items()}
    org["plant_manager"] = plant_manager
    return org


def _manager_changes(
    rng: np.random.Generator, org: dict[str, np.ndarray], company: Company, m_start: np.ndarray
) -> dict[str, np.ndarray]:
    """Individual moves (~0.3 a year) plus three reorganisations that move a whole team."""
    ic = np.flatnonzero(np.isin(org["kind"], ["ic", "hrbp"]))
    k = rng.poisson(0.3 * 3, len(ic))
    emp = np.repeat(ic, k)
    day = rng.integers(0, HISTORY_DAYS, len(emp))
    reason = np.where(rng.random(len(emp)) < 0.3, 2, 0)
    for site, fn, date in REORGS:
        s = int(np.flatnonzero(company.site_ids == site)[0])
        members = ic[(org["site"][ic] == s) & (org["function"][ic] == FUNCTION_NAMES.index(fn))]
        emp = np.r_[emp, members]
        day = np.r_[day, np.full(len(members), day_offset(date))]
        reason = np.r_[reason, np.ones(len(members), dtype=int)]
    keep = day >= org["hire_day"][emp]
    emp, day, reason = emp[keep], day[keep], reason[keep]
    order = np.lexsort((day, emp))
    emp, day, reason = emp[order], day[order], reason[order]
    # one change per person per day
    keep = np.r_[True, (emp[1:] != emp[:-1]) | (day[1:] != day[:-1])]
    emp, day, reason = emp[keep], day[keep], reason[keep]
    # the chain of managers ends at today's manager: walk it backwards with managers of the same function
    managers = np.flatnonzero(org["kind"] == "manager")
    pool_by_fn = {f: managers[org["function"][managers] == f] for f in range(len(FUNCTIONS))}
    new = np.empty(len(emp), dtype=np.int64)
    old = np.empty(len(emp), dtype=np.int64)
    last = np.r_[emp[1:] != emp[:-1], True]
    new[last] = org["manager"][emp[last]]
    for f, pool in pool_by_fn.items():
        mask = org["function"][emp] == f
        old[mask] = pool[rng.integers(0, len(pool), mask.sum())]
    # the manager after a change is the one before the person's next change
    inner = np.flatnonzero(~last)
    for _ in range(50):
        new[inner] = old[inner + 1]
        same = old == new
        if not same.any():
            break
        for f, pool in pool_by_fn.items():
            mask = same & (org["function"][emp] == f)
            old[mask] = pool[(np.searchsorted(pool, old[mask]) + 1) % len(pool)]
    month = np.searchsorted(m_start, day, side="right") - 1
    return {"emp": emp, "day": day, "month": month, "old": old, "new": new, "reason": reason}


def _simulate_attrition(
    rng: np.random.Generator,
    org: dict[str, np.ndarray],
    overtime: np.ndarray,
    compa: np.ndarray,
    rating: np.ndarray,
    mc12: np.ndarray,
    m_start: np.ndarray,
    m_end: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Discrete-time hazard over the 36 months; returns exit day offsets and reasons."""
    a = ATTRITION
    n, n_months = overtime.shape
    hired_by = org["hire_day"][:, None] < m_start[None, :]
    # trailing 3-month mean of the overtime actually worked (months before hire count as absent)
    present = (org["hire_day"][:, None] <= m_end[None, :]).astype(float)
    worked = overtime * present
    csum = np.cumsum(worked, axis=1)
    ccount = np.cumsum(present, axis=1)
    lag_sum = csum - np.c_[np.zeros((n, 3)), csum[:, :-3]]
    lag_count = ccount - np.c_[np.zeros((n, 3)), ccount[:, :-3]]
    ot3 = lag_sum / np.maximum(lag_count, 1)
    tenure_months = (m_start[None, :] - org["hire_day"][:, None]) / 30.44
    perf = np.array([a["performance"][str(r)] for r in range(1, 6)])[rating - 1]
    log_h = (
        np.log(a["base_monthly_hazard"])
        + a["overtime_per_hour"] * ot3
        + a["compa_ratio"] * (compa - 1)[:, None]
        + a["manager_changes_12m"] * mc12
        + perf[:, None]
        + np.where(
            tenure_months < 12,
            a["tenure_under_12_months"],
            np.where(tenure_months < 24, a["tenure_12_to_24_months"], 0.0),
        )
    )
    hazard = np.minimum(np.exp(log_h), 0.5)
    exempt = org["kind"] != "ic"  # managers, heads, executives and the site HR partners stay
    at_risk = hired_by & ~exempt[:, None]
    leaves = at_risk & (rng.random((n, n_months)) < hazard)
    first = np.where(leaves.any(axis=1), leaves.argmax(axis=1), -1)
    who = np.flatnonzero(first >= 0)
    m = first[who]
    start = np.maximum(m_start[m], org["hire_day"][who] + 1)
    exit_day = np.full(n, NO_EXIT, dtype=np.int64)
    exit_day[who] = start + (rng.random(len(who)) * (m_end[m] - start + 1)).astype(int)
    tenure_years = (exit_day[who] - org["hire_day"][who]) / 365.25
    r = rng.random(len(who))
    reason = np.where(
        (rating[who] <= 2) & (r < 0.45),
        "termination",
        np.where((tenure_years > 25) & (r < 0.6), "retirement", np.where(r < 0.9, "resignation", "relocation")),
    )
    exit_reason = np.full(n, "", dtype=object)
    exit_reason[who] = reason
    return exit_day, exit_reason


def _hr_partners(org: dict[str, np.ndarray], company: Company) -> np.ndarray:
    """Each employee's HR business partner: the partner at their site."""
    hrbp = np.flatnonzero(org["kind"] == "hrbp")
    per_site = np.full(len(company.site_ids), -1)
    per_site[org["site"][hrbp]] = hrbp
    return per_site[org["site"]]

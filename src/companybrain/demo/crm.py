"""CRM: territories, reps (account executives from the HRIS), accounts linked to ERP customers,
contacts, sales plays, opportunities and their stage history."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from companybrain.demo.catalog import FAMILIES
from companybrain.demo.common import (
    HISTORY_DAYS,
    HISTORY_START,
    Scale,
    business_seconds,
    clip_before_as_of,
    day_offset,
    ids,
    lookup_or_null,
    make_table,
    rng_for,
    to_timestamp,
)
from companybrain.demo.company import Company
from companybrain.demo.names import company_names, emails, person_names, phones
from companybrain.demo.people import People
from companybrain.demo.sales import SEGMENTS, TERRITORIES, TIERS, Sales

STAGES = ("Prospecting", "Qualification", "Proposal", "Negotiation", "Closed Won", "Closed Lost")
STAGE_AT = (0.0, 0.15, 0.4, 0.7)  # when an open stage is entered, as a share of the sales cycle
STAGE_PROBABILITY = (10, 25, 50, 75, 100, 0)
# play id, name, target segment, family (or None), start, end (or None), win-rate multiplier
SALES_PLAYS = [
    ("SP01", "Aftermarket service contracts", "Aftermarket", None, "2023-03-01", None, 1.4),
    ("SP02", "Energy-efficient motor retrofit", "Industrial", "MOTOR", "2023-06-01", None, 1.2),
    ("SP03", "Compressor fleet upgrade", "OEM", "COMP", "2024-01-15", None, 0.8),
    ("SP04", "Distributor stocking programme", "Distributor", "BEAR", "2023-03-01", None, 1.5),
    ("SP05", "Smart sensor bundle", "Industrial", "SENS", "2024-09-01", None, 1.1),
    ("SP06", "Hydraulics consolidation", "OEM", "PUMP", "2023-04-01", "2025-06-30", 0.7),
    ("SP07", "Heat exchanger replacement cycle", "Industrial", "HEX", "2025-02-01", None, 1.3),
    ("SP08", "Control panel modernisation", "OEM", "CTRL", "2025-05-01", None, 1.0),
]
BASE_WIN_RATE = 0.28
TIER_WIN = (1.3, 1.1, 1.0)
TITLES = (
    "Purchasing Manager",
    "Plant Engineer",
    "Maintenance Manager",
    "Procurement Director",
    "Operations Director",
    "Buyer",
    "Chief Financial Officer",
    "Engineering Manager",
)
INDUSTRY = {
    "OEM": "Machinery OEM",
    "Distributor": "Industrial distribution",
    "Aftermarket": "Maintenance and repair",
    "Industrial": "Process industry",
}


def generate_crm(scale: Scale, seed: int, company: Company, people: People, sales: Sales) -> dict[str, pa.Table]:
    """territories, reps, accounts, contacts, sales_plays, opportunities, opportunity_stage_history."""
    rng = rng_for(seed, "crm")
    tables: dict[str, pa.Table] = {}
    master_ts = (HISTORY_START - np.timedelta64(500, "D")).astype("datetime64[s]")
    tables["crm.territories"] = make_table(
        {
            "territory_id": np.array([t[0] for t in TERRITORIES]),
            "name": np.array([t[1] for t in TERRITORIES]),
            "region": np.array([t[2] for t in TERRITORIES]),
            "countries": np.array([",".join(t[3]) for t in TERRITORIES]),
            "updated_at": np.full(len(TERRITORIES), master_ts),
        }
    )

    # reps: every account executive who worked here since the history start
    rep_emp = np.array(sorted(sales.territory_of_rep), dtype=np.int64)
    rep_terr = np.array([sales.territory_of_rep[int(e)] for e in rep_emp])
    rep_ids = ids("R", np.arange(1, len(rep_emp) + 1), 4)
    rep_of_emp = {int(e): i for i, e in enumerate(rep_emp)}
    rep_active = people.exit_day[rep_emp] >= HISTORY_DAYS
    rep_start = np.maximum(people.hire_day[rep_emp], -900)
    tables["crm.reps"] = make_table(
        {
            "rep_id": rep_ids,
            "employee_id": people.employee_ids[rep_emp],
            "territory_id": np.array([t[0] for t in TERRITORIES])[rep_terr],
            "annual_quota": np.round(rng.lognormal(np.log(1_500_000), 0.3, len(rep_emp)), -4),
            "is_active": rep_active,
            "updated_at": to_timestamp(
                np.where(rep_active, rep_start, np.minimum(people.exit_day[rep_emp], HISTORY_DAYS - 1)),
                business_seconds(rng, len(rep_emp)),
            ),
        }
    )

    # accounts: every ERP customer plus prospects that never bought
    customers = sales.tables["erp.customers"]
    n_cust = customers.num_rows
    n_prospects = max(20, scale.customers // 5)
    territory_index = {t[0]: i for i, t in enumerate(TERRITORIES)}
    cust_terr = np.array([territory_index[t] for t in customers.column("territory_id").to_pylist()])
    p_terr = rng.integers(0, len(TERRITORIES), n_prospects)
    p_country = np.array([TERRITORIES[t][3][0] for t in p_terr])
    p_names, p_domains = company_names(rng, p_country, taken=n_cust)
    c_domains = sales.customer_domains
    active_reps = np.flatnonzero(rep_active)
    p_owner = np.array(
        [_pick(rng, active_reps[rep_terr[active_reps] == t], active_reps) for t in p_terr], dtype=np.int64
    )
    owner = np.r_[[rep_of_emp[int(e)] for e in sales.customer_owner], p_owner]
    n_acc = n_cust + n_prospects
    segment = np.r_[sales.customer_segment, rng.integers(0, len(SEGMENTS), n_prospects)]
    tier = np.r_[sales.customer_tier, np.full(n_prospects, 2)]
    terr = np.r_[cust_terr, p_terr]
    created_day = np.r_[sales.customer_created_day - 10, rng.integers(-700, HISTORY_DAYS - 30, n_prospects)]
    created_ts = to_timestamp(created_day, business_seconds(rng, n_acc))
    account_ids = ids("A", np.arange(1, n_acc + 1), 5)
    tables["crm.accounts"] = make_table(
        {
            "account_id": account_ids,
            "customer_id": pa.array(
                np.r_[sales.customer_ids.astype(object), [None] * n_prospects].tolist(), pa.string()
            ),
            "name": np.r_[customers.column("name").to_numpy(zero_copy_only=False), p_names].astype(object),
            "type": np.r_[np.full(n_cust, "customer"), np.full(n_prospects, "prospect")],
            "industry": np.array([INDUSTRY[s] for s in SEGMENTS])[segment],
            "region": np.array([TERRITORIES[t][2] for t in terr]),
            "territory_id": np.array([TERRITORIES[t][0] for t in terr]),
            "tier": np.array(TIERS)[tier],
            "owner_rep_id": rep_ids[owner],
            "website": np.r_[c_domains.astype(object), p_domains],
            "created_at": created_ts,
            "updated_at": clip_before_as_of(created_ts + rng.integers(0, 600, n_acc).astype("timedelta64[D]")),
        }
    )
    domains = np.r_[c_domains.astype(object), p_domains].astype(str)
    tables["crm.contacts"] = _contacts(rng, account_ids, domains, terr, created_day)
    tables["crm.sales_plays"] = make_table(
        {
            "play_id": np.array([p[0] for p in SALES_PLAYS]),
            "name": np.array([p[1] for p in SALES_PLAYS]),
            "target_segment": np.array([p[2] for p in SALES_PLAYS]),
            "family_id": pa.array([p[3] for p in SALES_PLAYS], pa.string()),
            "start_date": np.array([p[4] for p in SALES_PLAYS], dtype="datetime64[D]"),
            "end_date": np.array([p[5] or "NaT" for p in SALES_PLAYS], dtype="datetime64[D]"),
            "updated_at": np.array([p[4] for p in SALES_PLAYS], dtype="datetime64[s]")
            - np.timedelta64(86400 * 14, "s"),
        }
    )
    opps, history = _opportunities(
        rng,
        scale,
        company,
        people,
        account_ids,
        tables["crm.accounts"],
        tier,
        terr,
        owner,
        rep_emp,
        rep_terr,
        created_day,
    )
    tables["crm.opportunities"] = opps
    tables["crm.opportunity_stage_history"] = history
    return tables


def _pick(rng: np.random.Generator, pool: np.ndarray, fallback: np.ndarray) -> int:
    pool = pool if len(pool) else fallback
    return int(pool[rng.integers(0, len(pool))])


def _contacts(rng, account_ids, domains, terr, created_day) -> pa.Table:
    k = rng.integers(1, 5, len(account_ids))
    acc = np.repeat(np.arange(len(account_ids)), k)
    country = np.array([TERRITORIES[t][3][0] for t in terr])[acc]
    first, last = person_names(rng, country)
    n = len(acc)
    created = to_timestamp(
        np.minimum(created_day[acc] + rng.integers(0, 400, n), HISTORY_DAYS - 1), business_seconds(rng, n)
    )
    return make_table(
        {
            "contact_id": ids("CT", np.arange(1, n + 1), 6),
            "account_id": account_ids[acc],
            "first_name": first,
            "last_name": last,
            "email": emails(first, last, domains[acc]),
            "phone": phones(rng, country),
            "title": np.array(TITLES)[rng.integers(0, len(TITLES), n)],
            "created_at": created,
            "updated_at": clip_before_as_of(created + rng.integers(0, 300, n).astype("timedelta64[D]")),
        }
    )


def _opportunities(
    rng, scale, company, people, account_ids, accounts, tier, terr, owner, rep_emp, rep_terr, acc_created
) -> tuple[pa.Table, pa.Table]:
    n = scale.opportunities
    weight = np.where(tier == 0, 4.0, np.where(tier == 1, 2.0, 1.0))
    acc = rng.choice(len(account_ids), n, p=weight / weight.sum())
    created = np.maximum(rng.integers(-120, HISTORY_DAYS - 1, n), acc_created[acc] + 1)
    created = np.minimum(created, HISTORY_DAYS - 1)
    created = np.sort(created)
    # the owner at the time: the account's rep if employed then, else a colleague in the territory
    rep = owner[acc]
    employed = (people.hire_day[rep_emp[rep]] <= created) & (people.exit_day[rep_emp[rep]] > created)
    others = people.pick_employed(rng, rep_emp, rep_terr, terr[acc], created)
    rep_index = {int(e): i for i, e in enumerate(rep_emp)}
    rep = np.where(employed | (others < 0), rep, [rep_index.get(int(o), 0) for o in others])

    play_start = np.array([day_offset(p[4]) for p in SALES_PLAYS])
    play_end = np.array([day_offset(p[5]) if p[5] else 10**6 for p in SALES_PLAYS])
    play = rng.integers(0, len(SALES_PLAYS), n)
    has_play = (rng.random(n) < 0.45) & (play_start[play] <= created) & (play_end[play] >= created)
    fam_index = {f: i for i, f in enumerate(company.family_ids)}
    play_fam = np.array([fam_index[p[3]] if p[3] else -1 for p in SALES_PLAYS])
    family = np.where(has_play & (play_fam[play] >= 0), play_fam[play], rng.integers(0, len(FAMILIES), n))
    uplift = np.where(has_play, np.array([p[6] for p in SALES_PLAYS])[play], 1.0)
    win_p = np.clip(BASE_WIN_RATE * uplift * np.array(TIER_WIN)[tier[acc]] * rng.lognormal(0, 0.15, n), 0, 0.95)
    won = rng.random(n) < win_p
    cycle = np.clip(np.round(rng.lognormal(np.log(75), 0.5, n)), 14, 365).astype(int)
    close = created + cycle
    closed = close < HISTORY_DAYS
    lost_at = rng.integers(0, 4, n)
    # open opportunities sit in the last stage whose entry date has passed
    entry = created[:, None] + np.round(np.array(STAGE_AT)[None, :] * cycle[:, None]).astype(int)
    open_stage = (entry < HISTORY_DAYS).sum(axis=1) - 1
    stage = np.where(closed, np.where(won, 4, 5), open_stage)
    amount = np.round(rng.lognormal(np.log(60_000), 1.0, n) * np.where(tier[acc] == 0, 2.0, 1.0), -2)

    # stage history: stages reached, then the closing stage
    reached = np.where(closed, np.where(won, 4, lost_at + 1), open_stage + 1)
    n_rows = reached + closed
    opp = np.repeat(np.arange(n), n_rows)
    step = np.arange(len(opp)) - np.repeat(np.cumsum(n_rows) - n_rows, n_rows)
    is_close = closed[opp] & (step == n_rows[opp] - 1)
    h_stage = np.where(is_close, np.where(won[opp], 4, 5), step)
    h_day = np.where(is_close, close[opp], entry[opp, np.minimum(step, 3)])
    h_ts = clip_before_as_of(to_timestamp(h_day, business_seconds(rng, len(opp))))
    created_ts = to_timestamp(created, business_seconds(rng, n))
    h_ts = np.maximum(h_ts, created_ts[opp])
    last_ts = np.maximum.reduceat(h_ts, np.r_[0, np.cumsum(n_rows)[:-1]])
    names = accounts.column("name").to_numpy(zero_copy_only=False)[acc]
    fam_names = np.array([f[1] for f in FAMILIES])[family]
    opps = make_table(
        {
            "opportunity_id": np.arange(1, n + 1),
            "account_id": account_ids[acc],
            "rep_id": ids("R", rep + 1, 4),
            "play_id": lookup_or_null(np.array([p[0] for p in SALES_PLAYS]), np.where(has_play, play, -1)),
            "name": np.char.add(np.char.add(names.astype(str), " - "), fam_names),
            "family_id": company.family_ids[family],
            "amount": amount,
            "currency": np.full(n, "USD"),
            "stage": np.array(STAGES)[stage],
            "probability": np.array(STAGE_PROBABILITY)[stage],
            "created_at": created_ts,
            "close_date": HISTORY_START + close.astype("timedelta64[D]"),
            "is_closed": closed,
            "is_won": closed & won,
            "updated_at": last_ts,
        }
    )
    history = make_table(
        {
            "history_id": np.arange(1, len(opp) + 1),
            "opportunity_id": opp + 1,
            "stage": np.array(STAGES)[h_stage],
            "entered_at": h_ts,
            "updated_at": h_ts,
        }
    )
    return opps, history

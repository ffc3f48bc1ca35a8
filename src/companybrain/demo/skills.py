"""HRIS skills: the skill catalogue, who has which skill, and what each production line needs."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from companybrain.demo.common import HISTORY_DAYS, HISTORY_START, make_table, rng_for
from companybrain.demo.company import Company
from companybrain.demo.people import FUNCTION_NAMES, People

FAMILY_SKILL = {
    "PUMP": "Hydraulic assembly",
    "GEAR": "Gear cutting",
    "MOTOR": "Motor winding",
    "VALVE": "Valve assembly",
    "COMP": "Compressor testing",
    "CONV": "Conveyor assembly",
    "BEAR": "Precision grinding",
    "CTRL": "Panel wiring",
    "ACT": "Actuator calibration",
    "FILT": "Filter fabrication",
    "HEX": "Brazing",
    "SENS": "Sensor calibration",
}
LINE_BASICS = ["Lockout/tagout", "Preventive maintenance", "Forklift operation"]
FUNCTION_SKILLS = {
    "Operations": [
        "CNC programming",
        "Welding",
        "Forklift operation",
        "Preventive maintenance",
        "PLC troubleshooting",
        "Lockout/tagout",
        "Lean manufacturing",
    ],
    "Engineering": ["CAD design", "FMEA", "PLC programming", "Lean manufacturing", "Python"],
    "Quality": [
        "Quality inspection",
        "Statistical process control",
        "Six Sigma Green Belt",
        "ISO 9001 auditing",
        "FMEA",
    ],
    "Supply Chain": ["SAP MM", "Demand planning", "Negotiation", "Incoterms", "Forklift operation"],
    "Sales": ["Technical sales", "Negotiation", "CRM administration", "Key account management"],
    "Customer Service": ["Customer support", "Field service", "Technical troubleshooting"],
    "Finance": ["Financial modelling", "SAP FI", "IFRS reporting", "SQL"],
    "HR": ["Employment law", "Recruiting", "Compensation analysis", "Coaching"],
    "IT": ["SQL", "Python", "Network administration", "SAP basis"],
    "Executive": ["Strategy", "Coaching", "Negotiation"],
}


def skill_catalogue() -> list[tuple[str, str]]:
    """(name, category) of every skill, in a fixed order."""
    seen: dict[str, str] = {}
    for name in FAMILY_SKILL.values():
        seen.setdefault(name, "Production")
    for function, names in FUNCTION_SKILLS.items():
        for name in names:
            seen.setdefault(name, function)
    return list(seen.items())


def generate_skills(seed: int, company: Company, people: People) -> dict[str, pa.Table]:
    """skills, employee_skills and line_required_skills (headcount needed per line and skill)."""
    rng = rng_for(seed, "skills")
    catalogue = skill_catalogue()
    names = np.array([c[0] for c in catalogue])
    index = {name: i for i, name in enumerate(names)}
    skill_ids = np.char.add("SK", np.char.zfill(np.arange(1, len(names) + 1).astype(str), 3))
    n = len(people.employee_ids)

    # everyone: one to three skills of their function
    pools = [np.array([index[s] for s in FUNCTION_SKILLS[f]]) for f in FUNCTION_NAMES]
    k = rng.integers(1, 4, n)
    emp = np.repeat(np.arange(n), k)
    fn = people.function[emp]
    pick = np.empty(len(emp), dtype=np.int64)
    for f, pool in enumerate(pools):
        mask = fn == f
        pick[mask] = pool[rng.integers(0, len(pool), mask.sum())]
    # line workers: the skill of one (sometimes two) of the families their line makes
    on_line = np.flatnonzero(people.line >= 0)
    extra = np.r_[on_line, on_line[rng.random(len(on_line)) < 0.3]]
    fam_skill = np.array([index[FAMILY_SKILL[f]] for f in company.family_ids])
    line_fams = [company.line_families[line] for line in people.line[extra]]
    fam = np.array([fams[int(u * len(fams))] for fams, u in zip(line_fams, rng.random(len(extra)), strict=True)])
    emp = np.r_[emp, extra]
    pick = np.r_[pick, fam_skill[fam] if len(fam) else np.empty(0, dtype=np.int64)]
    _, first = np.unique(emp * len(names) + pick, return_index=True)
    emp, pick = emp[first], pick[first]
    hire = np.maximum(people.hire_day[emp], -3650)
    end = np.minimum(people.exit_day[emp], HISTORY_DAYS - 1)
    certified = hire + (rng.random(len(emp)) * np.maximum(end - hire, 1)).astype(int)

    tables = {
        "hris.skills": make_table(
            {
                "skill_id": skill_ids,
                "name": names,
                "category": np.array([c[1] for c in catalogue]),
            }
        ),
        "hris.employee_skills": make_table(
            {
                "employee_id": people.employee_ids[emp],
                "skill_id": skill_ids[pick],
                "level": rng.integers(1, 4, len(emp)),
                "certified_on": HISTORY_START + certified.astype("timedelta64[D]"),
            }
        ),
    }
    # what each line needs: today's skilled headcount give or take, so some lines have gaps
    active = people.exit_day[emp] >= HISTORY_DAYS
    line_of = people.line[emp]
    n_lines = len(company.line_ids)
    have = np.zeros((n_lines, len(names)), dtype=np.int64)
    np.add.at(have, (line_of[active & (line_of >= 0)], pick[active & (line_of >= 0)]), 1)
    rows_line, rows_skill = [], []
    for line, fams in enumerate(company.line_families):
        needed = sorted({fam_skill[f] for f in fams} | {index[s] for s in LINE_BASICS})
        rows_line += [line] * len(needed)
        rows_skill += needed
    line_idx, skill_idx = np.array(rows_line), np.array(rows_skill)
    headcount = np.maximum(1, np.round(have[line_idx, skill_idx] * rng.uniform(0.85, 1.35, len(line_idx))))
    tables["hris.line_required_skills"] = make_table(
        {
            "line_id": company.line_ids[line_idx],
            "skill_id": skill_ids[skill_idx],
            "headcount_needed": headcount.astype(np.int64),
        }
    )
    return tables

"""Machine telemetry: downtime events over the whole history and hourly sensor readings for the
last 12 months, with the planted failure precursors (vibration and temperature creep up before
each failure)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa

from companybrain.demo.catalog import MACHINE_TYPES
from companybrain.demo.common import (
    AS_OF,
    HISTORY_DAYS,
    HISTORY_START,
    TELEMETRY_START,
    make_table,
    rng_for,
)
from companybrain.demo.company import Company

HOURS = HISTORY_DAYS * 24
TELEMETRY_OFFSET_H = int((TELEMETRY_START - HISTORY_START).astype(int)) * 24
TELEMETRY_HOURS = int((AS_OF - TELEMETRY_START).astype(int)) * 24
# Planted failure precursors (ground truth): over the `days` before a failure, vibration rises
# by up to `vibration_rise` x the machine's normal level (quadratic ramp) and temperature by up
# to `temperature_rise_c` degrees (linear ramp).
PRECURSOR: dict[str, Any] = {"days": (3.0, 7.0), "vibration_rise": (0.8, 1.5), "temperature_rise_c": (6.0, 14.0)}
PLANNED_EVERY_DAYS = 35
CHANGEOVERS_PER_WEEK = 1.0
FAILURE_MODES = (
    "Spindle bearing failure",
    "Hydraulic leak",
    "Motor overheating",
    "Drive belt failure",
    "Coolant pump failure",
    "Servo fault",
)


@dataclass
class Downtime:
    """Downtime events (hour offsets from HISTORY_START) and the failures among them."""

    machine: np.ndarray
    start_h: np.ndarray
    end_h: np.ndarray
    cause: np.ndarray  # 0 failure, 1 planned, 2 changeover
    precursor_days: np.ndarray  # for failures; 0 otherwise

    def hours_by_line_week(self, company: Company, n_weeks: int) -> np.ndarray:
        """Downtime hours per (production line, week) for the production table."""
        week = np.minimum((self.start_h // 24 + 2) // 7, n_weeks - 1).astype(np.int64)
        out = np.zeros((len(company.line_ids), n_weeks))
        np.add.at(out, (company.machine_line[self.machine], week), self.end_h - self.start_h)
        return out


def generate_downtime(seed: int, company: Company) -> Downtime:
    """Failures, planned maintenance and changeovers for every machine, without overlaps."""
    rng = rng_for(seed, "downtime")
    n_m = len(company.machine_ids)
    age_years = (HISTORY_START - company.machine_install).astype(int) / 365.25
    yearly = np.array([t[5] for t in MACHINE_TYPES])[company.machine_type]
    yearly = yearly * np.clip(1 + (age_years - 5) * 0.05, 0.8, 1.8) * rng.lognormal(0, 0.25, n_m)
    years = HISTORY_DAYS / 365.25
    counts = [
        rng.poisson(yearly * years),
        rng.poisson(np.full(n_m, HISTORY_DAYS / PLANNED_EVERY_DAYS)),
        rng.poisson(np.full(n_m, CHANGEOVERS_PER_WEEK * HISTORY_DAYS / 7)),
    ]
    machine, cause = [], []
    for kind, k in enumerate(counts):
        machine.append(np.repeat(np.arange(n_m), k))
        cause.append(np.full(k.sum(), kind))
    m, c = np.concatenate(machine), np.concatenate(cause)
    start = rng.random(len(m)) * (HOURS - 1)
    duration = np.select(
        [c == 0, c == 1],
        [np.clip(rng.lognormal(np.log(6), 0.6, len(m)), 1, 72), rng.uniform(4, 8, len(m))],
        rng.uniform(0.5, 3, len(m)),
    )
    start = np.floor(start * 4) / 4  # quarter-hour resolution, like a maintenance log
    end = start + np.round(duration * 4) / 4
    order = np.lexsort((start, m))
    m, c, start, end = m[order], c[order], start[order], end[order]
    # drop events that start while the machine is already down (the offset keeps machines apart)
    shifted_end = end + m * (HOURS + 1000.0)
    shifted_start = start + m * (HOURS + 1000.0)
    prev_end = np.r_[-1.0, np.maximum.accumulate(shifted_end)[:-1]]
    keep = shifted_start >= prev_end
    m, c, start, end = m[keep], c[keep], start[keep], end[keep]
    days = np.where(c == 0, rng.uniform(float(PRECURSOR["days"][0]), float(PRECURSOR["days"][1]), len(m)), 0.0)
    return Downtime(machine=m, start_h=start, end_h=end, cause=c, precursor_days=days)


def downtime_table(seed: int, company: Company, downtime: Downtime) -> pa.Table:
    """telemetry.downtime_events."""
    rng = rng_for(seed, "downtime-descriptions")
    n = len(downtime.machine)
    base = HISTORY_START.astype("datetime64[s]")
    started = base + np.round(downtime.start_h * 3600).astype("timedelta64[s]")
    ended = base + np.round(downtime.end_h * 3600).astype("timedelta64[s]")
    mode = np.array(FAILURE_MODES)[rng.integers(0, len(FAILURE_MODES), n)]
    description = np.where(
        downtime.cause == 0, mode, np.where(downtime.cause == 1, "Preventive maintenance", "Product changeover")
    )
    line = company.machine_line[downtime.machine]
    return make_table(
        {
            "event_id": np.arange(1, n + 1),
            "machine_id": company.machine_ids[downtime.machine],
            "line_id": company.line_ids[line],
            "site_id": company.site_ids[company.line_site[line]],
            "started_at": started,
            "ended_at": np.minimum(ended, AS_OF.astype("datetime64[s]") - np.timedelta64(1, "s")),
            "cause": np.array(["failure", "planned", "changeover"])[downtime.cause],
            "description": description,
        }
    )


def failures_in_window(company: Company, downtime: Downtime) -> pa.Table:
    """Ground truth: every failure, with its precursor length and whether telemetry covers it."""
    fail = np.flatnonzero(downtime.cause == 0)
    base = HISTORY_START.astype("datetime64[s]")
    start_h = downtime.start_h[fail]
    return make_table(
        {
            "machine_id": company.machine_ids[downtime.machine[fail]],
            "line_id": company.line_ids[company.machine_line[downtime.machine[fail]]],
            "failed_at": base + np.round(start_h * 3600).astype("timedelta64[s]"),
            "precursor_days": np.round(downtime.precursor_days[fail], 2),
            "in_telemetry_window": start_h >= TELEMETRY_OFFSET_H,
        }
    )


def sensor_readings(seed: int, company: Company, downtime: Downtime) -> pa.Table:
    """Hourly readings per machine for the last 12 months; none while a machine is down."""
    rng = rng_for(seed, "telemetry")
    n_m, n_h = len(company.machine_ids), TELEMETRY_HOURS
    types = company.machine_type
    hour = np.arange(n_h)
    clock = (hour % 24)[:, None]
    weekday = ((TELEMETRY_START.astype(int) + hour // 24 + 3) % 7)[:, None]  # 0 = Monday
    load = np.where(weekday >= 5, 0.3, np.where((clock >= 6) & (clock < 22), 1.0, 0.7))
    season = 2.0 * np.sin(2 * np.pi * (hour / 24 - 140) / 365.25)[:, None]  # warm in summer

    base_t = np.array([t[1] for t in MACHINE_TYPES])[types] + rng.normal(0, 2, n_m)
    base_v = np.array([t[2] for t in MACHINE_TYPES])[types] * rng.lognormal(0, 0.15, n_m)
    base_p = np.array([t[3] for t in MACHINE_TYPES])[types] * rng.lognormal(0, 0.05, n_m)
    rated = np.array([t[4] for t in MACHINE_TYPES])[types]
    shape = (n_h, n_m)
    temperature = base_t + 4.0 * load + season + rng.normal(0, 0.8, shape)
    vibration = base_v * (0.6 + 0.4 * load) * rng.lognormal(0, 0.08, shape)
    pressure = base_p * (1 + rng.normal(0, 0.02, shape))
    power = rated * (0.25 + 0.65 * load) * rng.lognormal(0, 0.05, shape)

    # planted precursors before each failure that falls in the telemetry window
    fail = np.flatnonzero((downtime.cause == 0) & (downtime.start_h >= TELEMETRY_OFFSET_H))
    fail_h = np.floor(downtime.start_h[fail]).astype(int) - TELEMETRY_OFFSET_H
    span = np.round(downtime.precursor_days[fail] * 24).astype(int)
    rise_v = rng.uniform(float(PRECURSOR["vibration_rise"][0]), float(PRECURSOR["vibration_rise"][1]), len(fail))
    rise_t = rng.uniform(
        float(PRECURSOR["temperature_rise_c"][0]), float(PRECURSOR["temperature_rise_c"][1]), len(fail)
    )
    which = np.repeat(np.arange(len(fail)), span)
    step = np.arange(span.sum()) - np.repeat(np.cumsum(span) - span, span)
    h = fail_h[which] - span[which] + step
    ramp = (step + 1) / span[which]
    ok = h >= 0
    m = downtime.machine[fail][which]
    np.add.at(vibration, (h[ok], m[ok]), (base_v[m] * rise_v[which] * ramp**2)[ok])
    np.add.at(temperature, (h[ok], m[ok]), (rise_t[which] * ramp)[ok])

    # no readings while a machine is down
    down = np.zeros((n_h + 1, n_m), dtype=np.int32)
    s = np.clip(np.floor(downtime.start_h).astype(int) - TELEMETRY_OFFSET_H, 0, n_h)
    e = np.clip(np.ceil(downtime.end_h).astype(int) - TELEMETRY_OFFSET_H, 0, n_h)
    np.add.at(down, (s, downtime.machine), 1)
    np.add.at(down, (e, downtime.machine), -1)
    running = (np.cumsum(down, axis=0)[:n_h] == 0).ravel()

    ts = TELEMETRY_START.astype("datetime64[s]") + (hour * 3600).astype("timedelta64[s]")
    ts_flat = np.repeat(ts, n_m)[running]
    machine_flat = np.tile(np.arange(n_m), n_h)[running]
    return make_table(
        {
            "machine_id": pa.DictionaryArray.from_arrays(
                pa.array(machine_flat.astype(np.int32)), pa.array(company.machine_ids)
            ).cast(pa.string()),
            "ts": ts_flat,
            "temperature": np.round(temperature.ravel()[running], 2),
            "vibration": np.round(vibration.ravel()[running], 3),
            "pressure": np.round(pressure.ravel()[running], 2),
            "power_kw": np.round(power.ravel()[running], 2),
        }
    )

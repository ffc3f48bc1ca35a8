"""Shared constants of the demo company: the fixed calendar, the scales, seeded randomness, helpers."""

from __future__ import annotations

import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

# The demo's "today" is fixed so that every generation is a pure function of (scale, seed).
AS_OF = np.datetime64("2026-03-01", "D")
HISTORY_START = np.datetime64("2023-03-01", "D")
HISTORY_DAYS = int((AS_OF - HISTORY_START).astype(int))  # 1096 days of orders
TELEMETRY_START = np.datetime64("2025-03-01", "D")  # hourly sensor data for the last 12 months
BACKLOG_WEEKS = 13
REGIONS = ("NA", "EMEA", "APAC", "LATAM")
EMAIL_DOMAIN = "acme-industrial.example"
# Demand by calendar month (Jan..Dec): Q4 peak, August and December dips; also drives overtime.
MONTH_FACTOR = (0.92, 0.95, 1.05, 1.02, 1.0, 1.03, 0.93, 0.85, 1.05, 1.1, 1.12, 0.9)


@dataclass(frozen=True)
class Scale:
    """How big the generated company is; masters stay fixed from medium up, orders grow."""

    name: str
    order_lines: int
    products: int
    customers: int
    employees: int
    suppliers: int
    components: int
    machines_per_line: tuple[int, int]  # inclusive range
    tickets: int
    opportunities: int


SCALES: dict[str, Scale] = {
    "small": Scale("small", 50_000, 300, 500, 2_000, 60, 600, (1, 3), 3_000, 2_500),
    "medium": Scale("medium", 2_000_000, 2_000, 5_000, 20_000, 300, 4_000, (3, 5), 40_000, 25_000),
    "large": Scale("large", 20_000_000, 2_000, 5_000, 20_000, 300, 4_000, (3, 5), 120_000, 25_000),
}


def rng_for(seed: int, domain: str) -> np.random.Generator:
    """A generator for one domain, so adding draws to one module leaves the others unchanged."""
    return np.random.default_rng([seed, zlib.crc32(domain.encode())])


def day_offset(date: str) -> int:
    """Days from HISTORY_START to a date given as text (negative before the history)."""
    return int((np.datetime64(date, "D") - HISTORY_START) // np.timedelta64(1, "D"))


def day_index_to_date(days: np.ndarray) -> np.ndarray:
    """Day offsets from HISTORY_START as datetime64[D]."""
    return HISTORY_START + days.astype("timedelta64[D]")


def to_timestamp(days: np.ndarray, seconds: np.ndarray | int = 0) -> np.ndarray:
    """datetime64[s] from day offsets (from HISTORY_START) plus seconds within the day."""
    base = day_index_to_date(days).astype("datetime64[s]")
    return base + np.asarray(seconds).astype("timedelta64[s]")


def clip_before_as_of(ts: np.ndarray) -> np.ndarray:
    """Clamp timestamps to the last second before AS_OF (nothing in the data is from the future)."""
    limit = AS_OF.astype("datetime64[s]") - np.timedelta64(1, "s")
    return np.minimum(ts, limit)


def business_seconds(rng: np.random.Generator, n: int) -> np.ndarray:
    """Seconds after midnight during office hours (07:00-18:00)."""
    return rng.integers(7 * 3600, 18 * 3600, n)


def ids(prefix: str, numbers: np.ndarray, width: int) -> np.ndarray:
    """Readable string ids such as C00042 from integers."""
    return np.char.add(prefix, np.char.zfill(numbers.astype(str), width))


def group_rank(groups: np.ndarray) -> np.ndarray:
    """0-based position of each element within its group, in array order (a vectorized cumcount)."""
    order = np.argsort(groups, kind="stable")
    sorted_groups = groups[order]
    starts = np.r_[0, np.flatnonzero(sorted_groups[1:] != sorted_groups[:-1]) + 1]
    run_lengths = np.diff(np.r_[starts, len(groups)])
    rank_sorted = np.arange(len(groups)) - np.repeat(starts, run_lengths)
    rank = np.empty(len(groups), dtype=np.int64)
    rank[order] = rank_sorted
    return rank


def weighted_choice(rng: np.random.Generator, weights: np.ndarray, n: int) -> np.ndarray:
    """n indices drawn with probability proportional to weights."""
    p = np.asarray(weights, dtype=float)
    return rng.choice(len(p), size=n, p=p / p.sum())


def column(values: np.ndarray | list, mask: np.ndarray | None = None) -> pa.Array:
    """A pyarrow column from numpy: datetime64[D] -> date32, other datetimes -> timestamp[us]."""
    arr = np.asarray(values)
    if arr.dtype.kind == "M":
        if np.datetime_data(arr.dtype)[0] == "D":
            return pa.array(arr, mask=mask)
        return pa.array(arr.astype("datetime64[us]"), mask=mask)
    if arr.dtype.kind == "f":
        return pa.array(arr.astype(np.float64), mask=mask)
    if arr.dtype.kind in "iu":
        return pa.array(arr.astype(np.int64), mask=mask)
    if arr.dtype.kind == "O":
        return pa.array(list(arr), type=pa.string(), mask=mask)
    return pa.array(arr, mask=mask)


def lookup_or_null(values: np.ndarray, index: np.ndarray) -> pa.Array:
    """values[index] as a pyarrow column, null where index is negative (no such thing)."""
    return column(values[np.maximum(index, 0)], mask=index < 0)


def make_table(columns: dict[str, np.ndarray | list | pa.Array]) -> pa.Table:
    """A pyarrow table from named numpy arrays (or ready pyarrow arrays), in the given order."""
    arrays = [c if isinstance(c, pa.Array) else column(c) for c in columns.values()]
    return pa.Table.from_arrays(arrays, names=list(columns))


@dataclass(frozen=True)
class PartedTable:
    """A table built part by part as it is written, for one too big to hold at once (order lines)."""

    schema: pa.Schema
    num_rows: int
    part: Callable[[int, int], pa.Table]  # rows [a, b)
    part_rows: int

    @classmethod
    def of(cls, part: Callable[[int, int], pa.Table], num_rows: int, part_rows: int) -> PartedTable:
        return cls(part(0, min(1, num_rows)).schema, num_rows, part, part_rows)

    def parts(self) -> Iterator[pa.Table]:
        """The rows in order, part_rows at a time."""
        for a in range(0, self.num_rows, self.part_rows):
            yield self.part(a, min(a + self.part_rows, self.num_rows))

"""The SQL door's cost (issue 22), measured in one run over the small demo:

- a metric read over the wire (psycopg -> buenavista -> translation -> the governed path) against the same
  MetricQuery through BrainService.query in process (the reference: what the REST route runs), both on a
  repeat (the result cache answers) and fresh (the cache emptied before each read, a period of its own);
- a catalog read (information_schema.columns) and a sign-in (token check + the user's catalog mirror).

Usage: python benchmarks/bench_sqldoor.py [--project demo/acme] [--repeat 30]
(generates, ingests and builds the small demo first if the project folder does not exist).
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path

import psycopg

from companybrain import Brain
from companybrain.delivery.app import BrainService
from companybrain.delivery.sqldoor import SqlDoor
from companybrain.semantic.query import MetricQuery

SQL = (
    "SELECT region, month, SUM(revenue) AS revenue FROM order_line "
    "WHERE month >= '{start}' AND month < '{end}' GROUP BY region, month"
)


def _median_ms(run: Callable[[int], object], repeat: int) -> float:
    times = []
    for i in range(repeat):
        started = time.perf_counter()
        run(i)
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


def _period(i: int) -> tuple[str, str]:
    """A different quarter-long window for each run (month starts from 2023-03 on)."""
    month = 3 + i % 24
    start = f"{2023 + (month - 1) // 12}-{(month - 1) % 12 + 1:02d}-01"
    month += 3
    end = f"{2023 + (month - 1) // 12}-{(month - 1) % 12 + 1:02d}-01"
    return start, end


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--project", default="demo/acme")
    parser.add_argument("--repeat", type=int, default=30)
    args = parser.parse_args()
    root = Path(args.project)
    if not root.exists():
        from companybrain.demo.generate import generate_demo

        generate_demo(root, scale="small", seed=7)
        with Brain.open(root) as brain:
            brain.ingest()
            brain.build()
    brain = Brain.open(root)
    svc = BrainService(brain)
    secret, _ = svc.tokens.create("ceo")
    door = SqlDoor(svc, "127.0.0.1", 0).start()
    dsn = f"host=127.0.0.1 port={door.port} user=ceo password={secret} dbname=brain"
    principal = brain.principal("ceo")
    try:
        with psycopg.connect(dsn) as conn:

            def wire(i: int) -> object:
                start, end = _period(i)
                return conn.execute(SQL.format(start=start, end=end)).fetchall()

            def direct(i: int) -> object:
                start, end = _period(i)
                last = date.fromisoformat(end) - timedelta(days=1)
                query = MetricQuery(("revenue",), ("region", "month"), period=f"{start}..{last.isoformat()}")
                return svc.query(query, principal)

            def catalog(i: int) -> object:
                return conn.execute("SELECT column_name FROM information_schema.columns").fetchall()

            # fresh: the result cache emptied before each read, both ways in turn over the same windows
            for i in range(3):  # warm up both ways
                direct(i), wire(i)
            fresh: dict[str, list[float]] = {"wire": [], "direct": []}
            for i in range(args.repeat):
                for name, read in (("direct", direct), ("wire", wire)):
                    svc._results.clear()
                    started = time.perf_counter()
                    read(i)
                    fresh[name].append(time.perf_counter() - started)
            fresh_wire, fresh_direct = (statistics.median(fresh[k]) * 1000 for k in ("wire", "direct"))
            cached_direct = _median_ms(lambda i: direct(0), args.repeat)
            cached_wire = _median_ms(lambda i: wire(0), args.repeat)
            catalog_ms = _median_ms(catalog, args.repeat)
        sign_in_ms = _median_ms(lambda i: psycopg.connect(dsn).close(), max(5, args.repeat // 3))
    finally:
        door.stop()
        svc.close()
    print(f"metric read, fresh  : wire {fresh_wire:7.2f} ms   in process {fresh_direct:7.2f} ms (reference)")
    print(f"metric read, cached : wire {cached_wire:7.2f} ms   in process {cached_direct:7.2f} ms (reference)")
    print(
        f"wire overhead       : fresh {fresh_wire - fresh_direct:+.2f} ms, cached {cached_wire - cached_direct:+.2f} ms"
    )
    print(f"catalog read        : {catalog_ms:7.2f} ms (information_schema.columns)")
    print(f"sign-in             : {sign_in_ms:7.2f} ms (token check + the user's catalog mirror)")


if __name__ == "__main__":
    main()

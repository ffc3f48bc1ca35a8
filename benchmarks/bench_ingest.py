"""Ingest targets (issue 2), measured in one run on this machine:

- PostgreSQL -> warehouse ingest at >= 0.8x the rows/s of a bare connectorx read of the same table;
- a re-ingest with no source change takes <= 10% of the first load and loads 0 rows.

Usage: python benchmarks/bench_ingest.py [--rows 2000000] [--pg postgresql://postgres@127.0.0.1:5432/postgres]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import uuid
from pathlib import Path

import connectorx as cx
import psycopg

from companybrain import Brain
from companybrain.sources import loader  # noqa: F401  (imported before timing)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    db = f"cb_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(args.pg, autocommit=True) as con:
        con.execute(f'CREATE DATABASE "{db}"')
    url = args.pg.rsplit("/", 1)[0] + f"/{db}"
    try:
        with psycopg.connect(url, autocommit=True) as con:
            # an order-lines-like table: keys, foreign keys, money, quantities, text, timestamps
            con.execute(
                f"""
                CREATE TABLE order_lines AS
                SELECT g AS order_line_id, g / 4 AS order_id, (g * 7919) % 2000 AS product_id,
                       1 + g % 50 AS qty, round(((g * 31) % 10000) / 7.0, 2)::float8 AS unit_price,
                       ((g * 17) % 30)::float8 / 100 AS discount_pct,
                       'line-' || (g % 64) AS production_line,
                       timestamp '2023-03-01' + (g % 1000) * interval '1 day' AS updated_at
                FROM generate_series(1::bigint, {args.rows}::bigint) g
                """
            )
            con.execute("ALTER TABLE order_lines ADD PRIMARY KEY (order_line_id)")
            con.execute("CREATE INDEX ON order_lines (updated_at)")
            con.execute("ANALYZE order_lines")
        bare, first, again = [], [], []
        for _ in range(args.repeat):
            t = time.perf_counter()
            table = cx.read_sql(url, "SELECT * FROM order_lines", return_type="arrow")
            bare.append(time.perf_counter() - t)
            assert table.num_rows == args.rows
            with tempfile.TemporaryDirectory() as tmp:
                root = Path(tmp)
                (root / "brain.yaml").write_text(
                    "name: bench\n"
                    "sources:\n"
                    f"  - {{name: erp, type: sql, url: '{url}', batch_size: 500000, tables: "
                    "[{name: order_lines, primary_key: [order_line_id], cursor: updated_at}]}\n"
                )
                with Brain.open(root) as brain:
                    # fixed start-up costs (imports, opening the warehouse, the meta tables) are not rows/s
                    brain.sources_status()
                    t = time.perf_counter()
                    [load] = brain.ingest()
                    first.append(time.perf_counter() - t)
                    assert load.rows_loaded == args.rows, load
                    t = time.perf_counter()
                    [reload] = brain.ingest()
                    again.append(time.perf_counter() - t)
                    assert reload.rows_loaded == 0, reload
        b, f, a = statistics.median(bare), statistics.median(first), statistics.median(again)
        # the machine is shared: the ratio is taken per round, from a pair that ran back to back
        ratios = sorted(x / y for x, y in zip(bare, first, strict=True))
        print(f"rows: {args.rows:,} (PostgreSQL -> DuckDB warehouse), median of {args.repeat}")
        print("rounds, bare / first load: " + ", ".join(f"{x:.2f}/{y:.2f} s" for x, y in zip(bare, first, strict=True)))
        print(f"bare connectorx read        {b:6.2f} s  {args.rows / b:12,.0f} rows/s")
        print(f"brain ingest (first load)   {f:6.2f} s  {args.rows / f:12,.0f} rows/s")
        spread = f"rounds {ratios[0]:.2f}-{ratios[-1]:.2f}x"
        print(f"ingest / bare rows/s        {statistics.median(ratios):6.2f}x   (target >= 0.80x; {spread})")
        print(f"re-ingest, no change        {a:6.3f} s  loads 0 rows = {a / f:.1%} of the first load (target <= 10%)")
    finally:
        with psycopg.connect(args.pg, autocommit=True) as con:
            con.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')


if __name__ == "__main__":
    main()

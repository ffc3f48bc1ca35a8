"""Near real time (issue 3): after an incremental ingest of new orders, the affected metrics
reflect them after one `brain build` that takes well under the full rebuild.

Works on a copy of the medium demo (generated first if missing), so the demo is left as it was.
Usage: python benchmarks/bench_incremental.py [--project demo/acme] [--orders 1000]
"""

from __future__ import annotations

import argparse
import shutil
import sqlite3
import tempfile
import time
from pathlib import Path

from companybrain import Brain
from companybrain.governance.principal import Principal
from companybrain.semantic.query import MetricQuery

REVENUE = MetricQuery(("revenue", "orders"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--project", type=Path, default=Path("demo/acme"))
    parser.add_argument("--orders", type=int, default=1000)
    args = parser.parse_args()
    if not (args.project / "brain.yaml").exists():
        from companybrain.demo.generate import generate_demo

        generate_demo(args.project, scale="medium", seed=7)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "acme"
        shutil.copytree(args.project, root)
        me = Principal("bench", unrestricted=True)
        with Brain.open(root) as brain:
            brain.ingest()
            t = time.perf_counter()
            brain.build(full=True)
            full = time.perf_counter() - t
            [[revenue_before, orders_before]] = brain.query(REVENUE, me).rows
        # new orders arrive in the ERP: copies of the first N orders, with new ids, changed now
        erp = sqlite3.connect(root / "sources" / "erp.sqlite")
        top_order = erp.execute("SELECT max(order_id) FROM orders").fetchone()[0]
        top_line = erp.execute("SELECT max(order_line_id) FROM order_lines").fetchone()[0]
        stamp = "2026-03-01 23:59:59"
        columns = [r[1] for r in erp.execute("PRAGMA table_info(orders)")]
        select = ", ".join(
            {"order_id": f"order_id + {top_order}", "updated_at": f"'{stamp}'", "status": "'open'"}.get(c, c)
            for c in columns
        )
        erp.execute(f"INSERT INTO orders SELECT {select} FROM orders WHERE order_id <= {args.orders}")
        line_columns = [r[1] for r in erp.execute("PRAGMA table_info(order_lines)")]
        line_select = ", ".join(
            {
                "order_line_id": f"order_line_id + {top_line}",
                "order_id": f"order_id + {top_order}",
                "updated_at": f"'{stamp}'",
            }.get(c, c)
            for c in line_columns
        )
        erp.execute(f"INSERT INTO order_lines SELECT {line_select} FROM order_lines WHERE order_id <= {args.orders}")
        added = erp.execute(
            f"SELECT sum(net_amount), count(*) FROM order_lines WHERE order_id > {top_order}"
        ).fetchone()
        erp.commit()
        erp.close()
        with Brain.open(root) as brain:
            t = time.perf_counter()
            [load] = brain.ingest(["erp.orders", "erp.order_lines"])
            ingest = time.perf_counter() - t
            t = time.perf_counter()
            report = brain.build()
            incremental = time.perf_counter() - t
            [[revenue_after, orders_after]] = brain.query(REVENUE, me).rows
    assert orders_after - orders_before == args.orders, (orders_before, orders_after)
    assert abs((revenue_after - revenue_before) - added[0]) < 1e-3 * max(1.0, added[0])
    print(f"{args.orders:,} new orders ({added[1]:,} lines) landed: ingest {ingest:.2f} s ({load.rows_loaded:,} rows)")
    print(f"revenue {revenue_before:,.0f} -> {revenue_after:,.0f} (+{added[0]:,.0f}, exactly the new lines)")
    changed = (
        f"rebuilt {', '.join(report.rebuilt) or '-'}; updated the changed rows of {', '.join(report.updated) or '-'}"
    )
    print(f"build after the ingest   {incremental:6.2f} s  ({changed})")
    print(f"full rebuild             {full:6.2f} s  -> the build takes {incremental / full:.0%} of a full rebuild")


if __name__ == "__main__":
    main()

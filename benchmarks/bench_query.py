"""Semantic-layer targets (issue 3), measured in one run:

- `brain query` for revenue, gross margin and margin % by site x month, joined through customer
  and product: <= 1.15x the time of the best hand-written SQL for the same result, same engine;
- the compile step < 10 ms;
- policies add <= 5% to query time.

Usage: python benchmarks/bench_query.py [--scale large] [--project demo/acme-large] [--repeat 5]
(generates, ingests and builds the demo first if the project folder does not exist).
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import duckdb

from companybrain import Brain
from companybrain.governance.policy import Policy
from companybrain.governance.principal import Principal
from companybrain.semantic.compiler import compile_query
from companybrain.semantic.query import MetricQuery
from companybrain.specs.policies import Role, RowFilter

QUERY = MetricQuery(
    ("revenue", "gross_margin", "margin_pct"),
    by=("site", "month"),
    where="Customer.segment IN ('OEM', 'Distributor', 'Aftermarket', 'Industrial')",
)

HAND_WRITTEN = """
SELECT s.name AS site, CAST(date_trunc('month', o.order_date) AS DATE) AS month,
       SUM(ol.net_amount) AS revenue,
       SUM(ol.net_amount) - SUM(ol.qty * (p.std_material_cost
           + p.labour_hours_per_unit * (s.labour_rate_per_hour + s.overhead_rate_per_labour_hour))) AS gross_margin,
       (SUM(ol.net_amount) - SUM(ol.qty * (p.std_material_cost
           + p.labour_hours_per_unit * (s.labour_rate_per_hour + s.overhead_rate_per_labour_hour))))
         / SUM(ol.net_amount) AS margin_pct
FROM ontology.order_line ol
JOIN ontology."order" o ON o.order_id = ol.order_id
JOIN ontology.customer c ON c.customer_id = o.customer_id
JOIN ontology.product p ON p.product_id = ol.product_id
JOIN ontology.line l ON l.line_id = ol.production_line_id
JOIN ontology.site s ON s.site_id = l.site_id
WHERE o.status <> 'cancelled' AND c.segment IN ('OEM', 'Distributor', 'Aftermarket', 'Industrial')
GROUP BY 1, 2
ORDER BY 1, 2
"""


def timed(fn, repeat: int) -> tuple[float, object]:
    times, result = [], None
    fn()  # warm the caches once
    for _ in range(repeat):
        t = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", default="large", choices=["small", "medium", "large"])
    parser.add_argument("--project", type=Path)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    root = args.project or Path(f"demo/acme-{args.scale}")
    if not (root / "brain.yaml").exists():
        from companybrain.demo.generate import generate_demo

        print(f"generating the {args.scale} demo in {root} ...", flush=True)
        generate_demo(root, scale=args.scale, seed=7)
        with Brain.open(root) as brain:
            brain.ingest()
            brain.build()
    with Brain.open(root) as brain:
        wh = brain.warehouse
        con: duckdb.DuckDBPyConnection = wh._con  # type: ignore[attr-defined]  # the same engine, bare
        lines = con.execute("SELECT count(*) FROM ontology.order_line").fetchone()[0]
        unrestricted = Principal("bench", unrestricted=True)
        brain.project.roles["bench_all_rows"] = Role(
            objects="*", metrics="*", row_filters=[RowFilter(object="Customer", where="region <> principal.nowhere")]
        )
        filtered = Principal("bench_filtered", ("bench_all_rows",), {"nowhere": "MARS"})

        compile_times = []
        for _ in range(50):
            t = time.perf_counter()
            compiled = compile_query(
                brain.semantic, QUERY, Policy(brain.project, unrestricted), brain.project.spec.today
            )
            wh.render(compiled.tree)
            compile_times.append(time.perf_counter() - t)
        compile_ms = statistics.median(compile_times) * 1000

        hand, hand_rows = timed(lambda: con.execute(HAND_WRITTEN).fetchall(), args.repeat)
        ours, result = timed(lambda: brain.query(QUERY, unrestricted), args.repeat)
        with_policy, filtered_result = timed(lambda: brain.query(QUERY, filtered), args.repeat)
        # the same answer, row for row
        assert len(result.rows) == len(hand_rows) == len(filtered_result.rows)
        for a, b in zip(sorted(map(tuple, result.rows)), hand_rows, strict=True):
            assert a[:2] == b[:2] and all(
                abs(x - y) <= 1e-6 * max(1.0, abs(y)) for x, y in zip(a[2:], b[2:], strict=True)
            )

    print(f"order lines: {lines:,}; revenue, gross_margin, margin_pct by site x month; median of {args.repeat}")
    print(f"hand-written SQL                   {hand:7.3f} s")
    print(f"brain query (compile+run+audit)    {ours:7.3f} s   = {ours / hand:.2f}x hand-written (target <= 1.15x)")
    print(f"compile step                       {compile_ms:7.2f} ms  (target < 10 ms)")
    overhead = with_policy / ours - 1
    print(f"with a row-filter policy           {with_policy:7.3f} s   = {overhead:+.1%} vs none (target <= +5%)")


if __name__ == "__main__":
    main()

"""Spark local against DuckDB on this machine (issue 17): TPC-H Q1, Q3, Q5, Q6 and Q10 and the demo's
margin query (revenue, gross margin and margin % by site x month), the same SQL on both engines.

The data is written once by DuckDB (TPC-H dbgen; the demo's built ontology tables) as Parquet, which
DuckDB reads into its own tables and Spark reads itself (`SparkWarehouse.create_from_parquet`); each
query is one sqlglot tree rendered in each engine's dialect, its answer checked equal on both.
Spark local runs in one JVM here, so it is slower: the ratio printed is what a cluster has to win back.

Usage: python benchmarks/bench_spark.py [--sf 1] [--repeat 3] [--demo demo/acme-small]
(--demo: a built demo project on DuckDB; without it only TPC-H runs).
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import tempfile
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import duckdb
import pyarrow as pa
import sqlglot
from sqlglot import exp

from companybrain.warehouse.ddl import table
from companybrain.warehouse.spark import SparkWarehouse

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "tpch"
TPCH = (1, 3, 5, 6, 10)
TPCH_TABLES = ("lineitem", "orders", "customer", "nation", "region", "supplier", "part", "partsupp")
MARGIN_TABLES = ("order_line", "order", "customer", "product", "line", "site")
MARGIN = """
SELECT s.name AS site, CAST(date_trunc('month', o.order_date) AS DATE) AS month,
       SUM(ol.net_amount) AS revenue,
       SUM(ol.net_amount) - SUM(ol.qty * (p.std_material_cost
           + p.labour_hours_per_unit * (s.labour_rate_per_hour + s.overhead_rate_per_labour_hour))) AS gross_margin
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


def tpch_connection() -> duckdb.DuckDBPyConnection:
    """examples/tpch/generate.py's DuckDB with the tpch extension from its PyPI package (no download)."""
    spec = importlib.util.spec_from_file_location("tpch_generate", EXAMPLE / "generate.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.tpch_connection()


def in_schema(sql: str, schema: str) -> exp.Expr:
    """The DuckDB query as a tree whose base tables are in `schema` (CTE names left alone)."""
    tree = sqlglot.parse_one(sql, dialect="duckdb")
    ctes = {c.alias for c in tree.find_all(exp.CTE)}
    for node in tree.find_all(exp.Table):
        if not node.db and node.name not in ctes:
            node.set("db", exp.to_identifier(schema))
    return tree


def best(run: Callable[[], pa.Table], repeat: int) -> tuple[float, pa.Table]:
    run()  # warm: Spark compiles its code on first use, DuckDB reads the files into its cache
    times, result = [], pa.table({})
    for _ in range(repeat):
        start = time.perf_counter()
        result = run()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def same_answer(a: pa.Table, b: pa.Table) -> bool:
    """Row for row equal; numbers to 1e-6 relative (Spark averages decimals to 6 places, DuckDB as doubles)."""

    def close(x: object, y: object) -> bool:
        if isinstance(x, float | int | Decimal) and isinstance(y, float | int | Decimal):
            return abs(float(x) - float(y)) <= 1e-6 * max(1.0, abs(float(y)))
        return str(x) == str(y)

    if a.num_rows != b.num_rows or a.num_columns != b.num_columns:
        return False
    rows = zip(a.to_pylist(), b.to_pylist(), strict=True)
    return all(close(x, y) for r, s in rows for x, y in zip(r.values(), s.values(), strict=True))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sf", type=float, default=1.0)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--demo", type=Path, help="a built demo project (DuckDB) for the margin query")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-spark-"))
    con = tpch_connection()
    print(f"TPC-H SF{args.sf:g}: generating with dbgen ...", flush=True)
    con.execute(f"CALL dbgen(sf={args.sf})")
    queries: dict[str, exp.Expr] = {}
    for n in TPCH:
        text = con.execute("SELECT query FROM tpch_queries() WHERE query_nr = ?", [n]).fetchone()[0]
        queries[f"TPC-H Q{n}"] = in_schema(text, "tpch")
    files: dict[str, list[tuple[str, Path]]] = {"tpch": []}
    for name in TPCH_TABLES:
        path = work / "tpch" / name
        path.mkdir(parents=True)
        con.execute(f"COPY {name} TO '{path / 'part.parquet'}' (FORMAT parquet)")
        files["tpch"].append((name, path))
    if args.demo:
        demo = duckdb.connect(str(args.demo / ".brain" / "warehouse.duckdb"), read_only=True)
        files["ontology"] = []
        for name in MARGIN_TABLES:
            path = work / "ontology" / name
            path.mkdir(parents=True)
            demo.execute(f"COPY ontology.\"{name}\" TO '{path / 'part.parquet'}' (FORMAT parquet)")
            files["ontology"].append((name, path))
        demo.close()
        queries["demo margin by site x month"] = sqlglot.parse_one(MARGIN, dialect="duckdb")

    fresh = duckdb.connect()
    for schema, tables in files.items():
        fresh.execute(f"CREATE SCHEMA {schema}")
        for name, path in tables:
            fresh.execute(f"CREATE TABLE {schema}.\"{name}\" AS SELECT * FROM read_parquet('{path}/*.parquet')")
    print("starting a local Spark session ...", flush=True)
    started = time.perf_counter()
    spark = SparkWarehouse.from_url("spark:local[2]", work / "project")
    print(f"Spark session start {time.perf_counter() - started:6.1f} s", flush=True)
    for schema, tables in files.items():
        spark.ensure_schema(schema)
        for name, path in tables:
            spark.create_from_parquet(table(schema, name), path)

    print(f"\n{'query':32} {'DuckDB':>9} {'Spark local':>12} {'Spark/DuckDB':>13}  (median of {args.repeat})")
    for label, tree in queries.items():
        duck_time, duck = best(lambda t=tree: fresh.execute(t.sql(dialect="duckdb")).to_arrow_table(), args.repeat)
        spark_time, theirs = best(lambda t=tree: spark.query_arrow(t), args.repeat)
        check = "same answer" if same_answer(duck, theirs) else "ANSWERS DIFFER"
        print(f"{label:32} {duck_time:8.3f}s {spark_time:11.3f}s {spark_time / duck_time:12.1f}x  {check}")
    print("\nreference: DuckDB on this machine is 1.0x; a ratio above it is Spark's single-node overhead")


if __name__ == "__main__":
    main()

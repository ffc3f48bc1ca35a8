"""A tiny hand-written project (a shop) used by the ingest, ontology and CLI tests."""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from tests.conftest import write

T0 = datetime(2025, 1, 1, 8, 0, 0)


def brain_yaml(warehouse: str, erp_url: str = "sqlite:///sources/erp.sqlite") -> str:
    return f"""
    name: shop
    warehouse: {warehouse}
    sources:
      - name: erp
        type: sql
        url: {erp_url}
        batch_size: 1000
        tables:
          - {{name: customers, primary_key: [customer_id], cursor: updated_at}}
          - {{name: orders, primary_key: [order_id], cursor: updated_at}}
      - name: hris
        type: files
        path: sources/hris
        format: csv
        tables:
          - {{name: employees, files: "employees*.csv", primary_key: [employee_id], mode: full}}
          - name: overtime
            files: "overtime*.csv"
            primary_key: [employee_id, month]
            columns: {{employee_id: string, month: date, hours: float}}
      - name: service
        type: files
        path: sources/service
        format: jsonl
        tables:
          - {{name: tickets, files: "tickets_*.jsonl", primary_key: [ticket_id]}}
      - name: telemetry
        type: files
        path: sources/telemetry
        format: parquet
        tables:
          - {{name: readings, files: "readings_*.parquet"}}
    """


ONTOLOGY = """
objects:
  Customer:
    key: customer_id
    source: raw.erp__customers
    properties:
      customer_id: {type: integer}
      name: {type: string, tags: [pii]}
      region: {type: string}
    contracts:
      - {type: accepted_values, property: region, values: [NA, EMEA, APAC]}
  Order:
    key: order_id
    source: raw.erp__orders
    properties:
      order_id: {type: integer}
      customer_id: {type: integer}
      amount: {type: float, currency: USD}
      ordered_at: {type: timestamp, column: updated_at}
      big: {type: boolean, expr: "amount > 100"}
    links:
      customer: {to: Customer, via: customer_id, reverse: orders}
    contracts:
      - {type: links_resolve, link: customer}
      - {type: row_count, min: 1}
  Employee:
    key: employee_id
    source: raw.hris__employees
    properties:
      employee_id: {type: string}
      full_name: {type: string, expr: "first_name || ' ' || last_name", tags: [pii]}
      site: {type: string}
      salary: {type: float, tags: [salary, hr]}
"""


def create_erp(path: Path, customers: int = 50, orders: int = 3000) -> None:
    con = sqlite3.connect(path)
    con.executescript(
        """
        DROP TABLE IF EXISTS customers; DROP TABLE IF EXISTS orders;
        CREATE TABLE customers (customer_id INTEGER PRIMARY KEY, name TEXT, region TEXT, updated_at TIMESTAMP);
        CREATE TABLE orders (order_id INTEGER PRIMARY KEY, customer_id INTEGER, amount REAL, updated_at TIMESTAMP);
        """
    )
    regions = ["NA", "EMEA", "APAC"]
    con.executemany(
        "INSERT INTO customers VALUES (?, ?, ?, ?)",
        [(i, f"Customer {i}", regions[i % 3], _ts(i)) for i in range(1, customers + 1)],
    )
    con.executemany(
        "INSERT INTO orders VALUES (?, ?, ?, ?)",
        [(i, 1 + i % customers, float(10 + i % 200), _ts(i)) for i in range(1, orders + 1)],
    )
    con.commit()
    con.close()


def _ts(i: int) -> str:
    return (T0 + timedelta(minutes=i)).strftime("%Y-%m-%d %H:%M:%S")


def make_shop(root: Path, warehouse: str = "duckdb:///.brain/warehouse.duckdb", erp_url: str | None = None) -> Path:
    write(root / "brain.yaml", brain_yaml(warehouse, erp_url or "sqlite:///sources/erp.sqlite"))
    write(root / "ontology" / "shop.yaml", ONTOLOGY)
    (root / "sources" / "hris").mkdir(parents=True)
    (root / "sources" / "service").mkdir(parents=True)
    (root / "sources" / "telemetry").mkdir(parents=True)
    if erp_url is None:
        create_erp(root / "sources" / "erp.sqlite")
    write(
        root / "sources" / "hris" / "employees.csv",
        """
        employee_id,first_name,last_name,site,salary
        E1,Ada,Lovelace,Milwaukee,91000
        E2,Alan,Turing,Bologna,88000
        E3,Grace,Hopper,Milwaukee,97000
        """,
    )
    write(
        root / "sources" / "hris" / "overtime.csv",
        """
        employee_id,month,hours
        E1,2025-01-01,4.5
        E2,2025-01-01,n/a
        E3,2025-01-01,2
        E1,2025-02-01,3,extra
        ,2025-02-01,1
        """,
    )
    tickets = [
        {"ticket_id": f"T{i}", "customer_id": i % 50 + 1, "priority": "high" if i % 5 == 0 else "low"}
        for i in range(20)
    ]
    write_jsonl(root / "sources" / "service" / "tickets_2025_01.jsonl", tickets)
    readings = pa.table(
        {
            "machine_id": ["M1", "M2"] * 50,
            "ts": [T0 + timedelta(hours=i) for i in range(100)],
            "temperature": [20.0 + i % 7 for i in range(100)],
        }
    )
    pq.write_table(readings, root / "sources" / "telemetry" / "readings_2025_01.parquet")
    return root


def write_jsonl(path: Path, rows: list[dict]) -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")

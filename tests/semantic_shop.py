"""The shop with order lines, metrics and policies: the semantic layer's test project.

Every expected figure in the tests is computed here in plain Python from the same rows the
source databases hold, independently of the SQL the compiler writes.
"""

from __future__ import annotations

import sqlite3
from collections import defaultdict
from pathlib import Path

from tests.conftest import write
from tests.shop import T0, make_shop

N_CUSTOMERS, N_ORDERS = 50, 3000
REGIONS = ["NA", "EMEA", "APAC"]

METRICS = """
metrics:
  revenue:
    description: Value of order lines (quantity x unit price).
    synonyms: [sales, turnover]
    object: OrderLine
    expr: sum(qty * unit_price)
    time: order.ordered_at
    format: currency
  order_amount:
    description: Order header amounts.
    object: Order
    expr: sum(amount)
    format: currency
  orders:
    description: Number of orders.
    object: Order
    expr: count(*)
    format: count
  buying_customers:
    description: Customers with at least one order (distinct, not additive).
    object: Order
    expr: count(distinct customer_id)
    format: count
  big_orders:
    description: Orders over 100.
    object: Order
    expr: count(*)
    where: amount > 100
    format: count
  big_orders_open:
    description: Orders over 100, as they stand today (a snapshot, whatever the period).
    object: Order
    expr: count(*)
    where: amount > 100
    snapshot: true
    format: count
  avg_line_value:
    description: Average order line value (not additive).
    object: OrderLine
    expr: avg(qty * unit_price)
    time: order.ordered_at
  revenue_per_order:
    description: Revenue divided by orders.
    expr: revenue / orders
  big_share:
    description: Share of big orders.
    expr: big_orders / orders
    format: percent
  payroll:
    description: Sum of salaries.
    object: Employee
    expr: sum(salary)
    format: currency
dimensions:
  region:
    description: Customer region.
    synonyms: [geo]
    object: Customer
    expr: region
calendar:
  fiscal_year_start_month: 10
"""

POLICIES = """
roles:
  executive: {objects: "*", metrics: "*", unmask: [pii]}
  sales:
    objects: [Customer, Order, OrderLine]
    metrics: [revenue, orders, order_amount, revenue_per_order, buying_customers]
    row_filters:
      - {object: Customer, where: "region = principal.region"}
  hr:
    objects: [Employee]
    metrics: [payroll]
    unmask: [pii, salary, hr]
users:
  ceo: {roles: [executive], attributes: {function: executive}}
  emea_rep: {roles: [sales], attributes: {function: sales, region: EMEA}}
  nowhere_rep: {roles: [sales], attributes: {function: sales}}
  hrbp: {roles: [hr], attributes: {function: hr}}
default_user: ceo
"""


def lines_of(order_id: int) -> list[tuple[int, int, int, float]]:
    """(line_id, order_id, qty, unit_price): one to three lines per order."""
    return [
        (order_id * 10 + k, order_id, 1 + (order_id + k) % 4, float(5 + (order_id * 7 + k) % 40))
        for k in range(1 + order_id % 3)
    ]


def make_semantic_shop(root: Path, warehouse: str) -> Path:
    make_shop(root, warehouse=warehouse)
    con = sqlite3.connect(root / "sources" / "ops.sqlite")
    con.execute(
        "CREATE TABLE order_lines (line_id INTEGER PRIMARY KEY, order_id INTEGER, qty INTEGER, unit_price REAL)"
    )
    con.executemany(
        "INSERT INTO order_lines VALUES (?, ?, ?, ?)", [r for o in range(1, N_ORDERS + 1) for r in lines_of(o)]
    )
    con.commit()
    con.close()
    with (root / "brain.yaml").open("a") as f:
        f.write(
            "  - name: ops\n    type: sql\n    url: sqlite:///sources/ops.sqlite\n"
            "    tables:\n      - {name: order_lines, primary_key: [line_id], mode: full}\n"
            "today: 2025-03-15\n"
        )
    ontology = (root / "ontology" / "shop.yaml").read_text()
    ontology = ontology.replace("  Order:\n    key: order_id\n", "  Order:\n    key: order_id\n    time: ordered_at\n")
    ontology = ontology.replace(
        "  Employee:\n    key: employee_id\n", "  Employee:\n    key: employee_id\n    tags: [hr]\n"
    )
    ontology += """
  OrderLine:
    key: line_id
    source: raw.ops__order_lines
    properties:
      line_id: {type: integer}
      order_id: {type: integer}
      qty: {type: integer}
      unit_price: {type: float}
    links:
      order: {to: Order, via: order_id, reverse: lines}
"""
    (root / "ontology" / "shop.yaml").write_text(ontology)
    write(root / "metrics" / "shop.yaml", METRICS)
    write(root / "policies" / "shop.yaml", POLICIES)
    return root


# --- the same figures, computed in Python --------------------------------------------------


def orders() -> list[dict]:
    from datetime import timedelta

    return [
        {
            "order_id": i,
            "customer_id": 1 + i % N_CUSTOMERS,
            "amount": float(10 + i % 200),
            "ordered_at": T0 + timedelta(minutes=i),
        }
        for i in range(1, N_ORDERS + 1)
    ]


def region_of(customer_id: int) -> str:
    return REGIONS[customer_id % 3]


def expected_by_region() -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    buyers: dict[str, set[int]] = defaultdict(set)
    for o in orders():
        r = region_of(o["customer_id"])
        out[r]["order_amount"] += o["amount"]
        out[r]["orders"] += 1
        out[r]["big_orders"] += o["amount"] > 100
        buyers[r].add(o["customer_id"])
        for _, _, qty, price in lines_of(o["order_id"]):
            out[r]["revenue"] += qty * price
            out[r]["lines"] += 1
    for r in out:
        out[r]["buying_customers"] = len(buyers[r])
        out[r]["avg_line_value"] = out[r]["revenue"] / out[r]["lines"]
        out[r]["revenue_per_order"] = out[r]["revenue"] / out[r]["orders"]
    return {r: dict(v) for r, v in out.items()}

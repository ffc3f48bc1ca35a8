"""The Acme Industrial generator: speed, determinism, internal consistency, planted signals,
the written project, and the PostgreSQL / MariaDB targets."""

from __future__ import annotations

import csv
import json
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest

from companybrain.demo.generate import DemoSummary, generate_demo
from companybrain.errors import BrainError
from companybrain.project import Project

ERP_TABLES = [
    "sites", "lines", "line_capabilities", "product_families", "products", "components", "bom",
    "price_list", "promotions", "customers", "orders", "order_lines", "shipments", "returns",
    "suppliers", "purchase_orders", "stock", "production", "machines", "quality_inspections",
]  # fmt: skip
CRM_TABLES = [
    "territories",
    "reps",
    "accounts",
    "contacts",
    "sales_plays",
    "opportunities",
    "opportunity_stage_history",
]
HRIS_TABLES = [
    "employees", "pay_bands", "skills", "employee_skills", "line_required_skills", "overtime_monthly",
    "manager_changes",
]  # fmt: skip


@dataclass
class Generated:
    path: Path
    summary: DemoSummary
    seconds: float


@pytest.fixture(scope="module")
def acme(tmp_path_factory: pytest.TempPathFactory) -> Generated:
    """The small demo, generated once for the module."""
    out = tmp_path_factory.mktemp("acme") / "acme"
    steps: list[tuple[str, int, int]] = []
    started = time.perf_counter()
    summary = generate_demo(out, scale="small", seed=7, progress=lambda *s: steps.append(s))
    seconds = time.perf_counter() - started
    assert steps and steps[-1][1] == steps[-1][2], "progress reaches its total"
    return Generated(out, summary, seconds)


@pytest.fixture(scope="module")
def db(acme: Generated) -> Iterator[duckdb.DuckDBPyConnection]:
    """DuckDB views over every written source: erp_*, crm_*, hris_*, service_*, telemetry_*."""
    src = acme.path / "sources"
    con = duckdb.connect()
    import connectorx as cx  # SQLite through Arrow: DuckDB's sqlite extension may not be installed offline

    for source, tables in (("erp", ERP_TABLES), ("crm", CRM_TABLES)):
        for table in tables:
            arrow = cx.read_sql(f"sqlite://{src / f'{source}.sqlite'}", f"SELECT * FROM {table}", return_type="arrow")
            con.register(f"{source}_{table}", arrow)
    for table in HRIS_TABLES:
        con.execute(
            f"CREATE VIEW hris_{table} AS SELECT * FROM read_csv('{src}/hris/{table}.csv', header=true, "
            "ignore_errors=true)"
        )
    for table in ("tickets", "warranty_claims"):
        con.execute(f"CREATE VIEW service_{table} AS SELECT * FROM read_json('{src}/service/{table}_*.jsonl')")
    con.execute(f"CREATE VIEW telemetry_sensor_readings AS SELECT * FROM '{src}/telemetry/sensor_readings_*.parquet'")
    con.execute(f"CREATE VIEW telemetry_downtime_events AS SELECT * FROM '{src}/telemetry/downtime_events.parquet'")
    con.execute(f"CREATE VIEW gt_failures AS SELECT * FROM read_csv('{acme.path}/ground_truth/machine_failures.csv')")
    yield con
    con.close()


def scalar(con: duckdb.DuckDBPyConnection, sql: str) -> object:
    row = con.execute(sql).fetchone()
    assert row is not None
    return row[0]


# --- the run ---------------------------------------------------------------------------------


def test_small_scale_is_fast_and_sized(acme: Generated) -> None:
    assert acme.seconds < 30
    t = acme.summary.tables
    assert 40_000 <= t["erp.order_lines"] <= 60_000
    assert (t["erp.products"], t["erp.customers"], t["hris.employees"], t["erp.suppliers"]) == (300, 500, 2000, 60)
    assert t["erp.sites"] == 8
    assert set(t) >= {f"erp.{n}" for n in ERP_TABLES} | {f"crm.{n}" for n in CRM_TABLES}


def test_layout_and_project_validates(acme: Generated) -> None:
    written = "brain.yaml .demo-manifest.json ground_truth/README.md sources/erp.sqlite sources/crm.sqlite"
    for path in [*written.split(), "sources/hris/employees.csv", "sources/telemetry/downtime_events.parquet"]:
        assert (acme.path / path).is_file(), path
    assert len(list((acme.path / "sources/service").glob("tickets_*.jsonl"))) == 36  # one per month
    assert len(list((acme.path / "sources/telemetry").glob("sensor_readings_*.parquet"))) == 12
    project = Project.load(acme.path)
    required = "Site Line Product Customer Order OrderLine Supplier Employee Opportunity Ticket Machine"
    assert set(required.split()) <= set(project.objects)
    domains = {f.stem for f in (acme.path / "ontology").glob("*.yaml")}
    assert domains >= {"company", "sales", "supply", "people", "service", "operations"}
    employee = project.objects["Employee"]
    assert "pii" in employee.properties["email"].tags
    assert {"salary", "hr"} <= set(employee.properties["salary"].tags)


def test_ontology_columns_exist_in_sources(acme: Generated, db: duckdb.DuckDBPyConnection) -> None:
    project = Project.load(acme.path)

    def columns(raw: str) -> set[str]:
        view = raw.removeprefix("raw.").replace("__", "_")
        return {row[0] for row in db.execute(f"DESCRIBE {view}").fetchall()}

    for name, obj in project.objects.items():
        if obj.source is None or obj.source.startswith(("factory.", "writeback.")):  # made by the brain itself
            continue
        have = columns(obj.source)
        for prop_name, prop in obj.properties.items():
            if prop.expr is None and prop.predicted_by is None:  # scores come from the factory's table
                assert (prop.column or prop_name) in have, f"{name}.{prop_name} has no column in {obj.source}"
        for link_name, link in obj.links.items():
            if link.through:
                assert {link.from_column, link.to_column} <= columns(link.through), f"{name}.{link_name}"


def test_same_seed_same_data(acme: Generated, tmp_path: Path) -> None:
    again = generate_demo(tmp_path / "again", scale="small", seed=7)
    assert again.tables == acme.summary.tables

    def generated(root: Path) -> list[Path]:  # the brain's own state (.brain/) is not what the generator wrote
        return sorted(p.relative_to(root) for p in root.rglob("*") if p.is_file() and ".brain" not in p.parts)

    files = generated(acme.path)
    assert files == generated(again.out)
    for rel in files:
        if rel.suffix == ".sqlite":
            continue
        assert (acme.path / rel).read_bytes() == (again.out / rel).read_bytes(), rel
    for name in ("erp", "crm"):
        with (
            sqlite3.connect(acme.path / f"sources/{name}.sqlite") as a,
            sqlite3.connect(again.out / f"sources/{name}.sqlite") as b,
        ):
            for (table,) in a.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall():
                query = f"SELECT * FROM {table} ORDER BY rowid"
                assert a.execute(query).fetchall() == b.execute(query).fetchall(), table
        a.close()
        b.close()


def test_other_seed_other_data(acme: Generated, tmp_path: Path) -> None:
    other = generate_demo(tmp_path / "other", scale="small", seed=8)
    ours = (acme.path / "sources/hris/employees.csv").read_bytes()
    assert (other.out / "sources/hris/employees.csv").read_bytes() != ours


def test_refuses_a_folder_that_is_not_a_demo(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(BrainError, match="not empty") as info:
        generate_demo(tmp_path, scale="small")
    assert info.value.hint
    assert (tmp_path / "notes.txt").read_text() == "mine"
    assert not (tmp_path / "brain.yaml").exists()


def test_regenerates_over_a_previous_demo(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    generate_demo(out, scale="small", seed=3)
    (out / ".brain").mkdir()
    (out / ".brain" / "warehouse.duckdb").write_text("stale")
    (out / "sources" / "hris" / "stale.csv").write_text("a,b\n")
    (out / "my-notes.md").write_text("keep me")
    generate_demo(out, scale="small", seed=4)
    assert not (out / ".brain").exists()
    assert not (out / "sources" / "hris" / "stale.csv").exists()
    assert (out / "my-notes.md").read_text() == "keep me"
    assert json.loads((out / ".demo-manifest.json").read_text())["seed"] == 4


def test_unknown_scale_and_bad_url_fail_before_writing(tmp_path: Path) -> None:
    with pytest.raises(BrainError, match="unknown scale"):
        generate_demo(tmp_path / "a", scale="huge")
    with pytest.raises(BrainError, match="postgresql://"):
        generate_demo(tmp_path / "b", scale="small", erp_url="mysql://root@127.0.0.1/x")
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_sqlite_tables_have_keys_cursor_index_and_types(acme: Generated) -> None:
    with sqlite3.connect(acme.path / "sources/erp.sqlite") as con:
        for table in ERP_TABLES:
            info = con.execute(f"PRAGMA table_info({table})").fetchall()
            types = {row[1]: row[2] for row in info}
            assert any(row[5] for row in info), f"{table} has a primary key"
            assert types["updated_at"] == "TIMESTAMP"
            indexes = [row[1] for row in con.execute(f"PRAGMA index_list({table})").fetchall()]
            assert f"ix_{table}_updated_at" in indexes
        assert con.execute("SELECT typeof(order_date), order_date FROM orders LIMIT 1").fetchone()[0] == "text"
        stamp = con.execute("SELECT max(updated_at) FROM orders").fetchone()[0]
        assert len(stamp) == 19 and stamp < "2026-03-01 00:00:00"
    con.close()


# --- internal consistency --------------------------------------------------------------------

FOREIGN_KEYS = [  # child view, column -> parent view, column
    ("erp_order_lines", "order_id", "erp_orders", "order_id"),
    ("erp_order_lines", "product_id", "erp_products", "product_id"),
    ("erp_order_lines", "production_line_id", "erp_lines", "line_id"),
    ("erp_order_lines", "promotion_id", "erp_promotions", "promotion_id"),
    ("erp_orders", "customer_id", "erp_customers", "customer_id"),
    ("erp_orders", "site_id", "erp_sites", "site_id"),
    ("erp_shipments", "order_id", "erp_orders", "order_id"),
    ("erp_returns", "order_line_id", "erp_order_lines", "order_line_id"),
    ("erp_purchase_orders", "supplier_id", "erp_suppliers", "supplier_id"),
    ("erp_purchase_orders", "component_id", "erp_components", "component_id"),
    ("erp_bom", "component_id", "erp_components", "component_id"),
    ("erp_bom", "product_id", "erp_products", "product_id"),
    ("erp_components", "supplier_id", "erp_suppliers", "supplier_id"),
    ("erp_machines", "line_id", "erp_lines", "line_id"),
    ("erp_lines", "site_id", "erp_sites", "site_id"),
    ("erp_quality_inspections", "inspector_id", "hris_employees", "employee_id"),
    ("erp_customers", "account_owner_id", "hris_employees", "employee_id"),
    ("hris_employees", "site_id", "erp_sites", "site_id"),
    ("hris_employees", "manager_id", "hris_employees", "employee_id"),
    ("hris_employees", "line_id", "erp_lines", "line_id"),
    ("hris_employees", "pay_band_id", "hris_pay_bands", "pay_band_id"),
    ("hris_employee_skills", "skill_id", "hris_skills", "skill_id"),
    ("hris_manager_changes", "new_manager_id", "hris_employees", "employee_id"),
    ("crm_accounts", "customer_id", "erp_customers", "customer_id"),
    ("crm_accounts", "owner_rep_id", "crm_reps", "rep_id"),
    ("crm_contacts", "account_id", "crm_accounts", "account_id"),
    ("crm_opportunities", "rep_id", "crm_reps", "rep_id"),
    ("crm_opportunities", "account_id", "crm_accounts", "account_id"),
    ("crm_opportunity_stage_history", "opportunity_id", "crm_opportunities", "opportunity_id"),
    ("crm_reps", "employee_id", "hris_employees", "employee_id"),
    ("service_tickets", "customer_id", "erp_customers", "customer_id"),
    ("service_tickets", "order_line_id", "erp_order_lines", "order_line_id"),
    ("service_tickets", "assigned_agent_id", "hris_employees", "employee_id"),
    ("service_warranty_claims", "order_line_id", "erp_order_lines", "order_line_id"),
    ("telemetry_sensor_readings", "machine_id", "erp_machines", "machine_id"),
    ("telemetry_downtime_events", "machine_id", "erp_machines", "machine_id"),
]


@pytest.mark.parametrize(("child", "column", "parent", "key"), FOREIGN_KEYS, ids=lambda v: str(v))
def test_references_resolve(db: duckdb.DuckDBPyConnection, child: str, column: str, parent: str, key: str) -> None:
    orphans = (
        f"SELECT count(*) FROM {child} WHERE {column} IS NOT NULL AND {column} NOT IN (SELECT {key} FROM {parent})"
    )
    assert scalar(db, orphans) == 0


def test_orders_are_made_where_they_ship_from(db: duckdb.DuckDBPyConnection) -> None:
    off_site = """SELECT count(*) FROM erp_order_lines l JOIN erp_orders o USING (order_id)
                  JOIN erp_lines pl ON pl.line_id = l.production_line_id WHERE pl.site_id <> o.site_id"""
    assert scalar(db, off_site) == 0
    incapable = """SELECT count(*) FROM erp_order_lines l JOIN erp_products p USING (product_id)
                   ANTI JOIN erp_line_capabilities c
                   ON c.line_id = l.production_line_id AND c.family_id = p.family_id"""
    assert scalar(db, incapable) == 0
    unshipped = "SELECT count(*) FROM erp_shipments JOIN erp_orders o USING (order_id) WHERE o.status <> 'shipped'"
    assert scalar(db, unshipped) == 0


def test_primary_keys_are_unique(db: duckdb.DuckDBPyConnection) -> None:
    for view, key in (
        ("erp_orders", "order_id"),
        ("erp_order_lines", "order_line_id"),
        ("erp_customers", "customer_id"),
        ("hris_employees", "employee_id"),
        ("service_tickets", "ticket_id"),
        ("hris_overtime_monthly", "employee_id, month"),
        ("erp_bom", "product_id, component_id"),
    ):
        assert scalar(db, f"SELECT count(*) - count(DISTINCT ({key})) FROM {view}") == 0, view


def test_sales_reps_are_active_sales_employees_of_the_region(db: duckdb.DuckDBPyConnection) -> None:
    rows = db.execute("""
        SELECT e.function, e.role, e.status, e.region = c.region AS same_region, count(*)
        FROM erp_customers c JOIN hris_employees e ON e.employee_id = c.account_owner_id GROUP BY ALL
    """).fetchall()
    assert rows and all(r[:4] == ("Sales", "Account Executive", "active", True) for r in rows), rows
    assert (
        scalar(
            db,
            "SELECT count(*) FROM crm_reps r JOIN hris_employees e USING (employee_id) "
            "WHERE e.role <> 'Account Executive'",
        )
        == 0
    )
    assert (
        scalar(
            db,
            "SELECT count(*) FROM crm_accounts a JOIN erp_customers c USING (customer_id) "
            "JOIN crm_reps r ON r.rep_id = a.owner_rep_id WHERE r.employee_id <> c.account_owner_id",
        )
        == 0
    )


def test_sites_lines_and_capacity(db: duckdb.DuckDBPyConnection) -> None:
    sites = dict(db.execute("SELECT site_id, region FROM erp_sites").fetchall())
    assert {"MKE": "NA", "BLQ": "EMEA", "MTY": "NA", "SZV": "APAC", "PNQ": "APAC"}.items() <= sites.items()
    assert set(sites.values()) == {"NA", "EMEA", "APAC", "LATAM"}
    per_site = dict(db.execute("SELECT site_id, count(*) FROM erp_lines GROUP BY 1").fetchall())
    assert len(per_site) == 8 and all(4 <= n <= 8 for n in per_site.values())
    assert scalar(db, "SELECT min(least(capacity_units_per_week, capacity_hours_per_week)) FROM erp_lines") > 0
    assert (
        scalar(
            db,
            """SELECT count(*) FROM erp_production p JOIN erp_lines l USING (line_id)
                         WHERE p.units_produced > l.capacity_units_per_week""",
        )
        == 0
    )
    assert (
        scalar(
            db,
            """SELECT min(n) FROM (SELECT family_id, count(DISTINCT l.site_id) n
                         FROM erp_line_capabilities c JOIN erp_lines l USING (line_id) GROUP BY 1)""",
        )
        >= 2
    )
    managers = db.execute("""SELECT e.function, e.role, e.status FROM erp_sites s
                             JOIN hris_employees e ON e.employee_id = s.plant_manager_id""").fetchall()
    assert managers == [("Operations", "Plant Manager", "active")] * 8
    assert (
        scalar(
            db,
            """SELECT count(DISTINCT site_id) FROM hris_employees
                         WHERE role = 'HR Business Partner' AND status = 'active'""",
        )
        == 8
    )


def test_order_calendar_and_backlog(db: duckdb.DuckDBPyConnection) -> None:
    first, last = db.execute("SELECT min(order_date), max(order_date) FROM erp_orders").fetchone()
    assert (str(first), str(last)) == ("2023-03-01", "2026-02-28")
    statuses = dict(db.execute("SELECT status, count(*) FROM erp_orders GROUP BY 1").fetchall())
    assert set(statuses) == {"open", "shipped", "cancelled"}
    assert statuses["open"] > 50
    late = scalar(db, "SELECT max(due_date) FROM erp_orders WHERE status = 'open'")
    assert str(late) < "2026-05-31"  # 13 weeks after AS_OF
    assert scalar(db, "SELECT count(*) FROM erp_orders WHERE status = 'open' AND due_date >= DATE '2026-03-01'") > 50
    bad_dates = """SELECT count(*) FROM erp_shipments s JOIN erp_orders o USING (order_id)
                   WHERE s.ship_date <= o.order_date OR s.delivered_date <= s.ship_date OR o.due_date < o.order_date"""
    assert scalar(db, bad_dates) == 0
    for view in [f"erp_{t}" for t in ERP_TABLES] + [f"crm_{t}" for t in CRM_TABLES] + ["service_tickets"]:
        assert str(scalar(db, f"SELECT max(updated_at) FROM {view}")) < "2026-03-01", view
    assert scalar(db, "SELECT count(*) FROM erp_orders WHERE promotion") > 0
    assert scalar(db, "SELECT count(DISTINCT price) FROM erp_price_list WHERE product_id = 'P00001'") >= 3


# --- planted signals --------------------------------------------------------------------------


def test_vibration_and_temperature_rise_before_failures(db: duckdb.DuckDBPyConnection) -> None:
    ratio, warmer, failures = db.execute("""
        WITH normal AS (SELECT machine_id, avg(vibration) v, avg(temperature) t
                        FROM telemetry_sensor_readings GROUP BY 1),
        f AS (SELECT machine_id, failed_at FROM gt_failures
              WHERE in_telemetry_window AND failed_at >= TIMESTAMP '2025-03-08')
        SELECT avg(r.vibration / n.v), avg(r.temperature - n.t), count(DISTINCT (f.machine_id, f.failed_at))
        FROM f JOIN telemetry_sensor_readings r ON r.machine_id = f.machine_id
             AND r.ts BETWEEN f.failed_at - INTERVAL 3 DAY AND f.failed_at
        JOIN normal n ON n.machine_id = f.machine_id
    """).fetchone()
    assert failures > 50
    assert ratio > 1.3 and warmer > 3.0
    causes = dict(db.execute("SELECT cause, count(*) FROM telemetry_downtime_events GROUP BY 1").fetchall())
    assert set(causes) == {"failure", "planned", "changeover"}


def test_quality_drift_on_the_named_line(acme: Generated, db: duckdb.DuckDBPyConnection) -> None:
    drift = json.loads((acme.path / "ground_truth/quality_drift.json").read_text())
    line, start = drift["line_id"], drift["start_date"]
    rate = "sum(defects) / sum(sampled_units)"
    before = scalar(
        db, f"SELECT {rate} FROM erp_quality_inspections WHERE line_id = '{line}' AND inspected_at < '{start}'"
    )
    after = scalar(
        db, f"SELECT {rate} FROM erp_quality_inspections WHERE line_id = '{line}' AND inspected_at >= '2025-10-01'"
    )
    others_after = scalar(
        db, f"SELECT {rate} FROM erp_quality_inspections WHERE line_id <> '{line}' AND inspected_at >= '{start}'"
    )
    assert after > 2.5 * before and after > 2 * others_after


def test_supplier_delays_grow(acme: Generated, db: duckdb.DuckDBPyConnection) -> None:
    supplier = json.loads((acme.path / "ground_truth/supplier_delays.json").read_text())["supplier_id"]

    def mean_delay(where: str) -> float:
        return float(scalar(db, f"SELECT avg(received_date - promised_date) FROM erp_purchase_orders WHERE {where}"))

    early = mean_delay(f"supplier_id = '{supplier}' AND order_date < '2023-09-01'")
    late = mean_delay(f"supplier_id = '{supplier}' AND order_date >= '2025-06-01'")
    others = mean_delay(f"supplier_id <> '{supplier}' AND order_date >= '2025-06-01'")
    assert late - early > 10 and late - others > 10


def test_price_elasticity_is_recoverable(acme: Generated, db: duckdb.DuckDBPyConnection) -> None:
    text = (acme.path / "ground_truth/price_elasticity.csv").read_text().splitlines()
    truth = {r["family_id"]: float(r["elasticity"]) for r in csv.DictReader(text)}
    estimates = dict(
        db.execute("""
        WITH ref AS (SELECT product_id, arg_min(price, valid_from) AS ref_price FROM erp_price_list GROUP BY 1),
        x AS (SELECT p.family_id, l.product_id, c.segment, ln(l.qty) lq,
                     ln(l.unit_price * (1 - l.discount_pct / 100) / ref.ref_price) lp
              FROM erp_order_lines l JOIN erp_products p USING (product_id) JOIN ref USING (product_id)
              JOIN erp_orders o USING (order_id) JOIN erp_customers c USING (customer_id)),
        d AS (SELECT family_id, lq - avg(lq) OVER w y, lp - avg(lp) OVER w x FROM x
              WINDOW w AS (PARTITION BY product_id, segment))
        SELECT family_id, regr_slope(y, x) FROM d GROUP BY 1
    """).fetchall()
    )
    # families sold in volume recover their elasticity from order lines; ordering holds overall
    for family in ("BEAR", "VALVE", "FILT", "MOTOR", "PUMP"):
        assert abs(estimates[family] - truth[family]) < 0.35, (family, estimates[family], truth[family])
    assert estimates["BEAR"] < estimates["MOTOR"] < estimates["CTRL"]


def test_attrition_follows_the_documented_drivers() -> None:
    from companybrain.demo.common import SCALES
    from companybrain.demo.company import generate_company
    from companybrain.demo.people import generate_people

    people = generate_people(SCALES["medium"], 7, generate_company(SCALES["medium"], 7))
    con = duckdb.connect()
    for name in ("employees", "overtime_monthly", "manager_changes", "pay_bands"):
        con.register(name, people.tables[f"hris.{name}"])
    con.execute("""
        CREATE TABLE f AS SELECT e.employee_id, e.status = 'exited' AS left_, e.performance_rating AS rating,
            e.salary / b.salary_midpoint AS compa, o.ot, coalesce(m.changes, 0) AS changes
        FROM employees e JOIN pay_bands b USING (pay_band_id)
        JOIN (SELECT employee_id, avg(overtime_hours) ot FROM overtime_monthly GROUP BY 1) o USING (employee_id)
        LEFT JOIN (SELECT employee_id, count(*) changes FROM manager_changes GROUP BY 1) m USING (employee_id)
        WHERE e.role NOT LIKE '%Manager%' AND e.role NOT LIKE 'Head of%' AND e.role NOT LIKE 'Chief%'
          AND e.role NOT LIKE 'VP%' AND e.role NOT IN ('Shift Supervisor', 'Plant Manager')
    """)

    def exit_rate(where: str) -> float:
        return float(scalar(con, f"SELECT avg(left_::int) FROM f WHERE {where}"))

    q1, q3 = con.execute("SELECT quantile_cont(ot, 0.25), quantile_cont(ot, 0.75) FROM f").fetchone()
    assert exit_rate(f"ot >= {q3}") > 1.3 * exit_rate(f"ot <= {q1}")
    assert exit_rate("compa < 0.93") > 1.2 * exit_rate("compa > 1.07")
    assert exit_rate("rating = 1") > 1.5 * exit_rate("rating >= 4")
    # manager changes act through the trailing 12 months: compare monthly exit rates
    monthly = dict(
        con.execute("""
        WITH em AS (
            SELECT o.employee_id, o.month,
                   coalesce(e.exit_date >= o.month AND e.exit_date < o.month + INTERVAL 1 MONTH, false) AS left_
            FROM overtime_monthly o JOIN employees e USING (employee_id)
            WHERE e.hire_date < o.month AND employee_id IN (SELECT employee_id FROM f))
        SELECT count(c.change_id) > 0 AS recent_change, avg(any_value(em.left_)::int) OVER (PARTITION BY recent_change)
        FROM em LEFT JOIN manager_changes c ON c.employee_id = em.employee_id
             AND date_trunc('month', c.changed_at) BETWEEN em.month - INTERVAL 11 MONTH AND em.month
        GROUP BY em.employee_id, em.month
    """).fetchall()
    )
    assert monthly[True] > 1.3 * monthly[False]
    con.close()


def test_malformed_hris_rows_are_planted_and_documented(acme: Generated) -> None:
    path = acme.path / "sources/hris/overtime_monthly.csv"
    with path.open(newline="") as handle:
        rows = list(csv.reader(handle))
    header, data = rows[0], rows[1:]
    assert header == ["employee_id", "month", "overtime_hours"]
    wrong_width = [i + 2 for i, r in enumerate(data) if len(r) != 3]
    not_numeric = [i + 2 for i, r in enumerate(data) if len(r) == 3 and r[2] == "n/a"]
    assert len(wrong_width) == 2 and len(not_numeric) == 3
    for r in data:
        if len(r) == 3 and r[2] != "n/a":
            float(r[2])
    documented = json.loads((acme.path / "ground_truth/hris_malformed_rows.json").read_text())
    assert sorted(d["line"] for d in documented) == sorted(wrong_width + not_numeric)
    assert "n/a" in (acme.path / "ground_truth/README.md").read_text()
    for other in HRIS_TABLES:
        if other != "overtime_monthly":
            with (acme.path / f"sources/hris/{other}.csv").open(newline="") as handle:
                widths = {len(r) for r in csv.reader(handle)}
            assert len(widths) == 1, other


def test_one_prompt_injection_ticket(acme: Generated, db: duckdb.DuckDBPyConnection) -> None:
    hits = db.execute(
        "SELECT ticket_id FROM service_tickets WHERE body ILIKE '%ignore previous instructions%'"
    ).fetchall()
    documented = json.loads((acme.path / "ground_truth/prompt_injection.json").read_text())
    assert hits == [(documented["ticket_id"],)]
    assert f"Ticket **{documented['ticket_id']}**" in (acme.path / "ground_truth/README.md").read_text()


# --- bigger and remote ------------------------------------------------------------------------


@pytest.mark.slow
def test_the_demo_ingests_builds_and_passes_its_contracts(acme: Generated, tmp_path: Path) -> None:
    from companybrain.brain import Brain

    out = generate_demo(tmp_path / "acme", scale="small", seed=11).out
    with Brain.open(out) as brain:
        loads = brain.ingest()
        assert sum(s.rows_quarantined for s in loads) == 5  # exactly the planted HRIS rows
        report = brain.build()
        failed = [r for r in brain.contracts() if not r.passed]
    assert report.objects["OrderLine"] > 40_000
    assert failed == []


@pytest.mark.slow
def test_medium_scale_generates_in_under_two_minutes(tmp_path: Path) -> None:
    summary = generate_demo(tmp_path / "medium", scale="medium", seed=7)
    assert summary.seconds < 120
    assert 1_900_000 <= summary.tables["erp.order_lines"] <= 2_100_000
    assert summary.tables["hris.employees"] == 20_000
    assert summary.tables["erp.products"] == 2_000 and summary.tables["erp.customers"] == 5_000


@pytest.mark.services
def test_erp_in_postgresql_and_crm_in_mariadb(tmp_path: Path, pg_url: str, mysql_url: str) -> None:
    import connectorx as cx
    import psycopg

    erp_url = pg_url + "_erp"  # does not exist yet: the generator creates it
    try:
        summary = generate_demo(tmp_path / "acme", scale="small", seed=7, erp_url=erp_url, crm_url=mysql_url)
        summary = generate_demo(tmp_path / "acme", scale="small", seed=7, erp_url=erp_url, crm_url=mysql_url)
        assert not (tmp_path / "acme/sources/erp.sqlite").exists()
        assert not (tmp_path / "acme/sources/crm.sqlite").exists()
        for table in ERP_TABLES:
            count = cx.read_sql(erp_url, f"SELECT count(*) AS n FROM {table}", return_type="arrow")["n"][0].as_py()
            assert count == summary.tables[f"erp.{table}"], table
        for table in CRM_TABLES:
            count = cx.read_sql(mysql_url, f"SELECT count(*) AS n FROM {table}", return_type="arrow")["n"][0].as_py()
            assert count == summary.tables[f"crm.{table}"], table
        with psycopg.connect(erp_url) as con:
            keys = con.execute("""SELECT count(*) FROM information_schema.table_constraints
                                  WHERE constraint_type = 'PRIMARY KEY' AND table_schema = 'public'""").fetchone()
            types = dict(
                con.execute("""SELECT column_name, data_type FROM information_schema.columns
                                        WHERE table_name = 'orders'""").fetchall()
            )
        assert keys == (len(ERP_TABLES),)
        assert types["updated_at"] == "timestamp without time zone" and types["order_date"] == "date"
        project = Project.load(tmp_path / "acme")
        urls = {s.name: getattr(s, "url", None) for s in project.spec.sources}
        assert urls["erp"] == erp_url and urls["crm"] == mysql_url
    finally:
        with psycopg.connect(pg_url.rsplit("/", 1)[0] + "/postgres", autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{erp_url.rsplit("/", 1)[1]}" WITH (FORCE)')

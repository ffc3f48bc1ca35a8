"""No text a user sends becomes SQL, and no path shows what a policy hides (issue 13).

Each test here fails on the code before the fix it guards: a dotted dimension pasted into SQL, masked
values shown through a key grain, many-to-many links that ignored row filters, an audit chain that could
be rewritten whole.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import uuid
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import sqlglot
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlglot import exp

from companybrain import Brain
from companybrain.errors import BrainError
from companybrain.governance.audit import AUDIT, COLUMNS
from companybrain.governance.policy import Policy
from companybrain.semantic.compiler import compile_query
from companybrain.semantic.objects import _select
from companybrain.semantic.query import MetricQuery
from companybrain.warehouse.ddl import col

# pieces of SQL an attacker reaches for: statements, comments, quoting, table functions, files
FRAGMENTS = [
    "'",
    '"',
    ";",
    "--",
    "/*",
    "*/",
    "(",
    ")",
    ",",
    ".",
    " ",
    "\x00",
    "\n",
    "$1",
    "?",
    "CALL FROM (SELECT 1 AS call)) SELECT employee_id, email, salary FROM ontology.employee --",
    "; DELETE FROM brain.audit_log; SELECT 1",
    "read_blob('/etc/*.conf')",
    "getenv('HOME')",
    "UNION SELECT salary FROM ontology.employee",
    "ATTACH 'x.db'",
    "COPY ontology.employee TO '/tmp/x.csv'",
    "PRAGMA version",
    "ontology.employee",
    "brain.audit_log",
    "Customer.region",
    "order.customer.segment",
    "Employee.salary",
    "region",
    "revenue",
    "month",
    "2025-Q4",
    "= 'EMEA'",
    " OR 1=1",
]
hostile = st.lists(st.sampled_from(FRAGMENTS) | st.text(max_size=12), min_size=1, max_size=6).map("".join)


@pytest.fixture(scope="module")
def demo(small_demo: Any) -> Iterator[Brain]:
    brain = Brain.open(small_demo("security"))
    yield brain
    brain.close()


def _allowed_names(brain: Brain, query: MetricQuery) -> set[str]:
    names = {p for obj in brain.project.objects.values() for p in obj.properties}
    names |= set(brain.project.metrics) | set(query.by) | {f"d{i}" for i in range(len(query.by))}
    names |= {f"__n{i}" for i in range(64)} | {f"__all{i}" for i in range(64)}
    return names


def _assert_one_read_of_the_model(sql: str, allowed: set[str], functions: frozenset[str]) -> None:
    """The SQL is one SELECT over ontology tables and its own CTEs, naming only the model's columns."""
    statements = sqlglot.parse(sql, read="duckdb")
    assert len(statements) == 1, sql
    tree = statements[0]
    assert isinstance(tree, exp.Query), sql
    ctes = {cte.alias_or_name for cte in tree.find_all(exp.CTE)}
    for node in tree.walk():
        assert not isinstance(node, exp.Command | exp.Insert | exp.Delete | exp.Update | exp.Drop | exp.Create), sql
        if isinstance(node, exp.Table):
            assert node.db == "ontology" or (not node.db and node.name in ctes), sql
        if isinstance(node, exp.Column):
            assert node.name in allowed, (node.name, sql)
        if isinstance(node, exp.Anonymous):
            assert node.name.lower() in functions, sql


def _compile(brain: Brain, query: MetricQuery, user: str) -> str | None:
    policy = Policy(brain.project, brain.principal(user))
    try:
        compiled = compile_query(brain.semantic, query, policy, date(2026, 3, 1))
    except BrainError:
        return None  # refused with a clear error: what a hostile input should get
    return compiled.tree.sql(dialect="duckdb")


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
@given(text=hostile, slot=st.sampled_from(["by", "by_path", "where", "period", "order", "metric"]))
def test_hostile_text_in_any_query_slot_compiles_to_one_read_of_the_model(demo: Brain, text: str, slot: str) -> None:
    queries = {
        "by": MetricQuery(("revenue",), by=(text,)),
        "by_path": MetricQuery(("revenue",), by=(f"order.customer.{text}",)),
        "where": MetricQuery(("revenue",), by=("region",), where=text),
        "period": MetricQuery(("revenue",), period=text),
        "order": MetricQuery(("revenue",), by=("region",), order_by=(text,)),
        "metric": MetricQuery((text,)),
    }
    query = queries[slot]
    for user in ("emea_rep", "mke_plant_manager"):
        sql = _compile(demo, query, user)
        if sql is not None:
            _assert_one_read_of_the_model(sql, _allowed_names(demo, query), demo.semantic.functions)


@settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
@given(text=hostile, slot=st.sampled_from(["where", "columns"]))
def test_hostile_text_in_object_reads_compiles_to_one_read_of_the_model(demo: Brain, text: str, slot: str) -> None:
    policy = Policy(demo.project, demo.principal("emea_rep"))
    try:
        if slot == "where":
            select, _ = _select(demo.semantic, policy, "Customer", text)
        else:
            select, _ = _select(demo.semantic, policy, "Customer", None, [text])
    except BrainError:
        return
    names = {p for obj in demo.project.objects.values() for p in obj.properties}
    _assert_one_read_of_the_model(select.sql(dialect="duckdb"), names, demo.semantic.functions)


def test_a_literal_keeps_every_byte_and_stays_a_literal(demo: Brain) -> None:
    """Quotes, comments and statements inside a string compared in a filter are data, on the warehouse too."""
    before = demo.audit.verify()["records"]
    for value in ["O'Brien", "x'; DELETE FROM brain.audit_log; --", "*/ SELECT 1 /*", "$1 ? %s", "é\\n\\'"]:
        quoted = value.replace("'", "''")
        rows = demo.objects("Customer", where=f"region = '{quoted}'", user="emea_rep")
        assert rows == []
        compiled = compile_query(
            demo.semantic,
            MetricQuery(("revenue",), where=f"order.customer.name = '{quoted}'"),
            Policy(demo.project, demo.principal("emea_rep")),
            date(2026, 3, 1),
        )
        literals = [lit.this for lit in sqlglot.parse_one(compiled.tree.sql("duckdb")).find_all(exp.Literal)]
        assert value in literals
    report = demo.audit.verify()
    assert report["ok"] and report["records"] > before


def test_the_reported_injections_are_refused_and_change_nothing(demo: Brain, run_cli: Any) -> None:
    root = str(demo.project.root)
    demo.close()  # the CLI opens the warehouse itself
    salary = "salary"
    attacks = [
        "CALL FROM (SELECT 1 AS call)) SELECT employee_id, email, salary FROM ontology.employee --",
        "CALL FROM (SELECT 1 AS call)); DELETE FROM brain.audit_log; SELECT 1 AS x --",
        "CALL FROM (SELECT 1 AS call)) SELECT * FROM read_blob('/etc/*.conf') --",
        'Customer.region"',
    ]
    code, out, _ = run_cli("-p", root, "audit", "verify", "--format", "json")
    records = json.loads(out)["records"]
    for attack in attacks:
        code, out, err = run_cli("-p", root, "query", "revenue", "--as", "emea_rep", "--by", attack, "--format", "json")
        assert code == 1 and "is not a name" in err, (attack, out, err)
        assert "@acme-industrial.example" not in out + err and "/etc/" not in out and salary not in out
    code, out, _ = run_cli("-p", root, "audit", "verify", "--format", "json")
    report = json.loads(out)
    assert code == 0 and report["ok"] and report["records"] == records + len(attacks)  # the refusals are audited


def _rows(brain: Brain, query: MetricQuery, user: str) -> tuple[list[list[Any]], list[str]]:
    result = brain.query(query, user)
    return result.rows, result.notes


def test_a_breakdown_that_isolates_objects_withholds_the_masked_measure(demo: Brain) -> None:
    # the CEO sees payroll by site, never one person's salary
    by_site, notes = _rows(demo, MetricQuery(("headcount_cost",), by=("site",)), "ceo")
    assert all(value is not None and value > 0 for _, value in by_site) and not notes
    by_person, notes = _rows(demo, MetricQuery(("headcount_cost",), by=("Employee.employee_id",), limit=50), "ceo")
    assert by_person and all(value is None for _, value in by_person)
    assert "withheld" in notes[-1] and "5 Employee" in notes[-1]
    one, _ = _rows(demo, MetricQuery(("headcount_cost",), where="Employee.employee_id = 'E000001'"), "ceo")
    assert one == [[None]]
    # the complement of a filter: the total minus "everyone but one" would be that one
    all_but_one, _ = _rows(
        demo, MetricQuery(("headcount_cost",), by=("site",), where="Employee.employee_id <> 'E000001'"), "ceo"
    )
    site_of_e1 = demo.object("Employee", "E000001", "data_steward")["properties"]["site_id"]
    names = {r["site_id"]: r["name"] for r in demo.objects("Site", limit=None)}
    assert dict(all_but_one)[names[site_of_e1]] is None
    assert sum(1 for _, v in all_but_one if v is None) == 1


def test_revenue_by_order_is_withheld_where_order_totals_are_masked(demo: Brain) -> None:
    by_order, notes = _rows(demo, MetricQuery(("revenue",), by=("Order.order_id",), limit=20), "mke_plant_manager")
    assert by_order and all(value is None for _, value in by_order) and "Order" in notes[-1]
    by_site, notes = _rows(demo, MetricQuery(("revenue",), by=("site",), period="2025"), "mke_plant_manager")
    assert by_site[0][1] > 0 and not [n for n in notes if "withheld" in n]
    # finance sees order totals: nothing to withhold
    by_order, notes = _rows(demo, MetricQuery(("revenue",), by=("Order.order_id",), limit=20), "cfo")
    assert all(value is not None for _, value in by_order) and not notes


def test_many_to_many_links_hold_the_row_filters(demo: Brain) -> None:
    everyone = demo.object("Skill", "SK001", "data_steward")["links"]["employees"]
    regions = {e["employee_id"]: e["region"] for e in demo.objects("Employee", limit=None, user="emea_hrbp")}
    for user, visible in [("emea_hrbp", set(regions)), ("mke_plant_manager", None)]:
        seen = demo.object("Skill", "SK001", user)["links"]["employees"]
        assert seen["count"] < everyone["count"]
        if visible is not None:
            assert set(seen["keys"]) <= visible and all(regions[k] == "EMEA" for k in seen["keys"])
        else:
            sites = {e["site_id"] for e in demo.objects("Employee", limit=None, user=user)}
            assert sites == {"MKE"}
            mke = {e["employee_id"] for e in demo.objects("Employee", limit=None, user=user)}
            assert set(seen["keys"]) <= mke


def test_a_row_that_links_to_no_filtered_object_passes_only_where_the_filter_says_so(demo: Brain) -> None:
    """The rep's Customer filter says `unlinked: visible`: an opportunity of an EMEA prospect account (no ERP
    customer) is the rep's by the account's region; one of an account of another region, or of a customer of
    another region, is not. Other filters keep the default: a row with no linked object is hidden."""
    accounts = {a["account_id"]: a for a in demo.objects("Account", limit=None, user="data_steward")}
    customers = {c["customer_id"]: c["region"] for c in demo.objects("Customer", limit=None, user="data_steward")}
    everyone = demo.objects("Opportunity", limit=None, user="data_steward")

    def allowed(o: dict[str, Any]) -> bool:
        account = accounts[o["account_id"]]
        return account["region"] == "EMEA" and customers.get(account["customer_id"], "EMEA") == "EMEA"

    seen = {o["opportunity_id"] for o in demo.objects("Opportunity", limit=None, user="emea_rep")}
    assert seen == {o["opportunity_id"] for o in everyone if allowed(o)}
    prospects = {o["opportunity_id"] for o in everyone if accounts[o["account_id"]]["customer_id"] is None}
    assert seen & prospects, "the small demo has EMEA prospect accounts with opportunities"
    assert not {o["account_id"] for o in everyone if o["opportunity_id"] in seen} - {
        k for k, a in accounts.items() if a["region"] == "EMEA"
    }
    rep, steward = Policy(demo.project, demo.principal("emea_rep")), Policy(demo.project, demo.principal("ceo"))
    assert rep.unlinked_visible("Customer") and not rep.unlinked_visible("Account")
    assert not Policy(demo.project, demo.principal("mke_plant_manager")).unlinked_visible("Site")
    assert not steward.unlinked_visible("Customer")  # no filter, nothing to pass


def test_an_unlinked_setting_off_the_list_is_refused_with_file_and_line(tmp_path: Path) -> None:
    from companybrain.errors import ConfigError
    from companybrain.specs import yaml_loader
    from companybrain.specs.policies import RowFilter

    bad = tmp_path / "filter.yaml"
    bad.write_text('object: Customer\nwhere: "region = principal.region"\nunlinked: "visible; DROP TABLE x"\n')
    with pytest.raises(ConfigError, match="unlinked"):
        yaml_loader.load(RowFilter, bad, str(bad))


@pytest.fixture(scope="module")
def pg_demo(small_demo: Any) -> Iterator[Brain]:
    """The same small demo with its warehouse on PostgreSQL (a database of its own, dropped afterwards)."""
    from tests.conftest import PG_ADMIN, _pg_admin

    name = f"cb_test_{uuid.uuid4().hex[:10]}"
    with _pg_admin() as con:
        con.execute(f'CREATE DATABASE "{name}"')
    source = small_demo("security_pg_source")
    root = source.parent / "security_pg"
    shutil.copytree(source, root, ignore=shutil.ignore_patterns(".brain"))
    url = PG_ADMIN.rsplit("/", 1)[0] + f"/{name}"
    (root / "brain.yaml").write_text(
        (root / "brain.yaml").read_text().replace("duckdb:///.brain/warehouse.duckdb", url)
    )
    brain = Brain.open(root)
    try:
        brain.ingest()
        brain.build()
        yield brain
    finally:
        brain.close()
        with _pg_admin() as con:
            con.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.mark.services
@pytest.mark.parametrize(
    "check",
    [
        test_a_breakdown_that_isolates_objects_withholds_the_masked_measure,
        test_revenue_by_order_is_withheld_where_order_totals_are_masked,
        test_many_to_many_links_hold_the_row_filters,
    ],
    ids=["isolating-breakdown", "masked-order-totals", "many-to-many"],
)
def test_the_policies_hold_on_postgresql(pg_demo: Brain, check: Any) -> None:
    """Masking meets grouping and row filters through many-to-many links, with the warehouse on PostgreSQL."""
    assert pg_demo.warehouse.dialect == "postgres"
    check(pg_demo)


def _rewrite_chain(brain: Brain, change: dict[str, Any]) -> None:
    """What an attacker with SQL access can do: edit a record and re-chain every record with SHA-256."""
    wh = brain.warehouse
    rows = wh.query_arrow(exp.select(*[col(c) for c in COLUMNS]).from_(AUDIT).order_by(col("seq"))).to_pylist()
    rows[0].update(change)
    previous = "0" * 64
    with wh.transaction():
        wh.execute(exp.delete(AUDIT))
        for row in rows:
            row["prev_hash"] = previous
            body = json.dumps({k: row[k] for k in COLUMNS if k != "hash"}, sort_keys=True, default=str).encode()
            row["hash"] = previous = hashlib.sha256(body).hexdigest()
            from companybrain.warehouse.ddl import insert_values

            wh.execute(insert_values(AUDIT, row))


def test_a_chain_rewritten_whole_is_caught_without_an_anchor(semantic_brain: Brain) -> None:
    brain = semantic_brain
    brain.query(MetricQuery(("revenue",)), "ceo")
    brain.query(MetricQuery(("revenue",)), "emea_rep")
    report = brain.audit.verify()
    assert report["ok"] and report["keyed"] and Path(report["keyed"]["key_file"]).stat().st_mode & 0o077 == 0
    _rewrite_chain(brain, {"user_name": "nobody"})
    report = brain.audit.verify()
    assert not report["ok"]
    assert any("edited" in p["problem"] for p in report["problems"])


def test_a_missing_audit_key_is_reported(semantic_brain: Brain) -> None:
    brain = semantic_brain
    brain.query(MetricQuery(("revenue",)), "ceo")
    key = Path(brain.audit.verify()["keyed"]["key_file"])
    key.unlink()
    report = brain.audit.verify()
    assert not report["ok"] and "audit key" in report["problems"][0]["problem"]


def test_a_time_grain_over_a_masked_time_column_shows_only_large_groups(demo: Brain) -> None:
    """Exits by quarter are the exits metric's own time column (masked for the CEO): allowed, as the metric
    is granted; by day, the small groups of people leaving are withheld."""
    by_quarter, notes = _rows(demo, MetricQuery(("exits",), by=("quarter",), period="2025"), "ceo")
    assert len(by_quarter) == 4 and all(v is not None and v >= 5 for _, v in by_quarter) and not notes
    by_day, notes = _rows(demo, MetricQuery(("exits",), by=("day",), period="2025-03"), "ceo")
    assert by_day and all(v is None for _, v in by_day) and "withheld" in notes[-1]

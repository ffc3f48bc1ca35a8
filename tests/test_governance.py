"""Policies on every read: users x metrics x objects, row filters, masking, explicit denials, the audit chain."""

from __future__ import annotations

import json

import pytest
from sqlglot import exp

from companybrain import Brain
from companybrain.errors import NotFound, PolicyDenied, QueryError
from companybrain.governance.audit import AUDIT
from companybrain.semantic.query import MetricQuery
from tests.semantic_shop import expected_by_region


@pytest.fixture
def brain(semantic_brain: Brain) -> Brain:
    return semantic_brain


# who may read what: metric -> users allowed (everyone else is denied, explicitly)
METRIC_ACCESS = {
    "revenue": {"ceo", "emea_rep"},
    "big_orders": {"ceo"},
    "revenue_per_order": {"ceo", "emea_rep"},
    "payroll": {"hrbp"},
}
OBJECT_ACCESS = {
    "Customer": {"ceo", "emea_rep"},
    "Order": {"ceo", "emea_rep"},
    "Employee": {"hrbp"},
}
USERS = ["ceo", "emea_rep", "hrbp"]


@pytest.mark.parametrize("user", USERS)
def test_metric_matrix(brain: Brain, user: str) -> None:
    for metric, allowed in METRIC_ACCESS.items():
        if user in allowed:
            assert brain.query(MetricQuery((metric,)), user).rows
        else:
            with pytest.raises(PolicyDenied) as info:
                brain.query(MetricQuery((metric,)), user)
            assert user in info.value.message and info.value.policy


@pytest.mark.parametrize("user", USERS)
def test_object_matrix(brain: Brain, user: str) -> None:
    for type_name, allowed in OBJECT_ACCESS.items():
        if user in allowed:
            assert brain.count_objects(type_name, user=user) > 0
        else:
            with pytest.raises(PolicyDenied, match=f"may not read {type_name}"):
                brain.objects(type_name, user=user)


def test_hr_data_is_denied_by_default_even_to_wildcard_roles(brain: Brain) -> None:
    with pytest.raises(PolicyDenied, match="HR data is readable only by roles that name it") as info:
        brain.query(MetricQuery(("payroll",)), "ceo")
    assert info.value.policy == "default-hr-deny"


def test_row_filter_follows_links(brain: Brain) -> None:
    expected = expected_by_region()
    [[revenue]] = brain.query(MetricQuery(("revenue",)), "emea_rep").rows
    assert revenue == pytest.approx(expected["EMEA"]["revenue"])  # OrderLine -> Order -> Customer.region
    by_region = brain.query(MetricQuery(("orders",), by=("region",)), "emea_rep").rows
    assert by_region == [["EMEA", expected["EMEA"]["orders"]]]
    result = brain.query(MetricQuery(("orders",)), "emea_rep")
    assert result.policy["row_filters"] == ["Customer: region = 'EMEA'"]
    assert brain.count_objects("Order", user="emea_rep") == expected["EMEA"]["orders"]
    assert brain.count_objects("Customer", user="emea_rep") == 17
    assert {c["region"] for c in brain.objects("Customer", limit=100, user="emea_rep")} == {"EMEA"}


def test_missing_attribute_denies_instead_of_showing_everything(brain: Brain) -> None:
    with pytest.raises(PolicyDenied, match="has no attribute 'region'"):
        brain.query(MetricQuery(("revenue",)), "nowhere_rep")


def test_masking(brain: Brain) -> None:
    [for_rep] = brain.objects("Customer", where="customer_id = 4", user="emea_rep")
    assert for_rep["name"] == "***" and for_rep["region"] == "EMEA"
    [for_ceo] = brain.objects("Customer", where="customer_id = 4", user="ceo")
    assert for_ceo["name"] == "Customer 4"
    with pytest.raises(PolicyDenied, match="masked"):
        brain.objects("Customer", where="name = 'Customer 4'", user="emea_rep")
    with pytest.raises(PolicyDenied, match="masked"):
        brain.query(MetricQuery(("orders",), by=("Customer.name",)), "emea_rep")
    [ada] = brain.objects("Employee", where="employee_id = 'E1'", user="hrbp")
    assert ada["full_name"] == "Ada Lovelace" and ada["salary"] == 91000


def test_reading_some_columns_keeps_the_policies(brain: Brain) -> None:
    table = brain.read("Customer", user="emea_rep", columns=["customer_id", "name"])
    assert table.column_names == ["customer_id", "name"]  # only those, in that order
    assert table.num_rows == 17 and set(table.column("name").to_pylist()) == {"***"}  # row filter and mask hold
    assert brain.read("Customer", user="ceo", columns=["name"]).column("name")[0].as_py().startswith("Customer ")
    with pytest.raises(QueryError, match="Customer has no property 'nmae'; did you mean 'name'"):
        brain.read("Customer", user="ceo", columns=["nmae"])
    [last] = [r for r in brain.audit.tail(2) if r["action"] == "objects"][-1:]
    assert '"columns": ["nmae"]' in last["request"] and last["outcome"] == "error: QueryError"


def test_linked_objects_respect_policies(brain: Brain) -> None:
    order = brain.object("Order", "3", user="emea_rep")  # order 3 belongs to customer 4, in EMEA
    assert order["links"]["customer"]["object"]["name"] == "***"
    with pytest.raises(NotFound, match="that user 'emea_rep' may see"):
        brain.object("Order", "4", user="emea_rep")  # customer 5 is in APAC
    customer = brain.object("Customer", "4", user="ceo")
    assert customer["links"]["orders"]["count"] == 60


def test_every_read_is_audited_and_the_chain_detects_tampering(brain: Brain, run_cli) -> None:
    brain.query(MetricQuery(("revenue",)), "emea_rep")
    with pytest.raises(PolicyDenied):
        brain.query(MetricQuery(("payroll",)), "emea_rep")
    brain.objects("Customer", limit=3, user="ceo")
    records = brain.audit.tail(10)
    assert [(r["user_name"], r["action"], r["outcome"]) for r in records] == [
        ("emea_rep", "query", "ok"),
        ("emea_rep", "query", "denied: default-hr-deny"),
        ("ceo", "objects", "ok"),
    ]
    assert records[0]["sql"] and records[0]["row_count"] == 1 and records[0]["data_version"] == "build-1"
    assert json.loads(records[0]["request"])["metrics"] == ["revenue"]
    report = brain.audit.verify()
    assert (report["ok"], report["records"], report["problems"]) == (True, 3, [])
    anchor = f"{report['head']['seq']}:{report['head']['hash']}"
    assert brain.audit.verify(anchor)["ok"]
    # someone edits who asked
    brain.warehouse.execute(
        exp.update(AUDIT, {"user_name": exp.Literal.string("ceo")}, where=exp.column("seq").eq(exp.Literal.number(1)))
    )
    report = brain.audit.verify()
    assert not report["ok"] and report["problems"][0]["seq"] == 1 and "edited" in report["problems"][0]["problem"]
    root = str(brain.project.root)
    brain.close()
    code, out, _ = run_cli("-p", root, "audit", "verify", "--format", "json")
    assert code == 1 and json.loads(out)["ok"] is False


def test_a_removed_record_breaks_the_chain(brain: Brain) -> None:
    for _ in range(3):
        brain.query(MetricQuery(("orders",)), "ceo")
    brain.warehouse.execute(exp.delete(AUDIT, where=exp.column("seq").eq(exp.Literal.number(2))))
    problems = brain.audit.verify()["problems"]
    assert [p["seq"] for p in problems] == [3, 3] and "missing" in problems[0]["problem"]


def test_an_anchor_catches_records_cut_off_the_end(brain: Brain) -> None:
    for _ in range(3):
        brain.query(MetricQuery(("orders",)), "ceo")
    head = brain.audit.verify()["head"]
    brain.warehouse.execute(exp.delete(AUDIT, where=exp.column("seq").eq(exp.Literal.number(3))))
    assert brain.audit.verify()["ok"]  # the chain alone cannot see a cut tail
    report = brain.audit.verify(f"{head['seq']}:{head['hash']}")
    assert not report["ok"] and "cut or rewritten" in report["problems"][0]["problem"]

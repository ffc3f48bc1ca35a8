"""Build the ontology, check contracts (planted violations), look objects up — on every warehouse."""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime
from pathlib import Path

import pytest

from companybrain import Brain
from companybrain.errors import ConfigError, ContractFailed, NotFound, QueryError
from tests.shop import make_shop


@pytest.fixture
def shop(tmp_path: Path, warehouse_url: str) -> Brain:
    brain = Brain.open(make_shop(tmp_path / "shop", warehouse=warehouse_url))
    brain.ingest()
    yield brain
    brain.close()


def erp(brain: Brain, sql: str) -> None:
    con = sqlite3.connect(brain.project.root / "sources" / "erp.sqlite")
    con.execute(sql)
    con.commit()
    con.close()


def test_build_materializes_typed_properties(shop: Brain) -> None:
    report = shop.build()
    assert report.objects == {"Customer": 50, "Order": 3000, "Employee": 3}
    assert all(c.passed for c in report.contracts)
    [order] = shop.objects("Order", where="order_id = 150")
    assert order == {"order_id": 150, "customer_id": 1, "amount": 160.0, "ordered_at": order["ordered_at"], "big": True}
    assert order["ordered_at"].isoformat() == "2025-01-01T10:30:00"
    [ada] = shop.objects("Employee", where="site = 'Milwaukee' and salary < 95000")
    assert ada["full_name"] == "Ada Lovelace"


def test_object_with_links(shop: Brain) -> None:
    shop.build()
    customer = shop.object("Customer", "7")
    assert customer["properties"]["region"] == "EMEA"
    orders = customer["links"]["orders"]
    assert orders["count"] == 60 and orders["keys"][:3] == [6, 56, 106]
    order = shop.object("Order", "56")
    assert order["links"]["customer"]["object"]["name"] == "Customer 7"


def test_counts_and_filters(shop: Brain) -> None:
    shop.build()
    assert shop.count_objects("Order") == 3000
    assert shop.count_objects("Order", "big") == sum(1 for i in range(1, 3001) if 10 + i % 200 > 100)
    assert shop.count_objects("customer", "region IN ('NA', 'APAC')") == 33  # type names are forgiving on case
    with pytest.raises(QueryError, match="did you mean 'region'"):
        shop.count_objects("Customer", "regoin = 'NA'")
    with pytest.raises(QueryError, match="may not use"):
        shop.count_objects("Customer", "customer_id IN (SELECT 1)")


def test_blocking_contract_keeps_last_good_version(shop: Brain) -> None:
    shop.build()
    erp(shop, "UPDATE orders SET customer_id = 999, updated_at = '2026-01-01 00:00:00' WHERE order_id IN (3, 4)")
    erp(shop, "UPDATE customers SET region = 'MARS', updated_at = '2026-01-01 00:00:00' WHERE customer_id = 5")
    shop.ingest(["erp"])
    with pytest.raises(ContractFailed) as info:
        shop.build()
    message = info.value.message
    assert "Order links_resolve(customer): 2 link(s) to a missing Customer" in message
    assert "Customer accepted_values(region)" in message
    assert shop.object("Order", "3")["properties"]["customer_id"] == 4  # the previous version is still served
    results = {(r.object, r.contract): r for r in shop.contracts()}
    assert results[("Order", "links_resolve")].passed  # contracts on the live (kept) objects


def test_contracts_catch_planted_violations(shop: Brain, tmp_path: Path) -> None:
    path = shop.project.root / "ontology" / "shop.yaml"
    text = path.read_text().replace(
        "- {type: row_count, min: 1}",
        "- {type: row_count, min: 1}\n      - {type: not_null, property: amount, severity: warn}",
    )
    path.write_text(text)
    shop.close()
    brain = Brain.open(shop.project.root)
    erp(brain, "UPDATE orders SET amount = NULL, updated_at = '2026-01-01 00:00:00' WHERE order_id IN (10, 11, 12)")
    brain.ingest(["erp"])
    report = brain.build()  # a warning does not stop the build
    [warn] = [c for c in report.contracts if not c.passed]
    assert (warn.object, warn.contract, warn.violations, warn.sample) == ("Order", "not_null", 3, [10, 11, 12])
    brain.close()


def test_unique_contract_on_a_property(shop: Brain) -> None:
    path = shop.project.root / "ontology" / "shop.yaml"
    path.write_text(
        path.read_text().replace(
            "- {type: accepted_values, property: region, values: [NA, EMEA, APAC]}",
            "- {type: accepted_values, property: region, values: [NA, EMEA, APAC]}\n"
            "      - {type: unique, property: name}",
        )
    )
    shop.close()
    brain = Brain.open(shop.project.root)
    erp(brain, "UPDATE customers SET name = 'Customer 5', updated_at = '2026-01-01 00:00:00' WHERE customer_id = 6")
    brain.ingest(["erp"])
    with pytest.raises(ContractFailed, match=r"Customer unique\(name\): 1 duplicated value"):
        brain.build()
    with pytest.raises(NotFound, match="has not been built yet"):  # no good version existed to keep
        brain.contracts()
    brain.close()


def test_cli_objects_object_contracts(shop: Brain, run_cli) -> None:
    shop.build()
    root = str(shop.project.root)
    shop.close()
    code, out, _ = run_cli("-p", root, "objects", "Customer", "--where", "region = 'NA'", "--count", "--format", "json")
    assert code == 0 and json.loads(out) == {"count": 16}
    code, out, _ = run_cli("-p", root, "objects", "Order", "--limit", "2", "--format", "json")
    assert [r["order_id"] for r in json.loads(out)["rows"]] == [1, 2]
    code, out, _ = run_cli("-p", root, "object", "Order", "9", "--format", "json")
    assert json.loads(out)["links"]["customer"]["object"]["customer_id"] == 10
    code, out, _ = run_cli("-p", root, "contracts", "--format", "json")
    report = json.loads(out)
    assert code == 0 and report["failed"] == 0 and report["passed"] == len(report["results"]) == 9
    code, _, err = run_cli("-p", root, "object", "Order", "123456")
    assert code == 1 and "Error: no Order with order_id = '123456'" in err
    code, _, err = run_cli("-p", root, "objects", "Ordr")
    assert code == 1 and "did you mean 'Order'" in err


def test_build_rebuilds_only_what_changed(shop: Brain) -> None:
    first = shop.build()
    assert sorted(first.rebuilt) == ["Customer", "Employee", "Order"]
    assert shop.build().rebuilt == []  # nothing changed
    erp(shop, "INSERT INTO orders VALUES (9001, 3, 55.0, '2026-01-01 00:00:00')")
    erp(shop, "UPDATE orders SET amount = 7.5, updated_at = '2026-01-01 00:00:01' WHERE order_id = 12")
    shop.ingest(["erp"])
    report = shop.build()
    # only the changed rows of Order are replaced; nothing is rebuilt
    assert (report.rebuilt, report.updated, report.objects["Order"]) == ([], ["Order"], 3001)
    assert shop.count_objects("Order") == 3001
    assert shop.objects("Order", where="order_id IN (12, 9001)") == [
        {
            "order_id": 12,
            "customer_id": 13,
            "amount": 7.5,
            "ordered_at": shop.objects("Order", where="order_id = 12")[0]["ordered_at"],
            "big": False,
        },
        {"order_id": 9001, "customer_id": 3, "amount": 55.0, "ordered_at": datetime(2026, 1, 1), "big": False},
    ]
    checked = {(c.object, c.contract) for c in report.contracts}
    assert ("Order", "links_resolve") in checked and ("Employee", "unique") not in checked
    # a changed definition rebuilds that type
    path = shop.project.root / "ontology" / "shop.yaml"
    path.write_text(
        path.read_text().replace("region: {type: string}", "region: {type: string, description: Sales region.}")
    )
    shop.close()
    with Brain.open(shop.project.root) as again:
        report = again.build()
        assert report.rebuilt == ["Customer"]
        assert ("Order", "links_resolve") in {(c.object, c.contract) for c in report.contracts}  # links into it
        assert again.build(full=True).rebuilt == ["Customer", "Order", "Employee"]


def test_a_property_mapped_to_a_missing_column_names_it(shop: Brain, run_cli) -> None:
    shop.build()
    path = shop.project.root / "ontology" / "shop.yaml"
    hostile = "'; DROP TABLE raw.erp__orders; --"
    text = path.read_text().replace(
        "amount: {type: float, currency: USD}", f'amount: {{type: float, currency: USD, column: "{hostile}"}}'
    )
    text = text.replace('expr: "first_name', 'expr: "frist_name')
    path.write_text(text)
    root = str(shop.project.root)
    shop.close()
    lines = text.splitlines()
    amount = next(i for i, ln in enumerate(lines, 1) if "amount: {type: float" in ln)
    full_name = next(i for i, ln in enumerate(lines, 1) if "frist_name" in ln)
    with Brain.open(root) as brain:
        with pytest.raises(ConfigError) as info:
            brain.build()
        assert [(loc.file, loc.line, loc.key) for loc, _ in info.value.problems] == [
            ("ontology/shop.yaml", amount, "Order.properties.amount"),
            ("ontology/shop.yaml", full_name, "Employee.properties.full_name"),
        ]
        order, employee = (msg for _, msg in info.value.problems)
        assert order.startswith(f"Order.amount reads column {hostile!r}, which raw.erp__orders does not have")
        assert employee == (
            "Employee.full_name reads column 'frist_name', which raw.hris__employees does not have (did you mean "
            "'first_name'?); map it to a column the table has (`column:` or `expr:`), or bring the column back in "
            "the source and `brain ingest`"
        )
        assert brain.count_objects("Order") == 3000  # the last good build is still served
    code, _, err = run_cli("-p", root, "build", "--no-factory")
    assert code == 1 and f"ontology/shop.yaml:{full_name} (Employee.properties.full_name)" in err

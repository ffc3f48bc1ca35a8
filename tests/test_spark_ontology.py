"""The shared ontology suite on a local Spark session: typed objects, contracts, the last good version kept."""

from __future__ import annotations

import pytest

from tests import test_ontology as ontology
from tests.conftest import SPARK_LOCAL

pytestmark = [pytest.mark.slow, pytest.mark.spark, pytest.mark.timeout(600)]  # the first test may start the JVM


@pytest.fixture
def warehouse_url() -> str:
    return SPARK_LOCAL


shop = ontology.shop
test_build_materializes_typed_properties = ontology.test_build_materializes_typed_properties
test_blocking_contract_keeps_last_good_version = ontology.test_blocking_contract_keeps_last_good_version
test_contracts_catch_planted_violations = ontology.test_contracts_catch_planted_violations

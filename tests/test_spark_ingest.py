"""The shared ingest suite on a local Spark session (the tests whose process stays in one JVM: a killed
child process would start its own, with its own catalog; the restart promise is tested in
test_spark_warehouse.py)."""

from __future__ import annotations

import pytest

from tests import test_ingest as ingest
from tests.conftest import SPARK_LOCAL

pytestmark = [pytest.mark.slow, pytest.mark.spark, pytest.mark.timeout(600)]  # the first test may start the JVM


@pytest.fixture
def warehouse_url() -> str:
    return SPARK_LOCAL


shop = ingest.shop
test_first_load_lands_every_table = ingest.test_first_load_lands_every_table
test_incremental_load_takes_only_changes = ingest.test_incremental_load_takes_only_changes
test_bad_rows_are_quarantined_with_reasons = ingest.test_bad_rows_are_quarantined_with_reasons
test_changed_type_stops_that_source_only = ingest.test_changed_type_stops_that_source_only

"""TPC-H answers through the governed query path on a local Spark session equal the official ones (SF 0.1):
examples/tpch ingested and built on Spark once, then the same queries as on DuckDB and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests import test_tpch as tpch
from tests.conftest import SPARK_LOCAL

pytestmark = [pytest.mark.slow, pytest.mark.spark, pytest.mark.timeout(1200)]  # SF 0.1 on Spark


@pytest.fixture(scope="module")
def tpch_root(tmp_path_factory: pytest.TempPathFactory, tpch_data: Path) -> Path:
    return tpch.built_copy(tmp_path_factory.mktemp("tpch-spark"), tpch_data, SPARK_LOCAL)


generator = tpch.generator
tpch_data = tpch.tpch_data
test_query_equals_official_answer = tpch.test_query_equals_official_answer
test_four_link_paths_in_by_where_and_a_metric_filter = tpch.test_four_link_paths_in_by_where_and_a_metric_filter

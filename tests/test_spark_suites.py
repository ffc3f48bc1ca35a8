"""The shared semantic and governance suites on a local Spark session: the shop with order lines,
metrics and policies is ingested and built once on Spark (module scope: every change on Spark is a
staged swap, seconds each on two cores), then the same tests as on DuckDB and PostgreSQL read it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests import test_governance as governance
from tests import test_semantic as semantic
from tests.conftest import SPARK_LOCAL

pytestmark = [pytest.mark.slow, pytest.mark.spark, pytest.mark.timeout(900)]  # the first starts the JVM


@pytest.fixture(scope="module")
def semantic_brain(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from companybrain import Brain
    from tests.semantic_shop import make_semantic_shop

    brain = Brain.open(make_semantic_shop(tmp_path_factory.mktemp("spark") / "shop", SPARK_LOCAL))
    loads = [t for s in brain.ingest() for t in s.tables]
    # as on every engine: the shop's overtime file is mostly bad rows on purpose, over the default limit
    assert {t.table for t in loads if t.status != "ok"} == {"overtime"}, [(t.table, t.message) for t in loads]
    brain.build()
    yield brain
    brain.close()


brain = semantic.brain
test_metrics_equal_independent_figures_without_fan_out = semantic.test_metrics_equal_independent_figures_without_fan_out
test_totals_and_ratios_roll_up_from_components = semantic.test_totals_and_ratios_roll_up_from_components
test_distinct_counts_are_not_summed_across_grains = semantic.test_distinct_counts_are_not_summed_across_grains
test_periods_and_time_grains = semantic.test_periods_and_time_grains
test_type_property_dimensions_filters_and_order = semantic.test_type_property_dimensions_filters_and_order
test_clear_errors = semantic.test_clear_errors
test_a_semi_join_counts_the_objects_that_have_a_linked_object = (
    semantic.test_a_semi_join_counts_the_objects_that_have_a_linked_object
)
test_metric_matrix = governance.test_metric_matrix
test_object_matrix = governance.test_object_matrix
test_hr_data_is_denied_by_default_even_to_wildcard_roles = (
    governance.test_hr_data_is_denied_by_default_even_to_wildcard_roles
)
test_row_filter_follows_links = governance.test_row_filter_follows_links
test_missing_attribute_denies_instead_of_showing_everything = (
    governance.test_missing_attribute_denies_instead_of_showing_everything
)
test_masking = governance.test_masking
test_reading_some_columns_keeps_the_policies = governance.test_reading_some_columns_keeps_the_policies
test_linked_objects_respect_policies = governance.test_linked_objects_respect_policies

"""The tests' one comparison of two tables, `assert_same_rows`: as strict as each test asks, never looser."""

from __future__ import annotations

import pytest
from pyspark.sql import SparkSession

from lakehouse_testing import RUN_DECIMALS, assert_same_rows

SCHEMA = "key STRING, amount DOUBLE, run_id STRING"


def test_rows_match_in_any_order_each_as_often(spark: SparkSession) -> None:
    rows = spark.createDataFrame([("a", 1.5, "r"), ("b", 2.5, "r"), ("b", 2.5, "r")], SCHEMA)
    assert_same_rows(rows, spark.createDataFrame([("b", 2.5, "r"), ("a", 1.5, "r"), ("b", 2.5, "r")], SCHEMA))
    with pytest.raises(AssertionError):
        assert_same_rows(rows, spark.createDataFrame([("a", 1.5, "r"), ("a", 1.5, "r"), ("b", 2.5, "r")], SCHEMA))


def test_doubles_are_exact_unless_rounded_or_given_a_tolerance(spark: SparkSession) -> None:
    summed = spark.createDataFrame([("a", 0.1 + 0.2, "r")], SCHEMA)
    written = spark.createDataFrame([("a", 0.3, "r")], SCHEMA)
    with pytest.raises(AssertionError):
        assert_same_rows(summed, written)  # within assertDataFrameEqual's own default tolerance
    assert_same_rows(summed, written, decimals=RUN_DECIMALS)
    with pytest.raises(AssertionError):
        assert_same_rows(summed, spark.createDataFrame([("a", 0.300001, "r")], SCHEMA), decimals=RUN_DECIMALS)
    cents = spark.createDataFrame([("a", 118.664, "r")], SCHEMA)
    assert_same_rows(cents, spark.createDataFrame([("a", 118.668, "r")], SCHEMA), atol=0.005)
    with pytest.raises(AssertionError):
        assert_same_rows(cents, spark.createDataFrame([("a", 118.67, "r")], SCHEMA), atol=0.005)


@pytest.mark.parametrize(("before", "after"), [(float("nan"), 1.0), (1.0, float("nan")), (None, 0.0), (0.0, None),
                                               (float("inf"), 1e300)])
def test_nan_and_null_equal_only_themselves(spark: SparkSession, before: float | None, after: float | None) -> None:
    assert_same_rows(spark.createDataFrame([("a", before, "r")], SCHEMA), [("a", before, "r")], atol=1.0)
    with pytest.raises(AssertionError):
        assert_same_rows(spark.createDataFrame([("a", before, "r")], SCHEMA), [("a", after, "r")], atol=1.0)


def test_ignored_columns_are_left_out_and_the_others_must_agree_in_name_order_and_type(spark: SparkSession) -> None:
    rows = spark.createDataFrame([("a", 1.5, "first")], SCHEMA)
    assert_same_rows(rows, spark.createDataFrame([("a", 1.5, "second")], SCHEMA), ignored={"run_id"})
    assert_same_rows(rows, [("a", 1.5)], ignored={"run_id"})
    with pytest.raises(AssertionError):
        assert_same_rows(rows, spark.createDataFrame([("a", 1.5, "second")], SCHEMA))
    with pytest.raises(AssertionError):
        assert_same_rows(rows, rows.select("amount", "key", "run_id"))
    with pytest.raises(AssertionError):
        assert_same_rows(rows, rows.withColumn("amount", rows["amount"].cast("float")))

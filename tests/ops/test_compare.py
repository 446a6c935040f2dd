"""The reproduction check's table comparison: doubles within a relative tolerance, everything else exactly.

In-process on literal rows: each case is a difference a reproduction could show, or one it must not.
"""

from __future__ import annotations

import pytest
from pyspark.sql import SparkSession

from lib.ops.compare import CheckLine, compare

SCHEMA = "product_id BIGINT, revenue DOUBLE, run_id STRING"


def identical(rows: int) -> CheckLine:
    return CheckLine(f"t: {rows} rows, identical", True)


def test_a_cent_on_a_revenue_above_a_million_is_a_difference(spark: SparkSession) -> None:
    original = spark.createDataFrame([(1, 1_234_567.76, "a"), (2, 5.0, "a")], SCHEMA)
    reproduced = spark.createDataFrame([(1, 1_234_567.81, "b"), (2, 5.0, "b")], SCHEMA)

    assert compare("t", original, reproduced) == CheckLine(
        "t: 2 rows, 1 differ (1 only in the original, 1 only in the reproduction of 2 rows)", False
    )


def test_sums_taken_in_another_order_are_identical(spark: SparkSession) -> None:
    assert 0.1 + 0.2 != 0.3 and sum([1e6, 0.1, 0.2]) != sum([0.2, 0.1, 1e6])
    original = spark.createDataFrame(
        [(1, 0.1 + 0.2, "a"), (2, sum([1e6, 0.1, 0.2]), "a"), (3, None, "a"), (4, float("nan"), "a"), (5, 0.0, "a")],
        SCHEMA,
    )
    reproduced = spark.createDataFrame(
        [(1, 0.3, "b"), (2, sum([0.2, 0.1, 1e6]), "b"), (3, None, "b"), (4, float("nan"), "b"),
         (5, (0.1 + 0.2) - 0.3, "b")],  # a change between two sums that is 0 in one order and not in the other
        SCHEMA,
    )

    assert compare("t", original, reproduced) == identical(5)


def test_118_66_against_118_67_is_a_difference(spark: SparkSession) -> None:
    original = spark.createDataFrame([(1, 0.1 + 0.2, "a"), (2, 118.66, "a")], SCHEMA)
    reproduced = spark.createDataFrame([(1, 0.3, "b"), (2, 118.67, "b")], SCHEMA)

    assert compare("t", original, reproduced) == CheckLine(
        "t: 2 rows, 1 differ (1 only in the original, 1 only in the reproduction of 2 rows)", False
    )


@pytest.mark.parametrize(
    ("before", "after"),
    [(None, 0.0), (0.0, None), (float("nan"), 1.0), (1.0, float("nan")), (float("inf"), 1e300), (0.0, 1e-6)],
)
def test_a_null_is_equal_to_a_null_only_and_nan_to_nan_only(
    spark: SparkSession, before: float | None, after: float | None
) -> None:
    original = spark.createDataFrame([(1, before, "a")], SCHEMA)
    reproduced = spark.createDataFrame([(1, after, "b")], SCHEMA)

    assert not compare("t", original, reproduced).identical


def test_a_double_reproduced_as_a_float_is_a_type_difference(spark: SparkSession) -> None:
    original = spark.createDataFrame([(1, 118.66, "a")], SCHEMA)
    as_float = original.withColumn("revenue", original["revenue"].cast("float"))

    assert compare("t", original, as_float) == CheckLine("t: 1 rows; column types differ", False)


def test_a_column_that_became_nullable_is_a_type_difference(spark: SparkSession) -> None:
    strict = spark.createDataFrame([(1, 118.66, "a")], "product_id BIGINT NOT NULL, revenue DOUBLE, run_id STRING")
    nullable = spark.createDataFrame([(1, 118.66, "a")], SCHEMA)

    assert compare("t", strict, nullable) == CheckLine("t: 1 rows; column types differ", False)


def test_rows_count_as_often_as_they_occur(spark: SparkSession) -> None:
    original = spark.createDataFrame([(1, 0.1 + 0.2, "a"), (1, 0.1 + 0.2, "a"), (2, 7.5, "a")], SCHEMA)
    once = spark.createDataFrame([(1, 0.3, "b"), (2, 7.5, "b"), (2, 7.5, "b")], SCHEMA)
    twice = spark.createDataFrame([(1, 0.3, "b"), (1, 0.3, "b"), (2, 7.5, "b")], SCHEMA)

    assert compare("t", original, once) == CheckLine(
        "t: 3 rows, 1 differ (1 only in the original, 1 only in the reproduction of 3 rows)", False
    )
    assert compare("t", original, twice) == identical(3)


def test_rows_alike_but_for_their_doubles_are_paired_by_value(spark: SparkSession) -> None:
    """Two rows with the same key and doubles close in one column still each find their own partner."""
    schema = "segment STRING, avg_price DOUBLE, revenue DOUBLE"
    original = spark.createDataFrame([("a", 1.0, 5.0), ("a", 1.0 + 2e-16, 3.0), ("a", 2.0, None)], schema)
    reproduced = spark.createDataFrame([("a", 1.0 + 2e-16, 5.0), ("a", 1.0, 3.0), ("a", 2.0, None)], schema)

    assert compare("t", original, reproduced) == identical(3)


def test_a_table_of_doubles_only_and_a_map_column_are_compared(spark: SparkSession) -> None:
    doubles = "a DOUBLE, b DOUBLE"
    assert compare("t", spark.createDataFrame([(0.1 + 0.2, 1.0), (2.0, 3.0)], doubles),
                   spark.createDataFrame([(2.0, 3.0), (0.3, 1.0)], doubles)) == identical(2)
    mapped = "layer STRING, versions MAP<STRING, BIGINT>, seconds DOUBLE"
    original = spark.createDataFrame([("gold", {"x": 1, "y": 2}, 0.1 + 0.2)], mapped)
    assert compare("t", original, spark.createDataFrame([("gold", {"y": 2, "x": 1}, 0.3)], mapped)) == identical(1)
    assert not compare("t", original, spark.createDataFrame([("gold", {"y": 3, "x": 1}, 0.3)], mapped)).identical

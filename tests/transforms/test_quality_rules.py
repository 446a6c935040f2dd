"""Data-quality counts and `dq_metrics` rows on literal inputs (docs/definitions.md, data-quality metrics)."""

from __future__ import annotations

import datetime as dt

from pyspark.sql import SparkSession
from pyspark.testing import assertDataFrameEqual

from lib.contracts.schemas import DQ_METRICS
from lib.transforms import quality, silver

UTC = dt.timezone.utc
T0 = dt.datetime(2019, 10, 1, 0, 0, 7, tzinfo=UTC)
FUTURE = dt.datetime(2999, 1, 1, tzinfo=UTC)
BEFORE_2000 = dt.datetime(1999, 12, 31, 23, 59, 59, tzinfo=UTC)
START_OF_2000 = dt.datetime(2000, 1, 1, tzinfo=UTC)
FLAGGED_INPUT = (
    "event_time TIMESTAMP, event_type STRING, product_id LONG, user_id LONG, price DOUBLE, _rescued_data STRING"
)


def test_rule_failure_counts_per_rule_monitor_and_extra_condition(spark: SparkSession) -> None:
    rows = [
        (T0, "view", 1, 5, 10.0, None),  # passes every rule
        (FUTURE, "cart", 2, 6, 0.0, None),  # passes every rule; the future_event_time monitor
        (T0, "view", 1, 5, -1.0, None),  # valid_price (warn) and the negative_price monitor
        (T0, "click", 1, 5, 200000.0, None),  # valid_event_type, valid_price
        (None, None, None, None, None, None),  # every rule but parseable_record; not a negative price
        (T0, "view", None, 5, 10.0, "a,b"),  # valid_product_id, parseable_record
        (BEFORE_2000, "view", 1, 5, 1.0, None),  # passes every rule; the event_time_before_2000 monitor
        (START_OF_2000, "view", 1, 5, 1.0, None),  # passes every rule and every monitor
    ]
    actions = {"valid_price": "warn"}  # the others default to drop
    flagged = silver.validate(spark.createDataFrame(rows, FLAGGED_INPUT), 100000.0, actions)
    assert quality.rule_failure_counts(flagged, extra={"kept": silver.is_kept()}) == {
        "evaluated": 8,
        "passed_all": 4,
        "valid_event_time": 1,
        "valid_event_type": 2,
        "valid_product_id": 2,
        "valid_user_id": 1,
        "valid_price": 3,
        "parseable_record": 1,
        "negative_price": 1,
        "future_event_time": 1,
        "event_time_before_2000": 1,
        "kept": 5,  # the four clean rows and the warned negative price
    }


def test_rule_failure_counts_of_no_rows_are_zero(spark: SparkSession) -> None:
    flagged = silver.validate(spark.createDataFrame([], FLAGGED_INPUT), 100000.0, {})
    counts = quality.rule_failure_counts(flagged)
    assert counts == {
        "evaluated": 0,
        "passed_all": 0,
        "valid_event_time": 0,
        "valid_event_type": 0,
        "valid_product_id": 0,
        "valid_user_id": 0,
        "valid_price": 0,
        "parseable_record": 0,
        "negative_price": 0,
        "future_event_time": 0,
        "event_time_before_2000": 0,
    }


def counts(evaluated: int, passed_all: int, **failed: int) -> dict[str, int]:
    names = [*quality.RULE_NAMES, *quality.MONITORS]
    return {"evaluated": evaluated, "passed_all": passed_all, **{name: failed.get(name, 0) for name in names}}


def metric(rule: str, action: str, evaluated: int, failed: int, failed_pct: float | None,
           value: float | None) -> dict[str, object]:
    return {"rule": rule, "action": action, "evaluated": evaluated, "failed": failed, "failed_pct": failed_pct,
            "value": value}


def test_dq_metric_rows_rates_and_quality_score() -> None:
    rule_counts = counts(3, 1, valid_event_time=1, valid_price=2, negative_price=1)
    rows = quality.dq_metric_rows(rule_counts, {"valid_price": "warn"}, duplicates=1, deduplicated=2)
    assert rows == [
        metric("valid_event_time", "drop", 3, 1, 33.33, 33.33),
        metric("valid_event_type", "drop", 3, 0, 0.0, 0.0),
        metric("valid_product_id", "drop", 3, 0, 0.0, 0.0),
        metric("valid_user_id", "drop", 3, 0, 0.0, 0.0),
        metric("valid_price", "warn", 3, 2, 66.67, 66.67),
        metric("parseable_record", "drop", 3, 0, 0.0, 0.0),
        metric("negative_price", "monitor", 3, 1, 33.33, 33.33),
        metric("future_event_time", "monitor", 3, 0, 0.0, 0.0),
        metric("event_time_before_2000", "monitor", 3, 0, 0.0, 0.0),
        metric("duplicate_rate", "metric", 2, 1, 50.0, 50.0),
        # value is the share passing every rule; failed_pct the share failing one or more
        metric("quality_score", "metric", 3, 2, 66.67, 33.33),
    ]


def test_dq_metric_rows_of_no_rows_are_null_rates() -> None:
    rows = quality.dq_metric_rows(counts(0, 0), {}, duplicates=0, deduplicated=0)
    assert [(row["rule"], row["evaluated"], row["failed"], row["failed_pct"], row["value"]) for row in rows] == [
        ("valid_event_time", 0, 0, None, None),
        ("valid_event_type", 0, 0, None, None),
        ("valid_product_id", 0, 0, None, None),
        ("valid_user_id", 0, 0, None, None),
        ("valid_price", 0, 0, None, None),
        ("parseable_record", 0, 0, None, None),
        ("negative_price", 0, 0, None, None),
        ("future_event_time", 0, 0, None, None),
        ("event_time_before_2000", 0, 0, None, None),
        ("duplicate_rate", 0, 0, None, None),
        ("quality_score", 0, 0, None, None),
    ]


def test_dq_metric_rates_round_half_up_like_gold() -> None:
    rows = quality.dq_metric_rows(counts(800, 799, valid_event_time=1), {}, duplicates=0, deduplicated=800)
    assert rows[0]["failed_pct"] == 0.13


def dq_row(run_id: str, rule: str, value: float | None) -> tuple:
    measured = dt.datetime(2019, 11, 1, tzinfo=UTC)
    return (run_id, "silver", rule, "drop", 1000, 0, value, value, measured)


def test_design_quality_table_reads_one_run(spark: SparkSession) -> None:
    dq_metrics = spark.createDataFrame(
        [
            dq_row("r1", "valid_event_time", 0.0),
            dq_row("r1", "valid_event_type", 0.5),
            dq_row("r1", "valid_price", 3.0),
            dq_row("r1", "negative_price", 0.0),
            dq_row("r1", "duplicate_rate", 0.1),
            dq_row("r1", "quality_score", 99.5),
            dq_row("r2", "valid_event_time", 7.0),
            dq_row("r2", "valid_event_type", 0.0),
            dq_row("r2", "negative_price", 1.0),
            dq_row("r2", "duplicate_rate", 0.0),
            dq_row("r2", "quality_score", 99.0),
        ],
        DQ_METRICS,
    )
    schema = "metric STRING, target STRING, actual STRING, met BOOLEAN"
    expected_r1 = spark.createDataFrame(
        [
            ("Null event_time", "0%", "0.00%", True),
            ("Invalid event_type", "0%", "0.50%", False),
            ("Negative prices", "0%", "0.00%", True),
            ("Duplicate rate", "0%", "0.10%", False),
            ("Overall quality score", "> 99%", "99.50%", True),
        ],
        schema,
    )
    expected_r2 = spark.createDataFrame(
        [
            ("Null event_time", "0%", "7.00%", False),
            ("Invalid event_type", "0%", "0.00%", True),
            ("Negative prices", "0%", "1.00%", False),
            ("Duplicate rate", "0%", "0.00%", True),
            ("Overall quality score", "> 99%", "99.00%", False),  # the target is more than 99%
        ],
        schema,
    )
    assertDataFrameEqual(quality.design_quality_table(dq_metrics, "r1"), expected_r1, checkRowOrder=True)
    assertDataFrameEqual(quality.design_quality_table(dq_metrics, "r2"), expected_r2, checkRowOrder=True)


def test_design_quality_table_shows_no_actual_for_a_null_rate(spark: SparkSession) -> None:
    rules = ["valid_event_time", "valid_event_type", "negative_price", "duplicate_rate", "quality_score"]
    dq_metrics = spark.createDataFrame([dq_row("r3", rule, None) for rule in rules], DQ_METRICS)
    expected = spark.createDataFrame(
        [
            ("Null event_time", "0%", None, None),
            ("Invalid event_type", "0%", None, None),
            ("Negative prices", "0%", None, None),
            ("Duplicate rate", "0%", None, None),
            ("Overall quality score", "> 99%", None, None),
        ],
        "metric STRING, target STRING, actual STRING, met BOOLEAN",
    )
    assertDataFrameEqual(quality.design_quality_table(dq_metrics, "r3"), expected, checkRowOrder=True)


def test_bronze_dq_metric_rows_one_monitor_each_in_registry_order() -> None:
    counts = {name: (0, 0) for name in quality.BRONZE_MONITORS} | {"files_empty": (4, 1), "lines_rescued": (3, 2)}
    rows = quality.bronze_dq_metric_rows(counts)
    assert [row["rule"] for row in rows] == list(quality.BRONZE_MONITORS)
    by_rule = {row["rule"]: row for row in rows}
    assert by_rule["files_empty"] == metric("files_empty", "monitor", 4, 1, 25.0, 25.0)
    assert by_rule["lines_rescued"] == metric("lines_rescued", "monitor", 3, 2, 66.67, 66.67)
    assert by_rule["files_refused_binary"] == metric("files_refused_binary", "monitor", 0, 0, None, None)

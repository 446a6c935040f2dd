"""Silver transforms on literal rows: standardize, validate, deduplicate, derive, quarantine.

Expected values are worked out by hand from docs/definitions.md (silver and the quarantine).
"""

from __future__ import annotations

import datetime as dt
import hashlib

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T
from pyspark.testing import assertDataFrameEqual

from lakehouse_testing import utc
from lib.contracts.schemas import EVENTS_CLEANED, EVENTS_RAW, QUARANTINE_COLUMNS, SOURCE_TYPES
from lib.transforms import silver
from lib.transforms.quality import RULE_NAMES

ALL_DROP = {name: "drop" for name in RULE_NAMES}
ALL_RULES = [
    "valid_event_time",
    "valid_event_type",
    "valid_product_id",
    "valid_user_id",
    "valid_price",
    "parseable_record",
]
T0 = utc(2019, 10, 1, 0, 0, 7)


def test_standardize_trims_lowercases_and_fills_unknown(spark: SparkSession) -> None:
    rows = [
        (T0, "  VIEW\t", 1, 10, "\tElectronics.Smartphone ", " Apple\t", 1.0, 100, "\ts1 "),
        (T0, "Cart\r", 2, None, None, None, 2.0, 200, None),
        (T0, "purchase", 3, 30, " \t ", "  ", 3.0, 300, " \t"),
        (None, None, None, None, None, None, None, None, None),
    ]
    expected = spark.createDataFrame(
        [
            # category_code is trimmed, not lowercased
            (T0, "view", 1, 10, "Electronics.Smartphone", "apple", 1.0, 100, "s1"),
            (T0, "cart", 2, None, "unknown", "unknown", 2.0, 200, None),
            (T0, "purchase", 3, 30, "unknown", "unknown", 3.0, 300, ""),
            (None, None, None, None, "unknown", "unknown", None, None, None),
        ],
        SOURCE_TYPES,
    )
    actual = spark.createDataFrame(rows, SOURCE_TYPES).transform(silver.standardize)
    assertDataFrameEqual(actual.select(*SOURCE_TYPES.names), expected)


VALIDATED = T.StructType(
    [
        T.StructField("source_line", T.LongType()),
        T.StructField("event_time", T.TimestampType()),
        T.StructField("event_type", T.StringType()),
        T.StructField("product_id", T.LongType()),
        T.StructField("user_id", T.LongType()),
        T.StructField("price", T.DoubleType()),
        T.StructField("_rescued_data", T.StringType()),
    ]
)
REASONS = "source_line LONG, quarantine_reasons ARRAY<STRING>"


def reasons(spark: SparkSession, rows: list[tuple], max_price: float, actions: dict[str, str]) -> DataFrame:
    df = spark.createDataFrame(rows, VALIDATED)
    return silver.validate(df, max_price, actions).select("source_line", "quarantine_reasons")


def test_validate_lists_every_failed_drop_rule_in_registry_order(spark: SparkSession) -> None:
    rows = [
        (1, T0, "view", 1, 5, 10.0, None),
        (2, None, "view", 1, 5, 10.0, None),
        (3, T0, "click", 1, 5, 10.0, None),
        (4, T0, None, 1, 5, 10.0, None),
        (5, T0, "view", 0, 5, 10.0, None),
        (6, T0, "view", None, 5, 10.0, None),
        (7, T0, "view", 1, -1, 10.0, None),
        (8, T0, "view", 1, None, 10.0, None),
        (9, T0, "view", 1, 5, -0.01, None),
        (10, T0, "view", 1, 5, None, None),
        (11, T0, "view", 1, 5, 0.0, None),
        (12, T0, "view", 1, 5, 100000.0, None),
        (13, T0, "view", 1, 5, 100000.01, None),
        (14, T0, "view", 1, 5, float("nan"), None),
        (15, T0, "view", 1, 5, 10.0, "a,line"),
        (16, None, None, None, None, None, None),
        (17, None, "VIEW", -2, 0, float("inf"), "x"),
    ]
    expected = spark.createDataFrame(
        [
            (1, []),
            (2, ["valid_event_time"]),
            (3, ["valid_event_type"]),
            (4, ["valid_event_type"]),
            (5, ["valid_product_id"]),
            (6, ["valid_product_id"]),
            (7, ["valid_user_id"]),
            (8, ["valid_user_id"]),
            (9, ["valid_price"]),
            (10, ["valid_price"]),
            (11, []),
            (12, []),
            (13, ["valid_price"]),
            (14, ["valid_price"]),
            (15, ["parseable_record"]),
            (16, ["valid_event_time", "valid_event_type", "valid_product_id", "valid_user_id", "valid_price"]),
            (17, ALL_RULES),  # validate runs after standardize: an upper-case type fails here
        ],
        REASONS,
    )
    assertDataFrameEqual(reasons(spark, rows, 100000.0, ALL_DROP), expected)


def test_validate_takes_the_price_bound_from_max_price(spark: SparkSession) -> None:
    rows = [
        (1, T0, "view", 1, 5, 50.0, None),
        (2, T0, "view", 1, 5, 50.5, None),
        (3, T0, "view", 1, 5, 100.0, None),
        (4, T0, "view", 1, 5, None, None),
    ]
    expected = spark.createDataFrame(
        [(1, []), (2, ["valid_price"]), (3, ["valid_price"]), (4, ["valid_price"])], REASONS
    )
    assertDataFrameEqual(reasons(spark, rows, 50, ALL_DROP), expected)


def test_a_warn_or_fail_rule_is_not_a_quarantine_reason(spark: SparkSession) -> None:
    actions = {**ALL_DROP, "valid_price": "warn", "valid_user_id": "fail"}
    rows = [
        (1, T0, "view", 1, 5, -1.0, None),
        (2, T0, "click", 1, 5, -1.0, None),
        (3, T0, "view", 1, None, 10.0, None),
        (4, None, None, None, None, None, "x"),
    ]
    expected = spark.createDataFrame(
        [
            (1, []),
            (2, ["valid_event_type"]),
            (3, []),
            (4, ["valid_event_time", "valid_event_type", "valid_product_id", "parseable_record"]),
        ],
        REASONS,
    )
    assertDataFrameEqual(reasons(spark, rows, 100000.0, actions), expected)


DEDUP_INPUT = T.StructType(
    [
        T.StructField("event_time", T.TimestampType()),
        T.StructField("user_id", T.LongType()),
        T.StructField("product_id", T.LongType()),
        T.StructField("user_session", T.StringType()),
        T.StructField("event_type", T.StringType()),
        T.StructField("price", T.DoubleType()),
        T.StructField("ingestion_timestamp", T.TimestampType()),
        T.StructField("source_file", T.StringType()),
        T.StructField("source_line", T.LongType()),
    ]
)


def test_filter_first_occurrence_keeps_the_first_row_of_each_null_safe_key(spark: SparkSession) -> None:
    nov1, nov2 = utc(2019, 11, 1), utc(2019, 11, 2)
    t1 = utc(2019, 10, 1, 0, 0, 8)
    rows = [
        # null session, same other key: duplicates; the earliest ingestion wins over file and line
        (T0, 1, 10, None, "view", 1.0, nov2, "a.csv", 1),
        (T0, 1, 10, None, "view", 2.0, nov1, "b.csv", 9),
        (T0, 1, 10, None, "view", 3.0, nov1, "c.csv", 1),
        # same ingestion and file: the earlier line wins (9 before 10, as numbers)
        (T0, 1, 10, "s1", "view", 4.0, nov1, "a.csv", 10),
        (T0, 1, 10, "s1", "view", 5.0, nov1, "a.csv", 9),
        # differs only by event_type: not a duplicate
        (T0, 1, 10, "s1", "cart", 6.0, nov1, "a.csv", 11),
        # same ingestion: the first file by name wins over an earlier line
        (t1, 2, 20, "s2", "purchase", 7.0, nov1, "b.csv", 1),
        (t1, 2, 20, "s2", "purchase", 8.0, nov1, "a.csv", 7),
        # an all-null key is one key
        (None, None, None, None, None, 9.0, nov1, "a.csv", 3),
        (None, None, None, None, None, 10.0, nov1, "a.csv", 4),
    ]
    expected = spark.createDataFrame(
        [
            (T0, 1, 10, None, "view", 2.0, nov1, "b.csv", 9),
            (T0, 1, 10, "s1", "view", 5.0, nov1, "a.csv", 9),
            (T0, 1, 10, "s1", "cart", 6.0, nov1, "a.csv", 11),
            (t1, 2, 20, "s2", "purchase", 8.0, nov1, "a.csv", 7),
            (None, None, None, None, None, 9.0, nov1, "a.csv", 3),
        ],
        DEDUP_INPUT,
    )
    actual = spark.createDataFrame(rows, DEDUP_INPUT).transform(silver.filter_first_occurrence)
    assertDataFrameEqual(actual.select(*DEDUP_INPUT.names), expected)


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def test_event_id_is_the_sha256_of_the_key_joined_with_bars(spark: SparkSession) -> None:
    session = "72d76fde-8bb3-4e00-8c23-a032dfed738c"
    rows = [
        (1, T0, 541312140, 44600062, session, "view"),
        (2, utc(2019, 10, 1, 13, 5, 9, 500000), 541312140, 44600062, session, "view"),
        (3, T0, 541312140, 44600062, None, "view"),
        (4, None, None, None, None, None),
    ]
    schema = "n INT, event_time TIMESTAMP, user_id LONG, product_id LONG, user_session STRING, event_type STRING"
    expected = spark.createDataFrame(
        [
            (1, sha256(f"2019-10-01 00:00:07|541312140|44600062|{session}|view")),
            (2, sha256(f"2019-10-01 13:05:09|541312140|44600062|{session}|view")),
            (3, sha256("2019-10-01 00:00:07|541312140|44600062||view")),
            (4, sha256("||||")),
        ],
        "n INT, event_id STRING",
    )
    actual = spark.createDataFrame(rows, schema).select("n", silver.event_id().alias("event_id"))
    assertDataFrameEqual(actual, expected)


def test_with_derived_columns_dates_iso_weekday_and_category_levels(spark: SparkSession) -> None:
    schema = (
        "event_time TIMESTAMP, event_type STRING, product_id LONG, user_id LONG, user_session STRING, "
        "category_code STRING"
    )
    rows = [
        (utc(2019, 10, 6, 23, 59, 59), "view", 1, 1, "s", "electronics.smartphone"),  # a Sunday
        (utc(2019, 10, 7, 0, 0, 0), "view", 1, 1, "s", "appliances.kitchen.refrigerators"),  # a Monday
        (utc(2019, 10, 2, 12, 30, 0), "view", 1, 1, "s", "a.b.c.d"),
        (utc(2019, 10, 5, 1, 0, 0), "view", 1, 1, "s", "furniture"),
        (utc(2019, 10, 5, 1, 0, 0), "view", 1, 1, "s", "unknown"),
        (None, None, None, None, None, None),
    ]
    derived = ["event_date", "event_hour", "event_day_of_week", "category_l1", "category_l2", "category_l3"]
    expected = spark.createDataFrame(
        [
            ("electronics.smartphone", dt.date(2019, 10, 6), 23, 7, "electronics", "smartphone", None),
            ("appliances.kitchen.refrigerators", dt.date(2019, 10, 7), 0, 1, "appliances", "kitchen", "refrigerators"),
            ("a.b.c.d", dt.date(2019, 10, 2), 12, 3, "a", "b", "c"),
            ("furniture", dt.date(2019, 10, 5), 1, 6, "furniture", None, None),
            ("unknown", dt.date(2019, 10, 5), 1, 6, "unknown", None, None),
            (None, None, None, None, None, None, None),
        ],
        "category_code STRING, event_date DATE, event_hour INT, event_day_of_week INT, category_l1 STRING, "
        "category_l2 STRING, category_l3 STRING",
    )
    actual = spark.createDataFrame(rows, schema).transform(silver.with_derived_columns)
    assertDataFrameEqual(actual.select("category_code", *derived), expected)


def test_build_events_cleaned_ends_with_the_table_contract(spark: SparkSession) -> None:
    bronze_rows = [
        (T0, " View ", 1, 10, None, "Apple", 1.0, 5, "s1", utc(2019, 11, 1), "a.csv", None, "run-1", 1, None),
        (T0, "view", 1, 10, None, "APPLE", 2.0, 5, "s1", utc(2019, 11, 1), "a.csv", None, "run-1", 2, None),
    ]
    flagged = silver.validate(
        spark.createDataFrame(bronze_rows, EVENTS_RAW).transform(silver.standardize), 100000.0, ALL_DROP
    )
    cleaned = silver.build_events_cleaned(flagged.filter(silver.is_kept()))
    assert [(f.name, f.dataType) for f in cleaned.schema] == [(f.name, f.dataType) for f in EVENTS_CLEANED]
    expected = spark.createDataFrame(
        [
            (sha256("2019-10-01 00:00:07|5|1|s1|view"), T0, "view", 1, 10, "unknown", "apple", 1.0, 5, "s1",
             dt.date(2019, 10, 1), 0, 2, "unknown", None, None),
        ],
        T.StructType(EVENTS_CLEANED.fields[:-1]),
    )
    assertDataFrameEqual(cleaned.drop("processed_timestamp"), expected)


def test_build_events_quarantine_keeps_original_values_and_every_reason(spark: SparkSession) -> None:
    schema = T.StructType(EVENTS_RAW.fields + [T.StructField("campaign", T.StringType())])
    nov1 = utc(2019, 11, 1)
    bronze_rows = [
        (T0, "view", 1, 10, "a.b", "Apple", 1.0, 5, "s1", nov1, "a.csv", nov1, "run-1", 1, None, "fall"),
        (T0, " CLICK ", 1, 10, None, " Apple ", -5.0, 5, "s2", nov1, "a.csv", nov1, "run-1", 2, None, None),
        (None, None, None, None, None, None, None, None, None, nov1, "b.csv", nov1, "run-1", 7, "bad,line", "x"),
    ]
    columns = schema.names
    flagged = (
        spark.createDataFrame(bronze_rows, schema)
        .transform(silver.with_bronze_record)
        .transform(silver.standardize)
        .transform(silver.validate, 100000.0, ALL_DROP)
    )
    quarantine = silver.build_events_quarantine(flagged.filter(~silver.is_kept()), "run-2", columns)
    assert quarantine.columns == columns + QUARANTINE_COLUMNS.names
    expected = spark.createDataFrame(
        [
            # original bronze values (not standardized), the quarantining run's id
            (T0, " CLICK ", 1, 10, None, " Apple ", -5.0, 5, "s2", nov1, "a.csv", nov1, "run-2", 2, None, None,
             ["valid_event_type", "valid_price"], "valid_event_type, valid_price"),
            (None, None, None, None, None, None, None, None, None, nov1, "b.csv", nov1, "run-2", 7, "bad,line", "x",
             ALL_RULES, ", ".join(ALL_RULES)),
        ],
        T.StructType(schema.fields + QUARANTINE_COLUMNS.fields[:2]),
    )
    assertDataFrameEqual(quarantine.drop("quarantined_at"), expected)
    assert quarantine.filter(F.col("quarantined_at").isNull()).count() == 0

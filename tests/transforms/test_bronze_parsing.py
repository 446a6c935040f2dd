"""Bronze transforms on literal source lines: splitting, header and blank lines, typing and rescue.

Expected values are worked out by hand from docs/definitions.md (bronze): values are not cleaned,
a line that does not parse (or has the wrong number of fields) keeps the whole line in
`_rescued_data`, an empty field is null, and a header maps fields to columns by name.
"""

from __future__ import annotations

import pytest
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T
from pyspark.testing import assertDataFrameEqual

from lakehouse_testing import utc
from lib.contracts.schemas import EVENTS_RAW, SOURCE_TYPES
from lib.transforms import bronze

A_FILE = "file:/tmp/landing/a.csv"
B_FILE = "file:/tmp/landing/oct/b.csv"
SESSION = "72d76fde-8bb3-4e00-8c23-a032dfed738c"

LINES = T.StructType(
    [
        T.StructField("_file_path", T.StringType()),
        T.StructField("source_line", T.LongType()),
        T.StructField("value", T.StringType()),
    ]
)
LAYOUTS = T.StructType(
    [
        T.StructField("_file_path", T.StringType()),
        T.StructField("_layout", T.MapType(T.StringType(), T.IntegerType())),
        T.StructField("_field_count", T.IntegerType()),
        T.StructField("source_file", T.StringType()),
    ]
)
# File b's header: the nine source columns reordered, plus an extra `campaign` column.
B_HEADER = "event_time,user_id,event_type,product_id,category_id,category_code,brand,price,user_session,campaign"
B_LAYOUT = {
    "event_time": 0,
    "user_id": 1,
    "event_type": 2,
    "product_id": 3,
    "category_id": 4,
    "category_code": 5,
    "brand": 6,
    "price": 7,
    "user_session": 8,
    "campaign": 9,
}


def test_with_fields_splits_on_commas_outside_quotes_and_undoes_doubled_quotes(spark: SparkSession) -> None:
    lines = spark.createDataFrame(
        [
            ('a,"b,c",d',),
            ('"say ""hi""",,x',),
            ("a,b,",),
            ('""',),
            ("",),
            (None,),
        ],
        "value STRING",
    )
    expected = spark.createDataFrame(
        [
            ('a,"b,c",d', ["a", "b,c", "d"]),
            ('"say ""hi""",,x', ['say "hi"', "", "x"]),
            ("a,b,", ["a", "b", ""]),  # a trailing empty field is a field
            ('""', [""]),
            ("", [""]),
            (None, None),
        ],
        "value STRING, fields ARRAY<STRING>",
    )
    assertDataFrameEqual(lines.transform(bronze.with_fields), expected)


def test_filter_data_lines_drops_the_header_only_at_line_1_and_blank_lines(spark: SparkSession) -> None:
    lines = spark.createDataFrame(
        [
            (A_FILE, 1, "event_time,event_type,product_id"),
            (A_FILE, 2, "2019-10-01 00:00:00 UTC,view,1"),
            (A_FILE, 3, ""),
            (A_FILE, 4, "   "),
            (A_FILE, 5, "event_time,event_type,product_id"),  # not line 1: data, rescued later
            (B_FILE, 1, "2019-10-02 00:00:00 UTC,cart,2"),  # a file without a header
            (B_FILE, 2, None),
        ],
        LINES,
    ).transform(bronze.with_fields)
    expected = spark.createDataFrame(
        [
            (A_FILE, 2, "2019-10-01 00:00:00 UTC,view,1"),
            (A_FILE, 5, "event_time,event_type,product_id"),
            (B_FILE, 1, "2019-10-02 00:00:00 UTC,cart,2"),
        ],
        LINES,
    )
    assertDataFrameEqual(bronze.filter_data_lines(lines).select(*LINES.names), expected)


def test_filter_data_lines_recognizes_a_header_in_any_case(spark: SparkSession) -> None:
    lines = spark.createDataFrame(
        [(A_FILE, 1, " EVENT_TIME,Event_Type"), (A_FILE, 2, "2019-10-01 00:00:00 UTC,view")], LINES
    ).transform(bronze.with_fields)
    expected = spark.createDataFrame([(A_FILE, 2, "2019-10-01 00:00:00 UTC,view")], LINES)
    assertDataFrameEqual(bronze.filter_data_lines(lines).select(*LINES.names), expected)


def test_filter_data_lines_drops_a_header_that_does_not_start_with_event_time(spark: SparkSession) -> None:
    lines = spark.createDataFrame(
        [
            (B_FILE, 1, "user_id,event_type,event_time,product_id,category_id,category_code,brand,price,user_session"),
            (B_FILE, 2, "541312140,view,2019-10-01 00:00:07 UTC,1,2,,,1.0,s"),
        ],
        LINES,
    ).transform(bronze.with_fields)
    expected = spark.createDataFrame([(B_FILE, 2, "541312140,view,2019-10-01 00:00:07 UTC,1,2,,,1.0,s")], LINES)
    assertDataFrameEqual(bronze.filter_data_lines(lines).select(*LINES.names), expected)


TYPED = T.StructType(
    [T.StructField("value", T.StringType())]
    + SOURCE_TYPES.fields
    + [T.StructField("campaign", T.StringType()), T.StructField("_rescued_data", T.StringType())]
)


def typed(spark: SparkSession, rows: list[tuple]) -> DataFrame:
    lines = spark.createDataFrame(rows, LINES).transform(bronze.with_fields)
    layouts = spark.createDataFrame([(B_FILE, B_LAYOUT, 10, "oct/b.csv")], LAYOUTS)
    return (
        lines.transform(bronze.with_layout, layouts)
        .transform(bronze.with_typed_columns, ["campaign"])
        .select(*TYPED.names)
    )


def test_typed_columns_of_a_file_without_header(spark: SparkSession) -> None:
    clean = f"2019-10-01 00:00:00 UTC,view,44600062,2103807459595387724,,shiseido,35.79,541312140,{SESSION}"
    no_zone = "2019-10-01 13:05:09,View,1,2,a.b,\"Brand, Inc\",1.5,3,s"
    bad_product = "2019-10-01 00:00:01 UTC,cart,12ab,2,,,1.0,3,s"
    bad_time = "2019-13-01 00:00:00 UTC,cart,1,2,,,1.0,3,s"
    fractional_user = "2019-10-01 00:00:02 UTC,cart,1,2,,,1.0,3.5,s"
    eight_fields = "2019-10-01 00:00:03 UTC,view,1,2,,,1.0,3"
    ten_fields = "2019-10-01 00:00:04 UTC,view,1,2,,,1.0,3,s,extra"
    all_empty = ",,,,,,,,"
    rows = [
        (A_FILE, n, line)
        for n, line in enumerate(
            [clean, no_zone, bad_product, bad_time, fractional_user, eight_fields, ten_fields, all_empty], 1
        )
    ]
    t0 = utc(2019, 10, 1, 0, 0, 0)
    expected = spark.createDataFrame(
        [
            (clean, t0, "view", 44600062, 2103807459595387724, None, "shiseido", 35.79, 541312140, SESSION,
             None, None),
            (no_zone, utc(2019, 10, 1, 13, 5, 9), "View", 1, 2, "a.b", "Brand, Inc", 1.5, 3, "s", None, None),
            (bad_product, utc(2019, 10, 1, 0, 0, 1), "cart", None, 2, None, None, 1.0, 3, "s", None, bad_product),
            (bad_time, None, "cart", 1, 2, None, None, 1.0, 3, "s", None, bad_time),
            (fractional_user, utc(2019, 10, 1, 0, 0, 2), "cart", 1, 2, None, None, 1.0, None, "s", None,
             fractional_user),
            (eight_fields, utc(2019, 10, 1, 0, 0, 3), "view", 1, 2, None, None, 1.0, 3, None, None, eight_fields),
            (ten_fields, utc(2019, 10, 1, 0, 0, 4), "view", 1, 2, None, None, 1.0, 3, "s", None, ten_fields),
            (all_empty, None, None, None, None, None, None, None, None, None, None, None),
        ],
        TYPED,
    )
    assertDataFrameEqual(typed(spark, rows), expected)


def test_typed_columns_of_a_file_whose_header_reorders_and_adds_columns(spark: SparkSession) -> None:
    headed = (
        f"2019-10-01 00:00:07 UTC,541312140,VIEW,44600062,2103807459595387724,cosmetics.skin, Shiseido ,35.79,"
        f"{SESSION},fall"
    )
    nine_fields = "2019-10-01 00:00:08 UTC,541312140,view,1,2,,x,1.0,s"
    empty_extra = "2019-10-01 00:00:09 UTC,7,cart,1,2,,,,s,"
    rows = [(B_FILE, 2, headed), (B_FILE, 3, nine_fields), (B_FILE, 4, empty_extra)]
    expected = spark.createDataFrame(
        [
            # Bronze does not clean: VIEW and " Shiseido " stay as received.
            (headed, utc(2019, 10, 1, 0, 0, 7), "VIEW", 44600062, 2103807459595387724, "cosmetics.skin",
             " Shiseido ", 35.79, 541312140, SESSION, "fall", None),
            (nine_fields, utc(2019, 10, 1, 0, 0, 8), "view", 1, 2, None, "x", 1.0, 541312140, "s", None,
             nine_fields),
            (empty_extra, utc(2019, 10, 1, 0, 0, 9), "cart", 1, 2, None, None, None, 7, "s", None, None),
        ],
        TYPED,
    )
    assertDataFrameEqual(typed(spark, rows), expected)


def ingest_headed_file(spark: SparkSession, header: str, line: str) -> DataFrame:
    """Bronze rows of one headed file, with its layout and extra columns found as the pipeline finds them."""
    lines = spark.createDataFrame([(B_FILE, 1, header), (B_FILE, 2, line)], LINES)
    layout = bronze.layout_of(header.split(","))
    layouts = spark.createDataFrame([(B_FILE, layout, len(layout), "oct/b.csv")], LAYOUTS)
    extras = bronze.extra_columns([layout])
    return bronze.build_events_raw(lines, layouts, extras, "run-1", "2019-11-01 08:00:00")


SOURCE_HEADER = ",".join(SOURCE_TYPES.names)


def test_an_extra_column_named_value_does_not_replace_the_rescued_line(spark: SparkSession) -> None:
    line = "2019-10-01 00:00:00 UTC,view,12ab,1,,,1.0,5,s,42"
    row = ingest_headed_file(spark, SOURCE_HEADER + ",value", line).first()
    assert row["product_id"] is None
    assert row["_rescued_data"] == line
    assert "42" in row.asDict().values()


def test_an_extra_column_named_like_an_audit_column_is_kept(spark: SparkSession) -> None:
    line = "2019-10-01 00:00:00 UTC,view,1,1,,,1.0,5,s,source-run-7"
    actual = ingest_headed_file(spark, SOURCE_HEADER + ",run_id", line)
    assert len(set(actual.columns)) == len(actual.columns)
    assert "source-run-7" in actual.first().asDict().values()


@pytest.mark.parametrize(
    ("header_field", "name"),
    [
        ("event_time", "event_time"),
        (" Event Time ", "event_time"),
        ("USER-ID", "user_id"),
        ("price ($)", "price"),
        ("_Campaign_", "campaign"),
        ("2nd col", "2nd_col"),
        ("###", "unnamed"),
        ("", "unnamed"),
    ],
)
def test_column_name(header_field: str, name: str) -> None:
    assert bronze.column_name(header_field) == name


def test_layout_of_maps_names_to_positions_and_the_first_repeated_name_wins() -> None:
    assert bronze.layout_of(["user_id", "Event_Time", "event time", "Campaign"]) == {
        "user_id": 0,
        "event_time": 1,
        "campaign": 3,
    }


def test_extra_columns_are_the_non_source_columns_of_every_layout_sorted() -> None:
    layouts = [B_LAYOUT, {"zeta": 0, "event_type": 1, "alpha": 2}, {}]
    assert bronze.extra_columns(layouts) == ["alpha", "campaign", "zeta"]


def test_with_source_line_numbers_lines_per_file_across_blocks(spark: SparkSession) -> None:
    # monotonically_increasing_id puts the partition index in the upper bits: partition p starts at p << 33.
    p1, p2 = 1 << 33, 2 << 33
    rows = [
        ("a.csv", 0, 0, "a1"),
        ("a.csv", 0, 1, None),
        ("a.csv", 0, 2, "a3"),
        ("a.csv", 1000, p1, "a4"),
        ("a.csv", 1000, p1 + 1, "a5"),
        # File b's second block was scanned in an earlier partition than its first block.
        ("b.csv", 0, p2, "b1"),
        ("b.csv", 0, p2 + 1, "b2"),
        ("b.csv", 0, p2 + 2, "b3"),
        ("b.csv", 500, 3, "b4"),
        ("b.csv", 500, 4, "b5"),
    ]
    schema = "_file_path STRING, _block_start LONG, _row_id LONG, value STRING"
    expected = spark.createDataFrame(
        [
            ("a.csv", "a1", 1),
            ("a.csv", None, 2),
            ("a.csv", "a3", 3),
            ("a.csv", "a4", 4),
            ("a.csv", "a5", 5),
            ("b.csv", "b1", 1),
            ("b.csv", "b2", 2),
            ("b.csv", "b3", 3),
            ("b.csv", "b4", 4),
            ("b.csv", "b5", 5),
        ],
        "_file_path STRING, value STRING, source_line LONG",
    )
    actual = spark.createDataFrame(rows, schema).transform(bronze.with_source_line)
    assertDataFrameEqual(actual.select("_file_path", "value", "source_line"), expected)


def test_build_events_raw_on_literal_lines(spark: SparkSession) -> None:
    b_clean = f'2019-10-01 00:00:07 UTC,541312140,view,44600062,2103807459595387724,,"Shiseido, Inc",35.79,{SESSION},fall'
    b_bad = "2019-10-01 00:00:08 UTC,541312141,cart,12ab,,,,1.0,s2,"
    a_clean = "2019-10-01 00:00:09 UTC, View ,3601485,,appliances.kitchen,  ,100.5,555,s3"
    a_header_later = "event_time,event_type"
    lines = spark.createDataFrame(
        [
            (B_FILE, 1, B_HEADER),
            (B_FILE, 2, b_clean),
            (B_FILE, 3, ""),
            (B_FILE, 4, b_bad),
            (A_FILE, 1, a_clean),
            (A_FILE, 2, a_header_later),
        ],
        LINES,
    )
    layouts = spark.createDataFrame([(B_FILE, B_LAYOUT, 10, "oct/b.csv"), (A_FILE, None, None, "a.csv")], LAYOUTS)
    actual = bronze.build_events_raw(lines, layouts, ["campaign"], run_id="run-1", ingested_at="2019-11-01 08:00:00")
    assert actual.columns == EVENTS_RAW.names + ["campaign"]
    ingested = utc(2019, 11, 1, 8, 0, 0)
    expected_schema = T.StructType(
        [field for field in EVENTS_RAW.fields if field.name != "created_at"]
        + [T.StructField("campaign", T.StringType())]
    )
    expected = spark.createDataFrame(
        [
            (utc(2019, 10, 1, 0, 0, 7), "view", 44600062, 2103807459595387724, None, "Shiseido, Inc", 35.79,
             541312140, SESSION, ingested, "oct/b.csv", "run-1", 2, None, "fall"),
            (utc(2019, 10, 1, 0, 0, 8), "cart", None, None, None, None, 1.0, 541312141, "s2", ingested,
             "oct/b.csv", "run-1", 4, b_bad, None),
            (utc(2019, 10, 1, 0, 0, 9), " View ", 3601485, None, "appliances.kitchen", "  ", 100.5, 555, "s3",
             ingested, "a.csv", "run-1", 1, None, None),
            (None, "event_type", None, None, None, None, None, None, None, ingested, "a.csv", "run-1", 2,
             a_header_later, None),
        ],
        expected_schema,
    )
    assertDataFrameEqual(actual.drop("created_at"), expected)
    assert actual.filter(F.col("created_at").isNull()).count() == 0


def test_a_line_that_is_not_utf8_is_rescued_with_the_replacement_character(spark: SparkSession) -> None:
    latin1 = "2019-10-01 00:00:00 UTC,view,1,2,,nestl\xe9,1.0,3,s".encode("latin-1")
    lines = spark.createDataFrame([(A_FILE, 1, bytearray(latin1))], "_file_path STRING, source_line LONG, value BINARY")
    lines = lines.withColumn("value", F.col("value").cast("string"))  # as the text reader gives it: raw bytes
    no_header = spark.createDataFrame([], LAYOUTS)
    row = (
        lines.transform(bronze.with_fields)
        .transform(bronze.with_layout, no_header)
        .transform(bronze.with_typed_columns, [])
        .first()
    )
    assert row["brand"] == "nestl\ufffd"
    assert row["_rescued_data"] == "2019-10-01 00:00:00 UTC,view,1,2,,nestl\ufffd,1.0,3,s"


def test_a_byte_order_mark_is_not_part_of_the_first_field(spark: SparkSession) -> None:
    lines = spark.createDataFrame([(A_FILE, 1, "\ufeffevent_time,event_type,product_id")], LINES)
    fields = lines.transform(bronze.with_fields).first()["fields"]
    assert fields == ["event_time", "event_type", "product_id"]


@pytest.mark.parametrize(
    ("line", "aliases", "header"),
    [
        ("event_time,event_type,product_id", None, True),
        ("ts,event_type,product_id,category_id", None, True),  # a renamed event_time: still a header
        ("ts,kind,customer_id", {"kind": "event_type", "customer_id": "user_id"}, True),
        ("ts,kind,customer_id", None, False),
        ("event_time;event_type;product_id", None, False),  # another delimiter: one field
        ("2019-10-01 00:00:00 UTC,view,1,2,,brand,1.0,3,s", None, False),
    ],
)
def test_is_header_needs_two_source_column_names(spark: SparkSession, line: str, aliases: dict | None,
                                                  header: bool) -> None:
    lines = spark.createDataFrame([(A_FILE, 1, line)], LINES).transform(bronze.with_fields)
    assert lines.select(bronze.is_header(F.col("fields"), F.col("source_line"), aliases)).first()[0] is header


def test_layout_of_maps_an_aliased_header_name_to_its_source_column() -> None:
    header = ["event_time", "Customer ID", "user_id"]
    assert bronze.layout_of(header, {"customer_id": "user_id"}) == {"event_time": 0, "user_id": 1}


def test_header_drift_names_extra_missing_reordered_and_renamed_columns() -> None:
    header = ["user_id", "event_time", "event_type", "product_id", "category_id", "brand", "price", "client",
              "campaign"]
    assert bronze.header_drift(header, {"client": "user_session"}) == {
        "extra": ["campaign"],
        "missing": ["category_code"],
        "reordered": ["user_id", "event_time", "event_type", "product_id", "category_id", "brand", "price",
                      "user_session"],
        "renamed": ["client -> user_session"],
    }
    assert bronze.header_drift(SOURCE_HEADER.split(",")) == {"extra": [], "missing": [], "reordered": [], "renamed": []}


def test_file_counts_per_source_file(spark: SparkSession) -> None:
    rows = spark.createDataFrame(
        [
            ("a.csv", 1, None),
            ("a.csv", 2, "x;y;z"),
            ("a.csv", 3, 'nestl\ufffd,"two'),
            ("a.csv", 4, 'lines",1'),
            ("b.csv", 1, None),
        ],
        "source_file STRING, source_line LONG, _rescued_data STRING",
    )
    expected = spark.createDataFrame(
        [("a.csv", 4, 3, 1, 3, 2, "x;y;z"), ("b.csv", 1, 0, 0, None, 0, None)],
        "source_file STRING, rows LONG, rescued LONG, not_utf8 LONG, first_not_utf8_line LONG, "
        "unbalanced_quotes LONG, first_rescued STRING",
    )
    assertDataFrameEqual(rows.transform(bronze.file_counts), expected)

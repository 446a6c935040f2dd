"""The Spark pipeline against the DuckDB reference (`bench/duckdb_reference.py`), to the cent.

Both implement docs/definitions.md, independently. On one generated input that holds every injected fault and
every file format (CRLF, no header, no trailing newline), a day after a gap and a few hand-written
edge cases (a purchase without a session, ties at a product's latest event and at the top of the
revenue ranking, a free purchase, a category code with an empty part), the two must agree
on bronze, silver, quarantine and duplicate counts, on every silver event_id, on every quarantine
reason, and on every column of every gold row: counts and rates exactly, money within half a cent.
"""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import duckdb
import pytest
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from bench.duckdb_reference import Reference, run_reference
from lakehouse_testing import REES46_DIR, assert_same_rows, run_all_layers, scratch_params
from lib import layers
from lib.lake import storage
from lib.layers import GOLD_TABLES
from lib.synthetic.generator import generate_landing

KEYS = {
    "customer_metrics": ("user_id",),
    "product_performance": ("product_id",),
    "daily_sales_summary": ("event_date",),
    "conversion_funnel": ("event_date", "category_l1"),
}
# Sums and means of prices: summed in another order by each engine, so equal to the cent only.
MONEY = {"total_revenue", "avg_purchase_value", "avg_price", "avg_order_value", "revenue_7d_avg"}
CENT = 0.005
# A rate of two money sums: one rounding step (0.01) apart at most when the sums differ in the last bit.
MONEY_RATES = {"revenue_dod_change"}
MONEY_RATE_STEP = 0.01 + 1e-9


def reference_rows(reference: Reference, sql: str) -> list[tuple]:
    """Rows of a query on the reference's DuckDB file (bronze and silver stay there)."""
    with duckdb.connect(str(reference.database), read_only=True) as con:
        return con.sql(sql).fetchall()


# Cases the generator does not make, on the generated days: a purchase without a session (its revenue
# counts, the session does not), two events of one product at its latest time with different
# category and brand (the greatest wins), a category code with an empty part, a free purchase, two
# products tied at the top of the revenue ranking.
EDGE_CASES = "\n".join(
    [
        "event_time,event_type,product_id,category_id,category_code,brand,price,user_id,user_session",
        "2019-10-13 10:00:00 UTC,view,900001,77,kids.toys,alpha,10.00,800001,",
        "2019-10-13 10:00:05 UTC,purchase,900001,77,kids.toys,alpha,10.00,800001,",
        "2019-10-13 10:00:00 UTC,view,900001,78,toys..dolls,Beta,10.00,800002,edge-1",
        "2019-10-13 10:00:05 UTC,cart,900001,78,toys..dolls,beta,10.00,800002,edge-1",
        "2019-10-13 10:00:06 UTC,purchase,900002,79,.toys,,0.00,800002,edge-1",
        "2019-10-05 23:59:59 UTC,purchase,900001,77,kids.toys,alpha,12.00,800003,",
        "2019-10-04 12:00:00 UTC,purchase,900003,80,computers.desktop,zeta,99999.99,800004,edge-2",
        "2019-10-04 12:00:00 UTC,purchase,900004,80,computers.desktop,zeta,99999.99,800004,edge-2",
    ]
) + "\n"


@pytest.fixture(scope="module")
def compared(spark: SparkSession, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Reference]:
    """The pipeline's lake and the reference's result on the same landing files.

    Thursday 3 to Saturday 5 October (CRLF, no header, no trailing newline), then Sunday the 13th
    (all three) after a gap, so that the 7-day average and the previous calendar day can go
    wrong; plus the edge cases above.
    """
    root = tmp_path_factory.mktemp("duckdb-reference")
    landing = root / "landing"
    shape = {"events_per_day": 2_000, "fault_rate": 0.02, "seed": 46}
    generate_landing(landing, days=3, start_date=dt.date(2019, 10, 3), **shape)
    generate_landing(landing, days=1, start_date=dt.date(2019, 10, 13), **shape)
    (landing / "edge_cases.csv").write_text(EDGE_CASES)
    params = scratch_params(root, generate_input=False, run_id="reference-check")
    run_all_layers(spark, params)
    reference = run_reference(landing, root / "duckdb", max_price=params.max_price)
    return params.path("lake_dir"), reference


@pytest.mark.lake
def test_bronze_silver_quarantine_and_duplicate_counts_agree(
    spark: SparkSession, compared: tuple[Path, Reference]
) -> None:
    lake, reference = compared
    raw = storage.read_table(spark, lake, "events_raw")
    silver_run = storage.read_table(spark, lake, "pipeline_runs").filter(F.col("layer") == "silver").first()
    pipeline_counts = {
        "bronze": raw.count(),
        "rescued": raw.filter(F.col("_rescued_data").isNotNull()).count(),
        "silver": storage.read_table(spark, lake, "events_cleaned").count(),
        "quarantined": storage.read_table(spark, lake, "events_quarantine").count(),
        "duplicates": silver_run["rows_duplicate"],
    }
    assert pipeline_counts == reference.counts
    assert reference.counts["rescued"] > 0 and reference.counts["duplicates"] > 0


@pytest.mark.lake
def test_silver_event_ids_agree(spark: SparkSession, compared: tuple[Path, Reference]) -> None:
    """Same rows kept, same first occurrences, same SHA-256 of the same rendered key."""
    lake, reference = compared
    ours = storage.read_table(spark, lake, "events_cleaned").select("event_id")
    assert ours.distinct().count() == reference.counts["silver"]
    assert_same_rows(ours, reference_rows(reference, "SELECT event_id FROM events_cleaned"))


@pytest.mark.lake
def test_quarantine_reasons_agree(spark: SparkSession, compared: tuple[Path, Reference]) -> None:
    lake, reference = compared
    ours = storage.read_table(spark, lake, "events_quarantine").select(
        "source_file", "source_line", "quarantine_reasons"
    )
    theirs = reference_rows(reference, "SELECT source_file, source_line, quarantine_reasons FROM events_quarantine")
    assert_same_rows(ours, theirs)
    every_rule = ("valid_event_time", "valid_event_type", "valid_product_id", "valid_user_id", "valid_price",
                  "parseable_record")
    assert_same_rows(ours.select(F.explode("quarantine_reasons")).distinct(), [(rule,) for rule in every_rule])


@pytest.mark.lake
@pytest.mark.parametrize("name", GOLD_TABLES)
def test_gold_table_agrees_to_the_cent(spark: SparkSession, compared: tuple[Path, Reference], name: str) -> None:
    lake, reference = compared
    ours = storage.read_table(spark, lake, name)
    expected = reference.tables[name]
    assert ours.columns == expected.column_names
    assert expected.num_rows > 0
    theirs = spark.createDataFrame([tuple(row.values()) for row in expected.to_pylist()], ours.schema)
    key = list(KEYS[name])
    exact = [column for column in ours.columns if column not in MONEY | MONEY_RATES]
    assert_same_rows(ours.select(*exact), theirs.select(*exact))
    # Each column with a tolerance beside the key, first: rows in the order of their keys pair by them.
    for within, atol in ((MONEY, CENT), (MONEY_RATES, MONEY_RATE_STEP)):
        columns = [*key, *(column for column in ours.columns if column in within)]
        assert_same_rows(ours.select(*columns), theirs.select(*columns), atol=atol)


@pytest.mark.lake
def test_gold_as_of_date_is_the_latest_event_date(compared: tuple[Path, Reference]) -> None:
    assert compared[1].as_of_date == dt.date(2019, 10, 13)


def test_reference_on_the_real_rees46_rows(tmp_path: Path) -> None:
    """The reference alone on the real sample files gives the numbers test_pipeline.py pins for the layers."""
    landing = tmp_path / "landing"
    landing.mkdir()
    for name in ("2019-Oct_head_17434rows.csv", "2019-Nov_head_683rows_noheader.csv"):
        shutil.copy(REES46_DIR / name, landing / name)
    reference = run_reference(landing, tmp_path / "duckdb")
    assert reference.counts == {"bronze": 18_118, "rescued": 1, "silver": 18_112, "quarantined": 1, "duplicates": 5}
    assert {name: table.num_rows for name, table in reference.tables.items()} == {
        "customer_metrics": 4_737, "product_performance": 6_814, "daily_sales_summary": 2, "conversion_funnel": 25,
    }
    daily = sorted(reference.tables["daily_sales_summary"].select(["event_date", "total_revenue"]).to_pylist(),
                   key=lambda row: row["event_date"])
    assert [(str(row["event_date"]), round(row["total_revenue"], 2)) for row in daily] == [
        ("2019-10-01", 59_442.63), ("2019-11-01", 778.22),
    ]


# Lines whose fields Spark's casts and a lenient CSV reader type differently, with the header reordered.
TRICKY_FILE = "\r\n".join(
    [
        "user_id,event_time,event_type,product_id,category_id,category_code,brand,price,user_session",
        "7,2019-10-01 00:00:01 UTC,view,1,2,a.b,x,1.5,s1",  # clean
        "7,2019-10-01 00:00:02 UTC,view,1,2.05E+18,a.b,x,1.5,s2",  # category_id in E notation: rescued
        "7,2019-10-01 00:00:03 UTC,view,1.0,2,a.b,x,1.5,s3",  # product_id with a decimal point: rescued
        "7,2019-10-01 00:00:04 UTC,view,0x10,2,a.b,x,1.5,s4",  # hexadecimal: rescued
        "7,2019-10-01 24:00:00 UTC,view,1,2,a.b,x,1.5,s5",  # hour 24: rescued
        "7,2019-10-01 00:00:06 UTC,view,1,2,a.b,x,1.5d,s6",  # Java's double suffix: parses
        "7,2019-10-01 00:00:07 UTC,view,1,2,a.b,x,NaN,s7",  # parses, fails valid_price
        "7,2019-10-01T00:00:08Z,view, 1 ,2,a.b,x,+.5,s8",  # ISO time, padded id, signed fraction: parse
        '7,2019-10-01 00:00:09 +01:00,view,1,2,"a,b",x,1,s9',  # an offset, a quoted comma
        "7,2019-10-01 00:00:10 UTC,VIEW ,1,2,,  ,1,s10",  # blank brand and code: unknown
        "7,2019-10-01 00:00:11 utc,view,1,2,a.b,x,1,s11",  # a lowercase zone: rescued
        "7,2019-10-01 00:00:12 UTC,view,1,2,a.b,x,1,s12,",  # a stray trailing comma: rescued
    ]
)


@pytest.mark.lake
def test_bronze_typing_agrees_on_tricky_fields(spark: SparkSession, tmp_path: Path) -> None:
    """Where DuckDB's own casts would accept more than Spark's, the reference types as the pipeline does."""
    landing = tmp_path / "landing"
    landing.mkdir()
    (landing / "tricky.csv").write_text(TRICKY_FILE)
    params = scratch_params(tmp_path, generate_input=False, run_id="tricky")
    layers.run_bronze(spark, params)
    layers.run_silver(spark, params)
    reference = run_reference(landing, tmp_path / "duckdb")
    columns = ["source_line", "product_id", "category_id", "user_id", "price", "_rescued_data"]
    raw = storage.read_table(spark, params.path("lake_dir"), "events_raw").selectExpr(
        *columns, "date_format(event_time, 'yyyy-MM-dd HH:mm:ss.SSSSSS')"
    )
    theirs = reference_rows(
        reference, f"SELECT {', '.join(columns)}, strftime(event_time, '%Y-%m-%d %H:%M:%S.%f') FROM events_raw"
    )
    assert_same_rows(raw, theirs)
    assert raw.filter(F.col("_rescued_data").isNotNull()).count() == 6
    cleaned = storage.read_table(spark, params.path("lake_dir"), "events_cleaned").select("event_id")
    assert_same_rows(cleaned, reference_rows(reference, "SELECT event_id FROM events_cleaned"))

"""The layers end to end on real Delta tables: real REES46 rows, conservation, re-runs, rule actions."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from lakehouse_testing import REES46_DIR, Stages, assert_same_rows, run_all_layers, scratch_params
from lib import layers
from lib.contracts.params import load_params
from lib.contracts.paths import REPO_ROOT
from lib.lake import storage
from lib.layers import GOLD_TABLES
from lib.layers import bronze as bronze_layer

LAKE_TABLES = ("events_raw", "events_cleaned", "events_quarantine", "dq_metrics", *GOLD_TABLES)
REES46_FILES = ("2019-Oct_head_17434rows.csv", "2019-Nov_head_683rows_noheader.csv")


def table(spark: SparkSession, lake: Path, name: str) -> DataFrame:
    return storage.read_table(spark, lake, name)


@pytest.fixture(scope="module")
def rees46_lake(spark: SparkSession, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The real sample files (CRLF, a cut last line, a file without header) through all layers.

    They are read where the repository keeps them, with the parameter file that ships for them.
    """
    root = tmp_path_factory.mktemp("rees46")
    overrides = {"lake_dir": str(root / "lake"), "run_id": "rees46"}
    params = load_params(REPO_ROOT / "params" / "rees46_sample.yaml", overrides)
    assert params.path("landing_dir") == REES46_DIR
    run_all_layers(spark, params)
    return params.path("lake_dir")


@pytest.mark.lake
def test_real_files_bronze_keeps_every_line(spark: SparkSession, rees46_lake: Path) -> None:
    raw = table(spark, rees46_lake, "events_raw")
    assert_same_rows(raw.groupBy("source_file").count(), [(REES46_FILES[0], 17_435), (REES46_FILES[1], 683)])
    rescued = raw.filter(F.col("_rescued_data").isNotNull())
    assert_same_rows(rescued.select("source_file", "source_line", "user_id", "user_session"),
                     [(REES46_FILES[0], 17_436, 52040330, None)])
    assert rescued.first()["_rescued_data"].endswith(",elenberg,25.71,52040330")
    first_nov = raw.filter((F.col("source_file") == REES46_FILES[1]) & (F.col("source_line") == 1)).first()
    assert first_nov["event_time"] is not None and first_nov["_rescued_data"] is None


@pytest.mark.lake
def test_real_files_silver_counts(spark: SparkSession, rees46_lake: Path) -> None:
    cleaned = table(spark, rees46_lake, "events_cleaned")
    quarantine = table(spark, rees46_lake, "events_quarantine")
    assert cleaned.count() == 18_112
    assert_same_rows(cleaned.groupBy("event_type").count(), [("view", 17_729), ("purchase", 216), ("cart", 167)])
    assert_same_rows(quarantine.select("source_line", "quarantine_reasons"), [(17_436, ["parseable_record"])])
    runs = table(spark, rees46_lake, "pipeline_runs").filter(F.col("layer") == "silver").first()
    assert (runs["rows_in"], runs["rows_out"], runs["rows_quarantined"], runs["rows_duplicate"]) == (
        18_118, 18_112, 1, 5,
    )


@pytest.mark.lake
def test_real_files_gold_counts_and_revenue(spark: SparkSession, rees46_lake: Path) -> None:
    counts = {name: table(spark, rees46_lake, name).count() for name in GOLD_TABLES}
    assert counts == {
        "customer_metrics": 4_737,
        "product_performance": 6_814,
        "daily_sales_summary": 2,
        "conversion_funnel": 25,
    }
    daily = table(spark, rees46_lake, "daily_sales_summary").select("event_date", "total_revenue")
    assert_same_rows(daily, [(dt.date(2019, 10, 1), 59_442.63), (dt.date(2019, 11, 1), 778.22)], decimals=2)
    customer_revenue = table(spark, rees46_lake, "customer_metrics").agg(F.sum("total_revenue")).first()[0]
    assert round(customer_revenue, 2) == 60_220.85


def test_ledger_matches_table_contents(spark: SparkSession, pipeline_lake: Path) -> None:
    """What the silver runs recorded equals what the tables hold: no row lost or invented."""
    silver_runs = table(spark, pipeline_lake, "pipeline_runs").filter(F.col("layer") == "silver")
    totals = silver_runs.agg(*[F.sum(c).alias(c) for c in ("rows_in", "rows_out", "rows_quarantined")]).first()
    assert totals["rows_in"] == table(spark, pipeline_lake, "events_raw").count()
    assert totals["rows_out"] == table(spark, pipeline_lake, "events_cleaned").count()
    assert totals["rows_quarantined"] == table(spark, pipeline_lake, "events_quarantine").count()
    for run in silver_runs.collect():
        assert run["rows_in"] == run["rows_out"] + run["rows_quarantined"] + run["rows_duplicate"]


def test_conservation_violation_names_the_four_numbers() -> None:
    layers.check_conservation(10, 6, 3, 1, 0)
    with pytest.raises(layers.ConservationError, match=r"read 10 != silver rows inserted 6 \+ quarantined 2 "
                       r"\+ duplicates in batch 1 \+ duplicates already in silver 0"):
        layers.check_conservation(10, 6, 2, 1, 0)


def test_rerun_changes_nothing_and_a_new_day_adds_only_that_day(
    spark: SparkSession, stages: Stages, tmp_path: Path
) -> None:
    stages.copy("gold", tmp_path)
    params = scratch_params(tmp_path)  # ci.yaml's values: the generator finds its three days there, writes none
    lake = params.path("lake_dir")
    before = {name: storage.table_version(spark, lake, name) for name in LAKE_TABLES}
    ledger_version = storage.table_version(spark, lake, "pipeline_runs")
    gold_versions = {name: storage.table_version(spark, lake, name) for name in layers.GOLD_TABLES}

    again = run_all_layers(spark, params)
    assert {name: storage.table_version(spark, lake, name) for name in before} == before, "only the ledger is written"
    assert storage.table_version(spark, lake, "pipeline_runs") == ledger_version + 3, "one row per layer"
    assert again["bronze"].details["files_new"] == []
    assert again["silver"].record.rows_in == 0
    assert again["gold"].details["mode"] == "unchanged", again["gold"].details["reason"]
    assert again["gold"].record.versions_written == {}
    assert {name: storage.table_version(spark, lake, name) for name in layers.GOLD_TABLES} == gold_versions
    for name, version in before.items():
        assert_same_rows(table(spark, lake, name), storage.read_table(spark, lake, name, version=version))

    rescored = layers.run_gold(spark, scratch_params(tmp_path, churn_high_days=20))
    assert rescored.details["mode"] == "incremental", rescored.details["reason"]
    # No new row: the state gains no pair, and the funnel, with no derived column, keeps its rows.
    assert set(rescored.record.versions_written) == set(layers.GOLD_TABLES) - {"conversion_funnel"}

    cleaned_before = table(spark, lake, "events_cleaned").count()
    fourth = run_all_layers(spark, scratch_params(tmp_path, generator_days=4))
    assert fourth["bronze"].details["files_new"] == ["2019-10-04.csv"]
    new_rows = table(spark, lake, "events_raw").filter(F.col("run_id") == fourth["bronze"].run_id)
    assert_same_rows(new_rows.select("source_file").distinct(), [("2019-10-04.csv",)])
    cleaned = table(spark, lake, "events_cleaned")
    assert cleaned.count() == cleaned_before + fourth["silver"].record.rows_out
    assert cleaned.filter(F.col("event_date") == "2019-10-04").count() == fourth["silver"].record.rows_out
    assert table(spark, lake, "daily_sales_summary").count() == 4
    assert fourth["gold"].details["mode"] == "incremental", fourth["gold"].details["reason"]
    days = {f"2019-10-0{day}.csv" for day in range(1, 5)}
    assert bronze_layer.ingested_files(spark, lake) == days
    assert bronze_layer.ingested_files(spark, lake, ["2019-10-04.csv", "2019-10-05.csv"]) == {"2019-10-04.csv"}
    assert bronze_layer.ingested_files(spark, lake, []) == set()


def test_fail_action_stops_before_writing(spark: SparkSession, stages: Stages, tmp_path: Path) -> None:
    params = stages.copy("bronze", tmp_path, rule_actions={"valid_price": "fail"})
    with pytest.raises(layers.RuleFailure, match=r"rule valid_price \(action fail\) failed on \d+ of \d+ rows, "
                       r"e\.g\. at 2019-10-0[1-3]\.csv:\d+"):
        layers.run_silver(spark, params)
    lake = params.path("lake_dir")
    assert not storage.table_exists(spark, lake, "events_cleaned")
    assert not storage.table_exists(spark, lake, "events_quarantine")
    failed = table(spark, lake, "pipeline_runs").filter(F.col("layer") == "silver").first()
    assert failed["status"] == "failed" and failed["error"].startswith("RuleFailure: rule valid_price")


def test_warn_action_keeps_and_counts(spark: SparkSession, stages: Stages, tmp_path: Path) -> None:
    params = stages.copy("bronze", tmp_path, rule_actions={"valid_price": "warn"})
    summary = layers.run_silver(spark, params)
    lake = params.path("lake_dir")
    warned = table(spark, lake, "dq_metrics").filter(F.col("rule") == "valid_price").first()
    assert (warned["action"], warned["failed"]) == ("warn", summary.details["counts"]["valid_price"])
    assert warned["failed"] > 0
    bad_prices = table(spark, lake, "events_cleaned").filter(
        F.col("price").isNull() | (F.col("price") < 0) | (F.col("price") > 100_000)
    )
    quarantined_for_price = table(spark, lake, "events_quarantine").filter(
        F.array_contains("quarantine_reasons", "valid_price")
    )
    assert bad_prices.count() > 0
    assert quarantined_for_price.count() == 0

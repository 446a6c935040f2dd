"""The data dictionary: committed and current, every column described, the check's failures."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from pyspark.sql import SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from lib.contracts import schemas
from lib.contracts.params import load_params
from lib.lake import storage
from lib.ops import datadocs

CONTRACTS: dict[str, T.StructType] = {
    "events_raw": schemas.EVENTS_RAW,
    "events_cleaned": schemas.EVENTS_CLEANED,
    "events_quarantine": T.StructType(schemas.EVENTS_RAW.fields + schemas.QUARANTINE_COLUMNS.fields),
    "quarantine_history": schemas.QUARANTINE_HISTORY,
    "customer_metrics": schemas.CUSTOMER_METRICS,
    "product_performance": schemas.PRODUCT_PERFORMANCE,
    "daily_sales_summary": schemas.DAILY_SALES_SUMMARY,
    "conversion_funnel": schemas.CONVERSION_FUNNEL,
    "dq_metrics": schemas.DQ_METRICS,
    "pipeline_runs": schemas.PIPELINE_RUNS,
}


def copy_tables(lake: Path, target: Path, *names: str) -> Path:
    for name in names:
        shutil.copytree(lake / name, target / name)
    return target


def comments(spark: SparkSession, lake: Path, name: str) -> dict[str, str | None]:
    schema = storage.read_table(spark, lake, name).schema
    return {field.name: field.metadata.get("comment") for field in schema}


def test_every_contract_column_has_a_description() -> None:
    assert set(CONTRACTS) == set(datadocs.TABLES)
    undescribed = [
        f"{table}.{field.name}"
        for table, contract in CONTRACTS.items()
        for field in contract
        if not (schemas.column_description(table, field.name) or "").strip()
    ]
    assert undescribed == []


def test_every_column_of_the_lake_has_its_description_as_comment(spark: SparkSession, pipeline_lake: Path) -> None:
    tables = datadocs.read_tables(spark, pipeline_lake)
    assert [table.name for table in tables if table.schema is None] == []
    for table in tables:
        if not storage.table_exists(spark, pipeline_lake, table.name):
            assert table.name in datadocs.ON_DEMAND_TABLES
            continue
        expected = {field.name: schemas.column_description(table.name, field.name) for field in table.schema}
        assert comments(spark, pipeline_lake, table.name) == expected, table.name
    assert datadocs.undescribed_columns(tables) == []


def test_committed_dictionary_is_what_the_generator_writes(spark: SparkSession, pipeline_lake: Path) -> None:
    generated = datadocs.render(
        datadocs.read_tables(spark, pipeline_lake), load_params(datadocs.DEFAULT_PARAMS).rule_actions
    )
    committed = datadocs.DEFAULT_OUT.read_text()
    assert committed == generated, f"run make docs: {datadocs.first_difference(committed, generated)}"
    assert str(pipeline_lake) not in generated and "fixture-run" not in generated


def test_check_passes_on_the_pipeline_lake(spark: SparkSession, pipeline_lake: Path) -> None:
    assert datadocs.main(["--lake", str(pipeline_lake), "--out", str(datadocs.DEFAULT_OUT), "--check"]) == 0


def test_check_fails_naming_a_column_added_without_a_description(
    spark: SparkSession, pipeline_lake: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lake = copy_tables(pipeline_lake, tmp_path / "lake", "events_raw", "customer_metrics")
    raw = storage.read_table(spark, lake, "events_raw").limit(1).withColumn("coupon_code", F.lit("AUTUMN"))
    storage.append(raw, lake, "events_raw")
    metrics = storage.read_table(spark, lake, "customer_metrics").limit(1).withColumn("loyalty_points", F.lit(7))
    storage.append(metrics, lake, "customer_metrics")

    out = tmp_path / "data_dictionary.md"
    assert datadocs.main(["--lake", str(lake), "--out", str(out)]) == 1
    assert datadocs.main(["--lake", str(lake), "--out", str(out), "--check"]) == 1

    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert error.startswith("error: columns without a description: customer_metrics.loyalty_points ")
    assert "events_raw" not in error
    assert comments(spark, lake, "events_raw")["coupon_code"] == schemas.EXTRA_SOURCE_COLUMN
    assert "| `loyalty_points` | int | **no description** |" in out.read_text()


def test_check_fails_naming_the_section_when_the_committed_file_differs(
    spark: SparkSession, pipeline_lake: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    stale = tmp_path / "data_dictionary.md"
    stale.write_text(datadocs.DEFAULT_OUT.read_text().replace("| `rfm_score` | int |", "| `rfm_score` | bigint |"))

    assert datadocs.main(["--lake", str(pipeline_lake), "--out", str(stale), "--check"]) == 1

    error = capsys.readouterr().err.strip()
    assert "\n" not in error
    assert "not current" in error and "### `customer_metrics` (gold)" in error and "rfm_score" in error


def test_apply_comments_describes_a_lake_written_before_comments(spark: SparkSession, tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    rows = [("r1", "silver", "valid_price", "drop", 10, 1, 10.0, 10.0, None)]
    old = spark.createDataFrame(rows, schemas.DQ_METRICS)
    old.write.format("delta").save(storage.table_path(lake, "dq_metrics"))
    storage.append(old, lake, "dq_metrics")
    assert set(comments(spark, lake, "dq_metrics").values()) == {None}, "an append keeps the columns' comments"

    changed = datadocs.apply_comments(spark, lake)

    assert changed == [f"dq_metrics.{name}" for name in schemas.DQ_METRICS.names]
    expected = {name: schemas.column_description("dq_metrics", name) for name in schemas.DQ_METRICS.names}
    assert comments(spark, lake, "dq_metrics") == expected
    assert datadocs.apply_comments(spark, lake) == []


def test_first_difference_names_line_and_section() -> None:
    committed = "# Data dictionary\n\n### `events_raw` (bronze)\n\n| `a` | int | x |\n"
    generated = committed.replace("int", "bigint")

    message = datadocs.first_difference(committed, generated)

    assert message.startswith("line 5 (under ### `events_raw` (bronze)): committed '| `a` | int | x |'")
    assert datadocs.first_difference("a\n", "a\nb\n") == "line 2: only the generated one has 'b'"

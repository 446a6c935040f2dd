"""The lake's cheap reads: a table's newest commit and the versions that changed rows, from its log files; the
ledger once per version; recovery's check."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from delta.tables import DeltaTable
from pyspark.sql import SparkSession

from lib.contracts.schemas import PIPELINE_RUNS
from lib.lake import ledger, recovery, storage
from lib.ops import maintain

pytestmark = pytest.mark.lake


def newest_in_history(spark: SparkSession, lake: Path, name: str) -> tuple[int, str | None, dict[str, int]]:
    row = DeltaTable.forPath(spark, storage.table_path(lake, name)).history(1).first()
    metrics = {key: int(value) for key, value in (row["operationMetrics"] or {}).items() if value.isdigit()}
    return row["version"], row["userMetadata"], metrics


def test_the_newest_commit_read_from_the_log_file_is_what_delta_history_says(
    spark: SparkSession, tmp_path: Path
) -> None:
    assert storage.last_commit(spark, tmp_path, "t") is None and storage.table_version(spark, tmp_path, "t") is None
    rows = spark.createDataFrame([(1, "a"), (2, None)], "id INT, name STRING")
    with recovery.tagged_commits(spark, "attempt-1", "run-1", "bronze"):
        storage.append(rows, tmp_path, "t")
    commit = storage.last_commit(spark, tmp_path, "t")
    assert (commit.version, commit.user_metadata, commit.metrics) == newest_in_history(spark, tmp_path, "t")
    assert recovery.parse_commit_tag(commit.user_metadata)["attempt_id"] == "attempt-1"
    assert commit.metrics["numOutputRows"] == 2

    merged = storage.insert_new(spark.createDataFrame([(2, None), (3, "c")], "id INT, name STRING"), tmp_path, "t", ["id"])
    assert merged.metrics["numTargetRowsInserted"] == 1
    assert (merged.version, None, merged.metrics) == newest_in_history(spark, tmp_path, "t")
    overwritten = storage.overwrite(rows.limit(1), tmp_path, "t")
    assert (overwritten.version, overwritten.metrics) == (2, newest_in_history(spark, tmp_path, "t")[2])
    assert storage.table_version(spark, tmp_path, "t") == 2


def ledger_row(run_id: str, layer: str, status: str, attempt_id: str) -> dict:
    record = ledger.RunRecord(run_id=run_id, layer=layer, notebook=f"{layer}.ipynb", parameters={},
                              attempt_id=attempt_id)
    return record.as_row(status, None if status == "succeeded" else "ValueError: bad")


def test_the_versions_that_change_rows_are_the_writes_not_the_compaction_or_a_property(
    spark: SparkSession, tmp_path: Path
) -> None:
    schema = "id INT, name STRING"
    for rows in ([(1, "a")], [(2, None)]):  # versions 0 and 1: two files to compact
        storage.append(spark.createDataFrame(rows, schema), tmp_path, "t")
    DeltaTable.forPath(spark, storage.table_path(tmp_path, "t")).optimize().executeCompaction()  # version 2
    spark.sql(f"ALTER TABLE delta.`{storage.table_path(tmp_path, 't')}` SET TBLPROPERTIES ('purpose' = 'test')")
    assert storage.data_changing_versions(spark, tmp_path, "t", 1, 3) == []
    storage.insert_new(spark.createDataFrame([(1, "a")], schema), tmp_path, "t", ["id"])  # a match: no commit
    storage.insert_new(spark.createDataFrame([(3, "c")], schema), tmp_path, "t", ["id"])  # version 4
    storage.overwrite(spark.createDataFrame([(4, "d")], schema), tmp_path, "t")  # version 5
    assert storage.table_version(spark, tmp_path, "t") == 5
    assert storage.data_changing_versions(spark, tmp_path, "t", -1, 5) == [0, 1, 4, 5]
    assert storage.data_changing_versions(spark, tmp_path, "t", 5, 5) == []

    (tmp_path / "t" / "_delta_log" / f"{4:020d}.json").unlink()
    assert storage.data_changing_versions(spark, tmp_path, "t", 3, 5) is None, "a commit gone: cannot tell"


def test_the_ledger_is_read_again_after_another_writers_row_or_a_new_table_at_the_same_version(
    spark: SparkSession, tmp_path: Path
) -> None:
    ledger.append_record(spark, tmp_path, ledger_row("run-1", "bronze", "succeeded", "a1"))
    assert ledger.succeeded_runs(spark, tmp_path) == {"a1"}
    ledger.append_record(spark, tmp_path, ledger_row("run-2", "bronze", "failed", "a2"))
    third = ledger_row("run-3", "bronze", "succeeded", "a3") | {"versions_read": {"events_raw": 7}}
    with recovery.tagged_commits(spark, "a3", "run-3", "bronze"):
        ledger.append_record(spark, tmp_path, third)
    assert ledger.succeeded_runs(spark, tmp_path) == {"a1", "a3"}
    # The rows appended without Spark read back in Spark as written, their commits tagged as the run's.
    assert recovery.parse_commit_tag(storage.last_commit(spark, tmp_path, ledger.TABLE).user_metadata)["attempt_id"] == "a3"
    written = storage.read_table(spark, tmp_path, ledger.TABLE).filter("run_id = 'run-3'").first()
    assert (written["started_at"], written["finished_at"], written["versions_read"], written["status"]) == (
        third["started_at"], third["finished_at"], {"events_raw": 7}, "succeeded")
    assert ledger.last_succeeded(spark, tmp_path, "bronze")["run_id"] == "run-3"
    assert ledger.last_succeeded(spark, tmp_path, "silver") is None

    # A row written by another process, which this one did not append.
    other = ledger_row("run-4", "silver", "succeeded", "a4")
    storage.append(spark.createDataFrame([tuple(other[f.name] for f in PIPELINE_RUNS)], PIPELINE_RUNS),
                   tmp_path, ledger.TABLE)
    assert ledger.succeeded_runs(spark, tmp_path) == {"a1", "a3", "a4"}
    assert ledger.last_succeeded(spark, tmp_path, "silver")["run_id"] == "run-4"

    # What `lib.ops.maintain --if-due` counts, read without Spark: bronze runs since the last maintenance.
    def bronze_since_maintenance() -> int:
        return ledger.runs_since(ledger.succeeded_without_spark(tmp_path), "bronze", maintain.LAYER)

    assert bronze_since_maintenance() == 2
    ledger.append_record(spark, tmp_path, ledger_row("run-5", maintain.LAYER, "succeeded", "m1"))
    assert bronze_since_maintenance() == 0
    ledger.append_record(spark, tmp_path, ledger_row("run-6", "bronze", "succeeded", "a6"))
    ledger.append_record(spark, tmp_path, ledger_row("run-7", maintain.LAYER, "failed", "m2"))
    assert bronze_since_maintenance() == 1
    assert ledger.succeeded_without_spark(tmp_path / "no-lake") == []

    # The lake deleted and started again: version 0 once more, another commit.
    shutil.rmtree(tmp_path / ledger.TABLE)
    ledger.append_record(spark, tmp_path, ledger_row("run-8", "gold", "succeeded", "a8"))
    assert storage.table_version(spark, tmp_path, ledger.TABLE) == 0
    assert ledger.succeeded_runs(spark, tmp_path) == {"a8"}


def test_recovery_restores_a_table_whose_newest_commit_is_unfinished_and_leaves_a_finished_one(
    spark: SparkSession, tmp_path: Path
) -> None:
    rows = spark.createDataFrame([(1, "a")], "id INT, name STRING")
    for name in ("product_performance", "customer_metrics"):
        with recovery.tagged_commits(spark, "finished", "run-1", "silver"):
            storage.append(rows, tmp_path, name)
    with recovery.tagged_commits(spark, "killed", "run-2", "gold"):
        storage.append(rows, tmp_path, "customer_metrics")

    (rollback,) = recovery.roll_back_unfinished(spark, tmp_path, {"finished"})
    assert (rollback.table, rollback.from_version, rollback.to_version, rollback.runs) == (
        "customer_metrics", 1, 0, ("run-2 (gold)",))
    assert storage.read_table(spark, tmp_path, "customer_metrics").count() == 1
    assert storage.table_version(spark, tmp_path, "product_performance") == 0
    assert recovery.roll_back_unfinished(spark, tmp_path, {"finished"}) == [], "the restore is a trusted commit"

"""The maintenance benchmark on two tiny days: its figures are the lake's own, and its report states them."""

from __future__ import annotations

from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from bench import maintenance
from lib.contracts import tables
from lib.lake import storage

pytestmark = pytest.mark.lake


def test_two_days_then_maintenance_leaves_one_file_per_partition_and_the_report_says_so(
    spark: SparkSession, tmp_path: Path
) -> None:
    result = maintenance.run(spark, maintenance.DEFAULT_PARAMS, tmp_path, days=2, events_per_day=300, repeats=1)

    assert result["silver_rows"] == storage.read_table(spark, tmp_path / "lake", tables.EVENTS_CLEANED.name).count() > 0
    raw_before, raw_after = result["before"]["tables"]["events_raw"], result["after"]["tables"]["events_raw"]
    partitions = storage.read_table(spark, tmp_path / "lake", "events_raw").select("event_type").distinct().count()
    assert raw_before["files"] > raw_after["files"] == partitions, "two days' files, then one per event_type"
    assert result["files_compacted"] >= raw_before["files"] - raw_after["files"] > 0
    assert raw_after["disk_bytes"] > raw_before["disk_bytes"], "the replaced files stay until the retention passes"
    assert set(result["after"]["tables"]) == set(result["before"]["tables"]) >= {"events_raw", "events_cleaned"}
    assert result["maintenance_seconds"] > 0 and result["daily_run_seconds"]["first"] > 0
    assert not (tmp_path / "rebuild-before").exists() and not (tmp_path / "rebuild-after").exists()

    report = maintenance.markdown(result, {"cpu": "2 cores", "memory": "1 GiB", "date": "today",
                                           "load_before": "0", "load_after": "0"})
    assert f"| events_raw | {raw_before['files']:,} | {raw_after['files']:,} |" in report
    assert "2 daily runs of 300 generated events" in report

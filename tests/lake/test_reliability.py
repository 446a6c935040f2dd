"""The pipeline under faults: SIGKILL mid-write in each layer, unfinished runs, two runs at once.

Each test ends by comparing every data table with a clean run of the same input (the
`pipeline_lake` fixture), row by row without the audit columns, and records the rows lost and
duplicated for the reliability summary printed at the end of the session.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from faults import KillPoint, run_and_kill, start_layers
from lakehouse_testing import RUN_DECIMALS, assert_same_rows, comparable, run_all_layers, scratch_params
from lib import layers
from lib.lake import lock, recovery, storage
from lib.layers import GOLD_TABLES
from lib.ops.compare import AUDIT_COLUMNS

DATA_TABLES = ("events_raw", "events_cleaned", "events_quarantine", *GOLD_TABLES)
KILL_POINTS = (
    KillPoint("events_raw"),
    KillPoint("events_cleaned"),
    KillPoint("events_cleaned", version=0),
    KillPoint("customer_metrics"),
    KillPoint("daily_sales_summary", version=0),
)
# `make reliability` adds the moments between the other commits of each layer.
LONG_KILL_POINTS = (
    KillPoint("events_raw", version=0),
    KillPoint("events_quarantine"),
    KillPoint("events_quarantine", version=0),
    KillPoint("dq_metrics", version=1),
    KillPoint("product_performance"),
    KillPoint("conversion_funnel", version=0),
)
if os.environ.get("LAKEHOUSE_RELIABILITY_LONG"):
    KILL_POINTS += LONG_KILL_POINTS


def compare_with_clean_run(spark: SparkSession, lake: Path, clean_lake: Path) -> dict[str, tuple[int, int]]:
    """Per table: (rows of the clean run missing here, rows here beyond the clean run), as multisets.

    The rows are compared as `assert_same_rows` compares two runs (without the audit columns, doubles to
    RUN_DECIMALS places), counted rather than asserted: the counts make the reliability summary.
    """
    differences = {}
    for name in DATA_TABLES:
        got, expected = (comparable(storage.read_table(spark, folder, name).drop(*AUDIT_COLUMNS), RUN_DECIMALS)
                         for folder in (lake, clean_lake))
        differences[name] = (expected.exceptAll(got).count(), got.exceptAll(expected).count())
    return differences


def record_outcome(record_property, fault: str, differences: dict[str, tuple[int, int]]) -> None:
    lost = sum(missing for missing, _ in differences.values())
    duplicated = sum(extra for _, extra in differences.values())
    record_property("reliability", {"category": "fault", "name": fault, "rows_lost": lost, "rows_duplicated": duplicated})


@pytest.mark.parametrize("point", KILL_POINTS, ids=lambda point: point.label.replace(" ", "-"))
def test_sigkill_then_rerun_equals_a_clean_run(
    spark: SparkSession, pipeline_lake: Path, tmp_path: Path, point: KillPoint, record_property
) -> None:
    params = scratch_params(tmp_path, run_id="killed")
    outcome = run_and_kill(params, point)
    assert outcome.killed, f"the run finished before {point.label}:\n{outcome.output[-2000:]}"
    if point.version is None:
        assert outcome.uncommitted_files > 0, f"the kill at {point.label} did not land mid-write"

    rerun = run_all_layers(spark, scratch_params(tmp_path, run_id="after-kill"))

    differences = compare_with_clean_run(spark, params.path("lake_dir"), pipeline_lake)
    record_outcome(record_property, f"SIGKILL {point.label}", differences)
    assert differences == {name: (0, 0) for name in DATA_TABLES}
    undone = {rollback.table for summary in rerun.values() for rollback in summary.record.rollbacks}
    if point.table != "events_raw":
        assert point.table in undone or point.version is None


def test_a_jvm_dying_mid_run_is_reported_with_what_to_do(tmp_path: Path) -> None:
    params = scratch_params(tmp_path, run_id="jvm-died", driver_memory="1g")
    outcome = run_and_kill(params, KillPoint("events_cleaned"), jvm_only=True)
    assert outcome.killed, f"the run finished before silver wrote:\n{outcome.output[-2000:]}"
    assert "SparkStopped: the Spark JVM stopped during the silver run jvm-died" in outcome.output, outcome.output[-3000:]
    assert "raise the parameter driver_memory (this run had 1g)" in outcome.output


def test_failed_run_is_undone_and_the_next_run_completes(
    spark: SparkSession, pipeline_lake: Path, tmp_path: Path, record_property
) -> None:
    params = scratch_params(tmp_path, run_id="first")
    run_all_layers(spark, params)
    lake = params.path("lake_dir")
    cleaned_version = storage.table_version(spark, lake, "events_cleaned")
    with recovery.tagged_commits(spark, "dead-attempt", "dead-run", "silver"):
        junk = storage.read_table(spark, lake, "events_quarantine").limit(3)
        storage.append(junk, lake, "events_quarantine")
        storage.overwrite(storage.read_table(spark, lake, "customer_metrics").limit(5), lake, "customer_metrics")

    summary = layers.run_silver(spark, scratch_params(tmp_path, run_id="second"))

    undone = {rollback.table: rollback for rollback in summary.record.rollbacks}
    assert set(undone) == {"events_quarantine", "customer_metrics"}
    assert undone["events_quarantine"].runs == ("dead-run (silver)",)
    assert storage.table_version(spark, lake, "events_cleaned") == cleaned_version
    differences = compare_with_clean_run(spark, lake, pipeline_lake)
    record_outcome(record_property, "unfinished silver commits", differences)
    assert differences == {name: (0, 0) for name in DATA_TABLES}


def test_a_busy_lake_refuses_after_the_timeout_naming_the_holder(pipeline_lake: Path, spark: SparkSession) -> None:
    params = scratch_params(pipeline_lake.parent, run_id="second-run", lock_timeout_seconds=1)
    with lock.lake_lock(pipeline_lake, "first-run", "silver", timeout_seconds=0):
        started = time.monotonic()
        with pytest.raises(lock.LakeBusy, match=r"being written by run first-run \(silver, pid \d+"):
            layers.run_silver(spark, params)
        assert time.monotonic() - started >= 1


def test_two_runs_at_once_wait_for_each_other(
    spark: SparkSession, pipeline_lake: Path, tmp_path: Path, record_property
) -> None:
    shutil.copytree(pipeline_lake.parent / "landing", tmp_path / "landing")
    children = [
        start_layers(scratch_params(tmp_path, run_id=f"concurrent-{n}", generate_input=False)) for n in (1, 2)
    ]
    outputs = [child.communicate(timeout=900)[0] for child in children]
    assert [child.returncode for child in children] == [0, 0], "\n".join(output[-2000:] for output in outputs)
    assert any("is being written by run concurrent-" in output for output in outputs)

    differences = compare_with_clean_run(spark, tmp_path / "lake", pipeline_lake)
    record_outcome(record_property, "two runs at once", differences)
    assert differences == {name: (0, 0) for name in DATA_TABLES}
    runs = storage.read_table(spark, tmp_path / "lake", "pipeline_runs").select("run_id", "layer", "status")
    every_layer = ("bronze", "silver", "gold")
    assert_same_rows(runs, [(f"concurrent-{n}", layer, "succeeded") for n in (1, 2) for layer in every_layer])

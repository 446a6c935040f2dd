"""The pipeline under faults: SIGKILL mid-write in each layer, unfinished runs, two runs at once.

A killed run is the killed layer alone, in a child process, on a copy of the lake as the layers before
it left it (a stage of params/ci.yaml); the rerun goes on from that layer in this process. Each test
ends by comparing every data table with a clean run of the same input (the `pipeline_lake` fixture),
row by row without the audit columns, and records the tables and rows compared, lost and duplicated
for the reliability summary printed at the end of the session.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from faults import KillPoint, run_and_kill, start_layers
from lakehouse_testing import (
    RUN_DECIMALS,
    STAGES,
    Stages,
    assert_same_rows,
    comparable,
    record_reliability,
    scratch_params,
)
from lib import layers
from lib.contracts.params import PipelineParams
from lib.lake import lock, recovery, storage
from lib.layers import GOLD_TABLES
from lib.ops.compare import AUDIT_COLUMNS

# The stages after landing are the layers, in the order they run.
LAYERS = STAGES[1:]
DATA_TABLES = ("events_raw", "events_cleaned", "events_quarantine", *GOLD_TABLES)
KILL_POINTS = (
    KillPoint("bronze", "events_raw"),
    KillPoint("silver", "events_cleaned"),
    KillPoint("silver", "events_cleaned", version=0),
    KillPoint("gold", "customer_metrics"),
    KillPoint("gold", "daily_sales_summary", version=0),
)
# `make reliability` adds the moments between the other commits of each layer. dq_metrics v1 is silver's
# commit: bronze's run wrote v0, in the copied stage too.
LONG_KILL_POINTS = (
    KillPoint("bronze", "events_raw", version=0),
    KillPoint("silver", "events_quarantine"),
    KillPoint("silver", "events_quarantine", version=0),
    KillPoint("silver", "dq_metrics", version=1),
    KillPoint("gold", "product_performance"),
    KillPoint("gold", "conversion_funnel", version=0),
)
if os.environ.get("LAKEHOUSE_RELIABILITY_LONG"):
    KILL_POINTS += LONG_KILL_POINTS
# Working column of the comparison: +1 for a row of the lake compared, -1 for a row of the clean run.
SIDE = "__side"


def stage_before(layer: str) -> str:
    """The stage a layer's run starts from: the lake as the layers before it left it."""
    return STAGES[STAGES.index(layer) - 1]


def run_from(spark: SparkSession, params: PipelineParams, layer: str) -> dict[str, layers.LayerSummary]:
    """The layer and the ones after it, in this process."""
    return {name: getattr(layers, f"run_{name}")(spark, params) for name in LAYERS[LAYERS.index(layer):]}


def compare_with_clean_run(spark: SparkSession, lake: Path, clean_lake: Path) -> dict[str, tuple[int, int, int]]:
    """Per table: (rows of the clean run, of them missing here, rows here beyond the clean run), as multisets.

    The rows are compared as `assert_same_rows` compares two runs (without the audit columns, doubles to
    RUN_DECIMALS places), counted rather than asserted: the counts make the reliability summary.
    """
    differences = {}
    for name in DATA_TABLES:
        got, expected = (comparable(storage.read_table(spark, folder, name).drop(*AUDIT_COLUMNS), RUN_DECIMALS)
                         for folder in (lake, clean_lake))
        differences[name] = multiset_difference(got, expected)
    return differences


def multiset_difference(got: DataFrame, expected: DataFrame) -> tuple[int, int, int]:
    """(rows expected, expected rows missing from got, rows of got beyond the expected), in one pass.

    What two `exceptAll`s and three counts would give: each distinct row, nulls equal, counted on both sides.
    """
    sides = got.withColumn(SIDE, F.lit(1)).unionByName(expected.withColumn(SIDE, F.lit(-1)))
    per_row = sides.groupBy(*got.columns).agg(
        F.sum(F.when(F.col(SIDE) < 0, 1).otherwise(0)).alias("expected"), F.sum(SIDE).alias("surplus")
    )
    totals = per_row.agg(
        F.sum("expected"), F.sum(F.greatest(-F.col("surplus"), F.lit(0))), F.sum(F.greatest("surplus", F.lit(0)))
    ).first()
    return tuple(int(total or 0) for total in totals)


def record_outcome(record_property, fault: str, differences: dict[str, tuple[int, int, int]]) -> None:
    record_reliability(
        record_property,
        fault,
        tables_compared=len(differences),
        tables_equal=sum(lost == extra == 0 for _, lost, extra in differences.values()),
        rows_compared=sum(rows for rows, _, _ in differences.values()),
        rows_lost=sum(lost for _, lost, _ in differences.values()),
        rows_duplicated=sum(extra for _, _, extra in differences.values()),
    )


def assert_equal_to_the_clean_run(differences: dict[str, tuple[int, int, int]]) -> None:
    lost_and_extra = {name: (lost, extra) for name, (_, lost, extra) in differences.items()}
    assert lost_and_extra == {name: (0, 0) for name in DATA_TABLES}


@pytest.mark.end_to_end
@pytest.mark.parametrize("point", KILL_POINTS, ids=lambda point: point.label.replace(" ", "-"))
def test_sigkill_then_rerun_equals_a_clean_run(
    spark: SparkSession, stages: Stages, pipeline_lake: Path, tmp_path: Path, point: KillPoint, record_property
) -> None:
    params = stages.copy(stage_before(point.layer), tmp_path, run_id="killed")
    outcome = run_and_kill(params, point)
    assert outcome.killed, f"the run finished before {point.label}:\n{outcome.output[-2000:]}"
    if point.version is None:
        assert outcome.uncommitted_files > 0, f"the kill at {point.label} did not land mid-write"

    rerun = run_from(spark, scratch_params(tmp_path, run_id="after-kill", generate_input=False), point.layer)

    differences = compare_with_clean_run(spark, params.path("lake_dir"), pipeline_lake)
    record_outcome(record_property, f"SIGKILL {point.label}", differences)
    assert_equal_to_the_clean_run(differences)
    undone = {rollback.table for summary in rerun.values() for rollback in summary.record.rollbacks}
    if point.table != "events_raw":
        assert point.table in undone or point.version is None


@pytest.mark.end_to_end
def test_a_jvm_dying_mid_run_is_reported_with_what_to_do(stages: Stages, tmp_path: Path) -> None:
    params = stages.copy("bronze", tmp_path, run_id="jvm-died", driver_memory="1g")
    outcome = run_and_kill(params, KillPoint("silver", "events_cleaned"), jvm_only=True)
    assert outcome.killed, f"the run finished before silver wrote:\n{outcome.output[-2000:]}"
    assert "SparkStopped: the Spark JVM stopped during the silver run jvm-died" in outcome.output, outcome.output[-3000:]
    assert "raise the parameter driver_memory (this run had 1g)" in outcome.output


def test_failed_run_is_undone_and_the_next_run_completes(
    spark: SparkSession, stages: Stages, pipeline_lake: Path, tmp_path: Path, record_property
) -> None:
    lake = stages.copy("gold", tmp_path).path("lake_dir")
    cleaned_version = storage.table_version(spark, lake, "events_cleaned")
    with recovery.tagged_commits(spark, "dead-attempt", "dead-run", "silver"):
        junk = storage.read_table(spark, lake, "events_quarantine").limit(3)
        storage.append(junk, lake, "events_quarantine")
        storage.overwrite(storage.read_table(spark, lake, "customer_metrics").limit(5), lake, "customer_metrics")

    summary = layers.run_silver(spark, scratch_params(tmp_path, run_id="second", generate_input=False))

    undone = {rollback.table: rollback for rollback in summary.record.rollbacks}
    assert set(undone) == {"events_quarantine", "customer_metrics"}
    assert undone["events_quarantine"].runs == ("dead-run (silver)",)
    assert storage.table_version(spark, lake, "events_cleaned") == cleaned_version
    differences = compare_with_clean_run(spark, lake, pipeline_lake)
    record_outcome(record_property, "unfinished silver commits", differences)
    assert_equal_to_the_clean_run(differences)


def test_a_busy_lake_refuses_after_the_timeout_naming_the_holder(
    spark: SparkSession, stages: Stages, tmp_path: Path
) -> None:
    params = stages.copy("bronze", tmp_path, run_id="second-run", lock_timeout_seconds=1)
    with lock.lake_lock(params.path("lake_dir"), "first-run", "silver", timeout_seconds=0):
        started = time.monotonic()
        with pytest.raises(lock.LakeBusy, match=r"being written by run first-run \(silver, pid \d+"):
            layers.run_silver(spark, params)
        assert time.monotonic() - started >= 1


@pytest.mark.end_to_end
def test_two_runs_at_once_wait_for_each_other(
    spark: SparkSession, stages: Stages, pipeline_lake: Path, tmp_path: Path, record_property
) -> None:
    stages.copy("landing", tmp_path)
    children = [
        start_layers(scratch_params(tmp_path, run_id=f"concurrent-{n}", generate_input=False)) for n in (1, 2)
    ]
    outputs = [child.communicate(timeout=900)[0] for child in children]
    assert [child.returncode for child in children] == [0, 0], "\n".join(output[-2000:] for output in outputs)
    assert any("is being written by run concurrent-" in output for output in outputs)

    differences = compare_with_clean_run(spark, tmp_path / "lake", pipeline_lake)
    record_outcome(record_property, "two runs at once", differences)
    assert_equal_to_the_clean_run(differences)
    runs = storage.read_table(spark, tmp_path / "lake", "pipeline_runs").select("run_id", "layer", "status")
    assert_same_rows(runs, [(f"concurrent-{n}", layer, "succeeded") for n in (1, 2) for layer in LAYERS])

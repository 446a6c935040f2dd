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
from pyspark.sql import SparkSession

from faults import KillPoint, assert_as_the_clean_run, run_and_kill, start_layers
from lakehouse_testing import STAGES, Stages, assert_same_rows, scratch_params
from lib import layers
from lib.contracts.params import PipelineParams
from lib.lake import lock, recovery, storage

# The stages after landing are the layers, in the order they run.
LAYERS = STAGES[1:]
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
    KillPoint("gold", "product_totals", version=0),
)
if os.environ.get("LAKEHOUSE_RELIABILITY_LONG"):
    KILL_POINTS += LONG_KILL_POINTS


def stage_before(layer: str) -> str:
    """The stage a layer's run starts from: the lake as the layers before it left it."""
    return STAGES[STAGES.index(layer) - 1]


def run_from(spark: SparkSession, params: PipelineParams, layer: str) -> dict[str, layers.LayerSummary]:
    """The layer and the ones after it, in this process."""
    return {name: getattr(layers, f"run_{name}")(spark, params) for name in LAYERS[LAYERS.index(layer):]}


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

    assert_as_the_clean_run(spark, params.path("lake_dir"), pipeline_lake, record_property, f"SIGKILL {point.label}")
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
    assert_as_the_clean_run(spark, lake, pipeline_lake, record_property, "unfinished silver commits")


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

    assert_as_the_clean_run(spark, tmp_path / "lake", pipeline_lake, record_property, "two runs at once")
    runs = storage.read_table(spark, tmp_path / "lake", "pipeline_runs").select("run_id", "layer", "status")
    assert_same_rows(runs, [(f"concurrent-{n}", layer, "succeeded") for n in (1, 2) for layer in LAYERS])

"""Maintenance under faults: between daily loads, SIGKILLed while it compacts and while it vacuums, two at once.

The lake is a copy of the ci lake's gold stage (3 generated days, run "fixture-run") with a fourth day (the tests'
day-4 stage), so that its partitions hold several files. The clean run is the tests' day-5 stage, which
loads day 5 after it with no maintenance (read, never changed); every maintained or faulted lake loads day 5
after its maintenance and is compared with the clean run table by table, row by row without the audit
columns. The figures go to the reliability summary. A run reproduced after maintenance is tested in test_reproduce.py.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from faults import (
    assert_as_the_clean_run,
    data_files,
    kill_when,
    start_maintenance,
    uncommitted_data_files,
    wait_until_holding_the_lock,
)
from lakehouse_testing import FIFTH_DAY, FOURTH_DAY, Stages, run_all_layers, scratch_params
from lib.contracts import tables
from lib.contracts.paths import REPO_ROOT
from lib.lake import ledger, storage
from lib.ops import maintain

pytestmark = pytest.mark.end_to_end

RETENTION_CHECK_OFF = {"spark.databricks.delta.retentionDurationCheck.enabled": "false"}


@pytest.fixture(scope="module")
def four_days(spark: SparkSession, stages: Stages, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The gold stage and a fourth day, loaded by run "day-4"; the folder of its landing files and lake."""
    root = tmp_path_factory.mktemp("four-days")
    stages.with_fourth_day(spark).copy(FOURTH_DAY, root)
    return root


def copy_of(four_days: Path, to: Path) -> Path:
    shutil.copytree(four_days, to, dirs_exist_ok=True)
    return to


def load_day_5(spark: SparkSession, root: Path) -> None:
    run_all_layers(spark, scratch_params(root, run_id="day-5", generator_days=5))


@pytest.fixture(scope="module")
def clean_lake(spark: SparkSession, stages: Stages) -> Path:
    """Day 5 loaded after day 4 with no maintenance between them: the shared stage, read only."""
    return stages.with_fifth_day(spark).lake(FIFTH_DAY)


def rows_per_table(spark: SparkSession, lake: Path) -> dict[str, int]:
    """The rows of every table but the ledger, which a maintenance's own row grows."""
    return {name: storage.read_table(spark, lake, name).count() for name in tables.TABLES
            if name != ledger.TABLE and storage.table_exists(spark, lake, name)}


def maintenance_rows(spark: SparkSession, lake: Path) -> list[dict]:
    runs = storage.read_table(spark, lake, ledger.TABLE).filter(F.col("layer") == maintain.LAYER)
    return [row.asDict() for row in runs.orderBy("finished_at").collect()]


@pytest.fixture(scope="module")
def maintained_between(spark: SparkSession, four_days: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Day 4, then a maintenance that compacts, then day 5; the lake."""
    root = copy_of(four_days, tmp_path_factory.mktemp("maintained-between"))
    summary = maintain.maintain(spark, scratch_params(root, run_id="between", generate_input=False))
    assert sum(table.files_compacted for table in summary.tables) > 0
    load_day_5(spark, root)
    return root / "lake"


def test_maintenance_between_two_daily_loads_leaves_every_table_as_a_clean_run_leaves_it(
    spark: SparkSession, maintained_between: Path, clean_lake: Path, record_property
) -> None:
    assert_as_the_clean_run(spark, maintained_between, clean_lake, record_property, "maintenance between daily loads")


def vacuum_started(table_dir: Path, commits_before: set[str]) -> bool:
    """Whether a commit since `commits_before` is a VACUUM START."""
    for commit in (table_dir / "_delta_log").glob("*.json"):
        if commit.name not in commits_before and '"operation":"VACUUM START"' in commit.read_text():
            return True
    return False


def test_sigkill_while_compacting_then_while_vacuuming_loses_nothing_and_the_next_maintenance_and_load_proceed(
    spark: SparkSession, four_days: Path, clean_lake: Path, tmp_path: Path, record_property
) -> None:
    root = copy_of(four_days, tmp_path)
    lake = root / "lake"
    rows_before = rows_per_table(spark, lake)

    # Killed at the first file its compaction of events_raw writes: nothing committed, no ledger row.
    files_before = data_files(lake / "events_raw")
    child = start_maintenance(scratch_params(root, run_id="killed-compacting", generate_input=False))
    killed, output = kill_when(child, lambda: bool(data_files(lake / "events_raw") - files_before))
    assert killed, f"maintenance finished before its compaction wrote a file:\n{output[-2000:]}"
    assert uncommitted_data_files(lake / "events_raw") > 0, "the kill did not land mid-compaction"
    assert rows_per_table(spark, lake) == rows_before
    assert maintenance_rows(spark, lake) == [], "a killed maintenance has no ledger row"
    again = maintain.maintain(spark, scratch_params(root, run_id="after-compacting", generate_input=False))
    assert {table.table for table in again.tables} == {*rows_before, ledger.TABLE}
    assert rows_per_table(spark, lake) == rows_before

    # Killed once its VACUUM of events_raw has started, with no retention: it deletes the files the compaction
    # replaced (and the killed compaction's), which no version needs but the old ones.
    commits_before = {path.name for path in (lake / "events_raw" / "_delta_log").glob("*.json")}
    referenced = len(storage.read_table(spark, lake, "events_raw").inputFiles())
    assert len(data_files(lake / "events_raw")) > referenced
    no_retention = scratch_params(root, run_id="killed-vacuuming", generate_input=False, maintenance_retention_hours=0)
    child = start_maintenance(no_retention, RETENTION_CHECK_OFF)
    killed, output = kill_when(child, lambda: vacuum_started(lake / "events_raw", commits_before))
    assert killed, f"maintenance finished before its VACUUM started:\n{output[-2000:]}"
    assert rows_per_table(spark, lake) == rows_before
    again = maintain.maintain(spark, scratch_params(root, run_id="after-vacuuming", generate_input=False))
    assert {table.table for table in again.tables} == {*rows_before, ledger.TABLE}

    load_day_5(spark, root)
    assert_as_the_clean_run(spark, lake, clean_lake, record_property, "SIGKILL mid-compaction, then during VACUUM")


def test_two_maintenance_commands_at_once_take_turns_and_leave_every_table_readable_and_whole(
    spark: SparkSession, four_days: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`python -m lib.ops.maintain` in a process of its own, and a maintenance in this process once the command
    holds the lake's lock."""
    root = copy_of(four_days, tmp_path)
    lake = root / "lake"
    rows_before = rows_per_table(spark, lake)
    params_file = root / "params.yaml"
    params_file.write_text(json.dumps({"lake_dir": str(lake), "landing_dir": str(root / "landing"),
                                       "shuffle_partitions": 2, "driver_memory": "1g"}))
    command = subprocess.Popen([sys.executable, "-m", "lib.ops.maintain", "--params", str(params_file),
                                "--set", "run_id=concurrent-1"], cwd=REPO_ROOT, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
    wait_until_holding_the_lock(command, lake, "concurrent-1")
    maintain.maintain(spark, scratch_params(root, run_id="concurrent-2", generate_input=False))
    output = command.communicate(timeout=1200)[0]
    assert command.returncode == 0, output[-2000:]
    assert "is being written by run concurrent-1 (maintenance" in capsys.readouterr().out

    assert rows_per_table(spark, lake) == rows_before
    runs = maintenance_rows(spark, lake)
    assert sorted((run["run_id"], run["status"]) for run in runs) == [
        ("concurrent-1", "succeeded"), ("concurrent-2", "succeeded")]
    # Each table's commits: the second run's start where the first's end (the ledger's after the first's row),
    # none interleaved.
    first, second = ({entry["table"]: entry for entry in json.loads(run["maintenance"])} for run in runs)
    assert {name: entry["version_before"] for name, entry in second.items()} == {
        name: entry["version_after"] + (name == ledger.TABLE) for name, entry in first.items()}
    compacted = [sum(entry["files_compacted"] for entry in run.values()) for run in (first, second)]
    assert compacted[0] > 0 and compacted[1] == 0, "the second finds the first's work done"
    for name in rows_before:
        assert storage.read_table(spark, lake, name).inputFiles(), name

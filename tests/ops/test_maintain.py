"""Maintenance on a real lake: compaction of the partitions that changed, rows kept, its ledger row, recovery.

A copy of the ci lake's gold stage (3 generated days, run "fixture-run") with a fourth and a fifth day loaded
by the real pipeline (the tests' day-5 stage), so that its partitions hold several files, is
maintained: every partition is compacted to one file, the first time. A second maintenance, through the command, finds nothing
changed and commits nothing; the three layers after it undo nothing and find nothing new (maintenance's
commits change no rows), a new day after it is an incremental gold run equal to a rebuild, and `--if-due 2`
finds one bronze run since and does nothing; a retention Delta refuses is a bad parameter. With the default
retention no file is old enough to VACUUM, and VACUUM is not run. On a copy, a maintenance
with a retention of 0 hours (Delta's retention check off for it) deletes the compacted files, and
reproducing the first run then stops in one line.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
from collections import defaultdict
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import pytest
from delta.tables import DeltaTable
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from lakehouse_testing import (
    FIFTH_DAY, RUN_DECIMALS, STAGE_RUN_ID, Stages, assert_same_rows, rebuilt_tables, run_all_layers, scratch_params,
)
from lib.contracts import tables
from lib.lake import ledger, recovery, storage
from lib.lake.session import settings
from lib.ops import maintain, reproduce
from lib.orchestration.notebooks import STORED_OUTPUTS_PARAMS

PARTITIONED = tuple(table.name for table in tables.TABLES.values() if table.partitioning)
RETENTION_CHECK_OFF = {"spark.databricks.delta.retentionDurationCheck.enabled": "false"}


def files_by_partition(spark: SparkSession, lake: Path, name: str, version: int | None = None) -> dict[str, set]:
    """The table's data files at the version (the latest when None), by partition folder."""
    found: dict[str, set] = defaultdict(set)
    for uri in storage.read_table(spark, lake, name, version=version).inputFiles():
        path = Path(unquote(urlparse(uri).path))
        found[str(path.parent.relative_to(lake / name))].add(path.name)
    return dict(found)


def files_and_bytes(spark: SparkSession, lake: Path, name: str, version: int) -> tuple[int, int]:
    """The files and bytes of a version as the Delta log lists them, measured on disk."""
    paths = [Path(unquote(urlparse(uri).path)) for uri in storage.read_table(spark, lake, name, version).inputFiles()]
    return len(paths), sum(path.stat().st_size for path in paths)


def folder(label: str) -> str:
    """A partition as maintenance names it, as the folder Delta writes it to."""
    return "/".join(part.replace("=None", "=__HIVE_DEFAULT_PARTITION__") for part in label.split("/"))


def maintenance_row(spark: SparkSession, lake: Path, run_id: str) -> dict[str, Any]:
    row = storage.read_table(spark, lake, ledger.TABLE).filter(F.col("run_id") == run_id).first().asDict()
    return {**row, "maintenance": {entry["table"]: entry for entry in json.loads(row["maintenance"])}}


@pytest.fixture(scope="module")
def maintained(
    spark: SparkSession, stages: Stages, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("maintain")
    stages.with_fifth_day(spark).copy(FIFTH_DAY, root)
    lake = root / "lake"
    existing = [name for name in tables.TABLES if storage.table_exists(spark, lake, name)]
    steps: dict[str, Any] = {"lake": lake, "root": root, "existing": existing}
    steps["before"] = {name: files_by_partition(spark, lake, name) for name in PARTITIONED}
    steps["versions_before"] = {name: storage.table_version(spark, lake, name) for name in existing}

    steps["first"] = maintain.maintain(spark, scratch_params(root, run_id="first-maintenance", generate_input=False))
    steps["after"] = {name: files_by_partition(spark, lake, name) for name in PARTITIONED}

    command = ["--params", str(STORED_OUTPUTS_PARAMS), "--set", f"lake_dir={lake}",
               "--set", f"landing_dir={root / 'landing'}", "--set", "run_id=second-maintenance"]
    steps["second_exit"] = maintain.main(command)
    steps["versions_maintained"] = {name: storage.table_version(spark, lake, name) for name in existing}
    steps["after_maintenance"] = run_all_layers(
        spark, scratch_params(root, run_id="after-maintenance", generate_input=False))
    return steps


def test_the_first_maintenance_compacts_every_partition_and_the_file_count_goes_down(
    maintained: dict[str, Any],
) -> None:
    first = {table.table: table for table in maintained["first"].tables}
    assert set(first) == set(maintained["existing"])
    for name in PARTITIONED:
        before, after = maintained["before"][name], maintained["after"][name]
        assert first[name].partitions is None
        assert set(after) == set(before), name
        assert all(len(after[partition]) == 1 <= len(files) for partition, files in before.items()), name
    raw_before, raw_after = maintained["before"]["events_raw"], maintained["after"]["events_raw"]
    assert sum(map(len, raw_after.values())) < sum(map(len, raw_before.values()))
    assert first["events_raw"].files_compacted > first["events_raw"].files_written > 0


def test_every_table_keeps_its_rows(spark: SparkSession, maintained: dict[str, Any]) -> None:
    lake = maintained["lake"]
    for table in maintained["first"].tables:
        before = storage.read_table(spark, lake, table.table, version=table.version_before)
        after = storage.read_table(spark, lake, table.table, version=table.version_after)
        assert_same_rows(after, before)


def test_the_ledger_row_records_the_files_and_bytes_the_delta_log_lists(
    spark: SparkSession, maintained: dict[str, Any],
) -> None:
    lake = maintained["lake"]
    row = maintenance_row(spark, lake, "first-maintenance")
    assert (row["layer"], row["notebook"], row["status"]) == (maintain.LAYER, maintain.NOTEBOOK, "succeeded")
    assert set(row["maintenance"]) == set(maintained["existing"])
    for name, entry in row["maintenance"].items():
        assert entry["version_before"] == maintained["versions_before"][name] == row["versions_read"][name]
        assert entry["version_after"] == row["versions_written"][name]
        before = files_and_bytes(spark, lake, name, entry["version_before"])
        after = files_and_bytes(spark, lake, name, entry["version_after"])
        assert (entry["files_before"], entry["bytes_before"]) == before, name
        assert (entry["files_after"], entry["bytes_after"]) == after, name
        assert entry["files_before"] - entry["files_compacted"] + entry["files_written"] == entry["files_after"]


def test_maintenance_commits_carry_no_run_tag_and_the_next_run_undoes_nothing(
    spark: SparkSession, maintained: dict[str, Any],
) -> None:
    lake = maintained["lake"]
    for table in maintained["first"].tables:
        commits = DeltaTable.forPath(spark, storage.table_path(lake, table.table)).history()
        ours = commits.filter(F.col("version").between(table.version_before + 1, table.version_after)).collect()
        operations = {row["operation"] for row in ours}
        # The log retention is set the first time; no file is 720 hours old, so there is nothing to VACUUM.
        assert "SET TBLPROPERTIES" in operations and operations <= {"OPTIMIZE", "SET TBLPROPERTIES"}, table.table
        assert [recovery.parse_commit_tag(row["userMetadata"]) for row in ours] == [None] * len(ours)
    assert maintained["after_maintenance"]["bronze"].record.rollbacks == []


def test_the_layers_after_maintenance_find_nothing_new_and_write_only_their_ledger_rows(
    spark: SparkSession, maintained: dict[str, Any],
) -> None:
    runs = maintained["after_maintenance"]
    assert runs["silver"].details["counts"] == {}, "maintenance's commits to events_raw are no new rows"
    assert runs["gold"].details["mode"] == "unchanged", runs["gold"].details["reason"]
    lake = maintained["lake"]
    after = {name: storage.table_version(spark, lake, name) for name in maintained["existing"]}
    assert after == {**maintained["versions_maintained"], ledger.TABLE: after[ledger.TABLE]}
    assert after[ledger.TABLE] > maintained["versions_maintained"][ledger.TABLE]


def test_a_new_day_after_maintenance_updates_gold_incrementally_and_equals_a_rebuild(
    spark: SparkSession, maintained: dict[str, Any], tmp_path: Path,
) -> None:
    shutil.copytree(maintained["root"], tmp_path, dirs_exist_ok=True)
    params = scratch_params(tmp_path, run_id="day-6", generator_days=6)  # lands day 6 only
    gold = run_all_layers(spark, params)["gold"]
    assert gold.details["mode"] == "incremental", gold.details["reason"]
    assert gold.details["touched"]["dates"] == [dt.date(2019, 10, 6)]
    rebuilt = rebuilt_tables(spark, params.path("lake_dir"), params)
    for name, table in rebuilt.items():
        assert_same_rows(storage.read_table(spark, params.path("lake_dir"), name), table, decimals=RUN_DECIMALS)


def test_a_second_maintenance_with_nothing_changed_commits_nothing(
    spark: SparkSession, maintained: dict[str, Any],
) -> None:
    assert maintained["second_exit"] == 0
    row = maintenance_row(spark, maintained["lake"], "second-maintenance")
    assert row["status"] == "succeeded"
    for name, entry in row["maintenance"].items():
        assert (entry["partitions"], entry["files_compacted"], entry["files_vacuumed"]) == ([], 0, 0), name
        assert entry["files_after"] == entry["files_before"], name
        assert entry["version_after"] == entry["version_before"], f"{name}: no step had work, no commit"


def test_a_bad_parameter_is_one_line_and_exit_code_2(
    spark: SparkSession, maintained: dict[str, Any], capsys: pytest.CaptureFixture[str],
) -> None:
    assert maintain.main(["--params", str(STORED_OUTPUTS_PARAMS), "--set", "maintenance_retention_hours=-1"]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "maintenance_retention_hours=-1: expected maintenance_retention_hours >= 0" in error

    lake = maintained["lake"]
    ledger_version = storage.table_version(spark, lake, ledger.TABLE)
    refused = maintain.main(["--params", str(STORED_OUTPUTS_PARAMS), "--set", f"lake_dir={lake}",
                             "--set", "maintenance_retention_hours=0"])
    error = capsys.readouterr().err
    assert refused == 2, error
    assert error.count("\n") == 1 and "maintenance_retention_hours=0: Delta's retention check refuses it" in error
    assert storage.table_version(spark, lake, ledger.TABLE) == ledger_version


def test_reproducing_a_run_older_than_the_retention_is_one_line(
    spark: SparkSession, maintained: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    shutil.copytree(maintained["root"], tmp_path, dirs_exist_ok=True)
    lake = tmp_path / "lake"
    no_retention = scratch_params(tmp_path, run_id="vacuum-all", generate_input=False, maintenance_retention_hours=0)
    with settings(spark, RETENTION_CHECK_OFF):
        vacuumed = {table.table: table for table in maintain.maintain(spark, no_retention).tables}
    compacted_away = [maintained["before"]["events_raw"][partition] - files
                      for partition, files in maintained["after"]["events_raw"].items()]
    assert vacuumed["events_raw"].files_vacuumed >= len(set().union(*compacted_away)) > 0
    runs = storage.read_table(spark, lake, ledger.TABLE).filter(F.col("run_id") == STAGE_RUN_ID)
    started = runs.filter(F.col("layer") == "bronze").first()["started_at"]
    capsys.readouterr()

    code = reproduce.main(["--lake", str(lake), "--run-id", STAGE_RUN_ID, "--scratch", str(tmp_path / "scratch"),
                           "--runs-dir", str(tmp_path / "runs")])

    error = capsys.readouterr().err
    assert code == 1
    assert error.count("\n") == 1 and "Traceback" not in error and "Exception" not in error
    assert f"error: run {STAGE_RUN_ID} of {started:%Y-%m-%d} cannot be reproduced: " in error
    assert "the lake keeps 0 hours of versions (maintenance_retention_hours of maintenance run vacuum-all)" in error


def test_if_due_counts_the_bronze_runs_since_the_last_maintenance_and_is_not_due_after_one(
    spark: SparkSession, maintained: dict[str, Any], capsys: pytest.CaptureFixture[str],
) -> None:
    lake = maintained["lake"]
    ledger_version = storage.table_version(spark, lake, ledger.TABLE)
    capsys.readouterr()
    code = maintain.main(["--params", str(STORED_OUTPUTS_PARAMS), "--set", f"lake_dir={lake}", "--if-due", "2"])
    assert code == 0
    assert "maintenance: not due, 1 of 2 bronze runs since the last one" in capsys.readouterr().out
    assert storage.table_version(spark, lake, ledger.TABLE) == ledger_version
    with pytest.raises(SystemExit) as usage:
        maintain.main(["--params", str(STORED_OUTPUTS_PARAMS), "--if-due", "0"])
    assert usage.value.code == 2

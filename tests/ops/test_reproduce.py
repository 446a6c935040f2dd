"""Reproducing a past run from pipeline_runs: the time-travel clone, and the command end to end.

The lake is a copy of the ci lake's gold stage (3 generated days, run "fixture-run") and a second run of
the real pipeline, "day-4", in-process, adding the fourth day (the tests' day-4 stage); the second run is the one reproduced, because its
silver and gold are incremental: they read versions an earlier run left, which only a clone with the
same version numbers reproduces. A maintenance after both has compacted the files of those versions since.
The comparison of a table with its reproduction is tested on literal rows in test_reproduce_check.py.
"""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest
from delta.tables import DeltaTable
from pyspark.sql import SparkSession

from lakehouse_testing import FOURTH_DAY, Stages, assert_same_rows, ran_in_one_kernel, scratch_params
from lib.lake import storage, timetravel
from lib.layers.gold import STATE_TABLES
from lib.ops import maintain, reproduce

GOLD = ("conversion_funnel", "customer_metrics", "daily_sales_summary", "product_performance")


@pytest.fixture(scope="module")
def two_runs(spark: SparkSession, stages: Stages, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A lake after a first run on days 1-3 (the gold stage), a second run adding day 4, and a maintenance that
    compacted what both wrote; its folder."""
    root = tmp_path_factory.mktemp("reproduce")
    stages.with_fourth_day(spark).copy(FOURTH_DAY, root)
    summary = maintain.maintain(spark, scratch_params(root, run_id="maintenance", generate_input=False))
    assert sum(table.files_compacted for table in summary.tables) > 0
    return root


def run_command(root: Path, tmp_path: Path, run_id: str, *options: str) -> list[str]:
    return [
        "--lake", str(root / "lake"), "--run-id", run_id, "--scratch", str(tmp_path / "scratch"),
        "--runs-dir", str(tmp_path / "runs"), *options,
    ]


@pytest.mark.lake
def test_a_clone_reads_as_the_table_at_its_version_with_the_same_numbers(spark: SparkSession, tmp_path: Path) -> None:
    source, clone = tmp_path / "table", tmp_path / "clone"
    rows = spark.createDataFrame([(1, "a"), (2, "b"), (3, None)], "id INT, name STRING")
    (rows.write.format("delta").option("delta.enableDeletionVectors", "true")
     .option("delta.enableChangeDataFeed", "true").option("delta.checkpointInterval", "2").save(str(source)))
    DeltaTable.forPath(spark, str(source)).delete("id = 2")  # version 1: a deletion vector
    rows.limit(1).write.format("delta").mode("append").save(str(source))  # version 2, checkpointed
    DeltaTable.forPath(spark, str(source)).delete("id = 1")  # version 3, past the clone
    assert json.loads((source / "_delta_log" / "_last_checkpoint").read_text())["version"] == 2
    assert list(source.glob("deletion_vector_*.bin"))

    timetravel.clone_table(source, clone, 1)

    assert not (clone / "_delta_log" / "_last_checkpoint").exists()
    assert DeltaTable.forPath(spark, str(clone)).history().agg({"version": "max"}).first()[0] == 1
    for version in (0, 1):
        assert_same_rows(
            spark.read.format("delta").option("versionAsOf", version).load(str(clone)),
            spark.read.format("delta").option("versionAsOf", version).load(str(source)),
        )
    changes = (spark.read.format("delta").option("readChangeFeed", "true").option("startingVersion", 1)
               .load(str(clone)).select("id", "_change_type"))
    assert_same_rows(changes, spark.createDataFrame([(2, "delete")], "id INT, _change_type STRING"))


@pytest.mark.lake
def test_the_clone_at_a_checkpoint_takes_it_and_its_pointer(spark: SparkSession, tmp_path: Path) -> None:
    source, clone = tmp_path / "table", tmp_path / "clone"
    for value in range(4):
        (spark.createDataFrame([(value,)], "id INT").write.format("delta").mode("append")
         .option("delta.checkpointInterval", "2").save(str(source)))
    (source / "_delta_log" / f"{0:020d}.json").unlink()  # as after log cleanup: version 2 needs its checkpoint

    timetravel.clone_table(source, clone, 2)

    assert (clone / "_delta_log" / "_last_checkpoint").exists()
    assert_same_rows(spark.read.format("delta").load(str(clone)), [(0,), (1,), (2,)])


@pytest.mark.end_to_end
def test_a_reproduced_incremental_run_is_identical(
    spark: SparkSession, two_runs: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = reproduce.main(run_command(two_runs, tmp_path, FOURTH_DAY, "--one-kernel"))

    out = capsys.readouterr().out
    assert code == 0, out
    assert "cloned events_raw at version 0" in out, out
    assert "pipeline_runs: the 3 rows finished before the run started" in out, out
    written = ("events_raw", "events_cleaned", "events_quarantine", *GOLD, *STATE_TABLES)
    for table in written:
        assert f"\n{table}: " in out and f"{table}: 0 rows" not in out, out
    assert out.count(", identical\n") == len(written) + 1, out  # and dq_metrics, the run's rows
    for layer in ("bronze", "silver", "gold"):
        assert f"pipeline_runs {layer}: rows and Delta versions read and written as recorded" in out, out
    reproduced = tmp_path / "runs" / f"{FOURTH_DAY}-reproduced"
    gold_notebook = nbformat.read(reproduced / "03_gold.ipynb", as_version=4)
    assert any("gold incremental" in json.dumps(cell.get("outputs", [])) for cell in gold_notebook.cells)
    assert ran_in_one_kernel(reproduced)
    silver = storage.read_table(spark, tmp_path / "scratch" / "lake", "pipeline_runs").filter(
        f"run_id = '{FOURTH_DAY}-reproduced' AND layer = 'silver'"
    ).first()
    assert silver["versions_read"]["events_raw"] == 1 and silver["rows_in"] < 2 * 2000  # the fourth day only


@pytest.mark.end_to_end
def test_a_changed_parameter_is_reported_as_a_difference(
    two_runs: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = reproduce.main(run_command(two_runs, tmp_path, FOURTH_DAY, "--layer", "silver", "--set", "max_price=100"))

    out = capsys.readouterr().out
    assert code == 1, out
    assert "02_silver.ipynb executed" in out and "01_bronze.ipynb" not in out, out
    assert [line for line in out.splitlines() if line.startswith("events_cleaned: ") and " differ (" in line], out
    assert f"run {FOURTH_DAY} NOT reproduced identically" in out


def test_an_unknown_run_is_one_line_and_exit_code_2(
    two_runs: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = reproduce.main(run_command(two_runs, tmp_path, "no-such-run"))

    err = capsys.readouterr().err
    assert code == 2
    assert err.splitlines() == [f"error: run no-such-run is not in {two_runs / 'lake' / 'pipeline_runs'}"]


def test_a_landing_file_gone_is_named_and_nothing_runs(
    two_runs: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    day_four = next((two_runs / "landing").glob("*2019-10-04*"))
    hidden = day_four.with_name(".hidden-" + day_four.name)
    day_four.rename(hidden)
    try:
        code = reproduce.main(run_command(two_runs, tmp_path, FOURTH_DAY, "--set", f"landing_dir={two_runs / 'landing'}"))
    finally:
        hidden.rename(day_four)

    captured = capsys.readouterr()
    assert code == 1
    assert captured.err.splitlines() == [
        f"error: 1 landing file(s) the run ingested are gone from {two_runs / 'landing'}: {day_four.name}"
    ]
    assert not (tmp_path / "runs" / f"{FOURTH_DAY}-reproduced").exists() or not any(
        (tmp_path / "runs" / f"{FOURTH_DAY}-reproduced").iterdir()
    )

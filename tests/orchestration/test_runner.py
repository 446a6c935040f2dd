"""The runner: the three notebooks in order with one parameter file, failures named."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from lakehouse_testing import RUN_DECIMALS, assert_same_rows, ran_in_one_kernel, run_all_layers, write_params
from lib.contracts.params import load_params
from lib.contracts.tables import TABLES
from lib.lake import storage
from lib.layers import GOLD_TABLES
from lib.ops.compare import AUDIT_COLUMNS
from lib.orchestration import notebooks

SMALL_RUN = {"generator_days": 1, "generator_events_per_day": 300, "shuffle_partitions": 2}


def run_runner(tmp_path: Path, *options: str, **params: object) -> subprocess.CompletedProcess:
    params_file = write_params(tmp_path, **{**SMALL_RUN, **params})
    return subprocess.run(
        [sys.executable, "-m", "lib.orchestration.runner", "--params", str(params_file), "--runs-dir", str(tmp_path / "runs"),
         "--no-progress", *options],
        capture_output=True, text=True, timeout=1200,
    )


def test_bad_parameter_is_one_line_naming_the_key(tmp_path: Path) -> None:
    result = run_runner(tmp_path, generator_dayz=3)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        result.stderr.strip()
    ] and "unknown parameter 'generator_dayz'" in result.stderr
    wrong_type = run_runner(tmp_path, shuffle_partitions="four")
    assert wrong_type.returncode == 2 and "shuffle_partitions='four': expected int" in wrong_type.stderr


def test_a_missing_landing_folder_or_an_unwritable_lake_is_one_line_before_any_notebook(tmp_path: Path) -> None:
    missing = run_runner(tmp_path, generate_input=False, landing_dir=str(tmp_path / "no-such-folder"))
    assert missing.returncode == 2
    assert missing.stderr.count("\n") == 1 and missing.stderr.startswith(
        f"error: parameter landing_dir='{tmp_path / 'no-such-folder'}': folder {tmp_path / 'no-such-folder'} "
        "does not exist; expected a folder of CSV files")
    (tmp_path / "a-file").write_text("not a folder")
    lake = run_runner(tmp_path, lake_dir=str(tmp_path / "a-file" / "lake"))
    assert lake.returncode == 2 and lake.stderr.count("\n") == 1
    assert "parameter lake_dir=" in lake.stderr and "expected a folder where the Delta tables can be written" in lake.stderr
    assert not (tmp_path / "runs").exists()


def test_failing_notebook_stops_the_run_naming_notebook_and_cell(spark: SparkSession, tmp_path: Path) -> None:
    result = run_runner(tmp_path, generator_fault_rate=0.05, rule_actions={"valid_price": "fail"})
    assert result.returncode == 1, result.stdout + result.stderr
    assert "error: 02_silver.ipynb failed in cell" in result.stderr
    assert "RuleFailure: rule valid_price (action fail)" in result.stderr
    (run_dir,) = (tmp_path / "runs").iterdir()
    assert sorted(path.name for path in run_dir.iterdir()) == ["01_bronze.ipynb", "02_silver.ipynb"]
    runs = storage.read_table(spark, tmp_path / "lake", "pipeline_runs").select("layer", "status", "run_id")
    assert_same_rows(runs, [("bronze", "succeeded", run_dir.name), ("silver", "failed", run_dir.name)])


def test_successful_run_records_each_notebook(spark: SparkSession, tmp_path: Path) -> None:
    result = run_runner(tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "[3/3] 03_gold.ipynb done in" in result.stdout
    (run_dir,) = (tmp_path / "runs").iterdir()
    assert sorted(path.name for path in run_dir.iterdir()) == ["01_bronze.ipynb", "02_silver.ipynb", "03_gold.ipynb"]
    runs = storage.read_table(spark, tmp_path / "lake", "pipeline_runs").filter(F.col("run_id") == run_dir.name)
    assert_same_rows(runs.select("layer", "status"),
                     [("bronze", "succeeded"), ("gold", "succeeded"), ("silver", "succeeded")])
    gold = runs.filter(F.col("layer") == "gold").first()
    silver = runs.filter(F.col("layer") == "silver").first()
    assert gold["versions_read"]["events_cleaned"] == silver["versions_written"]["events_cleaned"]

    lake = tmp_path / "lake"
    tables = [name for name in TABLES if storage.table_exists(spark, lake, name)]
    assert {"events_raw", "events_cleaned", "dq_metrics", "pipeline_runs", *GOLD_TABLES} <= set(tables)
    expected = [f"{name}: {storage.read_table(spark, lake, name).count():,} rows, "
                f"version {storage.table_version(spark, lake, name)}" for name in tables]
    dashboard = f"dashboard on this lake: make dashboard LAKE={lake}"
    assert result.stdout.splitlines()[-len(tables) - 1:] == [*expected, dashboard]
    # Neither the kernel's warning about its unencrypted sockets nor Java's about its incubator module.
    assert "without encryption" not in result.stderr and "incubator" not in result.stderr
    assert not any("incubator" in (run_dir / name).read_text() for name in notebooks.SERIES)


def test_one_kernel_runs_the_series_in_one_process_with_the_same_tables(spark: SparkSession, tmp_path: Path) -> None:
    result = run_runner(tmp_path, "--one-kernel", generator_days=2)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "without encryption" not in result.stderr
    (run_dir,) = (tmp_path / "runs").iterdir()
    assert ran_in_one_kernel(run_dir)

    (tmp_path / "separate").mkdir()
    separate = load_params(write_params(tmp_path / "separate", **{**SMALL_RUN, "generator_days": 2}),
                           {"landing_dir": str(tmp_path / "landing"), "generate_input": False})
    run_all_layers(spark, separate)
    for name in ("events_raw", "events_cleaned", *GOLD_TABLES):
        assert_same_rows(storage.read_table(spark, tmp_path / "lake", name),
                         storage.read_table(spark, separate.path("lake_dir"), name),
                         ignored=AUDIT_COLUMNS, decimals=RUN_DECIMALS)

"""The runner: the three notebooks in order with one parameter file, failures named.

A bad parameter stops the run before any kernel starts, so those tests call the runner's `main` in this
process, as does the failing notebook's, whose notebooks are stood in for; the runs of the series start the
command itself, as `make run` does. The series with a kernel per notebook (`run_series(..., one_kernel=False)`)
runs in test_schedule.py (its first run), and so does a notebook that really fails.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import nbformat
import pytest
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from lakehouse_testing import RUN_DECIMALS, STAGE_RUN_ID, Stages, assert_same_rows, ran_in_one_kernel, write_params
from lib.contracts.tables import TABLES
from lib.lake import storage
from lib.layers import GOLD_TABLES
from lib.ops.compare import AUDIT_COLUMNS
from lib.orchestration import notebooks, runner

SMALL_RUN = {"generator_days": 1, "generator_events_per_day": 300, "shuffle_partitions": 2}
# Set from the wall clock when a row is written: the only columns allowed to differ from the stage's lake.
WALL_CLOCK_COLUMNS = AUDIT_COLUMNS - {"run_id"}


def small_run(tmp_path: Path, **params: object) -> Path:
    """A parameter file for a small run in tmp_path, with these parameters."""
    return write_params(tmp_path, **{**SMALL_RUN, **params})


def runner_arguments(params_file: Path, *options: str) -> list[str]:
    """The runner's command-line arguments, its executed notebooks in the parameter file's folder."""
    return ["--params", str(params_file), "--runs-dir", str(params_file.parent / "runs"), "--no-progress", *options]


def run_runner(params_file: Path, *options: str) -> subprocess.CompletedProcess:
    """`python -m lib.orchestration.runner` in a process of its own, as `make run` starts it."""
    return subprocess.run([sys.executable, "-m", "lib.orchestration.runner", *runner_arguments(params_file, *options)],
                          capture_output=True, text=True, timeout=1200)


def refused(tmp_path: Path, capsys: pytest.CaptureFixture[str], **params: object) -> str:
    """What the runner's main writes on stderr for parameters it refuses before any notebook, with exit code 2."""
    assert runner.main(runner_arguments(small_run(tmp_path, **params))) == 2
    return capsys.readouterr().err


def test_bad_parameter_is_one_line_naming_the_key(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    unknown = refused(tmp_path, capsys, generator_dayz=3)
    assert unknown.count("\n") == 1 and "unknown parameter 'generator_dayz'" in unknown
    wrong_type = refused(tmp_path, capsys, shuffle_partitions="four")
    assert wrong_type.count("\n") == 1 and "shuffle_partitions='four': expected int" in wrong_type
    assert not (tmp_path / "runs").exists()


def test_a_missing_landing_folder_or_an_unwritable_lake_is_one_line_before_any_notebook(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = refused(tmp_path, capsys, generate_input=False, landing_dir=str(tmp_path / "no-such-folder"))
    assert missing.count("\n") == 1 and missing.startswith(
        f"error: parameter landing_dir='{tmp_path / 'no-such-folder'}': folder {tmp_path / 'no-such-folder'} "
        "does not exist; expected a folder of CSV files")
    (tmp_path / "a-file").write_text("not a folder")
    lake = refused(tmp_path, capsys, lake_dir=str(tmp_path / "a-file" / "lake"))
    assert lake.count("\n") == 1
    assert "parameter lake_dir=" in lake and "expected a folder where the Delta tables can be written" in lake
    assert not (tmp_path / "runs").exists()


def test_failing_notebook_stops_the_run_naming_notebook_and_cell(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The runner's handling of a notebook that fails; a real one, its ledger rows and executed notebooks, is
    test_schedule.py's failing run, through the same `run_series`."""
    executed: list[str] = []

    def execute(notebook: Path, output: Path, *args: object) -> SimpleNamespace:
        executed.append(notebook.name)
        if notebook.name == "02_silver.ipynb":
            raise notebooks.NotebookFailed(f"02_silver.ipynb failed in cell 7 (execution count 5): RuleFailure: rule "
                                           f"valid_price (action fail)\nThe executed notebook with the full traceback "
                                           f"is {output}")
        return SimpleNamespace(seconds=0.0)

    monkeypatch.setattr(notebooks, "execute", execute)
    assert runner.main(runner_arguments(small_run(tmp_path))) == 1
    assert executed == ["01_bronze.ipynb", "02_silver.ipynb"], "the series stops at the failing notebook"
    error = capsys.readouterr().err
    assert error.startswith("error: 02_silver.ipynb failed in cell 7") and "02_silver.ipynb" in error.splitlines()[1]


@pytest.mark.end_to_end
def test_one_kernel_runs_the_series_in_one_process_with_the_tables_of_the_in_process_run(
    spark: SparkSession, stages: Stages, pipeline_lake: Path, tmp_path: Path
) -> None:
    """The series in one kernel, the default, on the ci stage's landing files, parameters and run id: the same rows in every table
    as the lake the stages built in this process; then a run with nothing new, which writes only its ledger rows."""
    params = stages.copy("landing", tmp_path, run_id=STAGE_RUN_ID)
    result = run_runner(write_params(tmp_path, **params.as_dict()))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "without encryption" not in result.stderr and "incubator" not in result.stderr
    assert ran_in_one_kernel(tmp_path / "runs" / STAGE_RUN_ID)
    lake = params.path("lake_dir")
    tables = [name for name in TABLES if storage.table_exists(spark, lake, name)]
    expected = [f"{name}: {storage.read_table(spark, lake, name).count():,} rows, "
                f"version {storage.table_version(spark, lake, name)}" for name in tables]
    dashboard = f"dashboard on this lake: make dashboard LAKE={lake}"
    assert result.stdout.splitlines()[-len(tables) - 1:] == [*expected, dashboard]

    for name in ("events_raw", "events_cleaned", "events_quarantine", "dq_metrics", *GOLD_TABLES):
        one_kernel = storage.read_table(spark, lake, name)
        assert not one_kernel.isEmpty(), f"{name} is empty: the comparison would prove nothing"
        assert_same_rows(one_kernel, storage.read_table(spark, pipeline_lake, name),
                         ignored=WALL_CLOCK_COLUMNS, decimals=RUN_DECIMALS)

    # Again, with nothing new landed: each notebook says so in one line, only the ledger gains rows,
    # and the cells that show the tables read nothing.
    versions = {name: storage.table_version(spark, lake, name) for name in TABLES if name != "pipeline_runs"}
    again = run_runner(write_params(tmp_path, **{**params.as_dict(), "run_id": "nothing-new"}))
    assert again.returncode == 0, again.stdout + again.stderr
    assert {name: storage.table_version(spark, lake, name) for name in versions} == versions
    ledger = storage.read_table(spark, lake, "pipeline_runs").filter(F.col("run_id") == "nothing-new")
    assert_same_rows(ledger.select("layer", "status", "rows_in"),
                     [("bronze", "succeeded", 0), ("silver", "succeeded", 0), ("gold", "succeeded", 0)])
    for name, layer in zip(notebooks.SERIES, ("bronze", "silver", "gold")):
        executed = nbformat.read(tmp_path / "runs" / "nothing-new" / name, as_version=4)
        printed = [output.get("text", "") for cell in executed.cells if cell.cell_type == "code"
                   for output in cell.get("outputs", []) if output.get("name") == "stdout"]
        assert sum(f"{layer}: nothing new: " in text for text in printed) == 1, printed
        guarded = [cell for cell in executed.cells if cell.cell_type == "code" and "if summary.changed:" in cell.source]
        shown = [output for cell in guarded for output in cell.outputs if output.output_type != "stream"]
        assert guarded and not shown, f"{name} showed tables although nothing changed"

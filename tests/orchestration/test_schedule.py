"""The scheduled command: one date's file at a time, dated run folders, pruning, maintenance every N runs,
one-line failures.

A bad parameter stops the command before any kernel starts, so that test calls its `main` in this process;
the runs of the series start the command itself, as a scheduler does.
"""

from __future__ import annotations

import collections
import datetime as dt
import subprocess
import sys
from pathlib import Path

import pytest
from deltalake import DeltaTable
from jupyter_client.utils import run_sync

from lakehouse_testing import Stages, ran_in_one_kernel, write_params
from lib.contracts.params import ParameterError
from lib.orchestration import notebooks, schedule
from lib.synthetic.generator import HEADER, generate_landing

DAYS = (dt.date(2019, 10, 1), dt.date(2019, 10, 2))
SCHEDULED_RUN = {"generate_input": False, "shuffle_partitions": 2, "driver_memory": "1g"}


def schedule_arguments(params_file: Path, runs_dir: Path, *args: str) -> list[str]:
    return ["--params", str(params_file), "--runs-dir", str(runs_dir), "--no-progress", *args]


def run_schedule(params_file: Path, runs_dir: Path, *args: str) -> subprocess.CompletedProcess:
    """`python -m lib.orchestration.schedule` in a process of its own, as a scheduler starts it."""
    return subprocess.run(
        [sys.executable, "-m", "lib.orchestration.schedule", *schedule_arguments(params_file, runs_dir, *args)],
        capture_output=True, text=True, timeout=1800,
    )


def data_lines(path: Path) -> int:
    """Rows a landing file holds: its lines without the header line."""
    lines = path.read_text().splitlines()
    return len(lines) - (1 if lines and lines[0] == HEADER else 0)


def rows_per_source_file(lake: Path) -> dict[str, int]:
    source_files = DeltaTable(str(lake / "events_raw")).to_pyarrow_table(columns=["source_file"])
    return dict(collections.Counter(source_files.column("source_file").to_pylist()))


def layer_runs(lake: Path, run_id: str) -> dict[str, dict]:
    """The ledger's rows of the run, by layer."""
    rows = DeltaTable(lake / "pipeline_runs").to_pyarrow_table(
        columns=["run_id", "layer", "status", "versions_read", "versions_written"]).to_pylist()
    return {row["layer"]: row for row in rows if row["run_id"] == run_id}


def scheduled_run_folders(runs_dir: Path) -> list[str]:
    return sorted(f"{folder.parent.name}/{folder.name}" for folder in schedule.scheduled_folders(runs_dir))


@pytest.mark.end_to_end
def test_a_date_then_all_landed_files_ingest_each_file_once_and_keep_the_newest_run(tmp_path: Path) -> None:
    generate_landing(tmp_path / "landing", days=len(DAYS), start_date=DAYS[0], events_per_day=300, seed=46,
                     fault_rate=0.02)
    expected = {f"{day}.csv": data_lines(tmp_path / "landing" / f"{day}.csv") for day in DAYS}
    params_file, runs_dir = write_params(tmp_path, **SCHEDULED_RUN), tmp_path / "runs"
    unrelated = runs_dir / "20191001T000000Z-manual"
    unrelated.mkdir(parents=True)

    # The first date's file, with a kernel per notebook, as JupyterLab runs them.
    every_two = ("--set", "maintenance_every_runs=2")
    first = run_schedule(params_file, runs_dir, "--date", str(DAYS[0]), "--keep", "1", "--kernel-per-notebook",
                         *every_two)
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr
    assert "maintenance: not due, 1 of 2 bronze runs since the last one" in first.stdout
    assert rows_per_source_file(tmp_path / "lake") == {"2019-10-01.csv": expected["2019-10-01.csv"]}
    (first_folder,) = scheduled_run_folders(runs_dir)
    assert first_folder.startswith("2019-10-01/")
    assert f"executed notebooks in {runs_dir / first_folder}" in first.stdout
    assert sorted(path.name for path in (runs_dir / first_folder).glob("*.ipynb")) == [
        "01_bronze.ipynb", "02_silver.ipynb", "03_gold.ipynb",
    ]
    assert not ran_in_one_kernel(runs_dir / first_folder), "each notebook numbers its cells from 1 in a kernel of its own"
    # Each notebook's kernel reads what the one before it wrote.
    first_layers = layer_runs(tmp_path / "lake", first_folder.split("/")[1])
    assert dict(first_layers["gold"]["versions_read"])["events_cleaned"] == dict(
        first_layers["silver"]["versions_written"])["events_cleaned"]
    # Neither the kernels' warning about their unencrypted sockets nor Java's about its incubator module.
    assert "without encryption" not in first.stderr and "incubator" not in first.stderr
    assert not any("incubator" in path.read_text() for path in (runs_dir / first_folder).glob("*.ipynb"))

    # Without --date, everything landed: the first date's file again, which is not ingested twice, and the
    # second's. In one kernel, the default.
    again = run_schedule(params_file, runs_dir, "--keep", "1", *every_two)
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr
    assert rows_per_source_file(tmp_path / "lake") == expected
    # The second bronze run makes maintenance due: it ran after the series in its kernel, and the ledger says so.
    assert "maintenance: --if-due 2 in the series' kernel" in again.stdout
    assert "maintenance: due, 2 bronze runs since the last one (--if-due 2)" in again.stdout
    # In finish order: maintenance compacts pipeline_runs too, so its files no longer hold the rows in that order.
    runs = DeltaTable(tmp_path / "lake" / "pipeline_runs").to_pyarrow_table(
        columns=["layer", "status", "finished_at"]).to_pylist()
    last = max(runs, key=lambda run: run["finished_at"])
    assert (last["layer"], last["status"]) == ("maintenance", "succeeded"), runs

    (kept,) = scheduled_run_folders(runs_dir)
    assert ran_in_one_kernel(runs_dir / kept), "a scheduled run's notebooks share one kernel by default"
    assert "[3/3] 03_gold.ipynb done in" in again.stdout
    assert {layer: run["status"] for layer, run in layer_runs(tmp_path / "lake", kept.split("/")[1]).items()} == {
        "bronze": "succeeded", "silver": "succeeded", "gold": "succeeded"}
    assert "without encryption" not in again.stderr and "incubator" not in again.stderr
    assert not any("incubator" in path.read_text() for path in (runs_dir / kept).glob("*.ipynb"))
    run_started = dt.datetime.strptime(kept.split("/")[1][:16], "%Y%m%dT%H%M%SZ")
    assert kept.split("/")[0] == run_started.date().isoformat(), "an undated run's folder is its UTC start date"
    assert f"removed old run folder {runs_dir / first_folder}" in again.stdout
    assert not (runs_dir / "2019-10-01").exists() and unrelated.is_dir()


@pytest.mark.end_to_end
def test_failing_notebook_exits_non_zero_with_one_line_naming_it(tmp_path: Path) -> None:
    generate_landing(tmp_path / "landing", days=1, start_date=DAYS[0], events_per_day=300, seed=46, fault_rate=0.05)
    params_file = write_params(tmp_path, **SCHEDULED_RUN, rule_actions={"valid_price": "fail"})
    result = run_schedule(params_file, tmp_path / "runs", "--date", str(DAYS[0]))
    assert result.returncode == 1, result.stdout[-3000:] + result.stderr
    (line,) = result.stderr.splitlines()
    assert line.startswith("error: 02_silver.ipynb failed in cell")
    assert "RuleFailure: rule valid_price (action fail)" in line
    (folder,) = schedule.scheduled_folders(tmp_path / "runs")
    assert folder.parent.name == "2019-10-01" and str(folder / "02_silver.ipynb") in line
    # The series stopped at silver, and the ledger says which layer failed.
    assert sorted(path.name for path in folder.glob("*.ipynb")) == ["01_bronze.ipynb", "02_silver.ipynb"]
    assert {layer: run["status"] for layer, run in layer_runs(tmp_path / "lake", folder.name).items()} == {
        "bronze": "succeeded", "silver": "failed"}


@pytest.mark.end_to_end
def test_maintenance_in_the_series_kernel_returns_its_exit_code_and_error_line(tmp_path: Path) -> None:
    params_file = write_params(tmp_path, **SCHEDULED_RUN)
    with notebooks.shared_kernel() as kernel:
        run_sync(kernel.start_kernel)()
        with pytest.raises(schedule.MaintenanceFailed, match=r"exited 2: error: .*unknown parameter 'no_such_parameter'"):
            schedule.maintain_if_due(params_file, ["no_such_parameter=1"], 1, kernel)
        # An exception the call raises, rather than an exit code, names the call.
        with pytest.raises(notebooks.NotebookFailed, match=r"json.loads\(\['--x'\]\) failed in the series' kernel: "
                                                           r"TypeError"):
            notebooks.call_in_kernel(kernel, "json", "loads", ["--x"])


@pytest.mark.end_to_end
def test_a_failing_maintenance_after_a_run_is_raised_with_its_error_line(stages: Stages, tmp_path: Path) -> None:
    stages.copy("bronze", tmp_path)  # its ledger holds one succeeded bronze run: maintenance every run is due
    params_file = write_params(tmp_path, **SCHEDULED_RUN, maintenance_retention_hours=0)
    assert schedule.maintain_if_due(params_file, [], 0) is False
    refused = r"lib.ops.maintain exited 2: error: parameter maintenance_retention_hours=0: Delta's retention check"
    with pytest.raises(schedule.MaintenanceFailed, match=refused):
        schedule.maintain_if_due(params_file, [], 1)


def test_bad_parameter_or_missing_landing_folder_is_one_line_before_any_notebook(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    unknown = write_params(tmp_path, **SCHEDULED_RUN, generator_dayz=1)
    assert schedule.main(schedule_arguments(unknown, tmp_path / "runs")) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert "unknown parameter 'generator_dayz'" in line
    nothing_landed = write_params(tmp_path, **SCHEDULED_RUN, landing_dir=str(tmp_path / "nothing-landed"))
    assert schedule.main(schedule_arguments(nothing_landed, tmp_path / "runs")) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith("error: parameter landing_dir=") and "does not exist" in line
    assert not (tmp_path / "runs").exists()


def test_date_selects_its_files_and_names_the_run_folder(tmp_path: Path) -> None:
    params_file = write_params(tmp_path, **SCHEDULED_RUN)
    (tmp_path / "landing").mkdir()
    now = dt.datetime(2019, 10, 3, 6, 0, tzinfo=dt.timezone.utc)
    dated = schedule.plan_run(params_file, {}, tmp_path / "runs", DAYS[1], now=now)
    assert dated.overrides["landing_glob"] == "*2019-10-02*"
    assert dated.maintenance_every_runs == 10, "the parameter's default, read once with the run's other parameters"
    assert dated.folder == tmp_path / "runs" / "2019-10-02" / dated.run_id
    assert dated.run_id.startswith("20191003T060000Z-")
    undated = schedule.plan_run(params_file, {}, tmp_path / "runs", None, now=now)
    assert "landing_glob" not in undated.overrides
    assert undated.folder.parent == tmp_path / "runs" / "2019-10-03"
    assert schedule.landing_glob_for(DAYS[1], "incoming/{date}/*.csv") == "incoming/2019-10-02/*.csv"
    with pytest.raises(ParameterError, match="landing_glob"):
        schedule.plan_run(params_file, {"landing_glob": "*.csv"}, tmp_path / "runs", DAYS[1])


def test_prune_keeps_the_newest_scheduled_folders_only(tmp_path: Path) -> None:
    started = ["2019-10-01T06:00:00+00:00", "2019-10-02T06:00:00+00:00", "2019-10-02T07:00:00+00:00",
               "2019-10-03T06:00:00+00:00"]
    dates = ["2019-10-01", "2019-10-02", "2019-10-02", "2019-09-30"]  # a backfill ran last
    for position, (date, start) in enumerate(zip(dates, started)):
        folder = tmp_path / date / f"run-{position}"
        folder.mkdir(parents=True)
        (folder / schedule.MARKER).write_text(start + "\n")
    (tmp_path / "2019-10-01" / "notes.txt").write_text("kept: not a run folder\n")
    (tmp_path / "20191001T000000Z-manual").mkdir()

    removed = schedule.prune(tmp_path, keep=2)

    assert sorted(path.name for path in removed) == ["run-0", "run-1"]
    assert scheduled_run_folders(tmp_path) == ["2019-09-30/run-3", "2019-10-02/run-2"]
    assert (tmp_path / "2019-10-01" / "notes.txt").exists() and (tmp_path / "20191001T000000Z-manual").is_dir()
    assert schedule.prune(tmp_path, keep=2) == []


def test_one_line_joins_a_multi_line_message() -> None:
    error = RuntimeError("02_silver.ipynb failed in cell 6\nThe executed notebook is runs/x/02_silver.ipynb\n")
    assert schedule.one_line(error) == (
        "02_silver.ipynb failed in cell 6; The executed notebook is runs/x/02_silver.ipynb"
    )

"""One rule for a relative path, in every command: from the project root, whatever the current folder.

Each entry point is called in-process from a current folder outside the project, with paths
relative to the project root that lead (through `..`) to the test's folder: read from the current
folder instead, they would name a place that does not exist. Where a command would go on to run
notebooks or Spark, the step after its argument handling is replaced by one that records what it got.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from pyspark.sql import SparkSession

from dashboard import data
from lib.contracts import paths
from lib.lake import storage
from lib.ops import datadocs, replay, reproduce
from lib.orchestration import runner, schedule

ROOT = paths.REPO_ROOT


@pytest.fixture
def elsewhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The current folder for the test: one outside the project."""
    folder = tmp_path / "elsewhere"
    folder.mkdir()
    monkeypatch.chdir(folder)
    return folder


def from_root(path: Path) -> str:
    """`path` written relative to the project root, as a user could give it."""
    return os.path.relpath(path, ROOT)


def same_place(resolved: Path | str, expected: Path) -> bool:
    return isinstance(resolved, Path) and resolved.is_absolute() and resolved.resolve() == expected.resolve()


def write_params(folder: Path, tmp_path: Path) -> Path:
    """A parameter file in `folder` whose lake and landing folders are under tmp_path, relative to the root."""
    params_file = folder / "params.yaml"
    lake, landing = from_root(tmp_path / "lake"), from_root(tmp_path / "landing")
    params_file.write_text(f"lake_dir: {lake}\nlanding_dir: {landing}\n")
    return params_file


def test_a_relative_path_is_from_the_project_root_and_a_uri_is_as_given(elsewhere: Path) -> None:
    assert paths.resolve("lake") == ROOT / "lake" and not (elsewhere / "lake").exists()
    assert paths.resolve(Path("runs/x")) == ROOT / "runs" / "x"
    assert paths.resolve(elsewhere / "lake") == elsewhere / "lake"
    assert paths.resolve("~/lake") == Path.home() / "lake"
    assert paths.resolve("s3a://bucket/lake") == "s3a://bucket/lake"
    assert paths.local_path("lake") == ROOT / "lake"
    with pytest.raises(ValueError, match="s3a://bucket/lake is not a local path"):
        paths.local_path("s3a://bucket/lake")


def test_the_dashboard_reads_a_relative_lake_from_the_project_root(elsewhere: Path) -> None:
    assert data.lake_dir(["--lake", "lake"], {}) == ROOT / "lake"
    assert data.lake_dir(["--lake=other/lake"], {}) == ROOT / "other" / "lake"
    assert data.lake_dir([], {"LAKE_DIR": "other/lake"}) == ROOT / "other" / "lake"
    assert data.lake_dir([], {}) == ROOT / "lake"
    assert data.lake_dir(["--lake", str(elsewhere / "lake")], {"LAKE_DIR": "ignored"}) == elsewhere / "lake"


@pytest.mark.lake
def test_datadocs_reads_the_lake_and_writes_the_dictionary_from_the_project_root(
    spark: SparkSession, tmp_path: Path, elsewhere: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lake = tmp_path / "lake"
    rows = spark.createDataFrame([(1, 10.0)], "user_id BIGINT, total_revenue DOUBLE")
    rows.write.format("delta").save(storage.table_path(lake, "customer_metrics"))  # without column comments

    assert datadocs.main(["--lake", from_root(lake), "--apply-comments"]) == 0
    assert datadocs.main(["--lake", from_root(lake), "--out", from_root(tmp_path / "dictionary.md")]) == 0

    assert capsys.readouterr().out.startswith("commented 2 columns: customer_metrics.user_id, ")
    assert "| `total_revenue` | double |" in (tmp_path / "dictionary.md").read_text()
    assert list(elsewhere.iterdir()) == []


def test_reproduce_takes_lake_runs_dir_and_scratch_from_the_project_root(
    tmp_path: Path, elsewhere: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    got: dict[str, Any] = {}

    def recorded(spark: object, lake: Path, run_id: str, scratch: Path, runs_dir: Path, *rest: object) -> bool:
        got.update(lake=lake, scratch=scratch, runs_dir=runs_dir)
        return True

    monkeypatch.setattr(reproduce, "build_spark", lambda **settings: None)
    monkeypatch.setattr(reproduce, "reproduce", recorded)
    code = reproduce.main(["--lake", from_root(tmp_path / "lake"), "--run-id", "r", "--runs-dir",
                           from_root(tmp_path / "runs"), "--scratch", from_root(tmp_path / "scratch")])

    assert code == 0
    assert same_place(got["lake"], tmp_path / "lake") and same_place(got["runs_dir"], tmp_path / "runs")
    assert same_place(got["scratch"], tmp_path / "scratch")


def test_a_uri_for_a_local_folder_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_code:
        reproduce.main(["--run-id", "r", "--runs-dir", "s3a://bucket/runs"])

    assert exit_code.value.code == 2
    assert "argument --runs-dir: invalid local_path value: 's3a://bucket/runs'" in capsys.readouterr().err


def test_reproduce_names_a_relative_lake_as_found_from_the_project_root(
    spark: SparkSession, tmp_path: Path, elsewhere: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "lake").mkdir()

    code = reproduce.main(["--lake", from_root(tmp_path / "lake"), "--run-id", "r",
                           "--scratch", str(tmp_path / "scratch"), "--runs-dir", str(tmp_path / "runs")])

    assert code == 2
    assert capsys.readouterr().err == (
        f"error: {ROOT / from_root(tmp_path / 'lake')} has no pipeline_runs table: no run to reproduce\n"
    )


def test_schedule_takes_its_runs_dir_from_the_project_root_and_its_params_from_the_current_folder(
    tmp_path: Path, elsewhere: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_params(elsewhere, tmp_path)
    got: dict[str, Any] = {}

    def recorded(planned: schedule.ScheduledRun, params_file: Path, runs_dir: Path, *rest: object) -> Path:
        got.update(folder=planned.folder, params_file=params_file, runs_dir=runs_dir)
        return planned.folder

    monkeypatch.setattr(schedule, "run_scheduled", recorded)
    code = schedule.main(["--params", "params.yaml", "--runs-dir", from_root(tmp_path / "runs"),
                          "--date", "2019-10-01", "--set", "run_id=r"])

    assert code == 0
    assert same_place(got["runs_dir"], tmp_path / "runs")
    assert same_place(got["folder"], tmp_path / "runs" / "2019-10-01" / "r")
    assert got["params_file"].resolve() == elsewhere / "params.yaml"


def test_replay_reads_the_lake_of_its_params_from_the_project_root(
    tmp_path: Path, elsewhere: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_params(elsewhere, tmp_path)
    got: dict[str, Any] = {}

    def recorded(spark: object, params: Any) -> None:
        got.update(lake=params.path("lake_dir"), landing=params.path("landing_dir"))

    monkeypatch.setattr(replay, "build_spark", lambda *args, **settings: None)
    monkeypatch.setattr(replay, "run_replay", recorded)
    monkeypatch.setattr(replay, "summary_lines", lambda summary: [])

    assert replay.main(["--params", "params.yaml", "--no-gold"]) == 0
    assert same_place(got["lake"], tmp_path / "lake") and same_place(got["landing"], tmp_path / "landing")


def test_the_runner_checks_the_folders_of_its_params_from_the_project_root(
    tmp_path: Path, elsewhere: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_params(elsewhere, tmp_path)

    code = runner.main(["--params", "params.yaml", "--set", "generate_input=false",
                        "--runs-dir", str(tmp_path / "runs")])

    assert code == 2
    err = capsys.readouterr().err
    assert f"folder {ROOT / from_root(tmp_path / 'landing')} does not exist" in err, err


def test_the_runner_takes_its_runs_dir_from_the_project_root(
    tmp_path: Path, elsewhere: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_params(elsewhere, tmp_path)
    got: dict[str, Any] = {}

    def recorded(params_file: Path, overrides: dict, runs_dir: Path, *rest: object) -> Path:
        got.update(runs_dir=runs_dir)
        return runs_dir / "r"

    monkeypatch.setattr(runner, "run_series", recorded)
    assert runner.main(["--params", "params.yaml", "--runs-dir", from_root(tmp_path / "runs")]) == 0
    assert same_place(got["runs_dir"], tmp_path / "runs")


@pytest.mark.parametrize("module", [datadocs, replay, reproduce, runner, schedule])
def test_every_command_says_the_rule_in_its_help(module: Any, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        module.main(["--help"])

    shown = " ".join(capsys.readouterr().out.split())
    assert "from the project root" in shown
    assert module in (datadocs, reproduce) or "parameter file (relative: from the current folder;" in shown

"""The same notebooks on a real Spark standalone cluster: one master and one worker on localhost.

The series runs once on the cluster (spark://127.0.0.1:<port>), through `python -m lib.orchestration.runner
--one-kernel` in a subprocess, because this process's own `spark` fixture is a local session that cannot be
re-pointed. It runs on the ci stage's landing files with params/ci.yaml and the stage's run id: only
`spark_master` differs from the lake the stages built in this process on local[2] (`pipeline_lake`), and
every table of the two must hold the same rows.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nbformat
import pyspark
import pytest
from pyspark.sql import SparkSession

from lakehouse_testing import (
    RUN_DECIMALS,
    STAGE_RUN_ID,
    Stages,
    assert_same_rows,
    free_port,
    ran_in_one_kernel,
    write_params,
)
from lib.contracts.paths import REPO_ROOT
from lib.lake import storage
from lib.layers import GOLD_TABLES
from lib.ops.compare import AUDIT_COLUMNS
from lib.orchestration.notebooks import SERIES

pytestmark = pytest.mark.end_to_end  # a master, a worker, its executor and the runner's kernel: JVMs of their own

SPARK_HOME = Path(pyspark.__file__).resolve().parent  # pip's pyspark ships bin/spark-class and jars/
SPARK_CLASS = SPARK_HOME / "bin" / "spark-class"
RUN_TIMEOUT_S = 900
# Set from the wall clock when a row is written: the only columns allowed to differ (the run id is the stage's).
WALL_CLOCK_COLUMNS = AUDIT_COLUMNS - {"run_id"}
COMPARED_TABLES = ("events_raw", "events_cleaned", "events_quarantine", "dq_metrics", *GOLD_TABLES)
LEDGER_COLUMNS = ("run_id", "layer", "notebook", "status", "rows_in", "rows_out", "rows_quarantined", "rows_duplicate",
                  "versions_read", "versions_written")


def spark_env() -> dict[str, str]:
    """The environment of the daemons and the runs: loopback only, this interpreter for Python tasks.

    PYSPARK_PYTHON is what a real cluster sets in spark-env.sh: the driver tells executors which
    Python to start for its Python tasks (here `createDataFrame` of local rows), and it must be the
    driver's own version.
    """
    return {**os.environ, "SPARK_HOME": str(SPARK_HOME), "SPARK_LOCAL_IP": "127.0.0.1",
            "PYSPARK_PYTHON": sys.executable}


def start_group(command: list[str], log: Path, cwd: Path = REPO_ROOT) -> subprocess.Popen:
    """Start a process in its own process group (its children, e.g. executors, go with it)."""
    with log.open("wb") as out:
        return subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=spark_env(), cwd=cwd,
                                start_new_session=True)


def stop_group(process: subprocess.Popen) -> None:
    """Terminate the process's group, then kill it if it has not exited after 20 s."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
        try:
            process.wait(timeout=20)
            return
        except subprocess.TimeoutExpired:
            continue


def tail(log: Path, lines: int = 40) -> str:
    return "\n".join(log.read_text(errors="replace").splitlines()[-lines:]) if log.exists() else ""


@dataclasses.dataclass
class Cluster:
    master_url: str
    webui_url: str
    work_dir: Path
    logs: list[Path]

    def state(self) -> dict[str, Any]:
        """The master's own view (its web UI's JSON): workers, running and completed applications."""
        with urllib.request.urlopen(f"{self.webui_url}/json/", timeout=5) as response:
            return json.load(response)


def wait_for_worker(cluster: Cluster, daemons: list[subprocess.Popen], timeout_s: float = 90) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if any(daemon.poll() is not None for daemon in daemons):
            break
        with contextlib.suppress(OSError, ValueError):
            if any(worker["state"] == "ALIVE" for worker in cluster.state()["workers"]):
                return
        time.sleep(0.5)
    raise RuntimeError("the worker did not register with the master:\n"
                       + "\n".join(f"--- {log.name}\n{tail(log)}" for log in cluster.logs))


@pytest.fixture(scope="module")
def standalone_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """A master and a 1-core, 1 GB worker from the pyspark installation, stopped even if a test fails."""
    root = tmp_path_factory.mktemp("standalone")
    port, master_ui, worker_ui = free_port(), free_port(), free_port()
    cluster = Cluster(f"spark://127.0.0.1:{port}", f"http://127.0.0.1:{master_ui}", root / "work",
                      [root / "master.log", root / "worker.log"])
    cluster.work_dir.mkdir()
    daemons: list[subprocess.Popen] = []
    try:
        daemons.append(start_group(
            [str(SPARK_CLASS), "org.apache.spark.deploy.master.Master",
             "--host", "127.0.0.1", "--port", str(port), "--webui-port", str(master_ui)],
            cluster.logs[0], cwd=root))
        daemons.append(start_group(
            [str(SPARK_CLASS), "org.apache.spark.deploy.worker.Worker", cluster.master_url,
             "--cores", "1", "--memory", "1g", "--host", "127.0.0.1", "--webui-port", str(worker_ui),
             "--work-dir", str(cluster.work_dir)],  # executors' folders and logs; else inside SPARK_HOME
            cluster.logs[1], cwd=root))
        wait_for_worker(cluster, daemons)
        yield cluster
    finally:
        for daemon in reversed(daemons):  # the worker first: it stops its executors
            stop_group(daemon)


@dataclasses.dataclass
class RunnerRun:
    root: Path
    spark_master: str
    process: subprocess.Popen

    @property
    def lake(self) -> Path:
        return self.root / "lake"

    @property
    def log(self) -> Path:
        return self.root / "runner.log"

    @property
    def run_dir(self) -> Path:
        return self.root / "runs" / STAGE_RUN_ID


def start_series(stages: Stages, root: Path, spark_master: str) -> RunnerRun:
    """Start the notebook series through the runner in one kernel, as `make run` does, on a copy of the ci
    stage's landing files with its parameters and run id, on `spark_master`."""
    params = stages.copy("landing", root, run_id=STAGE_RUN_ID, spark_master=spark_master)
    params_file = write_params(root, **params.as_dict())
    command = [sys.executable, "-m", "lib.orchestration.runner", "--params", str(params_file),
               "--runs-dir", str(root / "runs"), "--no-progress", "--one-kernel"]
    return RunnerRun(root, spark_master, start_group(command, root / "runner.log"))


def wait_for_series(run: RunnerRun) -> None:
    try:
        returncode = run.process.wait(timeout=RUN_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        pytest.fail(f"the run on {run.spark_master} took longer than {RUN_TIMEOUT_S} s:\n{tail(run.log)}")
    assert returncode == 0, f"the run on {run.spark_master} failed:\n{tail(run.log)}"


def masters_shown(executed: Path) -> list[str]:
    """The master each notebook's session reports (its set-up cell prints `Spark <v>, master <url>`)."""
    notebook = nbformat.read(executed, as_version=4)
    text = "".join(output.get("text", "") for cell in notebook.cells for output in cell.get("outputs", []))
    return re.findall(r"^Spark [\d.]+, master (\S+)$", text, flags=re.MULTILINE)


def completed_apps(cluster: Cluster, expected: int, timeout_s: float = 30) -> list[dict[str, Any]]:
    """The master's completed applications, once the drivers that ended are all marked finished."""
    deadline = time.monotonic() + timeout_s
    state = cluster.state()
    while (state["activeapps"] or len(state["completedapps"]) < expected) and time.monotonic() < deadline:
        time.sleep(0.5)
        state = cluster.state()
    return state["completedapps"]


def test_notebooks_on_a_standalone_cluster_write_the_same_tables_as_in_process(
    spark: SparkSession, stages: Stages, pipeline_lake: Path, standalone_cluster: Cluster, tmp_path: Path
) -> None:
    run = start_series(stages, tmp_path / "cluster", standalone_cluster.master_url)
    try:
        wait_for_series(run)
    finally:
        stop_group(run.process)  # a failed or stuck run may leave its kernel or JVM behind

    # The series' one session was a cluster application, and its tasks ran in an executor of the worker.
    assert ran_in_one_kernel(run.run_dir)
    for name in SERIES:
        assert masters_shown(run.run_dir / name) == [standalone_cluster.master_url], name
    (app,) = completed_apps(standalone_cluster, expected=1)
    assert (app["name"], app["state"], app["cores"]) == ("local-lakehouse", "FINISHED", 1)
    executor_logs = "".join(log.read_text(errors="replace")
                            for log in (standalone_cluster.work_dir / app["id"]).glob("*/stderr"))
    assert re.search(r"Executor: Finished task .* in stage", executor_logs), f"no task of {app['id']} on the worker"

    for name in COMPARED_TABLES:
        on_cluster = storage.read_table(spark, run.lake, name)
        assert not on_cluster.isEmpty(), f"{name} is empty: the comparison would prove nothing"
        in_process = storage.read_table(spark, pipeline_lake, name)
        assert_same_rows(on_cluster, in_process, ignored=WALL_CLOCK_COLUMNS, decimals=RUN_DECIMALS)
    cluster_ledger, in_process_ledger = (storage.read_table(spark, lake, "pipeline_runs").select(*LEDGER_COLUMNS)
                                         for lake in (run.lake, pipeline_lake))
    assert_same_rows(cluster_ledger, in_process_ledger, decimals=RUN_DECIMALS)

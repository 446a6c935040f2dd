"""Real faults for the reliability tests: a layer's run SIGKILLed at a chosen moment of a write.

The layer runs in a child process (its own Python and JVM, one process group) on a lake the layers
before it have written; a watcher in the test process polls the lake folder and kills the whole group
when the chosen moment is seen on disk: the first data file of a table's write (mid-write, before its
commit), or a given commit of a table (between two commits of the layer).
Maintenance is killed the same way, in a child of its own, at the first file its compaction writes
or once its VACUUM has started.
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import unquote

import psutil
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from lakehouse_testing import RUN_DECIMALS, comparable, record_reliability
from lib.contracts.params import PipelineParams
from lib.contracts.paths import REPO_ROOT
from lib.lake import storage
from lib.lake.lock import LOCK_FILE
from lib.layers.gold import GOLD_TABLES, STATE_TABLES
from lib.ops.compare import AUDIT_COLUMNS

# The tables a faulted lake is compared on with a clean run: every table of data, none of the bookkeeping.
DATA_TABLES = ("events_raw", "events_cleaned", "events_quarantine", *GOLD_TABLES, *STATE_TABLES)
# Working column of the comparison: +1 for a row of the lake compared, -1 for a row of the clean run.
SIDE = "__side"

CHILD_SCRIPT = """
import json, sys
from lib import layers
from lib.contracts.params import params_from_mapping
from lib.lake.session import build_spark
params = params_from_mapping(json.loads(sys.argv[1]))
spark = build_spark(params.spark_master, "lakehouse-fault", params.shuffle_partitions, "1g")
for layer in sys.argv[2].split(","):
    getattr(layers, f"run_{layer}")(spark, params)
print("finished", flush=True)
"""
MAINTAIN_SCRIPT = """
import json, sys
from lib.contracts.params import params_from_mapping
from lib.lake.session import build_spark
from lib.ops import maintain
params = params_from_mapping(json.loads(sys.argv[1]))
spark = build_spark(params.spark_master, "lakehouse-fault", params.shuffle_partitions, "1g")
for key, value in json.loads(sys.argv[2]).items():
    spark.conf.set(key, value)
maintain.maintain(spark, params)
print("finished", flush=True)
"""


@dataclasses.dataclass(frozen=True)
class KillPoint:
    """When to kill `layer`'s run: at the first new data file of `table` (version None), or once its `version`
    is committed.

    The layer is stated, not looked up from the table: dq_metrics is written by bronze and silver alike.
    """

    layer: str
    table: str
    version: int | None = None

    @property
    def label(self) -> str:
        return f"mid-write {self.table}" if self.version is None else f"after {self.table} v{self.version}"

    def reached(self, lake: Path, files_before: set[str]) -> bool:
        folder = lake / self.table
        if self.version is not None:
            return (folder / "_delta_log" / f"{self.version:020d}.json").exists()
        return bool(data_files(folder) - files_before)


@dataclasses.dataclass(frozen=True)
class KillOutcome:
    killed: bool
    seconds: float
    uncommitted_files: int
    output: str


def start_layers(params: PipelineParams, layers: str = "bronze,silver,gold") -> subprocess.Popen:
    """The layers in a child process of their own (process group leader), output captured."""
    return start_child(CHILD_SCRIPT, json.dumps(params.as_dict()), layers)


def start_maintenance(params: PipelineParams, conf: dict[str, str] | None = None) -> subprocess.Popen:
    """`lib.ops.maintain.maintain` in a child process of its own, with these session settings."""
    return start_child(MAINTAIN_SCRIPT, json.dumps(params.as_dict()), json.dumps(conf or {}))


def start_child(script: str, *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", script, *args],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


def kill_jvms(pid: int) -> None:
    """SIGKILL every JVM among the process's descendants.

    Short-lived children (Hadoop's shell commands forked by the JVM) may exit while the list is
    read; they are skipped.
    """
    for process in psutil.Process(pid).children(recursive=True):
        try:
            if process.name() == "java":
                process.kill()
        except psutil.NoSuchProcess:
            continue


def run_and_kill(
    params: PipelineParams, point: KillPoint, timeout: float = 600, jvm_only: bool = False
) -> KillOutcome:
    """Run the point's layer and SIGKILL the child's whole process group (Python and JVM) at the point.

    With `jvm_only`, only the child's JVM is killed, as when it dies of an OutOfMemoryError, and
    the child's Python is left to report it. A point the lake has reached already (a version the
    layers before wrote) is refused: the kill would land at another moment than the one named.
    """
    lake = Path(params.path("lake_dir"))
    files_before = data_files(lake / point.table)
    if point.reached(lake, files_before):
        raise ValueError(f"the lake in {lake} holds {point.table} v{point.version} before {point.layer} runs")
    started = time.monotonic()
    child = start_layers(params, point.layer)
    killed, output = kill_when(child, lambda: point.reached(lake, files_before), timeout, jvm_only)
    return KillOutcome(killed, time.monotonic() - started, uncommitted_data_files(lake / point.table), output)


def kill_when(
    child: subprocess.Popen, reached: Callable[[], bool], timeout: float = 600, jvm_only: bool = False
) -> tuple[bool, str]:
    """SIGKILL the child's process group (with `jvm_only`, its JVMs) once `reached()`; whether it was, and its output.

    A child still running at the timeout is killed too, and reported as not killed at the point.
    """
    started = time.monotonic()
    killed = False
    while child.poll() is None and time.monotonic() - started < timeout:
        if reached():
            if jvm_only:
                kill_jvms(child.pid)
            else:
                os.killpg(child.pid, signal.SIGKILL)
            killed = True
            break
        time.sleep(0.005)
    if not killed and child.poll() is None:
        os.killpg(child.pid, signal.SIGKILL)
    try:
        output = child.communicate(timeout=120)[0]
    except subprocess.TimeoutExpired:
        os.killpg(child.pid, signal.SIGKILL)
        output = child.communicate()[0] + "\n(the child did not exit within 120 s of the kill)"
    return killed, output


def wait_until_holding_the_lock(child: subprocess.Popen, lake: Path, run_id: str, timeout: float = 600) -> None:
    """Return once the child's run `run_id` holds the lake's lock (its lock file names it); fail if the child ends first."""
    lock_file = lake / LOCK_FILE
    deadline = time.monotonic() + timeout
    while f'"run_id": "{run_id}"' not in (lock_file.read_text() if lock_file.exists() else ""):
        if child.poll() is not None or time.monotonic() > deadline:
            output = child.communicate()[0] if child.poll() is not None else "(still running)"
            raise AssertionError(f"run {run_id} never held the lock of {lake}:\n{output[-2000:]}")
        time.sleep(0.01)


def uncommitted_data_files(table_dir: Path) -> int:
    """Data files in the table's folder that no commit in its log adds: what a killed write left."""
    log = table_dir / "_delta_log"
    if not log.exists():
        return len(data_files(table_dir))
    added = set()
    for commit in log.glob("*.json"):
        for line in commit.read_text().splitlines():
            action = json.loads(line)
            for kind in ("add", "cdc"):
                if kind in action:
                    added.add(action[kind]["path"])
    return len(data_files(table_dir) - {unquote(path) for path in added})


def data_files(table_dir: Path) -> set[str]:
    """The table's data files on disk, relative to its folder (the log's own files left out)."""
    if not table_dir.exists():
        return set()
    files = (path.relative_to(table_dir) for path in table_dir.rglob("*.parquet"))
    return {str(path) for path in files if path.parts[0] != "_delta_log"}


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


def assert_as_the_clean_run(
    spark: SparkSession, lake: Path, clean_lake: Path, record_property: Callable[[str, object], None], fault: str
) -> None:
    """Compare every data table with the clean run's, record the figures under `fault`, then assert them equal."""
    differences = compare_with_clean_run(spark, lake, clean_lake)
    record_outcome(record_property, fault, differences)
    assert_equal_to_the_clean_run(differences)

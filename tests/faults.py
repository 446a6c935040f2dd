"""Real faults for the reliability tests: a layer's run SIGKILLed at a chosen moment of a write.

The layer runs in a child process (its own Python and JVM, one process group) on a lake the layers
before it have written; a watcher in the test process polls the lake folder and kills the whole group
when the chosen moment is seen on disk: the first data file of a table's write (mid-write, before its
commit), or a given commit of a table (between two commits of the layer).
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import unquote

import psutil

from lib.contracts.params import PipelineParams
from lib.contracts.paths import REPO_ROOT

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
    return subprocess.Popen(
        [sys.executable, "-c", CHILD_SCRIPT, json.dumps(params.as_dict()), layers],
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
    killed = False
    while child.poll() is None and time.monotonic() - started < timeout:
        if point.reached(lake, files_before):
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
    return KillOutcome(killed, time.monotonic() - started, uncommitted_data_files(lake / point.table), output)


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

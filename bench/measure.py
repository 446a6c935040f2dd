"""Measuring a command: wall time, and peak memory of its process tree (the JVM's and Python's apart).

Each measured step runs in its own process, so its memory is its own and a JVM warmed by an
earlier step does not flatter a later one.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import importlib.metadata
import json
import os
import platform
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil

SAMPLE_SECONDS = 0.5
RESULT_PREFIX = "BENCH_RESULT "
MIB = 1024 * 1024


@dataclasses.dataclass
class Measured:
    """One command's run: seconds, peak resident memory (MiB), and the result it printed."""

    seconds: float
    peak_jvm_mib: float
    peak_python_mib: float
    peak_total_mib: float
    result: dict


def is_jvm_fork(name: str, exe: str) -> bool:
    """A JVM's child between fork and exec (named after the forking thread): its pages are the JVM's.

    Hadoop runs shell commands this way; counting the copy would double the JVM's memory.
    """
    return Path(exe).name == "java" and name != "java"


def resident(process: psutil.Process) -> tuple[str, int] | None:
    """("jvm" or "python", resident bytes) of one process; None for a JVM's fork or a process gone.

    The name and executable are read before the memory: a fork that execs between the reads is then
    either skipped as a fork or measured after its exec. Read the other way round, one such sample
    counts the JVM's whole resident set as Python's, under the name of the command the fork became.
    """
    try:
        name, exe = process.name(), process.exe()
        if is_jvm_fork(name, exe):
            return None
        return ("jvm" if name == "java" else "python"), process.memory_info().rss
    except psutil.Error:
        return None


class MemorySampler(threading.Thread):
    """Samples the resident memory of a process and all its descendants every `interval` seconds."""

    def __init__(self, pid: int, interval: float = SAMPLE_SECONDS) -> None:
        super().__init__(daemon=True)
        self.root, self.interval = psutil.Process(pid), interval
        self.peak_jvm = self.peak_python = self.peak_total = 0
        self.done = threading.Event()

    def sample(self) -> None:
        jvm = python = 0
        try:
            processes = [self.root, *self.root.children(recursive=True)]
        except psutil.Error:
            return
        for measured in map(resident, processes):
            if measured is not None:
                kind, rss = measured
                jvm, python = (jvm + rss, python) if kind == "jvm" else (jvm, python + rss)
        self.peak_jvm, self.peak_python = max(self.peak_jvm, jvm), max(self.peak_python, python)
        self.peak_total = max(self.peak_total, jvm + python)

    def run(self) -> None:
        while not self.done.is_set():
            self.sample()
            self.done.wait(self.interval)

    def stop(self) -> None:
        self.done.set()
        self.join()


def measure(command: list[str], log: Path, env: dict[str, str] | None = None) -> Measured:
    """Run a command to the end, sampling its memory; stdout and stderr go to `log`.

    A line `BENCH_RESULT {json}` on its stdout is its result. A failing command raises, naming the log.
    """
    log.parent.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    with log.open("w") as output:
        process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})})
        sampler = MemorySampler(process.pid)
        sampler.start()
        returncode = process.wait()
        sampler.stop()
    seconds = time.perf_counter() - started
    if returncode != 0:
        raise RuntimeError(f"{' '.join(command)} exited with {returncode}; see {log}")
    lines = [line for line in log.read_text().splitlines() if line.startswith(RESULT_PREFIX)]
    result = json.loads(lines[-1][len(RESULT_PREFIX):]) if lines else {}
    return Measured(seconds, sampler.peak_jvm / MIB, sampler.peak_python / MIB, sampler.peak_total / MIB, result)


def print_result(result: dict) -> None:
    """What a measured worker prints for `measure` to read."""
    print(RESULT_PREFIX + json.dumps(result, default=str), flush=True)


def java_version() -> str:
    try:
        completed = subprocess.run(["java", "-version"], capture_output=True, text=True, check=False)
    except OSError:
        return "not found"
    first = (completed.stderr or completed.stdout).splitlines()
    return first[0] if first else "unknown"


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine() -> dict[str, str]:
    """The machine and the versions a reader needs to compare figures."""
    versions = {name: importlib.metadata.version(name) for name in ("pyspark", "delta-spark", "duckdb", "streamlit")}
    return {
        "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": f"{os.cpu_count()} cores, {cpu_model()}",
        "memory": f"{psutil.virtual_memory().total / 1024**3:.1f} GiB",
        "os": platform.platform(),
        "python": sys.version.split()[0],
        "java": java_version(),
        **versions,
    }


def load_average() -> str:
    """The 1, 5 and 15 minute load averages: how busy the machine was."""
    return " / ".join(f"{value:.1f}" for value in os.getloadavg())

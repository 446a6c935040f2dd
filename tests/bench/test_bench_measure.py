"""The benchmark's measurement of a command: its result line, wall time and peak memory."""

from __future__ import annotations

import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from bench.measure import MIB, measure, resident

JVM_EXE = "/usr/lib/jvm/java-17-openjdk-amd64/bin/java"


class ForkThatExecs:
    """A JVM's child that becomes `chmod` after `reads_before_exec` reads of its attributes."""

    def __init__(self, reads_before_exec: int) -> None:
        self.reads_left = reads_before_exec

    def _execed(self) -> bool:
        self.reads_left -= 1
        return self.reads_left < 0

    def name(self) -> str:
        return "chmod" if self._execed() else "Executor task launch worker for task 7"

    def exe(self) -> str:
        return "/usr/bin/chmod" if self._execed() else JVM_EXE

    def memory_info(self) -> SimpleNamespace:
        return SimpleNamespace(rss=1 * MIB if self._execed() else 2048 * MIB)


def test_a_fork_that_execs_mid_sample_is_not_counted_with_the_jvm_pages() -> None:
    # Exec after the first read: the name is the thread's, the executable already chmod's.
    assert resident(ForkThatExecs(reads_before_exec=1)) == ("python", 1 * MIB)
    # Exec after the last read: still the JVM's fork, so not counted at all.
    assert resident(ForkThatExecs(reads_before_exec=3)) is None
    # Exec before any read: a small process of its own.
    assert resident(ForkThatExecs(reads_before_exec=0)) == ("python", 1 * MIB)


@pytest.mark.end_to_end
def test_measure_reads_the_result_line_and_the_peak_memory(tmp_path: Path) -> None:
    child = (
        "import time, bench.measure as m\n"
        "block = bytearray(300 * 1024 * 1024)\n"
        "block[::4096] = b'x' * len(block[::4096])\n"
        "time.sleep(2)\n"
        "m.print_result({'rows': 3})\n"
    )
    measured = measure([sys.executable, "-c", child], tmp_path / "child.log")
    assert measured.result == {"rows": 3}
    assert measured.seconds >= 2
    assert 300 <= measured.peak_python_mib < 600
    assert measured.peak_jvm_mib == 0

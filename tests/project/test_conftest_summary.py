"""The reliability summary in conftest.py: the figures the tests recorded, summed, also from parallel workers;
and a test file that fails to import is shown, not hidden by the summary."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from lib.contracts.paths import REPO_ROOT

CONFTEST = Path(__file__).resolve().parents[1] / "conftest.py"
# The project's summary hook, loaded under another module name into a scratch suite.
SCRATCH_CONFTEST = f"""
import importlib.util

spec = importlib.util.spec_from_file_location("lakehouse_conftest", {str(CONFTEST)!r})
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
pytest_terminal_summary = module.pytest_terminal_summary
"""


# Two tries of a scratch suite's faults: one finds every row, the other fails, having lost two rows.
SCRATCH_FAULTS = """
from lakehouse_testing import record_reliability


def test_finds_every_row(record_property):
    record_reliability(record_property, "kill one", tables_compared=3, tables_equal=3, rows_compared=1200, rows_lost=0)


def test_loses_two_rows(record_property):
    record_reliability(record_property, "kill two", tables_compared=2, tables_equal=1, rows_compared=50, rows_lost=2)
    assert False, "two rows lost"
"""


def run_scratch_suite(folder: Path, *options: str) -> subprocess.CompletedProcess:
    """pytest on the scratch suite in folder, with the project's summary hook: its exit status and output."""
    (folder / "conftest.py").write_text(SCRATCH_CONFTEST)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(CONFTEST.parent), str(REPO_ROOT)])}
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:randomly", *options, str(folder)],
        cwd=folder, env=env, capture_output=True, text=True, timeout=120,
    )


@pytest.mark.end_to_end
def test_the_summary_sums_the_figures_the_tests_recorded_on_two_workers(tmp_path: Path) -> None:
    (tmp_path / "test_reliability.py").write_text(SCRATCH_FAULTS)
    done = run_scratch_suite(tmp_path, "-n", "2")
    output = done.stdout + done.stderr
    assert done.returncode == 1, output
    assert "bringing up nodes" in output, output
    assert "faults injected: 2 tried, tables compared 5, tables equal 4, rows compared 1,250, rows lost 2\n" in output
    assert "  kill two: rows lost 2, rows duplicated 0\n" in output and "kill one:" not in output, output


@pytest.mark.end_to_end
def test_a_collection_error_is_shown_and_fails_the_run(tmp_path: Path) -> None:
    (tmp_path / "test_bad_input.py").write_text('raise FileNotFoundError("sample rows not found: data/x.csv")\n')
    (tmp_path / "test_reliability.py").write_text("def test_survives():\n    assert True\n")
    done = run_scratch_suite(tmp_path)
    output = done.stdout + done.stderr
    assert done.returncode not in (0, 5), output
    assert "FileNotFoundError: sample rows not found: data/x.csv" in output
    assert "INTERNALERROR" not in output and "user_properties" not in output, output

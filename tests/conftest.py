"""Shared fixtures: one Delta-enabled Spark session, and a lake built by the real pipeline."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from lakehouse_testing import run_all_layers, scratch_params
from lib.contracts.paths import REPO_ROOT
from lib.lake.session import build_spark

# The project's packages `dashboard` and `bench` share their names with folders of tests/, which pytest puts
# on sys.path: with the repository first, `import dashboard` finds the package, not the tests' folder.
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))


@pytest.fixture(scope="session")
def spark() -> SparkSession:
    """local[2], UI off, 2 shuffle partitions, UTC (set by build_spark)."""
    session = build_spark("local[2]", app_name="lakehouse-tests", shuffle_partitions=2, driver_memory="2g")
    yield session
    session.stop()


@pytest.fixture(scope="session")
def pipeline_lake(spark: SparkSession, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A lake built by the real pipeline on 3 small generated days (params/ci.yaml)."""
    root = tmp_path_factory.mktemp("pipeline-lake")
    params = scratch_params(root, run_id="fixture-run")
    run_all_layers(spark, params)
    return params.path("lake_dir")


# Test files whose outcomes make the reliability summary: file -> what each test tries.
RELIABILITY_FILES = {
    "test_reliability.py": "faults injected",
    "test_bad_input.py": "bad-input and drift kinds tried",
    "test_gold_incremental.py": "incremental-vs-rebuild comparisons",
}


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Print the reliability figures: faults and bad inputs tried and survived, rows lost and duplicated."""
    tried: dict[str, list[int]] = {}
    lost = duplicated = 0
    for outcome in ("passed", "failed", "error"):
        for report in terminalreporter.stats.get(outcome, []):
            kind = RELIABILITY_FILES.get(Path(report.nodeid.split("::")[0]).name)
            # A file that failed to import leaves a collection report, which has no test outcome
            # to count: pytest prints its error itself.
            if kind is None or not isinstance(report, pytest.TestReport):
                continue
            counts = tried.setdefault(kind, [0, 0])
            counts[0] += 1
            counts[1] += outcome == "passed"
            for key, value in report.user_properties:
                if key == "reliability":
                    lost += value["rows_lost"]
                    duplicated += value["rows_duplicated"]
    if not tried:
        return
    terminalreporter.write_sep("-", "reliability")
    for kind, (total, passed) in tried.items():
        terminalreporter.write_line(f"{kind}: {total}, survived or handled: {passed}")
    terminalreporter.write_line(f"rows lost: {lost}, rows duplicated: {duplicated} (against a clean run)")

"""Shared fixtures: one Delta-enabled Spark session, and a lake built by the real pipeline."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from lakehouse_testing import Stages
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
def stages(spark: SparkSession, tmp_path_factory: pytest.TempPathFactory) -> Stages:
    """The lake on params/ci.yaml after each layer (3 small generated days), built once per run.

    The workers of a parallel run (pytest -n) share one build, in the folder their own folders are in.
    """
    base = tmp_path_factory.getbasetemp()
    shared = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
    return Stages(shared / "ci-stages").build(spark)


@pytest.fixture(scope="session")
def pipeline_lake(stages: Stages) -> Path:
    """The lake after all three layers on params/ci.yaml, run id "fixture-run"; read it, or copy it to change it."""
    return stages.lake("gold")


# The tiers. A test is in the fast tier (`make check`) unless marked: `lake` for a test that runs the
# pipeline in this process or reads a lake it built (a test taking a stage is marked by its fixture),
# `end_to_end` for one that starts processes of its own (Python, a JVM, a kernel, a browser).
TIERS = {
    "lake": "runs the pipeline in this process, or reads a lake built by it",
    "end_to_end": "starts processes of its own: a pipeline run, a kernel, a JVM, a server or a browser",
}
LAKE_FIXTURES = {"stages", "pipeline_lake"}


def pytest_configure(config: pytest.Config) -> None:
    for name, description in TIERS.items():
        config.addinivalue_line("markers", f"{name}: {description}")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if LAKE_FIXTURES & set(getattr(item, "fixturenames", ())) and not item.get_closest_marker("end_to_end"):
            item.add_marker(pytest.mark.lake)


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

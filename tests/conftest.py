"""Shared fixtures: one Delta-enabled Spark session, and a lake built by the real pipeline."""

from __future__ import annotations

import os
import random
import sys
from collections.abc import Iterable
from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from lakehouse_testing import RELIABILITY_FIGURES, Stages, shuffled
from lib.contracts.paths import REPO_ROOT
from lib.lake.session import build_spark, settings

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


# On a few literal rows, AQE's re-planning and whole-stage code generation cost more than the rows themselves:
# the fast tier's tests run without them. The tiers lake and end_to_end run the session as the pipeline does.
FAST_TIER_SETTINGS = {"spark.sql.adaptive.enabled": "false", "spark.sql.codegen.wholeStage": "false"}


@pytest.fixture(autouse=True)
def fast_tier_settings(request: pytest.FixtureRequest) -> Iterable[None]:
    """FAST_TIER_SETTINGS for a test of the fast tier that takes the session, for that test only."""
    if "spark" not in request.fixturenames or any(request.node.get_closest_marker(tier) for tier in TIERS):
        yield
        return
    with settings(request.getfixturevalue("spark"), FAST_TIER_SETTINGS):
        yield


@pytest.fixture(scope="module", autouse=True)
def delta_cache_dropped_after_the_module() -> Iterable[None]:
    """Delta keeps a log, with its snapshot's state cached in the session's memory, for every table the session
    read; a module's lakes are its own folders and are not read again after it. Dropping them frees that
    memory for the next module (a run of five lake files: 395 s with, 483 s without)."""
    yield
    session = SparkSession.getActiveSession()
    if session is not None:
        session.sparkContext._jvm.org.apache.spark.sql.delta.DeltaLog.clearCache()


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


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--shuffle", type=int, metavar="SEED",
                     help="run the test files in an order drawn from SEED, and each file's tests in one too")


def pytest_configure(config: pytest.Config) -> None:
    for name, description in TIERS.items():
        config.addinivalue_line("markers", f"{name}: {description}")


def pytest_report_header(config: pytest.Config) -> str | None:
    seed = config.getoption("--shuffle")
    if seed is None:
        return None
    return f"shuffled: files and tests in the order of seed {seed} (--shuffle {seed} repeats it)"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if LAKE_FIXTURES & set(getattr(item, "fixturenames", ())) and not item.get_closest_marker("end_to_end"):
            item.add_marker(pytest.mark.lake)
    seed = config.getoption("--shuffle")
    if seed is not None:
        items[:] = shuffled(items, random.Random(seed))


# Test files whose figures make the reliability summary: file -> what each of its tests tries.
RELIABILITY_FILES = {
    "test_reliability.py": "faults injected",
    "test_maintain_faults.py": "maintenance faults injected",
    "test_bad_input.py": "bad-input and drift kinds tried",
    "test_gold_incremental.py": "incremental-vs-rebuild comparisons",
}


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Print what the reliability tests measured, per kind: how many were tried, and their figures summed.

    The figures are those the tests recorded with `record_reliability` (tables and rows compared with a
    clean run or a rebuild, rows lost and duplicated, input lines read and accounted for), failed tests'
    too; a try that lost or duplicated rows is named.
    """
    tried = reliability_records(terminalreporter.stats)
    if not tried:
        return
    terminalreporter.write_sep("-", "reliability")
    for kind, (tests, records) in tried.items():
        figures = "".join(f", {name.replace('_', ' ')} {value:,}" for name, value in summed_figures(records).items())
        terminalreporter.write_line(f"{kind}: {tests} tried{figures}")
        for record in records:
            if record.get("rows_lost") or record.get("rows_duplicated"):
                terminalreporter.write_line(
                    f"  {record.get('name')}: rows lost {record.get('rows_lost', 0):,}, "
                    f"rows duplicated {record.get('rows_duplicated', 0):,}"
                )


def reliability_records(stats: dict[str, list]) -> dict[str, tuple[int, list[dict]]]:
    """Per kind: how many of its files' tests ran (a skipped one did not), and the figures they recorded.

    Every report of a test (setup, call, teardown; under pytest-xdist, sent over from the worker) carries
    the properties recorded so far, so the longest list holds them all. A file that failed to import
    leaves a collection report instead, with no test to count: pytest prints its error itself.
    """
    properties: dict[str, dict[str, list]] = {}
    skipped = set()
    for reports in stats.values():
        for report in reports:
            if not isinstance(report, pytest.TestReport):
                continue
            kind = RELIABILITY_FILES.get(Path(report.nodeid.split("::")[0]).name)
            if kind is not None:
                tests = properties.setdefault(kind, {})
                tests[report.nodeid] = max(tests.get(report.nodeid, []), report.user_properties, key=len)
            if report.skipped:
                skipped.add(report.nodeid)
    ran = {kind: {nodeid: recorded for nodeid, recorded in tests.items() if nodeid not in skipped}
           for kind, tests in properties.items()}
    return {
        kind: (len(tests), [value for recorded in tests.values() for key, value in recorded if key == "reliability"])
        for kind, tests in ran.items()
        if tests
    }


def summed_figures(records: Iterable[dict]) -> dict[str, int]:
    """Each numeric figure summed over the records, in RELIABILITY_FIGURES' order; figures no record has left out."""
    totals: dict[str, int] = {}
    for record in records:
        for name, value in record.items():
            if isinstance(value, int | float) and not isinstance(value, bool):
                totals[name] = totals.get(name, 0) + value
    order = {name: position for position, name in enumerate(RELIABILITY_FIGURES)}
    return dict(sorted(totals.items(), key=lambda item: order.get(item[0], len(order))))


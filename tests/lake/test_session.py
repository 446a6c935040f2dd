"""One session per process, shared explicitly: another caller's settings are said, refused, or scoped.

The tests ask the tests' running session (tests/conftest.py: local[2], 2 shuffle partitions, 2g)
for other settings, and leave it with its own; the last one starts a session of its own.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from lib.contracts.paths import REPO_ROOT
from lib.lake import session, storage
from lib.lake.session import SessionMismatch, build_spark
from lib.ops import datadocs

# What tests/conftest.py asks for.
TEST_SESSION = {"master": "local[2]", "app_name": "lakehouse-tests", "shuffle_partitions": 2, "driver_memory": "2g"}
SHUFFLE = "spark.sql.shuffle.partitions"
USER_METADATA = "spark.databricks.delta.commitInfo.userMetadata"


@pytest.fixture
def found(spark: SparkSession) -> Iterator[dict[str, str]]:
    """The running session's settings before the test, which checks them; the shuffle partitions put back after it."""
    before = spark.conf.getAll
    yield before
    spark.conf.set(SHUFFLE, before[SHUFFLE])


def test_the_running_sessions_settings_under_another_name_give_it_as_it_is(
    spark: SparkSession, found: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    again = build_spark(**{**TEST_SESSION, "app_name": "another-caller"})

    assert again is spark
    assert capsys.readouterr().out == ""
    assert spark.conf.getAll == found, "nothing is set on the session, not even the other caller's name"


def test_another_runtime_setting_is_set_and_said(
    spark: SparkSession, found: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    again = build_spark(**{**TEST_SESSION, "shuffle_partitions": 3})

    assert again is spark and spark.conf.get(SHUFFLE) == "3"
    assert capsys.readouterr().out == (
        "Spark session: spark.sql.shuffle.partitions from 2 to 3, for every later user of the session\n"
    )
    assert spark.conf.get("spark.default.parallelism") == "2", "the parallelism stays the one it started with"


def test_another_setting_fixed_at_the_start_is_a_one_line_error_and_nothing_is_set(
    spark: SparkSession, found: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SessionMismatch) as refused:
        build_spark(**{**TEST_SESSION, "master": "local[1]", "driver_memory": "1g", "shuffle_partitions": 1})

    assert str(refused.value) == (
        "the running Spark session cannot change spark.master from local[2] to local[1], spark.driver.memory "
        "from 2g to 1g, fixed when it started: ask for the running values, or run this in a process of its own"
    )
    assert spark.conf.getAll == found and capsys.readouterr().out == ""


def test_settings_for_a_block_are_undone_after_it_even_when_it_raises(
    spark: SparkSession, found: dict[str, str]
) -> None:
    inside: dict[str, str] = {}
    with (pytest.raises(RuntimeError, match="failed in the block"),
          session.settings(spark, {SHUFFLE: "1", USER_METADATA: "a block's commits"})):
        inside = {key: spark.conf.get(key) for key in (SHUFFLE, USER_METADATA)}
        raise RuntimeError("failed in the block")

    assert inside == {SHUFFLE: "1", USER_METADATA: "a block's commits"}
    assert spark.conf.get(SHUFFLE) == "2" and spark.conf.get(USER_METADATA, None) is None
    assert spark.conf.getAll == found


def test_settings_for_a_block_refuse_a_setting_fixed_at_the_start(spark: SparkSession, found: dict[str, str]) -> None:
    with pytest.raises(ValueError) as refused, session.settings(spark, {SHUFFLE: "1", "spark.driver.memory": "8g"}):
        raise AssertionError("the block ran")

    assert str(refused.value) == (
        "spark.driver.memory cannot change in a running Spark session, fixed when it started: ask for it when "
        "building the session, in a process of its own"
    )
    assert spark.conf.getAll == found


def test_a_local_sessions_python_tasks_run_in_this_interpreter(spark: SparkSession) -> None:
    """Not the first `python3` on PATH, which can be another version or lack the project's packages."""
    assert spark.sparkContext.parallelize([0], 1).map(lambda _: sys.executable).collect() == [sys.executable]


def test_a_collect_waits_for_python_longer_than_sparks_15_seconds(spark: SparkSession) -> None:
    """The JVM keeps the socket a collect hands its rows over open for 120 s: on a loaded host, Python connected
    later than Spark's default 15 s and the collect failed with CANNOT_OPEN_SOCKET."""
    assert spark.sparkContext.getConf().get("spark.python.authenticate.socketTimeout") == "120s"


@pytest.mark.lake
def test_datadocs_run_in_process_leaves_the_running_sessions_shuffle_partitions(
    spark: SparkSession, found: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lake = tmp_path / "lake"
    rows = spark.createDataFrame([(1, 10.0)], "user_id BIGINT, total_revenue DOUBLE")
    rows.write.format("delta").save(storage.table_path(lake, "customer_metrics"))

    assert datadocs.main(["--lake", str(lake), "--apply-comments"]) == 0

    # Delta notes its commits in the session's settings (lastCommitVersionInSession): compared are the partitions.
    assert spark.conf.get(SHUFFLE) == found[SHUFFLE] == "2"
    assert "Spark session" not in capsys.readouterr().out


# In its own process, because it stops its session: the tests' session keeps running.
REBUILD_AFTER_STOP = """
from lib.lake.session import SessionMismatch, build_spark
build_spark("local[1]", app_name="first", shuffle_partitions=1, driver_memory="1g").stop()
again = build_spark("local[2]", app_name="second", shuffle_partitions=1, driver_memory="1g")
print(again.sparkContext.master)
again.stop()
try:
    build_spark("local[1]", app_name="third", shuffle_partitions=1, driver_memory="2g")
except SessionMismatch as error:
    print(error)
"""


@pytest.mark.end_to_end
def test_a_session_built_again_after_a_stop_can_change_the_master_but_not_the_jvms_memory() -> None:
    result = subprocess.run([sys.executable, "-c", REBUILD_AFTER_STOP], cwd=REPO_ROOT, capture_output=True, text=True,
                            timeout=600)

    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.splitlines() == [
        "local[2]",
        ("this process's Spark JVM cannot change spark.driver.memory from 1g to 2g, fixed when it started (a stopped "
         "session leaves its JVM running): ask for the JVM's values, or run this in a process of its own"),
    ]

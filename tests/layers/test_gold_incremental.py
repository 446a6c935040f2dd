"""Incremental gold equals a full rebuild: new days after a gap, a late day, a day with no new user, a day
of duplicates only, and the forced rebuild.

The runs start from a copy of the ci lake's gold stage (days 1-3 of params/ci.yaml's input, gold built
in full) with the same generator's days 4-6 added to the landing folder: one run brings days 5 and 6,
the next day 4, late. Then day 3's lines arrive again as day 7 (every user, session and product already
in gold), and last a file of day 2's lines again (silver drops them all as duplicates). Each incremental
run's four tables and gold's state are held against a rebuild in full from the silver it read. A silver
commit that removed rows, or a changed gold or state table, makes the next run a rebuild.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import shutil
from pathlib import Path

import pytest
from delta.tables import DeltaTable
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from lakehouse_testing import (
    RUN_DECIMALS, Stages, comparable, rebuilt_tables, record_reliability, run_all_layers, scratch_params,
)
from lib import layers
from lib.lake import storage
from lib.layers.bronze import generate_input
from lib.layers.gold import GOLD_TABLES, STATE_TABLES

DAYS = [dt.date(2019, 10, 1) + dt.timedelta(days=n) for n in range(6)]
STAGE_DAYS = 3  # the gold stage holds the first three
REPEATED_DAY = dt.date(2019, 10, 7)  # day 3's lines with day 7's date: no new user, session or product
# Each run's days and the landing glob that selects them: days 5 and 6 after a gap, then day 4, late, then
# day 3 again as day 7, then a file of day 2's lines again.
ARRIVALS = (
    ((DAYS[4], DAYS[5]), "2019-10-0[56].csv"),
    ((DAYS[3],), "2019-10-04.csv"),
    ((REPEATED_DAY,), "2019-10-07.csv"),
    ((), "2019-10-02-again.csv"),
)
COMPARED = GOLD_TABLES + STATE_TABLES


def write_repeated_days(landing: Path) -> None:
    """Day 3's file as day 7's (its event times moved 4 days on), and day 2's file under another name."""
    day_3 = (landing / "2019-10-03.csv").read_text()
    (landing / "2019-10-07.csv").write_text(day_3.replace("2019-10-03 ", "2019-10-07 "))
    shutil.copyfile(landing / "2019-10-02.csv", landing / "2019-10-02-again.csv")


def gold_versions(spark: SparkSession, lake: Path) -> dict[str, int]:
    return {name: storage.table_version(spark, lake, name) for name in COMPARED}


@dataclasses.dataclass
class Step:
    """One run: the days it brought, gold's details, the versions gold wrote, a full rebuild to hold them against."""

    days: tuple[dt.date, ...]
    details: dict
    written: dict[str, int]
    rebuilt: dict[str, DataFrame]
    silver: layers.LayerSummary


@dataclasses.dataclass
class DayByDay:
    """The lake after every day arrived, and each step of it."""

    root: Path
    steps: list[Step]

    @property
    def lake(self) -> Path:
        return self.root / "lake"


@pytest.fixture(scope="module")
def day_by_day(spark: SparkSession, stages: Stages, tmp_path_factory: pytest.TempPathFactory) -> DayByDay:
    """The gold stage, then one run per entry of ARRIVALS, gold rebuilt in full after each."""
    root = tmp_path_factory.mktemp("incremental")
    stages.copy("gold", root)
    generate_input(scratch_params(root, generator_days=len(DAYS)))  # writes only the days the stage lacks
    write_repeated_days(root / "landing")
    steps = []
    for days, glob in ARRIVALS:
        params = scratch_params(root, generate_input=False, landing_glob=glob)
        summaries = run_all_layers(spark, params)
        lake = params.path("lake_dir")
        rebuilt = rebuilt_tables(spark, lake, params)
        steps.append(Step(days, summaries["gold"].details, gold_versions(spark, lake), rebuilt, summaries["silver"]))
    return DayByDay(root, steps)


def copy_of(day_by_day: DayByDay, tmp_path: Path) -> Path:
    """A copy of the finished lake (and its landing folder) that a test may change."""
    shutil.copytree(day_by_day.root, tmp_path, dirs_exist_ok=True)
    return tmp_path


def differences(actual: DataFrame, expected: DataFrame) -> tuple[int, int]:
    """(expected rows missing from actual, actual rows beyond expected), as multisets, doubles to RUN_DECIMALS places.

    The rows are compared as `assert_same_rows(..., decimals=RUN_DECIMALS)` compares them, counted rather
    than asserted: the counts make the reliability summary.
    """
    actual, expected = comparable(actual, RUN_DECIMALS), comparable(expected, RUN_DECIMALS)
    return expected.exceptAll(actual).count(), actual.exceptAll(expected).count()


def record_comparisons(record_property, name: str, compared: dict[str, tuple[int, int]], rows: int) -> None:
    record_reliability(
        record_property, name,
        tables_compared=len(compared),
        tables_equal=sum(found == (0, 0) for found in compared.values()),
        rows_compared=rows,
        rows_lost=sum(lost for lost, _ in compared.values()),
        rows_duplicated=sum(extra for _, extra in compared.values()),
    )


def daily_by_date(step: Step) -> dict[dt.date, dict]:
    """The step's rebuilt daily summary by date, doubles to RUN_DECIMALS places as they are compared."""
    daily = comparable(step.rebuilt["daily_sales_summary"], RUN_DECIMALS)
    return {row["event_date"]: row.asDict() for row in daily.collect()}


def test_new_days_a_late_day_and_repeated_days_equal_a_rebuild(
    spark: SparkSession, day_by_day: DayByDay, record_property
) -> None:
    compared, rows = {}, 0
    for step in day_by_day.steps:
        for name in COMPARED:
            written = storage.read_table(spark, day_by_day.lake, name, version=step.written[name])
            compared[f"{name} after {step.days or 'duplicates'}"] = differences(written, step.rebuilt[name])
            rows += step.rebuilt[name].count()
    record_comparisons(record_property, "incremental runs against a rebuild", compared, rows)

    assert compared == {key: (0, 0) for key in compared}
    for step in day_by_day.steps[:3]:
        assert step.details["mode"] == "incremental", step.details["reason"]
        assert step.details["touched"]["dates"] == list(step.days)
    duplicates = day_by_day.steps[-1]
    assert duplicates.details["mode"] == "unchanged" or duplicates.details["touched"]["events"] == 0, duplicates.details
    silver = duplicates.silver
    assert silver.record.rows_out == 0 and "events_cleaned" not in silver.record.versions_written
    kept, in_batch = silver.details["counts"]["kept"], silver.details["duplicates_in_batch"]
    assert silver.details["duplicates_in_silver"] == kept - in_batch > 0

    late, before_late = daily_by_date(day_by_day.steps[1]), daily_by_date(day_by_day.steps[0])
    assert set(before_late) == set(DAYS) - {DAYS[3]} and set(late) == set(DAYS)
    for later_day in DAYS[4:]:
        assert late[later_day]["revenue_7d_avg"] != before_late[later_day]["revenue_7d_avg"]
    assert late[DAYS[4]]["revenue_dod_change"] != before_late[DAYS[4]]["revenue_dod_change"]
    for earlier_day in DAYS[:STAGE_DAYS]:
        assert late[earlier_day] == before_late[earlier_day]


def test_a_day_with_no_new_user_adds_no_user_and_no_session(spark: SparkSession, day_by_day: DayByDay) -> None:
    late, repeated = day_by_day.steps[1], day_by_day.steps[2]
    users = {name: storage.read_table(spark, day_by_day.lake, name, version=step.written[name])
             for name, step in (("customer_metrics", late), ("customer_sessions", late))}
    after = {name: storage.read_table(spark, day_by_day.lake, name, version=repeated.written[name])
             for name in users}
    assert repeated.details["touched"]["events"] > 0
    assert after["customer_metrics"].count() == users["customer_metrics"].count()
    assert after["customer_sessions"].count() == users["customer_sessions"].count()
    events = {row["user_id"]: row["total_events"] for row in users["customer_metrics"].collect()}
    grown = [row for row in after["customer_metrics"].collect() if row["total_events"] > events[row["user_id"]]]
    assert grown and all(row["last_activity_date"] == REPEATED_DAY for row in grown)


def test_parameter_forces_a_full_rebuild_with_the_same_result(
    spark: SparkSession, day_by_day: DayByDay, tmp_path: Path, record_property
) -> None:
    params = scratch_params(copy_of(day_by_day, tmp_path), generate_input=False, gold_full_rebuild=True)
    lake = params.path("lake_dir")
    before = gold_versions(spark, lake)
    summary = layers.run_gold(spark, params)
    after = gold_versions(spark, lake)
    incremental = {name: storage.read_table(spark, lake, name, version=before[name]) for name in COMPARED}
    compared = {name: differences(storage.read_table(spark, lake, name), incremental[name]) for name in COMPARED}
    rows = sum(storage.read_table(spark, lake, name).count() for name in COMPARED)
    record_comparisons(record_property, "forced rebuild against the incremental result", compared, rows)

    assert (summary.details["mode"], summary.details["reason"]) == ("full", "parameter gold_full_rebuild is true")
    for name in COMPARED:
        assert after[name] > before[name], f"{name} was not written again"
    assert compared == {name: (0, 0) for name in COMPARED}


@pytest.mark.parametrize("table", ["conversion_funnel", "product_users"])
def test_a_changed_gold_or_state_table_makes_the_next_run_rebuild(
    spark: SparkSession, day_by_day: DayByDay, tmp_path: Path, table: str
) -> None:
    params = scratch_params(copy_of(day_by_day, tmp_path), generate_input=False)
    lake = params.path("lake_dir")
    storage.overwrite(storage.read_table(spark, lake, table).limit(1), lake, table)
    summary = layers.run_gold(spark, params)
    assert summary.details["mode"] == "full"
    assert summary.details["reason"].startswith(f"{table} changed since the last gold run")
    assert storage.read_table(spark, lake, table).count() > 1


def test_rows_deleted_from_silver_make_the_next_run_rebuild_naming_the_commit(
    spark: SparkSession, day_by_day: DayByDay, tmp_path: Path
) -> None:
    params = scratch_params(copy_of(day_by_day, tmp_path), generate_input=False)
    lake = params.path("lake_dir")
    silver = DeltaTable.forPath(spark, storage.table_path(lake, "events_cleaned"))
    silver.delete(F.col("event_date") == F.lit(DAYS[0]))
    deleted = storage.table_version(spark, lake, "events_cleaned")
    summary = layers.run_gold(spark, params)
    assert (summary.details["mode"], summary.details["reason"]) == (
        "full", f"events_cleaned version {deleted} (DELETE) removed rows")
    daily = storage.read_table(spark, lake, "daily_sales_summary")
    assert daily.filter(F.col("event_date") == F.lit(DAYS[0])).count() == 0
    assert daily.agg(F.sum("total_events")).first()[0] == storage.read_table(spark, lake, "events_cleaned").count()

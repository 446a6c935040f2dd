"""Incremental gold equals a full rebuild: days added one by one, a late day, and the forced rebuild."""

from __future__ import annotations

import dataclasses
import datetime as dt
import shutil
from pathlib import Path

import pytest
from pyspark.sql import DataFrame, SparkSession

from lakehouse_testing import RUN_DECIMALS, assert_same_rows, comparable, run_all_layers, scratch_params
from lib import layers
from lib.lake import storage
from lib.layers import gold as gold_layer
from lib.layers.gold import GOLD_TABLES, GoldPlan
from lib.synthetic.generator import generate_landing

DAYS = [dt.date(2019, 10, 1) + dt.timedelta(days=n) for n in range(5)]
ARRIVAL_ORDER = (0, 1, 3, 4, 2)  # the third day's file lands last: late data


def rebuilt_tables(spark: SparkSession, lake: Path, params) -> dict[str, DataFrame]:
    """The gold tables built in full from the current silver, materialized: a later run changes the lake."""
    version = storage.table_version(spark, lake, "events_cleaned")
    tables, _, cached = gold_layer.build_tables(spark, lake, params, version, GoldPlan("full", "test"))
    rebuilt = {name: table.localCheckpoint() for name, table in tables.items()}
    for frame in cached:
        frame.unpersist()
    return rebuilt


def gold_versions(spark: SparkSession, lake: Path) -> dict[str, int]:
    return {name: storage.table_version(spark, lake, name) for name in GOLD_TABLES}


@dataclasses.dataclass
class Step:
    """One day's run: the day, gold's details, the versions gold wrote, and a full rebuild to hold them against."""

    day: dt.date
    details: dict
    written: dict[str, int]
    rebuilt: dict[str, DataFrame]


@dataclasses.dataclass
class DayByDay:
    """The lake after every day arrived, and each step of it."""

    root: Path
    steps: list[Step]

    @property
    def lake(self) -> Path:
        return self.root / "lake"


@pytest.fixture(scope="module")
def day_by_day(spark: SparkSession, tmp_path_factory: pytest.TempPathFactory) -> DayByDay:
    """Five generated days, added one run at a time in ARRIVAL_ORDER, gold rebuilt in full after each."""
    root = tmp_path_factory.mktemp("incremental")
    generate_landing(root / "landing", days=len(DAYS), start_date=DAYS[0], events_per_day=1500, seed=7, fault_rate=0.02)
    steps = []
    for day in ARRIVAL_ORDER:
        params = scratch_params(root, generate_input=False, landing_glob=f"{DAYS[day]:%Y-%m-%d}*")
        details = run_all_layers(spark, params)["gold"].details
        lake = params.path("lake_dir")
        steps.append(Step(DAYS[day], details, gold_versions(spark, lake), rebuilt_tables(spark, lake, params)))
    return DayByDay(root, steps)


def copy_of(day_by_day: DayByDay, tmp_path: Path) -> Path:
    """A copy of the finished lake (and its landing folder) that a test may change."""
    shutil.copytree(day_by_day.root, tmp_path, dirs_exist_ok=True)
    return tmp_path


def daily_by_date(step: Step) -> dict[dt.date, dict]:
    """The step's rebuilt daily summary by date, doubles to RUN_DECIMALS places as they are compared."""
    daily = comparable(step.rebuilt["daily_sales_summary"], RUN_DECIMALS)
    return {row["event_date"]: row.asDict() for row in daily.collect()}


def test_days_one_by_one_and_a_late_day_equal_a_rebuild(spark: SparkSession, day_by_day: DayByDay) -> None:
    for position, step in enumerate(day_by_day.steps):
        assert step.details["mode"] == ("full" if position == 0 else "incremental"), step.details["reason"]
        if position > 0:
            assert step.details["touched"]["dates"] == [step.day]
        for name in GOLD_TABLES:
            written = storage.read_table(spark, day_by_day.lake, name, version=step.written[name])
            assert_same_rows(written, step.rebuilt[name], decimals=RUN_DECIMALS)

    before_late, late_daily = daily_by_date(day_by_day.steps[-2]), daily_by_date(day_by_day.steps[-1])
    assert set(late_daily) == set(DAYS)
    for later_day in DAYS[3:]:
        assert late_daily[later_day]["revenue_7d_avg"] != before_late[later_day]["revenue_7d_avg"]
    assert late_daily[DAYS[3]]["revenue_dod_change"] != before_late[DAYS[3]]["revenue_dod_change"]


def test_parameter_forces_a_full_rebuild_with_the_same_result(
    spark: SparkSession, day_by_day: DayByDay, tmp_path: Path
) -> None:
    params = scratch_params(copy_of(day_by_day, tmp_path), generate_input=False, gold_full_rebuild=True)
    lake = params.path("lake_dir")
    before = gold_versions(spark, lake)
    summary = layers.run_gold(spark, params)
    assert (summary.details["mode"], summary.details["reason"]) == ("full", "parameter gold_full_rebuild is true")
    after = gold_versions(spark, lake)
    for name in GOLD_TABLES:
        assert after[name] > before[name], f"{name} was not written again"
        incremental = storage.read_table(spark, lake, name, version=before[name])
        assert_same_rows(storage.read_table(spark, lake, name), incremental, decimals=RUN_DECIMALS)


def test_a_changed_gold_table_makes_the_next_run_rebuild(
    spark: SparkSession, day_by_day: DayByDay, tmp_path: Path
) -> None:
    params = scratch_params(copy_of(day_by_day, tmp_path), generate_input=False)
    lake = params.path("lake_dir")
    storage.overwrite(storage.read_table(spark, lake, "conversion_funnel").limit(1), lake, "conversion_funnel")
    summary = layers.run_gold(spark, params)
    assert summary.details["mode"] == "full"
    assert summary.details["reason"].startswith("conversion_funnel changed since the last gold run")
    assert storage.read_table(spark, lake, "conversion_funnel").count() > 1

"""Incremental gold equals a full rebuild: days added one by one, a late day, and the forced rebuild."""

from __future__ import annotations

import dataclasses
import datetime as dt
import shutil
from pathlib import Path

import pytest
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import types as T

from lakehouse_testing import run_all_layers, scratch_params
from lib import layers
from lib.lake import storage
from lib.layers import gold as gold_layer
from lib.layers.gold import GOLD_TABLES, GoldPlan
from lib.synthetic.generator import generate_landing

DAYS = [dt.date(2019, 10, 1) + dt.timedelta(days=n) for n in range(5)]
ARRIVAL_ORDER = (0, 1, 3, 4, 2)  # the third day's file lands last: late data


def rounded_rows(df: DataFrame) -> list[tuple]:
    """Rows in a stable order, doubles rounded to 6 decimals (sums in another order differ in the last bits)."""
    doubles = {field.name for field in df.schema if isinstance(field.dataType, T.DoubleType)}
    rows = [
        tuple(round(row[name], 6) if name in doubles and row[name] is not None else row[name] for name in df.columns)
        for row in df.collect()
    ]
    return sorted(rows, key=repr)


def rebuilt_tables(spark: SparkSession, lake: Path, params) -> dict[str, list[tuple]]:
    version = storage.table_version(spark, lake, "events_cleaned")
    tables, _, cached = gold_layer.build_tables(spark, lake, params, version, GoldPlan("full", "test"))
    rows = {name: rounded_rows(table) for name, table in tables.items()}
    for frame in cached:
        frame.unpersist()
    return rows


@dataclasses.dataclass
class DayByDay:
    """The lake after every day arrived, and what each step's gold held against a rebuild of it."""

    root: Path
    steps: list[tuple[dt.date, dict, dict[str, list[tuple]], dict[str, list[tuple]]]]
    daily_columns: list[str]


@pytest.fixture(scope="module")
def day_by_day(spark: SparkSession, tmp_path_factory: pytest.TempPathFactory) -> DayByDay:
    """Five generated days, added one run at a time in ARRIVAL_ORDER, gold compared with a rebuild after each."""
    root = tmp_path_factory.mktemp("incremental")
    generate_landing(root / "landing", days=len(DAYS), start_date=DAYS[0], events_per_day=1500, seed=7, fault_rate=0.02)
    steps = []
    for day in ARRIVAL_ORDER:
        params = scratch_params(root, generate_input=False, landing_glob=f"{DAYS[day]:%Y-%m-%d}*")
        details = run_all_layers(spark, params)["gold"].details
        lake = params.path("lake_dir")
        written = {name: rounded_rows(storage.read_table(spark, lake, name)) for name in GOLD_TABLES}
        steps.append((DAYS[day], details, written, rebuilt_tables(spark, lake, params)))
    return DayByDay(root, steps, storage.read_table(spark, lake, "daily_sales_summary").columns)


def copy_of(day_by_day: DayByDay, tmp_path: Path) -> Path:
    """A copy of the finished lake (and its landing folder) that a test may change."""
    shutil.copytree(day_by_day.root, tmp_path, dirs_exist_ok=True)
    return tmp_path


def test_days_one_by_one_and_a_late_day_equal_a_rebuild(day_by_day: DayByDay) -> None:
    for position, (day, details, written, expected) in enumerate(day_by_day.steps):
        assert details["mode"] == ("full" if position == 0 else "incremental"), details["reason"]
        if position > 0:
            assert details["touched"]["dates"] == [day]
        for name in GOLD_TABLES:
            assert written[name] == expected[name], f"{name} after {day}"

    before_late = {row[0]: row for row in day_by_day.steps[-2][3]["daily_sales_summary"]}
    late_daily = {row[0]: row for row in day_by_day.steps[-1][3]["daily_sales_summary"]}
    assert set(late_daily) == set(DAYS)
    columns = day_by_day.daily_columns
    moving_average, day_over_day = columns.index("revenue_7d_avg"), columns.index("revenue_dod_change")
    for later_day in DAYS[3:]:
        assert late_daily[later_day][moving_average] != before_late[later_day][moving_average]
    assert late_daily[DAYS[3]][day_over_day] != before_late[DAYS[3]][day_over_day]


def test_parameter_forces_a_full_rebuild_with_the_same_result(
    spark: SparkSession, day_by_day: DayByDay, tmp_path: Path
) -> None:
    params = scratch_params(copy_of(day_by_day, tmp_path), generate_input=False, gold_full_rebuild=True)
    lake = params.path("lake_dir")
    before = {name: rounded_rows(storage.read_table(spark, lake, name)) for name in GOLD_TABLES}
    summary = layers.run_gold(spark, params)
    assert (summary.details["mode"], summary.details["reason"]) == ("full", "parameter gold_full_rebuild is true")
    assert {name: rounded_rows(storage.read_table(spark, lake, name)) for name in GOLD_TABLES} == before


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

"""Quarantine replay on a real lake: a moved bound or a rule set to warn releases exactly the rows
that now pass, the rest keep updated reasons, history keeps every evaluation, and gold follows.

A copy of the ci lake's gold stage (params/ci.yaml, 2 % faults) goes through a sequence of replays in
a module fixture, with a snapshot of what each test needs before and after each step: raise max_price
to 10,000,000 (then gold), the same again through the command, a replay that crashes in its
quarantine write, and valid_user_id set to warn.
"""

from __future__ import annotations

import dataclasses
import math
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from lakehouse_testing import Stages
from lib import layers
from lib.contracts import tables
from lib.contracts.params import PipelineParams
from lib.lake import storage
from lib.ops import replay
from lib.orchestration.notebooks import STORED_OUTPUTS_PARAMS
from lib.transforms.quality import RULE_NAMES

RAISED_MAX_PRICE = 10_000_000.0
INJECTED_FILE_LINE = 900_000  # source_line of the injected rows: beyond every generated file's last line

Key = tuple[str, int]


@dataclasses.dataclass
class Snapshot:
    """The quarantine's rows by (source_file, source_line), table versions and counts, gold by date."""

    quarantine: dict[Key, dict[str, Any]]
    versions: dict[str, int | None]
    silver_rows: int
    history: Counter
    daily: dict[Any, tuple[int, float]]


def snapshot(spark: SparkSession, lake: Path) -> Snapshot:
    quarantine = storage.read_table(spark, lake, "events_quarantine").select(
        "source_file", "source_line", "quarantine_reasons", "price",
        F.to_date("event_time").alias("event_date"), F.lower(F.trim("event_type")).alias("event_type"),
    )
    rows = {(row["source_file"], row["source_line"]): row.asDict() for row in quarantine.collect()}
    history = Counter()
    if storage.table_exists(spark, lake, "quarantine_history"):
        for row in storage.read_table(spark, lake, "quarantine_history").collect():
            history[(row["source_file"], row["source_line"], row["outcome"])] += 1
    daily = storage.read_table(spark, lake, "daily_sales_summary").collect()
    return Snapshot(
        quarantine=rows,
        versions={name: storage.table_version(spark, lake, name)
                  for name in ("events_cleaned", "events_quarantine", "quarantine_history")},
        silver_rows=storage.read_table(spark, lake, "events_cleaned").count(),
        history=history,
        daily={row["event_date"]: (row["total_events"], row["total_revenue"]) for row in daily},
    )


def clean_purchase(spark: SparkSession, lake: Path) -> DataFrame:
    """One bronze purchase that passes every rule with no whitespace or case noise: its event is in silver."""
    bronze = storage.read_table(spark, lake, "events_raw")
    clean = (
        (F.col("event_type") == "purchase") & F.col("_rescued_data").isNull() & F.col("event_time").isNotNull()
        & (F.col("user_id") > 0) & (F.col("product_id") > 0) & F.col("price").between(0, 1000)
        & (F.col("user_session") == F.trim("user_session"))
    )
    return bronze.filter(clean).orderBy("source_file", "source_line").limit(1)


def inject_price_faults(spark: SparkSession, lake: Path) -> tuple[Key, Key, Key]:
    """Quarantine three rows failing only valid_price: a copy of an event silver has, and two
    copies of a new purchase. Returns their keys: (already in silver, new first, new second)."""
    purchase = clean_purchase(spark, lake)
    quarantine = storage.read_table(spark, lake, "events_quarantine")
    quarantined = {
        "run_id": F.lit("injected"),
        "quarantine_reasons": F.array(F.lit("valid_price")),
        "quarantine_reason": F.lit("valid_price"),
        "quarantined_at": F.current_timestamp(),
    }
    def at_line(rows: DataFrame, offset: int) -> DataFrame:
        return rows.withColumn("source_line", F.lit(INJECTED_FILE_LINE + offset).cast("long"))

    copy_of_silver = purchase.withColumn("price", F.lit(200_000.0))
    new_event = purchase.withColumns({"price": F.lit(300_000.0), "user_session": F.lit("replay-test-session")})
    rows = at_line(copy_of_silver, 0).unionByName(at_line(new_event, 1)).unionByName(at_line(new_event, 2))
    injected = rows.withColumns(quarantined).select(*quarantine.columns)
    storage.append(injected, lake, "events_quarantine")
    source_file = purchase.first()["source_file"]
    return tuple((source_file, INJECTED_FILE_LINE + offset) for offset in range(3))  # type: ignore[return-value]


def last_run(spark: SparkSession, lake: Path) -> dict[str, Any]:
    runs = storage.read_table(spark, lake, "pipeline_runs").filter(F.col("notebook") == replay.NOTEBOOK)
    return runs.orderBy(F.col("finished_at").desc()).first().asDict()


def with_actions(params: PipelineParams, **actions: str) -> PipelineParams:
    return dataclasses.replace(params, rule_actions={**{name: "drop" for name in RULE_NAMES}, **actions})


@pytest.fixture(scope="module")
def replays(spark: SparkSession, stages: Stages, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    base = stages.copy("gold", tmp_path_factory.mktemp("replay-lake"))
    lake = base.path("lake_dir")
    injected = inject_price_faults(spark, lake)
    raised = dataclasses.replace(base, max_price=RAISED_MAX_PRICE)
    steps: dict[str, Any] = {"lake": lake, "injected": injected, "before": snapshot(spark, lake)}

    steps["summary"] = replay.run_replay(spark, raised)
    layers.run_gold(spark, raised)
    steps["after"] = snapshot(spark, lake)

    overrides = ["--set", f"lake_dir={lake}", "--set", f"landing_dir={base.landing_dir}",
                 "--set", f"max_price={RAISED_MAX_PRICE}", "--no-gold"]
    steps["command_exit"] = replay.main(["--params", str(STORED_OUTPUTS_PARAMS), *overrides])
    steps["again"], steps["again_run"] = snapshot(spark, lake), last_run(spark, lake)

    warn = with_actions(raised, valid_user_id="warn")
    with pytest.MonkeyPatch.context() as patch:
        def crash(*args: object, **kwargs: object) -> None:
            raise RuntimeError("crash in the quarantine write")

        patch.setattr(storage, "delete_or_update_matched", crash)
        with pytest.raises(RuntimeError, match="crash in the quarantine write"):
            replay.run_replay(spark, warn)
    steps["crashed"], steps["crashed_run"] = snapshot(spark, lake), last_run(spark, lake)

    steps["warn_summary"] = replay.run_replay(spark, warn)
    steps["warned"] = snapshot(spark, lake)
    return steps


def expected_reasons(row: dict[str, Any], max_price: float) -> list[str]:
    """The row's reasons once the bound is max_price: valid_price goes only for a price now within it."""
    within = row["price"] is not None and 0 <= row["price"] <= max_price
    return [reason for reason in row["quarantine_reasons"] if not (reason == "valid_price" and within)]


def test_raising_max_price_releases_exactly_the_rows_failing_only_the_bound(replays: dict[str, Any]) -> None:
    before, after = replays["before"], replays["after"]
    passing = {key for key, row in before.quarantine.items() if not expected_reasons(row, RAISED_MAX_PRICE)}
    generated = passing - set(replays["injected"])
    assert generated, "the generated faults include prices over max_price"
    assert set(before.quarantine) - set(after.quarantine) == passing
    record = replays["summary"].record
    assert record.rows_out == len(generated) + 1
    assert record.rows_duplicate == 2
    assert after.silver_rows - before.silver_rows == len(generated) + 1


def test_rows_still_quarantined_have_their_updated_reasons(replays: dict[str, Any]) -> None:
    before, after = replays["before"], replays["after"]
    assert after.quarantine, "rows failing other rules stay"
    assert {key: row["quarantine_reasons"] for key, row in after.quarantine.items()} == {
        key: expected_reasons(before.quarantine[key], RAISED_MAX_PRICE) for key in after.quarantine
    }
    reasons = Counter(reason for row in after.quarantine.values() for reason in row["quarantine_reasons"])
    assert reasons["valid_user_id"] > 0 and reasons["valid_price"] > 0


def test_replay_conserves_rows(replays: dict[str, Any]) -> None:
    record = replays["summary"].record
    assert record.rows_in == len(replays["before"].quarantine)
    assert record.rows_in == record.rows_out + record.rows_quarantined + record.rows_duplicate
    assert record.rows_quarantined == len(replays["after"].quarantine)


def test_history_keeps_the_first_quarantine_and_the_replay(replays: dict[str, Any]) -> None:
    before, after = replays["before"], replays["after"]
    copy_of_silver, _, new_second = replays["injected"]
    released = set(before.quarantine) - set(after.quarantine)
    expected = Counter({(*key, "quarantined"): 1 for key in before.quarantine})
    expected.update((*key, "quarantined") for key in after.quarantine)
    expected.update((*key, "released") for key in released - {copy_of_silver, new_second})
    expected.update((*key, "duplicate") for key in (copy_of_silver, new_second))
    assert after.history == expected


def test_history_table_columns_are_described(spark: SparkSession, replays: dict[str, Any]) -> None:
    schema = storage.read_table(spark, replays["lake"], "quarantine_history").schema
    described = {column.name: column.description for column in tables.QUARANTINE_HISTORY.columns}
    assert {field.name: field.metadata.get("comment") for field in schema} == described


def test_gold_includes_the_released_rows(replays: dict[str, Any]) -> None:
    before, after = replays["before"], replays["after"]
    copy_of_silver, _, new_second = replays["injected"]
    inserted = [before.quarantine[key] for key in set(before.quarantine) - set(after.quarantine)
                if key not in (copy_of_silver, new_second)]
    events, revenue = Counter(), Counter()
    for row in inserted:
        events[row["event_date"]] += 1
        revenue[row["event_date"]] += row["price"] if row["event_type"] == "purchase" else 0.0
    assert revenue[before.quarantine[new_second]["event_date"]] >= 300_000.0
    for day, (total_events, total_revenue) in after.daily.items():
        assert total_events - before.daily[day][0] == events[day]
        assert math.isclose(total_revenue - before.daily[day][1], revenue[day], abs_tol=1e-6)


def test_a_second_replay_with_the_same_parameters_moves_nothing(replays: dict[str, Any]) -> None:
    after, again, run = replays["after"], replays["again"], replays["again_run"]
    assert replays["command_exit"] == 0
    assert (run["rows_in"], run["rows_out"], run["rows_duplicate"]) == (len(after.quarantine), 0, 0)
    assert again.quarantine == after.quarantine
    assert again.versions["events_cleaned"] == after.versions["events_cleaned"]
    assert again.versions["events_quarantine"] == after.versions["events_quarantine"]
    assert again.history == after.history + Counter((*key, "quarantined") for key in after.quarantine)


def test_a_replay_that_crashes_leaves_silver_quarantine_and_history_as_they_were(replays: dict[str, Any]) -> None:
    again, crashed, run = replays["again"], replays["crashed"], replays["crashed_run"]
    assert run["status"] == "failed" and "crash in the quarantine write" in run["error"]
    assert (crashed.silver_rows, crashed.quarantine, crashed.history) == (
        again.silver_rows, again.quarantine, again.history
    )


def test_a_rule_set_to_warn_releases_the_rows_failing_only_that_rule(replays: dict[str, Any]) -> None:
    crashed, warned = replays["crashed"], replays["warned"]
    only_user_id = {key for key, row in crashed.quarantine.items() if row["quarantine_reasons"] == ["valid_user_id"]}
    assert only_user_id
    assert set(crashed.quarantine) - set(warned.quarantine) == only_user_id
    assert replays["warn_summary"].record.rows_out == len(only_user_id)
    assert warned.silver_rows - crashed.silver_rows == len(only_user_id)
    assert all("valid_user_id" not in row["quarantine_reasons"] for row in warned.quarantine.values())


def test_a_bad_parameter_is_one_line_on_stderr_and_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert replay.main(["--params", str(STORED_OUTPUTS_PARAMS), "--set", "max_price=-1"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "max_price" in err

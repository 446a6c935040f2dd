"""Silver's run: the bronze rows appended since the last silver run, cleaned into `events_cleaned`.

Rows failing a `drop` rule go to `events_quarantine`; the rule counts go to `dq_metrics`; the row
counts are checked to add up (row conservation) before the run's ledger row says it succeeded.
"""

from __future__ import annotations

from typing import Any

from pyspark import StorageLevel
from pyspark.sql import DataFrame, Observation, SparkSession
from pyspark.sql import functions as F

from lib.contracts.params import PipelineParams
from lib.lake import dq_metrics, ledger, storage, transaction
from lib.layers.summary import LayerSummary, start_record
from lib.transforms import quality, silver


class RuleFailure(RuntimeError):
    """A rule whose action is `fail` found failing rows; nothing was written."""


class ConservationError(RuntimeError):
    """Silver's row counts do not add up: rows would have been lost or invented."""


def run_silver(spark: SparkSession, params: PipelineParams, notebook: str = "02_silver.ipynb") -> LayerSummary:
    """Clean the new bronze rows into `events_cleaned`, quarantine failures, record quality."""
    lake = params.path("lake_dir")
    record = start_record(params, "silver", notebook)
    details: dict[str, Any] = {}
    with transaction.layer_run(spark, lake, record):
        batch = bronze_batch(spark, lake, record)
        if batch is None:
            read = record.versions_read.get("events_raw")
            found = f"no events_raw rows after version {read}, which silver has processed" if read is not None \
                else "events_raw does not exist yet"
            print(f"silver: nothing new: {found}; only this run's pipeline_runs row is written", flush=True)
            record.rows_in = record.rows_out = record.rows_quarantined = record.rows_duplicate = 0
            details["counts"] = {}
            return LayerSummary(record.run_id, record, details)
        bronze_columns = silver.bronze_columns_of(batch)
        flagged = (
            batch.transform(silver.with_bronze_record)
            .transform(silver.standardize)
            .transform(silver.validate, params.max_price, params.rule_actions)
        )
        if quality.rules_with_action(params.rule_actions, "fail"):  # a pass of its own, before any write
            stop_on_failing_rules(flagged, quality.rule_failure_counts(flagged), params.rule_actions)
        # The rule counts are taken on the way through the first action that reads the batch. The
        # batch is not cached: reading bronze again costs less than caching it (8.5 s against 22.3 s
        # at 5 M rows), and a cache of the whole batch ran out of a 4g heap at 42 M.
        observation = Observation("silver_rule_counts")
        observed = flagged.observe(observation, *quality.rule_count_columns(extra={"kept": silver.is_kept()}))
        cleaned = silver.build_events_cleaned(observed.filter(silver.is_kept()))
        silver_version = storage.table_version(spark, lake, "events_cleaned")
        batch_dates = None
        if silver_version is not None:  # read three times: its dates, rows already in silver, the MERGE
            record.versions_read["events_cleaned"] = silver_version
            cleaned = cleaned.persist(StorageLevel.MEMORY_AND_DISK)
            batch_dates = dates_condition(cleaned)
        already_in_silver = 0
        if silver_version is not None:
            keys = silver_keys(spark, lake, silver_version, batch_dates)
            already_in_silver = cleaned.join(keys, on=silver.same_event(cleaned, keys), how="left_semi").count()
        merged = storage.insert_new(cleaned, lake, "events_cleaned", silver.DEDUP_KEY, batch_dates)
        if merged.committed:  # a batch of duplicates only: Delta made no commit
            record.versions_written["events_cleaned"] = merged.version
        counts = details["counts"] = quality.as_counts(observation.get)
        quarantined = 0
        if counts["evaluated"] - counts["kept"] > 0:
            quarantine = silver.build_events_quarantine(flagged.filter(~silver.is_kept()), record.run_id, bronze_columns)
            written = storage.append(quarantine, lake, "events_quarantine")
            record.versions_written["events_quarantine"] = written.version
            quarantined = written.metrics.get("numOutputRows", 0)

        inserted = merged.metrics.get("numTargetRowsInserted", 0)
        duplicates_in_batch = counts["kept"] - merged.metrics.get("numSourceRows", 0)
        check_conservation(counts["evaluated"], inserted, quarantined, duplicates_in_batch, already_in_silver)
        record.rows_in, record.rows_out, record.rows_quarantined = counts["evaluated"], inserted, quarantined
        record.rows_duplicate = duplicates_in_batch + already_in_silver
        metrics = quality.dq_metric_rows(counts, params.rule_actions, record.rows_duplicate, counts["kept"])
        record.versions_written["dq_metrics"] = dq_metrics.append(spark, lake, record.run_id, "silver", metrics)
        details["duplicates_in_batch"], details["duplicates_in_silver"] = duplicates_in_batch, already_in_silver
        cleaned.unpersist()
    return LayerSummary(record.run_id, record, details)


def bronze_batch(spark: SparkSession, lake: Any, record: ledger.RunRecord) -> DataFrame | None:
    """Bronze rows silver has not processed: appended since the last succeeded silver run; None if none were."""
    current = storage.table_version(spark, lake, "events_raw")
    if current is None:
        return None
    record.versions_read["events_raw"] = current
    processed = processed_bronze_version(spark, lake)
    if processed is None:
        return storage.read_table(spark, lake, "events_raw", version=current)
    if processed >= current or storage.data_changing_versions(spark, lake, "events_raw", processed, current) == []:
        return None  # nothing appended since, or only maintenance's commits, which change no rows
    return storage.read_appended_since(spark, lake, "events_raw", processed, current)


def processed_bronze_version(spark: SparkSession, lake: Any) -> int | None:
    """The `events_raw` version the last succeeded silver run (or replay) had processed; None before any."""
    previous = ledger.last_succeeded(spark, lake, "silver")
    return (previous["versions_read"] or {}).get("events_raw") if previous else None


def stop_on_failing_rules(flagged: DataFrame, counts: dict[str, int], actions: dict[str, str]) -> None:
    """Raise RuleFailure, naming the rule, its count and the first rows' file:line, if a `fail` rule fails."""
    failing = [name for name in quality.rules_with_action(actions, "fail") if counts[name] > 0]
    if not failing:
        return
    name = failing[0]
    samples = flagged.filter(F.col(quality.failed_flag(name))).select("source_file", "source_line").limit(5).collect()
    where = ", ".join(f"{row['source_file']}:{row['source_line']}" for row in samples)
    raise RuleFailure(
        f"rule {name} (action fail) failed on {counts[name]} of {counts['evaluated']} rows, e.g. at {where}; "
        f"nothing was written. Fix the source rows, or set rule_actions.{name} to drop (quarantine) or warn."
    )


def dates_condition(rows: DataFrame) -> str:
    """SQL condition on silver (alias `t`) met by every row that can share a dedup key with `rows`.

    The dedup key holds event_time, so a match has the row's event_date: Delta then reads only
    those date partitions of silver instead of all of them. `rows` has an `event_date` column.
    """
    dates = [row["event_date"] for row in rows.select("event_date").distinct().collect()]
    known = ", ".join(f"DATE'{date.isoformat()}'" for date in sorted(date for date in dates if date is not None))
    conditions = ([f"t.event_date IN ({known})"] if known else []) + (["t.event_date IS NULL"] if None in dates else [])
    return " OR ".join(conditions) or "FALSE"


def silver_keys(spark: SparkSession, lake: Any, version: int, condition: str) -> DataFrame:
    """The dedup keys of `events_cleaned` at `version` in the partitions `condition` (see dates_condition) names."""
    existing = storage.read_table(spark, lake, "events_cleaned", version=version).alias("t").filter(F.expr(condition))
    return existing.select(*silver.DEDUP_KEY)


def check_conservation(
    rows_in: int, inserted: int, quarantined: int, in_batch: int, in_silver: int, read: str = "bronze rows read"
) -> None:
    """Rows read = silver rows inserted + quarantined + duplicates (in the batch, already in silver).

    `read` names the rows read: bronze's new rows for a silver run, the quarantine's for a replay.
    """
    if rows_in != inserted + quarantined + in_batch + in_silver:
        raise ConservationError(
            f"row conservation violated: {read} {rows_in} != silver rows inserted {inserted} "
            f"+ quarantined {quarantined} + duplicates in batch {in_batch} + duplicates already in silver "
            f"{in_silver} (= {inserted + quarantined + in_batch + in_silver}); the run's writes are undone, "
            "and stay readable in the tables' Delta history (time travel) for a look at what went wrong"
        )

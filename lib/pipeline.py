"""The three layers' runs: read, transform (bronze/silver/gold modules), write, record.

Each `run_*` function is what a notebook calls; it returns a summary the notebook shows and
writes one row to the run ledger, succeeded or failed.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from functools import reduce
from typing import Any

from pyspark import StorageLevel
from pyspark.sql import DataFrame, Observation, SparkSession
from pyspark.sql import functions as F

from lib import bronze, gold_update, ingest, ledger, quality, silver, storage
from lib import landing as landing_files
from lib.config import PipelineParams, check_paths
from lib.generator import generate_landing
from lib.gold_update import GOLD_TABLES
from lib.schemas import DQ_METRICS



class RuleFailure(RuntimeError):
    """A rule whose action is `fail` found failing rows; nothing was written."""


class ConservationError(RuntimeError):
    """Silver's row counts do not add up: rows would have been lost or invented."""


@dataclasses.dataclass
class LayerSummary:
    """What a layer's run did, for the notebook to show."""

    run_id: str
    record: ledger.RunRecord
    details: dict[str, Any]


def _record(params: PipelineParams, layer: str, notebook: str) -> ledger.RunRecord:
    run_id = params.run_id or ledger.new_run_id()
    return ledger.RunRecord(run_id=run_id, layer=layer, notebook=notebook, parameters=params.as_dict())


def run_bronze(spark: SparkSession, params: PipelineParams, notebook: str = "01_bronze.ipynb") -> LayerSummary:
    """Ingest every landing file not ingested yet into `events_raw`, exactly once per file.

    Binary files are refused and left in place; empty and header-only files have nothing to
    ingest. `details["files"]` says what happened to each file; bronze's monitors go to dq_metrics.
    """
    check_paths(params)
    lake, landing = params.path("lake_dir"), params.path("landing_dir")
    record = _record(params, "bronze", notebook)
    details: dict[str, Any] = {"generated": None, "files_new": [], "files_already_ingested": 0}
    with ledger.recorded_run(spark, lake, record):
        if params.generate_input:
            details["generated"] = generate_landing(
                landing,
                days=params.generator_days,
                start_date=dt.date.fromisoformat(params.generator_start_date),
                events_per_day=params.generator_events_per_day,
                seed=params.generator_seed,
                fault_rate=params.generator_fault_rate,
            )
        landing_uri = storage.qualified_uri(spark, landing)
        listed = {ingest.relative(uri, landing_uri): uri for uri in storage.list_landing_files(spark, landing)}
        selected = landing_files.matching(listed, params.landing_glob)
        ingested = ingest.ingested_files(spark, lake, selected)
        new_files = [name for name in selected if name not in ingested]
        refused = ingest.binary_files(spark, {name: listed[name] for name in new_files})
        readable = [listed[name] for name in new_files if name not in refused]
        record.rows_in = record.rows_out = 0
        headers: dict[str, list[str]] = {}
        stats: dict[str, landing_files.FileStats] = {}
        if readable:
            headers, stats, record.rows_out, version = ingest.append_files(
                spark, params, readable, landing_uri, record.run_id
            )
            record.rows_in = record.rows_out
            record.versions_written = {"events_raw": version}
            details["extra_columns"] = bronze.extra_columns(
                bronze.layout_of(header, params.column_aliases) for header in headers.values()
            )
        outcomes = landing_files.file_outcomes(new_files, refused, headers, stats, params.column_aliases)
        already = [name for name in selected if name in ingested]
        details["files_new"] = [o.file for o in outcomes if o.status == landing_files.INGESTED]
        details["files_already_ingested"] = len(already)
        details["files_not_matching_glob"] = len(listed) - len(selected)
        details["files"] = landing_files.outcome_table(outcomes, already)
        metrics = quality.bronze_dq_metric_rows(landing_files.monitor_counts(outcomes))
        record.versions_written["dq_metrics"] = append_dq_metrics(spark, lake, record.run_id, "bronze", metrics)
    return LayerSummary(record.run_id, record, details)


def _bronze_batch(spark: SparkSession, lake: Any, record: ledger.RunRecord) -> DataFrame | None:
    """Bronze rows silver has not processed: appended since the last succeeded silver run."""
    current = storage.table_version(spark, lake, "events_raw")
    if current is None:
        return None
    record.versions_read["events_raw"] = current
    previous = ledger.last_succeeded(spark, lake, "silver")
    processed = (previous["versions_read"] or {}).get("events_raw") if previous else None
    if processed is None:
        return storage.read_table(spark, lake, "events_raw", version=current)
    if processed >= current:
        return None
    return storage.read_appended_since(spark, lake, "events_raw", processed, current)


def run_silver(spark: SparkSession, params: PipelineParams, notebook: str = "02_silver.ipynb") -> LayerSummary:
    """Clean the new bronze rows into `events_cleaned`, quarantine failures, record quality."""
    lake = params.path("lake_dir")
    record = _record(params, "silver", notebook)
    details: dict[str, Any] = {}
    with ledger.recorded_run(spark, lake, record):
        batch = _bronze_batch(spark, lake, record)
        if batch is None:
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
            _stop_on_failing_rules(flagged, quality.rule_failure_counts(flagged), params.rule_actions)
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
            batch_dates = _batch_dates(cleaned)
        already_in_silver = _count_already_in_silver(spark, lake, cleaned, silver_version, batch_dates)
        merged = storage.insert_new(cleaned, lake, "events_cleaned", silver.DEDUP_KEY, batch_dates)
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
        record.versions_written["dq_metrics"] = append_dq_metrics(spark, lake, record.run_id, "silver", metrics)
        details["duplicates_in_batch"], details["duplicates_in_silver"] = duplicates_in_batch, already_in_silver
        cleaned.unpersist()
    return LayerSummary(record.run_id, record, details)


def _stop_on_failing_rules(flagged: DataFrame, counts: dict[str, int], actions: dict[str, str]) -> None:
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


def _batch_dates(cleaned: DataFrame) -> str:
    """SQL condition on silver (alias `t`) met by every row that can share a dedup key with the batch's rows.

    The dedup key holds event_time, so a match has the batch row's event_date: Delta then reads
    only those date partitions of silver instead of all of them.
    """
    dates = [row["event_date"] for row in cleaned.select("event_date").distinct().collect()]
    known = ", ".join(f"DATE'{date.isoformat()}'" for date in sorted(date for date in dates if date is not None))
    conditions = ([f"t.event_date IN ({known})"] if known else []) + (["t.event_date IS NULL"] if None in dates else [])
    return " OR ".join(conditions) or "FALSE"


def _count_already_in_silver(
    spark: SparkSession, lake: Any, cleaned: DataFrame, version: int | None, batch_dates: str | None
) -> int:
    """Rows of the batch whose dedup key is already in silver (null-safe)."""
    if version is None:
        return 0
    existing = storage.read_table(spark, lake, "events_cleaned", version=version).alias("t").filter(F.expr(batch_dates))
    existing = existing.select(*silver.DEDUP_KEY)
    matches = reduce(lambda a, b: a & b, [cleaned[key].eqNullSafe(existing[key]) for key in silver.DEDUP_KEY])
    return cleaned.join(existing, on=matches, how="left_semi").count()


def check_conservation(rows_in: int, inserted: int, quarantined: int, in_batch: int, in_silver: int) -> None:
    """Bronze rows read = silver rows inserted + quarantined + duplicates (batch and silver)."""
    if rows_in != inserted + quarantined + in_batch + in_silver:
        raise ConservationError(
            f"row conservation violated: bronze rows read {rows_in} != silver rows inserted {inserted} "
            f"+ quarantined {quarantined} + duplicates in batch {in_batch} + duplicates already in silver "
            f"{in_silver} (= {inserted + quarantined + in_batch + in_silver}); the run's writes are undone, "
            "and stay readable in the tables' Delta history (time travel) for a look at what went wrong"
        )


def append_dq_metrics(
    spark: SparkSession, lake: Any, run_id: str, layer: str, metrics: list[dict[str, Any]]
) -> int:
    """Append a run's measurements (one per rule, monitor or metric) to dq_metrics; the new version."""
    measured_at = ledger.utc_now()
    rows = [
        (run_id, layer, m["rule"], m["action"], m["evaluated"], m["failed"], m["failed_pct"], m["value"], measured_at)
        for m in metrics
    ]
    return storage.append(spark.createDataFrame(rows, DQ_METRICS), lake, "dq_metrics").version


def run_gold(spark: SparkSession, params: PipelineParams, notebook: str = "03_gold.ipynb") -> LayerSummary:
    """Update the four gold tables with what silver gained since the last gold run (or rebuild them)."""
    lake = params.path("lake_dir")
    record = _record(params, "gold", notebook)
    details: dict[str, Any] = {}
    with ledger.recorded_run(spark, lake, record):
        version = storage.table_version(spark, lake, "events_cleaned")
        if version is None:
            raise RuntimeError(f"events_cleaned does not exist in {lake}: run 01_bronze and 02_silver first")
        record.versions_read["events_cleaned"] = version
        gold_plan = gold_update.plan(spark, lake, params, version)
        details["mode"], details["reason"] = gold_plan.mode, gold_plan.reason
        if gold_plan.mode == "unchanged":
            record.versions_read |= gold_plan.gold_versions
            record.rows_in = record.rows_out = 0
            details["as_of_date"] = gold_update.as_of_date(spark, lake, params, gold_plan)
            details["touched"] = {"events": 0, "dates": []}
            return LayerSummary(record.run_id, record, details)
        tables, built, cached = gold_update.build_tables(spark, lake, params, version, gold_plan)
        details |= built
        for name, table in tables.items():
            written = storage.overwrite(table, lake, name)
            record.versions_written[name] = written.version
            details[name] = written.metrics.get("numOutputRows", 0)
        record.rows_in = tables["daily_sales_summary"].agg(F.sum("total_events")).first()[0] or 0
        record.rows_out = sum(details[name] for name in GOLD_TABLES)
        for frame in cached:
            frame.unpersist()
    return LayerSummary(record.run_id, record, details)

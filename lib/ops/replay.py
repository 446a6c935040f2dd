"""Quarantine replay: re-evaluate quarantined rows with the current rules and release those that pass.

`python -m lib.ops.replay --params params/default.yaml [--set max_price=1000000 ...]` runs the
quarantine's original bronze values through silver's standardize and validate with the current
`max_price` and `rule_actions`. A row that now passes every drop rule leaves the quarantine and
its event is inserted into `events_cleaned` (unless silver already has it: a duplicate); the
others stay, with their reasons as they are now. Each evaluation is appended to
`quarantine_history`, whose first row for a quarantined row is its original quarantine. Gold is
updated afterwards (`--no-gold` skips it). Exit code 2 for a bad parameter, 1 for a failed run.

The replay is a silver run in the ledger (notebook `replay`): it holds the lake's lock, its
commits are undone by the next run if it does not finish, and it carries silver's bronze
position forward, so the next silver run reads only the bronze rows it has not processed.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from typing import Any

from pyspark import StorageLevel
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from lib import layers
from lib.contracts import paths, tables
from lib.contracts.params import ParameterError, PipelineParams, load_params, parse_overrides
from lib.contracts.paths import REPO_ROOT
from lib.contracts.schemas import QUARANTINE_COLUMNS, QUARANTINE_HISTORY, conform
from lib.lake import dq_metrics, ledger, storage, transaction
from lib.lake.session import build_spark
from lib.layers import silver as silver_layer
from lib.layers.summary import start_record
from lib.transforms import quality, silver

NOTEBOOK = "replay"
QUARANTINE = tables.EVENTS_QUARANTINE.name
HISTORY = tables.QUARANTINE_HISTORY.name
ROW_KEY: tuple[str, ...] = tables.EVENTS_QUARANTINE.key
QUARANTINED, RELEASED, DUPLICATE = "quarantined", "released", "duplicate"


def reevaluate(quarantined: DataFrame, max_price: float, actions: dict[str, str]) -> DataFrame:
    """Quarantine rows through silver's standardize and validate; their reasons so far in `_previous_reasons`."""
    bronze = quarantined.withColumnRenamed("quarantine_reasons", "_previous_reasons").drop(
        *[name for name in QUARANTINE_COLUMNS.names if name != "quarantine_reasons"]
    )
    return bronze.transform(silver.standardize).transform(silver.validate, max_price, actions)


def with_outcomes(flagged: DataFrame, silver_keys: DataFrame | None) -> DataFrame:
    """Add `outcome`: quarantined (fails a drop rule), released (first passing row of an event silver
    lacks) or duplicate (a later passing row of the same event, or an event already in silver),
    and `_duplicate_in_batch` for the conservation check."""
    ranked = flagged.withColumn("_occurrence", silver.occurrence(silver.is_kept()))
    already_in_silver = F.lit(False)
    if silver_keys is not None:
        keys = silver_keys.withColumn("_in_silver", F.lit(True))
        on = silver.is_kept() & silver.same_event(ranked, keys)
        ranked = ranked.join(keys, on=on, how="left").select(ranked["*"], keys["_in_silver"])
        already_in_silver = F.col("_in_silver").isNotNull()
    duplicate_in_batch = silver.is_kept() & (F.col("_occurrence") > 1)
    outcome = (
        F.when(~silver.is_kept(), F.lit(QUARANTINED))
        .when(duplicate_in_batch | already_in_silver, F.lit(DUPLICATE))
        .otherwise(F.lit(RELEASED))
    )
    extra = [name for name in ("_in_silver", "_occurrence") if name in ranked.columns]
    return ranked.withColumns({"outcome": outcome, "_duplicate_in_batch": duplicate_in_batch}).drop(*extra)


def history_rows(outcomes: DataFrame, run_id: str) -> DataFrame:
    """This evaluation's `quarantine_history` rows, one per re-evaluated row."""
    evaluated = outcomes.withColumns(
        {
            "run_id": F.lit(run_id),
            "evaluated_at": F.current_timestamp(),
            "quarantine_reason": F.array_join("quarantine_reasons", ", "),
        }
    )
    return conform(evaluated, QUARANTINE_HISTORY)


def first_quarantine_rows(quarantined: DataFrame, history: DataFrame | None) -> DataFrame:
    """History rows for the quarantine's rows that have none yet: their quarantine by silver."""
    if history is not None:
        quarantined = quarantined.join(history.select(*ROW_KEY).distinct(), on=list(ROW_KEY), how="left_anti")
    first = quarantined.withColumns({"evaluated_at": F.col("quarantined_at"), "outcome": F.lit(QUARANTINED)})
    return conform(first, QUARANTINE_HISTORY)


def outcome_counts(outcomes: DataFrame) -> dict[str, int]:
    """Rows per outcome, duplicates split by where the event already was, reasons that changed."""
    is_duplicate = F.col("outcome") == DUPLICATE
    row = outcomes.agg(
        F.count_if(F.col("outcome") == RELEASED).alias(RELEASED),
        F.count_if(F.col("outcome") == QUARANTINED).alias(QUARANTINED),
        F.count_if(is_duplicate & F.col("_duplicate_in_batch")).alias("duplicates_in_batch"),
        F.count_if(is_duplicate & ~F.col("_duplicate_in_batch")).alias("duplicates_in_silver"),
        F.count_if(
            (F.col("outcome") == QUARANTINED) & ~F.col("quarantine_reasons").eqNullSafe(F.col("_previous_reasons"))
        ).alias("reasons_changed"),
    ).first()
    return {key: int(value or 0) for key, value in row.asDict().items()}


def run_replay(spark: SparkSession, params: PipelineParams) -> layers.LayerSummary:
    """Re-evaluate `events_quarantine` with the current rules: release what passes, update the rest."""
    lake = params.path("lake_dir")
    record = start_record(params, "silver", NOTEBOOK)
    run_id = record.run_id
    details: dict[str, Any] = {"reasons_changed": 0, "still_quarantined": {}}
    with transaction.layer_run(spark, lake, record):
        record.rows_in = record.rows_out = record.rows_quarantined = record.rows_duplicate = 0
        _carry_bronze_position(spark, lake, record)
        version = storage.table_version(spark, lake, QUARANTINE)
        if version is None:
            return layers.LayerSummary(run_id, record, details)
        record.versions_read[QUARANTINE] = version
        quarantined = storage.read_table(spark, lake, QUARANTINE, version=version)
        flagged = reevaluate(quarantined, params.max_price, params.rule_actions).persist(StorageLevel.MEMORY_AND_DISK)
        counts = quality.rule_failure_counts(flagged, extra={"kept": silver.is_kept()})
        if counts["evaluated"] > 0:
            silver_layer.stop_on_failing_rules(flagged, counts, params.rule_actions)
            outcomes = with_outcomes(flagged, _silver_keys(spark, lake, record, flagged))
            outcomes = outcomes.persist(StorageLevel.MEMORY_AND_DISK)
            tally = outcome_counts(outcomes)
            inserted, remaining = _write(spark, lake, record, quarantined, outcomes, tally)
            duplicates = tally["duplicates_in_batch"] + tally["duplicates_in_silver"]
            silver_layer.check_conservation(counts["evaluated"], inserted, remaining, tally["duplicates_in_batch"],
                                            tally["duplicates_in_silver"], read="quarantined rows re-evaluated")
            record.rows_in, record.rows_out, record.rows_quarantined = counts["evaluated"], inserted, remaining
            record.rows_duplicate = duplicates
            metrics = quality.dq_metric_rows(counts, params.rule_actions, duplicates, counts["kept"])
            record.versions_written["dq_metrics"] = dq_metrics.append(spark, lake, run_id, "replay", metrics)
            details = {"reasons_changed": tally["reasons_changed"], "still_quarantined": _reasons(outcomes)}
            outcomes.unpersist()
        flagged.unpersist()
    return layers.LayerSummary(run_id, record, details)


def _silver_keys(spark: SparkSession, lake: Any, record: ledger.RunRecord, flagged: DataFrame) -> DataFrame | None:
    """The dedup keys of `events_cleaned` (recorded as read) on the dates of the passing rows; None without silver."""
    version = storage.table_version(spark, lake, "events_cleaned")
    if version is None:
        return None
    record.versions_read["events_cleaned"] = version
    passing = flagged.filter(silver.is_kept()).select(F.to_date("event_time").alias("event_date"))
    return silver_layer.silver_keys(spark, lake, version, silver_layer.dates_condition(passing))


def _write(
    spark: SparkSession,
    lake: Any,
    record: ledger.RunRecord,
    quarantined: DataFrame,
    outcomes: DataFrame,
    tally: dict[str, int],
) -> tuple[int, int]:
    """Append the evaluations to the history, insert released events, update the quarantine.

    Returns the rows inserted into silver and the rows the quarantine holds afterwards, each
    measured on the table written, for the conservation check.
    """
    history = storage.read_table(spark, lake, HISTORY) if storage.table_exists(spark, lake, HISTORY) else None
    evaluations = first_quarantine_rows(quarantined, history).unionByName(history_rows(outcomes, record.run_id))
    record.versions_written[HISTORY] = storage.append(evaluations, lake, HISTORY).version
    inserted = 0
    if tally[RELEASED]:
        cleaned = silver.build_events_cleaned(outcomes.filter(F.col("outcome") == RELEASED))
        merged = storage.insert_new(cleaned, lake, "events_cleaned", silver.DEDUP_KEY)
        if merged.committed:  # a batch of duplicates only: Delta made no commit
            record.versions_written["events_cleaned"] = merged.version
        inserted = merged.metrics.get("numTargetRowsInserted", 0)
    leaving = tally[RELEASED] + tally["duplicates_in_batch"] + tally["duplicates_in_silver"]
    if leaving or tally["reasons_changed"]:
        record.versions_written[QUARANTINE] = _write_quarantine(outcomes, lake)
    return inserted, storage.read_table(spark, lake, QUARANTINE).count()


def _carry_bronze_position(spark: SparkSession, lake: Any, record: ledger.RunRecord) -> None:
    """Record the bronze version silver has processed: the next silver run takes it from the latest silver run."""
    processed = silver_layer.processed_bronze_version(spark, lake)
    if processed is not None:
        record.versions_read["events_raw"] = processed


def _write_quarantine(outcomes: DataFrame, lake: Any) -> int:
    """Delete released and duplicate rows, set the new reasons on the rest: one MERGE, one commit."""
    evaluated = outcomes.select(
        *ROW_KEY, "outcome", "quarantine_reasons", F.array_join("quarantine_reasons", ", ").alias("quarantine_reason")
    )
    written = storage.delete_or_update_matched(
        evaluated,
        lake,
        QUARANTINE,
        ROW_KEY,
        delete_when=f"s.outcome <> '{QUARANTINED}'",
        update_when="NOT (t.quarantine_reasons <=> s.quarantine_reasons)",
        updates={"quarantine_reasons": "s.quarantine_reasons", "quarantine_reason": "s.quarantine_reason"},
    )
    return written.version


def _reasons(outcomes: DataFrame) -> dict[str, int]:
    still = outcomes.filter(F.col("outcome") == QUARANTINED).groupBy("quarantine_reasons").count().collect()
    return dict(sorted((", ".join(row["quarantine_reasons"]), row["count"]) for row in still))


def summary_lines(summary: layers.LayerSummary) -> list[str]:
    """What the command prints: rows re-evaluated, released, still quarantined by reason, duplicates."""
    record, details = summary.record, summary.details
    lines = [
        f"replay {summary.run_id}: {record.rows_in} quarantined rows re-evaluated",
        f"  released to silver: {record.rows_out}",
        f"  still quarantined: {record.rows_quarantined} ({details.get('reasons_changed', 0)} with changed reasons)",
        *[f"    {reason}: {count}" for reason, count in details["still_quarantined"].items()],
        f"  duplicates (event already in silver, or passing twice): {record.rows_duplicate}",
    ]
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lib.ops.replay", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--params", default=str(REPO_ROOT / "params" / "default.yaml"),
                        help=f"parameter file ({paths.PARAMS_RULE})")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override one parameter, e.g. --set max_price=1000000 (repeatable)")
    parser.add_argument("--no-gold", action="store_true", help="do not update gold after the replay")
    args = parser.parse_args(argv)
    try:
        params = load_params(args.params, parse_overrides(args.overrides))
    except ParameterError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    params = dataclasses.replace(params, run_id=params.run_id or ledger.new_run_id())
    spark = build_spark(params.spark_master, shuffle_partitions=params.shuffle_partitions,
                        driver_memory=params.driver_memory)
    try:
        summary = run_replay(spark, params)
        print("\n".join(summary_lines(summary)), flush=True)
        if not args.no_gold and storage.table_exists(spark, params.path("lake_dir"), "events_cleaned"):
            gold = layers.run_gold(spark, params)
            print(f"gold updated ({gold.details.get('mode', 'full')}): run {gold.run_id}", flush=True)
    except (layers.RuleFailure, layers.ConservationError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Bronze's run: every landing file not ingested yet, appended to `events_raw` exactly once.

Its steps, in order: write the generated input when asked; list the landing folder and select by
`landing_glob`; leave out the files bronze already holds (its rows are the exactly-once manifest);
refuse binary files; read the rest as lines, find each file's header and layout, parse, append;
count each file's rows from the new version; record per-file outcomes and bronze's monitors. A run
that finds no new file says so in one line and writes only its row in `pipeline_runs`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection
from typing import Any

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from lib.contracts.params import PipelineParams, check_paths
from lib.lake import dq_metrics, landing, ledger, storage, transaction
from lib.layers.summary import LayerSummary, start_record
from lib.synthetic.generator import generate_landing
from lib.transforms import bronze, landing_files, quality


def run_bronze(spark: SparkSession, params: PipelineParams, notebook: str = "01_bronze.ipynb") -> LayerSummary:
    """Ingest every landing file not ingested yet into `events_raw`, exactly once per file.

    Binary files are refused and left in place; empty and header-only files have nothing to
    ingest. `details["files"]` says what happened to each file; bronze's monitors go to dq_metrics.
    """
    check_paths(params)
    lake, landing_dir = params.path("lake_dir"), params.path("landing_dir")
    record = start_record(params, "bronze", notebook)
    details: dict[str, Any] = {"generated": None, "files_new": [], "files_already_ingested": 0}
    with transaction.layer_run(spark, lake, record):
        if params.generate_input:
            details["generated"] = generate_input(params)
        listed = landing.list_files(spark, landing_dir)
        selected = landing_files.matching(listed, params.landing_glob)
        ingested = ingested_files(spark, lake, selected)
        new_files = [name for name in selected if name not in ingested]
        refused = binary_files(spark, {name: listed[name] for name in new_files})
        readable = [listed[name] for name in new_files if name not in refused]
        record.rows_in = record.rows_out = 0
        headers: dict[str, list[str]] = {}
        stats: dict[str, landing_files.FileStats] = {}
        if readable:
            headers, stats = append_files(spark, params, readable, record)
            details["extra_columns"] = bronze.extra_columns(
                bronze.layout_of(header, params.column_aliases) for header in headers.values()
            )
        outcomes = landing_files.file_outcomes(new_files, refused, headers, stats, params.column_aliases)
        already = [name for name in selected if name in ingested]
        details["files_new"] = [o.file for o in outcomes if o.status == landing_files.INGESTED]
        details["files_already_ingested"] = len(already)
        details["files_not_matching_glob"] = len(listed) - len(selected)
        details["files"] = landing_files.outcome_table(outcomes, already)
        if not new_files:
            print(f"bronze: nothing new: {len(already)} landing file(s) selected, all ingested before; "
                  "only this run's pipeline_runs row is written", flush=True)
            return LayerSummary(record.run_id, record, details)
        metrics = quality.bronze_dq_metric_rows(landing_files.monitor_counts(outcomes))
        record.versions_written["dq_metrics"] = dq_metrics.append(spark, lake, record.run_id, "bronze", metrics)
    return LayerSummary(record.run_id, record, details)


def generate_input(params: PipelineParams) -> Any:
    """Write the generated default input into the landing folder (files already there are kept)."""
    return generate_landing(
        params.path("landing_dir"),
        days=params.generator_days,
        start_date=dt.date.fromisoformat(params.generator_start_date),
        events_per_day=params.generator_events_per_day,
        seed=params.generator_seed,
        fault_rate=params.generator_fault_rate,
    )


def ingested_files(spark: SparkSession, lake: Any, among: Collection[str] | None = None) -> set[str]:
    """Source files already in bronze (of `among`, when given): bronze's rows are the exactly-once manifest.

    With `among`, a local lake's `source_file` column is read by delta-rs, skipping the row groups
    whose statistics rule the names out, and no Spark job runs; on object storage Delta reads only
    the data files whose `source_file` statistics can hold one of those names.
    """
    if not storage.table_exists(spark, lake, "events_raw") or (among is not None and not among):
        return set()
    if among is not None:
        found = storage.values_among(lake, "events_raw", "source_file", among)
        if found is not None:
            return found
    raw = storage.read_table(spark, lake, "events_raw")
    if among is not None:
        raw = raw.filter(F.col("source_file").isin(sorted(among)))
    return {row["source_file"] for row in raw.select("source_file").distinct().collect()}


def binary_files(spark: SparkSession, files: dict[str, str]) -> dict[str, str]:
    """The files (name -> path) whose first bytes are binary, with what gave them away."""
    kinds = {name: landing_files.binary_kind(landing.file_head(spark, path, landing_files.HEAD_BYTES))
             for name, path in files.items()}
    return {name: kind for name, kind in kinds.items() if kind is not None}


def append_files(
    spark: SparkSession, params: PipelineParams, paths: list[str], record: ledger.RunRecord
) -> tuple[dict[str, list[str]], dict[str, landing_files.FileStats]]:
    """Append the files' lines to `events_raw`; their headers and per-file counts. Fills in the record.

    Two passes over the files: one collects each block's line count and first line (the file's
    header), one parses and writes. The per-file counts are read back from the new version.
    """
    lines = landing.read_lines(spark, paths)
    counted = bronze.line_blocks(lines)
    blocks = spark.createDataFrame(counted.collect(), counted.schema)
    landing_uri = landing.folder_uri(spark, params.path("landing_dir"))
    layouts, headers = file_layouts(spark, blocks, landing_uri, params.column_aliases)
    extras = bronze.extra_columns(bronze.layout_of(header, params.column_aliases) for header in headers.values())
    events_raw = bronze.build_events_raw(
        lines.transform(bronze.with_source_line, blocks),
        layouts,
        extras,
        record.run_id,
        ledger.utc_now().isoformat(sep=" "),
        params.column_aliases,
    )
    lake = params.path("lake_dir")
    written = storage.append(events_raw, lake, "events_raw")
    record.rows_in = record.rows_out = written.metrics.get("numOutputRows", 0)
    record.versions_written["events_raw"] = written.version
    appended = storage.read_appended_since(spark, lake, "events_raw", written.version - 1, written.version)
    return headers, file_stats(appended)


def file_layouts(
    spark: SparkSession, blocks: DataFrame, landing_uri: str, aliases: dict[str, str]
) -> tuple[DataFrame, dict[str, list[str]]]:
    """One row per file: its name in the lake and, for a headed file, its column layout; headers by name."""
    first_lines = blocks.filter(F.col("_block_start") == 0).select(
        "_file_path",
        F.lit(1).cast("long").alias("source_line"),
        F.col("_block_first_line").alias("value"),
    )
    rows = first_lines.transform(bronze.with_fields).withColumn(
        "_is_header", bronze.is_header(F.col("fields"), F.col("source_line"), aliases)
    ).collect()
    layouts, headers = [], {}
    for row in rows:
        name = landing_files.source_file(row["_file_path"], landing_uri)
        layout, field_count = None, None
        if row["_is_header"]:
            layout, field_count = bronze.layout_of(row["fields"], aliases), len(row["fields"])
            headers[name] = row["fields"]
        layouts.append((row["_file_path"], layout, field_count, name))
    return spark.createDataFrame(layouts, bronze.LAYOUT_SCHEMA), headers


def file_stats(events_raw: DataFrame) -> dict[str, landing_files.FileStats]:
    """Per source file: rows, rescued rows, lines not UTF-8 (and the first), unbalanced quotes."""
    rows = events_raw.transform(bronze.file_counts).collect()
    return {row["source_file"]: landing_files.FileStats(**{k: v for k, v in row.asDict().items()
                                                           if k != "source_file"}) for row in rows}

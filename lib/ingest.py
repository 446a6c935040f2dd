"""Bronze's ingestion of landing files: which are new or binary, their layouts, the append, per-file counts."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from lib import bronze, ledger, storage
from lib import landing as landing_files
from lib.config import PipelineParams


def relative(uri: str, landing_uri: str) -> str:
    return uri[len(landing_uri.rstrip("/")) + 1 :]


def ingested_files(spark: SparkSession, lake: Any, among: Collection[str] | None = None) -> set[str]:
    """Source files already in bronze (of `among`, when given): bronze's rows are the exactly-once manifest.

    With `among`, Delta reads only the data files whose `source_file` statistics can hold one of
    those names, so the check costs what the candidates' rows cost, not what the whole table does.
    """
    if not storage.table_exists(spark, lake, "events_raw") or (among is not None and not among):
        return set()
    raw = storage.read_table(spark, lake, "events_raw")
    if among is not None:
        raw = raw.filter(F.col("source_file").isin(sorted(among)))
    return {row["source_file"] for row in raw.select("source_file").distinct().collect()}


def binary_files(spark: SparkSession, files: dict[str, str]) -> dict[str, str]:
    """The files (name -> uri) whose first bytes are binary, with what gave them away."""
    kinds = {name: landing_files.binary_kind(storage.file_head(spark, uri, landing_files.HEAD_BYTES))
             for name, uri in files.items()}
    return {name: kind for name, kind in kinds.items() if kind is not None}


def append_files(
    spark: SparkSession, params: PipelineParams, uris: list[str], landing_uri: str, run_id: str
) -> tuple[dict[str, list[str]], dict[str, landing_files.FileStats], int, int]:
    """Append the files' lines to `events_raw`: their headers and counts, rows written, the version.

    Two passes over the files: one collects each block's line count and first line (the file's
    header), one parses and writes. The per-file counts are read back from the new version.
    """
    lines = storage.read_landing_lines(spark, uris)
    counted = bronze.line_blocks(lines)
    blocks = spark.createDataFrame(counted.collect(), counted.schema)
    layouts, headers = file_layouts(spark, blocks, landing_uri, params.column_aliases)
    extras = bronze.extra_columns(bronze.layout_of(header, params.column_aliases) for header in headers.values())
    events_raw = bronze.build_events_raw(
        lines.transform(bronze.with_source_line, blocks),
        layouts,
        extras,
        landing_uri,
        run_id,
        ledger.utc_now().isoformat(sep=" "),
        params.column_aliases,
    )
    lake = params.path("lake_dir")
    written = storage.append(events_raw, lake, "events_raw")
    appended = storage.read_appended_since(spark, lake, "events_raw", written.version - 1, written.version)
    return headers, file_stats(appended), written.metrics.get("numOutputRows", 0), written.version


def file_layouts(
    spark: SparkSession, blocks: DataFrame, landing_uri: str, aliases: dict[str, str]
) -> tuple[DataFrame, dict[str, list[str]]]:
    """Every file's path under the landing folder and, for a headed file, its column layout; headers by file."""
    first_lines = blocks.filter(F.col("_block_start") == 0).select(
        "_file_path",
        bronze.relative_source_file(F.col("_file_path"), landing_uri).alias("source_file"),
        F.lit(1).cast("long").alias("source_line"),
        F.col("_block_first_line").alias("value"),
    )
    rows = first_lines.transform(bronze.with_fields).withColumn(
        "_is_header", bronze.is_header(F.col("fields"), F.col("source_line"), aliases)
    ).collect()
    layouts, headers = [], {}
    for row in rows:
        layout, field_count = None, None
        if row["_is_header"]:
            layout, field_count = bronze.layout_of(row["fields"], aliases), len(row["fields"])
            headers[row["source_file"]] = row["fields"]
        layouts.append((row["_file_path"], layout, field_count, row["source_file"]))
    return spark.createDataFrame(layouts, bronze.LAYOUT_SCHEMA), headers


def file_stats(events_raw: DataFrame) -> dict[str, landing_files.FileStats]:
    """Per source file: rows, rescued rows, lines not UTF-8 (and the first), unbalanced quotes."""
    rows = events_raw.transform(bronze.file_counts).collect()
    return {row["source_file"]: landing_files.FileStats(**{k: v for k, v in row.asDict().items()
                                                           if k != "source_file"}) for row in rows}

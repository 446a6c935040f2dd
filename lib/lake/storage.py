"""Reading and writing the lake's Delta tables by name: versions, appends, overwrites, MERGEs.

Spark reads and writes the data. A run's few small reads and writes that decide what to do (the
ledger's rows, which landing files bronze holds) go through delta-rs on a local lake, so that a
run that finds nothing new starts no Spark job; on object storage they go through Spark as well.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Collection, Sequence
from pathlib import Path
from typing import Any

import deltalake
import pyarrow as pa
import pyarrow.compute as pc
from delta.tables import DeltaTable
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from lib.contracts import tables
from lib.contracts.schemas import with_column_comments
from lib.lake import delta_log


@dataclasses.dataclass(frozen=True)
class WriteResult:
    """A Delta commit: the version it created and the operation's metrics.

    `committed` is false for a MERGE that changed nothing: Delta makes no commit then, and `version`
    is the table's version as it was.
    """

    version: int
    metrics: dict[str, int]
    committed: bool = True


def table_path(lake_dir: str | Path, name: str) -> str:
    return str(Path(lake_dir) / name) if "://" not in str(lake_dir) else f"{str(lake_dir).rstrip('/')}/{name}"


def table_exists(spark: SparkSession, lake_dir: str | Path, name: str) -> bool:
    """Whether the table has a commit, from its `_delta_log` folder (see `last_commit`)."""
    return last_commit(spark, lake_dir, name) is not None


def table_version(spark: SparkSession, lake_dir: str | Path, name: str) -> int | None:
    """The table's latest version, None if the table does not exist yet."""
    commit = last_commit(spark, lake_dir, name)
    return commit.version if commit is not None else None


def read_table(spark: SparkSession, lake_dir: str | Path, name: str, version: int | None = None) -> DataFrame:
    reader = spark.read.format("delta")
    if version is not None:
        reader = reader.option("versionAsOf", version)
    return reader.load(table_path(lake_dir, name))


def read_appended_since(
    spark: SparkSession, lake_dir: str | Path, name: str, after_version: int, up_to_version: int
) -> DataFrame:
    """Rows an append-only table gained in versions (after_version, up_to_version], via its change feed."""
    changes = (
        spark.read.format("delta")
        .option("readChangeFeed", "true")
        .option("startingVersion", after_version + 1)
        .option("endingVersion", up_to_version)
        .load(table_path(lake_dir, name))
    )
    return changes.filter(F.col("_change_type") == "insert").drop("_change_type", "_commit_version", "_commit_timestamp")


def last_commit(spark: SparkSession, lake_dir: str | Path, name: str) -> delta_log.Commit | None:
    """The table's newest commit, None if the table has none yet.

    Read from the newest commit file of `_delta_log` through Hadoop's file system, local or object
    storage alike: a listing and one small file, no Spark job, so a run can check every table.
    """
    return delta_log.newest_commit(spark, table_path(lake_dir, name))


def data_changing_versions(
    spark: SparkSession, lake_dir: str | Path, name: str, after_version: int, up_to_version: int
) -> list[int] | None:
    """The versions in (after_version, up_to_version] that added or removed rows (see `delta_log`)."""
    return delta_log.data_changing_versions(spark, table_path(lake_dir, name), after_version, up_to_version)


def _last_commit(spark: SparkSession, path: str) -> WriteResult:
    """The version and metrics of the commit a write just made (the lake's lock keeps other writers out)."""
    commit = delta_log.newest_commit(spark, path)
    if commit is None:
        raise RuntimeError(f"{path} has no Delta commit")
    return WriteResult(version=commit.version, metrics=commit.metrics)


def is_local(lake_dir: str | Path) -> bool:
    return "://" not in str(lake_dir) or str(lake_dir).startswith("file:")


def read_rows(
    lake_dir: str | Path, name: str, columns: Sequence[str], version: int | None = None
) -> list[dict[str, Any]] | None:
    """A small table's columns as Python rows (maps as dicts, timestamps naive UTC), read by delta-rs.

    None for a lake on object storage: the caller reads it with Spark. A column the table lacks is None;
    a table that does not exist has no rows.
    """
    if not is_local(lake_dir):
        return None
    if not deltalake.DeltaTable.is_deltatable(table_path(lake_dir, name)):
        return []
    dataset = deltalake.DeltaTable(table_path(lake_dir, name), version=version).to_pyarrow_dataset()
    present = [column for column in columns if column in dataset.schema.names]
    table = dataset.to_table(columns=present)
    maps = {field.name for field in table.schema if pa.types.is_map(field.type)}
    rows = []
    for row in table.to_pylist():
        values = {column: row.get(column) for column in columns}
        for column, value in values.items():
            if column in maps and value is not None:
                values[column] = dict(value)
            elif isinstance(value, dt.datetime) and value.tzinfo is not None:
                values[column] = value.astimezone(dt.timezone.utc).replace(tzinfo=None)
        rows.append(values)
    return rows


def values_among(lake_dir: str | Path, name: str, column: str, among: Collection[str]) -> set[str] | None:
    """Which of `among` the table's column holds, read by delta-rs; None for a lake on object storage."""
    if not is_local(lake_dir):
        return None
    dataset = deltalake.DeltaTable(table_path(lake_dir, name)).to_pyarrow_dataset()
    found = dataset.to_table(columns=[column], filter=pc.field(column).isin(sorted(among)))
    return set(pc.unique(found[column]).to_pylist())


def append_rows(
    lake_dir: str | Path, name: str, rows: Sequence[dict[str, Any]], user_metadata: str | None
) -> bool:
    """Append a few Python rows to an existing local table by delta-rs, its commit tagged with `user_metadata`.

    False, writing nothing, when the lake is on object storage, the table does not exist yet or
    lacks one of the rows' columns: the caller then appends with Spark (which creates the table
    with its registered comments and properties, or adds the column).
    """
    path = table_path(lake_dir, name)
    if not is_local(lake_dir) or not deltalake.DeltaTable.is_deltatable(path):
        return False
    table = deltalake.DeltaTable(path)
    schema = pa.schema(table.schema().to_arrow())
    if any(column not in schema.names for row in rows for column in row):
        return False
    values = [{column: list(value.items()) if isinstance(value, dict) else value for column, value in row.items()}
              for row in rows]
    custom = {"userMetadata": user_metadata} if user_metadata else None
    deltalake.write_deltalake(table, pa.Table.from_pylist(values, schema=schema), mode="append",
                              commit_properties=deltalake.CommitProperties(custom_metadata=custom))
    return True


def _writer(df: DataFrame, name: str, mode: str):
    """A Delta writer with the column comments, partitioning and table properties the registry gives the table."""
    writer = with_column_comments(df, name).write.format("delta").mode(mode)
    table = tables.TABLES.get(name)
    if table is None:
        return writer
    if table.partitioning:
        writer = writer.partitionBy(*table.partitioning)
    for key, value in table.properties.items():
        writer = writer.option(key, value)
    return writer


def append(df: DataFrame, lake_dir: str | Path, name: str) -> WriteResult:
    """Append rows, adding new columns to the table's schema (schema evolution)."""
    path = table_path(lake_dir, name)
    _writer(df, name, "append").option("mergeSchema", "true").save(path)
    return _last_commit(df.sparkSession, path)


def overwrite(df: DataFrame, lake_dir: str | Path, name: str) -> WriteResult:
    """Replace the table's contents (and schema) in one commit; readers see old or new, never half."""
    path = table_path(lake_dir, name)
    _writer(df, name, "overwrite").option("overwriteSchema", "true").save(path)
    return _last_commit(df.sparkSession, path)


def null_safe_match(key: Sequence[str], target: str = "t", source: str = "s") -> str:
    return " AND ".join(f"{target}.`{column}` <=> {source}.`{column}`" for column in key)


def insert_new(
    df: DataFrame, lake_dir: str | Path, name: str, key: Sequence[str], target_filter: str | None = None
) -> WriteResult:
    """MERGE: insert the rows whose key (null-safe) is not in the table yet; create it if missing.

    `target_filter`, a condition on the table's rows (alias `t`) that every possible match meets,
    lets Delta skip the partitions that cannot hold one.
    """
    spark = df.sparkSession
    path = table_path(lake_dir, name)
    if not DeltaTable.isDeltaTable(spark, path):
        # Nothing to match: an append writes the same rows without the MERGE's join, and reports
        # the counts under the names a MERGE gives them.
        created = append(df, lake_dir, name)
        rows = created.metrics.get("numOutputRows", 0)
        return WriteResult(created.version, {"numSourceRows": rows, "numTargetRowsInserted": rows})
    condition = null_safe_match(key) + (f" AND ({target_filter})" if target_filter else "")
    before = table_version(spark, lake_dir, name)
    (
        DeltaTable.forPath(spark, path)
        .alias("t")
        .merge(df.alias("s"), condition)
        .whenNotMatchedInsertAll()
        .execute()
    )
    return _merge_commit(df, path, before)


def _merge_commit(source: DataFrame, path: str, before: int | None) -> WriteResult:
    """The commit a MERGE just made; when it made none (nothing to insert or update), the version as it
    was, no commit, and the source's row count under the name a MERGE's metrics give it."""
    commit = delta_log.newest_commit(source.sparkSession, path)
    if commit is not None and commit.version != before:
        return WriteResult(commit.version, commit.metrics)
    return WriteResult(before, {"numSourceRows": source.count(), "numTargetRowsInserted": 0}, committed=False)


def delete_or_update_matched(
    df: DataFrame,
    lake_dir: str | Path,
    name: str,
    key: Sequence[str],
    delete_when: str,
    update_when: str,
    updates: dict[str, str],
) -> WriteResult:
    """MERGE on `key`: delete the matched rows meeting `delete_when`, update those meeting `update_when`.

    One commit, so readers see the table before or after, never half; rows `df` does not match
    and matched rows meeting neither condition are left as they are.
    """
    spark = df.sparkSession
    path = table_path(lake_dir, name)
    on = " AND ".join(f"t.`{column}` = s.`{column}`" for column in key)
    (
        DeltaTable.forPath(spark, path)
        .alias("t")
        .merge(df.alias("s"), on)
        .whenMatchedDelete(condition=delete_when)
        .whenMatchedUpdate(condition=update_when, set=updates)
        .execute()
    )
    return _last_commit(spark, path)

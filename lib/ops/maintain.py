"""Maintain the lake's tables: `python -m lib.ops.maintain --params params/X.yaml [--set key=value]`.

Each registered table that exists gets, in order: OPTIMIZE, which compacts small files (in a
partitioned table only the partitions that data-changing commits added files to since the last
succeeded maintenance; every partition the first time); VACUUM, which deletes the files that no
version of the last `maintenance_retention_hours` references; the table property
`delta.logRetentionDuration` set to the same retention; and a checkpoint, after which Delta deletes
the commit files older than that retention. Versions older than the retention are no longer
readable: reproduce and recovery cannot go back that far.

It holds the lake's lock like a layer run and is recorded in `pipeline_runs` as layer
`maintenance`, with per table what it compacted and removed and the files and bytes before and
after (column `maintenance`). Its commits carry no run tag, so recovery trusts them: they
rewrite files, never rows.

Exit code 0 when done, 1 when it fails (the lake busy, a Delta error), 2 for a bad parameter,
including a retention Delta refuses as too short while its retention check is on.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from delta.tables import DeltaTable
from pyspark.errors import AnalysisException, IllegalArgumentException
from pyspark.sql import SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from lib.contracts import paths, tables
from lib.contracts.params import ParameterError, PipelineParams, load_params
from lib.contracts.paths import REPO_ROOT
from lib.contracts.schemas import MAINTENANCE_RUNS
from lib.lake import ledger, lock, recovery, storage
from lib.lake.lock import LakeBusy
from lib.lake.session import build_spark, settings
from lib.orchestration.runner import parse_overrides

LAYER = "maintenance"
NOTEBOOK = "maintain"
LOG_RETENTION = "delta.logRetentionDuration"
# VACUUM records what it deleted as commits (VACUUM START, VACUUM END) only with this setting on.
VACUUM_LOGGING = {"spark.databricks.delta.vacuum.logging.enabled": "true"}
TOO_SHORT = "DELTA_VACUUM_RETENTION_PERIOD_TOO_SHORT"
# What a commit file says of the files it adds: enough to find the partitions a commit changed.
COMMIT_ADDS = T.StructType([T.StructField("add", T.StructType([
    T.StructField("partitionValues", T.MapType(T.StringType(), T.StringType())),
    T.StructField("dataChange", T.BooleanType()),
]))])


@dataclasses.dataclass(frozen=True)
class TableMaintenance:
    """What maintenance did to one table; `partitions` None: the whole table was compacted."""

    table: str
    version_before: int
    version_after: int
    files_before: int
    bytes_before: int
    files_after: int
    bytes_after: int
    partitions: tuple[str, ...] | None
    files_compacted: int
    files_written: int
    files_vacuumed: int
    bytes_vacuumed: int

    def describe(self) -> str:
        scope = "all partitions" if self.partitions is None else f"{len(self.partitions)} partition(s)"
        return (
            f"{self.table}: {self.files_before} -> {self.files_after} files ({self.bytes_before:,} -> "
            f"{self.bytes_after:,} bytes); compacted {self.files_compacted} into {self.files_written} in {scope}, "
            f"vacuumed {self.files_vacuumed} ({self.bytes_vacuumed:,} bytes)"
        )


@dataclasses.dataclass(frozen=True)
class MaintenanceSummary:
    """A maintenance run: its id, each table's account and how long it took."""

    run_id: str
    tables: tuple[TableMaintenance, ...]
    seconds: float


def maintain(spark: SparkSession, params: PipelineParams) -> MaintenanceSummary:
    """Compact, vacuum and checkpoint every table of the lake under its lock; record the run in the ledger."""
    started = time.monotonic()
    lake = params.path("lake_dir")
    record = ledger.RunRecord(params.run_id or ledger.new_run_id(), LAYER, NOTEBOOK, params.as_dict())
    hours = params.maintenance_retention_hours
    with lock.lake_lock(lake, record.run_id, LAYER, params.lock_timeout_seconds), _untagged(spark):
        _check_retention(spark, lake, hours)
        maintained = _maintained_versions(ledger.last_succeeded(spark, lake, LAYER))
        done: list[TableMaintenance] = []
        try:
            with settings(spark, VACUUM_LOGGING):
                for table in tables.TABLES.values():
                    if storage.table_exists(spark, lake, table.name):
                        done.append(maintain_table(spark, lake, table, maintained.get(table.name), hours))
                        print(done[-1].describe(), flush=True)
        except BaseException as error:
            _append(spark, lake, record, done, "failed", f"{type(error).__name__}: {error}".splitlines()[0][:2000])
            raise
        _append(spark, lake, record, done, "succeeded", None)
    return MaintenanceSummary(record.run_id, tuple(done), time.monotonic() - started)


def maintain_table(
    spark: SparkSession, lake: str | Path, table: tables.Table, maintained: int | None, hours: int
) -> TableMaintenance:
    """OPTIMIZE what changed since version `maintained` (None: everything), VACUUM, log retention, checkpoint."""
    path = storage.table_path(lake, table.name)
    delta = DeltaTable.forPath(spark, path)
    version_before = storage.table_version(spark, lake, table.name)
    before = _detail(delta)
    partitions = changed_partitions(spark, path, table, maintained, version_before)
    compacted = written = 0
    if partitions != () and (table.partitioning or before["numFiles"] > 1):  # one file: nothing to compact
        optimize = delta.optimize()
        if partitions is not None:
            optimize = optimize.where(partition_predicate(table, partitions))
        metrics = optimize.executeCompaction().first()["metrics"]
        compacted, written = metrics["numFilesRemoved"], metrics["numFilesAdded"]
    vacuumed, vacuumed_bytes = _vacuum(spark, lake, table.name, hours)
    retention = f"interval {hours} hours"
    if before["properties"].get(LOG_RETENTION) != retention:
        spark.sql(f"ALTER TABLE delta.`{path}` SET TBLPROPERTIES ('{LOG_RETENTION}' = '{retention}')")
    _checkpoint(spark, path)
    after = _detail(delta)
    return TableMaintenance(
        table.name, version_before, storage.table_version(spark, lake, table.name), before["numFiles"],
        before["sizeInBytes"], after["numFiles"], after["sizeInBytes"], None if partitions is None else tuple(_label(p) for p in partitions),
        compacted, written, vacuumed, vacuumed_bytes,
    )


def changed_partitions(
    spark: SparkSession, path: str, table: tables.Table, since: int | None, until: int
) -> tuple[dict[str, str | None], ...] | None:
    """The partitions that data-changing commits in (since, until] added files to; None: the whole table.

    The whole table when there was no maintenance before, when the table is not partitioned and some
    commit changed it, or when a commit file is no longer in the log; () when nothing changed.
    """
    if since is None or until < since:  # never maintained, or a table written anew since
        return None
    if until == since:
        return ()
    commits = [f"{path}/_delta_log/{version:020d}.json" for version in range(since + 1, until + 1)]
    try:
        adds = spark.read.schema(COMMIT_ADDS).json(commits).filter(F.col("add.dataChange"))
        values = adds.select(*[F.col("add.partitionValues").getItem(name).alias(name) for name in table.partitioning])
        rows = values.distinct().collect() if table.partitioning else adds.limit(1).collect()
    except AnalysisException:  # the log no longer holds a commit since then
        return None
    if not table.partitioning:
        return None if rows else ()
    return tuple(sorted((row.asDict() for row in rows), key=_label))


def partition_predicate(table: tables.Table, partitions: tuple[dict[str, str | None], ...]) -> str:
    """A condition on the partition columns that the given partitions, and only they, meet."""
    def equals(name: str, value: str | None) -> str:
        return f"`{name}` IS NULL" if value is None else f"`{name}` = '{value.replace(chr(39), chr(39) * 2)}'"

    return " OR ".join(
        "(" + " AND ".join(equals(name, partition[name]) for name in table.partitioning) + ")"
        for partition in partitions
    )


def _label(partition: dict[str, str | None]) -> str:
    return "/".join(f"{name}={value}" for name, value in partition.items())


def _detail(delta: DeltaTable) -> dict[str, Any]:
    """The files, bytes and properties of the table's latest version, as its Delta log states them."""
    return delta.detail().select("numFiles", "sizeInBytes", "properties").first().asDict()


def _vacuum(spark: SparkSession, lake: str | Path, name: str, hours: int) -> tuple[int, int]:
    """VACUUM with the retention; the files and bytes it deleted, as its VACUUM START commit states them."""
    before = storage.table_version(spark, lake, name)
    spark.sql(f"VACUUM delta.`{storage.table_path(lake, name)}` RETAIN {hours} HOURS")
    commits = DeltaTable.forPath(spark, storage.table_path(lake, name)).history(2)
    start = commits.filter((F.col("version") > before) & (F.col("operation") == "VACUUM START")).first()
    metrics = start["operationMetrics"] if start is not None else {}
    return int(metrics.get("numFilesToDelete", 0)), int(metrics.get("sizeOfDataToDelete", 0))


def _checkpoint(spark: SparkSession, path: str) -> None:
    """A checkpoint of the latest version, then Delta's cleanup of the commit files older than the log retention.

    delta-spark's Python API has no checkpoint call; this is the Scala `DeltaLog` one.
    """
    jvm = spark.sparkContext._jvm
    log = jvm.org.apache.spark.sql.delta.DeltaLog.forTable(spark._jsparkSession, path)
    none = jvm.scala.Option.empty()
    log.checkpointAndCleanUpDeltaLog(log.update(False, none, none), none)


def _check_retention(spark: SparkSession, lake: str | Path, hours: int) -> None:
    """Before anything is written: a retention Delta's retention check refuses is a bad parameter."""
    if not storage.table_exists(spark, lake, ledger.TABLE):
        return
    try:
        spark.sql(f"VACUUM delta.`{storage.table_path(lake, ledger.TABLE)}` RETAIN {hours} HOURS DRY RUN").collect()
    except IllegalArgumentException as error:
        if TOO_SHORT not in str(error):
            raise
        raise ParameterError(
            f"parameter maintenance_retention_hours={hours}: Delta refuses to vacuum files younger than the tables' "
            "delta.deletedFileRetentionDuration (168 hours unless set), which a write in progress may still use; "
            "expected at least that, or spark.databricks.delta.retentionDurationCheck.enabled=false in the session "
            "when no other process writes the lake"
        ) from None


def _maintained_versions(last: Any) -> dict[str, int]:
    """Each table's version when the last succeeded maintenance left it; the ledger's is one more, its row."""
    if last is None:
        return {}
    versions = dict(last["versions_written"] or {})
    if ledger.TABLE in versions:
        versions[ledger.TABLE] += 1
    return versions


def _append(
    spark: SparkSession, lake: str | Path, record: ledger.RunRecord, done: list[TableMaintenance],
    status: str, error: str | None,
) -> None:
    """The run's row in the ledger, with every column: a layer run's row leaves `maintenance` out."""
    record.versions_read = {table.table: table.version_before for table in done}
    record.versions_written = {table.table: table.version_after for table in done}
    work = [dataclasses.asdict(table) for table in done]
    row = {**record.as_row(status, error), "maintenance": json.dumps(work, sort_keys=True)}
    frame = spark.createDataFrame([tuple(row.get(field.name) for field in MAINTENANCE_RUNS)], MAINTENANCE_RUNS)
    storage.append(frame, lake, ledger.TABLE)


@contextlib.contextmanager
def _untagged(spark: SparkSession) -> Iterator[None]:
    """No run tag on the session's commits for the block: recovery trusts untagged commits."""
    tag = spark.conf.get(recovery.USER_METADATA_CONF, None)
    spark.conf.unset(recovery.USER_METADATA_CONF)
    try:
        yield
    finally:
        if tag is not None:
            spark.conf.set(recovery.USER_METADATA_CONF, tag)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lib.ops.maintain", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--params", type=Path, default=REPO_ROOT / "params" / "default.yaml",
                        help=f"parameter file ({paths.PARAMS_RULE})")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override one parameter, e.g. --set maintenance_retention_hours=336 (repeatable)")
    args = parser.parse_args(argv)
    try:
        params = load_params(args.params, parse_overrides(args.overrides))
        spark = build_spark(params.spark_master, app_name="lakehouse-maintain",
                            shuffle_partitions=params.shuffle_partitions, driver_memory=params.driver_memory)
        summary = maintain(spark, params)
    except ParameterError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except LakeBusy as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except Exception as error:  # recorded in pipeline_runs as the failed run's error
        print(f"error: maintenance failed: {type(error).__name__}: {error}".splitlines()[0], file=sys.stderr)
        return 1
    print(f"maintenance {summary.run_id}: {len(summary.tables)} tables in {summary.seconds:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())

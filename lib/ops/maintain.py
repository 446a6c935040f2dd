"""Maintain the lake's tables: `python -m lib.ops.maintain --params params/X.yaml [--set key=value]`.

Each registered table that exists gets, in order: OPTIMIZE, which compacts small files (in a
partitioned table only the partitions that data-changing commits added files to since the last
succeeded maintenance; every partition the first time); VACUUM, which deletes the files that no
version of the last `maintenance_retention_hours` references; the table property
`delta.logRetentionDuration` set to the same retention (168 hours at least, Delta's deleted-file
retention, below which it refuses a log retention); and a checkpoint, after which Delta deletes the
commit files older than the log retention. Versions older than the retention are no longer
readable: reproduce and recovery cannot go back that far. A step with nothing to do is skipped, as
the table's log tells without a Spark job: OPTIMIZE when no commit added files since the last
maintenance, VACUUM when no file of the table is older than the retention, the checkpoint when
the latest version has one.

It holds the lake's lock like a layer run and is recorded in `pipeline_runs` as layer
`maintenance`, with per table what it compacted and removed and the files and bytes before and
after (column `maintenance`). Its commits carry no run tag, so recovery trusts them: they
rewrite files, never rows.

With `--if-due N` it runs only when N bronze runs have succeeded since the last maintenance (the
ledger's count, read without Spark on a local lake, so a run that is not due starts no JVM):
what `lib.orchestration.schedule` runs after each succeeded run with N = `maintenance_every_runs`,
and what a cron entry of its own can run.

Exit code 0 when done or not due, 1 when it fails (the lake busy, a Delta error), 2 for a bad parameter,
including a retention Delta's retention check refuses as too short (0 hours while the check is on).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from delta.tables import DeltaTable
from pyspark import SparkContext
from pyspark.sql import SparkSession

from lib.contracts import paths, tables
from lib.contracts.params import ParameterError, PipelineParams, load_params, parse_overrides
from lib.contracts.paths import REPO_ROOT
from lib.contracts.schemas import MAINTENANCE_RUNS
from lib.lake import delta_log, ledger, lock, recovery, storage
from lib.lake.lock import LakeBusy
from lib.lake.session import build_spark, settings

LAYER = "maintenance"
BRONZE = "bronze"  # the layer whose runs --if-due counts: one per scheduled run
NOTEBOOK = "maintain"
LOG_RETENTION = "delta.logRetentionDuration"
TOO_SHORT = "DELTA_VACUUM_RETENTION_PERIOD_TOO_SHORT"
# Delta's delta.deletedFileRetentionDuration, which the project leaves at its default: Delta refuses a log
# retention below it, so a shorter maintenance retention deletes the files and keeps the commits this long.
DELETED_FILE_RETENTION_HOURS = 7 * 24


def vacuum_settings(spark: SparkSession) -> dict[str, str]:
    """VACUUM's settings for maintenance: it records what it deleted as commits (VACUUM START, VACUUM END), and
    lists a table's files in as many tasks as the session runs at once.

    Its listing otherwise takes `spark.sql.sources.parallelPartitionDiscovery.parallelism` tasks (10,000 by
    default): on 2 cores that is a minute per table of tiny tasks, whatever the table's size.
    """
    tasks = str(spark.sparkContext.defaultParallelism)
    return {
        "spark.databricks.delta.vacuum.logging.enabled": "true",
        "spark.sql.sources.parallelPartitionDiscovery.parallelism": tasks,
    }


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
    with lock.lake_lock(lake, record.run_id, LAYER, params.lock_timeout_seconds), _untagged(spark), \
            settings(spark, vacuum_settings(spark)):
        _check_retention(spark, lake, hours)
        maintained = _maintained_versions(ledger.last_succeeded(spark, lake, LAYER))
        done: list[TableMaintenance] = []
        try:
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
    """OPTIMIZE what changed since version `maintained` (None: everything), VACUUM, log retention, checkpoint.

    Each step runs when the table's log says it has work: no compaction of what is compacted, no
    VACUUM of a table without a file older than the retention, no checkpoint of a checkpointed version.
    """
    path = storage.table_path(lake, table.name)
    before = delta_log.snapshot(spark, path)
    partitions = changed_partitions(spark, path, table, maintained, before.version)
    compacted = written = 0
    if partitions != () and (table.partitioning or before.files > 1):  # one file: nothing to compact
        optimize = DeltaTable.forPath(spark, path).optimize()
        if partitions is not None:
            optimize = optimize.where(partition_predicate(table, partitions))
        metrics = optimize.executeCompaction().first()["metrics"]
        compacted, written = metrics["numFilesRemoved"], metrics["numFilesAdded"]
    vacuumed, vacuumed_bytes = _vacuum(spark, path, hours)
    retention = f"interval {max(hours, DELETED_FILE_RETENTION_HOURS)} hours"
    if before.properties.get(LOG_RETENTION) != retention:
        spark.sql(f"ALTER TABLE delta.`{path}` SET TBLPROPERTIES ('{LOG_RETENTION}' = '{retention}')")
    after = delta_log.snapshot(spark, path)
    if delta_log.checkpoint_version(spark, path) != after.version:
        _checkpoint(spark, path)
    return TableMaintenance(
        table.name, before.version, after.version, before.files, before.bytes, after.files, after.bytes,
        None if partitions is None else tuple(_label(p) for p in partitions),
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
    partitions = delta_log.added_partitions(spark, path, table.partitioning, since, until)
    if partitions is None or (partitions and not table.partitioning):
        return None
    return tuple(sorted(partitions, key=_label))


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


def _vacuum(spark: SparkSession, path: str, hours: int) -> tuple[int, int]:
    """VACUUM with the retention; the files and bytes it deleted, as its VACUUM START commit states them.

    A table whose files are all younger than the retention has none VACUUM would delete: its listing
    and commits are skipped.
    """
    if not delta_log.holds_file_older_than(spark, path, int((time.time() - hours * 3600) * 1000)):
        return 0, 0
    before = delta_log.newest_commit(spark, path).version
    spark.sql(f"VACUUM delta.`{path}` RETAIN {hours} HOURS")
    for version in range(before + 1, delta_log.newest_commit(spark, path).version + 1):
        info = delta_log.commit_info(delta_log.commit_actions(spark, path, version) or [])
        if info.get("operation") == "VACUUM START":
            metrics = info.get("operationMetrics") or {}
            return int(metrics.get("numFilesToDelete", 0)), int(metrics.get("sizeOfDataToDelete", 0))
    return 0, 0


def _checkpoint(spark: SparkSession, path: str) -> None:
    """A checkpoint of the latest version, then Delta's cleanup of the commit files older than the log retention.

    delta-spark's Python API has no checkpoint call; this is the Scala `DeltaLog` one.
    """
    jvm = spark.sparkContext._jvm
    log = jvm.org.apache.spark.sql.delta.DeltaLog.forTable(spark._jsparkSession, path)
    none = jvm.scala.Option.empty()
    log.checkpointAndCleanUpDeltaLog(log.update(False, none, none), none)


def _check_retention(spark: SparkSession, lake: str | Path, hours: int) -> None:
    """Before anything is written: a retention Delta's retention check refuses is a bad parameter.

    The check compares with the tables' deleted-file retention, which the project leaves at its default.
    """
    if hours >= DELETED_FILE_RETENTION_HOURS or not storage.table_exists(spark, lake, ledger.TABLE):
        return
    try:
        spark.sql(f"VACUUM delta.`{storage.table_path(lake, ledger.TABLE)}` RETAIN {hours} HOURS DRY RUN").collect()
    except Exception as error:  # Delta's refusal reaches Python as an IllegalArgumentException or a Py4JJavaError
        if TOO_SHORT not in str(error):
            raise
        refusal = str(error).split(TOO_SHORT, 1)[1].strip(" ]").splitlines()[0].rstrip(".")
        raise ParameterError(
            f"parameter maintenance_retention_hours={hours}: Delta's retention check refuses it ({refusal}); "
            "expected more hours, or spark.databricks.delta.retentionDurationCheck.enabled=false in the session "
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


def runs_since_maintenance(params: PipelineParams, spark: SparkSession | None = None) -> int:
    """Succeeded bronze runs since the last succeeded maintenance; Spark is asked only for a lake on object storage."""
    lake = params.path("lake_dir")
    records = ledger.succeeded_without_spark(lake)
    if records is None:
        records = ledger.succeeded_records(spark or _spark(params), lake)
    return ledger.runs_since(records, BRONZE, LAYER)


def _spark(params: PipelineParams) -> SparkSession:
    return build_spark(params.spark_master, app_name="lakehouse-maintain", shuffle_partitions=params.shuffle_partitions,
                       driver_memory=params.driver_memory, ui=params.spark_ui)


def parse_every(value: str) -> int:
    if not value.isdigit() or int(value) < 1:
        raise argparse.ArgumentTypeError(f"{value!r}: expected a number of bronze runs >= 1")
    return int(value)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lib.ops.maintain", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--params", type=Path, default=REPO_ROOT / "params" / "default.yaml",
                        help=f"parameter file ({paths.PARAMS_RULE})")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override one parameter, e.g. --set maintenance_retention_hours=336 (repeatable)")
    parser.add_argument("--if-due", type=parse_every, metavar="N",
                        help="run only if N bronze runs have succeeded since the last maintenance (else exit 0)")
    args = parser.parse_args(argv)
    try:
        params = load_params(args.params, parse_overrides(args.overrides))
        spark = None if args.if_due and storage.is_local(params.lake_dir) else _spark(params)
        if args.if_due:
            since = runs_since_maintenance(params, spark)
            if since < args.if_due:
                print(f"maintenance: not due, {since} of {args.if_due} bronze runs since the last one", flush=True)
                return 0
            print(f"maintenance: due, {since} bronze runs since the last one (--if-due {args.if_due})", flush=True)
        summary = maintain(spark or _spark(params), params)
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
    code = main()
    if SparkContext._active_spark_context is None:
        # No JVM was started (not due, or a bad parameter). delta-rs's read of the ledger leaves native threads
        # that abort the interpreter's teardown ("terminate called without an active exception", exit -6)
        # in most runs; with nothing to stop, the process ends without it.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)

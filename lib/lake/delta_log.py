"""A Delta table's log, read through Hadoop's file system: its commits, the versions that changed rows and
whether they removed any, the partitions they added files to, its latest snapshot's files and bytes, its
checkpoint.

Each read is a listing or a few small files, local or object storage alike, and no Spark job, so a
run can check every table and maintenance can tell what a table needs before it does anything.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from typing import Any

from py4j.protocol import Py4JJavaError
from pyspark.sql import SparkSession

NOT_FOUND = "java.io.FileNotFoundException"


@dataclasses.dataclass(frozen=True)
class Commit:
    """A table's newest commit, as its Delta log file states it."""

    version: int
    user_metadata: str | None
    metrics: dict[str, int]
    identity: tuple[object, ...] = ()  # the commit's timestamp and transaction id: a rewritten table differs


@dataclasses.dataclass(frozen=True)
class Snapshot:
    """A table's latest version as Delta holds it: its data files, their bytes and the table's properties."""

    version: int
    files: int
    bytes: int
    properties: dict[str, str]


def _hadoop(spark: SparkSession, path: str) -> tuple[Any, Any]:
    """The Hadoop path of `path` and its file system."""
    hadoop_path = spark.sparkContext._jvm.org.apache.hadoop.fs.Path(path)
    return hadoop_path, hadoop_path.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration())


def _log_dir(path: str) -> str:
    return f"{path.rstrip('/')}/_delta_log"


def _read_text(spark: SparkSession, path: str) -> str | None:
    """A small file's text, None if there is no such file."""
    hadoop_path, file_system = _hadoop(spark, path)
    try:  # opened at once, not checked first: on object storage each check is a request
        stream = file_system.open(hadoop_path)
    except Py4JJavaError as error:
        if error.java_exception.getClass().getName() == NOT_FOUND:
            return None
        raise
    try:
        return spark.sparkContext._jvm.org.apache.commons.io.IOUtils.toString(stream, "UTF-8")
    finally:
        stream.close()


def commit_actions(spark: SparkSession, path: str, version: int) -> list[dict[str, Any]] | None:
    """The actions of the table's commit file for `version`, None if the log no longer holds it."""
    text = _read_text(spark, f"{_log_dir(path)}/{version:020d}.json")
    return None if text is None else [json.loads(line) for line in text.splitlines() if line.strip()]


def commit_info(actions: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The commit's `commitInfo`: its operation, timestamp, metrics and user metadata."""
    return next((action["commitInfo"] for action in actions if "commitInfo" in action), {})


def newest_commit(spark: SparkSession, path: str) -> Commit | None:
    """The table's newest commit, None if the table has none yet: a listing of `_delta_log` and one file."""
    log, file_system = _hadoop(spark, _log_dir(path))
    if not file_system.exists(log):
        return None
    names = [status.getPath().getName() for status in file_system.listStatus(log)]
    versions = [int(name[:-5]) for name in names if name.endswith(".json") and name[:-5].isdigit()]
    if not versions:
        return None
    version = max(versions)
    info = commit_info(commit_actions(spark, path, version) or [])
    metrics = {key: int(value) for key, value in (info.get("operationMetrics") or {}).items()
               if str(value).isdigit()}
    return Commit(version, info.get("userMetadata"), metrics, (info.get("timestamp"), info.get("txnId")))


def _file_actions(actions: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    return [action.get("add") or action.get("remove") for action in actions if "add" in action or "remove" in action]


@dataclasses.dataclass(frozen=True)
class Change:
    """A commit that added or removed rows: its version, its operation, and whether it removed any."""

    version: int
    operation: str
    removes_rows: bool


def data_changes(spark: SparkSession, path: str, after_version: int, up_to_version: int) -> list[Change] | None:
    """The commits in (after_version, up_to_version] that added or removed rows; None if one is gone.

    A compaction (OPTIMIZE), a VACUUM or a change of the table's properties, such as maintenance
    makes, marks its files `dataChange: false` or adds none: the table's rows are as they were. A
    commit removes rows when it removes a file with `dataChange` (a DELETE, an UPDATE, a MERGE that
    matched, an overwrite of rows): one that only adds files only inserted rows.
    """
    changes = []
    for version in range(after_version + 1, up_to_version + 1):
        actions = commit_actions(spark, path, version)
        if actions is None:
            return None
        if any(file.get("dataChange", True) for file in _file_actions(actions)):
            removes = any(action["remove"].get("dataChange", True) for action in actions if "remove" in action)
            changes.append(Change(version, commit_info(actions).get("operation", "?"), removes))
    return changes


def data_changing_versions(spark: SparkSession, path: str, after_version: int, up_to_version: int) -> list[int] | None:
    """The versions in (after_version, up_to_version] whose commits added or removed rows; None if one is gone."""
    changes = data_changes(spark, path, after_version, up_to_version)
    return None if changes is None else [change.version for change in changes]


def added_partitions(
    spark: SparkSession, path: str, partitioning: Sequence[str], after_version: int, up_to_version: int
) -> list[dict[str, str | None]] | None:
    """The partitions that data-changing commits in (after_version, up_to_version] added files to, each once,
    in the order first added (a table without partitions: [{}] if any commit added rows); None if a commit is gone.
    """
    partitions: list[dict[str, str | None]] = []
    for version in range(after_version + 1, up_to_version + 1):
        actions = commit_actions(spark, path, version)
        if actions is None:
            return None
        for action in actions:
            add = action.get("add")
            if add is not None and add.get("dataChange", True):
                values = add.get("partitionValues") or {}
                partition = {name: values.get(name) for name in partitioning}
                if partition not in partitions:
                    partitions.append(partition)
    return partitions


def snapshot(spark: SparkSession, path: str) -> Snapshot:
    """The table's latest snapshot, brought up to date with its log (Delta's own state; its checksum file
    gives the files and bytes without a job where the version has one)."""
    jvm = spark.sparkContext._jvm
    none = jvm.scala.Option.empty()
    state = jvm.org.apache.spark.sql.delta.DeltaLog.forTable(spark._jsparkSession, path).update(False, none, none)
    configuration = state.metadata().configuration()
    properties = {key: configuration.apply(key) for key in _scala_keys(configuration)}
    return Snapshot(state.version(), state.numOfFiles(), state.sizeInBytes(), properties)


def _scala_keys(mapping: Any) -> list[str]:
    keys, iterator = [], mapping.keysIterator()
    while iterator.hasNext():
        keys.append(iterator.next())
    return keys


def checkpoint_version(spark: SparkSession, path: str) -> int | None:
    """The version of the table's latest checkpoint, as `_delta_log/_last_checkpoint` states it; None if none."""
    text = _read_text(spark, f"{_log_dir(path)}/_last_checkpoint")
    return None if text is None else json.loads(text).get("version")


def holds_file_older_than(spark: SparkSession, path: str, cutoff_ms: int) -> bool:
    """Whether a file under the table's folder, its log aside, was last modified before `cutoff_ms`.

    VACUUM deletes only files older than its cutoff (a file's removal from the table comes after it
    was written), so a table without one has nothing VACUUM could delete. The listing stops at the
    first such file.
    """
    root, file_system = _hadoop(spark, path)
    log = f"{root.toUri().getPath().rstrip('/')}/_delta_log/"
    files = file_system.listFiles(root, True)
    while files.hasNext():
        status = files.next()
        if status.getModificationTime() < cutoff_ms and not status.getPath().toUri().getPath().startswith(log):
            return True
    return False

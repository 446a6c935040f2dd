"""The run ledger `pipeline_runs`: one row per layer run, written whether it succeeds or fails.

It only records; `lib.lake.transaction` decides when a run has succeeded or failed.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import uuid
from pathlib import Path
from typing import Any

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from lib.contracts import tables
from lib.contracts.schemas import PIPELINE_RUNS
from lib.lake import delta_log, recovery, storage

TABLE = tables.PIPELINE_RUNS.name


def new_run_id(now: dt.datetime | None = None) -> str:
    """A sortable, unique run id: UTC time of the start and a random suffix."""
    now = now or dt.datetime.now(dt.timezone.utc)
    return f"{now:%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:6]}"


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)


@dataclasses.dataclass
class RunRecord:
    """What a layer's run reports to the ledger; the layer fills it in as it goes."""

    run_id: str
    layer: str
    notebook: str
    parameters: dict[str, Any]
    started_at: dt.datetime = dataclasses.field(default_factory=utc_now)
    attempt_id: str = dataclasses.field(default_factory=lambda: uuid.uuid4().hex)
    rows_in: int | None = None
    rows_out: int | None = None
    rows_quarantined: int | None = None
    rows_duplicate: int | None = None
    versions_read: dict[str, int] = dataclasses.field(default_factory=dict)
    versions_written: dict[str, int] = dataclasses.field(default_factory=dict)
    rollbacks: list[recovery.Rollback] = dataclasses.field(default_factory=list)

    def as_row(self, status: str, error: str | None) -> dict[str, Any]:
        fields = {field.name: getattr(self, field.name) for field in dataclasses.fields(self)}
        fields["parameters"] = json.dumps(self.parameters, sort_keys=True, default=str)
        return {**fields, "finished_at": utc_now(), "status": status, "error": error}


# The columns of the succeeded rows that recovery and the layers' plans read.
SUCCEEDED_COLUMNS = ("attempt_id", "run_id", "layer", "finished_at", "versions_read", "versions_written", "parameters")
# Per ledger path: the commit it was read at and its succeeded rows, oldest first.
_succeeded: dict[str, tuple[delta_log.Commit, list[dict[str, Any]]]] = {}


def append_record(spark: SparkSession, lake_dir: str | Path, row: dict[str, Any]) -> None:
    """Append one run's row, tagged like the run's other commits (delta-rs on a local lake, else Spark)."""
    path = storage.table_path(lake_dir, TABLE)
    before = _succeeded.pop(path, None)
    tag = spark.conf.get(recovery.USER_METADATA_CONF, None)
    values = {field.name: row[field.name] for field in PIPELINE_RUNS}
    if not storage.append_rows(lake_dir, TABLE, [values], tag):
        frame = spark.createDataFrame([tuple(values.values())], PIPELINE_RUNS)
        storage.append(frame, lake_dir, TABLE)
    after = storage.last_commit(spark, lake_dir, TABLE)
    if before is not None and after is not None and after.version == before[0].version + 1:
        # The lake's lock kept other writers out: the ledger is what was read plus this row.
        added = [{name: row[name] for name in SUCCEEDED_COLUMNS}] if row["status"] == "succeeded" else []
        _succeeded[path] = (after, before[1] + added)


def succeeded_records(spark: SparkSession, lake_dir: str | Path) -> list[dict[str, Any]]:
    """The ledger's succeeded rows, oldest first, read once per version of the ledger in a process.

    A run's recovery and its layer's plan both ask; the newest commit file says whether the rows
    read before are still the ledger's, and a row this process appends is added to them.
    """
    commit = storage.last_commit(spark, lake_dir, TABLE)
    if commit is None:
        return []
    path = storage.table_path(lake_dir, TABLE)
    cached = _succeeded.get(path)
    if cached is not None and cached[0] == commit:
        return cached[1]
    rows = succeeded_without_spark(lake_dir, commit.version)
    if rows is None:
        runs = storage.read_table(spark, lake_dir, TABLE, version=commit.version)
        if "attempt_id" not in runs.columns:
            return []
        succeeded = runs.filter(F.col("status") == "succeeded").orderBy("finished_at", "run_id")
        rows = [row.asDict(recursive=True) for row in succeeded.select(*SUCCEEDED_COLUMNS).collect()]
    _succeeded[path] = (commit, rows)
    return rows


def succeeded_without_spark(lake_dir: str | Path, version: int | None = None) -> list[dict[str, Any]] | None:
    """The succeeded rows, oldest first, read by delta-rs ([] without a ledger); None for a lake on object storage."""
    rows = storage.read_rows(lake_dir, TABLE, (*SUCCEEDED_COLUMNS, "status"), version=version)
    if rows is None:
        return None
    return sorted((row for row in rows if row.pop("status") == "succeeded"),
                  key=lambda row: (row["finished_at"] or dt.datetime.min, row["run_id"] or ""))


def runs_since(records: list[dict[str, Any]], layer: str, since: str) -> int:
    """How many succeeded `layer` runs follow the latest succeeded `since` run among the records (all, before any)."""
    count = 0
    for row in records:
        count = 0 if row["layer"] == since else count + (row["layer"] == layer)
    return count


def succeeded_runs(spark: SparkSession, lake_dir: str | Path) -> set[str]:
    """The attempt ids of every layer run the ledger records as succeeded."""
    return {row["attempt_id"] for row in succeeded_records(spark, lake_dir) if row["attempt_id"] is not None}


def last_succeeded(spark: SparkSession, lake_dir: str | Path, layer: str) -> dict[str, Any] | None:
    """The latest succeeded run of a layer, None if it never succeeded."""
    runs = [row for row in succeeded_records(spark, lake_dir) if row["layer"] == layer]
    return runs[-1] if runs else None

"""The run ledger `pipeline_runs`: one row per notebook run, written whether it succeeds or fails."""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pyspark.sql import Row, SparkSession
from pyspark.sql import functions as F

from lib import lock, recovery, storage
from lib.schemas import PIPELINE_RUNS
from lib.spark import SparkStopped, jvm_answers

TABLE = "pipeline_runs"


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


def append_record(spark: SparkSession, lake_dir: str | Path, row: dict[str, Any]) -> None:
    frame = spark.createDataFrame([tuple(row[field.name] for field in PIPELINE_RUNS)], PIPELINE_RUNS)
    storage.append(frame, lake_dir, TABLE)


@contextlib.contextmanager
def recorded_run(
    spark: SparkSession, lake_dir: str | Path, record: RunRecord
) -> Iterator[RunRecord]:
    """Run a layer as one unit: lock the lake, undo unfinished runs, tag commits, record the outcome.

    A run that raises has its commits undone before its failed row is written, so the tables
    are as the last succeeded run left them; one that is killed is undone by the next run.
    """
    timeout = record.parameters.get("lock_timeout_seconds", 600)
    with _explain_a_stopped_jvm(spark, record), lock.lake_lock(lake_dir, record.run_id, record.layer, timeout):
        with recovery.tagged_commits(spark, record.attempt_id, record.run_id, record.layer):
            record.rollbacks = recovery.roll_back_unfinished(spark, lake_dir, succeeded_runs(spark, lake_dir))
            for rollback in record.rollbacks:
                print(f"recovered {rollback.describe()}", flush=True)
            try:
                yield record
            except BaseException as error:
                message = f"{type(error).__name__}: {error}".splitlines()[0][:2000]
                succeeded = succeeded_runs(spark, lake_dir)
                try:
                    recovery.roll_back_unfinished(spark, lake_dir, succeeded)
                except Exception as rollback_error:  # the next run retries; the ledger says why
                    message += f" (its writes are undone by the next run: {type(rollback_error).__name__})"
                append_record(spark, lake_dir, record.as_row("failed", message))
                raise
            append_record(spark, lake_dir, record.as_row("succeeded", None))


@contextlib.contextmanager
def _explain_a_stopped_jvm(spark: SparkSession, record: RunRecord) -> Iterator[None]:
    """Turn the connection errors of a JVM that died mid-run into what happened and what to do."""
    try:
        yield
    except Exception as error:
        if jvm_answers(spark):
            raise
        raise SparkStopped(
            f"the Spark JVM stopped during the {record.layer} run {record.run_id}, so the run's failure is not "
            "in pipeline_runs. The usual cause is a Java heap too small for the input: if the log above says "
            "java.lang.OutOfMemoryError, raise the parameter driver_memory (this run had "
            f"{record.parameters.get('driver_memory')}) or ingest fewer landing files at once with landing_glob. "
            "The next run of any layer undoes this run's writes before it starts."
        ) from error


def succeeded_runs(spark: SparkSession, lake_dir: str | Path) -> set[str]:
    """The attempt ids of every layer run the ledger records as succeeded."""
    if not storage.table_exists(spark, lake_dir, TABLE):
        return set()
    runs = storage.read_table(spark, lake_dir, TABLE)
    if "attempt_id" not in runs.columns:
        return set()
    succeeded = runs.filter((F.col("status") == "succeeded") & F.col("attempt_id").isNotNull())
    return {row["attempt_id"] for row in succeeded.select("attempt_id").collect()}


def last_succeeded(spark: SparkSession, lake_dir: str | Path, layer: str) -> Row | None:
    """The latest succeeded run of a layer, None if it never succeeded."""
    if not storage.table_exists(spark, lake_dir, TABLE):
        return None
    runs = storage.read_table(spark, lake_dir, TABLE)
    succeeded = runs.filter((F.col("layer") == layer) & (F.col("status") == "succeeded"))
    return succeeded.orderBy(F.col("finished_at").desc(), F.col("run_id").desc()).first()

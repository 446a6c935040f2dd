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

from pyspark.sql import Row, SparkSession
from pyspark.sql import functions as F

from lib.contracts import tables
from lib.contracts.schemas import PIPELINE_RUNS
from lib.lake import recovery, storage

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


def append_record(spark: SparkSession, lake_dir: str | Path, row: dict[str, Any]) -> None:
    frame = spark.createDataFrame([tuple(row[field.name] for field in PIPELINE_RUNS)], PIPELINE_RUNS)
    storage.append(frame, lake_dir, TABLE)


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

"""The `dq_metrics` table: each run's measurements, one row per rule, monitor or metric."""

from __future__ import annotations

from typing import Any

from pyspark.sql import SparkSession

from lib.contracts.schemas import DQ_METRICS
from lib.lake import ledger, storage


def append(
    spark: SparkSession, lake: Any, run_id: str, layer: str, metrics: list[dict[str, Any]]
) -> int:
    """Append a run's measurements (one per rule, monitor or metric) to dq_metrics; the new version."""
    measured_at = ledger.utc_now()
    rows = [
        (run_id, layer, m["rule"], m["action"], m["evaluated"], m["failed"], m["failed_pct"], m["value"], measured_at)
        for m in metrics
    ]
    return storage.append(spark.createDataFrame(rows, DQ_METRICS), lake, "dq_metrics").version

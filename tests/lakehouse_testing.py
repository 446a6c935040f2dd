"""Helpers for tests that run the real pipeline: scratch parameters and all three layers."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import nbformat
from pyspark.sql import SparkSession

from lib import layers
from lib.contracts.params import PipelineParams, load_params
from lib.lake import storage
from lib.orchestration.notebooks import SERIES, STORED_OUTPUTS_PARAMS

REES46_DIR = Path(__file__).resolve().parents[1] / "data" / "samples" / "rees46"
AUDIT_COLUMNS = frozenset({"run_id", "ingestion_timestamp", "created_at", "processed_timestamp", "quarantined_at"})


def scratch_params(root: Path, params_file: Path = STORED_OUTPUTS_PARAMS, **overrides: object) -> PipelineParams:
    """The parameter file's values with the lake and landing folders under root."""
    values = {"lake_dir": str(root / "lake"), "landing_dir": str(root / "landing"), **overrides}
    return load_params(params_file, values)


def run_all_layers(spark: SparkSession, params: PipelineParams) -> dict[str, layers.LayerSummary]:
    return {
        "bronze": layers.run_bronze(spark, params),
        "silver": layers.run_silver(spark, params),
        "gold": layers.run_gold(spark, params),
    }


def data_rows(spark: SparkSession, lake: Path, name: str) -> Counter:
    """A table's rows without audit columns, doubles to 6 decimals (`rounded`), as a multiset."""
    df = storage.read_table(spark, lake, name)
    columns = sorted(column for column in df.columns if column not in AUDIT_COLUMNS)
    return Counter(repr(rounded(row)) for row in df.select(*columns).collect())


def rounded(row: tuple) -> tuple:
    """The row with its doubles to 6 decimals: sums of doubles taken in another order differ in their last bits."""
    return tuple(round(value, 6) if isinstance(value, float) else value for value in row)


def ran_in_one_kernel(run_dir: Path) -> bool:
    """Whether the executed series in run_dir numbers its cells on from one notebook to the next.

    One kernel numbers its executions on across notebooks; a new kernel starts again at 1.
    """
    counts = [
        [cell.execution_count for cell in nbformat.read(run_dir / name, as_version=4).cells if cell.cell_type == "code"]
        for name in SERIES
    ]
    return all(later[0] == earlier[-1] + 1 for earlier, later in zip(counts, counts[1:]))

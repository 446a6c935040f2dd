"""Shared fixtures: one Delta-enabled Spark session, and a lake built by the real pipeline."""

from __future__ import annotations

from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from lib import pipeline
from lib.config import PipelineParams, load_params
from lib.notebooks import STORED_OUTPUTS_PARAMS
from lib.spark import build_spark

REES46_DIR = Path(__file__).resolve().parents[2] / "shared" / "data" / "rees46"


@pytest.fixture(scope="session")
def spark() -> SparkSession:
    """local[2], UI off, 2 shuffle partitions, UTC (set by build_spark)."""
    session = build_spark("local[2]", app_name="lakehouse-tests", shuffle_partitions=2, driver_memory="2g")
    yield session
    session.stop()


def scratch_params(root: Path, params_file: Path = STORED_OUTPUTS_PARAMS, **overrides: object) -> PipelineParams:
    """The parameter file's values with the lake and landing folders under root."""
    values = {"lake_dir": str(root / "lake"), "landing_dir": str(root / "landing"), **overrides}
    return load_params(params_file, values)


def run_all_layers(spark: SparkSession, params: PipelineParams) -> dict[str, pipeline.LayerSummary]:
    return {
        "bronze": pipeline.run_bronze(spark, params),
        "silver": pipeline.run_silver(spark, params),
        "gold": pipeline.run_gold(spark, params),
    }


@pytest.fixture(scope="session")
def pipeline_lake(spark: SparkSession, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A lake built by the real pipeline on 3 small generated days (params/ci.yaml)."""
    root = tmp_path_factory.mktemp("pipeline-lake")
    params = scratch_params(root, run_id="fixture-run")
    run_all_layers(spark, params)
    return params.path("lake_dir")

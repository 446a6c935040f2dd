"""Shared fixtures: one Delta-enabled Spark session, and a lake built by the real pipeline."""

from __future__ import annotations

from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from lakehouse_testing import run_all_layers, scratch_params
from lib.spark import build_spark


@pytest.fixture(scope="session")
def spark() -> SparkSession:
    """local[2], UI off, 2 shuffle partitions, UTC (set by build_spark)."""
    session = build_spark("local[2]", app_name="lakehouse-tests", shuffle_partitions=2, driver_memory="2g")
    yield session
    session.stop()


@pytest.fixture(scope="session")
def pipeline_lake(spark: SparkSession, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A lake built by the real pipeline on 3 small generated days (params/ci.yaml)."""
    root = tmp_path_factory.mktemp("pipeline-lake")
    params = scratch_params(root, run_id="fixture-run")
    run_all_layers(spark, params)
    return params.path("lake_dir")

"""A notebook's first steps: its parameters cell's values as validated parameters, and its session.

The parameters cell is the one place a notebook names its parameters. Papermill injects a run's
values after that cell, and `parameters(globals())` reads back every name of the cell that is a
pipeline parameter, so nothing lists them a second time; a name the cell leaves out takes its
default from `lib/contracts/params.py`, and a bad value is a one-line error naming it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pyspark.sql import SparkSession

from lib.contracts.params import PARAMETER_NAMES, PipelineParams, params_from_mapping
from lib.lake.session import build_spark


def parameters(namespace: Mapping[str, Any]) -> PipelineParams:
    """The pipeline parameters among the notebook's names (its parameters cell, papermill's injected cell)."""
    values = {name: namespace[name] for name in sorted(PARAMETER_NAMES) if name in namespace}
    return params_from_mapping(values, source="the notebook's parameters cell")


def session(params: PipelineParams) -> SparkSession:
    """The Delta-enabled session the parameters ask for; says which Spark and master, and where its UI is."""
    spark = build_spark(
        params.spark_master,
        shuffle_partitions=params.shuffle_partitions,
        driver_memory=params.driver_memory,
        ui=params.spark_ui,
    )
    print(f"Spark {spark.version}, master {spark.sparkContext.master}")
    if spark.sparkContext.uiWebUrl:
        print(f"Spark UI: {spark.sparkContext.uiWebUrl}")
    return spark

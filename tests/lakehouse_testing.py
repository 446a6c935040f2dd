"""Helpers shared by the tests: scratch parameters, all three layers, and the one comparison of two tables."""

from __future__ import annotations

import datetime as dt
import socket
from collections.abc import Collection, Sequence
from pathlib import Path

import nbformat
import yaml
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T
from pyspark.testing import assertDataFrameEqual

from lib import layers
from lib.contracts.params import PipelineParams, load_params
from lib.contracts.paths import REPO_ROOT
from lib.orchestration.notebooks import SERIES, STORED_OUTPUTS_PARAMS

REES46_DIR = REPO_ROOT / "data" / "samples" / "rees46"
# Two runs on the same input agree on their doubles to this many decimals: Spark sums doubles in the order
# its shuffle hands the partial sums over, so a sum or an average taken again differs in its last bits.
RUN_DECIMALS = 6
# The working column `comparable` adds; a table's own columns never start with "__".
NAN_COLUMNS = "__nan_columns"


def scratch_params(root: Path, params_file: Path = STORED_OUTPUTS_PARAMS, **overrides: object) -> PipelineParams:
    """The parameter file's values with the lake and landing folders under root."""
    values = {"lake_dir": str(root / "lake"), "landing_dir": str(root / "landing"), **overrides}
    return load_params(params_file, values)


def write_params(folder: Path, **values: object) -> Path:
    """A parameter file folder/params.yaml with the lake and landing folders under folder, for a run in a subprocess."""
    params_file = folder / "params.yaml"
    params_file.write_text(
        yaml.safe_dump({"lake_dir": str(folder / "lake"), "landing_dir": str(folder / "landing"), **values})
    )
    return params_file


def run_all_layers(spark: SparkSession, params: PipelineParams) -> dict[str, layers.LayerSummary]:
    return {
        "bronze": layers.run_bronze(spark, params),
        "silver": layers.run_silver(spark, params),
        "gold": layers.run_gold(spark, params),
    }


def comparable(df: DataFrame, decimals: int | None = None) -> DataFrame:
    """The DataFrame as `assert_same_rows` compares it: doubles rounded to `decimals` places when given, and NaN
    moved out of its column into NAN_COLUMNS, the names of the row's columns that held NaN.

    assertDataFrameEqual lets a NaN match any double (its tolerance test is false for NaN); as a name in a list
    of strings, it matches only a NaN in the same column.
    """
    floats = [field.name for field in df.schema if isinstance(field.dataType, (T.DoubleType, T.FloatType))]
    if not floats:
        return df

    def number(name: str) -> Column:
        return F.when(~F.isnan(name), F.col(name) if decimals is None else F.round(name, decimals))

    nan_columns = F.array_compact(F.array(*[F.when(F.isnan(name), F.lit(name)) for name in floats]))
    return df.withColumns({**{name: number(name) for name in floats}, NAN_COLUMNS: nan_columns})


def assert_same_rows(
    actual: DataFrame,
    expected: DataFrame | Sequence[tuple],
    ignored: Collection[str] = (),
    decimals: int | None = None,
    atol: float = 0.0,
) -> None:
    """Assert that `actual` holds the rows of `expected`, each as often, in any order (`assertDataFrameEqual`).

    Both leave out the `ignored` columns; the others must agree in name, order and type. `expected` may be
    literal rows, read in the actual's columns. Doubles are rounded to `decimals` places first when given,
    then must be equal within `atol`: with neither, the comparison is exact. NaN equals NaN only.
    """
    actual = actual.drop(*ignored)
    if isinstance(expected, DataFrame):
        expected = expected.drop(*ignored)
    else:
        expected = actual.sparkSession.createDataFrame(list(expected), actual.schema)
    assertDataFrameEqual(
        comparable(actual, decimals), comparable(expected, decimals), rtol=0.0, atol=atol, showOnlyDiff=True
    )


def utc(*parts: int) -> dt.datetime:
    return dt.datetime(*parts, tzinfo=dt.UTC)


def free_port() -> int:
    """A TCP port on the loopback interface that nothing listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def ran_in_one_kernel(run_dir: Path) -> bool:
    """Whether the executed series in run_dir numbers its cells on from one notebook to the next.

    One kernel numbers its executions on across notebooks; a new kernel starts again at 1.
    """
    counts = [
        [cell.execution_count for cell in nbformat.read(run_dir / name, as_version=4).cells if cell.cell_type == "code"]
        for name in SERIES
    ]
    return all(later[0] == earlier[-1] + 1 for earlier, later in zip(counts, counts[1:]))

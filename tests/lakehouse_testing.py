"""Helpers shared by the tests: scratch parameters, all three layers, and the one comparison of two tables."""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import random
import shutil
import socket
from collections.abc import Callable, Collection, Iterator, Sequence
from pathlib import Path
from typing import TypeVar

import nbformat
import yaml
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T
from pyspark.testing import assertDataFrameEqual

from lib import layers
from lib.contracts.params import PipelineParams, load_params
from lib.contracts.paths import REPO_ROOT
from lib.lake import storage
from lib.layers import gold as gold_layer
from lib.layers.bronze import generate_input
from lib.orchestration.notebooks import SERIES, STORED_OUTPUTS_PARAMS

Item = TypeVar("Item")  # a collected test: anything with a pytest node id

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


# The lake's stages on params/ci.yaml, each the one before it and one more layer: what `Stages` builds.
STAGES = ("landing", "bronze", "silver", "gold")
STAGE_RUN_ID = "fixture-run"
# Stages built when a test first asks for them: the gold stage and a fourth generated day, loaded by a run of
# this id, whose silver and gold are incremental; then a fifth day, loaded the same way.
FOURTH_DAY = "day-4"
FIFTH_DAY = "day-5"


class Stages:
    """The lake on params/ci.yaml after each layer, built once and handed out as copies.

    The stages live in `root`: root/<stage>/landing holds the generated files and root/<stage>/lake the
    lake after that stage's layer ("landing": no lake yet). The first process to need them builds them
    while holding a lock, so that the workers of a parallel run share one build; the others wait and
    read it. A stage is read-only: a test that changes a lake takes a copy.
    """

    def __init__(self, root: Path) -> None:
        self.root = root

    def lake(self, stage: str) -> Path:
        return self.root / stage / "lake"

    def params(self, stage: str, **overrides: object) -> PipelineParams:
        """The stage's own parameters: its folders, the fixture's run id, no input generated again."""
        return scratch_params(self.root / stage, run_id=STAGE_RUN_ID, generate_input=False, **overrides)

    def copy(self, stage: str, to: Path, **overrides: object) -> PipelineParams:
        """A copy of the stage's landing folder and lake in `to`, and parameters for a run on it."""
        shutil.copytree(self.root / stage, to, dirs_exist_ok=True)
        return scratch_params(to, generate_input=False, **overrides)

    def build(self, spark: SparkSession) -> Stages:
        """Build every stage unless another process did; each is a copy of the one before and one layer."""
        self.root.mkdir(parents=True, exist_ok=True)
        with exclusive(self.root / ".building"):
            if (self.root / ".built").exists():
                return self
            shutil.rmtree(self.root / STAGES[0], ignore_errors=True)
            generate_input(self.params(STAGES[0]))
            for before, stage in zip(STAGES, STAGES[1:]):
                shutil.rmtree(self.root / stage, ignore_errors=True)
                shutil.copytree(self.root / before, self.root / stage)
                getattr(layers, f"run_{stage}")(spark, self.params(stage))
            (self.root / ".built").touch()
        return self

    def with_fourth_day(self, spark: SparkSession) -> Stages:
        """Build the FOURTH_DAY stage unless another process did: a copy of the gold stage, day 4 loaded."""
        return self._with_day(spark, FOURTH_DAY, STAGES[-1], 4)

    def with_fifth_day(self, spark: SparkSession) -> Stages:
        """Build the FIFTH_DAY stage unless another process did: a copy of the FOURTH_DAY stage, day 5 loaded."""
        return self.with_fourth_day(spark)._with_day(spark, FIFTH_DAY, FOURTH_DAY, 5)

    def _with_day(self, spark: SparkSession, stage: str, start: str, days: int) -> Stages:
        """The stage `stage`: a copy of `start` and the generated day `days` loaded by a run of id `stage`."""
        with exclusive(self.root / ".building"):
            if not (self.root / f".built-{stage}").exists():
                folder = self.root / stage
                shutil.rmtree(folder, ignore_errors=True)
                shutil.copytree(self.root / start, folder)
                run_all_layers(spark, scratch_params(folder, run_id=stage, generator_days=days))
                (self.root / f".built-{stage}").touch()
        return self


@contextlib.contextmanager
def exclusive(lock_file: Path) -> Iterator[None]:
    """Hold an exclusive lock on the file for the block, waiting for another process that holds it."""
    with lock_file.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


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


def rebuilt_tables(spark: SparkSession, lake: Path, params: PipelineParams) -> dict[str, DataFrame]:
    """Gold's tables and state built in full from the current silver, materialized: a later run changes the lake."""
    version = storage.table_version(spark, lake, "events_cleaned")
    update = gold_layer.build_tables(spark, lake, params, version, gold_layer.GoldPlan("full", "a rebuild to compare"))
    rebuilt = {name: update.tables[name].localCheckpoint() for name in gold_layer.GOLD_TABLES + gold_layer.STATE_TABLES}
    update.release()
    return rebuilt


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


# What a reliability test measures, summed per kind of test by the reliability summary at the end of a run
# (tests/conftest.py): tables and rows compared with a clean run or a rebuild, and input lines accounted for.
RELIABILITY_FIGURES = (
    "tables_compared",
    "tables_equal",
    "rows_compared",
    "rows_lost",
    "rows_duplicated",
    "lines_read",
    "lines_accounted",
)


def record_reliability(record_property: Callable[[str, object], None], name: str, **figures: int) -> None:
    """Record what a reliability test measured, under `name`: the fault, bad input or comparison it tried.

    Call it before the test's asserts, so that a failed test's figures (a lost row) still reach the summary.
    A figure outside RELIABILITY_FIGURES is refused: the summary would not show it.
    """
    unknown = sorted(set(figures) - set(RELIABILITY_FIGURES))
    if unknown:
        raise ValueError(f"unknown reliability figures {', '.join(unknown)}: use {', '.join(RELIABILITY_FIGURES)}")
    record_property("reliability", {"name": name, **figures})


def shuffled(items: Sequence[Item], draw: random.Random) -> list[Item]:
    """The items with their files in a drawn order and each file's tests in a drawn order. A file's tests stay
    together, so that its module-scoped fixtures are built once, as in any order pytest itself would choose."""
    files: dict[str, list[Item]] = {}
    for item in items:
        files.setdefault(item.nodeid.split("::")[0], []).append(item)
    groups = list(files.values())
    draw.shuffle(groups)
    for group in groups:
        draw.shuffle(group)
    return [item for group in groups for item in group]

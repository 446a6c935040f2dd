"""Does a reproduced run equal the original? Its tables row by row, and its rows in the ledger."""

from __future__ import annotations

import dataclasses
import math
import operator
from functools import reduce
from pathlib import Path

from pyspark import StorageLevel
from pyspark.sql import Column, DataFrame, Row, SparkSession, Window, WindowSpec
from pyspark.sql import functions as F
from pyspark.sql import types as T

from lib.lake import ledger, storage

# Columns that record when, or by which run, a row was written: they differ in any reproduction.
AUDIT_COLUMNS = frozenset(
    {"run_id", "ingestion_timestamp", "created_at", "processed_timestamp", "quarantined_at", "measured_at",
     "evaluated_at"}
)
# Tables that keep every run's rows: only the run's own rows are compared.
PER_RUN_TABLES = frozenset({"dq_metrics"})
LEDGER_FIELDS = ("rows_in", "rows_out", "rows_quarantined", "rows_duplicate", "versions_read", "versions_written")
# Doubles closer than this (relative to the larger, or absolutely) are equal: see `doubles_close`.
RELATIVE_TOLERANCE = 1e-9
ABSOLUTE_TOLERANCE = 1e-12
# Working columns of the comparison; a table's own columns never start with "__".
_SIDE, _COPY, _RANK = "__side", "__copy", "__rank"


@dataclasses.dataclass(frozen=True)
class CheckLine:
    """One line of the report, and whether it found the reproduction identical."""

    text: str
    identical: bool


def comparable_column(name: str, data_type: T.DataType) -> Column:
    """A column as compared: a map as its sorted entries, because set operations and joins refuse maps."""
    if isinstance(data_type, T.MapType):
        return F.array_sort(F.map_entries(name)).alias(name)
    return F.col(name)


def comparable(df: DataFrame) -> DataFrame:
    """Without the audit columns, in column-name order, each column by `comparable_column`."""
    columns = sorted(name for name in df.columns if name not in AUDIT_COLUMNS)
    return df.select(*[comparable_column(name, df.schema[name].dataType) for name in columns])


def doubles_close(before: Column, after: Column) -> Column:
    """Two doubles equal but for the order they were summed in: within a relative 1e-9, or both null, or both NaN.

    Spark sums doubles in the order its shuffle hands the partial sums over, which is not fixed, so
    an average taken again can differ from the original in its last bits (`avg_price` did, in 45
    of 844 products); those are some 1e-16 apart, while a cent on a million is 1e-8. The absolute
    floor of 1e-12 is for a difference of two sums (`revenue_dod_change`), which can be 0 in one
    order and a few of the sums' last bits in another. Infinities and NaN match only themselves.
    """
    finite = (F.abs(before) < F.lit(math.inf)) & (F.abs(after) < F.lit(math.inf))
    within = F.abs(before - after) <= F.greatest(
        F.lit(ABSOLUTE_TOLERANCE), F.lit(RELATIVE_TOLERANCE) * F.greatest(F.abs(before), F.abs(after))
    )
    return before.eqNullSafe(after) | F.coalesce(finite & within, F.lit(False))


def compare(table: str, original: DataFrame, reproduced: DataFrame) -> CheckLine:
    """Row-by-row (multiset) comparison without the audit columns, doubles by `doubles_close`."""
    fields = {name: [frame.schema[name] for frame in (original, reproduced)] for name in original.columns
             if name in reproduced.columns}
    original, reproduced = comparable(original), comparable(reproduced)
    rows, reproduced_rows = original.count(), reproduced.count()
    if original.columns != reproduced.columns:
        only = sorted(set(original.columns) ^ set(reproduced.columns))
        return CheckLine(f"{table}: {rows} rows; columns differ ({', '.join(only)})", False)
    if any(before != after for before, after in fields.values()):
        return CheckLine(f"{table}: {rows} rows; column types differ", False)
    missing, extra = unmatched_rows(original, reproduced)
    if missing == extra == 0:
        return CheckLine(f"{table}: {rows} rows, identical", True)
    return CheckLine(
        f"{table}: {rows} rows, {max(missing, extra)} differ ({missing} only in the original, {extra} only in the "
        f"reproduction of {reproduced_rows} rows)",
        False,
    )


def unmatched_rows(original: DataFrame, reproduced: DataFrame) -> tuple[int, int]:
    """How many rows of each side have no partner on the other, as multisets; doubles by `doubles_close`.

    Rows equal to the last bit cancel out first, in one aggregation (what exceptAll both ways
    would find), so only the few rows left over are paired with a tolerance, and never on the
    driver: within the rows alike in every other column, each side's copies are ranked by their
    doubles and the n-th of one side is paired with the n-th of the other. The ranking goes by
    the doubles at float precision first, so rows whose doubles differ only in their last bits
    sort alike on both sides.
    """
    doubles = [name for name in original.columns if isinstance(original.schema[name].dataType, T.DoubleType)]
    others = [name for name in original.columns if name not in doubles]
    leftover = (
        original.withColumn(_SIDE, F.lit(1)).unionByName(reproduced.withColumn(_SIDE, F.lit(-1)))
        .groupBy(*original.columns).agg(F.sum(_SIDE).alias(_SIDE))
        .filter(F.col(_SIDE) != 0)
        .persist(StorageLevel.MEMORY_AND_DISK)
    )
    try:
        totals = leftover.agg(
            F.sum(F.when(F.col(_SIDE) > 0, F.col(_SIDE)).otherwise(0)).alias("missing"),
            F.sum(F.when(F.col(_SIDE) < 0, -F.col(_SIDE)).otherwise(0)).alias("extra"),
        ).first()
        missing, extra = totals["missing"] or 0, totals["extra"] or 0
        if not doubles or not missing or not extra:
            return missing, extra
        alike = Window.partitionBy(*others).orderBy(
            *[F.col(name).cast(T.FloatType()) for name in doubles], *doubles
        ).rowsBetween(Window.unboundedPreceding, Window.currentRow)
        before = _ranked_copies(leftover, F.col(_SIDE), original.columns, alike, "original_")
        after = _ranked_copies(leftover, -F.col(_SIDE), original.columns, alike, "reproduced_")
        same_place = [F.col(f"original_{name}").eqNullSafe(F.col(f"reproduced_{name}")) for name in [*others, _RANK]]
        close = [doubles_close(F.col(f"original_{name}"), F.col(f"reproduced_{name}")) for name in doubles]
        paired = before.join(after, on=reduce(operator.and_, same_place), how="inner")
        matched = paired.filter(reduce(operator.and_, close)).count()
        return missing - matched, extra - matched
    finally:
        leftover.unpersist()


def _ranked_copies(
    leftover: DataFrame, copies: Column, columns: list[str], alike: WindowSpec, prefix: str
) -> DataFrame:
    """One side's leftover rows, each as often as it is left over, numbered within `alike`; columns prefixed."""
    one_per_copy = leftover.filter(copies > 0).withColumn(_COPY, F.explode(F.sequence(F.lit(1), copies)))
    numbered = one_per_copy.select(*columns, F.row_number().over(alike).alias(_RANK))
    return numbered.select(*[F.col(name).alias(prefix + name) for name in numbered.columns])


def written_versions(runs: list[Row]) -> dict[str, int]:
    """Each table the run wrote, with the last version it wrote."""
    written: dict[str, int] = {}
    for run in runs:
        for table, version in (run["versions_written"] or {}).items():
            written[table] = max(version, written.get(table, version))
    return written


def compare_tables(
    spark: SparkSession, lake: Path, scratch_lake: Path, runs: list[Row], found: dict[str, int], new_run_id: str
) -> list[CheckLine]:
    """Each table the run wrote, at the version it wrote, against the scratch lake's table now."""
    lines = []
    for table, version in sorted(written_versions(runs).items()):
        original = storage.read_table(spark, lake, table, version=version)
        if not storage.table_exists(spark, scratch_lake, table):
            lines.append(CheckLine(f"{table}: {original.count()} rows; the reproduction did not write it", False))
            continue
        reproduced = storage.read_table(spark, scratch_lake, table)
        if table in PER_RUN_TABLES and table in found:
            original = original.exceptAll(storage.read_table(spark, lake, table, version=found[table]))
            reproduced = reproduced.exceptAll(storage.read_table(spark, scratch_lake, table, version=found[table]))
            table = f"{table} (the run's rows)"
        lines.append(compare(table, original, reproduced))
    reproduced_runs = _reproduced_rows(spark, scratch_lake, new_run_id)
    extra = sorted({name for row in reproduced_runs.values() for name in (row["versions_written"] or {})}
                   - set(written_versions(runs)))
    lines += [CheckLine(f"{name}: written by the reproduction, not by the run", False) for name in extra]
    return lines


def compare_ledger(spark: SparkSession, scratch_lake: Path, runs: list[Row], new_run_id: str) -> list[CheckLine]:
    """Each layer's counts and Delta versions read and written, against the reproduction's ledger row."""
    reproduced_runs = _reproduced_rows(spark, scratch_lake, new_run_id)
    lines = []
    for run in runs:
        reproduced = reproduced_runs.get(run["layer"])
        if reproduced is None:
            lines.append(CheckLine(f"pipeline_runs {run['layer']}: the reproduction has no succeeded row", False))
            continue
        different = [f"{field} {reproduced[field]} (was {run[field]})" for field in LEDGER_FIELDS
                     if reproduced[field] != run[field]]
        text = "; ".join(different) if different else "rows and Delta versions read and written as recorded"
        lines.append(CheckLine(f"pipeline_runs {run['layer']}: {text}", not different))
    return lines


def _reproduced_rows(spark: SparkSession, scratch_lake: Path, new_run_id: str) -> dict[str, Row]:
    if not storage.table_exists(spark, scratch_lake, ledger.TABLE):
        return {}
    runs = storage.read_table(spark, scratch_lake, ledger.TABLE)
    rows = runs.filter((F.col("run_id") == new_run_id) & (F.col("status") == "succeeded")).collect()
    return {row["layer"]: row for row in sorted(rows, key=lambda row: row["finished_at"])}

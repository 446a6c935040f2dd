"""Does a reproduced run equal the original? Its tables row by row, and its rows in the ledger."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from pyspark.sql import Column, DataFrame, Row, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from lib import ledger, storage

# Columns that record when, or by which run, a row was written: they differ in any reproduction.
AUDIT_COLUMNS = frozenset(
    {"run_id", "ingestion_timestamp", "created_at", "processed_timestamp", "quarantined_at", "measured_at",
     "evaluated_at"}
)
# Tables that keep every run's rows: only the run's own rows are compared.
PER_RUN_TABLES = frozenset({"dq_metrics"})
LEDGER_FIELDS = ("rows_in", "rows_out", "rows_quarantined", "rows_duplicate", "versions_read", "versions_written")


@dataclasses.dataclass(frozen=True)
class CheckLine:
    """One line of the report, and whether it found the reproduction identical."""

    text: str
    identical: bool


def comparable_column(name: str, data_type: T.DataType) -> Column:
    """A column as compared: a map as its sorted entries (set operations refuse maps), a double to float precision.

    Spark sums doubles in the order its shuffle hands the partial sums over, which is not fixed, so
    an average taken again can differ from the original in its last bits (`avg_price` did, in 45
    of 844 products). Seven significant digits still tell 118.66 from 118.67.
    """
    if isinstance(data_type, T.MapType):
        return F.array_sort(F.map_entries(name)).alias(name)
    if isinstance(data_type, T.DoubleType):
        return F.col(name).cast(T.FloatType()).alias(name)
    return F.col(name)


def comparable(df: DataFrame) -> DataFrame:
    """Without the audit columns, in column-name order, each column by `comparable_column`."""
    columns = sorted(name for name in df.columns if name not in AUDIT_COLUMNS)
    return df.select(*[comparable_column(name, df.schema[name].dataType) for name in columns])


def compare(table: str, original: DataFrame, reproduced: DataFrame) -> CheckLine:
    """Row-by-row (multiset) comparison without the audit columns, doubles to float precision."""
    fields = {name: [frame.schema[name] for frame in (original, reproduced)] for name in original.columns
             if name in reproduced.columns}
    original, reproduced = comparable(original), comparable(reproduced)
    rows, reproduced_rows = original.count(), reproduced.count()
    if original.columns != reproduced.columns:
        only = sorted(set(original.columns) ^ set(reproduced.columns))
        return CheckLine(f"{table}: {rows} rows; columns differ ({', '.join(only)})", False)
    if any(before != after for before, after in fields.values()):
        return CheckLine(f"{table}: {rows} rows; column types differ", False)
    missing = original.exceptAll(reproduced).count()
    extra = reproduced.exceptAll(original).count()
    if missing == extra == 0:
        return CheckLine(f"{table}: {rows} rows, identical", True)
    return CheckLine(
        f"{table}: {rows} rows, {max(missing, extra)} differ ({missing} only in the original, {extra} only in the "
        f"reproduction of {reproduced_rows} rows)",
        False,
    )


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

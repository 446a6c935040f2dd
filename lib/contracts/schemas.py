"""Every table's columns as Spark types, built from the table registry (`lib.contracts.tables`).

The schemas are the contracts the table builders end with (`conform`), and the registry's column
descriptions become Delta column comments (`with_column_comments`). The types are parsed here, not by
Spark's DDL parser, because that one needs a running JVM and the schemas are built on import.
"""

from __future__ import annotations

from collections.abc import Iterable

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from lib.contracts import tables

# The column types the registry uses, by their DDL name.
_ATOMIC_TYPES: dict[str, T.DataType] = {
    kind.simpleString().upper(): kind
    for kind in (T.StringType(), T.LongType(), T.IntegerType(), T.DoubleType(), T.DateType(), T.TimestampType())
}


def spark_type(ddl: str) -> T.DataType:
    """A registry column type (`BIGINT`, `ARRAY<STRING>`, `MAP<STRING,BIGINT>`, ...) as a Spark type."""
    text = ddl.strip().upper()
    if text in _ATOMIC_TYPES:
        return _ATOMIC_TYPES[text]
    if text.startswith("ARRAY<") and text.endswith(">"):
        return T.ArrayType(spark_type(text[len("ARRAY<"):-1]))
    if text.startswith("MAP<") and text.endswith(">"):
        key, value = _split_pair(text[len("MAP<"):-1], ddl)
        return T.MapType(spark_type(key), spark_type(value))
    raise ValueError(
        f"column type {ddl!r} in lib/contracts/tables.py is not one of {', '.join(_ATOMIC_TYPES)}, ARRAY<...> or "
        "MAP<...,...>: use one of those or add the type to lib/contracts/schemas.py"
    )


def _split_pair(text: str, ddl: str) -> tuple[str, str]:
    """`K,V` split at its one comma outside angle brackets."""
    depth = 0
    for index, char in enumerate(text):
        depth += {"<": 1, ">": -1}.get(char, 0)
        if char == "," and depth == 0:
            return text[:index], text[index + 1:]
    raise ValueError(f"column type {ddl!r} in lib/contracts/tables.py has no key and value type: write MAP<K,V>")


def struct(columns: Iterable[tables.Column], described: bool = False) -> T.StructType:
    """The columns as a Spark schema; `described` puts each description in its field's `comment`, as Delta keeps it."""
    return T.StructType([
        T.StructField(column.name, spark_type(column.type), True, {"comment": column.description} if described else None)
        for column in columns
    ])


SOURCE_TYPES = struct(tables.SOURCE_FIELDS)
EVENTS_RAW = struct(tables.EVENTS_RAW.columns)
EVENTS_CLEANED = struct(tables.EVENTS_CLEANED.columns)
QUARANTINE_COLUMNS = struct(tables.QUARANTINE_FIELDS)
QUARANTINE_HISTORY = struct(tables.QUARANTINE_HISTORY.columns)
CUSTOMER_METRICS = struct(tables.CUSTOMER_METRICS.columns)
PRODUCT_PERFORMANCE = struct(tables.PRODUCT_PERFORMANCE.columns)
DAILY_SALES_SUMMARY = struct(tables.DAILY_SALES_SUMMARY.columns)
CONVERSION_FUNNEL = struct(tables.CONVERSION_FUNNEL.columns)
CUSTOMER_SESSIONS = struct(tables.CUSTOMER_SESSIONS.columns)
CUSTOMER_VIEWED_PRODUCTS = struct(tables.CUSTOMER_VIEWED_PRODUCTS.columns)
PRODUCT_USERS = struct(tables.PRODUCT_USERS.columns)
PRODUCT_TOTALS = struct(tables.PRODUCT_TOTALS.columns)
DQ_METRICS = struct(tables.DQ_METRICS.columns)
# The ledger's columns that only a maintenance run (lib.ops.maintain) fills. A layer run's row leaves them out
# (PIPELINE_RUNS), so a lake never maintained has none of them; the first maintenance's row, with every
# column (MAINTENANCE_RUNS), adds them, since appends merge the schema, and older rows read them as null.
MAINTENANCE_ONLY: tuple[str, ...] = ("maintenance",)
PIPELINE_RUNS = struct(column for column in tables.PIPELINE_RUNS.columns if column.name not in MAINTENANCE_ONLY)
MAINTENANCE_RUNS = struct(tables.PIPELINE_RUNS.columns)


def conform(df: DataFrame, schema: T.StructType) -> DataFrame:
    """Select, cast and order exactly the schema's columns: the last step of a table builder."""
    return df.select(*[F.col(field.name).cast(field.dataType).alias(field.name) for field in schema])


def column_description(table: str, column: str) -> str | None:
    """The column's description in the registry; None for a table or column it does not describe."""
    registered = tables.TABLES.get(table)
    return registered.description(column) if registered is not None else None


def with_column_comments(df: DataFrame, table: str) -> DataFrame:
    """The same columns, each with its description as the `comment` metadata Delta writes as a column comment."""

    def described(field: T.StructField) -> Column:
        column = F.col("`" + field.name.replace("`", "``") + "`")
        text = column_description(table, field.name)
        return column.alias(field.name, metadata={**field.metadata, "comment": text}) if text else column

    return df.select(*[described(field) for field in df.schema])

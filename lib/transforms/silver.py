"""Silver transforms: standardize, validate, deduplicate, derive (the order of work in docs/definitions.md)."""

from __future__ import annotations

from collections.abc import Mapping
from functools import reduce

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from lib.contracts import tables
from lib.contracts.schemas import EVENTS_CLEANED, EVENTS_RAW, QUARANTINE_COLUMNS
from lib.transforms import quality

DEDUP_KEY: tuple[str, ...] = tables.EVENTS_CLEANED.key
FIRST_OCCURRENCE_ORDER: tuple[str, ...] = ("ingestion_timestamp", "source_file", "source_line")
STRING_COLUMNS: tuple[str, ...] = ("event_type", "category_code", "brand", "user_session")
UNKNOWN = "unknown"


# What the regular expression class \s matches: space, tab, newline, vertical tab, form feed, carriage return.
WHITESPACE = " \t\n\u000b\f\r"


def strip_whitespace(column: Column) -> Column:
    """Trim every kind of surrounding whitespace (spaces, tabs, carriage returns)."""
    return F.btrim(column, F.lit(WHITESPACE))


def unknown_if_blank(column: Column) -> Column:
    return F.when(column.isNull() | (column == ""), F.lit(UNKNOWN)).otherwise(column)


def with_bronze_record(bronze: DataFrame) -> DataFrame:
    """Keep the bronze values of the columns `standardize` rewrites in `_bronze`, for the quarantine.

    Validation only adds columns, so every other bronze column still holds its bronze value.
    """
    return bronze.withColumn("_bronze", F.struct(*[F.col(name) for name in STRING_COLUMNS]))


def standardize(df: DataFrame) -> DataFrame:
    """Trim the strings, lowercase event_type and brand, blank category_code and brand to unknown."""
    trimmed = {name: strip_whitespace(F.col(name)) for name in STRING_COLUMNS}
    return df.withColumns(trimmed).withColumns(
        {
            "event_type": F.lower("event_type"),
            "brand": unknown_if_blank(F.lower("brand")),
            "category_code": unknown_if_blank(F.col("category_code")),
        }
    )


def validate(df: DataFrame, max_price: float, actions: Mapping[str, str]) -> DataFrame:
    """Flag each rule's failures and list the drop rules a row fails in `quarantine_reasons`."""
    return df.transform(quality.with_rule_failures, max_price).transform(quality.with_quarantine_reasons, actions)


def is_kept() -> Column:
    return F.size("quarantine_reasons") == 0


def occurrence(*within: Column) -> Column:
    """A row's rank among the rows of its dedup key (and of `within`): 1 for the first occurrence.

    First means earliest ingestion, then source file, then line.
    """
    first_first = (
        Window.partitionBy(*within, *DEDUP_KEY)
        .orderBy(*FIRST_OCCURRENCE_ORDER)
        .rowsBetween(Window.unboundedPreceding, Window.currentRow)
    )
    return F.row_number().over(first_first)


def filter_first_occurrence(df: DataFrame) -> DataFrame:
    """Keep the first row of each dedup key."""
    return df.withColumn("_occurrence", occurrence()).filter(F.col("_occurrence") == 1).drop("_occurrence")


def same_event(left: DataFrame, right: DataFrame) -> Column:
    """Join condition: the two rows have the same dedup key, a null matching a null."""
    return reduce(lambda a, b: a & b, [left[key].eqNullSafe(right[key]) for key in DEDUP_KEY])


def event_id(key: tuple[str, ...] = DEDUP_KEY) -> Column:
    """Lowercase hex SHA-256 of the dedup key joined with '|', a null rendered as ''."""
    rendered = {"event_time": F.date_format("event_time", "yyyy-MM-dd HH:mm:ss")}
    parts = [F.coalesce(rendered.get(name, F.col(name).cast("string")), F.lit("")) for name in key]
    return F.sha2(F.concat_ws("|", *parts), 256)


def category_level(level: int) -> Column:
    """The level-th dot-separated part of category_code; only l1 of an unknown code is set."""
    part = F.nullif(F.try_element_at(F.split("category_code", r"\.", -1), F.lit(level)), F.lit(""))
    if level == 1:
        return F.when(F.col("category_code") == UNKNOWN, F.lit(UNKNOWN)).otherwise(part)
    return F.when(F.col("category_code") != UNKNOWN, part)


def with_derived_columns(df: DataFrame) -> DataFrame:
    return df.withColumns(
        {
            "event_id": event_id(),
            "event_date": F.to_date("event_time"),
            "event_hour": F.hour("event_time"),
            "event_day_of_week": F.weekday("event_time") + 1,
            "category_l1": category_level(1),
            "category_l2": category_level(2),
            "category_l3": category_level(3),
            "processed_timestamp": F.current_timestamp(),
        }
    )


def build_events_cleaned(valid: DataFrame) -> DataFrame:
    """Silver rows from validated, kept rows: deduplicated, derived, in the table's order."""
    derived = valid.transform(filter_first_occurrence).transform(with_derived_columns)
    return derived.select(*[F.col(field.name).cast(field.dataType).alias(field.name) for field in EVENTS_CLEANED])


def build_events_quarantine(rejected: DataFrame, run_id: str, bronze_columns: list[str]) -> DataFrame:
    """Quarantine rows: the original bronze values, every failed drop rule, and this run's id."""
    original = [
        F.col(f"_bronze.{name}" if name in STRING_COLUMNS else name).alias(name)
        for name in bronze_columns
        if name != "run_id"
    ]
    contract = {
        "quarantine_reasons": F.col("quarantine_reasons"),
        "quarantine_reason": F.array_join("quarantine_reasons", ", "),
        "quarantined_at": F.current_timestamp(),
    }
    quarantined = rejected.select(
        *original, F.lit(run_id).alias("run_id"), *[column.alias(name) for name, column in contract.items()]
    )
    ordered = [*bronze_columns, *QUARANTINE_COLUMNS.names]
    return quarantined.select(*ordered)


def bronze_columns_of(bronze: DataFrame) -> list[str]:
    """The bronze columns in table order: the contract's, then extra source columns."""
    contract = [field.name for field in EVENTS_RAW]
    return contract + [name for name in bronze.columns if name not in contract]

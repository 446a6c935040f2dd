"""Bronze transforms: source lines to typed `events_raw` rows, losing nothing.

Files are read as lines (by `lib.lake.landing.read_lines`), so that a line that does not parse is
still a row: its typed columns are null where unparseable and the whole line is kept in
`_rescued_data`. Bytes that are not UTF-8 become U+FFFD, and a line holding U+FFFD is rescued too.
A header line, when a file has one, says which field is which column (a renamed header is mapped
by the `column_aliases` parameter); columns beyond the nine source columns are kept as strings.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T

from lib.contracts.rules import SOURCE_COLUMNS
from lib.contracts.schemas import EVENTS_RAW, SOURCE_TYPES

# A comma outside double quotes: the CSV field separator.
FIELD_SEPARATOR = r',(?=(?:[^"]*"[^"]*")*[^"]*$)'
# What Spark's decoder puts in place of bytes that are not UTF-8.
REPLACEMENT_CHARACTER = "\ufffd"
BYTE_ORDER_MARK = "\ufeff"
# A first line naming at least this many source columns is a header, not an event.
MIN_HEADER_NAMES = 2
# The shortest event_time with a time of day: yyyy-MM-dd HH:mm:ss (a bare date is not an event time).
MIN_TIMESTAMP_LENGTH = 19
DEFAULT_LAYOUT: dict[str, int] = {name: position for position, name in enumerate(SOURCE_COLUMNS)}
# Names a source column cannot take in bronze: the audit columns and the parser's working columns.
# A source column of such a name is kept as `source_<name>`.
RESERVED_NAMES: frozenset[str] = frozenset(
    (set(EVENTS_RAW.names) - set(SOURCE_COLUMNS)) | {"value", "fields", "_file_path", "_layout", "_field_count"}
)
LAYOUT_SCHEMA = "_file_path STRING, _layout MAP<STRING, INT>, _field_count INT, source_file STRING"


def line_blocks(lines: DataFrame) -> DataFrame:
    """Per file block: its first row id, its line count, and its first line (a file's first line is its header).

    `_row_id` (monotonically increasing, assigned at the scan) is consecutive within a file block.
    The result has one row per block, small enough to collect and broadcast.
    """
    return lines.groupBy("_file_path", "_block_start").agg(
        F.min("_row_id").alias("_block_first_row"),
        F.count(F.lit(1)).alias("_block_lines"),
        F.min_by("value", "_row_id").alias("_block_first_line"),
    )


def with_source_line(lines: DataFrame, blocks: DataFrame | None = None) -> DataFrame:
    """Add `source_line`, the 1-based line number in its file.

    A block's first line number is the count of lines in the blocks before it. `blocks` is
    `line_blocks(lines)`, passed in when already computed, so that the lines are not scanned again.
    """
    before_block = Window.partitionBy("_file_path").orderBy("_block_start").rowsBetween(
        Window.unboundedPreceding, -1
    )
    offsets = (
        (line_blocks(lines) if blocks is None else blocks)
        .withColumn("_block_offset", F.coalesce(F.sum("_block_lines").over(before_block), F.lit(0)))
        .select("_file_path", "_block_start", "_block_first_row", "_block_offset")
    )
    line_in_block = F.col("_row_id") - F.col("_block_first_row")
    return (
        lines.join(F.broadcast(offsets), on=["_file_path", "_block_start"], how="inner")
        .withColumn("source_line", (F.col("_block_offset") + line_in_block + 1).cast("long"))
        .drop("_block_first_row", "_block_offset")
    )


def unquote(field: Column) -> Column:
    """A CSV field without its surrounding quotes, with doubled quotes undone."""
    is_quoted = field.startswith('"') & field.endswith('"') & (F.length(field) >= 2)
    inner = F.replace(F.substring(field, F.lit(2), F.length(field) - 2), F.lit('""'), F.lit('"'))
    return F.when(is_quoted, inner).otherwise(field)


def valid_text(value: Column) -> Column:
    """The line as valid UTF-8 (bytes that are not become U+FFFD), without a leading byte-order mark."""
    return F.ltrim(F.make_valid_utf8(value), F.lit(BYTE_ORDER_MARK))


def with_fields(lines: DataFrame) -> DataFrame:
    """Make `value` valid UTF-8 and add `fields`: the line split on commas outside quotes, unquoted.

    Lines without a quote, nearly all of them, take the plain split, several times faster.
    """
    quoted = F.transform(F.split("value", FIELD_SEPARATOR, -1), unquote)
    return lines.withColumn("value", valid_text(F.col("value"))).withColumn(
        "fields", F.when(F.col("value").contains('"'), quoted).otherwise(F.split("value", ",", -1))
    )


def column_name(header_field: str) -> str:
    """A header field as a Delta column name: lowercased, other characters as underscores."""
    name = re.sub(r"[^0-9a-z_]+", "_", header_field.strip().lower()).strip("_")
    return name or "unnamed"


def column_name_of(field: Column) -> Column:
    """`column_name` as a Column expression."""
    name = F.regexp_replace(F.regexp_replace(F.lower(F.trim(field)), r"[^0-9a-z_]+", "_"), r"^_+|_+$", "")
    return F.when(name == "", F.lit("unnamed")).otherwise(name)


def normalized_aliases(aliases: Mapping[str, str] | None) -> dict[str, str]:
    """The column_aliases parameter with both sides as column names."""
    return {column_name(header): column_name(column) for header, column in (aliases or {}).items()}


def is_header(fields: Column, source_line: Column, aliases: Mapping[str, str] | None = None) -> Column:
    """The first line of a file is a header when two or more of its fields name source columns.

    A name in `column_aliases` counts as the source column it stands for.
    """
    known = sorted(set(SOURCE_COLUMNS) | set(normalized_aliases(aliases)))
    names_column = F.filter(fields, lambda field: column_name_of(field).isin(known))
    return (source_line == 1) & (F.size(names_column) >= MIN_HEADER_NAMES)


def filter_data_lines(lines: DataFrame, aliases: Mapping[str, str] | None = None) -> DataFrame:
    """Drop header lines and blank lines: neither carries an event."""
    is_blank = F.trim(F.col("value")) == ""
    return lines.filter(~is_header(F.col("fields"), F.col("source_line"), aliases) & ~is_blank)


def layout_of(header: Iterable[str], aliases: Mapping[str, str] | None = None) -> dict[str, int]:
    """Column name -> field position for a file's header; the first of repeated names wins.

    A header name in `aliases` (header name -> source column) takes the source column's place.
    """
    renamed = normalized_aliases(aliases)
    layout: dict[str, int] = {}
    for position, field in enumerate(header):
        name = column_name(field)
        name = renamed.get(name, name)
        layout.setdefault(f"source_{name}" if name in RESERVED_NAMES else name, position)
    return layout


def header_drift(header: list[str], aliases: Mapping[str, str] | None = None) -> dict[str, list[str]]:
    """How a file's header differs from the source columns: extra, missing, reordered, renamed.

    `reordered` lists the source columns in the header's order when that order is not the source's.
    """
    layout = layout_of(header, aliases)
    present = sorted((position, name) for name, position in layout.items() if name in SOURCE_COLUMNS)
    in_header_order = [name for _, name in present]
    in_source_order = [name for name in SOURCE_COLUMNS if name in layout]
    renamed = normalized_aliases(aliases)
    return {
        "extra": [name for name in layout if name not in SOURCE_COLUMNS],
        "missing": [name for name in SOURCE_COLUMNS if name not in layout],
        "reordered": in_header_order if in_header_order != in_source_order else [],
        "renamed": [f"{column_name(field)} -> {renamed[column_name(field)]}"
                    for field in header if column_name(field) in renamed],
    }


def extra_columns(layouts: Iterable[Mapping[str, int]]) -> list[str]:
    """Columns that some file has beyond the nine source columns, sorted."""
    return sorted({name for layout in layouts for name in layout} - set(SOURCE_COLUMNS))


def with_layout(lines: DataFrame, layouts: DataFrame) -> DataFrame:
    """Attach each file's layout; a file without a header has the source files' default one.

    Each source column's position is looked up once per file (`_at_<column>`), not once per line.
    `layouts` (`LAYOUT_SCHEMA`) has a row per file, with the file's name in the lake (`source_file`,
    worked out by `landing_files.source_file`), attached as `_source_file`; its layout is null
    for a file without a header.
    """
    default_layout = F.create_map(*[F.lit(part) for item in DEFAULT_LAYOUT.items() for part in item])
    layouts = layouts.withColumnRenamed("source_file", "_source_file")
    positions = {position_column(name): F.try_element_at("_layout", F.lit(name)) for name in SOURCE_COLUMNS}
    has_no_header = F.col("_layout").isNull()
    default_positions = {
        position_column(name): F.when(has_no_header, F.lit(position)).otherwise(F.col(position_column(name)))
        for name, position in DEFAULT_LAYOUT.items()
    }
    return (
        lines.join(F.broadcast(layouts.withColumns(positions)), on="_file_path", how="left")
        .withColumns(default_positions)
        .withColumn("_layout", F.coalesce("_layout", default_layout))
        .withColumn("_field_count", F.coalesce("_field_count", F.lit(len(SOURCE_COLUMNS))))
    )


def position_column(name: str) -> str:
    """The column holding a source column's field position in its file's lines."""
    return f"_at_{name}"


def raw_field(name: str) -> Column:
    """The text of a column's field, null where the file has no such field or it is empty."""
    if name in DEFAULT_LAYOUT:
        position = F.col(position_column(name))
    else:
        position = F.try_element_at(F.col("_layout"), F.lit(name))
    return F.nullif(F.try_element_at(F.col("fields"), position + 1), F.lit(""))


def parse_timestamp(text: Column) -> Column:
    """`2019-10-01 00:00:07 UTC` (a zone is optional and honoured; none means UTC), else null."""
    trimmed = F.trim(text)
    return F.when(F.length(trimmed) >= MIN_TIMESTAMP_LENGTH, trimmed.try_cast("timestamp"))


def parse_field(text: Column, data_type: T.DataType) -> Column:
    """A field cast to its type, null where it does not parse."""
    if isinstance(data_type, T.TimestampType):
        return parse_timestamp(text)
    if isinstance(data_type, T.StringType):
        return text
    return text.try_cast(data_type)


def with_typed_columns(lines: DataFrame, extras: Iterable[str]) -> DataFrame:
    """Type the source columns, keep extra columns as text, and rescue lines that do not parse."""
    typed = {field.name: parse_field(raw_field(field.name), field.dataType) for field in SOURCE_TYPES}
    unparsed = [raw_field(name).isNotNull() & typed[name].isNull() for name in typed]
    has_wrong_field_count = F.size("fields") != F.col("_field_count")
    is_not_utf8 = F.col("value").contains(REPLACEMENT_CHARACTER)
    is_rescued = F.greatest(has_wrong_field_count, is_not_utf8, *unparsed)
    return lines.withColumns(typed | {name: raw_field(name) for name in extras}).withColumn(
        "_rescued_data", F.when(is_rescued, F.col("value"))
    )


def build_events_raw(
    lines: DataFrame,
    layouts: DataFrame,
    extras: list[str],
    run_id: str,
    ingested_at: str,
    aliases: Mapping[str, str] | None = None,
) -> DataFrame:
    """Bronze rows from numbered source lines: typed, audited, in the table's column order."""
    parsed = (
        lines.transform(with_fields)
        .transform(filter_data_lines, aliases)
        .transform(with_layout, layouts)
        .transform(with_typed_columns, extras)
    )
    audited = parsed.withColumns(
        {
            "ingestion_timestamp": F.lit(ingested_at).cast("timestamp"),
            "source_file": F.col("_source_file"),
            "created_at": F.current_timestamp(),
            "run_id": F.lit(run_id),
        }
    )
    contract = [F.col(field.name).cast(field.dataType).alias(field.name) for field in EVENTS_RAW]
    return audited.select(*contract, *[F.col(name).cast("string") for name in extras])


def file_counts(events_raw: DataFrame) -> DataFrame:
    """Per source file: rows, rescued rows, rows not UTF-8 (and the first's line), unbalanced quotes.

    An odd number of quotes in a line is a quoted field that went on in the next line; the first
    rescued line shows what the file's lines look like when none parses.
    """
    rescued = F.col("_rescued_data")
    not_utf8 = rescued.contains(REPLACEMENT_CHARACTER)
    quotes = F.length(rescued) - F.length(F.replace(rescued, F.lit('"'), F.lit("")))
    return events_raw.groupBy("source_file").agg(
        F.count(F.lit(1)).alias("rows"),
        F.count(rescued).alias("rescued"),
        F.count_if(not_utf8).alias("not_utf8"),
        F.min(F.when(not_utf8, F.col("source_line"))).alias("first_not_utf8_line"),
        F.count_if(quotes % 2 == 1).alias("unbalanced_quotes"),
        F.min_by(rescued, F.when(rescued.isNotNull(), F.col("source_line"))).alias("first_rescued"),
    )

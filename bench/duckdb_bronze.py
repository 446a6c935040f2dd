"""Bronze in DuckDB SQL: every line of every landing file, typed the way Spark's casts type it.

Each file is read as text and split into lines, as the pipeline does, so that a header or not,
CRLF, a missing last newline or a cut last line neither loses nor invents a row. An empty field is
null; a non-empty field that does not parse, or a line with the wrong number of fields, keeps the
whole line in `_rescued_data`. DuckDB's own casts accept more than Spark's (`2.05E+18` or `1.0` as
a BIGINT, `24:00:00` as a time), so each field is matched against Spark's forms first.

Narrower than the pipeline, on purpose (neither the generator nor the REES46 files have any): an
event_time with a named zone other than UTC, GMT, UT or Z, a year beyond 9999, or a hexadecimal
price is rescued here while Spark parses it; columns a header names beyond the nine source
columns are not carried (no gold table reads them).
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import duckdb
from duckdb.sqltypes import VARCHAR

SOURCE_COLUMNS: tuple[str, ...] = (
    "event_time", "event_type", "product_id", "category_id", "category_code", "brand", "price", "user_id",
    "user_session",
)
LONG_COLUMNS = ("product_id", "category_id", "user_id")

# Hadoop's line reader ends a line at LF, CRLF or CR.
LINE_BREAK = r"\r\n|\r|\n"
# What Java's trim, and so Spark's casts, remove around a number or a timestamp.
PAD = r"[\x00-\x20]*"
LONG_TEXT = rf"^{PAD}([+-]?[0-9]+){PAD}$"
DOUBLE_TEXT = rf"^{PAD}([+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?)[fFdD]?{PAD}$"
SPECIAL_DOUBLE_TEXT = rf"^{PAD}(?:[+-]?(?i:inf|infinity)|(?i:nan)|[+-]NaN){PAD}$"
# yyyy-M-d H:m:s[.fraction] then UTC, GMT, UT or Z and/or an offset: Spark's forms of a UTC instant.
TIMESTAMP_TEXT = (
    rf"^{PAD}(\d{{4}})-(\d{{1,2}})-(\d{{1,2}})[ T](\d{{1,2}}):(\d{{1,2}}):(\d{{1,2}})(?:\.(\d*))? *"
    rf"(?:Z|(?:UTC|GMT|UT)?(?:([+-])(\d{{1,2}})(?::?(\d{{2}}))?)?){PAD}$"
)
# The source's own form, nearly every line: parsed without taking it apart.
CANONICAL_TIMESTAMP_TEXT = r"^\d{4}-\d{2}-\d{2} ([01]\d|2[0-3]):[0-5]\d:[0-5]\d UTC$"
TIMESTAMP_PARTS = ("y", "mo", "d", "h", "mi", "s", "frac", "sign", "oh", "om")
MIN_TIMESTAMP_LENGTH = 19
# A comma outside double quotes (the pipeline's definition of a field separator).
QUOTED_FIELD_SEPARATOR = re.compile(r',(?=(?:[^"]*"[^"]*")*[^"]*$)')

MACROS = rf"""
CREATE OR REPLACE TEMP MACRO fields_of(line) AS
    CASE WHEN contains(line, '"') THEN split_quoted(line) ELSE string_split(line, ',') END;
CREATE OR REPLACE TEMP MACRO parse_long(text) AS
    TRY_CAST(nullif(regexp_extract(text, '{LONG_TEXT}', 1), '') AS BIGINT);
CREATE OR REPLACE TEMP MACRO parse_double(text) AS CASE
    WHEN regexp_full_match(text, '{DOUBLE_TEXT}') THEN CAST(regexp_extract(text, '{DOUBLE_TEXT}', 1) AS DOUBLE)
    WHEN regexp_full_match(text, '{SPECIAL_DOUBLE_TEXT}') THEN CASE
        WHEN contains(lower(text), 'nan') THEN 'NaN'::DOUBLE
        WHEN contains(text, '-') THEN '-Infinity'::DOUBLE
        ELSE 'Infinity'::DOUBLE END
    END;
CREATE OR REPLACE TEMP MACRO timestamp_of(m) AS CASE
    WHEN m.y <> '' AND m.h::INT <= 23 AND m.mi::INT <= 59 AND m.s::INT <= 59 THEN
        TRY_CAST(m.y || '-' || lpad(m.mo, 2, '0') || '-' || lpad(m.d, 2, '0') || ' ' || lpad(m.h, 2, '0') || ':'
                 || lpad(m.mi, 2, '0') || ':' || lpad(m.s, 2, '0') || '.' || rpad(left(m.frac, 6), 6, '0') AS TIMESTAMP)
        - to_minutes(CASE WHEN m.sign = '-' THEN -1 ELSE 1 END
                     * (coalesce(TRY_CAST(m.oh AS INT), 0) * 60 + coalesce(TRY_CAST(m.om AS INT), 0)))
    END;
CREATE OR REPLACE TEMP MACRO parse_timestamp(text) AS CASE
    WHEN regexp_full_match(text, '{CANONICAL_TIMESTAMP_TEXT}') THEN TRY_CAST(left(text, 19) AS TIMESTAMP)
    WHEN length(trim(text)) >= {MIN_TIMESTAMP_LENGTH}
    THEN timestamp_of(regexp_extract(text, '{TIMESTAMP_TEXT}', {list(TIMESTAMP_PARTS)}))
    END;
"""


def split_quoted(line: str) -> list[str]:
    """A line with quotes split on commas outside quotes, each field unquoted (rare: a UDF is fine)."""
    fields = QUOTED_FIELD_SEPARATOR.split(line)
    return [f[1:-1].replace('""', '"') if len(f) >= 2 and f[0] == f[-1] == '"' else f for f in fields]


def column_name(header_field: str) -> str:
    """A header field as a column name: lowercased, other characters as underscores."""
    return re.sub(r"[^0-9a-z_]+", "_", header_field.strip().lower()).strip("_") or "unnamed"


def source_positions(header: list[str] | None) -> tuple[list[int | None], int]:
    """1-based field position of each source column (first of repeated names), and the field count."""
    if header is None:
        return list(range(1, len(SOURCE_COLUMNS) + 1)), len(SOURCE_COLUMNS)
    positions: dict[str, int] = {}
    for position, field in enumerate(header, start=1):
        positions.setdefault(column_name(field), position)
    return [positions.get(name) for name in SOURCE_COLUMNS], len(header)


def landing_files(landing_dir: Path) -> list[tuple[str, str]]:
    """(path, path relative to the landing folder) of every file under it, hidden ones aside."""
    found = [p for p in landing_dir.rglob("*") if p.is_file() and not p.name.startswith((".", "_"))]
    return sorted((str(p), p.relative_to(landing_dir).as_posix()) for p in found)


def load_landing_lines(con: duckdb.DuckDBPyConnection, files: list[tuple[str, str]]) -> None:
    """Temp table `landing_lines`: every line of every file, numbered from 1, headers marked."""
    con.execute("CREATE OR REPLACE TEMP TABLE landing_files (path VARCHAR, source_file VARCHAR)")
    con.executemany("INSERT INTO landing_files VALUES (?, ?)", files)
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE landing_lines AS
        WITH files AS (
            SELECT f.source_file, regexp_split_to_array(t.content, '{LINE_BREAK}') AS lines
            FROM read_text($paths) AS t JOIN landing_files AS f ON f.path = t.filename
        ), numbered AS (
            SELECT source_file, unnest(lines) AS value, generate_subscripts(lines, 1) AS source_line,
                   len(lines) AS line_count
            FROM files
        )
        SELECT source_file, source_line, value,
               CASE WHEN source_line = 1
                    THEN len(list_filter(fields_of(value), lambda f: lower(trim(f)) = 'event_time')) > 0
                    ELSE false END AS is_header
        FROM numbered
        -- the empty piece after a file's last line break is not a line
        WHERE NOT (source_line = line_count AND value = '')
        """,
        {"paths": [path for path, _ in files]},
    )


def load_layouts(con: duckdb.DuckDBPyConnection, files: list[tuple[str, str]]) -> None:
    """Temp table `layouts`: per file, where each source column is and how many fields a line has."""
    headers = dict(con.sql("SELECT source_file, fields_of(value) FROM landing_lines WHERE is_header").fetchall())
    columns = ", ".join(f"p_{name} INT" for name in SOURCE_COLUMNS)
    con.execute(f"CREATE OR REPLACE TEMP TABLE layouts (source_file VARCHAR, {columns}, field_count INT)")
    rows = []
    for _, source_file in files:
        positions, field_count = source_positions(headers.get(source_file))
        rows.append((source_file, *positions, field_count))
    con.executemany(f"INSERT INTO layouts VALUES ({', '.join(['?'] * (len(SOURCE_COLUMNS) + 2))})", rows)


def register(con: duckdb.DuckDBPyConnection) -> None:
    """The quoted-line splitter and the typing macros, on this connection."""
    con.create_function("split_quoted", split_quoted, [VARCHAR], duckdb.list_type(VARCHAR))
    con.execute(MACROS)


def typed(name: str) -> str:
    raw = f"raw_{name}"
    if name == "event_time":
        return f"parse_timestamp({raw})"
    if name in LONG_COLUMNS:
        return f"parse_long({raw})"
    if name == "price":
        return f"parse_double({raw})"
    return raw


def build_events_raw(con: duckdb.DuckDBPyConnection, ingested_at: dt.datetime) -> None:
    """Table `events_raw`: each data line typed, with the whole line in `_rescued_data` if it does not parse."""
    raw_fields = ",\n".join(f"nullif(fields[p_{name}], '') AS raw_{name}" for name in SOURCE_COLUMNS)
    typed_fields = ",\n".join(f"{typed(name)} AS {name}" for name in SOURCE_COLUMNS)
    unparsed = " OR ".join(f"(raw_{name} IS NOT NULL AND {name} IS NULL)" for name in SOURCE_COLUMNS)
    con.execute(
        f"""
        CREATE OR REPLACE TABLE events_raw AS
        WITH data_lines AS (
            SELECT l.source_file, l.source_line, l.value, fields_of(l.value) AS fields, y.* EXCLUDE (source_file)
            FROM landing_lines AS l JOIN layouts AS y USING (source_file)
            WHERE NOT l.is_header AND trim(l.value) <> ''
        ), raw AS (
            SELECT source_file, source_line, value, len(fields) <> field_count AS has_wrong_field_count, {raw_fields}
            FROM data_lines
        ), parsed AS (
            SELECT *, {typed_fields} FROM raw
        )
        SELECT {", ".join(SOURCE_COLUMNS)},
               $ingested_at::TIMESTAMP AS ingestion_timestamp, source_file, source_line,
               CASE WHEN has_wrong_field_count OR {unparsed} THEN value END AS _rescued_data
        FROM parsed
        """,
        {"ingested_at": ingested_at},
    )

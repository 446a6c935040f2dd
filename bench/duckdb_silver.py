"""Silver in DuckDB SQL: standardize, validate (every action is drop), deduplicate, derive."""

from __future__ import annotations

import duckdb

DEDUP_KEY = ("event_time", "user_id", "product_id", "user_session", "event_type")
FIRST_OCCURRENCE_ORDER = ("ingestion_timestamp", "source_file", "source_line")
EVENT_TYPES = ("view", "cart", "remove_from_cart", "purchase")
# Trimming as the pipeline trims: every character Java's regex \s matches (space, tab, CR, LF, VT, FF).
MACROS = r"""
CREATE OR REPLACE TEMP MACRO strip_blank(s) AS regexp_replace(s, '^[ \t\n\x0B\f\r]+|[ \t\n\x0B\f\r]+$', '', 'g');
"""


def register(con: duckdb.DuckDBPyConnection) -> None:
    """The silver macros, on this connection."""
    con.execute(MACROS)


def failed_rules_sql(max_price: float) -> str:
    """The list of rules a standardized row fails, in the order docs/definitions.md lists them (a null condition fails)."""
    conditions = {
        "valid_event_time": "event_time IS NOT NULL",
        "valid_event_type": f"event_type IN {EVENT_TYPES!r}",
        "valid_product_id": "product_id IS NOT NULL AND product_id > 0",
        "valid_user_id": "user_id IS NOT NULL AND user_id > 0",
        "valid_price": f"price IS NOT NULL AND price >= 0 AND price <= {float(max_price)!r}",
        "parseable_record": "_rescued_data IS NULL",
    }
    flags = ", ".join(f"CASE WHEN NOT coalesce({sql}, false) THEN '{name}' END" for name, sql in conditions.items())
    passes_all = " AND ".join(f"coalesce({sql}, false)" for sql in conditions.values())
    return f"CASE WHEN {passes_all} THEN []::VARCHAR[] ELSE list_filter([{flags}], lambda rule: rule IS NOT NULL) END"


def build_silver(con: duckdb.DuckDBPyConnection, max_price: float) -> None:
    """Tables `events_cleaned` and `events_quarantine`: standardize, validate, deduplicate, derive."""
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE checked AS
        WITH standardized AS (
            SELECT event_time, lower(strip_blank(event_type)) AS event_type, product_id, category_id,
                   coalesce(nullif(strip_blank(category_code), ''), 'unknown') AS category_code,
                   coalesce(nullif(lower(strip_blank(brand)), ''), 'unknown') AS brand,
                   price, user_id, strip_blank(user_session) AS user_session,
                   ingestion_timestamp, source_file, source_line, _rescued_data
            FROM events_raw
        )
        SELECT *, {failed_rules_sql(max_price)} AS quarantine_reasons FROM standardized
        """
    )
    con.execute(
        """
        CREATE OR REPLACE TABLE events_quarantine AS
        SELECT r.*, c.quarantine_reasons, array_to_string(c.quarantine_reasons, ', ') AS quarantine_reason
        FROM events_raw AS r
        JOIN (SELECT source_file, source_line, quarantine_reasons FROM checked WHERE len(quarantine_reasons) > 0) AS c
            USING (source_file, source_line)
        """
    )
    rendered_key = {"event_time": "strftime(event_time, '%Y-%m-%d %H:%M:%S')"}
    key_parts = ", ".join(f"coalesce({rendered_key.get(k, f'CAST({k} AS VARCHAR)')}, '')" for k in DEDUP_KEY)
    con.execute(
        f"""
        CREATE OR REPLACE TABLE events_cleaned AS
        WITH first_occurrences AS (
            SELECT * FROM checked
            WHERE len(quarantine_reasons) = 0
            QUALIFY row_number() OVER (PARTITION BY {", ".join(DEDUP_KEY)}
                                       ORDER BY {", ".join(FIRST_OCCURRENCE_ORDER)}) = 1
        )
        SELECT sha256(concat_ws('|', {key_parts})) AS event_id,
               event_time, event_type, product_id, category_id, category_code, brand, price, user_id, user_session,
               CAST(event_time AS DATE) AS event_date,
               CAST(hour(event_time) AS INT) AS event_hour,
               CAST(isodow(event_time) AS INT) AS event_day_of_week,
               CASE WHEN category_code = 'unknown' THEN 'unknown'
                    ELSE nullif(string_split(category_code, '.')[1], '') END AS category_l1,
               CASE WHEN category_code <> 'unknown' THEN nullif(string_split(category_code, '.')[2], '') END
                   AS category_l2,
               CASE WHEN category_code <> 'unknown' THEN nullif(string_split(category_code, '.')[3], '') END
                   AS category_l3,
               now()::TIMESTAMP AS processed_timestamp
        FROM first_occurrences
        """
    )


def row_counts(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    """Bronze rows (and rescued), silver rows, quarantined rows, duplicates removed."""
    bronze, rescued = con.sql("SELECT count(*), count(_rescued_data) FROM events_raw").fetchall()[0]
    kept = con.sql("SELECT count(*) FROM checked WHERE len(quarantine_reasons) = 0").fetchall()[0][0]
    silver = con.sql("SELECT count(*) FROM events_cleaned").fetchall()[0][0]
    quarantined = con.sql("SELECT count(*) FROM events_quarantine").fetchall()[0][0]
    return {"bronze": bronze, "rescued": rescued, "silver": silver, "quarantined": quarantined,
            "duplicates": kept - silver}

"""Every table's columns, types and order: the contracts the table builders end with."""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T


SOURCE_TYPES = T.StructType(
    [
        T.StructField("event_time", T.TimestampType()),
        T.StructField("event_type", T.StringType()),
        T.StructField("product_id", T.LongType()),
        T.StructField("category_id", T.LongType()),
        T.StructField("category_code", T.StringType()),
        T.StructField("brand", T.StringType()),
        T.StructField("price", T.DoubleType()),
        T.StructField("user_id", T.LongType()),
        T.StructField("user_session", T.StringType()),
    ]
)

# Bronze: the source columns, the audit columns, then lineage. Columns a source file
# has beyond these are appended as strings (schema evolution).
EVENTS_RAW = T.StructType(
    SOURCE_TYPES.fields
    + [
        T.StructField("ingestion_timestamp", T.TimestampType()),
        T.StructField("source_file", T.StringType()),
        T.StructField("created_at", T.TimestampType()),
        T.StructField("run_id", T.StringType()),
        T.StructField("source_line", T.LongType()),
        T.StructField("_rescued_data", T.StringType()),
    ]
)

EVENTS_CLEANED = T.StructType(
    [
        T.StructField("event_id", T.StringType()),
        T.StructField("event_time", T.TimestampType()),
        T.StructField("event_type", T.StringType()),
        T.StructField("product_id", T.LongType()),
        T.StructField("category_id", T.LongType()),
        T.StructField("category_code", T.StringType()),
        T.StructField("brand", T.StringType()),
        T.StructField("price", T.DoubleType()),
        T.StructField("user_id", T.LongType()),
        T.StructField("user_session", T.StringType()),
        T.StructField("event_date", T.DateType()),
        T.StructField("event_hour", T.IntegerType()),
        T.StructField("event_day_of_week", T.IntegerType()),
        T.StructField("category_l1", T.StringType()),
        T.StructField("category_l2", T.StringType()),
        T.StructField("category_l3", T.StringType()),
        T.StructField("processed_timestamp", T.TimestampType()),
    ]
)

QUARANTINE_COLUMNS = T.StructType(
    [
        T.StructField("quarantine_reasons", T.ArrayType(T.StringType())),
        T.StructField("quarantine_reason", T.StringType()),
        T.StructField("quarantined_at", T.TimestampType()),
    ]
)

# One row per quarantined row per evaluation: its first quarantine, then each replay's outcome.
QUARANTINE_HISTORY = T.StructType(
    [
        T.StructField("source_file", T.StringType()),
        T.StructField("source_line", T.LongType()),
        T.StructField("run_id", T.StringType()),
        T.StructField("evaluated_at", T.TimestampType()),
        T.StructField("outcome", T.StringType()),
        T.StructField("quarantine_reasons", T.ArrayType(T.StringType())),
        T.StructField("quarantine_reason", T.StringType()),
    ]
)

CUSTOMER_METRICS = T.StructType(
    [
        T.StructField("user_id", T.LongType()),
        T.StructField("total_sessions", T.LongType()),
        T.StructField("total_events", T.LongType()),
        T.StructField("total_views", T.LongType()),
        T.StructField("total_cart_adds", T.LongType()),
        T.StructField("total_purchases", T.LongType()),
        T.StructField("unique_products_viewed", T.LongType()),
        T.StructField("total_revenue", T.DoubleType()),
        T.StructField("avg_purchase_value", T.DoubleType()),
        T.StructField("first_activity_date", T.DateType()),
        T.StructField("last_activity_date", T.DateType()),
        T.StructField("customer_segment", T.StringType()),
        T.StructField("rfm_score", T.IntegerType()),
        T.StructField("churn_risk", T.StringType()),
    ]
)

PRODUCT_PERFORMANCE = T.StructType(
    [
        T.StructField("product_id", T.LongType()),
        T.StructField("category_id", T.LongType()),
        T.StructField("category_l1", T.StringType()),
        T.StructField("brand", T.StringType()),
        T.StructField("avg_price", T.DoubleType()),
        T.StructField("total_views", T.LongType()),
        T.StructField("total_cart_adds", T.LongType()),
        T.StructField("total_purchases", T.LongType()),
        T.StructField("unique_users", T.LongType()),
        T.StructField("total_revenue", T.DoubleType()),
        T.StructField("view_to_cart_rate", T.DoubleType()),
        T.StructField("cart_to_purchase_rate", T.DoubleType()),
        T.StructField("overall_conversion_rate", T.DoubleType()),
        T.StructField("revenue_rank_global", T.IntegerType()),
        T.StructField("performance_tier", T.StringType()),
    ]
)

DAILY_SALES_SUMMARY = T.StructType(
    [
        T.StructField("event_date", T.DateType()),
        T.StructField("day_name", T.StringType()),
        T.StructField("total_events", T.LongType()),
        T.StructField("total_views", T.LongType()),
        T.StructField("total_purchases", T.LongType()),
        T.StructField("unique_users", T.LongType()),
        T.StructField("unique_sessions", T.LongType()),
        T.StructField("total_revenue", T.DoubleType()),
        T.StructField("avg_order_value", T.DoubleType()),
        T.StructField("overall_conversion_rate", T.DoubleType()),
        T.StructField("revenue_7d_avg", T.DoubleType()),
        T.StructField("revenue_dod_change", T.DoubleType()),
    ]
)

CONVERSION_FUNNEL = T.StructType(
    [
        T.StructField("event_date", T.DateType()),
        T.StructField("category_l1", T.StringType()),
        T.StructField("total_sessions", T.LongType()),
        T.StructField("sessions_with_view", T.LongType()),
        T.StructField("sessions_with_cart", T.LongType()),
        T.StructField("sessions_with_purchase", T.LongType()),
        T.StructField("session_view_to_cart_rate", T.DoubleType()),
        T.StructField("session_cart_to_purchase_rate", T.DoubleType()),
        T.StructField("cart_abandonment_rate", T.DoubleType()),
        T.StructField("total_revenue", T.DoubleType()),
    ]
)

DQ_METRICS = T.StructType(
    [
        T.StructField("run_id", T.StringType()),
        T.StructField("layer", T.StringType()),
        T.StructField("rule", T.StringType()),
        T.StructField("action", T.StringType()),
        T.StructField("evaluated", T.LongType()),
        T.StructField("failed", T.LongType()),
        T.StructField("failed_pct", T.DoubleType()),
        T.StructField("value", T.DoubleType()),
        T.StructField("measured_at", T.TimestampType()),
    ]
)

PIPELINE_RUNS = T.StructType(
    [
        T.StructField("run_id", T.StringType()),
        T.StructField("layer", T.StringType()),
        T.StructField("notebook", T.StringType()),
        T.StructField("parameters", T.StringType()),
        T.StructField("started_at", T.TimestampType()),
        T.StructField("finished_at", T.TimestampType()),
        T.StructField("status", T.StringType()),
        T.StructField("error", T.StringType()),
        T.StructField("rows_in", T.LongType()),
        T.StructField("rows_out", T.LongType()),
        T.StructField("rows_quarantined", T.LongType()),
        T.StructField("rows_duplicate", T.LongType()),
        T.StructField("versions_read", T.MapType(T.StringType(), T.LongType())),
        T.StructField("versions_written", T.MapType(T.StringType(), T.LongType())),
        T.StructField("attempt_id", T.StringType()),
    ]
)


def conform(df: DataFrame, schema: T.StructType) -> DataFrame:
    """Select, cast and order exactly the schema's columns: the last step of a table builder."""
    return df.select(*[F.col(field.name).cast(field.dataType).alias(field.name) for field in schema])


# Column descriptions, written by the pipeline as Delta column comments: table -> column -> text.
_SOURCE_DESCRIPTIONS: dict[str, str] = {
    "event_time": "When the event happened, UTC, typed from the source text (`2019-10-01 00:00:00 UTC`; "
    "no zone means UTC); null when the field is empty or does not parse",
    "event_type": "Event type as received (view, cart, remove_from_cart, purchase expected), not trimmed "
    "or lowercased; null when empty",
    "product_id": "Product identifier as received; null when empty or not a whole number",
    "category_id": "Category identifier as received; null when empty or not a whole number",
    "category_code": "Category hierarchy as received, dot-separated (e.g. `electronics.smartphone`); null when empty",
    "brand": "Product brand as received, not trimmed or lowercased; null when empty",
    "price": "Product price as received, in the source's currency; null when empty or not a number",
    "user_id": "User identifier as received; null when empty or not a whole number",
    "user_session": "Session identifier as received; null when empty",
}
EXTRA_SOURCE_COLUMN = (
    "Extra source column: a column a source file's header has beyond the nine source columns "
    "(schema evolution), kept as text; null for rows of files without it"
)
_EVENTS_RAW_DESCRIPTIONS: dict[str, str] = _SOURCE_DESCRIPTIONS | {
    "ingestion_timestamp": "When the bronze run ingested the row's file (UTC); the same for every file of a run",
    "source_file": "The source file's name as received: its path relative to the landing folder",
    "created_at": "When the bronze row was written (UTC)",
    "run_id": "Id of the bronze run that ingested the row (pipeline_runs.run_id)",
    "source_line": "1-based line number of the row in its source file (a header line is line 1)",
    "_rescued_data": "The whole source line when a field does not parse, the field count is wrong or the "
    "line is not UTF-8; null for a clean line",
}
_DISPLAY_RATE = "percent rounded to 2 decimals; null when the denominator is 0"


def _as_original(description: str) -> str:
    """A bronze column's description as the quarantine keeps it: the original bronze value."""
    return f"Original bronze value: {description[0].lower()}{description[1:]}"


COLUMN_DESCRIPTIONS: dict[str, dict[str, str]] = {
    "events_raw": _EVENTS_RAW_DESCRIPTIONS,
    "events_cleaned": {
        "event_id": "Unique event id: lowercase hex SHA-256 of event_time (`yyyy-MM-dd HH:mm:ss`), user_id, "
        "product_id, user_session and event_type joined with `|`, a null as the empty string",
        "event_time": "When the event happened, UTC (rule valid_event_time)",
        "event_type": "Event type, trimmed and lowercased: view, cart, remove_from_cart or purchase "
        "(rule valid_event_type)",
        "product_id": "Product identifier, > 0 (rule valid_product_id)",
        "category_id": "Category identifier as in bronze; null when the source had none",
        "category_code": "Category hierarchy, trimmed; `unknown` when null or blank in bronze",
        "brand": "Product brand, trimmed and lowercased; `unknown` when null or blank in bronze",
        "price": "Product price in the source's currency, 0 to max_price (rule valid_price)",
        "user_id": "User identifier, > 0 (rule valid_user_id)",
        "user_session": "Session identifier, trimmed; null when the source had none",
        "event_date": "UTC date of event_time (partition column)",
        "event_hour": "UTC hour of event_time, 0-23",
        "event_day_of_week": "ISO day of week of event_date: 1 = Monday ... 7 = Sunday",
        "category_l1": "1st dot-separated part of category_code; `unknown` when category_code is `unknown`",
        "category_l2": "2nd dot-separated part of category_code; null when missing or category_code is `unknown`",
        "category_l3": "3rd dot-separated part of category_code; null when missing or category_code is `unknown`",
        "processed_timestamp": "When the silver run wrote the row (UTC)",
    },
    "events_quarantine": {
        **{name: _as_original(text) for name, text in _EVENTS_RAW_DESCRIPTIONS.items()},
        "run_id": "Id of the silver run that quarantined the row (pipeline_runs.run_id)",
        "quarantine_reasons": "Every rule with action drop that the row fails, in the rules' order",
        "quarantine_reason": "quarantine_reasons joined with `, `",
        "quarantined_at": "When the silver run quarantined the row (UTC)",
    },
    "quarantine_history": {
        "source_file": "source_file of the evaluated quarantine row (with source_line, the bronze row)",
        "source_line": "source_line of the evaluated quarantine row",
        "run_id": "Id of the run that evaluated the row: the silver run that quarantined it, or a replay "
        "(pipeline_runs.run_id, notebook replay)",
        "evaluated_at": "When the row was evaluated (UTC): quarantined_at for its first quarantine",
        "outcome": "quarantined (fails a rule with action drop), released (passes now, inserted into "
        "events_cleaned) or duplicate (passes now, its event already in events_cleaned or released twice)",
        "quarantine_reasons": "Every rule with action drop the row failed at this evaluation; empty when it passed",
        "quarantine_reason": "quarantine_reasons joined with `, `",
    },
    "customer_metrics": {
        "user_id": "User identifier: one row per user in silver",
        "total_sessions": "Distinct non-null user_session values of the user",
        "total_events": "The user's events, all types",
        "total_views": "The user's view events",
        "total_cart_adds": "The user's cart events",
        "total_purchases": "The user's purchase events",
        "unique_products_viewed": "Distinct product_id over the user's view events",
        "total_revenue": "Sum of price over the user's purchase events (lifetime value); 0 without a purchase",
        "avg_purchase_value": "total_revenue / total_purchases; null without a purchase",
        "first_activity_date": "The user's earliest event_date",
        "last_activity_date": "The user's latest event_date",
        "customer_segment": "First match: purchases >= 10 Champion, >= 5 Loyal, >= 2 Potential Loyalist, "
        "1 New Customer; cart adds > 0 Cart Abandoner; else Visitor",
        "rfm_score": "R + F + M, 3-15. R: days since last_activity_date to as_of_date <= 7, 14, 30, 60 -> 5, 4, 3, "
        "2, else 1; F: total_sessions >= 20, 10, 5, 2 -> 5, 4, 3, 2, else 1; M: total_revenue >= 1000, 500, 100, "
        "> 0 -> 5, 4, 3, 2, else 1 (thresholds: parameters rfm_recency_days, rfm_frequency_sessions, rfm_monetary)",
        "churn_risk": "N/A without a purchase; else days since last_activity_date to as_of_date > churn_high_days "
        "(30) High, > churn_medium_days (14) Medium, else Low",
    },
    "product_performance": {
        "product_id": "Product identifier: one row per product in silver",
        "category_id": "category_id on the product's latest event (ties: the greatest value)",
        "category_l1": "category_l1 on the product's latest event (ties: the greatest value)",
        "brand": "brand on the product's latest event (ties: the greatest value)",
        "avg_price": "Mean price over all the product's events",
        "total_views": "The product's view events",
        "total_cart_adds": "The product's cart events",
        "total_purchases": "The product's purchase events",
        "unique_users": "Distinct user_id over all the product's events",
        "total_revenue": "Sum of price over the product's purchase events; 0 without a purchase",
        "view_to_cart_rate": f"total_cart_adds / total_views, {_DISPLAY_RATE}",
        "cart_to_purchase_rate": f"total_purchases / total_cart_adds, {_DISPLAY_RATE}",
        "overall_conversion_rate": f"total_purchases / total_views, {_DISPLAY_RATE}",
        "revenue_rank_global": "dense_rank by total_revenue descending over all products (1 = highest revenue)",
        "performance_tier": "By percent_rank of total_revenue descending among products with revenue: <= 0.10 "
        "Top 10%, <= 0.25 Top 25%, <= 0.50 Top 50%, else Bottom; no revenue: Bottom",
    },
    "daily_sales_summary": {
        "event_date": "Calendar date (UTC): one row per event_date in silver",
        "day_name": "English day name of event_date, Monday ... Sunday",
        "total_events": "Events of the day, all types",
        "total_views": "View events of the day",
        "total_purchases": "Purchase events of the day",
        "unique_users": "Distinct user_id of the day",
        "unique_sessions": "Distinct non-null user_session of the day",
        "total_revenue": "Sum of price over the day's purchase events; 0 without a purchase",
        "avg_order_value": "total_revenue / total_purchases; null without a purchase",
        "overall_conversion_rate": f"total_purchases / total_views, {_DISPLAY_RATE}",
        "revenue_7d_avg": "Mean total_revenue over the dates present in [event_date - 6 days, event_date]",
        "revenue_dod_change": "(total_revenue - previous calendar day's) / previous day's, in percent rounded to 2 "
        "decimals; null when the previous day is absent or had revenue 0",
    },
    "conversion_funnel": {
        "event_date": "Calendar date (UTC): one row per event_date and category_l1",
        "category_l1": "Top-level category (`unknown` for events without a category)",
        "total_sessions": "Distinct non-null user_session with an event of this category on this date",
        "sessions_with_view": "Of those, sessions with a view event of this category on this date",
        "sessions_with_cart": "Of those, sessions with a cart event of this category on this date",
        "sessions_with_purchase": "Of those, sessions with a purchase event of this category on this date",
        "session_view_to_cart_rate": f"sessions_with_cart / sessions_with_view, {_DISPLAY_RATE}",
        "session_cart_to_purchase_rate": f"sessions_with_purchase / sessions_with_cart, {_DISPLAY_RATE}",
        "cart_abandonment_rate": f"Sessions with a cart and no purchase / sessions_with_cart, {_DISPLAY_RATE}",
        "total_revenue": "Sum of price over this category's purchase events on this date",
    },
    "dq_metrics": {
        "run_id": "Id of the run measured (pipeline_runs.run_id)",
        "layer": "Layer whose run measured the rule: bronze, silver, or replay (quarantined rows re-evaluated)",
        "rule": "Rule, monitor or metric name (see the data dictionary's rules)",
        "action": "The rule's action in that run: drop, warn or fail; monitor (counted only); metric",
        "evaluated": "Rows (or files) the rule was evaluated on; for duplicate_rate, rows deduplicated",
        "failed": "Of those, how many fail the rule; for duplicate_rate, duplicates removed; for quality_score, "
        "rows failing any rule",
        "failed_pct": f"failed / evaluated, {_DISPLAY_RATE}",
        "value": "The metric's value: failed_pct, except quality_score = rows passing every rule / evaluated, in "
        "percent",
        "measured_at": "When the run measured it (UTC)",
    },
    "pipeline_runs": {
        "run_id": "Id of the pipeline run, shared by its bronze, silver and gold notebook runs",
        "layer": "bronze, silver or gold",
        "notebook": "The notebook run, e.g. 01_bronze.ipynb; replay for a quarantine replay (lib.ops.replay)",
        "parameters": "Every parameter of the run, as JSON with sorted keys",
        "started_at": "When the layer's run started (UTC)",
        "finished_at": "When the layer's run ended (UTC)",
        "status": "succeeded or failed",
        "error": "For a failed run, the error's type and first line (at most 2000 characters); null otherwise",
        "rows_in": "Rows the run read: bronze, rows ingested; silver, new bronze rows (a replay: quarantined rows re-evaluated); gold, silver rows",
        "rows_out": "Rows the run wrote: bronze, rows ingested; silver, rows inserted; gold, rows of the four tables",
        "rows_quarantined": "Silver: rows written to events_quarantine; null for other layers",
        "rows_duplicate": "Silver: duplicates removed, within the batch and against silver; null for other layers",
        "versions_read": "Table -> Delta version the run read (reproducible with time travel)",
        "versions_written": "Table -> Delta version the run committed",
        "attempt_id": "Unique id of this attempt of the layer run; its Delta commits are tagged with it, so an "
        "unfinished attempt's writes can be undone",
    },
}
# Tables whose rows keep a source file's extra columns (schema evolution).
_WITH_EXTRA_SOURCE_COLUMNS: frozenset[str] = frozenset({"events_raw", "events_quarantine"})


def column_description(table: str, column: str) -> str | None:
    """The column's description; None for a column no description covers."""
    described = COLUMN_DESCRIPTIONS.get(table, {})
    if column in described:
        return described[column]
    if table in _WITH_EXTRA_SOURCE_COLUMNS:
        return EXTRA_SOURCE_COLUMN if table == "events_raw" else _as_original(EXTRA_SOURCE_COLUMN)
    return None


def with_column_comments(df: DataFrame, table: str) -> DataFrame:
    """The same columns, each with its description as the `comment` metadata Delta writes as a column comment."""

    def described(field: T.StructField) -> Column:
        column = F.col("`" + field.name.replace("`", "``") + "`")
        text = column_description(table, field.name)
        return column.alias(field.name, metadata={**field.metadata, "comment": text}) if text else column

    return df.select(*[described(field) for field in df.schema])

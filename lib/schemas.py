"""Every table's columns, types and order: the contracts the table builders end with."""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

SOURCE_COLUMNS: tuple[str, ...] = (
    "event_time",
    "event_type",
    "product_id",
    "category_id",
    "category_code",
    "brand",
    "price",
    "user_id",
    "user_session",
)

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

# Bronze: the source columns, the design's audit columns, then lineage. Columns a source file
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
    ]
)


def conform(df: DataFrame, schema: T.StructType) -> DataFrame:
    """Select, cast and order exactly the schema's columns: the last step of a table builder."""
    return df.select(*[F.col(field.name).cast(field.dataType).alias(field.name) for field in schema])

"""The three layers as a plain PySpark job: the benchmark's anchor on the same engine.

What a Spark user writes in an afternoon from docs/definitions.md: Spark's CSV reader on the landing
files, Parquet files for every table, `dropDuplicates`, and plain `groupBy` aggregates for the four
gold tables. No Delta (no transaction log, change feed or commits), no quarantine table or reasons,
no data-quality metrics, no run ledger, no lock or recovery, no first-occurrence order (any one row
of a duplicated key is kept). Kept apart from `lib/` like the DuckDB reference: the pipeline's time
divided by this job's is what its guarantees cost on the same engine and the same files.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import time
from pathlib import Path

from pyspark.sql import Column, DataFrame, SparkSession, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T

CORRUPT = "_corrupt_record"
RAW_SCHEMA = T.StructType([
    T.StructField("event_time", T.TimestampType()),
    T.StructField("event_type", T.StringType()),
    T.StructField("product_id", T.LongType()),
    T.StructField("category_id", T.LongType()),
    T.StructField("category_code", T.StringType()),
    T.StructField("brand", T.StringType()),
    T.StructField("price", T.DoubleType()),
    T.StructField("user_id", T.LongType()),
    T.StructField("user_session", T.StringType()),
    T.StructField(CORRUPT, T.StringType()),
])
DEDUP_KEY = ["event_time", "user_id", "product_id", "user_session", "event_type"]
EVENT_TYPES = ["view", "cart", "remove_from_cart", "purchase"]
TABLES = ("events_raw", "events_cleaned", "customer_metrics", "product_performance", "daily_sales_summary",
          "conversion_funnel")


@dataclasses.dataclass(frozen=True)
class PlainRun:
    """Seconds per layer, row counts, and the folder holding one Parquet folder per table."""

    work: Path
    seconds: dict[str, float]
    counts: dict[str, int]
    as_of_date: dt.date | None

    def table(self, spark: SparkSession, name: str) -> DataFrame:
        """One of `TABLES`, read back from its Parquet folder."""
        return spark.read.parquet(str(self.work / name))


def plain_session(master: str, shuffle_partitions: int, driver_memory: str) -> SparkSession:
    """A session with the pipeline's master, driver memory and shuffle partitions, in UTC: no Delta, no tuning."""
    if master.startswith("local"):
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    spark = (
        SparkSession.builder.master(master)
        .appName("plain-pyspark")
        .config("spark.driver.memory", driver_memory)
        .config("spark.sql.shuffle.partitions", str(shuffle_partitions))
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("WARN")
    return spark


def read_landing(spark: SparkSession, landing: Path) -> DataFrame:
    """Every line of every landing file, typed by Spark's CSV reader; a line that does not fit is kept whole."""
    lines = (
        spark.read.schema(RAW_SCHEMA)
        .option("header", "false")  # some files have no header: one with header=true would lose their first event
        .option("mode", "PERMISSIVE")
        .option("columnNameOfCorruptRecord", CORRUPT)
        .option("timestampFormat", "yyyy-MM-dd HH:mm:ss z")
        .option("recursiveFileLookup", "true")
        .csv(str(landing))
    )
    is_header = F.col("event_type").eqNullSafe("event_type")
    return (lines.filter(~is_header)
            .withColumn("source_file", F.col("_metadata.file_name"))
            .withColumn("ingestion_timestamp", F.current_timestamp()))


def blank_as_unknown(column: Column) -> Column:
    return F.when(F.coalesce(column, F.lit("")) == "", F.lit("unknown")).otherwise(column)


def valid_events(raw: DataFrame, max_price: float) -> DataFrame:
    """Bronze rows trimmed and lowercased where the definitions say, that pass all six rules."""
    standardized = (
        raw.withColumn("event_type", F.lower(F.trim("event_type")))
        .withColumn("brand", blank_as_unknown(F.lower(F.trim("brand"))))
        .withColumn("category_code", blank_as_unknown(F.trim("category_code")))
        .withColumn("user_session", F.trim("user_session"))
    )
    is_valid = (
        F.col("event_time").isNotNull()
        & F.col("event_type").isin(EVENT_TYPES)
        & (F.col("product_id") > 0)
        & (F.col("user_id") > 0)
        & F.col("price").between(0, max_price)
        & F.col(CORRUPT).isNull()
    )
    return standardized.filter(is_valid)


def cleaned_events(valid: DataFrame) -> DataFrame:
    """One row per event, with its id, date parts and category levels."""
    key_text = [F.coalesce(F.date_format("event_time", "yyyy-MM-dd HH:mm:ss"), F.lit("")),
                *[F.coalesce(F.col(c).cast("string"), F.lit("")) for c in DEDUP_KEY[1:]]]
    levels = F.split("category_code", r"\.")

    def level(index: int) -> Column:
        part = F.get(levels, index)
        return F.when((F.col("category_code") == "unknown") | (part == ""), F.lit(None)).otherwise(part)

    return (
        valid.dropDuplicates(DEDUP_KEY)
        .withColumn("event_id", F.sha2(F.concat_ws("|", *key_text), 256))
        .withColumn("event_date", F.to_date("event_time"))
        .withColumn("event_hour", F.hour("event_time"))
        .withColumn("event_day_of_week", (F.dayofweek("event_time") + 5) % 7 + 1)
        .withColumn("category_l1", F.when(F.col("category_code") == "unknown", "unknown").otherwise(level(0)))
        .withColumn("category_l2", level(1))
        .withColumn("category_l3", level(2))
        .withColumn("processed_timestamp", F.current_timestamp())
        .drop(CORRUPT, "source_file", "ingestion_timestamp")
    )


def count_of(event_type: str) -> Column:
    return F.count(F.when(F.col("event_type") == event_type, True))


def revenue() -> Column:
    return F.coalesce(F.sum(F.when(F.col("event_type") == "purchase", F.col("price"))), F.lit(0.0))


def percent(numerator: str, denominator: str) -> Column:
    """A rate in percent, rounded to 2 decimals; null where the denominator is 0."""
    return F.when(F.col(denominator) > 0, F.round(F.col(numerator) / F.col(denominator) * 100, 2))


def first_match(cases: list[tuple[Column, object]], otherwise: object) -> Column:
    """The outcome of the first case whose condition holds, else `otherwise`."""
    (condition, outcome), *rest = cases
    result = F.when(condition, outcome)
    for condition, outcome in rest:
        result = result.when(condition, outcome)
    return result.otherwise(otherwise)


def customer_metrics(silver: DataFrame, as_of: dt.date) -> DataFrame:
    """One row per user, with the definitions' default RFM and churn thresholds written in."""
    per_user = silver.groupBy("user_id").agg(
        F.countDistinct("user_session").alias("total_sessions"),
        F.count("*").alias("total_events"),
        count_of("view").alias("total_views"),
        count_of("cart").alias("total_cart_adds"),
        count_of("purchase").alias("total_purchases"),
        F.countDistinct(F.when(F.col("event_type") == "view", F.col("product_id"))).alias("unique_products_viewed"),
        revenue().alias("total_revenue"),
        F.min("event_date").alias("first_activity_date"),
        F.max("event_date").alias("last_activity_date"),
    )
    purchases, carts, sessions, money = (F.col(c) for c in ("total_purchases", "total_cart_adds", "total_sessions",
                                                            "total_revenue"))
    idle = F.datediff(F.lit(as_of), F.col("last_activity_date"))
    recency = first_match([(idle <= 7, 5), (idle <= 14, 4), (idle <= 30, 3), (idle <= 60, 2)], 1)
    frequency = first_match([(sessions >= 20, 5), (sessions >= 10, 4), (sessions >= 5, 3), (sessions >= 2, 2)], 1)
    monetary = first_match([(money >= 1000, 5), (money >= 500, 4), (money >= 100, 3), (money > 0, 2)], 1)
    return per_user.select(
        "user_id", "total_sessions", "total_events", "total_views", "total_cart_adds", "total_purchases",
        "unique_products_viewed", "total_revenue", F.when(purchases > 0, money / purchases).alias("avg_purchase_value"),
        "first_activity_date", "last_activity_date",
        first_match([(purchases >= 10, "Champion"), (purchases >= 5, "Loyal"), (purchases >= 2, "Potential Loyalist"),
                     (purchases == 1, "New Customer"), (carts > 0, "Cart Abandoner")], "Visitor")
        .alias("customer_segment"),
        (recency + frequency + monetary).alias("rfm_score"),
        first_match([(purchases == 0, "N/A"), (idle > 30, "High"), (idle > 14, "Medium")], "Low").alias("churn_risk"),
    )


def product_performance(silver: DataFrame) -> DataFrame:
    latest = F.max(F.struct("event_time", "category_id", "category_l1", "brand"))
    per_product = silver.groupBy("product_id").agg(
        latest.alias("latest"),
        F.avg("price").alias("avg_price"),
        count_of("view").alias("total_views"),
        count_of("cart").alias("total_cart_adds"),
        count_of("purchase").alias("total_purchases"),
        F.countDistinct("user_id").alias("unique_users"),
        revenue().alias("total_revenue"),
    )
    by_revenue = Window.orderBy(F.col("total_revenue").desc())
    selling = Window.partitionBy(F.col("total_revenue") > 0).orderBy(F.col("total_revenue").desc())
    position = F.percent_rank().over(selling)
    return per_product.select(
        "product_id", "latest.category_id", "latest.category_l1", "latest.brand", "avg_price", "total_views",
        "total_cart_adds", "total_purchases", "unique_users", "total_revenue",
        percent("total_cart_adds", "total_views").alias("view_to_cart_rate"),
        percent("total_purchases", "total_cart_adds").alias("cart_to_purchase_rate"),
        percent("total_purchases", "total_views").alias("overall_conversion_rate"),
        F.dense_rank().over(by_revenue).alias("revenue_rank_global"),
        first_match([(F.col("total_revenue") <= 0, "Bottom"), (position <= 0.10, "Top 10%"),
                     (position <= 0.25, "Top 25%"), (position <= 0.50, "Top 50%")], "Bottom")
        .alias("performance_tier"),
    )


def daily_sales_summary(silver: DataFrame) -> DataFrame:
    per_day = silver.groupBy("event_date").agg(
        F.count("*").alias("total_events"),
        count_of("view").alias("total_views"),
        count_of("purchase").alias("total_purchases"),
        F.countDistinct("user_id").alias("unique_users"),
        F.countDistinct("user_session").alias("unique_sessions"),
        revenue().alias("total_revenue"),
    )
    day_number = F.datediff(F.col("event_date"), F.lit("1970-01-01"))
    by_day = Window.orderBy(day_number)
    previous = F.sum("total_revenue").over(by_day.rangeBetween(-1, -1))
    return per_day.select(
        "event_date", F.date_format("event_date", "EEEE").alias("day_name"), "total_events", "total_views",
        "total_purchases", "unique_users", "unique_sessions", "total_revenue",
        F.when(F.col("total_purchases") > 0, F.col("total_revenue") / F.col("total_purchases")).alias("avg_order_value"),
        percent("total_purchases", "total_views").alias("overall_conversion_rate"),
        F.avg("total_revenue").over(by_day.rangeBetween(-6, 0)).alias("revenue_7d_avg"),
        F.when(previous > 0, F.round((F.col("total_revenue") - previous) / previous * 100, 2))
        .alias("revenue_dod_change"),
    )


def conversion_funnel(silver: DataFrame) -> DataFrame:
    sessions = silver.groupBy("event_date", "category_l1", "user_session").agg(
        F.max(F.col("event_type") == "view").alias("has_view"),
        F.max(F.col("event_type") == "cart").alias("has_cart"),
        F.max(F.col("event_type") == "purchase").alias("has_purchase"),
        revenue().alias("revenue"),
    )
    in_session = F.col("user_session").isNotNull()
    per_group = sessions.groupBy("event_date", "category_l1").agg(
        F.count("user_session").alias("total_sessions"),
        F.count(F.when(in_session & F.col("has_view"), True)).alias("sessions_with_view"),
        F.count(F.when(in_session & F.col("has_cart"), True)).alias("sessions_with_cart"),
        F.count(F.when(in_session & F.col("has_purchase"), True)).alias("sessions_with_purchase"),
        F.count(F.when(in_session & F.col("has_cart") & ~F.col("has_purchase"), True)).alias("sessions_abandoned"),
        F.sum("revenue").alias("total_revenue"),
    )
    return per_group.select(
        "event_date", "category_l1", "total_sessions", "sessions_with_view", "sessions_with_cart",
        "sessions_with_purchase",
        percent("sessions_with_cart", "sessions_with_view").alias("session_view_to_cart_rate"),
        percent("sessions_with_purchase", "sessions_with_cart").alias("session_cart_to_purchase_rate"),
        percent("sessions_abandoned", "sessions_with_cart").alias("cart_abandonment_rate"),
        "total_revenue",
    )


def run_plain_spark(spark: SparkSession, landing: Path, work: Path, max_price: float = 100_000.0) -> PlainRun:
    """Bronze, silver and gold of every file under `landing`, as Parquet folders under `work`, each layer timed.

    The row counts are taken after the layers, outside their times.
    """
    path = {name: str(work / name) for name in TABLES}
    seconds: dict[str, float] = {}
    started = time.perf_counter()
    read_landing(spark, landing).write.mode("overwrite").parquet(path["events_raw"])
    seconds["bronze"] = time.perf_counter() - started

    started = time.perf_counter()
    valid = valid_events(spark.read.parquet(path["events_raw"]), max_price)
    cleaned_events(valid).write.mode("overwrite").partitionBy("event_date").parquet(path["events_cleaned"])
    seconds["silver"] = time.perf_counter() - started

    started = time.perf_counter()
    silver = spark.read.parquet(path["events_cleaned"])
    as_of = silver.agg(F.max("event_date")).first()[0]
    gold = {
        "customer_metrics": customer_metrics(silver, as_of or dt.date(1970, 1, 1)),
        "product_performance": product_performance(silver),
        "daily_sales_summary": daily_sales_summary(silver),
        "conversion_funnel": conversion_funnel(silver),
    }
    for name, table in gold.items():
        table.write.mode("overwrite").parquet(path[name])
    seconds["gold"] = time.perf_counter() - started
    seconds["total"] = seconds["bronze"] + seconds["silver"] + seconds["gold"]

    bronze = spark.read.parquet(path["events_raw"])
    kept = valid_events(bronze, max_price).count()
    counts = {"bronze": bronze.count(), "silver": spark.read.parquet(path["events_cleaned"]).count()}
    counts |= {"quarantined": counts["bronze"] - kept, "duplicates": kept - counts["silver"]}
    return PlainRun(work=work, seconds=seconds, counts=counts, as_of_date=as_of)

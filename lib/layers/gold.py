"""Gold's run: what to recompute (incremental or full), and the four tables from it.

Incremental: silver's new events since the last succeeded gold run are read from the change
feed of `events_cleaned`; the dates, users and products they touch have their aggregates
recomputed from silver, every other key keeps its aggregates from the gold table, and the
derived columns (RFM and churn against as_of_date, ranks and tiers, 7-day averages and
day-over-day changes) are computed again over the whole table. The result equals a rebuild.
A full rebuild is used when there is no earlier gold run to build on, when silver changed in
a way other than inserts, when a gold table is not as the last gold run left it, or when the
parameter `gold_full_rebuild` asks for it. When silver has no new rows since the last gold run
and the derivations' parameters are the same, the tables already hold the result: the run
writes nothing ("unchanged").
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from pathlib import Path
from typing import Any

from delta.tables import DeltaTable
from pyspark import StorageLevel
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from lib.contracts import tables as registry
from lib.contracts.params import PipelineParams
from lib.lake import ledger, storage, transaction
from lib.layers.summary import LayerSummary, start_record
from lib.transforms import gold

GOLD_TABLES = registry.names("gold")
SILVER = registry.EVENTS_CLEANED.name
# The parameters gold's derived columns depend on (RFM, churn, as_of_date).
DERIVATION_PARAMETERS = ("as_of_date", "rfm_recency_days", "rfm_frequency_sessions", "rfm_monetary",
                         "churn_high_days", "churn_medium_days")
INSERT_ONLY_OPERATIONS = frozenset({"MERGE", "WRITE", "STREAMING UPDATE", "CREATE TABLE"})


def run_gold(spark: SparkSession, params: PipelineParams, notebook: str = "03_gold.ipynb") -> LayerSummary:
    """Update the four gold tables with what silver gained since the last gold run (or rebuild them)."""
    lake = params.path("lake_dir")
    record = start_record(params, "gold", notebook)
    details: dict[str, Any] = {}
    with transaction.layer_run(spark, lake, record):
        version = storage.table_version(spark, lake, "events_cleaned")
        if version is None:
            raise RuntimeError(f"events_cleaned does not exist in {lake}: run 01_bronze and 02_silver first")
        record.versions_read["events_cleaned"] = version
        gold_plan = plan(spark, lake, params, version)
        details["mode"], details["reason"] = gold_plan.mode, gold_plan.reason
        if gold_plan.mode == "unchanged":
            print(f"gold: nothing new: {gold_plan.reason}; only this run's pipeline_runs row is written", flush=True)
            record.versions_read |= gold_plan.gold_versions
            record.rows_in = record.rows_out = 0
            details["as_of_date"] = as_of_date(spark, lake, params, gold_plan)
            details["touched"] = {"events": 0, "dates": []}
            return LayerSummary(record.run_id, record, details)
        tables, built, cached = build_tables(spark, lake, params, version, gold_plan)
        details |= built
        for name, table in tables.items():
            written = storage.overwrite(table, lake, name)
            record.versions_written[name] = written.version
            details[name] = written.metrics.get("numOutputRows", 0)
        record.rows_in = tables["daily_sales_summary"].agg(F.sum("total_events")).first()[0] or 0
        record.rows_out = sum(details[name] for name in GOLD_TABLES)
        for frame in cached:
            frame.unpersist()
    return LayerSummary(record.run_id, record, details)


@dataclasses.dataclass(frozen=True)
class GoldPlan:
    """Full rebuild, or incremental from the silver version the last gold run read."""

    mode: str
    reason: str
    after_version: int | None = None
    gold_versions: dict[str, int] = dataclasses.field(default_factory=dict)


def plan(spark: SparkSession, lake: str | Path, params: PipelineParams, silver_version: int) -> GoldPlan:
    """Decide between an incremental update, a full rebuild and nothing to do, with the reason."""
    if params.gold_full_rebuild:
        return GoldPlan("full", "parameter gold_full_rebuild is true")
    previous = ledger.last_succeeded(spark, lake, "gold")
    read = (previous["versions_read"] or {}).get(SILVER) if previous else None
    if read is None:
        return GoldPlan("full", "no earlier gold run to build on")
    # A gold run that found nothing to do wrote no table: it read (and checked) the versions it left.
    written = {**(previous["versions_read"] or {}), **(previous["versions_written"] or {})}
    for name in GOLD_TABLES:
        if storage.table_version(spark, lake, name) != written.get(name):
            return GoldPlan("full", f"{name} changed since the last gold run (version {written.get(name)})")
    if read > silver_version:
        return GoldPlan("full", f"events_cleaned is at version {silver_version}, before version {read} gold read")
    versions = {name: written[name] for name in GOLD_TABLES}
    if read == silver_version and _same_parameters(previous, params):
        reason = f"no new rows in events_cleaned since version {read}, and the parameters of run {previous['run_id']}"
        return GoldPlan("unchanged", reason, read, versions)
    properties = DeltaTable.forPath(spark, storage.table_path(lake, SILVER)).detail().first()["properties"]
    if properties.get("delta.enableChangeDataFeed") != "true":
        return GoldPlan("full", "events_cleaned has no change data feed")
    changed = _non_insert_commit(spark, lake, read, silver_version)
    if changed:
        return GoldPlan("full", changed)
    return GoldPlan("incremental", f"new rows of events_cleaned versions {read + 1}..{silver_version}", read, versions)


def _same_parameters(previous: dict[str, Any], params: PipelineParams) -> bool:
    """Whether the last gold run had the parameters the derived columns depend on that this run has."""
    before = json.loads(previous["parameters"] or "{}")
    now = params.as_dict()
    return all(json.dumps(before.get(name), default=str) == json.dumps(now[name], default=str)
               for name in DERIVATION_PARAMETERS)


def _non_insert_commit(spark: SparkSession, lake: str | Path, after: int, up_to: int) -> str | None:
    """A commit of silver in (after, up_to] that may have removed or changed rows, described."""
    if after >= up_to:
        return None
    history = DeltaTable.forPath(spark, storage.table_path(lake, SILVER)).history(up_to - after + 50)
    for row in history.filter((F.col("version") > after) & (F.col("version") <= up_to)).collect():
        metrics = row["operationMetrics"] or {}
        mode = (row["operationParameters"] or {}).get("mode", "Append")
        removes = sum(int(metrics.get(key, "0")) for key in ("numTargetRowsUpdated", "numTargetRowsDeleted"))
        if row["operation"] not in INSERT_ONLY_OPERATIONS or mode not in ("Append", None) or removes:
            return f"events_cleaned version {row['version']} is a {row['operation']}, not an insert"
    return None


def build_tables(
    spark: SparkSession, lake: str | Path, params: PipelineParams, silver_version: int, gold_plan: GoldPlan
) -> tuple[dict[str, DataFrame], dict[str, Any], list[DataFrame]]:
    """The four gold tables as DataFrames to write, what was recomputed, and what to unpersist after."""
    events = storage.read_table(spark, lake, SILVER, version=silver_version)
    if gold_plan.mode == "full":
        per_user, per_product = gold.aggregate_customers(events), gold.aggregate_products(events)
        per_day, funnel = gold.aggregate_days(events), gold.build_conversion_funnel(events)
        touched: dict[str, Any] = {"events": "all"}
    else:
        if gold_plan.after_version < silver_version:
            new = storage.read_appended_since(spark, lake, SILVER, gold_plan.after_version, silver_version)
        else:
            new = events.limit(0)
        new = new.select("event_date", "user_id", "product_id").persist(StorageLevel.MEMORY_AND_DISK)
        dates = [row["event_date"] for row in new.select("event_date").distinct().collect()]
        on_dates = events.filter(_date_in(dates))
        by_user = gold.filter_touched(events, new, "user_id")
        by_product = gold.filter_touched(events, new, "product_id")
        per_user = _merged(spark, lake, gold_plan, "customer_metrics", gold.aggregate_customers(by_user), "user_id")
        per_product = _merged(
            spark, lake, gold_plan, "product_performance", gold.aggregate_products(by_product), "product_id"
        )
        per_day = _merged(spark, lake, gold_plan, "daily_sales_summary", gold.aggregate_days(on_dates), "event_date")
        funnel = _merged(
            spark, lake, gold_plan, "conversion_funnel", gold.build_conversion_funnel(on_dates), "event_date"
        )
        touched = {"events": new.count(), "dates": sorted(d for d in dates if d is not None)}
        new.unpersist()
    daily = gold.summarize_days(per_day).persist(StorageLevel.MEMORY_AND_DISK)
    as_of = dt.date.fromisoformat(params.as_of_date) if params.as_of_date else daily.agg(F.max("event_date")).first()[0]
    customers = gold.score_customers(
        per_user,
        as_of,
        params.rfm_recency_days,
        params.rfm_frequency_sessions,
        params.rfm_monetary,
        params.churn_high_days,
        params.churn_medium_days,
    )
    tables = {
        "customer_metrics": customers,
        "product_performance": gold.rank_products(per_product),
        "daily_sales_summary": daily,
        "conversion_funnel": funnel,
    }
    return tables, {"as_of_date": as_of, "touched": touched}, [daily]


def as_of_date(spark: SparkSession, lake: str | Path, params: PipelineParams, gold_plan: GoldPlan) -> dt.date | None:
    """The parameter as_of_date, else the latest event_date of daily_sales_summary as the plan found it."""
    if params.as_of_date:
        return dt.date.fromisoformat(params.as_of_date)
    version = gold_plan.gold_versions["daily_sales_summary"]
    days = storage.read_rows(lake, "daily_sales_summary", ["event_date"], version=version)
    if days is not None:
        return max((day["event_date"] for day in days if day["event_date"] is not None), default=None)
    daily = storage.read_table(spark, lake, "daily_sales_summary", version=version)
    return daily.agg(F.max("event_date")).first()[0]


def _merged(
    spark: SparkSession, lake: str | Path, gold_plan: GoldPlan, name: str, recomputed: DataFrame, key: str
) -> DataFrame:
    """The gold table's rows as the last gold run wrote them, with the recomputed keys replaced."""
    current = storage.read_table(spark, lake, name, version=gold_plan.gold_versions[name])
    return gold.replace_keys(current.select(*recomputed.columns), recomputed, (key,))


def _date_in(dates: list[dt.date | None]) -> F.Column:
    """event_date among the dates, written as literals so that Delta prunes the date partitions."""
    known = [date for date in dates if date is not None]
    condition = F.col("event_date").isin(known) if known else F.lit(False)
    return condition | F.col("event_date").isNull() if None in dates else condition

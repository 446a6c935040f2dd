"""Gold's run: what to recompute (incremental or full), and the four tables and gold's state from it.

Incremental: silver's new events since the last succeeded gold run are read from the change
feed of `events_cleaned`, and nothing else of silver but the date partitions they fall on. Per
user and per product, their counts and sums are added to the gold table's, and each exact distinct
count grows by the new rows' pairs that gold's state (`customer_sessions`, `customer_viewed_products`,
`product_users`) does not hold yet; `product_totals` keeps the mean price's sums and the latest
event's time. The dates they touch have their figures recomputed from those dates' silver rows.
The derived columns (RFM and churn against as_of_date, ranks and tiers, 7-day averages and
day-over-day changes) are computed again over the gold tables, which are small. The new pairs are
appended to the state, and the other tables are overwritten (`product_totals` and `conversion_funnel`
with their untouched keys' rows as they were). The result equals a rebuild.
A full rebuild (of the tables and the state) is used when there is no earlier gold run to build on,
when a commit of silver since removed rows, when a gold or state table is not as the last gold
run left it, or when the parameter `gold_full_rebuild` asks for it. When silver has no new rows
since the last gold run and the derivations' parameters are the same, the tables already hold the
result: the run writes nothing ("unchanged").
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pyspark import StorageLevel
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from lib.contracts import tables as registry
from lib.contracts.params import PipelineParams
from lib.lake import delta_log, ledger, storage, transaction
from lib.layers.summary import LayerSummary, start_record
from lib.transforms import gold, gold_state

GOLD_TABLES = registry.names("gold")
STATE_TABLES = registry.names("gold_state")
SILVER = registry.EVENTS_CLEANED.name
# The parameters gold's derived columns depend on (RFM, churn, as_of_date).
DERIVATION_PARAMETERS = ("as_of_date", "rfm_recency_days", "rfm_frequency_sessions", "rfm_monetary",
                         "churn_high_days", "churn_medium_days")


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
        update = build_tables(spark, lake, params, version, gold_plan)
        details |= update.details
        record.versions_read |= gold_plan.gold_versions
        for name, written in update.write(lake):
            if written.committed:
                record.versions_written[name] = written.version
            details[name] = written_rows(written)
        record.rows_in = update.tables["daily_sales_summary"].agg(F.sum("total_events")).first()[0] or 0
        record.rows_out = sum(details.get(name, 0) for name in GOLD_TABLES)
        update.release()
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
    # Maintenance's commits since (compaction, VACUUM, properties) leave a table's rows as they were.
    written = {**(previous["versions_read"] or {}), **(previous["versions_written"] or {})}
    versions = {}
    for name in GOLD_TABLES + STATE_TABLES:
        if name not in written:
            return GoldPlan("full", f"the last gold run kept no {name}: gold's state is built by a rebuild")
        versions[name] = storage.table_version(spark, lake, name)
        if versions[name] != written[name] and (versions[name] < written[name] or storage.data_changing_versions(
                spark, lake, name, written[name], versions[name]) != []):
            return GoldPlan("full", f"{name} changed since the last gold run (version {written[name]})")
    if read > silver_version:
        return GoldPlan("full", f"events_cleaned is at version {silver_version}, before version {read} gold read")
    # The commits since that changed rows, None if the log no longer holds one; maintenance's commits change none.
    silver_path = storage.table_path(lake, SILVER)
    changes = delta_log.data_changes(spark, silver_path, read, silver_version)
    if changes == []:
        read = silver_version
    if read == silver_version and _same_parameters(previous, params):
        reason = f"no new rows in events_cleaned since version {read}, and the parameters of run {previous['run_id']}"
        return GoldPlan("unchanged", reason, read, versions)
    if changes is None:
        return GoldPlan("full", f"the log of events_cleaned no longer holds every version after {read}")
    if delta_log.snapshot(spark, silver_path).properties.get("delta.enableChangeDataFeed") != "true":
        return GoldPlan("full", "events_cleaned has no change data feed")
    removing = next((change for change in changes if change.removes_rows), None)
    if removing is not None:
        return GoldPlan("full", f"events_cleaned version {removing.version} ({removing.operation}) removed rows")
    return GoldPlan("incremental", f"new rows of events_cleaned versions {read + 1}..{silver_version}", read, versions)


def _same_parameters(previous: dict[str, Any], params: PipelineParams) -> bool:
    """Whether the last gold run had the parameters the derived columns depend on that this run has."""
    before = json.loads(previous["parameters"] or "{}")
    now = params.as_dict()
    return all(json.dumps(before.get(name), default=str) == json.dumps(now[name], default=str)
               for name in DERIVATION_PARAMETERS)


def written_rows(written: storage.WriteResult) -> int:
    """The rows a write committed: an overwrite's or an append's rows, a MERGE's inserted and updated ones."""
    metrics = written.metrics
    if "numOutputRows" in metrics and "numTargetRowsInserted" not in metrics:
        return metrics["numOutputRows"]
    return metrics.get("numTargetRowsInserted", 0) + metrics.get("numTargetRowsUpdated", 0)


@dataclasses.dataclass
class GoldUpdate:
    """What a gold run writes: tables replaced whole, and rows appended."""

    tables: dict[str, DataFrame]
    appends: dict[str, DataFrame]
    details: dict[str, Any]
    cached: list[DataFrame]

    def write(self, lake: str | Path) -> Iterator[tuple[str, storage.WriteResult]]:
        """Each write in turn, with its table's name."""
        for name, frame in self.appends.items():
            yield name, storage.append(frame, lake, name)
        for name, frame in self.tables.items():
            yield name, storage.overwrite(frame, lake, name)

    def release(self) -> None:
        for frame in self.cached:
            frame.unpersist()


def build_tables(
    spark: SparkSession, lake: str | Path, params: PipelineParams, silver_version: int, gold_plan: GoldPlan
) -> GoldUpdate:
    """The writes that bring gold (the four tables and its state) up to silver's version."""
    if gold_plan.mode == "full":
        events = storage.read_table(spark, lake, SILVER, version=silver_version)
        per_user, per_product = gold.aggregate_customers(events), gold.aggregate_products(events)
        per_day, funnel = gold.aggregate_days(events), gold.build_conversion_funnel(events)
        state = {name: build(events) for name, build in gold_state.STATE_BUILDERS.items()}
        update = GoldUpdate({"conversion_funnel": funnel, **state}, {}, {"touched": {"events": "all"}}, [])
    else:
        update, per_user, per_product, per_day = _incremental(spark, lake, silver_version, gold_plan)
    daily = gold.summarize_days(per_day).persist(StorageLevel.MEMORY_AND_DISK)
    if params.as_of_date:
        as_of = dt.date.fromisoformat(params.as_of_date)
    elif gold_plan.mode == "full":
        as_of = daily.agg(F.max("event_date")).first()[0]
    else:  # the latest of the dates gold held and the new rows' dates, without computing the days first
        as_of = max(filter(None, [as_of_date(spark, lake, params, gold_plan), *update.details["touched"]["dates"]]),
                    default=None)
    customers = gold.score_customers(
        per_user,
        as_of,
        params.rfm_recency_days,
        params.rfm_frequency_sessions,
        params.rfm_monetary,
        params.churn_high_days,
        params.churn_medium_days,
    )
    update.tables |= {
        "customer_metrics": customers,
        "product_performance": gold.rank_products(per_product),
        "daily_sales_summary": daily,
    }
    update.details["as_of_date"] = as_of
    update.cached.append(daily)
    return update


def _incremental(
    spark: SparkSession, lake: str | Path, silver_version: int, gold_plan: GoldPlan
) -> tuple[GoldUpdate, DataFrame, DataFrame, DataFrame]:
    """The writes of an incremental run but the derived tables, and the per-user, -product and -day aggregates."""
    versions = gold_plan.gold_versions

    def held(name: str) -> DataFrame:
        return storage.read_table(spark, lake, name, version=versions[name])

    cached = []
    if gold_plan.after_version < silver_version:
        new = storage.read_appended_since(spark, lake, SILVER, gold_plan.after_version, silver_version)
    else:
        new = storage.read_table(spark, lake, SILVER, version=silver_version).limit(0)
    new = new.persist(StorageLevel.MEMORY_AND_DISK)
    # One job gives both the dates the new rows fall on and how many rows there are.
    per_date = {row["event_date"]: row["count"] for row in new.groupBy("event_date").count().collect()}
    dates = list(per_date)
    unseen = {}
    for name, key in gold_state.PAIR_TABLES.items():
        pairs = gold_state.STATE_BUILDERS[name](new)
        unseen[name] = gold_state.unseen(pairs, held(name), key).persist(StorageLevel.MEMORY_AND_DISK)
    cached += [new, *unseen.values()]
    customer_columns = gold.aggregate_customers(new.limit(0)).columns
    per_user = gold_state.add_to_customers(
        held("customer_metrics").select(*customer_columns), new, unseen["customer_sessions"],
        unseen["customer_viewed_products"],
    )
    product_columns = gold.aggregate_products(new.limit(0)).columns
    products = gold_state.add_to_products(
        held("product_performance").select(*product_columns), held("product_totals"), new, unseen["product_users"]
    ).persist(StorageLevel.MEMORY_AND_DISK)
    cached.append(products)
    # Every date of the new rows has rows in silver: the recomputed dates are exactly `dates`.
    on_dates = storage.read_table(spark, lake, SILVER, version=silver_version).filter(gold.date_in(dates))
    per_day = gold.replace_matching(held("daily_sales_summary").select(*gold.aggregate_days(new.limit(0)).columns),
                                    gold.aggregate_days(on_dates), gold.date_in(dates))
    # Rewritten whole: these tables are small (a row per product, per date and category), and a MERGE of the
    # touched keys takes more Spark jobs than an overwrite (a day of the ci lake, before its dates were
    # replaced by a filter: 112 jobs with both MERGEs, 103 without).
    replaced = {
        "product_totals": products.select(*registry.PRODUCT_TOTALS.column_names),
        "conversion_funnel": gold.replace_matching(held("conversion_funnel"), gold.build_conversion_funnel(on_dates),
                                                   gold.date_in(dates)),
    }
    touched = {"events": sum(per_date.values()), "dates": sorted(d for d in dates if d is not None)}
    if gold_plan.after_version >= silver_version:  # parameters changed, no new rows: only the derived tables
        unseen, replaced = {}, {}
    update = GoldUpdate(replaced, unseen, {"touched": touched}, cached)
    return update, per_user, products.select(*product_columns), per_day


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

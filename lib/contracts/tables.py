"""Every table of the lake, stated once: name, layer, lineage, partitioning, key, Delta properties and columns.

Adding a table is one entry here. `lib.contracts.schemas` builds its Spark schema from the entry,
`lib.lake.storage` writes it with its partitioning and properties, the data dictionary documents it
(the lineage diagram is drawn from `built_from`), and the dashboard reads it by its name. Nothing
here imports pyspark: a column's type is Spark SQL's DDL spelling of it, such as `BIGINT`,
`ARRAY<STRING>` or `MAP<STRING,BIGINT>`.
"""

from __future__ import annotations

import dataclasses
import types
from collections.abc import Mapping

# The lake's layers in the order data flows through them.
LAYERS: tuple[str, ...] = ("bronze", "silver", "gold_state", "gold", "quality", "ledger")


@dataclasses.dataclass(frozen=True)
class Column:
    """A table's column: its name, Spark SQL type (DDL) and description, written as its Delta column comment."""

    name: str
    type: str
    description: str


@dataclasses.dataclass(frozen=True)
class Upstream:
    """What a table is built from: a table of the lake, or something outside it, with what the edge carries.

    `evaluations`: the table records evaluations of the upstream rows rather than receiving the rows
    (a dotted edge in the lineage diagram).
    """

    name: str
    label: str = ""
    evaluations: bool = False
    outside: bool = False


@dataclasses.dataclass(frozen=True)
class Table:
    """A table of the lake as the pipeline writes it.

    `key`: the columns that identify a row (null-safe); `extra_column`: the description of any column
    beyond `columns`, for a table that keeps a source file's extra columns (schema evolution);
    `on_demand`: written only by some runs (so a lake may lack it), documented from its columns then.
    """

    name: str
    layer: str
    holds: str
    columns: tuple[Column, ...]
    built_from: tuple[Upstream, ...] = ()
    partitioning: tuple[str, ...] = ()
    key: tuple[str, ...] = ()
    properties: Mapping[str, str] = dataclasses.field(default_factory=dict, hash=False)
    extra_column: str | None = None
    on_demand: bool = False

    def __post_init__(self) -> None:
        where = f"table {self.name} in lib/contracts/tables.py"
        if self.layer not in LAYERS:
            raise ValueError(f"{where} has layer {self.layer!r}: use one of {', '.join(LAYERS)}")
        if len(set(self.column_names)) != len(self.columns):
            raise ValueError(f"{where} names a column twice: give each column one entry")
        unknown = [name for name in (*self.partitioning, *self.key) if name not in self.column_names]
        if unknown:
            raise ValueError(f"{where} partitions or keys on {', '.join(unknown)}, not among its columns: add them")
        object.__setattr__(self, "properties", types.MappingProxyType(dict(self.properties)))

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(column.name for column in self.columns)

    @property
    def append_only(self) -> bool:
        """Whether Delta refuses any change to the table but an append."""
        return self.properties.get("delta.appendOnly") == "true"

    def description(self, column: str) -> str | None:
        """The column's description; `extra_column` for a column the entry does not list (None without one)."""
        return next((known.description for known in self.columns if known.name == column), self.extra_column)


_REGISTERED: dict[str, Table] = {}
# Every table in the order data flows, by name.
TABLES: Mapping[str, Table] = types.MappingProxyType(_REGISTERED)


def _registered(table: Table) -> Table:
    """The table, added to `TABLES`."""
    if table.name in _REGISTERED:
        raise ValueError(f"table {table.name} is defined twice in lib/contracts/tables.py: keep one entry")
    _REGISTERED[table.name] = table
    return table


def by_layer(*layers: str) -> tuple[Table, ...]:
    """The tables of the given layers (every table when none is given), in the order data flows."""
    unknown = [layer for layer in layers if layer not in LAYERS]
    if unknown:
        raise ValueError(f"no layer {', '.join(unknown)} in lib/contracts/tables.py: use one of {', '.join(LAYERS)}")
    return tuple(table for table in TABLES.values() if not layers or table.layer in layers)


def names(*layers: str) -> tuple[str, ...]:
    """The names of the tables of the given layers (every table when none is given), in the order data flows."""
    return tuple(table.name for table in by_layer(*layers))


_DISPLAY_RATE = "percent rounded to 2 decimals; null when the denominator is 0"


def _as_original(description: str) -> str:
    """A bronze column's description as the quarantine keeps it: the original bronze value."""
    return f"Original bronze value: {description[0].lower()}{description[1:]}"


# The nine columns of a REES46 source line, in the file's order, with the types bronze gives them.
SOURCE_FIELDS: tuple[Column, ...] = (
    Column(
        "event_time",
        "TIMESTAMP",
        "When the event happened, UTC, typed from the source text (`2019-10-01 00:00:00 UTC`; no zone means UTC); "
        "null when the field is empty or does not parse",
    ),
    Column(
        "event_type",
        "STRING",
        "Event type as received (view, cart, remove_from_cart, purchase expected), not trimmed or lowercased; "
        "null when empty",
    ),
    Column("product_id", "BIGINT", "Product identifier as received; null when empty or not a whole number"),
    Column("category_id", "BIGINT", "Category identifier as received; null when empty or not a whole number"),
    Column(
        "category_code",
        "STRING",
        "Category hierarchy as received, dot-separated (e.g. `electronics.smartphone`); null when empty",
    ),
    Column("brand", "STRING", "Product brand as received, not trimmed or lowercased; null when empty"),
    Column("price", "DOUBLE", "Product price as received, in the source's currency; null when empty or not a number"),
    Column("user_id", "BIGINT", "User identifier as received; null when empty or not a whole number"),
    Column("user_session", "STRING", "Session identifier as received; null when empty"),
)
EXTRA_SOURCE_COLUMN = (
    "Extra source column: a column a source file's header has beyond the nine source columns "
    "(schema evolution), kept as text; null for rows of files without it"
)

# Properties set when a table is created: bronze is immutable and feeds silver incrementally, and
# silver's change feed tells gold which events are new. File statistics (min, max, null count) are
# collected only for the columns that filters and MERGE conditions use: collecting them for every
# column costs about a third of a write.
EVENTS_RAW = _registered(Table(
    name="events_raw",
    layer="bronze",
    holds="Every source line, typed, with audit columns; append-only.",
    built_from=(Upstream("landing CSV files", outside=True),),
    partitioning=("event_type",),
    key=("source_file", "source_line"),
    properties={
        "delta.appendOnly": "true",
        "delta.enableChangeDataFeed": "true",
        "delta.dataSkippingStatsColumns": "event_time,source_file,run_id",
    },
    # The source columns, the audit columns, then lineage; a source file's extra columns are appended as text.
    columns=SOURCE_FIELDS + (
        Column(
            "ingestion_timestamp",
            "TIMESTAMP",
            "When the bronze run ingested the row's file (UTC); the same for every file of a run",
        ),
        Column("source_file", "STRING", "The source file's name as received: its path relative to the landing folder"),
        Column("created_at", "TIMESTAMP", "When the bronze row was written (UTC)"),
        Column("run_id", "STRING", "Id of the bronze run that ingested the row (pipeline_runs.run_id)"),
        Column(
            "source_line", "BIGINT", "1-based line number of the row in its source file (a header line is line 1)"
        ),
        Column(
            "_rescued_data",
            "STRING",
            "The whole source line when a field does not parse, the field count is wrong or the line is not UTF-8; "
            "null for a clean line",
        ),
    ),
    extra_column=EXTRA_SOURCE_COLUMN,
))

EVENTS_CLEANED = _registered(Table(
    name="events_cleaned",
    layer="silver",
    holds="Standardized, valid, deduplicated events with derived columns.",
    built_from=(Upstream("events_raw", "valid, new events"), Upstream("events_quarantine", "replay: now passes")),
    partitioning=("event_date",),
    key=("event_time", "user_id", "product_id", "user_session", "event_type"),
    properties={
        "delta.enableChangeDataFeed": "true",
        "delta.dataSkippingStatsColumns": "event_time,user_id,product_id,event_type",
    },
    columns=(
        Column(
            "event_id",
            "STRING",
            "Unique event id: lowercase hex SHA-256 of event_time (`yyyy-MM-dd HH:mm:ss`), user_id, product_id, "
            "user_session and event_type joined with `|`, a null as the empty string",
        ),
        Column("event_time", "TIMESTAMP", "When the event happened, UTC (rule valid_event_time)"),
        Column(
            "event_type",
            "STRING",
            "Event type, trimmed and lowercased: view, cart, remove_from_cart or purchase (rule valid_event_type)",
        ),
        Column("product_id", "BIGINT", "Product identifier, > 0 (rule valid_product_id)"),
        Column("category_id", "BIGINT", "Category identifier as in bronze; null when the source had none"),
        Column("category_code", "STRING", "Category hierarchy, trimmed; `unknown` when null or blank in bronze"),
        Column("brand", "STRING", "Product brand, trimmed and lowercased; `unknown` when null or blank in bronze"),
        Column("price", "DOUBLE", "Product price in the source's currency, 0 to max_price (rule valid_price)"),
        Column("user_id", "BIGINT", "User identifier, > 0 (rule valid_user_id)"),
        Column("user_session", "STRING", "Session identifier, trimmed; null when the source had none"),
        Column("event_date", "DATE", "UTC date of event_time (partition column)"),
        Column("event_hour", "INT", "UTC hour of event_time, 0-23"),
        Column("event_day_of_week", "INT", "ISO day of week of event_date: 1 = Monday ... 7 = Sunday"),
        Column(
            "category_l1",
            "STRING",
            "1st dot-separated part of category_code; `unknown` when category_code is `unknown`",
        ),
        Column(
            "category_l2",
            "STRING",
            "2nd dot-separated part of category_code; null when missing or category_code is `unknown`",
        ),
        Column(
            "category_l3",
            "STRING",
            "3rd dot-separated part of category_code; null when missing or category_code is `unknown`",
        ),
        Column("processed_timestamp", "TIMESTAMP", "When the silver run wrote the row (UTC)"),
    ),
))

# The columns the quarantine adds to a bronze row's.
QUARANTINE_FIELDS: tuple[Column, ...] = (
    Column("quarantine_reasons", "ARRAY<STRING>", "Every rule with action drop that the row fails, in the rules' order"),
    Column("quarantine_reason", "STRING", "quarantine_reasons joined with `, `"),
    Column("quarantined_at", "TIMESTAMP", "When the silver run quarantined the row (UTC)"),
)

EVENTS_QUARANTINE = _registered(Table(
    name="events_quarantine",
    layer="silver",
    holds="Bronze rows failing a rule whose action is drop.",
    built_from=(Upstream("events_raw", "fails a drop rule"),),
    key=("source_file", "source_line"),
    # The bronze row as bronze wrote it (its extra columns included) but for the run id, then the quarantine's.
    columns=tuple(
        Column("run_id", "STRING", "Id of the silver run that quarantined the row (pipeline_runs.run_id)")
        if column.name == "run_id"
        else dataclasses.replace(column, description=_as_original(column.description))
        for column in EVENTS_RAW.columns
    ) + QUARANTINE_FIELDS,
    extra_column=_as_original(EXTRA_SOURCE_COLUMN),
))

QUARANTINE_HISTORY = _registered(Table(
    name="quarantine_history",
    layer="silver",
    holds="One row per quarantined row per evaluation: its first quarantine, then each replay's outcome.",
    built_from=(Upstream("events_quarantine", "every evaluation", evaluations=True),),
    key=("source_file", "source_line", "run_id"),
    columns=(
        Column("source_file", "STRING", "source_file of the evaluated quarantine row (with source_line, the bronze row)"),
        Column("source_line", "BIGINT", "source_line of the evaluated quarantine row"),
        Column(
            "run_id",
            "STRING",
            "Id of the run that evaluated the row: the silver run that quarantined it, or a replay "
            "(pipeline_runs.run_id, notebook replay)",
        ),
        Column("evaluated_at", "TIMESTAMP", "When the row was evaluated (UTC): quarantined_at for its first quarantine"),
        Column(
            "outcome",
            "STRING",
            "quarantined (fails a rule with action drop), released (passes now, inserted into events_cleaned) or "
            "duplicate (passes now, its event already in events_cleaned or released twice)",
        ),
        Column(
            "quarantine_reasons",
            "ARRAY<STRING>",
            "Every rule with action drop the row failed at this evaluation; empty when it passed",
        ),
        Column("quarantine_reason", "STRING", "quarantine_reasons joined with `, `"),
    ),
    on_demand=True,
))

# Gold's own state: what an incremental gold run needs beyond the four tables to add a day's rows to them
# without reading all of silver. Exact distinct counts come from the distinct pairs kept here (a day's new
# pairs are those not yet in the table); the mean price and the latest catalog values from a product's totals.
CUSTOMER_SESSIONS = _registered(Table(
    name="customer_sessions",
    layer="gold_state",
    holds="Every distinct (user, session) pair of silver: customer_metrics.total_sessions is its count per user.",
    built_from=(Upstream("events_cleaned", "new pairs"),),
    key=("user_id", "user_session"),
    properties={"delta.dataSkippingStatsColumns": "user_id"},
    columns=(
        Column("user_id", "BIGINT", "User identifier (customer_metrics.user_id)"),
        Column("user_session", "STRING", "A non-null user_session among the user's events"),
    ),
))

CUSTOMER_VIEWED_PRODUCTS = _registered(Table(
    name="customer_viewed_products",
    layer="gold_state",
    holds="Every distinct (user, product) pair of silver's view events: unique_products_viewed counts them per user.",
    built_from=(Upstream("events_cleaned", "new pairs"),),
    key=("user_id", "product_id"),
    properties={"delta.dataSkippingStatsColumns": "user_id"},
    columns=(
        Column("user_id", "BIGINT", "User identifier (customer_metrics.user_id)"),
        Column("product_id", "BIGINT", "A product the user has a view event of"),
    ),
))

PRODUCT_USERS = _registered(Table(
    name="product_users",
    layer="gold_state",
    holds="Every distinct (product, user) pair of silver: product_performance.unique_users is its count per product.",
    built_from=(Upstream("events_cleaned", "new pairs"),),
    key=("product_id", "user_id"),
    properties={"delta.dataSkippingStatsColumns": "product_id"},
    columns=(
        Column("product_id", "BIGINT", "Product identifier (product_performance.product_id)"),
        Column("user_id", "BIGINT", "A user with an event of the product"),
    ),
))

PRODUCT_TOTALS = _registered(Table(
    name="product_totals",
    layer="gold_state",
    holds="One row per product: the sums behind product_performance.avg_price and the time of its latest event.",
    built_from=(Upstream("events_cleaned", "sums of new rows"),),
    key=("product_id",),
    columns=(
        Column("product_id", "BIGINT", "Product identifier (product_performance.product_id)"),
        Column("priced_events", "BIGINT", "The product's events with a price"),
        Column("price_sum", "DOUBLE", "Sum of price over the product's events: avg_price = price_sum / priced_events"),
        Column(
            "latest_event_time",
            "TIMESTAMP",
            "The product's latest event_time: the event whose category_id, category_l1 and brand product_performance "
            "shows",
        ),
    ),
))

CUSTOMER_METRICS = _registered(Table(
    name="customer_metrics",
    layer="gold",
    holds="One row per user: activity, revenue, segment, RFM, churn.",
    built_from=(
        Upstream("events_cleaned"),
        Upstream("customer_sessions", "sessions"),
        Upstream("customer_viewed_products", "products viewed"),
    ),
    key=("user_id",),
    columns=(
        Column("user_id", "BIGINT", "User identifier: one row per user in silver"),
        Column("total_sessions", "BIGINT", "Distinct non-null user_session values of the user"),
        Column("total_events", "BIGINT", "The user's events, all types"),
        Column("total_views", "BIGINT", "The user's view events"),
        Column("total_cart_adds", "BIGINT", "The user's cart events"),
        Column("total_purchases", "BIGINT", "The user's purchase events"),
        Column("unique_products_viewed", "BIGINT", "Distinct product_id over the user's view events"),
        Column(
            "total_revenue",
            "DOUBLE",
            "Sum of price over the user's purchase events (lifetime value); 0 without a purchase",
        ),
        Column("avg_purchase_value", "DOUBLE", "total_revenue / total_purchases; null without a purchase"),
        Column("first_activity_date", "DATE", "The user's earliest event_date"),
        Column("last_activity_date", "DATE", "The user's latest event_date"),
        Column(
            "customer_segment",
            "STRING",
            "First match: purchases >= 10 Champion, >= 5 Loyal, >= 2 Potential Loyalist, 1 New Customer; "
            "cart adds > 0 Cart Abandoner; else Visitor",
        ),
        Column(
            "rfm_score",
            "INT",
            "R + F + M, 3-15. R: days since last_activity_date to as_of_date <= 7, 14, 30, 60 -> 5, 4, 3, 2, else 1; "
            "F: total_sessions >= 20, 10, 5, 2 -> 5, 4, 3, 2, else 1; M: total_revenue >= 1000, 500, 100, > 0 -> 5, "
            "4, 3, 2, else 1 (thresholds: parameters rfm_recency_days, rfm_frequency_sessions, rfm_monetary)",
        ),
        Column(
            "churn_risk",
            "STRING",
            "N/A without a purchase; else days since last_activity_date to as_of_date > churn_high_days (30) High, "
            "> churn_medium_days (14) Medium, else Low",
        ),
    ),
))

PRODUCT_PERFORMANCE = _registered(Table(
    name="product_performance",
    layer="gold",
    holds="One row per product: funnel counts, revenue, rank, tier.",
    built_from=(
        Upstream("events_cleaned"),
        Upstream("product_users", "users"),
        Upstream("product_totals", "mean price, latest event"),
    ),
    key=("product_id",),
    columns=(
        Column("product_id", "BIGINT", "Product identifier: one row per product in silver"),
        Column("category_id", "BIGINT", "category_id on the product's latest event (ties: the greatest value)"),
        Column("category_l1", "STRING", "category_l1 on the product's latest event (ties: the greatest value)"),
        Column("brand", "STRING", "brand on the product's latest event (ties: the greatest value)"),
        Column("avg_price", "DOUBLE", "Mean price over all the product's events"),
        Column("total_views", "BIGINT", "The product's view events"),
        Column("total_cart_adds", "BIGINT", "The product's cart events"),
        Column("total_purchases", "BIGINT", "The product's purchase events"),
        Column("unique_users", "BIGINT", "Distinct user_id over all the product's events"),
        Column("total_revenue", "DOUBLE", "Sum of price over the product's purchase events; 0 without a purchase"),
        Column("view_to_cart_rate", "DOUBLE", f"total_cart_adds / total_views, {_DISPLAY_RATE}"),
        Column("cart_to_purchase_rate", "DOUBLE", f"total_purchases / total_cart_adds, {_DISPLAY_RATE}"),
        Column("overall_conversion_rate", "DOUBLE", f"total_purchases / total_views, {_DISPLAY_RATE}"),
        Column(
            "revenue_rank_global",
            "INT",
            "dense_rank by total_revenue descending over all products (1 = highest revenue)",
        ),
        Column(
            "performance_tier",
            "STRING",
            "By percent_rank of total_revenue descending among products with revenue: <= 0.10 Top 10%, <= 0.25 "
            "Top 25%, <= 0.50 Top 50%, else Bottom; no revenue: Bottom",
        ),
    ),
))

DAILY_SALES_SUMMARY = _registered(Table(
    name="daily_sales_summary",
    layer="gold",
    holds="One row per date: counts, revenue, conversion, trends.",
    built_from=(Upstream("events_cleaned"),),
    key=("event_date",),
    columns=(
        Column("event_date", "DATE", "Calendar date (UTC): one row per event_date in silver"),
        Column("day_name", "STRING", "English day name of event_date, Monday ... Sunday"),
        Column("total_events", "BIGINT", "Events of the day, all types"),
        Column("total_views", "BIGINT", "View events of the day"),
        Column("total_purchases", "BIGINT", "Purchase events of the day"),
        Column("unique_users", "BIGINT", "Distinct user_id of the day"),
        Column("unique_sessions", "BIGINT", "Distinct non-null user_session of the day"),
        Column("total_revenue", "DOUBLE", "Sum of price over the day's purchase events; 0 without a purchase"),
        Column("avg_order_value", "DOUBLE", "total_revenue / total_purchases; null without a purchase"),
        Column("overall_conversion_rate", "DOUBLE", f"total_purchases / total_views, {_DISPLAY_RATE}"),
        Column(
            "revenue_7d_avg",
            "DOUBLE",
            "Mean total_revenue over the dates present in [event_date - 6 days, event_date]",
        ),
        Column(
            "revenue_dod_change",
            "DOUBLE",
            "(total_revenue - previous calendar day's) / previous day's, in percent rounded to 2 decimals; null when "
            "the previous day is absent or had revenue 0",
        ),
    ),
))

CONVERSION_FUNNEL = _registered(Table(
    name="conversion_funnel",
    layer="gold",
    holds="One row per date and top-level category: funnel sessions.",
    built_from=(Upstream("events_cleaned"),),
    key=("event_date", "category_l1"),
    columns=(
        Column("event_date", "DATE", "Calendar date (UTC): one row per event_date and category_l1"),
        Column("category_l1", "STRING", "Top-level category (`unknown` for events without a category)"),
        Column(
            "total_sessions",
            "BIGINT",
            "Distinct non-null user_session with an event of this category on this date",
        ),
        Column("sessions_with_view", "BIGINT", "Of those, sessions with a view event of this category on this date"),
        Column("sessions_with_cart", "BIGINT", "Of those, sessions with a cart event of this category on this date"),
        Column(
            "sessions_with_purchase",
            "BIGINT",
            "Of those, sessions with a purchase event of this category on this date",
        ),
        Column("session_view_to_cart_rate", "DOUBLE", f"sessions_with_cart / sessions_with_view, {_DISPLAY_RATE}"),
        Column(
            "session_cart_to_purchase_rate", "DOUBLE", f"sessions_with_purchase / sessions_with_cart, {_DISPLAY_RATE}"
        ),
        Column(
            "cart_abandonment_rate",
            "DOUBLE",
            f"Sessions with a cart and no purchase / sessions_with_cart, {_DISPLAY_RATE}",
        ),
        Column("total_revenue", "DOUBLE", "Sum of price over this category's purchase events on this date"),
    ),
))

DQ_METRICS = _registered(Table(
    name="dq_metrics",
    layer="quality",
    holds="One row per run and rule, monitor or metric.",
    built_from=(Upstream("events_raw", "bronze monitors, silver rules", evaluations=True),),
    key=("run_id", "layer", "rule"),
    columns=(
        Column("run_id", "STRING", "Id of the run measured (pipeline_runs.run_id)"),
        Column(
            "layer",
            "STRING",
            "Layer whose run measured the rule: bronze, silver, or replay (quarantined rows re-evaluated)",
        ),
        Column("rule", "STRING", "Rule, monitor or metric name (see the data dictionary's rules)"),
        Column(
            "action", "STRING", "The rule's action in that run: drop, warn or fail; monitor (counted only); metric"
        ),
        Column(
            "evaluated",
            "BIGINT",
            "Rows (or files) the rule was evaluated on; for duplicate_rate, rows deduplicated",
        ),
        Column(
            "failed",
            "BIGINT",
            "Of those, how many fail the rule; for duplicate_rate, duplicates removed; for quality_score, rows "
            "failing any rule",
        ),
        Column("failed_pct", "DOUBLE", f"failed / evaluated, {_DISPLAY_RATE}"),
        Column(
            "value",
            "DOUBLE",
            "The metric's value: failed_pct, except quality_score = rows passing every rule / evaluated, in percent",
        ),
        Column("measured_at", "TIMESTAMP", "When the run measured it (UTC)"),
    ),
))

PIPELINE_RUNS = _registered(Table(
    name="pipeline_runs",
    layer="ledger",
    holds="One row per notebook run: parameters, status, rows, versions.",
    key=("attempt_id",),
    columns=(
        Column("run_id", "STRING", "Id of the pipeline run, shared by its bronze, silver and gold notebook runs"),
        Column("layer", "STRING", "bronze, silver or gold; maintenance for a maintenance run (lib.ops.maintain)"),
        Column(
            "notebook",
            "STRING",
            "The notebook run, e.g. 01_bronze.ipynb; replay for a quarantine replay (lib.ops.replay); maintain for "
            "a maintenance run",
        ),
        Column("parameters", "STRING", "Every parameter of the run, as JSON with sorted keys"),
        Column("started_at", "TIMESTAMP", "When the layer's run started (UTC)"),
        Column("finished_at", "TIMESTAMP", "When the layer's run ended (UTC)"),
        Column("status", "STRING", "succeeded or failed"),
        Column(
            "error",
            "STRING",
            "For a failed run, the error's type and first line (at most 2000 characters); null otherwise",
        ),
        Column(
            "rows_in",
            "BIGINT",
            "Rows the run read: bronze, rows ingested; silver, new bronze rows (a replay: quarantined rows "
            "re-evaluated); gold, silver rows",
        ),
        Column(
            "rows_out",
            "BIGINT",
            "Rows the run wrote: bronze, rows ingested; silver, rows inserted; gold, rows of the four tables",
        ),
        Column("rows_quarantined", "BIGINT", "Silver: rows written to events_quarantine; null for other layers"),
        Column(
            "rows_duplicate",
            "BIGINT",
            "Silver: duplicates removed, within the batch and against silver; null for other layers",
        ),
        Column("versions_read", "MAP<STRING,BIGINT>", "Table -> Delta version the run read (reproducible with time travel)"),
        Column("versions_written", "MAP<STRING,BIGINT>", "Table -> Delta version the run committed"),
        Column(
            "attempt_id",
            "STRING",
            "Unique id of this attempt of the layer run; its Delta commits are tagged with it, so an unfinished "
            "attempt's writes can be undone",
        ),
        Column(
            "maintenance",
            "STRING",
            "A maintenance run's work as JSON, per table: the partitions compacted, the files OPTIMIZE rewrote and "
            "VACUUM removed, files and bytes before and after, versions; null for other runs (a lake never "
            "maintained lacks the column)",
        ),
    ),
))


def _check_lineage() -> None:
    """Every upstream of a table is a table of the lake or marked as outside it."""
    for table in TABLES.values():
        for upstream in table.built_from:
            if not upstream.outside and upstream.name not in TABLES:
                raise ValueError(
                    f"table {table.name} in lib/contracts/tables.py is built from {upstream.name}, which is no table: "
                    "register it or mark the upstream outside=True"
                )


_check_lineage()

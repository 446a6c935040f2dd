"""Gold's state, and new silver rows added to gold's per-user and per-product aggregates with it.

A full rebuild builds the state tables from all of silver (`STATE_BUILDERS`). An incremental run
reads only silver's new rows: `unseen` keeps the distinct pairs they bring that the state does not
hold yet, and `add_to_customers` and `add_to_products` add the new rows' counts and sums, and the
unseen pairs' counts, to the aggregates gold holds. Counts and sums add up, first and last dates are
the least and greatest, a distinct count grows by the pairs not seen before, and the latest catalog
values are those of the later event time (ties: the greatest value, as `gold.latest` picks them).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from lib.contracts import tables
from lib.contracts.schemas import CUSTOMER_SESSIONS, CUSTOMER_VIEWED_PRODUCTS, PRODUCT_TOTALS, PRODUCT_USERS, conform
from lib.transforms.gold import CATALOG_COLUMNS, filter_touched, is_event, latest_catalog_values, revenue

Builder = Callable[[DataFrame], DataFrame]
# Each state table's builder from silver's rows, by the table's name.
STATE_BUILDERS: dict[str, Builder] = {}
# The pair tables, each with the column a day's lookup cuts the table to (the users or products it touches).
PAIR_TABLES: dict[str, str] = {}


def builds(table: tables.Table, looked_up_by: str | None = None) -> Callable[[Builder], Builder]:
    """Register the decorated function as the builder of a state table; `looked_up_by`: a pair table's
    column that a day's new pairs are looked up by."""

    def register(builder: Builder) -> Builder:
        STATE_BUILDERS[table.name] = builder
        if looked_up_by is not None:
            PAIR_TABLES[table.name] = looked_up_by
        return builder

    return register


@builds(tables.CUSTOMER_SESSIONS, looked_up_by="user_id")
def customer_sessions(silver: DataFrame) -> DataFrame:
    """The distinct (user_id, user_session) pairs with a session: total_sessions counts them per user."""
    return conform(silver.filter(F.col("user_session").isNotNull()).select("user_id", "user_session").distinct(),
                   CUSTOMER_SESSIONS)


@builds(tables.CUSTOMER_VIEWED_PRODUCTS, looked_up_by="user_id")
def customer_viewed_products(silver: DataFrame) -> DataFrame:
    """The distinct (user_id, product_id) pairs of view events: unique_products_viewed counts them per user."""
    views = silver.filter(is_event("view") & F.col("product_id").isNotNull())
    return conform(views.select("user_id", "product_id").distinct(), CUSTOMER_VIEWED_PRODUCTS)


@builds(tables.PRODUCT_USERS, looked_up_by="product_id")
def product_users(silver: DataFrame) -> DataFrame:
    """The distinct (product_id, user_id) pairs: unique_users counts them per product."""
    return conform(silver.filter(F.col("user_id").isNotNull()).select("product_id", "user_id").distinct(),
                   PRODUCT_USERS)


@builds(tables.PRODUCT_TOTALS)
def product_totals(silver: DataFrame) -> DataFrame:
    """Per product: the events with a price, their price sum, and the latest event_time."""
    totals = silver.groupBy("product_id").agg(
        F.count("price").alias("priced_events"),
        F.coalesce(F.sum("price"), F.lit(0.0)).alias("price_sum"),
        F.max("event_time").alias("latest_event_time"),
    )
    return conform(totals, PRODUCT_TOTALS)


def null_safe(key: Sequence[str], left: str, right: str) -> Column:
    """left.k <=> right.k for every column k of the key."""
    condition = F.lit(True)
    for name in key:
        condition = condition & F.col(f"{left}.{name}").eqNullSafe(F.col(f"{right}.{name}"))
    return condition


def unseen(pairs: DataFrame, state: DataFrame, key: str) -> DataFrame:
    """The pairs (distinct) not in the state table yet.

    The state is first cut to the pairs' values of `key` by a broadcast semi-join, so the anti-join
    that follows shuffles only the state rows of the users or products the new rows touch.
    """
    pairs = pairs.distinct()
    candidates = filter_touched(state, pairs, key)
    return pairs.alias("_pair").join(candidates.alias("_held"), null_safe(pairs.columns, "_pair", "_held"), "left_anti")


def counted(pairs: DataFrame, key: str, name: str) -> DataFrame:
    """Per value of `key`, how many pairs: a distinct count's growth."""
    return pairs.groupBy(key).agg(F.count(F.lit(1)).alias(name))


def _outer(current: DataFrame, added: DataFrame, key: str, how: str = "full_outer") -> DataFrame:
    """current (alias `_c`) joined null-safely with added (alias `_a`) on key, the key coalesced as `_key`."""
    joined = current.alias("_c").join(added.alias("_a"), null_safe((key,), "_c", "_a"), how)
    return joined.withColumn("_key", F.coalesce(F.col(f"_c.{key}"), F.col(f"_a.{key}")))


def _added(name: str, zero: object = 0) -> Column:
    """The current value plus the added one, either missing counting as `zero`."""
    return F.coalesce(F.col(f"_c.{name}"), F.lit(zero)) + F.coalesce(F.col(f"_a.{name}"), F.lit(zero))


def _with(current: DataFrame, added: DataFrame, key: str, *names: str) -> DataFrame:
    """current with added's columns `names` beside it, null where added has no row for the key."""
    return _outer(current, added, key, "left").select("_c.*", *[F.col(f"_a.{name}") for name in names])


CUSTOMER_COUNTS = ("total_sessions", "total_events", "total_views", "total_cart_adds", "total_purchases",
                   "unique_products_viewed")


def add_to_customers(current: DataFrame, rows: DataFrame, sessions: DataFrame, viewed: DataFrame) -> DataFrame:
    """customer_metrics's aggregates (as `gold.aggregate_customers` makes them) with new silver rows added.

    `sessions` and `viewed` are the rows' (user, session) and (user, viewed product) pairs not seen before.
    """
    sums = rows.groupBy("user_id").agg(
        F.count(F.lit(1)).alias("total_events"),
        F.count_if(is_event("view")).alias("total_views"),
        F.count_if(is_event("cart")).alias("total_cart_adds"),
        F.count_if(is_event("purchase")).alias("total_purchases"),
        revenue().alias("total_revenue"),
        F.min("event_date").alias("first_activity_date"),
        F.max("event_date").alias("last_activity_date"),
    )
    sums = _with(sums, counted(sessions, "user_id", "total_sessions"), "user_id", "total_sessions")
    sums = _with(sums, counted(viewed, "user_id", "unique_products_viewed"), "user_id", "unique_products_viewed")
    return _outer(current, sums, "user_id").select(
        F.col("_key").alias("user_id"),
        *[_added(name).alias(name) for name in CUSTOMER_COUNTS],
        _added("total_revenue", 0.0).alias("total_revenue"),
        F.least("_c.first_activity_date", "_a.first_activity_date").alias("first_activity_date"),
        F.greatest("_c.last_activity_date", "_a.last_activity_date").alias("last_activity_date"),
    )


PRODUCT_COUNTS = ("total_views", "total_cart_adds", "total_purchases")


def add_to_products(current: DataFrame, totals: DataFrame, rows: DataFrame, users: DataFrame) -> DataFrame:
    """product_performance's aggregates (as `gold.aggregate_products` makes them) with new silver rows added,
    and product_totals's columns beside them.

    `current` holds product_performance's aggregates, `totals` is product_totals, and `users` are the
    rows' (product, user) pairs not seen before.
    """
    sums = rows.groupBy("product_id").agg(
        *[F.count_if(is_event(event)).alias(name) for event, name in zip(("view", "cart", "purchase"), PRODUCT_COUNTS)],
        revenue().alias("total_revenue"),
        F.count("price").alias("priced_events"),
        F.coalesce(F.sum("price"), F.lit(0.0)).alias("price_sum"),
        F.max("event_time").alias("latest_event_time"),
    )
    sums = _with(sums, latest_catalog_values(rows), "product_id", *CATALOG_COLUMNS)
    sums = _with(sums, counted(users, "product_id", "unique_users"), "product_id", "unique_users")
    held = _with(current, totals, "product_id", "priced_events", "price_sum", "latest_event_time")
    now, before = F.col("_a.latest_event_time"), F.col("_c.latest_event_time")
    newer = (now > before) | (before.isNull() & now.isNotNull())
    older = (now < before) | (now.isNull() & before.isNotNull())
    priced_events, price_sum = _added("priced_events"), _added("price_sum", 0.0)
    return _outer(held, sums, "product_id").select(
        F.col("_key").alias("product_id"),
        *[F.when(newer, F.col(f"_a.{name}")).when(older, F.col(f"_c.{name}"))
          .otherwise(F.greatest(f"_c.{name}", f"_a.{name}")).alias(name) for name in CATALOG_COLUMNS],
        F.when(priced_events != 0, price_sum / priced_events).alias("avg_price"),
        *[_added(name).alias(name) for name in PRODUCT_COUNTS],
        _added("unique_users").alias("unique_users"),
        _added("total_revenue", 0.0).alias("total_revenue"),
        priced_events.alias("priced_events"),
        price_sum.alias("price_sum"),
        F.greatest(before, now).alias("latest_event_time"),
    )

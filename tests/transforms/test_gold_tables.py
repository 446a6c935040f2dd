"""Gold tables on hand-checkable silver rows: every column of every table (docs/definitions.md, gold).

Each table has its own small input, chosen to sit on the rules' boundaries; the expected rows
are worked out by hand in the comments.
"""

from __future__ import annotations

import datetime as dt

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import types as T
from pyspark.testing import assertDataFrameEqual

from lib.contracts.schemas import (
    CONVERSION_FUNNEL,
    CUSTOMER_METRICS,
    DAILY_SALES_SUMMARY,
    EVENTS_CLEANED,
    PRODUCT_PERFORMANCE,
)
from lib.transforms import gold

UTC = dt.timezone.utc
AS_OF = dt.date(2019, 10, 31)
# The silver columns gold reads.
GOLD_INPUT = T.StructType(
    [
        EVENTS_CLEANED[name]
        for name in (
            "event_time",
            "event_date",
            "event_type",
            "product_id",
            "category_id",
            "category_l1",
            "brand",
            "price",
            "user_id",
            "user_session",
        )
    ]
)


def at(day: str, hour: int = 12) -> dt.datetime:
    return dt.datetime.fromisoformat(day).replace(hour=hour, tzinfo=UTC)


def ev(
    when: dt.datetime,
    event_type: str,
    product_id: int,
    price: float,
    user_id: int,
    session: str | None,
    category_id: int | None = 1,
    category_l1: str = "electronics",
    brand: str = "brand",
) -> tuple:
    """A silver row; event_date is the UTC date of event_time."""
    return (when, when.date(), event_type, product_id, category_id, category_l1, brand, price, user_id, session)


def silver_events(spark: SparkSession, rows: list[tuple]) -> DataFrame:
    return spark.createDataFrame(rows, GOLD_INPUT)


def d(day: str) -> dt.date:
    return dt.date.fromisoformat(day)


# ---------------------------------------------------------------- customer_metrics


def customer_events() -> list[tuple]:
    rows = [
        # user 1, Visitor: 4 views on 10-24 (7 days before as_of), one without a session
        ev(at("2019-10-24"), "view", 100, 5.0, 1, "s1-a"),
        ev(at("2019-10-24"), "view", 101, 5.0, 1, "s1-a"),
        ev(at("2019-10-24"), "view", 100, 5.0, 1, "s1-a"),
        ev(at("2019-10-24"), "view", 100, 5.0, 1, None),
        # user 2, Cart Abandoner: last activity 10-23 (8 days)
        ev(at("2019-10-20"), "view", 100, 5.0, 2, "s2-a"),
        ev(at("2019-10-23"), "cart", 100, 5.0, 2, "s2-b"),
        # user 3, New Customer: one purchase of 0.01 on 10-17 (14 days)
        ev(at("2019-10-17"), "purchase", 102, 0.01, 3, "s3-a"),
        # user 4, Potential Loyalist: 2 purchases = 100.0, 5 sessions, last 10-16 (15 days)
        ev(at("2019-10-01"), "view", 100, 60.0, 4, "s4-c"),
        ev(at("2019-10-16"), "view", 101, 40.0, 4, "s4-d"),
        ev(at("2019-10-16"), "view", 100, 60.0, 4, "s4-e"),
        ev(at("2019-10-16"), "purchase", 100, 60.0, 4, "s4-a"),
        ev(at("2019-10-16"), "purchase", 101, 40.0, 4, "s4-b"),
        # user 9, New Customer: 99.99, 4 sessions, last 10-31 (0 days)
        ev(at("2019-10-05"), "view", 100, 99.99, 9, "s9-b"),
        ev(at("2019-10-31"), "view", 101, 99.99, 9, "s9-c"),
        ev(at("2019-10-31"), "view", 102, 99.99, 9, "s9-d"),
        ev(at("2019-10-31"), "purchase", 100, 99.99, 9, "s9-a"),
        # user 10, Cart Abandoner with no session at all
        ev(at("2019-10-31"), "cart", 100, 5.0, 10, None),
    ]
    # user 5, Loyal: 5 purchases of 100.0 and 5 views of 5 products, 10 sessions, on 10-01 (30 days)
    rows += [ev(at("2019-10-01"), "purchase", 100, 100.0, 5, f"s5-p{i}") for i in range(5)]
    rows += [ev(at("2019-10-01"), "view", 100 + i, 100.0, 5, f"s5-v{i}") for i in range(5)]
    # user 6, Champion: 10 purchases of 100.0, 10 views, 1 cart, 20 sessions, on 09-30 (31 days)
    rows += [ev(at("2019-09-30"), "purchase", 100, 100.0, 6, f"s6-p{i}") for i in range(10)]
    rows += [ev(at("2019-09-30"), "view", 100, 100.0, 6, f"s6-v{i}") for i in range(10)]
    rows += [ev(at("2019-09-30"), "cart", 100, 100.0, 6, "s6-p0")]
    # user 7: 4 purchases = 999.99, 15 views, 19 sessions, on 09-01 (60 days)
    prices = [249.99, 250.0, 250.0, 250.0]
    rows += [ev(at("2019-09-01"), "purchase", 100, price, 7, f"s7-p{i}") for i, price in enumerate(prices)]
    rows += [ev(at("2019-09-01"), "view", 100, 250.0, 7, f"s7-v{i}") for i in range(15)]
    # user 8: 9 purchases = 8 x 55.0 + 59.99 = 499.99, 9 sessions, on 08-31 (61 days)
    rows += [ev(at("2019-08-31"), "purchase", 100, 55.0, 8, f"s8-p{i}") for i in range(8)]
    rows += [ev(at("2019-08-31"), "purchase", 100, 59.99, 8, "s8-p8")]
    return rows


def test_customer_metrics_segments_rfm_and_churn_at_the_boundaries(spark: SparkSession) -> None:
    actual = gold.build_customer_metrics(silver_events(spark, customer_events()), AS_OF)
    # days since last activity -> R: 7->5, 8->4, 14->4, 15->3, 30->3, 31->2, 60->2, 61->1, 0->5
    # sessions -> F: 1->1, 2->2, 5->3, 10->4, 20->5, 19->4, 9->3, 4->2, 0->1
    # revenue -> M: 0->1, 0.01->2, 100->3, 500->4, 1000->5, 999.99->4, 499.99->3, 99.99->2
    expected = spark.createDataFrame(
        [
            (1, 1, 4, 4, 0, 0, 2, 0.0, None, d("2019-10-24"), d("2019-10-24"), "Visitor", 5 + 1 + 1, "N/A"),
            (2, 2, 2, 1, 1, 0, 1, 0.0, None, d("2019-10-20"), d("2019-10-23"), "Cart Abandoner", 4 + 2 + 1, "N/A"),
            (3, 1, 1, 0, 0, 1, 0, 0.01, 0.01, d("2019-10-17"), d("2019-10-17"), "New Customer", 4 + 1 + 2, "Low"),
            (4, 5, 5, 3, 0, 2, 2, 100.0, 50.0, d("2019-10-01"), d("2019-10-16"), "Potential Loyalist", 3 + 3 + 3,
             "Medium"),
            (5, 10, 10, 5, 0, 5, 5, 500.0, 100.0, d("2019-10-01"), d("2019-10-01"), "Loyal", 3 + 4 + 4, "Medium"),
            (6, 20, 21, 10, 1, 10, 1, 1000.0, 100.0, d("2019-09-30"), d("2019-09-30"), "Champion", 2 + 5 + 5, "High"),
            (7, 19, 19, 15, 0, 4, 1, 999.99, 249.9975, d("2019-09-01"), d("2019-09-01"), "Potential Loyalist",
             2 + 4 + 4, "High"),
            (8, 9, 9, 0, 0, 9, 0, 499.99, 55.55444444444444, d("2019-08-31"), d("2019-08-31"), "Loyal", 1 + 3 + 3,
             "High"),
            (9, 4, 4, 3, 0, 1, 3, 99.99, 99.99, d("2019-10-05"), d("2019-10-31"), "New Customer", 5 + 2 + 2, "Low"),
            (10, 0, 1, 0, 1, 0, 0, 0.0, None, d("2019-10-31"), d("2019-10-31"), "Cart Abandoner", 5 + 1 + 1, "N/A"),
        ],
        CUSTOMER_METRICS,
    )
    assertDataFrameEqual(actual, expected)


def test_customer_metrics_thresholds_are_parameters(spark: SparkSession) -> None:
    events = silver_events(
        spark,
        [
            ev(at("2019-10-29"), "purchase", 100, 15.0, 1, "s1"),
            ev(at("2019-10-29"), "view", 100, 15.0, 1, None),
        ],
    )
    actual = gold.build_customer_metrics(
        events,
        AS_OF,
        recency_days=(1, 2, 3, 4),  # 2 days -> 4
        frequency_sessions=(4, 3, 2, 1),  # 1 session -> 2
        monetary=(40.0, 30.0, 20.0, 10.0),  # 15.0 -> 2
        churn_high_days=1,  # 2 days -> High
        churn_medium_days=0,
    )
    expected = spark.createDataFrame(
        [(1, 1, 2, 1, 0, 1, 1, 15.0, 15.0, d("2019-10-29"), d("2019-10-29"), "New Customer", 4 + 2 + 2, "High")],
        CUSTOMER_METRICS,
    )
    assertDataFrameEqual(actual, expected)


# ---------------------------------------------------------------- product_performance


def product_events() -> list[tuple]:
    day = "2019-10-01"
    rows = [
        # product 1: brand and category change; the latest event (12:00) has category 2, computers, newbrand
        ev(at(day, 9), "view", 1, 983.0, 1, "s", 1, "electronics", "oldbrand"),
        ev(at(day, 10), "view", 1, 1000.0, 2, "s", 2, "computers", "newbrand"),
        ev(at(day, 10), "view", 1, 1000.0, 3, "s", 2, "computers", "newbrand"),
        ev(at(day, 10), "view", 1, 1010.0, 1, "s", 2, "computers", "newbrand"),
        ev(at(day, 11), "cart", 1, 1000.0, 1, "s", 2, "computers", "newbrand"),
        ev(at(day, 11), "cart", 1, 1000.0, 2, "s", 2, "computers", "newbrand"),
        ev(at(day, 12), "purchase", 1, 1000.0, 1, "s", 2, "computers", "newbrand"),
        # product 2: 3 views, 1 cart, 1 purchase of 900
        ev(at(day), "view", 2, 900.0, 1, "s"),
        ev(at(day), "view", 2, 900.0, 1, "s"),
        ev(at(day), "view", 2, 903.0, 1, "s"),
        ev(at(day), "cart", 2, 900.0, 1, "s"),
        ev(at(day), "purchase", 2, 900.0, 1, "s"),
        # product 3: 800; its two latest events tie at 15:00, and each column's greatest value wins:
        # category 31 and electronics from one event, the brand zeta from the other
        ev(at(day, 14), "purchase", 3, 800.0, 3, "s", 30, "appliances", "acme"),
        ev(at(day, 15), "view", 3, 800.0, 1, "s", 31, "electronics", "zenith"),
        ev(at(day, 15), "view", 3, 800.0, 2, "s", 30, "appliances", "zeta"),
        # product 4: 800 too (a revenue tie), 2 purchases from 1 view
        ev(at(day), "view", 4, 400.0, 4, "s"),
        ev(at(day), "purchase", 4, 400.0, 4, "s"),
        ev(at(day), "purchase", 4, 400.0, 4, "s"),
        # product 5: 500, one of each
        ev(at(day), "view", 5, 500.0, 5, "s"),
        ev(at(day), "cart", 5, 500.0, 5, "s"),
        ev(at(day), "purchase", 5, 500.0, 5, "s"),
        # product 12: no revenue; its latest event has no category_id
        ev(at(day, 10), "view", 12, 20.0, 1, "s", 120, "unknown", "unknown"),
        ev(at(day, 10), "view", 12, 20.0, 2, "s", 120, "unknown", "unknown"),
        ev(at(day, 13), "cart", 12, 20.0, 1, "s", None, "unknown", "unknown"),
        # product 13: no view, cart or purchase at all
        ev(at(day), "remove_from_cart", 13, 7.0, 1, "s"),
    ]
    # products 6..11: one purchase each, no views or carts
    rows += [ev(at(day), "purchase", product, price, 6, "s") for product, price in
             [(6, 400.0), (7, 300.0), (8, 200.0), (9, 100.0), (10, 50.0), (11, 10.0)]]
    return rows


def test_product_performance_counts_rates_rank_and_tier(spark: SparkSession) -> None:
    actual = gold.build_product_performance(silver_events(spark, product_events()))
    # 11 products with revenue: rank() 1,2,3,3,5,...,11 -> percent_rank 0, .1, .2, .2, .4, .5, .6, ... 1.0
    expected = spark.createDataFrame(
        [
            (1, 2, "computers", "newbrand", 999.0, 4, 2, 1, 3, 1000.0, 50.0, 50.0, 25.0, 1, "Top 10%"),
            (2, 1, "electronics", "brand", 900.6, 3, 1, 1, 1, 900.0, 33.33, 100.0, 33.33, 2, "Top 10%"),
            (3, 31, "electronics", "zeta", 800.0, 2, 0, 1, 3, 800.0, 0.0, None, 50.0, 3, "Top 25%"),
            (4, 1, "electronics", "brand", 400.0, 1, 0, 2, 1, 800.0, 0.0, None, 200.0, 3, "Top 25%"),
            (5, 1, "electronics", "brand", 500.0, 1, 1, 1, 1, 500.0, 100.0, 100.0, 100.0, 4, "Top 50%"),
            (6, 1, "electronics", "brand", 400.0, 0, 0, 1, 1, 400.0, None, None, None, 5, "Top 50%"),
            (7, 1, "electronics", "brand", 300.0, 0, 0, 1, 1, 300.0, None, None, None, 6, "Bottom"),
            (8, 1, "electronics", "brand", 200.0, 0, 0, 1, 1, 200.0, None, None, None, 7, "Bottom"),
            (9, 1, "electronics", "brand", 100.0, 0, 0, 1, 1, 100.0, None, None, None, 8, "Bottom"),
            (10, 1, "electronics", "brand", 50.0, 0, 0, 1, 1, 50.0, None, None, None, 9, "Bottom"),
            (11, 1, "electronics", "brand", 10.0, 0, 0, 1, 1, 10.0, None, None, None, 10, "Bottom"),
            (12, None, "unknown", "unknown", 20.0, 2, 1, 0, 2, 0.0, 50.0, 0.0, 0.0, 11, "Bottom"),
            (13, 1, "electronics", "brand", 7.0, 0, 0, 0, 1, 0.0, None, None, None, 11, "Bottom"),
        ],
        PRODUCT_PERFORMANCE,
    )
    assertDataFrameEqual(actual, expected)


# ---------------------------------------------------------------- daily_sales_summary


def daily_events() -> list[tuple]:
    return [
        # 10-01 Tuesday: revenue 100 from 2 purchases, 4 views, 3 users, 2 sessions (one event has none)
        ev(at("2019-10-01"), "view", 1, 40.0, 1, "s1"),
        ev(at("2019-10-01"), "view", 1, 40.0, 1, "s1"),
        ev(at("2019-10-01"), "view", 2, 60.0, 2, "s2"),
        ev(at("2019-10-01"), "view", 2, 60.0, 3, None),
        ev(at("2019-10-01"), "purchase", 1, 40.0, 1, "s1"),
        ev(at("2019-10-01"), "purchase", 2, 60.0, 2, "s2"),
        # 10-02: revenue 150
        ev(at("2019-10-02"), "view", 1, 150.0, 1, "s3"),
        ev(at("2019-10-02"), "view", 1, 150.0, 1, "s3"),
        ev(at("2019-10-02"), "view", 1, 150.0, 1, "s3"),
        ev(at("2019-10-02"), "purchase", 1, 150.0, 1, "s3"),
        # 10-03: revenue 0
        ev(at("2019-10-03"), "view", 1, 10.0, 1, "s4"),
        ev(at("2019-10-03"), "view", 1, 10.0, 2, "s5"),
        # 10-04: revenue 80 with no view
        ev(at("2019-10-04"), "cart", 1, 80.0, 3, "s6"),
        ev(at("2019-10-04"), "purchase", 1, 80.0, 3, "s6"),
        # 10-05 has no events
        # 10-06 Sunday: revenue 90
        ev(at("2019-10-06", 23), "view", 1, 90.0, 1, "s7"),
        ev(at("2019-10-06", 23), "purchase", 1, 90.0, 1, "s7"),
        # 10-07 Monday: revenue 30
        ev(at("2019-10-07", 0), "view", 1, 30.0, 1, "s8"),
        ev(at("2019-10-07", 0), "purchase", 1, 30.0, 1, "s8"),
        # 10-08: revenue 45 from 2 purchases, 1 view
        ev(at("2019-10-08"), "view", 1, 20.0, 2, None),
        ev(at("2019-10-08"), "purchase", 1, 20.0, 2, "s9"),
        ev(at("2019-10-08"), "purchase", 1, 25.0, 2, "s9"),
    ]


def test_daily_sales_summary_with_a_gap_and_a_zero_revenue_day(spark: SparkSession) -> None:
    actual = gold.build_daily_sales_summary(silver_events(spark, daily_events()))
    # revenue_7d_avg: mean over the dates present in [date - 6, date]
    #   10-03: (100 + 150 + 0) / 3; 10-07: (100 + 150 + 0 + 80 + 90 + 30) / 6; 10-08: (150 + 0 + 80 + 90 + 30 + 45) / 6
    # revenue_dod_change: 10-04 after a 0 day and 10-06 after a missing day are null
    expected = spark.createDataFrame(
        [
            (d("2019-10-01"), "Tuesday", 6, 4, 2, 3, 2, 100.0, 50.0, 50.0, 100.0, None),
            (d("2019-10-02"), "Wednesday", 4, 3, 1, 1, 1, 150.0, 150.0, 33.33, 125.0, 50.0),
            (d("2019-10-03"), "Thursday", 2, 2, 0, 2, 2, 0.0, None, 0.0, 83.33333333333333, -100.0),
            (d("2019-10-04"), "Friday", 2, 0, 1, 1, 1, 80.0, 80.0, None, 82.5, None),
            (d("2019-10-06"), "Sunday", 2, 1, 1, 1, 1, 90.0, 90.0, 100.0, 84.0, None),
            (d("2019-10-07"), "Monday", 2, 1, 1, 1, 1, 30.0, 30.0, 100.0, 75.0, -66.67),
            (d("2019-10-08"), "Tuesday", 3, 1, 2, 1, 1, 45.0, 22.5, 200.0, 65.83333333333333, 50.0),
        ],
        DAILY_SALES_SUMMARY,
    )
    assertDataFrameEqual(actual, expected)


# ---------------------------------------------------------------- conversion_funnel


def funnel_events() -> list[tuple]:
    oct1, oct2 = at("2019-10-01"), at("2019-10-02")

    def e(when: dt.datetime, event_type: str, session: str | None, category: str, price: float = 10.0) -> tuple:
        return ev(when, event_type, 1, price, 1, session, 1, category)

    return [
        e(oct1, "view", "S1", "electronics"),
        e(oct1, "cart", "S1", "electronics"),
        e(oct1, "purchase", "S1", "electronics", 100.0),
        e(oct1, "view", "S2", "electronics"),
        e(oct1, "cart", "S2", "electronics"),
        e(oct1, "view", "S3", "electronics"),
        e(oct1, "view", "S4", "electronics"),
        e(oct1, "cart", "S4", "appliances"),
        e(oct1, "view", "S8", "electronics"),
        e(oct1, "cart", "S8", "electronics"),
        e(oct1, "purchase", None, "electronics", 10.0),  # revenue counts, the session does not
        e(oct1, "view", "S5", "appliances"),
        e(oct1, "cart", "S5", "appliances"),
        e(oct1, "purchase", "S5", "appliances", 50.0),
        e(oct1, "purchase", "S5", "appliances", 25.0),
        e(oct1, "purchase", "S9", "appliances", 5.0),
        e(oct2, "view", "S1", "electronics"),
        e(oct2, "cart", "S6", "electronics"),
        e(oct2, "view", "S7", "unknown"),
        e(oct2, "purchase", None, "furniture", 20.0),
    ]


def test_conversion_funnel_sessions_rates_and_abandonment(spark: SparkSession) -> None:
    actual = gold.build_conversion_funnel(silver_events(spark, funnel_events()))
    expected = spark.createDataFrame(
        [
            # S1, S2, S3, S4, S8; carts S1, S2, S8; purchase S1; abandoned S2, S8
            (d("2019-10-01"), "electronics", 5, 5, 3, 1, 60.0, 33.33, 66.67, 110.0),
            # S4 (cart only here), S5, S9 (purchase without cart); abandoned S4
            (d("2019-10-01"), "appliances", 3, 1, 2, 2, 200.0, 100.0, 50.0, 80.0),
            (d("2019-10-02"), "electronics", 2, 1, 1, 0, 100.0, 0.0, 100.0, 0.0),
            (d("2019-10-02"), "unknown", 1, 1, 0, 0, 0.0, None, None, 0.0),
            (d("2019-10-02"), "furniture", 0, 0, 0, 0, None, None, None, 20.0),
        ],
        CONVERSION_FUNNEL,
    )
    assertDataFrameEqual(actual, expected)

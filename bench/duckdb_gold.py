"""The four gold tables of docs/definitions.md in DuckDB SQL, rebuilt from all of `events_cleaned`.

A rate of two counts is rounded half up in exact integer arithmetic: the percentage docs/definitions.md
defines, with no floating-point step that could move a value sitting on .xx5.
"""

from __future__ import annotations

import datetime as dt

import duckdb

GOLD_TABLES = ("customer_metrics", "product_performance", "daily_sales_summary", "conversion_funnel")

# The default thresholds of docs/definitions.md (parameters of the pipeline; its defaults are checked here).
RECENCY_DAYS = (7, 14, 30, 60)
FREQUENCY_SESSIONS = (20, 10, 5, 2)
MONETARY = (1000.0, 500.0, 100.0, 0.0)
CHURN_HIGH_DAYS, CHURN_MEDIUM_DAYS = 30, 14

MACROS = """
-- count_n / count_d in percent, rounded half up to 2 decimals; null where count_d is 0
CREATE OR REPLACE TEMP MACRO count_rate(n, d) AS
    CASE WHEN d <> 0 THEN CAST((20000 * n + d) // (2 * d) AS DOUBLE) / 100 END;
-- money_n / money_d in percent, rounded half up (away from zero) to 2 decimals; null where money_d is 0
CREATE OR REPLACE TEMP MACRO money_rate(n, d) AS
    CASE WHEN d <> 0 THEN CAST(round(CAST(n * 100 / d AS DECIMAL(38, 9)), 2) AS DOUBLE) END;
CREATE OR REPLACE TEMP MACRO money_ratio(n, d) AS CASE WHEN d <> 0 THEN n / d END;
"""


def score(value: str, thresholds: tuple[float, ...], compare: str, last_compare: str | None = None) -> str:
    """5, 4, 3, 2 for the first threshold `value compare threshold` passes, else 1."""
    whens = []
    for index, (points, threshold) in enumerate(zip((5, 4, 3, 2), thresholds)):
        operator = last_compare if last_compare and index == 3 else compare
        whens.append(f"WHEN {value} {operator} {threshold!r} THEN {points}")
    return f"CASE {' '.join(whens)} ELSE 1 END"


def customer_metrics_sql(as_of: dt.date) -> str:
    days_inactive = f"date_diff('day', last_activity_date, DATE '{as_of.isoformat()}')"
    rfm = " + ".join(
        [
            score(days_inactive, RECENCY_DAYS, "<="),
            score("total_sessions", FREQUENCY_SESSIONS, ">="),
            score("total_revenue", MONETARY, ">=", last_compare=">"),
        ]
    )
    return f"""
    CREATE OR REPLACE TABLE customer_metrics AS
    WITH per_user AS (
        SELECT user_id,
               count(DISTINCT user_session) AS total_sessions,
               count(*) AS total_events,
               count(*) FILTER (WHERE event_type = 'view') AS total_views,
               count(*) FILTER (WHERE event_type = 'cart') AS total_cart_adds,
               count(*) FILTER (WHERE event_type = 'purchase') AS total_purchases,
               count(DISTINCT product_id) FILTER (WHERE event_type = 'view') AS unique_products_viewed,
               coalesce(sum(price) FILTER (WHERE event_type = 'purchase'), 0)::DOUBLE AS total_revenue,
               min(event_date) AS first_activity_date,
               max(event_date) AS last_activity_date
        FROM events_cleaned
        GROUP BY user_id
    )
    SELECT user_id, total_sessions, total_events, total_views, total_cart_adds, total_purchases,
           unique_products_viewed, total_revenue,
           money_ratio(total_revenue, total_purchases) AS avg_purchase_value,
           first_activity_date, last_activity_date,
           CASE WHEN total_purchases >= 10 THEN 'Champion'
                WHEN total_purchases >= 5 THEN 'Loyal'
                WHEN total_purchases >= 2 THEN 'Potential Loyalist'
                WHEN total_purchases = 1 THEN 'New Customer'
                WHEN total_cart_adds > 0 THEN 'Cart Abandoner'
                ELSE 'Visitor' END AS customer_segment,
           CAST({rfm} AS INT) AS rfm_score,
           CASE WHEN total_purchases = 0 THEN 'N/A'
                WHEN {days_inactive} > {CHURN_HIGH_DAYS} THEN 'High'
                WHEN {days_inactive} > {CHURN_MEDIUM_DAYS} THEN 'Medium'
                ELSE 'Low' END AS churn_risk
    FROM per_user
    """


PRODUCT_PERFORMANCE = """
CREATE OR REPLACE TABLE product_performance AS
WITH latest AS (
    SELECT product_id, max(event_time) AS latest_time FROM events_cleaned GROUP BY product_id
), per_product AS (
    -- catalog values on the latest event; among events at that time, the greatest value
    SELECT e.product_id,
           max(e.category_id) FILTER (WHERE e.event_time = l.latest_time) AS category_id,
           max(e.category_l1) FILTER (WHERE e.event_time = l.latest_time) AS category_l1,
           max(e.brand) FILTER (WHERE e.event_time = l.latest_time) AS brand,
           avg(e.price) AS avg_price,
           count(*) FILTER (WHERE e.event_type = 'view') AS total_views,
           count(*) FILTER (WHERE e.event_type = 'cart') AS total_cart_adds,
           count(*) FILTER (WHERE e.event_type = 'purchase') AS total_purchases,
           count(DISTINCT e.user_id) AS unique_users,
           coalesce(sum(e.price) FILTER (WHERE e.event_type = 'purchase'), 0)::DOUBLE AS total_revenue
    FROM events_cleaned AS e JOIN latest AS l USING (product_id)
    GROUP BY e.product_id
), ranked AS (
    SELECT *,
           CAST(dense_rank() OVER (ORDER BY total_revenue DESC) AS INT) AS revenue_rank_global,
           percent_rank() OVER (PARTITION BY total_revenue > 0 ORDER BY total_revenue DESC) AS revenue_position
    FROM per_product
)
SELECT product_id, category_id, category_l1, brand, avg_price, total_views, total_cart_adds, total_purchases,
       unique_users, total_revenue,
       count_rate(total_cart_adds, total_views) AS view_to_cart_rate,
       count_rate(total_purchases, total_cart_adds) AS cart_to_purchase_rate,
       count_rate(total_purchases, total_views) AS overall_conversion_rate,
       revenue_rank_global,
       CASE WHEN NOT total_revenue > 0 THEN 'Bottom'
            WHEN revenue_position <= 0.10 THEN 'Top 10%'
            WHEN revenue_position <= 0.25 THEN 'Top 25%'
            WHEN revenue_position <= 0.50 THEN 'Top 50%'
            ELSE 'Bottom' END AS performance_tier
FROM ranked
"""

DAILY_SALES_SUMMARY = """
CREATE OR REPLACE TABLE daily_sales_summary AS
WITH per_day AS (
    SELECT event_date,
           count(*) AS total_events,
           count(*) FILTER (WHERE event_type = 'view') AS total_views,
           count(*) FILTER (WHERE event_type = 'purchase') AS total_purchases,
           count(DISTINCT user_id) AS unique_users,
           count(DISTINCT user_session) AS unique_sessions,
           coalesce(sum(price) FILTER (WHERE event_type = 'purchase'), 0)::DOUBLE AS total_revenue
    FROM events_cleaned
    GROUP BY event_date
)
SELECT d.event_date, dayname(d.event_date) AS day_name, d.total_events, d.total_views, d.total_purchases,
       d.unique_users, d.unique_sessions, d.total_revenue,
       money_ratio(d.total_revenue, d.total_purchases) AS avg_order_value,
       count_rate(d.total_purchases, d.total_views) AS overall_conversion_rate,
       -- the mean over the dates present in [date - 6 days, date]
       avg(d.total_revenue) OVER (ORDER BY d.event_date RANGE BETWEEN 6 PRECEDING AND CURRENT ROW) AS revenue_7d_avg,
       -- against the previous calendar day, null when that day is absent or had no revenue
       money_rate(d.total_revenue - previous.total_revenue, previous.total_revenue) AS revenue_dod_change
FROM per_day AS d LEFT JOIN per_day AS previous ON previous.event_date = d.event_date - 1
"""

CONVERSION_FUNNEL = """
CREATE OR REPLACE TABLE conversion_funnel AS
WITH sessions AS (
    SELECT event_date, category_l1, user_session,
           bool_or(event_type = 'view') AS has_view,
           bool_or(event_type = 'cart') AS has_cart,
           bool_or(event_type = 'purchase') AS has_purchase,
           sum(price) FILTER (WHERE event_type = 'purchase') AS revenue
    FROM events_cleaned
    GROUP BY event_date, category_l1, user_session
), per_group AS (
    -- a null user_session is no session, but its purchases are the category's revenue
    SELECT event_date, category_l1,
           count(user_session) AS total_sessions,
           count(user_session) FILTER (WHERE has_view) AS sessions_with_view,
           count(user_session) FILTER (WHERE has_cart) AS sessions_with_cart,
           count(user_session) FILTER (WHERE has_purchase) AS sessions_with_purchase,
           count(user_session) FILTER (WHERE has_cart AND NOT has_purchase) AS sessions_abandoned,
           coalesce(sum(revenue), 0)::DOUBLE AS total_revenue
    FROM sessions
    GROUP BY event_date, category_l1
)
SELECT event_date, category_l1, total_sessions, sessions_with_view, sessions_with_cart, sessions_with_purchase,
       count_rate(sessions_with_cart, sessions_with_view) AS session_view_to_cart_rate,
       count_rate(sessions_with_purchase, sessions_with_cart) AS session_cart_to_purchase_rate,
       count_rate(sessions_abandoned, sessions_with_cart) AS cart_abandonment_rate,
       total_revenue
FROM per_group
"""


def build_gold(con: duckdb.DuckDBPyConnection, as_of_date: dt.date | str | None = None) -> dt.date | None:
    """Create the four gold tables; return the as_of_date used (default: the latest event_date)."""
    con.execute(MACROS)
    if isinstance(as_of_date, str) and as_of_date:
        as_of: dt.date | None = dt.date.fromisoformat(as_of_date)
    elif isinstance(as_of_date, dt.date):
        as_of = as_of_date
    else:
        as_of = con.sql("SELECT max(event_date) FROM events_cleaned").fetchall()[0][0]
    if as_of is not None:
        con.execute(customer_metrics_sql(as_of))
    else:  # an empty silver: an empty table of the same shape
        con.execute(customer_metrics_sql(dt.date(1970, 1, 1)))
    for sql in (PRODUCT_PERFORMANCE, DAILY_SALES_SUMMARY, CONVERSION_FUNNEL):
        con.execute(sql)
    return as_of

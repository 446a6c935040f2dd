"""Gold's state on literal rows: aggregates of earlier rows plus a batch of new rows, added with the state,
equal the aggregates of all the rows.

The batch holds what an incremental update must get right: a session, a viewed product and a product's
user already seen (a distinct count that must not grow), a new user, a new product, a late event (an
older event_time than the product's latest), a tie on the latest event_time (the greatest value wins),
a null session and a null price.
"""

from __future__ import annotations

import datetime as dt

from pyspark.sql import DataFrame, SparkSession

from lakehouse_testing import assert_same_rows
from lib.contracts import tables
from lib.transforms import gold, gold_state
from test_gold_tables import at, ev, silver_events

BEFORE = [
    ev(at("2019-10-01", 9), "view", 100, 10.0, 1, "s1", category_id=7, brand="acme"),
    ev(at("2019-10-01", 10), "cart", 100, 10.0, 1, "s1", category_id=7, brand="acme"),
    ev(at("2019-10-01", 11), "purchase", 100, 10.0, 1, "s1", category_id=7, brand="acme"),
    ev(at("2019-10-02", 8), "view", 101, 4.5, 2, "s2", category_l1="home", brand="zeta"),
    ev(at("2019-10-02", 9), "view", 101, 4.5, 2, None, category_l1="home", brand="zeta"),
]
NEW = [
    # user 1 again: the same session and the same viewed product (no new distinct), then a new session
    ev(at("2019-10-03", 9), "view", 100, 12.0, 1, "s1", category_id=8, brand="acme"),
    ev(at("2019-10-03", 10), "purchase", 100, 12.0, 1, "s1b", category_id=9, brand="bolt"),
    # product 101: a late event before its latest, from a new user, with no price and no session
    ev(at("2019-10-01", 7), "view", 101, None, 3, None, category_l1="garden", brand="alfa"),
    # product 101 tied on its latest event_time with a greater brand and category_l1
    ev(at("2019-10-02", 9), "cart", 101, 4.5, 2, "s2", category_l1="kitchen", brand="zulu"),
    # a new product from an existing user
    ev(at("2019-10-03", 12), "remove_from_cart", 102, 30.0, 2, "s3", category_id=None, brand="unknown"),
]


def added(spark: SparkSession) -> tuple[DataFrame, DataFrame, dict[str, DataFrame]]:
    """All the rows, the new rows, and the pairs the new rows bring that the earlier rows' state lacks."""
    before, new = silver_events(spark, BEFORE), silver_events(spark, NEW)
    unseen = {
        name: gold_state.unseen(gold_state.STATE_BUILDERS[name](new), gold_state.STATE_BUILDERS[name](before), key)
        for name, key in gold_state.PAIR_TABLES.items()
    }
    return before, new, unseen


def test_unseen_pairs_are_the_new_rows_pairs_the_state_lacks(spark: SparkSession) -> None:
    _, _, unseen = added(spark)
    assert_same_rows(unseen["customer_sessions"], [(1, "s1b"), (2, "s3")])
    assert_same_rows(unseen["customer_viewed_products"], [(3, 101)])
    assert_same_rows(unseen["product_users"], [(101, 3), (102, 2)])


def test_customers_with_new_rows_added_equal_the_aggregates_of_all_rows(spark: SparkSession) -> None:
    before, new, unseen = added(spark)
    merged = gold_state.add_to_customers(
        gold.aggregate_customers(before), new, unseen["customer_sessions"], unseen["customer_viewed_products"]
    )
    expected = gold.aggregate_customers(before.unionByName(new))
    assert_same_rows(merged.select(*expected.columns), expected, decimals=9)


def test_products_with_new_rows_added_equal_the_aggregates_and_totals_of_all_rows(spark: SparkSession) -> None:
    before, new, unseen = added(spark)
    merged = gold_state.add_to_products(
        gold.aggregate_products(before), gold_state.product_totals(before), new, unseen["product_users"]
    )
    everything = before.unionByName(new)
    expected = gold.aggregate_products(everything).join(gold_state.product_totals(everything), "product_id")
    assert_same_rows(merged.select(*expected.columns), expected, decimals=9)
    catalog = {row["product_id"]: (row["category_l1"], row["brand"]) for row in merged.collect()}
    assert catalog == {100: ("electronics", "bolt"), 101: ("kitchen", "zulu"), 102: ("electronics", "unknown")}


def test_every_state_table_of_the_registry_has_a_builder() -> None:
    assert sorted(gold_state.STATE_BUILDERS) == sorted(tables.names("gold_state"))
    assert set(gold_state.PAIR_TABLES) <= set(gold_state.STATE_BUILDERS)
    for name, column in gold_state.PAIR_TABLES.items():
        assert tables.TABLES[name].key[0] == column


def test_replacing_the_new_rows_dates_keeps_every_other_date_and_the_null_date(spark: SparkSession) -> None:
    """daily_sales_summary's and conversion_funnel's rows of the dates a day touches are replaced by a filter on
    those dates; a row of another date, and one with no date, is kept unless the dates hold a None."""
    oct_1, oct_2 = dt.date(2019, 10, 1), dt.date(2019, 10, 2)
    held = spark.createDataFrame([(oct_1, 1), (oct_2, 2), (None, 3)], "event_date date, total_events long")
    recomputed = spark.createDataFrame([(oct_2, 20)], "event_date date, total_events long")
    assert_same_rows(gold.replace_matching(held, recomputed, gold.date_in([oct_2])),
                     [(oct_1, 1), (oct_2, 20), (None, 3)])
    with_null = spark.createDataFrame([(oct_2, 20), (None, 30)], "event_date date, total_events long")
    assert_same_rows(gold.replace_matching(held, with_null, gold.date_in([oct_2, None])),
                     [(oct_1, 1), (oct_2, 20), (None, 30)])
    assert_same_rows(gold.replace_matching(held, recomputed.limit(0), gold.date_in([])), held)

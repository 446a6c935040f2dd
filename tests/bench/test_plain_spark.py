"""The benchmark's plain PySpark job against the landing files read again in plain Python.

The job is the same-engine anchor of the benchmark: its figures only mean something if it does the
pipeline's kind of work on the same rows. Three generated days cover a header, a file without one
(Friday: a reader told every file has a header would drop its first event), CRLF and a missing last
newline, with every injected fault, and a purchase repeated in a file of its own.
"""

from __future__ import annotations

import csv
import datetime as dt
import re
from collections import defaultdict
from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from bench.plain_spark import PlainRun, run_plain_spark
from lib.synthetic.generator import generate_landing

MAX_PRICE = 100_000.0
EVENT_TYPES = {"view", "cart", "remove_from_cart", "purchase"}
WHOLE_NUMBER = re.compile(r"-?[0-9]+")
DECIMAL = re.compile(r"-?[0-9]+(\.[0-9]+)?")


def valid_event(fields: list[str]) -> tuple[tuple, str, float] | None:
    """(dedup key, event date, price) of a line's fields that pass every rule, else None."""
    if len(fields) != 9:
        return None
    event_time, event_type, product_id, category_id, _, _, price, user_id, user_session = fields
    try:
        at = dt.datetime.strptime(event_time, "%Y-%m-%d %H:%M:%S UTC")
    except ValueError:
        return None
    whole = [WHOLE_NUMBER.fullmatch(text) for text in (product_id, user_id)]
    if not all(whole) or (category_id and not WHOLE_NUMBER.fullmatch(category_id)) or not DECIMAL.fullmatch(price):
        return None
    kind = event_type.strip().lower()
    if kind not in EVENT_TYPES or int(product_id) <= 0 or int(user_id) <= 0 or not 0 <= float(price) <= MAX_PRICE:
        return None
    key = (at, int(user_id), int(product_id), user_session.strip() if user_session else None, kind)
    return key, at.date().isoformat(), float(price)


def read_landing_in_python(landing: Path) -> tuple[int, dict[tuple, tuple[str, float]]]:
    """Data lines of every file (headers and blank lines aside), and each distinct valid event's date and price."""
    lines, events = 0, {}
    for path in sorted(landing.iterdir()):
        for line in path.read_text().splitlines():
            if not line.strip() or line.startswith("event_time,"):
                continue
            lines += 1
            event = valid_event(next(csv.reader([line])))
            if event is not None:
                key, date, price = event
                events.setdefault(key, (date, price))
    return lines, events


# A file without a header whose purchase comes three times: twice the same line, once with case and spaces.
REPEATED_PURCHASE = "\n".join(
    ["2019-10-04 12:00:00 UTC,purchase,900001,77,kids.toys,alpha,25.50,800001,repeat-1"] * 2
    + ["2019-10-04 12:00:00 UTC, Purchase ,900001,77,kids.toys,ALPHA,25.50,800001,repeat-1"]
) + "\n"


@pytest.fixture(scope="module")
def plain_run(spark: SparkSession, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, PlainRun]:
    root = tmp_path_factory.mktemp("plain-spark")
    landing = root / "landing"
    generate_landing(landing, days=3, start_date=dt.date(2019, 10, 3), events_per_day=400, fault_rate=0.05, seed=7)
    (landing / "repeated_purchase.csv").write_text(REPEATED_PURCHASE)
    return landing, run_plain_spark(spark, landing, root / "plain", max_price=MAX_PRICE)


@pytest.mark.lake
def test_bronze_keeps_every_data_line_and_silver_every_distinct_valid_event(
    spark: SparkSession, plain_run: tuple[Path, PlainRun]
) -> None:
    landing, plain = plain_run
    lines, events = read_landing_in_python(landing)
    assert plain.table(spark, "events_raw").count() == plain.counts["bronze"] == lines
    assert plain.table(spark, "events_cleaned").count() == plain.counts["silver"] == len(events)
    # The input has faults to drop and duplicates to remove, or the counts above would prove little.
    assert plain.counts["quarantined"] > 0 and plain.counts["duplicates"] > 0
    assert plain.seconds["total"] == pytest.approx(sum(plain.seconds[layer] for layer in ("bronze", "silver", "gold")))


@pytest.mark.lake
def test_daily_revenue_is_the_sum_of_the_distinct_purchases_prices(
    spark: SparkSession, plain_run: tuple[Path, PlainRun]
) -> None:
    landing, plain = plain_run
    expected: dict[str, float] = defaultdict(float)
    for (_, _, _, _, kind), (date, price) in read_landing_in_python(landing)[1].items():
        expected[date] += price if kind == "purchase" else 0.0
    daily = {row["event_date"].isoformat(): row["total_revenue"]
             for row in plain.table(spark, "daily_sales_summary").collect()}
    assert daily == pytest.approx(dict(expected), abs=0.005)
    assert plain.as_of_date == dt.date(2019, 10, 5)
    products = plain.table(spark, "product_performance").agg({"total_revenue": "sum"}).first()[0]
    assert products == pytest.approx(sum(expected.values()), abs=0.005)

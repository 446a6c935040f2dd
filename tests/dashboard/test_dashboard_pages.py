"""Every page under Streamlit's AppTest on the lake the real pipeline built: shown values
are checked against sums computed here from the fixture's own Delta tables."""

from __future__ import annotations

import base64
import json
import shutil
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from deltalake import DeltaTable, write_deltalake

PAGES = ("overview", "daily_sales", "conversion_funnel", "customers", "products", "data_quality", "pipeline_runs")


def table(lake: Path, name: str) -> pd.DataFrame:
    return DeltaTable(lake / name).to_pyarrow_table().to_pandas()


def metric(app, label: str):
    found = [m for m in app.metric if m.label == label]
    assert found, f"no metric {label!r} in {[m.label for m in app.metric]}"
    return found[0]


def number(text: str) -> float:
    return float(text.replace(",", "").replace("%", "").replace(" pp", ""))


def assert_money(shown, expected: float) -> None:
    """A money KPI shows the amount to the cent, or in millions with the exact amount in its tooltip."""
    if shown.value.endswith(" M"):
        assert shown.value == f"{expected / 1e6:,.2f} M"
        assert f"{expected:,.2f}" in shown.proto.help
    else:
        assert number(shown.value) == pytest.approx(round(expected, 2), abs=0.005)


def chart(app, key: str) -> dict:
    """The Plotly figure a page sent under `key`, as JSON."""
    for element in app.get("plotly_chart"):
        if element.key == key:
            return json.loads(element.proto.spec)
    raise AssertionError(f"no chart {key!r}: {[e.key for e in app.get('plotly_chart')]}")


def values(data) -> list:
    """A trace's array, also when Plotly sent it as base64 typed data."""
    if isinstance(data, dict) and "bdata" in data:
        return np.frombuffer(base64.b64decode(data["bdata"]), dtype=np.dtype(data["dtype"])).tolist()
    return list(data)


def last_quality_score(lake: Path) -> float:
    dq = table(lake, "dq_metrics")
    scores = dq[dq["rule"] == "quality_score"].sort_values("measured_at")
    return float(scores["value"].iloc[-1])


# --- Empty lake -------------------------------------------------------------------------------


@pytest.mark.parametrize("page", PAGES)
def test_an_empty_lake_shows_the_build_command_not_a_traceback(open_app, tmp_path: Path, page: str) -> None:
    app = open_app(tmp_path, page)
    assert any("has no" in w.value or "No lake folder" in w.value for w in app.warning), [w.value for w in app.warning]
    assert [c.value for c in app.code] == ["make run"]
    assert not app.get("plotly_chart")


def test_a_missing_lake_folder_says_so(open_app, tmp_path: Path) -> None:
    app = open_app(tmp_path / "not-built-yet", "daily_sales")
    assert "No lake folder" in app.warning[0].value
    assert str(tmp_path / "not-built-yet") in app.warning[0].value
    assert [c.value for c in app.code] == ["make run"]


# --- Overview ---------------------------------------------------------------------------------


def test_overview_kpis_are_the_gold_totals_of_all_days(open_app, pipeline_lake: Path) -> None:
    daily = table(pipeline_lake, "daily_sales_summary")
    customers = table(pipeline_lake, "customer_metrics")
    app = open_app(pipeline_lake)

    assert_money(metric(app, "Revenue"), daily["total_revenue"].sum())
    assert number(metric(app, "Purchases").value) == daily["total_purchases"].sum()
    conversion = daily["total_purchases"].sum() / daily["total_views"].sum() * 100
    assert number(metric(app, "Conversion rate").value) == pytest.approx(round(conversion, 2), abs=0.005)
    aov = daily["total_revenue"].sum() / daily["total_purchases"].sum()
    assert number(metric(app, "Average order value").value) == pytest.approx(round(aov, 2), abs=0.005)
    # The whole range: distinct users are exactly the customers, not the sum of daily users.
    assert number(metric(app, "Active users").value) == len(customers)
    assert number(metric(app, "Latest quality score").value) == pytest.approx(
        round(last_quality_score(pipeline_lake), 2), abs=0.005)
    assert metric(app, "Revenue").delta in ("", None)  # nothing before the first day to compare with


def test_overview_one_day_is_compared_with_the_day_before(open_app, pipeline_lake: Path) -> None:
    daily = table(pipeline_lake, "daily_sales_summary").sort_values("event_date")
    last, before = daily.iloc[-1], daily.iloc[-2]
    app = open_app(pipeline_lake)
    app.date_input(key="filter_dates").set_value((last["event_date"], last["event_date"])).run()

    assert_money(metric(app, "Revenue"), last["total_revenue"])
    change = (last["total_revenue"] - before["total_revenue"]) / before["total_revenue"] * 100
    assert metric(app, "Revenue").delta == f"{change:+.1f}%"
    assert number(metric(app, "Active users").value) == last["unique_users"]
    assert number(metric(app, "Sessions").value) == last["unique_sessions"]


def test_overview_compares_only_with_a_period_the_lake_covers(open_app, pipeline_lake: Path) -> None:
    dates = sorted(table(pipeline_lake, "daily_sales_summary")["event_date"])
    app = open_app(pipeline_lake)
    # The last two days: the two days before them start before the lake does.
    app.date_input(key="filter_dates").set_value((dates[-2], dates[-1])).run()
    assert metric(app, "Revenue").delta in ("", None)
    assert "the lake starts on" in app.caption[0].value


def test_overview_reports_the_last_runs_status(open_app, pipeline_lake: Path) -> None:
    runs = table(pipeline_lake, "pipeline_runs")
    app = open_app(pipeline_lake)
    if (runs["status"] == "succeeded").all():
        assert "every layer succeeded" in app.success[0].value
    else:
        assert "failed" in app.error[0].value


# --- Daily sales ------------------------------------------------------------------------------


def test_daily_sales_draws_each_days_revenue_and_lists_the_days(open_app, pipeline_lake: Path) -> None:
    daily = table(pipeline_lake, "daily_sales_summary").sort_values("event_date")
    app = open_app(pipeline_lake, "daily_sales")

    bars, average = chart(app, "daily_revenue")["data"][:2]
    assert values(bars["y"]) == pytest.approx(daily["total_revenue"].tolist())
    assert values(average["y"]) == pytest.approx(daily["revenue_7d_avg"].tolist())
    shown = app.dataframe[0].value
    assert list(shown["event_date"]) == list(daily["event_date"])


def test_daily_sales_date_filter_narrows_the_days(open_app, pipeline_lake: Path) -> None:
    daily = table(pipeline_lake, "daily_sales_summary").sort_values("event_date")
    first = daily["event_date"].iloc[0]
    app = open_app(pipeline_lake, "daily_sales")
    app.date_input(key="filter_dates").set_value((first, first)).run()

    assert list(app.dataframe[0].value["event_date"]) == [first]
    assert values(chart(app, "daily_revenue")["data"][0]["y"]) == pytest.approx([daily["total_revenue"].iloc[0]])


# --- Conversion funnel ------------------------------------------------------------------------


def funnel_steps(rows: pd.DataFrame) -> list[int]:
    return [int(rows[c].sum()) for c in ("sessions_with_view", "sessions_with_cart", "sessions_with_purchase")]


def test_funnel_sums_sessions_and_a_category_filter_narrows_it(open_app, pipeline_lake: Path) -> None:
    funnel = table(pipeline_lake, "conversion_funnel")
    app = open_app(pipeline_lake, "conversion_funnel")
    assert values(chart(app, "funnel_chart")["data"][0]["x"]) == funnel_steps(funnel)

    category = funnel.groupby("category_l1")["total_sessions"].sum().idxmin()
    app.multiselect(key="filter_categories").set_value([category]).run()
    only = funnel[funnel["category_l1"] == category]
    assert values(chart(app, "funnel_chart")["data"][0]["x"]) == funnel_steps(only)
    assert funnel_steps(only) != funnel_steps(funnel)
    view_to_cart = only["sessions_with_cart"].sum() / only["sessions_with_view"].sum() * 100
    assert number(metric(app, "View → cart").value) == pytest.approx(round(view_to_cart, 2), abs=0.005)
    assert list(app.dataframe[0].value["category_l1"]) == [category]


# --- Customers --------------------------------------------------------------------------------


def test_customers_segments_and_search(open_app, pipeline_lake: Path) -> None:
    customers = table(pipeline_lake, "customer_metrics")
    app = open_app(pipeline_lake, "customers")

    assert number(metric(app, "Customers").value) == len(customers)
    bars = chart(app, "customers_segments")["data"][0]
    shown = dict(zip(bars["x"], values(bars["y"])))
    assert shown == customers["customer_segment"].value_counts().to_dict()

    best = customers.sort_values(["total_revenue", "user_id"], ascending=[False, True]).iloc[0]
    assert app.dataframe[0].value["user_id"].iloc[0] == best["user_id"]

    app.text_input(key="customers_user_id").input(str(best["user_id"])).run()
    found = app.dataframe[0].value
    assert list(found["user_id"]) == [best["user_id"]]
    assert found["customer_segment"].iloc[0] == best["customer_segment"]


def test_customers_segment_filter_keeps_only_that_segment(open_app, pipeline_lake: Path) -> None:
    customers = table(pipeline_lake, "customer_metrics")
    segment = customers["customer_segment"].value_counts().idxmin()
    app = open_app(pipeline_lake, "customers")
    app.multiselect(key="customers_segments_filter").set_value([segment]).run()

    found = app.dataframe[0].value
    assert set(found["customer_segment"]) == {segment}
    assert len(found) == min(1000, (customers["customer_segment"] == segment).sum())


# --- Products ---------------------------------------------------------------------------------


def test_products_top_seller_and_category_filter(open_app, pipeline_lake: Path) -> None:
    products = table(pipeline_lake, "product_performance")
    app = open_app(pipeline_lake, "products")
    best = products.sort_values(["total_revenue", "product_id"], ascending=[False, True]).iloc[0]
    top = chart(app, "products_top")["data"][0]
    assert top["y"][0].startswith(f"{best['product_id']} ·")
    assert values(top["x"])[0] == pytest.approx(best["total_revenue"])

    category = products["category_l1"].value_counts().idxmin()
    app.multiselect(key="filter_categories").set_value([category]).run()
    shown = app.dataframe[0].value
    assert set(shown["category_l1"]) == {category}
    assert len(shown) == (products["category_l1"] == category).sum()


# --- Data quality -----------------------------------------------------------------------------


def test_data_quality_score_reasons_and_conservation(open_app, pipeline_lake: Path) -> None:
    quarantine = DeltaTable(pipeline_lake / "events_quarantine").to_pyarrow_table(columns=["quarantine_reasons"])
    runs = table(pipeline_lake, "pipeline_runs")
    app = open_app(pipeline_lake, "data_quality")

    assert number(metric(app, "Latest quality score").value) == pytest.approx(
        round(last_quality_score(pipeline_lake), 2), abs=0.005)
    reasons = chart(app, "dq_reasons")["data"][0]
    expected = pc.value_counts(pc.list_flatten(quarantine.column("quarantine_reasons"))).to_pylist()
    assert dict(zip(reasons["y"], values(reasons["x"]))) == {e["values"]: e["counts"] for e in expected}

    design = app.dataframe[0].value.set_index("rule")
    assert design.at["quality_score", "actual_pct"] == pytest.approx(last_quality_score(pipeline_lake))

    sample = next(d.value for d in app.dataframe if "quarantine_reason" in d.value.columns)
    ids = DeltaTable(pipeline_lake / "events_quarantine").to_pyarrow_table(columns=["category_id"])
    exact = {str(v) for v in ids.column("category_id").to_pylist() if v is not None}
    shown_ids = {str(v) for v in sample["category_id"].dropna()}
    assert shown_ids and shown_ids <= exact  # 19-digit ids beside nulls keep every digit

    conservation = app.dataframe[-1].value
    silver = runs[runs["layer"] == "silver"]
    assert list(conservation["rows_in"]) == list(silver.sort_values("started_at")["rows_in"])
    assert (conservation["unaccounted"] == 0).all()


# --- Pipeline runs ----------------------------------------------------------------------------


def test_pipeline_runs_ledger_lists_every_notebook_run(open_app, pipeline_lake: Path) -> None:
    runs = table(pipeline_lake, "pipeline_runs")
    app = open_app(pipeline_lake, "pipeline_runs")
    ledger = app.dataframe[0].value
    assert len(ledger) == len(runs) == number(metric(app, "Notebook runs").value)
    assert sorted(ledger["layer"]) == sorted(runs["layer"])
    latest_gold = runs[runs["layer"] == "gold"].sort_values("started_at").iloc[-1]
    shown = ledger[ledger["layer"] == "gold"].iloc[0]["versions_written"]  # the ledger is newest first
    assert latest_gold["versions_written"], "the gold run wrote no table version"
    assert all(f"{name}@{version}" in shown for name, version in latest_gold["versions_written"])


# --- Behaviour across pages and runs ----------------------------------------------------------


def test_filters_survive_page_changes(open_app, pipeline_lake: Path) -> None:
    day = table(pipeline_lake, "daily_sales_summary")["event_date"].max()
    app = open_app(pipeline_lake)
    app.date_input(key="filter_dates").set_value((day, day)).run()
    app.switch_page("views/customers.py").run()  # a page without the date filter
    assert not app.date_input
    app.switch_page("views/daily_sales.py").run()

    assert app.date_input(key="filter_dates").value == (day, day)
    assert list(app.dataframe[0].value["event_date"]) == [day]


def test_a_new_pipeline_run_shows_on_the_next_interaction(open_app, pipeline_lake: Path, tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    shutil.copytree(pipeline_lake, lake)
    daily_path = lake / "daily_sales_summary"
    original = DeltaTable(daily_path).to_pyarrow_table()
    revenue = pc.sum(original.column("total_revenue")).as_py()
    app = open_app(lake)
    assert_money(metric(app, "Revenue"), revenue)

    def scaled(factor: int) -> pa.Table:
        column = original.schema.get_field_index("total_revenue")
        return original.set_column(column, "total_revenue", pc.multiply(original.column("total_revenue"), factor))

    write_deltalake(daily_path, scaled(2), mode="overwrite")  # a new version of the table
    app.run()
    assert_money(metric(app, "Revenue"), 2 * revenue)

    # The lake rebuilt from scratch: versions start at 0 again, so the version alone cannot
    # tell this table from the one first shown.
    first_shown = DeltaTable(pipeline_lake / "daily_sales_summary").version()
    shutil.rmtree(daily_path)
    for _ in range(first_shown + 1):  # up to the version first shown
        write_deltalake(daily_path, scaled(3), mode="overwrite")
    assert DeltaTable(daily_path).version() == first_shown
    app.run()
    assert_money(metric(app, "Revenue"), 3 * revenue)


def test_distinct_active_users_only_where_customer_metrics_can_tell(tmp_path: Path) -> None:
    from dashboard import data

    d = [date(2019, 10, day) for day in range(1, 5)]
    customers = pa.table({
        "user_id": pa.array([1, 2, 3, None], pa.int64()),
        "first_activity_date": pa.array([d[0], d[1], d[0], None], pa.date32()),
        "last_activity_date": pa.array([d[3], d[1], d[0], None], pa.date32()),
    })
    write_deltalake(tmp_path / "customer_metrics", customers)
    ref = data.table_ref(tmp_path, "customer_metrics")

    assert data.distinct_active_users(ref, d[0], d[1]) == 3  # user 1 first seen in range, 2 and 3 inside
    assert data.distinct_active_users(ref, d[0], d[3]) == 3
    assert data.distinct_active_users(ref, d[2], d[3]) == 1
    assert data.distinct_active_users(ref, d[1], d[2]) is None  # user 1 may or may not be active on d2-d3


def test_an_unnarrowed_date_range_grows_with_the_lake(open_app, pipeline_lake: Path, tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    shutil.copytree(pipeline_lake, lake)
    daily = DeltaTable(lake / "daily_sales_summary").to_pyarrow_table()
    first, last = pc.min(daily.column("event_date")).as_py(), pc.max(daily.column("event_date")).as_py()
    app = open_app(lake)
    assert app.date_input(key="filter_dates").value == (first, last)

    day_after = last + timedelta(days=1)
    next_day = daily.filter(pc.equal(daily.column("event_date"), pa.scalar(last, pa.date32())))
    column = daily.schema.get_field_index("event_date")
    next_day = next_day.set_column(column, "event_date", pa.array([day_after], pa.date32()))
    write_deltalake(lake / "daily_sales_summary", next_day, mode="append")  # a run that added a day
    app.run()
    assert app.date_input(key="filter_dates").value == (first, day_after)

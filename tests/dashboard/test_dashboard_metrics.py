"""The dashboard's KPI arithmetic on literal gold rows (what a page would get wrong silently)."""

from __future__ import annotations

import subprocess
import sys
from datetime import date

import pandas as pd
import pytest

from dashboard import metrics
from lib.contracts.paths import REPO_ROOT


def test_funnel_rates_over_rows_come_from_summed_counts_not_averaged_rates() -> None:
    rows = pd.DataFrame({
        "category_l1": ["phones", "phones", "unknown"],
        "total_sessions": [100, 10, 5],
        "sessions_with_view": [100, 10, 0],
        "sessions_with_cart": [10, 5, 0],
        "sessions_with_purchase": [5, 0, 0],
        "cart_abandonment_rate": [60.0, 100.0, None],  # 6 of 10 and 5 of 5 carts abandoned; no carts
        "total_revenue": [500.0, 0.0, 0.0],
    })
    total = metrics.funnel_rates(rows, by=[]).iloc[0]
    assert total["view_to_cart_rate"] == pytest.approx(15 / 110 * 100)  # not mean(10%, 50%)
    assert total["cart_to_purchase_rate"] == pytest.approx(5 / 15 * 100)
    assert total["cart_abandonment_rate"] == pytest.approx(11 / 15 * 100)
    by_category = metrics.funnel_rates(rows, by=["category_l1"]).set_index("category_l1")
    assert pd.isna(by_category.at["unknown", "view_to_cart_rate"])  # no views: no rate, not 0


def test_period_totals_and_the_previous_period() -> None:
    daily = pd.DataFrame({
        "event_date": [date(2019, 10, d) for d in (1, 2, 3)],
        "total_revenue": [10.0, 20.0, 40.0], "total_purchases": [1, 2, 4], "total_views": [100, 100, 0],
        "total_events": [110, 110, 10], "unique_users": [5, 6, 7], "unique_sessions": [8, 9, 10],
    })
    assert metrics.previous_period(date(2019, 10, 2), date(2019, 10, 3)) == (date(2019, 9, 30), date(2019, 10, 1))
    late = metrics.period_totals(daily, date(2019, 10, 2), date(2019, 10, 3))
    assert (late.revenue, late.purchases, late.user_days, late.days_with_data) == (60.0, 6, 13, 2)
    assert late.conversion_pct == pytest.approx(6 / 100 * 100)
    assert late.avg_order_value == pytest.approx(10.0)
    none = metrics.period_totals(daily, date(2019, 9, 1), date(2019, 9, 2))
    assert none.days_with_data == 0 and none.conversion_pct is None and none.avg_order_value is None
    assert metrics.pct_change(60.0, 30.0) == pytest.approx(100.0)
    assert metrics.pct_change(60.0, 0.0) is None and metrics.pct_change(None, 5.0) is None


def test_row_conservation_flags_lost_rows_and_skips_failed_runs() -> None:
    runs = pd.DataFrame({
        "run_id": ["r1", "r2", "r3", "r3"],
        "layer": ["silver", "silver", "silver", "gold"],
        "started_at": pd.to_datetime(["2024-05-01", "2024-05-02", "2024-05-03", "2024-05-03"], utc=True),
        "status": ["succeeded", "succeeded", "failed", "succeeded"],
        "rows_in": [100, 100, 100, 90],
        "rows_out": [90, 90, None, 5],
        "rows_quarantined": [7, 7, None, None],
        "rows_duplicate": [3, 2, None, None],
    })
    table = metrics.row_conservation(runs)
    assert list(table["run_id"]) == ["r1", "r2", "r3"]
    assert list(table["unaccounted"]) == [0, 1, 100]
    assert table["conserved"].tolist()[:2] == [True, False]
    assert pd.isna(table["conserved"].iloc[2])  # a failed run wrote nothing to balance


def test_design_quality_table_reads_the_latest_runs_rules() -> None:
    dq = pd.DataFrame({
        "run_id": ["r1"] * 4,
        "rule": ["valid_event_time", "negative_price", "duplicate_rate", "quality_score"],
        "value": [0.0, 0.01, 0.0, 99.2],
    })
    table = metrics.design_quality_table(dq, "r1").set_index("rule")
    assert table.at["quality_score", "meets_target"]
    assert not table.at["negative_price", "meets_target"]
    assert table.at["valid_event_time", "meets_target"]
    assert pd.isna(table.at["valid_event_type", "actual_pct"])  # a rule the run did not record


def test_tier_chart_labels_shorten_large_numbers_without_changing_them() -> None:
    from dashboard import charts

    tiers = pd.DataFrame({"performance_tier": ["Top 10%", "Bottom"], "products": [5_675, 69_241],
                          "revenue": [14_060_000.5, 999.0]})
    products, revenue = charts.tier_summary(tiers).data
    assert list(products.text) == ["5,675", "69.2k"]
    assert list(revenue.text) == ["14.06M", "999"]


def test_the_quality_metrics_and_target_are_the_registry_s() -> None:
    from lib.contracts import rules

    assert metrics.QUALITY_METRICS is rules.QUALITY_METRICS
    assert metrics.QUALITY_SCORE_TARGET_PCT == rules.QUALITY_SCORE_TARGET_PCT
    assert {rule for _, rule, _ in metrics.QUALITY_METRICS} >= {"valid_event_time", "valid_event_type"}
    assert set(rules.RULE_NAMES) >= {rule for _, rule, _ in metrics.QUALITY_METRICS if rule.startswith("valid_")}


@pytest.mark.end_to_end
def test_the_dashboard_imports_no_pyspark() -> None:
    """The dashboard reads Delta with deltalake; the registry it imports must not bring Spark in."""
    code = ("import sys, dashboard.metrics, dashboard.data, dashboard.charts; "
            "print(sorted(name for name in sys.modules if name.split('.')[0] == 'pyspark'))")
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"

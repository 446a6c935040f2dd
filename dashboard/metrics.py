"""Numbers the pages show, computed from the small gold tables (pure pandas, no Streamlit).

Ratios over a date range are recomputed from summed numerators and denominators, never
averaged from daily rates: conversion over a range = purchases / views over that range.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import pandas as pd

from lib.contracts.rules import QUALITY_METRICS, QUALITY_SCORE_TARGET_PCT
from lib.contracts.tables import LAYERS

FUNNEL_STEPS = ("sessions_with_view", "sessions_with_cart", "sessions_with_purchase")


def ratio_pct(numerator: float, denominator: float) -> float | None:
    """numerator / denominator x 100, None when the denominator is 0 (as in the tables)."""
    if denominator is None or pd.isna(denominator) or denominator == 0:
        return None
    return float(numerator) / float(denominator) * 100


def pct_change(current: float | None, previous: float | None) -> float | None:
    """Relative change in %, None when there is nothing to compare with."""
    if current is None or previous is None or pd.isna(current) or pd.isna(previous) or previous == 0:
        return None
    return (float(current) - float(previous)) / abs(float(previous)) * 100


def previous_period(start: date, end: date) -> tuple[date, date]:
    """The period of the same length just before [start, end]."""
    days = (end - start).days + 1
    return start - timedelta(days=days), start - timedelta(days=1)


def in_dates(frame: pd.DataFrame, start: date, end: date, column: str = "event_date") -> pd.DataFrame:
    """Rows whose `column` date lies in [start, end]."""
    dates = frame[column]
    return frame[(dates >= start) & (dates <= end)]


@dataclass(frozen=True)
class PeriodTotals:
    """Sales totals of a date range, from `daily_sales_summary`."""

    days_with_data: int
    revenue: float
    purchases: int
    views: int
    events: int
    user_days: int
    session_days: int

    @property
    def conversion_pct(self) -> float | None:
        return ratio_pct(self.purchases, self.views)

    @property
    def avg_order_value(self) -> float | None:
        return self.revenue / self.purchases if self.purchases else None


def period_totals(daily: pd.DataFrame, start: date, end: date) -> PeriodTotals:
    """Sum the daily rows of [start, end]. Users and sessions are per-day counts summed."""
    rows = in_dates(daily, start, end)
    return PeriodTotals(
        days_with_data=len(rows),
        revenue=float(rows["total_revenue"].sum()),
        purchases=int(rows["total_purchases"].sum()),
        views=int(rows["total_views"].sum()),
        events=int(rows["total_events"].sum()),
        user_days=int(rows["unique_users"].sum()),
        session_days=int(rows["unique_sessions"].sum()),
    )


def weekday_pattern(daily: pd.DataFrame) -> pd.DataFrame:
    """Mean revenue, events and users per weekday (Monday first) over the given days."""
    order = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
    grouped = daily.groupby("day_name", observed=True).agg(
        days=("event_date", "count"),
        avg_revenue=("total_revenue", "mean"),
        avg_events=("total_events", "mean"),
        avg_users=("unique_users", "mean"),
    )
    return grouped.reindex([d for d in order if d in grouped.index]).rename_axis("day_name").reset_index()


def funnel_rates(funnel: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    """Session counts and rates per `by` group (no group: one total row).

    Abandonment over several rows is the cart-weighted mean of the rows' rates: the tables keep
    the rate, not the count of abandoned sessions, so this is exact up to their 2-decimal rounding.
    """
    work = funnel.assign(
        _abandoned=funnel["cart_abandonment_rate"].fillna(0) / 100 * funnel["sessions_with_cart"]
    )
    sums = ["total_sessions", *FUNNEL_STEPS, "_abandoned", "total_revenue"]
    grouped = work.groupby(by, observed=True)[sums].sum().reset_index() if by else work[sums].sum().to_frame().T
    with np.errstate(divide="ignore", invalid="ignore"):
        grouped["view_to_cart_rate"] = _rate(grouped["sessions_with_cart"], grouped["sessions_with_view"])
        grouped["cart_to_purchase_rate"] = _rate(grouped["sessions_with_purchase"], grouped["sessions_with_cart"])
        grouped["cart_abandonment_rate"] = _rate(grouped["_abandoned"], grouped["sessions_with_cart"])
    return grouped.drop(columns="_abandoned")


def _rate(numerator: pd.Series, denominator: pd.Series) -> pd.Series:
    return (numerator / denominator.where(denominator != 0) * 100).astype(float)


def layer_rows(dq: pd.DataFrame, layer: str) -> pd.DataFrame:
    """The `dq_metrics` rows of one layer (silver: rules, monitors and score; bronze: file and line monitors).

    Rows written before the table had a layer for bronze are silver's.
    """
    if "layer" not in dq.columns:
        return dq if layer == "silver" else dq.iloc[0:0]
    return dq[dq["layer"].fillna("silver") == layer]


def bronze_monitors(dq: pd.DataFrame) -> pd.DataFrame:
    """The latest bronze run's monitors: files refused, empty, drifted; lines rescued, not UTF-8."""
    bronze = layer_rows(dq, "bronze")
    if bronze.empty:
        return bronze[["rule", "evaluated", "failed", "failed_pct"]]
    latest = bronze.sort_values(["measured_at", "run_id"]).iloc[-1]
    run = bronze[(bronze["run_id"] == latest["run_id"]) & (bronze["measured_at"] == latest["measured_at"])]
    return run[["rule", "evaluated", "failed", "failed_pct"]].reset_index(drop=True)


def quality_by_run(dq: pd.DataFrame) -> pd.DataFrame:
    """One row per run with its measurement time and quality score, oldest first."""
    dq = layer_rows(dq, "silver")
    scores = dq[dq["rule"] == "quality_score"]
    runs = scores.groupby("run_id", as_index=False).agg(measured_at=("measured_at", "max"), score=("value", "last"))
    runs = runs.sort_values(["measured_at", "run_id"]).reset_index(drop=True)
    runs["meets_target"] = runs["score"] > QUALITY_SCORE_TARGET_PCT
    return runs


def design_quality_table(dq: pd.DataFrame, run_id: str) -> pd.DataFrame:
    """The quality metrics of `lib.contracts.rules` (metric, target, actual %) for one run."""
    silver = layer_rows(dq, "silver")
    run = silver[silver["run_id"] == run_id].set_index("rule")
    rows = []
    for metric, rule, target in QUALITY_METRICS:
        actual = float(run.at[rule, "value"]) if rule in run.index else None
        if rule == "quality_score":
            meets = None if actual is None else actual > QUALITY_SCORE_TARGET_PCT
        else:
            meets = None if actual is None else actual == 0
        rows.append({"metric": metric, "rule": rule, "target": target, "actual_pct": actual, "meets_target": meets})
    return pd.DataFrame(rows)


def latest_runs_by_layer(runs: pd.DataFrame) -> pd.DataFrame:
    """The most recent notebook run of each layer, in the order data flows through the layers."""
    latest = runs.sort_values("started_at").groupby("layer", as_index=False).tail(1)
    order = {layer: position for position, layer in enumerate(LAYERS)}
    return latest.sort_values("layer", key=lambda s: s.map(order).fillna(len(LAYERS))).reset_index(drop=True)


def row_conservation(runs: pd.DataFrame) -> pd.DataFrame:
    """Silver runs with rows in = out + quarantined + duplicates checked (balance 0 = conserved)."""
    silver = runs[runs["layer"] == "silver"].sort_values("started_at")
    table = silver[["run_id", "started_at", "status", "rows_in", "rows_out", "rows_quarantined",
                    "rows_duplicate"]].copy()
    accounted = table[["rows_out", "rows_quarantined", "rows_duplicate"]].fillna(0).sum(axis=1)
    table["unaccounted"] = (table["rows_in"] - accounted).astype("Int64")
    # A failed run wrote nothing, so there is nothing to balance.
    table["conserved"] = (table["unaccounted"] == 0).astype("boolean").where(table["status"] == "succeeded")
    return table.reset_index(drop=True)


def product_breakdowns(products: pd.DataFrame, table_rows: int, scatter_points: int) -> dict[str, pd.DataFrame]:
    """What the products page draws, from `product_performance` rows of the chosen categories.

    by_revenue: the first `table_rows` by revenue (ties by product id); most_viewed: the
    `scatter_points` most viewed; tiers, brands, categories: products and revenue per group.
    """
    by_revenue = products.sort_values(["total_revenue", "product_id"], ascending=[False, True])
    tiers = (products.groupby("performance_tier", observed=True)
             .agg(products=("product_id", "count"), revenue=("total_revenue", "sum")))
    return {
        "by_revenue": by_revenue.head(table_rows).reset_index(drop=True),
        "most_viewed": products[products["total_views"] > 0].nlargest(scatter_points, "total_views"),
        "tiers": tiers.rename_axis("performance_tier").reset_index(),
        "brands": _revenue_by(products, "brand"),
        "categories": _revenue_by(products, "category_l1"),
    }


def _revenue_by(products: pd.DataFrame, column: str) -> pd.DataFrame:
    """Revenue, products and purchases per value of `column` (null as `unknown`), largest first."""
    grouped = (products.assign(**{column: products[column].fillna("unknown")})
               .groupby(column, as_index=False)
               .agg(total_revenue=("total_revenue", "sum"), products=("product_id", "count"),
                    total_purchases=("total_purchases", "sum")))
    return grouped.sort_values(["total_revenue", column], ascending=[False, True]).reset_index(drop=True)

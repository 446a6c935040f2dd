"""What the notebooks show: small, sorted pandas tables and Plotly charts of a run's results."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd
import plotly.graph_objects as go
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from lib.lake import storage
from lib.layers import LayerSummary
from lib.transforms import quality


def row_counts(spark: SparkSession, lake: Path, names: Sequence[str]) -> pd.DataFrame:
    """Rows and latest Delta version of each table."""
    rows = []
    for name in names:
        version = storage.table_version(spark, lake, name)
        count = storage.read_table(spark, lake, name).count() if version is not None else 0
        rows.append({"table": name, "rows": count, "delta_version": version})
    return pd.DataFrame(rows)


def counts_by(df: DataFrame, *columns: str) -> pd.DataFrame:
    """Row counts per value of the columns, sorted by the values (nulls first)."""
    return df.groupBy(*columns).count().orderBy(*[F.col(c).asc_nulls_first() for c in columns]).toPandas()


def run_record(summary: LayerSummary) -> pd.DataFrame:
    """The run's ledger figures as a two-column table."""
    record = summary.record
    figures = {
        "run_id": record.run_id,
        "rows_in": record.rows_in,
        "rows_out": record.rows_out,
        "rows_quarantined": record.rows_quarantined,
        "rows_duplicate": record.rows_duplicate,
        "versions_read": record.versions_read,
        "versions_written": record.versions_written,
    }
    return pd.DataFrame({"figure": list(figures), "value": [str(v) for v in figures.values()]})


def conservation(summary: LayerSummary) -> pd.DataFrame:
    """Silver's row conservation: bronze rows read against where each went."""
    record, details = summary.record, summary.details
    parts = {
        "silver rows inserted": record.rows_out,
        "quarantined": record.rows_quarantined,
        "duplicates within the batch": details.get("duplicates_in_batch", 0),
        "duplicates already in silver": details.get("duplicates_in_silver", 0),
    }
    table = pd.DataFrame({"rows": list(parts), "count": list(parts.values())})
    total = pd.DataFrame({"rows": ["total (= bronze rows read)", "bronze rows read"],
                          "count": [sum(parts.values()), record.rows_in]})
    return pd.concat([table, total], ignore_index=True)


def rule_results(spark: SparkSession, lake: Path, run_id: str, layer: str = "silver") -> pd.DataFrame:
    """The run's rows of dq_metrics for one layer, in registry order."""
    order = {name: position for position, name in enumerate(
        [*quality.RULE_NAMES, *quality.MONITORS, "duplicate_rate", "quality_score"])}
    metrics = storage.read_table(spark, lake, "dq_metrics")
    metrics = metrics.filter((F.col("run_id") == run_id) & (F.col("layer") == layer))
    table = metrics.select("rule", "action", "evaluated", "failed", "failed_pct", "value").toPandas()
    return table.sort_values("rule", key=lambda rules: rules.map(order)).reset_index(drop=True)


def quality_metrics(spark: SparkSession, lake: Path, run_id: str) -> pd.DataFrame:
    """The quality metrics for the run: metric, target, actual, met."""
    return quality.design_quality_table(storage.read_table(spark, lake, "dq_metrics"), run_id).toPandas()


def quarantine_reasons(spark: SparkSession, lake: Path, run_id: str) -> pd.DataFrame:
    """Quarantined rows of the run per reason (the list of failed rules)."""
    quarantine = storage.read_table(spark, lake, "events_quarantine").filter(F.col("run_id") == run_id)
    return counts_by(quarantine, "quarantine_reason")


def sample(df: DataFrame, order_by: Sequence[str], columns: Sequence[str] | None = None, n: int = 5) -> pd.DataFrame:
    """The first n rows in a stable order, for display."""
    selected = df.select(*columns) if columns else df
    return selected.orderBy(*order_by).limit(n).toPandas()


def daily_revenue_figure(daily: pd.DataFrame) -> go.Figure:
    """Revenue per day with its 7-day average."""
    figure = go.Figure()
    figure.add_bar(x=daily["event_date"], y=daily["total_revenue"], name="revenue")
    figure.add_scatter(x=daily["event_date"], y=daily["revenue_7d_avg"], name="7-day average", mode="lines+markers")
    figure.update_layout(title="Daily revenue", yaxis_title="revenue", height=360, margin={"t": 48})
    return figure


def funnel_figure(funnel: pd.DataFrame) -> go.Figure:
    """Sessions at each funnel step over all dates and categories."""
    steps = ["sessions_with_view", "sessions_with_cart", "sessions_with_purchase"]
    figure = go.Figure(go.Funnel(y=["view", "cart", "purchase"], x=[int(funnel[step].sum()) for step in steps]))
    figure.update_layout(title="Session funnel", height=320, margin={"t": 48})
    return figure


def quarantine_figure(reasons: pd.DataFrame) -> go.Figure:
    figure = go.Figure(go.Bar(x=reasons["count"], y=reasons["quarantine_reason"], orientation="h"))
    figure.update_layout(title="Quarantined rows by reason", height=320, margin={"t": 48, "l": 220})
    return figure


def bronze_rows_figure(counts: pd.DataFrame) -> go.Figure:
    """Bronze rows per source file and event_type as received, quoted so that whitespace shows.

    A heatmap with the count in each cell: the rare noisy values stay readable next to `view`.
    """
    received = counts["event_type"].map(lambda value: "(null)" if pd.isna(value) else f"'{value}'")
    grid = counts.assign(event_type=received).pivot_table(
        index="source_file", columns="event_type", values="count", aggfunc="sum", fill_value=0
    )
    grid = grid[grid.sum().sort_values(ascending=False, kind="stable").index]
    text = [[f"{value:,}" if value else "" for value in row] for row in grid.to_numpy()]
    figure = go.Figure(go.Heatmap(
        z=grid.to_numpy(), x=list(grid.columns), y=list(grid.index), text=text, texttemplate="%{text}",
        colorscale="Blues", hovertemplate="%{y}<br>event_type %{x}: %{z:,} rows<extra></extra>",
    ))
    figure.update_layout(title="events_raw rows per source file and event_type as received",
                         height=160 + 24 * len(grid.index), margin={"t": 48}, yaxis={"autorange": "reversed"})
    return figure


def events_per_day_figure(counts: pd.DataFrame) -> go.Figure:
    """Silver rows per day and event type, on a log scale so that purchases show next to views."""
    figure = go.Figure()
    for event_type, rows in counts.groupby("event_type", sort=True):
        figure.add_bar(x=rows["event_date"], y=rows["count"], name=event_type)
    figure.update_layout(title="events_cleaned rows per day and event type", barmode="group",
                         yaxis={"type": "log", "title": "rows (log scale)"}, height=360, margin={"t": 48})
    return figure

"""Plotly figure builders: small frames in, a `go.Figure` out (no Streamlit, no I/O)."""

from __future__ import annotations

import pandas as pd
import plotly.express as px
import plotly.graph_objects as go
from plotly.subplots import make_subplots

SEGMENTS = ("Champion", "Loyal", "Potential Loyalist", "New Customer", "Cart Abandoner", "Visitor")
SEGMENT_COLORS = dict(zip(SEGMENTS, ("#1b7837", "#5aae61", "#a6dba0", "#92c5de", "#f4a582", "#bababa")))
CHURN_RISKS = ("High", "Medium", "Low", "N/A")
CHURN_COLORS = dict(zip(CHURN_RISKS, ("#d6604d", "#f4a582", "#4393c3", "#bababa")))
TIERS = ("Top 10%", "Top 25%", "Top 50%", "Bottom")
TIER_COLORS = dict(zip(TIERS, ("#08519c", "#3182bd", "#9ecae1", "#d9d9d9")))
STATUS_COLORS = {"succeeded": "#2ca02c", "failed": "#d62728"}
REVENUE_COLOR, AVERAGE_COLOR = "#4c78a8", "#f58518"


def _layout(fig: go.Figure, title: str, height: int = 360, legend_right: bool = False, **kwargs) -> go.Figure:
    """Shared layout: title top left; a short legend on top, a long one (that would wrap) on the right."""
    if legend_right:
        legend = {"orientation": "v", "yanchor": "top", "y": 1, "xanchor": "left", "x": 1.02}
    else:
        legend = {"orientation": "h", "yanchor": "bottom", "y": 1.0, "xanchor": "right", "x": 1}
    fig.update_layout(
        title={"text": title, "x": 0, "xanchor": "left"},
        height=height,
        margin={"l": 10, "r": 10, "t": 60, "b": 10},
        legend=legend,
        **kwargs,
    )
    return fig


def _date_axis(fig: go.Figure, dates: pd.Series) -> None:
    """A tick per day with its weekday for short ranges (3 days must not get hourly ticks),
    Plotly's own spacing for longer ones, where daily labels would overlap."""
    if len(dates) and len(dates) <= 10:
        fig.update_xaxes(tickformat="%a %b %d", dtick=86_400_000)
    else:
        fig.update_xaxes(tickformat="%a %b %d")


def revenue_trend(daily: pd.DataFrame) -> go.Figure:
    """Revenue per day (bars) with its 7-day average (line)."""
    fig = go.Figure()
    fig.add_bar(
        x=daily["event_date"], y=daily["total_revenue"], name="Revenue", marker_color=REVENUE_COLOR,
        hovertemplate="%{x|%a %Y-%m-%d}<br>Revenue %{y:,.2f}<extra></extra>",
    )
    fig.add_scatter(
        x=daily["event_date"], y=daily["revenue_7d_avg"], name="7-day average", mode="lines+markers",
        line={"color": AVERAGE_COLOR, "width": 3},
        hovertemplate="%{x|%a %Y-%m-%d}<br>7-day average %{y:,.2f}<extra></extra>",
    )
    _date_axis(fig, daily["event_date"])
    fig.update_yaxes(title="Revenue", tickformat=",.0f", rangemode="tozero")
    return _layout(fig, "Revenue per day")


def day_over_day(daily: pd.DataFrame) -> go.Figure:
    """Day-over-day revenue change in %, green up, red down (blank where not defined)."""
    change = daily["revenue_dod_change"]
    colors = ["#2ca02c" if v >= 0 else "#d62728" for v in change.fillna(0)]
    fig = go.Figure(go.Bar(
        x=daily["event_date"], y=change, marker_color=colors, name="Change",
        # Labels only while they fit: a month of bars would print over each other.
        text=[f"{v:+.1f}%" if pd.notna(v) else "n/a" for v in change] if len(change) <= 14 else None,
        textposition="outside",
        hovertemplate="%{x|%a %Y-%m-%d}<br>%{y:+.2f}% vs previous day<extra></extra>",
    ))
    _date_axis(fig, daily["event_date"])
    fig.update_yaxes(title="% vs previous day", ticksuffix="%", zeroline=True)
    return _layout(fig, "Day-over-day revenue change", showlegend=False)


def daily_activity(daily: pd.DataFrame) -> go.Figure:
    """Events per day against active users and sessions per day (second axis)."""
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    fig.add_bar(x=daily["event_date"], y=daily["total_events"], name="Events", marker_color="#b8c9de")
    fig.add_scatter(x=daily["event_date"], y=daily["unique_users"], name="Active users", mode="lines+markers",
                    line={"color": "#54a24b", "width": 3}, secondary_y=True)
    fig.add_scatter(x=daily["event_date"], y=daily["unique_sessions"], name="Sessions", mode="lines+markers",
                    line={"color": "#e45756", "width": 3, "dash": "dot"}, secondary_y=True)
    _date_axis(fig, daily["event_date"])
    fig.update_yaxes(title_text="Events", tickformat=",.0f", rangemode="tozero", secondary_y=False)
    fig.update_yaxes(title_text="Users / sessions", tickformat=",.0f", rangemode="tozero", secondary_y=True,
                     showgrid=False)
    return _layout(fig, "Events, active users and sessions per day")


def weekday_pattern(pattern: pd.DataFrame) -> go.Figure:
    """Average revenue per weekday, the number of days behind each bar as its label."""
    fig = go.Figure(go.Bar(
        x=pattern["day_name"], y=pattern["avg_revenue"], marker_color=REVENUE_COLOR,
        text=[f"{n} day{'s' if n != 1 else ''}" for n in pattern["days"]], textposition="inside",
        customdata=pattern[["avg_events", "avg_users"]],
        hovertemplate="%{x}<br>Avg revenue %{y:,.2f}<br>Avg events %{customdata[0]:,.0f}"
                      "<br>Avg users %{customdata[1]:,.0f}<extra></extra>",
    ))
    fig.update_yaxes(title="Average revenue", tickformat=",.0f")
    return _layout(fig, "Weekday pattern (average per weekday)", showlegend=False)


def session_funnel(totals: pd.Series) -> go.Figure:
    """View -> cart -> purchase sessions as a funnel."""
    values = [int(totals["sessions_with_view"]), int(totals["sessions_with_cart"]),
              int(totals["sessions_with_purchase"])]
    fig = go.Figure(go.Funnel(
        y=["Viewed", "Added to cart", "Purchased"], x=values, textinfo="value+percent initial",
        marker={"color": ["#4c78a8", "#f58518", "#54a24b"]},
    ))
    return _layout(fig, "Sessions through the funnel", showlegend=False)


def rates_by_category(rates: pd.DataFrame) -> go.Figure:
    """View->cart, cart->purchase and abandonment rates per category (grouped bars)."""
    long = rates.melt(
        id_vars="category_l1", value_vars=["view_to_cart_rate", "cart_to_purchase_rate", "cart_abandonment_rate"],
        var_name="rate", value_name="percent",
    )
    long["rate"] = long["rate"].map(_RATE_NAMES)
    fig = px.bar(long, x="category_l1", y="percent", color="rate", barmode="group",
                 color_discrete_sequence=["#4c78a8", "#54a24b", "#e45756"],
                 labels={"category_l1": "Category", "percent": "%", "rate": ""})
    fig.update_yaxes(ticksuffix="%")
    return _layout(fig, "Rates by category", height=380)


_RATE_NAMES = {
    "view_to_cart_rate": "View → cart",
    "cart_to_purchase_rate": "Cart → purchase",
    "cart_abandonment_rate": "Cart abandonment",
}


def rates_over_time(rates: pd.DataFrame) -> go.Figure:
    """The three session rates per day."""
    fig = go.Figure()
    for column, color in zip(_RATE_NAMES, ["#4c78a8", "#54a24b", "#e45756"]):
        fig.add_scatter(x=rates["event_date"], y=rates[column], name=_RATE_NAMES[column], mode="lines+markers",
                        line={"color": color, "width": 3})
    _date_axis(fig, rates["event_date"])
    fig.update_yaxes(ticksuffix="%", rangemode="tozero")
    return _layout(fig, "Rates over time")


def segment_sizes(segments: pd.DataFrame) -> go.Figure:
    """Customers per segment (bars) beside each segment's share of revenue (donut)."""
    fig = make_subplots(rows=1, cols=2, column_widths=[0.58, 0.42], specs=[[{"type": "xy"}, {"type": "domain"}]],
                        subplot_titles=("Customers", "Share of revenue"))
    colors = [SEGMENT_COLORS.get(s, "#888") for s in segments["customer_segment"]]
    fig.add_bar(x=segments["customer_segment"], y=segments["customers"], marker_color=colors,
                text=[f"{v:,}" for v in segments["customers"]], textposition="outside", row=1, col=1,
                hovertemplate="%{x}: %{y:,} customers<extra></extra>")
    paying = segments[segments["revenue"] > 0]
    fig.add_pie(labels=paying["customer_segment"], values=paying["revenue"], hole=0.45, sort=False,
                marker={"colors": [SEGMENT_COLORS.get(s, "#888") for s in paying["customer_segment"]]},
                textinfo="percent", hovertemplate="%{label}: %{value:,.2f} (%{percent})<extra></extra>",
                row=1, col=2)
    fig.update_yaxes(tickformat=",.0f", row=1, col=1)
    return _layout(fig, "Customer segments", height=380, showlegend=False)


def rfm_distribution(rfm: pd.DataFrame) -> go.Figure:
    """Customers per RFM score (3-15), stacked by segment."""
    fig = px.bar(rfm, x="rfm_score", y="customers", color="customer_segment",
                 category_orders={"customer_segment": list(SEGMENTS)}, color_discrete_map=SEGMENT_COLORS,
                 labels={"rfm_score": "RFM score", "customers": "Customers", "customer_segment": ""})
    fig.update_xaxes(dtick=1, range=[2.5, 15.5])
    return _layout(fig, "RFM score distribution", height=380, legend_right=True)


def churn_by_segment(churn: pd.DataFrame) -> go.Figure:
    """Customers per segment split by churn risk (100% stacked)."""
    fig = px.histogram(churn, y="customer_segment", x="customers", color="churn_risk", barnorm="percent",
                       orientation="h", category_orders={"customer_segment": list(SEGMENTS),
                                                         "churn_risk": list(CHURN_RISKS)},
                       color_discrete_map=CHURN_COLORS,
                       labels={"customer_segment": "", "churn_risk": "Churn risk", "customers": "Customers"})
    fig.update_xaxes(title="% of the segment's customers", ticksuffix="%")
    return _layout(fig, "Churn risk by segment", height=380, legend_right=True)


def top_products(products: pd.DataFrame) -> go.Figure:
    """Products by revenue, best at the top."""
    labels = [f"{p} · {b}" for p, b in zip(products["product_id"], products["brand"].fillna("unknown"))]
    fig = go.Figure(go.Bar(
        y=labels, x=products["total_revenue"], orientation="h",
        marker_color=[TIER_COLORS.get(t, "#888") for t in products["performance_tier"]],
        customdata=products[["category_l1", "total_purchases", "performance_tier"]],
        hovertemplate="%{y}<br>Revenue %{x:,.2f}<br>%{customdata[0]} · %{customdata[1]} purchases"
                      " · %{customdata[2]}<extra></extra>",
    ))
    fig.update_yaxes(autorange="reversed", type="category")
    fig.update_xaxes(title="Revenue", tickformat=",.0f")
    return _layout(fig, f"Top {len(products)} products by revenue", height=max(360, 22 * len(products) + 90),
                   showlegend=False)


def tier_summary(tiers: pd.DataFrame) -> go.Figure:
    """Products and revenue per performance tier."""
    fig = make_subplots(rows=1, cols=2, subplot_titles=("Products", "Revenue"), horizontal_spacing=0.14)
    colors = [TIER_COLORS.get(t, "#888") for t in tiers["performance_tier"]]
    for col, column in ((1, "products"), (2, "revenue")):
        fig.add_bar(x=tiers["performance_tier"], y=tiers[column], marker_color=colors, row=1, col=col,
                    text=[_compact(v) for v in tiers[column]], textposition="outside", cliponaxis=False)
        fig.update_yaxes(range=[0, float(tiers[column].max() or 1) * 1.18], tickformat="~s", row=1, col=col)
    return _layout(fig, "Performance tiers", showlegend=False)


def _compact(value: float) -> str:
    """1,234,567 as 1.23M: bar labels that fit above a bar."""
    for threshold, unit, suffix, decimals in ((1e9, 1e9, "B", 2), (1e6, 1e6, "M", 2), (1e4, 1e3, "k", 1)):
        if abs(value) >= threshold:
            return f"{value / unit:,.{decimals}f}{suffix}"
    return f"{value:,.0f}"


def conversion_vs_views(products: pd.DataFrame) -> go.Figure:
    """Each product's view -> purchase conversion against its views, sized by revenue."""
    fig = px.scatter(products, x="total_views", y="overall_conversion_rate", color="category_l1",
                     size=products["total_revenue"].clip(lower=0) + 1, size_max=28, log_x=True,
                     hover_data={"product_id": True, "brand": True, "total_revenue": ":,.2f"},
                     labels={"total_views": "Views (log)", "overall_conversion_rate": "View → purchase %",
                             "category_l1": "Category"})
    fig.update_yaxes(ticksuffix="%")
    return _layout(fig, "Conversion vs views", height=420, legend_right=True)


def breakdown(frame: pd.DataFrame, label: str, title: str) -> go.Figure:
    """Revenue per `label` value (horizontal bars, largest first)."""
    fig = go.Figure(go.Bar(
        y=frame[label], x=frame["total_revenue"], orientation="h", marker_color=REVENUE_COLOR,
        text=[f"{v:,.0f}" for v in frame["total_revenue"]], textposition="auto",
        customdata=frame[["products", "total_purchases"]],
        hovertemplate="%{y}<br>Revenue %{x:,.2f}<br>%{customdata[0]:,} products · "
                      "%{customdata[1]:,} purchases<extra></extra>",
    ))
    fig.update_yaxes(autorange="reversed", type="category")
    fig.update_xaxes(title="Revenue", tickformat=",.0f")
    return _layout(fig, title, height=max(320, 24 * len(frame) + 90), showlegend=False)


def quality_scores(runs: pd.DataFrame, target: float) -> go.Figure:
    """Quality score per run against its target."""
    labels = _run_labels(runs)
    fig = go.Figure(go.Scatter(
        x=labels, y=runs["score"], mode="lines+markers+text", name="Quality score",
        text=[f"{v:.2f}%" for v in runs["score"]], textposition="top center",
        marker={"size": 10, "color": ["#2ca02c" if ok else "#d62728" for ok in runs["meets_target"]]},
        line={"color": "#4c78a8"},
    ))
    fig.add_hline(y=target, line_dash="dash", line_color="#d62728", annotation_text=f"target > {target:g}%",
                  annotation_position="bottom right")
    low = min(float(runs["score"].min()) if len(runs) else target, target)
    fig.update_yaxes(title="Rows passing every rule", ticksuffix="%", range=[max(0, low - 1), 100.4])
    fig.update_xaxes(type="category")
    return _layout(fig, "Quality score per run", showlegend=False)


def failed_by_rule(failed: pd.DataFrame) -> go.Figure:
    """Failed rows per rule, one bar group per run."""
    fig = px.bar(failed, x="rule", y="failed", color="run", barmode="group",
                 labels={"rule": "", "failed": "Failed rows", "run": "Run"})
    fig.update_yaxes(tickformat=",.0f")
    return _layout(fig, "Failed rows per rule and run", height=380, legend_right=True)


def quarantine_reasons(reasons: pd.DataFrame) -> go.Figure:
    """Quarantined rows per failed rule."""
    fig = go.Figure(go.Bar(
        y=reasons["rule"], x=reasons["rows"], orientation="h", marker_color="#e45756",
        text=[f"{v:,}" for v in reasons["rows"]], textposition="auto",
    ))
    fig.update_yaxes(autorange="reversed", type="category")
    fig.update_xaxes(title="Quarantined rows", tickformat=",.0f")
    return _layout(fig, "Quarantine reasons", height=max(280, 30 * len(reasons) + 120), showlegend=False)


def row_conservation(conservation: pd.DataFrame) -> go.Figure:
    """Each silver run's rows in beside where they went (log scale: quarantine is tiny next to inserts)."""
    labels = [f"{label}<br>{'failed run' if pd.isna(ok) else 'balanced' if ok else 'NOT balanced'}"
              for label, ok in zip(_run_labels(conservation.rename(columns={"started_at": "measured_at"})),
                                   conservation["conserved"])]
    fig = go.Figure()
    for column, name, color in (("rows_in", "Rows in", "#4c78a8"), ("rows_out", "Inserted", "#54a24b"),
                                ("rows_quarantined", "Quarantined", "#e45756"),
                                ("rows_duplicate", "Duplicates", "#bab0ac")):
        values = conservation[column].astype("Float64")
        fig.add_bar(x=labels, y=values.where(values > 0), name=name, marker_color=color,
                    text=[f"{int(v):,}" if pd.notna(v) else "" for v in conservation[column]],
                    textposition="outside", cliponaxis=False)
    fig.update_layout(barmode="group")
    fig.update_xaxes(type="category")
    fig.update_yaxes(type="log", title="Rows (log scale)", dtick=1, tickformat=",.0f")
    return _layout(fig, "Row conservation per silver run: rows in = inserted + quarantined + duplicates")


def run_durations(runs: pd.DataFrame) -> go.Figure:
    """Duration of each notebook run in start order, coloured by status."""
    ordered = runs.sort_values("started_at")
    labels = [f"{t:%m-%d %H:%M:%S}<br>{layer}" if pd.notna(t) else str(layer)
              for t, layer in zip(ordered["started_at"], ordered["layer"])]
    fig = go.Figure()
    for status, color in STATUS_COLORS.items():
        mask = (ordered["status"] == status).to_list()
        fig.add_bar(x=[lab for lab, m in zip(labels, mask) if m], y=ordered.loc[mask, "duration_s"], name=status,
                    marker_color=color, customdata=ordered.loc[mask, ["run_id", "notebook"]],
                    hovertemplate="%{customdata[0]} · %{customdata[1]}<br>%{y:,.1f} s<extra></extra>")
    fig.update_xaxes(type="category", categoryorder="array", categoryarray=labels)
    fig.update_yaxes(title="Duration (s)", rangemode="tozero")
    return _layout(fig, "Duration of each notebook run (UTC start)", height=340)


def _run_labels(runs: pd.DataFrame) -> list[str]:
    """Short unique x labels for runs: time of the run, then the run id's tail."""
    times = pd.to_datetime(runs["measured_at"]).dt.strftime("%m-%d %H:%M")
    ids = [str(r) if len(str(r)) <= 22 else "…" + str(r)[-20:] for r in runs["run_id"]]
    return [f"{t}<br>{r}" for t, r in zip(times, ids)]

"""Conversion funnel: view -> cart -> purchase sessions for the chosen dates and categories."""

import streamlit as st

from dashboard import charts, data, filters, metrics, ui

st.title("Conversion funnel")
refs = ui.require_tables(data.FUNNEL, data.PRODUCTS)
funnel = data.read(refs[data.FUNNEL])
if funnel.empty:
    st.info("The conversion funnel table has no rows yet.")
    st.stop()
bounds = (funnel["event_date"].min(), funnel["event_date"].max())
daily_ref = ui.optional_table(data.DAILY_SALES)
if daily_ref is not None and (daily_bounds := data.date_bounds(daily_ref)):
    bounds = daily_bounds
start, end = filters.selected_dates(bounds)
chosen = filters.selected_categories(data.categories(refs[data.FUNNEL], refs[data.PRODUCTS]))
rows = metrics.in_dates(funnel, start, end)
rows = rows[rows["category_l1"].isin(chosen)]
st.caption(
    f"{start:%d %b %Y} – {end:%d %b %Y}, {len(chosen)} categor{'y' if len(chosen) == 1 else 'ies'}. "
    "A session is counted once per category and day it touches, so one that browses two "
    "categories counts in both."
)
if rows.empty:
    st.info("No sessions for these dates and categories.")
    st.stop()

total = metrics.funnel_rates(rows, by=[]).iloc[0]
kpis = st.columns(4)
kpis[0].metric("View → cart", ui.pct(total["view_to_cart_rate"]), border=True,
               help="Sessions with a cart add ÷ sessions with a view.")
kpis[1].metric("Cart → purchase", ui.pct(total["cart_to_purchase_rate"]), border=True,
               help="Sessions with a purchase ÷ sessions with a cart add.")
kpis[2].metric("Cart abandonment", ui.pct(total["cart_abandonment_rate"]), border=True,
               help="Sessions with a cart add and no purchase ÷ sessions with a cart add.")
revenue_text, revenue_exact = ui.money_card(total["total_revenue"])
kpis[3].metric("Revenue", revenue_text, border=True, help=revenue_exact)

left, right = st.columns([2, 3])
left.plotly_chart(charts.session_funnel(total), key="funnel_chart")
by_category = metrics.funnel_rates(rows, by=["category_l1"]).sort_values("total_sessions", ascending=False)
right.plotly_chart(charts.rates_by_category(by_category), key="funnel_by_category")
st.plotly_chart(charts.rates_over_time(metrics.funnel_rates(rows, by=["event_date"])), key="funnel_over_time")

st.subheader("By category")
ui.show_table(
    by_category[["category_l1", "total_sessions", "sessions_with_view", "sessions_with_cart",
                 "sessions_with_purchase", "view_to_cart_rate", "cart_to_purchase_rate", "cart_abandonment_rate",
                 "total_revenue"]],
    "conversion_funnel.csv", key="funnel_download",
    column_config={
        "category_l1": "Category",
        "total_sessions": st.column_config.NumberColumn("Sessions", format="%d"),
        "sessions_with_view": st.column_config.NumberColumn("With view", format="%d"),
        "sessions_with_cart": st.column_config.NumberColumn("With cart", format="%d"),
        "sessions_with_purchase": st.column_config.NumberColumn("With purchase", format="%d"),
        "view_to_cart_rate": st.column_config.NumberColumn("View → cart %", format="%.2f"),
        "cart_to_purchase_rate": st.column_config.NumberColumn("Cart → purchase %", format="%.2f"),
        "cart_abandonment_rate": st.column_config.NumberColumn("Abandonment %", format="%.2f"),
        "total_revenue": st.column_config.NumberColumn("Revenue", format="%.2f"),
    },
)

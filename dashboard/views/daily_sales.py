"""Daily sales: revenue per day with its 7-day average, day-over-day change, activity, weekdays."""

import streamlit as st

from dashboard import charts, data, filters, metrics, ui

st.title("Daily sales")
refs = ui.require_tables(data.DAILY_SALES)
bounds = data.date_bounds(refs[data.DAILY_SALES])
if bounds is None:
    st.info("The daily sales table has no rows yet.")
    st.stop()
start, end = filters.selected_dates(bounds)
daily = metrics.in_dates(data.read(refs[data.DAILY_SALES]), start, end).sort_values("event_date")
st.caption(f"{start:%a %d %b %Y} – {end:%a %d %b %Y}: {len(daily)} day(s) with data. "
           "The 7-day average and day-over-day change are the pipeline's, over all days of the lake.")
if daily.empty:
    st.info("No sales on the selected dates.")
    st.stop()

st.plotly_chart(charts.revenue_trend(daily), key="daily_revenue")
left, right = st.columns(2)
left.plotly_chart(charts.day_over_day(daily), key="daily_dod")
right.plotly_chart(charts.weekday_pattern(metrics.weekday_pattern(daily)), key="daily_weekday")
st.plotly_chart(charts.daily_activity(daily), key="daily_activity")

st.subheader("Days")
ui.show_table(
    daily[["event_date", "day_name", "total_revenue", "revenue_7d_avg", "revenue_dod_change", "total_purchases",
           "avg_order_value", "overall_conversion_rate", "total_events", "total_views", "unique_users",
           "unique_sessions"]],
    "daily_sales.csv", key="daily_download",
    column_config={
        "event_date": st.column_config.DateColumn("Date"),
        "day_name": "Weekday",
        "total_revenue": st.column_config.NumberColumn("Revenue", format="%.2f"),
        "revenue_7d_avg": st.column_config.NumberColumn("7-day avg", format="%.2f"),
        "revenue_dod_change": st.column_config.NumberColumn("Day-over-day %", format="%+.2f%%"),
        "total_purchases": st.column_config.NumberColumn("Purchases", format="%d"),
        "avg_order_value": st.column_config.NumberColumn("Avg order", format="%.2f"),
        "overall_conversion_rate": st.column_config.NumberColumn("Conversion %", format="%.2f%%"),
        "total_events": st.column_config.NumberColumn("Events", format="%d"),
        "total_views": st.column_config.NumberColumn("Views", format="%d"),
        "unique_users": st.column_config.NumberColumn("Users", format="%d"),
        "unique_sessions": st.column_config.NumberColumn("Sessions", format="%d"),
    },
)

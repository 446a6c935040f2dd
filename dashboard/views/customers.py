"""Customers: segments and their revenue, RFM scores, churn risk, and a searchable customer list."""

import streamlit as st

from dashboard import charts, data, ui

TABLE_ROWS = 1_000  # rows drawn in the browser; the CSV holds every match

st.title("Customers")
refs = ui.require_tables(data.CUSTOMERS)
customers = refs[data.CUSTOMERS]
st.caption("Lifetime metrics per customer as of the last pipeline run: the date and category "
           "filters do not apply here.")

segments = data.customer_groups(customers, ("customer_segment",))
order = {name: i for i, name in enumerate(charts.SEGMENTS)}
segments = segments.sort_values("customer_segment", key=lambda s: s.map(order).fillna(99))
total_customers = int(segments["customers"].sum())
if total_customers == 0:
    st.info("The customer table has no rows yet.")
    st.stop()
buyers = int(segments.loc[segments["customer_segment"].isin(charts.SEGMENTS[:4]), "customers"].sum())
revenue = float(segments["revenue"].sum())

kpis = st.columns(4)
kpis[0].metric("Customers", ui.count(total_customers), border=True)
kpis[1].metric("Buyers", ui.count(buyers), border=True, help="Customers with at least one purchase.")
revenue_text, revenue_exact = ui.money_card(revenue)
kpis[2].metric("Revenue", revenue_text, border=True, help=revenue_exact)
kpis[3].metric("Revenue per buyer", ui.money(revenue / buyers if buyers else None), border=True)

st.plotly_chart(charts.segment_sizes(segments), key="customers_segments")
left, right = st.columns(2)
left.plotly_chart(charts.rfm_distribution(data.customer_groups(customers, ("rfm_score", "customer_segment"))),
                  key="customers_rfm")
right.plotly_chart(charts.churn_by_segment(data.customer_groups(customers, ("customer_segment", "churn_risk"))),
                   key="customers_churn")

st.subheader("Find customers")
search = st.columns([2, 3, 2])
user_id = search[0].text_input("User id starts with", key="customers_user_id", max_chars=20,
                               placeholder="e.g. 5120")
picked_segments = search[1].multiselect("Segments", list(charts.SEGMENTS), key="customers_segments_filter",
                                        placeholder="All segments")
picked_risks = search[2].multiselect("Churn risk", list(charts.CHURN_RISKS), key="customers_churn_filter",
                                     placeholder="Any risk")
digits = "".join(ch for ch in user_id if ch.isdigit())
if user_id and digits != user_id.strip():
    st.caption("Only the digits of the search are used: user ids are numbers.")
matches, shown = data.find_customers(customers, digits, tuple(picked_segments), tuple(picked_risks), TABLE_ROWS)
st.caption(f"{matches:,} matching customer(s), best revenue first"
           + (f"; the first {TABLE_ROWS:,} are shown, the CSV has them all." if matches > TABLE_ROWS else "."))
ui.dataframe(
    shown,
    column_config={
        "user_id": st.column_config.NumberColumn("User id", format="%d"),
        "total_sessions": st.column_config.NumberColumn("Sessions", format="%d"),
        "total_events": st.column_config.NumberColumn("Events", format="%d"),
        "total_views": st.column_config.NumberColumn("Views", format="%d"),
        "total_cart_adds": st.column_config.NumberColumn("Cart adds", format="%d"),
        "total_purchases": st.column_config.NumberColumn("Purchases", format="%d"),
        "unique_products_viewed": st.column_config.NumberColumn("Products viewed", format="%d"),
        "total_revenue": st.column_config.NumberColumn("Revenue", format="%.2f"),
        "avg_purchase_value": st.column_config.NumberColumn("Avg purchase", format="%.2f"),
        "first_activity_date": st.column_config.DateColumn("First active"),
        "last_activity_date": st.column_config.DateColumn("Last active"),
        "customer_segment": "Segment",
        "rfm_score": st.column_config.NumberColumn("RFM", format="%d"),
        "churn_risk": "Churn risk",
    },
)
ui.download_csv(
    lambda: data.find_customers(customers, digits, tuple(picked_segments), tuple(picked_risks), matches)[1],
    "customers.csv", key="customers_download",
)

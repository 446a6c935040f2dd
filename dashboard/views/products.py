"""Products: the best sellers, performance tiers, conversion against views, brands and categories."""

import streamlit as st

from dashboard import charts, data, filters, ui

SCATTER_POINTS = 2_000  # the most viewed products; more points only slow the browser
TABLE_ROWS = 1_000

st.title("Products")
refs = ui.require_tables(data.PRODUCTS)
chosen = tuple(filters.selected_categories(data.categories(refs[data.PRODUCTS])))
count, views = data.product_breakdowns(refs[data.PRODUCTS], chosen, TABLE_ROWS, SCATTER_POINTS)
st.caption(f"{count:,} products in {len(chosen)} categor{'y' if len(chosen) == 1 else 'ies'}; "
           "all-time totals as of the last pipeline run (the date filter does not apply).")
if count == 0:
    st.info("No products in the chosen categories.")
    st.stop()

top_n = st.slider("Top products", min_value=5, max_value=50, value=15, step=5, key="products_top_n")
st.plotly_chart(charts.top_products(views["by_revenue"].head(top_n)), key="products_top")
st.caption("Bars are coloured by performance tier: " + ", ".join(charts.TIERS) + " from dark to light.")

tiers = views["tiers"].set_index("performance_tier").reindex(list(charts.TIERS)).dropna(how="all").reset_index()
left, right = st.columns(2)
left.plotly_chart(charts.tier_summary(tiers), key="products_tiers")
right.plotly_chart(charts.conversion_vs_views(views["most_viewed"]), key="products_conversion")
right.caption(f"The {len(views['most_viewed']):,} most viewed products.")

left, right = st.columns(2)
left.plotly_chart(charts.breakdown(views["brands"].head(15), "brand", "Top 15 brands by revenue"),
                  key="products_brands")
right.plotly_chart(charts.breakdown(views["categories"], "category_l1", "Revenue by category"),
                   key="products_categories")

st.subheader("Products by revenue")
if count > TABLE_ROWS:
    st.caption(f"The first {TABLE_ROWS:,} shown; the CSV has all {count:,}.")
ui.dataframe(
    views["by_revenue"],
    column_config={
        "product_id": st.column_config.NumberColumn("Product", format="%d"),
        "category_id": st.column_config.TextColumn("Category id"),  # beyond 2^53: shown as text
        "category_l1": "Category",
        "brand": "Brand",
        "avg_price": st.column_config.NumberColumn("Avg price", format="%.2f"),
        "total_views": st.column_config.NumberColumn("Views", format="%d"),
        "total_cart_adds": st.column_config.NumberColumn("Cart adds", format="%d"),
        "total_purchases": st.column_config.NumberColumn("Purchases", format="%d"),
        "unique_users": st.column_config.NumberColumn("Users", format="%d"),
        "total_revenue": st.column_config.NumberColumn("Revenue", format="%.2f"),
        "view_to_cart_rate": st.column_config.NumberColumn("View → cart %", format="%.2f"),
        "cart_to_purchase_rate": st.column_config.NumberColumn("Cart → purchase %", format="%.2f"),
        "overall_conversion_rate": st.column_config.NumberColumn("View → purchase %", format="%.2f"),
        "revenue_rank_global": st.column_config.NumberColumn("Rank", format="%d"),
        "performance_tier": "Tier",
    },
)
ui.download_csv(lambda: data.products_in(refs[data.PRODUCTS], chosen), "products.csv", key="products_download")

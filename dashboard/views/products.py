"""Products: the best sellers, performance tiers, conversion against views, brands and categories."""

import streamlit as st

from dashboard import charts, data, filters, ui

SCATTER_POINTS = 2_000  # the most viewed products; more points only slow the browser
TABLE_ROWS = 1_000

st.title("Products")
refs = ui.require_tables(data.PRODUCTS)
products = data.read(refs[data.PRODUCTS])
chosen = filters.selected_categories(data.categories(refs[data.PRODUCTS]))
products = products[products["category_l1"].isin(chosen)]
st.caption(f"{len(products):,} products in {len(chosen)} categor{'y' if len(chosen) == 1 else 'ies'}; "
           "all-time totals as of the last pipeline run (the date filter does not apply).")
if products.empty:
    st.info("No products in the chosen categories.")
    st.stop()

top_n = st.slider("Top products", min_value=5, max_value=50, value=15, step=5, key="products_top_n")
by_revenue = products.sort_values(["total_revenue", "product_id"], ascending=[False, True])
st.plotly_chart(charts.top_products(by_revenue.head(top_n)), key="products_top")
st.caption("Bars are coloured by performance tier: " + ", ".join(charts.TIERS) + " from dark to light.")

tiers = (products.groupby("performance_tier", observed=True)
         .agg(products=("product_id", "count"), revenue=("total_revenue", "sum"))
         .reindex(list(charts.TIERS)).dropna(how="all").fillna(0).rename_axis("performance_tier").reset_index())
left, right = st.columns(2)
left.plotly_chart(charts.tier_summary(tiers), key="products_tiers")
most_viewed = products[products["total_views"] > 0].nlargest(SCATTER_POINTS, "total_views")
right.plotly_chart(charts.conversion_vs_views(most_viewed), key="products_conversion")
right.caption(f"The {len(most_viewed):,} most viewed products.")


def revenue_by(column: str, limit: int):
    grouped = (products.assign(**{column: products[column].fillna("unknown")})
               .groupby(column, as_index=False)
               .agg(total_revenue=("total_revenue", "sum"), products=("product_id", "count"),
                    total_purchases=("total_purchases", "sum")))
    return grouped.nlargest(limit, "total_revenue")


left, right = st.columns(2)
left.plotly_chart(charts.breakdown(revenue_by("brand", 15), "brand", "Top 15 brands by revenue"),
                  key="products_brands")
right.plotly_chart(charts.breakdown(revenue_by("category_l1", 30), "category_l1", "Revenue by category"),
                   key="products_categories")

st.subheader("Products by revenue")
if len(products) > TABLE_ROWS:
    st.caption(f"The first {TABLE_ROWS:,} shown; the CSV has all {len(products):,}.")
ui.dataframe(
    by_revenue.head(TABLE_ROWS),
    column_config={
        "product_id": st.column_config.NumberColumn("Product", format="%d"),
        "category_id": st.column_config.NumberColumn("Category id", format="%d"),
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
ui.download_csv(lambda: by_revenue, "products.csv", key="products_download")

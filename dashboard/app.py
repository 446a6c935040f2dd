"""Lakehouse dashboard: `streamlit run dashboard/app.py -- --lake PATH` (default `$LAKE_DIR`, else `lake`).

A relative PATH is from the project root, wherever the app is started (lib/contracts/paths.py).

The entry file only routes: it declares the pages, draws the shared filters a page uses, and
runs the page. Everything it reads is read-only and cached per Delta table version.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:  # `streamlit run` puts only this folder on the path
    sys.path.insert(0, str(REPO_ROOT))

import streamlit as st  # noqa: E402

from dashboard import data, filters  # noqa: E402

# Not "pages/": until st.navigation has run once in the process, Streamlit serves a pages/ folder
# beside the entry as stand-alone pages, so a deep link right after start skipped this file.
VIEWS_DIR = Path(__file__).parent / "views"


@dataclass(frozen=True)
class PageSpec:
    file: str
    title: str
    icon: str
    filters: frozenset[str] = frozenset()


LOCAL_ADDRESSES = ("localhost", "127.0.0.1", "::1")

PAGES = (
    PageSpec("overview.py", "Overview", ":material/dashboard:", frozenset({"dates"})),
    PageSpec("daily_sales.py", "Daily sales", ":material/calendar_month:", frozenset({"dates"})),
    PageSpec("conversion_funnel.py", "Conversion funnel", ":material/filter_alt:", frozenset({"dates", "categories"})),
    PageSpec("customers.py", "Customers", ":material/group:"),
    PageSpec("products.py", "Products", ":material/inventory_2:", frozenset({"categories"})),
    PageSpec("data_quality.py", "Data quality", ":material/verified:"),
    PageSpec("pipeline_runs.py", "Pipeline runs", ":material/history:"),
)


def draw_filters(spec: PageSpec) -> None:
    """The sidebar filters this page uses (others keep their value for when the user returns)."""
    lake = data.lake_dir()
    with st.sidebar:
        if "dates" in spec.filters and (daily := data.table_ref(lake, data.DAILY_SALES)):
            if bounds := data.date_bounds(daily):
                filters.date_range_filter(bounds)
        if "categories" in spec.filters:
            refs = [r for r in (data.table_ref(lake, t) for t in (data.FUNNEL, data.PRODUCTS)) if r]
            if refs:
                filters.category_filter(data.categories(*refs))
        st.caption(f"Lake: `{lake}`")
        if st.get_option("server.address") not in LOCAL_ADDRESSES:
            st.caption(":orange[Served on every network interface: start it with `make dashboard` "
                       "(or `--server.address localhost`) to keep it on this machine.]")


def main() -> None:
    st.set_page_config(page_title="Lakehouse dashboard", page_icon=":material/waves:", layout="wide")
    pages = [
        st.Page(VIEWS_DIR / spec.file, title=spec.title, icon=spec.icon, default=(i == 0))
        for i, spec in enumerate(PAGES)
    ]
    current = st.navigation(pages)
    draw_filters(next(spec for spec in PAGES if spec.title == current.title))
    current.run()


main()

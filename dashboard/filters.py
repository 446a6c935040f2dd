"""The shared filters (date range, categories): drawn by the entry file, read by the pages.

They are keyed widgets drawn in `app.py` before the page runs, so one value serves every page,
and `persist_state="session"` keeps it while the user is on a page the filter does not apply to.
"""

from __future__ import annotations

from datetime import date

import streamlit as st

DATES_KEY = "filter_dates"
CATEGORIES_KEY = "filter_categories"
_DATE_BOUNDS_KEY = "_filter_date_bounds"


def date_range_filter(bounds: tuple[date, date]) -> None:
    """The date range picker over the lake's days.

    A range the user never narrowed follows the lake when a new run adds days; a narrowed
    range is kept, clamped to the days that exist.
    """
    first, last = bounds
    state = st.session_state
    current = _as_range(state.get(DATES_KEY))
    if current is not None:  # None: the widget's default, the whole range, applies
        if current == state.get(_DATE_BOUNDS_KEY):
            wanted = (first, last)
        else:
            wanted = (min(max(current[0], first), last), max(min(current[1], last), first))
        if current != wanted:
            state[DATES_KEY] = wanted
    state[_DATE_BOUNDS_KEY] = (first, last)
    st.date_input(
        "Dates", key=DATES_KEY, value=(first, last), min_value=first, max_value=last,
        help="Event dates (UTC) the sales and funnel pages show.", persist_state="session",
    )


def category_filter(options: list[str]) -> None:
    """The category picker; nothing picked means every category."""
    state = st.session_state
    picked = state.get(CATEGORIES_KEY)
    if picked and any(c not in options for c in picked):
        state[CATEGORIES_KEY] = [c for c in picked if c in options]
    st.multiselect(
        "Categories", options, key=CATEGORIES_KEY, placeholder="All categories",
        help="Top-level product category (`category_l1`).", persist_state="session",
    )


def selected_dates(bounds: tuple[date, date]) -> tuple[date, date]:
    """The chosen [start, end]; a half-picked range is one day, no choice is everything."""
    picked = _as_range(st.session_state.get(DATES_KEY))
    return picked if picked is not None else bounds


def selected_categories(options: list[str]) -> list[str]:
    """The chosen categories, or all of `options` when none is chosen."""
    picked = [c for c in st.session_state.get(CATEGORIES_KEY) or [] if c in options]
    return picked or list(options)


def _as_range(value: object) -> tuple[date, date] | None:
    if isinstance(value, date):
        return value, value
    if isinstance(value, (tuple, list)) and value:
        return (value[0], value[-1]) if value[-1] is not None else (value[0], value[0])
    return None

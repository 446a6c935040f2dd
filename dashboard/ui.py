"""Pieces every page uses: the lake check with its build hint, number formats, CSV download."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pandas as pd
import streamlit as st

from dashboard import data

BUILD_COMMAND = "make run"


def require_tables(*names: str) -> dict[str, data.TableRef]:
    """The current state of each named table; or a message with the build command, and stop.

    An empty or missing lake is the normal state of a fresh clone, so it gets instructions,
    not a traceback.
    """
    lake = data.lake_dir()
    refs = {name: data.table_ref(lake, name) for name in names}
    missing = [name for name, ref in refs.items() if ref is None]
    if missing:
        show_missing_lake(lake, missing)
        st.stop()
    return refs  # type: ignore[return-value]


def show_missing_lake(lake: Path, missing: list[str]) -> None:
    """Say which tables are missing and how to build them."""
    if not lake.is_dir():
        st.warning(f"No lake folder at `{lake}` yet.", icon=":material/folder_off:")
    else:
        listed = ", ".join(f"`{name}`" for name in missing)
        st.warning(f"The lake at `{lake}` has no {listed} table yet.", icon=":material/table_view:")
    st.markdown("Build it by running the pipeline from the repository root:")
    st.code(BUILD_COMMAND, language="bash")
    st.caption(
        "Then interact with the page (or refresh): the dashboard picks up each new pipeline run "
        "without a restart. To read another lake, start it with `-- --lake PATH` or set `LAKE_DIR` "
        "(a relative path is from the project root)."
    )


def optional_table(name: str) -> data.TableRef | None:
    """The table's state, or None (for panels that can do without it)."""
    return data.table_ref(data.lake_dir(), name)


def money(value: float | None) -> str:
    """Money rounded to cents for display (the tables keep full precision)."""
    return "—" if value is None or pd.isna(value) else f"{value:,.2f}"


def money_card(value: float | None) -> tuple[str, str | None]:
    """(card text, tooltip) for money on a KPI card: millions shortened so the card does not
    cut the number off, with the exact amount (to the cent) in the tooltip."""
    if value is None or pd.isna(value) or abs(value) < 1_000_000:
        return money(value), None
    return f"{value / 1_000_000:,.2f} M", f"Exactly {money(value)}."


def count(value: float | None) -> str:
    return "—" if value is None or pd.isna(value) else f"{int(value):,}"


def pct(value: float | None) -> str:
    return "—" if value is None or pd.isna(value) else f"{value:.2f}%"


def signed_pct(value: float | None) -> str | None:
    """A relative change for `st.metric`'s delta, None hides the arrow."""
    return None if value is None or pd.isna(value) else f"{value:+.1f}%"


def signed_pp(value: float | None) -> str | None:
    """A change of a percentage in percentage points."""
    return None if value is None or pd.isna(value) else f"{value:+.2f} pp"


def download_csv(frame: pd.DataFrame | Callable[[], pd.DataFrame], file_name: str, key: str) -> None:
    """A CSV download button; a callable is only evaluated when the user clicks."""
    if callable(frame):
        make = frame
        payload: str | Callable[[], str] = lambda: make().to_csv(index=False)  # noqa: E731
    else:
        payload = frame.to_csv(index=False)
    st.download_button(
        "Download CSV", payload, file_name=file_name, mime="text/csv", key=key,
        icon=":material/download:", on_click="ignore",
    )


def dataframe(frame: pd.DataFrame, **options) -> None:
    """`st.dataframe` without a row index, ids the browser cannot hold exactly shown as text."""
    st.dataframe(browser_safe(frame), hide_index=True, **options)


def show_table(frame: pd.DataFrame, file_name: str, key: str, **dataframe_options) -> None:
    """A table with its CSV download underneath (the CSV keeps the exact values)."""
    dataframe(frame, **dataframe_options)
    download_csv(frame, file_name, key)


_JS_SAFE_INTEGER = 2**53 - 1


def browser_safe(frame: pd.DataFrame) -> pd.DataFrame:
    """Integer columns beyond JavaScript's 2^53 (REES46 category ids) as text, so no digit is rounded."""
    too_big = [
        column for column in frame.columns
        if pd.api.types.is_integer_dtype(frame[column]) and frame[column].abs().max() > _JS_SAFE_INTEGER
    ]
    if not too_big:
        return frame
    return frame.assign(**{c: frame[c].astype("string") for c in too_big})

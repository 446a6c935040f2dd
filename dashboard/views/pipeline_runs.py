"""Pipeline runs: the ledger of notebook runs with parameters, status, durations, rows and versions."""

import json

import pandas as pd
import streamlit as st

from dashboard import charts, data, ui

st.title("Pipeline runs")
refs = ui.require_tables(data.RUNS)
runs = data.read(refs[data.RUNS])
if runs.empty:
    st.info("No pipeline run is recorded yet.")
    st.stop()


def versions(value) -> str:
    """A table -> version map as `table@v` text (Arrow maps arrive as lists of pairs)."""
    pairs = value.items() if isinstance(value, dict) else (value if value is not None else [])
    return ", ".join(f"{table}@{version}" for table, version in sorted(pairs))


runs = runs.sort_values("started_at", ascending=False).assign(
    duration_s=lambda f: (f["finished_at"] - f["started_at"]).dt.total_seconds(),
    versions_read=lambda f: f["versions_read"].map(versions),
    versions_written=lambda f: f["versions_written"].map(versions),
)
picks = st.columns(2)
layers = picks[0].multiselect("Layers", sorted(runs["layer"].dropna().unique()), key="runs_layers",
                              placeholder="All layers")
statuses = picks[1].multiselect("Status", sorted(runs["status"].dropna().unique()), key="runs_status",
                                placeholder="Any status")
shown = runs[runs["layer"].isin(layers or runs["layer"]) & runs["status"].isin(statuses or runs["status"])]

kpis = st.columns(4)
kpis[0].metric("Notebook runs", ui.count(len(shown)), border=True)
kpis[1].metric("Failed", ui.count((shown["status"] == "failed").sum()), border=True)
kpis[2].metric("Median duration", f"{shown['duration_s'].median():,.1f} s" if len(shown) else "—", border=True)
last = shown["started_at"].max()
kpis[3].metric("Last started (UTC)", f"{last:%b %d %H:%M}" if pd.notna(last) else "—", border=True,
               help=f"{last:%Y-%m-%d %H:%M:%S} UTC" if pd.notna(last) else None)

if not shown.empty:
    st.plotly_chart(charts.run_durations(shown), key="runs_durations")

st.subheader("Run ledger")
ui.show_table(
    shown[["run_id", "layer", "notebook", "status", "started_at", "finished_at", "duration_s", "rows_in", "rows_out",
           "rows_quarantined", "rows_duplicate", "versions_read", "versions_written", "parameters", "error"]],
    "pipeline_runs.csv", key="runs_download",
    column_config={
        "started_at": st.column_config.DatetimeColumn("Started (UTC)", format="YYYY-MM-DD HH:mm:ss"),
        "finished_at": st.column_config.DatetimeColumn("Finished (UTC)", format="YYYY-MM-DD HH:mm:ss"),
        "duration_s": st.column_config.NumberColumn("Duration s", format="%.1f"),
    },
)

st.subheader("Run details")
# Run ids may repeat across the layers of one pipeline run: pick a notebook run by position.
picked = st.selectbox(
    "Notebook run", range(len(shown)), key="runs_detail",
    format_func=lambda i: (f"{shown.iloc[i]['run_id']} · {shown.iloc[i]['layer']} · "
                           f"{shown.iloc[i]['started_at']:%Y-%m-%d %H:%M:%S} · {shown.iloc[i]['status']}"),
) if not shown.empty else None
if picked is not None:
    run = shown.iloc[picked]
    left, right = st.columns(2)
    with left:
        st.markdown("**Parameters**")
        try:
            st.json(json.loads(run["parameters"]) if run["parameters"] else {}, expanded=1)
        except (TypeError, ValueError):
            st.code(str(run["parameters"]), language=None)
    with right:
        st.markdown(f"**Status:** {run['status']}  \n**Read:** {run['versions_read'] or '—'}  \n"
                    f"**Wrote:** {run['versions_written'] or '—'}")
        if run["error"]:
            st.error(run["error"])

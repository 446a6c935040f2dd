"""Data quality: score per run against the target, failed rows per rule, quarantine, conservation."""

import streamlit as st

from dashboard import charts, data, metrics, ui

SAMPLE_ROWS = 200

st.title("Data quality")
refs = ui.require_tables(data.DQ_METRICS)
dq = data.read(refs[data.DQ_METRICS])
scores = metrics.quality_by_run(dq)
if scores.empty:
    st.info("No quality measurements yet.")
    st.stop()
latest = scores.iloc[-1]

kpis = st.columns(3)
kpis[0].metric("Latest quality score", ui.pct(latest["score"]),
               ui.signed_pp(latest["score"] - metrics.QUALITY_SCORE_TARGET_PCT), border=True,
               delta_description="vs target", help=f"Run {latest['run_id']}: rows passing every rule ÷ rows checked.")
kpis[1].metric("Runs meeting the target", f"{int(scores['meets_target'].sum())} of {len(scores)}", border=True,
               help=f"Quality score > {metrics.QUALITY_SCORE_TARGET_PCT:g}%.")
kpis[2].metric("Rows checked in the latest run",
               ui.count(dq.loc[(dq["run_id"] == latest["run_id"]) & (dq["rule"] == "quality_score"),
                               "evaluated"].max()), border=True)

st.plotly_chart(charts.quality_scores(scores, metrics.QUALITY_SCORE_TARGET_PCT), key="dq_scores")

st.subheader("Quality metrics against their targets, latest run")
ui.show_table(
    metrics.design_quality_table(dq, latest["run_id"]), "quality_metrics.csv", key="dq_design_download",
    column_config={"actual_pct": st.column_config.NumberColumn("Actual %", format="%.4f"),
                   "meets_target": st.column_config.CheckboxColumn("Meets target")},
)

silver_dq = metrics.layer_rows(dq, "silver")
rule_rows = silver_dq[~silver_dq["rule"].isin(["quality_score", "duplicate_rate"])].merge(
    scores[["run_id", "measured_at"]].rename(columns={"measured_at": "run_at"}), on="run_id", how="left")
rule_rows["run"] = rule_rows["run_at"].dt.strftime("%Y-%m-%d %H:%M") + " · " + rule_rows["run_id"].str[-12:]
st.plotly_chart(charts.failed_by_rule(rule_rows.sort_values(["run_at", "rule"])), key="dq_failed")
with st.expander("Failed rows per rule and run (table)"):
    ui.show_table(dq.sort_values(["measured_at", "rule"]), "dq_metrics.csv", key="dq_download")

st.subheader("Bronze: landing files and lines, latest run")
bronze = metrics.bronze_monitors(dq)
if bronze.empty:
    st.info("No bronze measurements yet.")
else:
    st.caption("Files refused as binary, empty or header-only; files whose header drifted from the source "
               "columns; lines kept in `_rescued_data` (quarantined by silver under `parseable_record`).")
    ui.show_table(bronze, "bronze_monitors.csv", key="dq_bronze_download",
                  column_config={"failed": st.column_config.NumberColumn("Files or lines"),
                                 "failed_pct": st.column_config.NumberColumn("%", format="%.2f")})

st.subheader("Quarantine")
quarantine = ui.optional_table(data.QUARANTINE)
if quarantine is None:
    st.info("No `events_quarantine` table yet: no run has quarantined a row.")
else:
    reasons = data.quarantine_reasons(quarantine)
    run_ids = list(scores["run_id"][::-1])
    run_ids += [r for r in reasons["run_id"].dropna().unique() if r not in run_ids]
    run_choice = st.selectbox("Run", ["All runs", *run_ids], key="dq_run")
    run_id = None if run_choice == "All runs" else run_choice
    picked = reasons if run_id is None else reasons[reasons["run_id"] == run_id]
    per_rule = picked.groupby("rule", as_index=False)["rows"].sum().sort_values("rows", ascending=False)
    if per_rule.empty:
        st.info("No quarantined rows for this run.")
    else:
        st.plotly_chart(charts.quarantine_reasons(per_rule), key="dq_reasons")
        st.markdown(f"**Sample of quarantined rows** (first {SAMPLE_ROWS}, with their reasons)")
        ui.show_table(data.quarantine_sample(quarantine, run_id, SAMPLE_ROWS), "quarantine_sample.csv",
                      key="dq_sample_download")

st.subheader("Row conservation per run")
runs_ref = ui.optional_table(data.RUNS)
if runs_ref is None:
    st.info("No `pipeline_runs` table yet.")
else:
    conservation = metrics.row_conservation(data.read(runs_ref))
    if conservation.empty:
        st.info("No silver run recorded yet.")
    else:
        st.caption("Each silver run: rows in = inserted + quarantined + duplicates removed.")
        st.plotly_chart(charts.row_conservation(conservation), key="dq_conservation")
        ui.show_table(conservation, "row_conservation.csv", key="dq_conservation_download",
                      column_config={"conserved": st.column_config.CheckboxColumn("Conserved")})

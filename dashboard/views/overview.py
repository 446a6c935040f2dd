"""Overview: the selected dates' KPIs against the previous period, and the last pipeline run."""

import streamlit as st

from dashboard import charts, data, filters, metrics, ui

st.title("Overview")
refs = ui.require_tables(data.DAILY_SALES)
daily = data.read(refs[data.DAILY_SALES])
bounds = data.date_bounds(refs[data.DAILY_SALES])
if bounds is None:
    st.info("The daily sales table has no rows yet: the last run had no valid events.")
    st.stop()

start, end = filters.selected_dates(bounds)
prev_start, prev_end = metrics.previous_period(start, end)
current = metrics.period_totals(daily, start, end)
previous = metrics.period_totals(daily, prev_start, prev_end)
# Only a previous period the lake covers in full: half a period would make every change look big.
has_previous = prev_start >= bounds[0] and previous.days_with_data > 0
days = (end - start).days + 1
st.caption(
    f"{start:%a %d %b %Y} – {end:%a %d %b %Y} ({days} day{'s' if days != 1 else ''}), compared with "
    + (f"{prev_start:%d %b} – {prev_end:%d %b %Y}." if has_previous
       else f"nothing: the lake starts on {bounds[0]:%d %b %Y}, too late for a previous period as long.")
)


def change(now: float | None, before: float | None) -> str | None:
    return ui.signed_pct(metrics.pct_change(now, before)) if has_previous else None


def active_users() -> tuple[str, int, int | None, str]:
    """(label, value, previous value, help): distinct users where exact, else user-days."""
    customers = ui.optional_table(data.CUSTOMERS)
    if start == end:
        exact_now = current.user_days if current.days_with_data else 0
        exact_before = previous.user_days if has_previous else None
    elif customers is not None:
        exact_now = data.distinct_active_users(customers, start, end)
        exact_before = data.distinct_active_users(customers, prev_start, prev_end) if has_previous else None
    else:
        exact_now = exact_before = None
    if exact_now is not None:
        return ("Active users", exact_now, exact_before,
                "Distinct users with at least one event in these dates.")
    return ("Active user-days", current.user_days, previous.user_days if has_previous else None,
            "Daily active users summed over the days: a user active on two days counts twice. "
            "The exact distinct count is only known for one day or a range starting at the first "
            "or ending at the last day of the lake.")


dq = ui.optional_table(data.DQ_METRICS)
scores = metrics.quality_by_run(data.read(dq)) if dq else None
users_label, users_now, users_before, users_help = active_users()

row1 = st.columns(4)
revenue_text, revenue_exact = ui.money_card(current.revenue)
row1[0].metric("Revenue", revenue_text, change(current.revenue, previous.revenue), border=True,
               help=" ".join(filter(None, ["Sum of purchase prices.", revenue_exact])))
row1[1].metric("Purchases", ui.count(current.purchases), change(current.purchases, previous.purchases), border=True)
conversion_delta = None
if has_previous and current.conversion_pct is not None and previous.conversion_pct is not None:
    conversion_delta = ui.signed_pp(current.conversion_pct - previous.conversion_pct)
row1[2].metric("Conversion rate", ui.pct(current.conversion_pct), conversion_delta, border=True,
               help="Purchases ÷ views over the whole period.")
row1[3].metric("Average order value", ui.money(current.avg_order_value),
               change(current.avg_order_value, previous.avg_order_value), border=True,
               help="Revenue ÷ purchases.")
row2 = st.columns(4)
row2[0].metric(users_label, ui.count(users_now), change(users_now, users_before), border=True, help=users_help)
sessions_label = "Sessions" if start == end else "Sessions (daily sum)"
row2[1].metric(sessions_label, ui.count(current.session_days), change(current.session_days, previous.session_days),
               border=True, help="Sessions per day, summed: a session crossing midnight counts on both days.")
row2[2].metric("Events", ui.count(current.events), change(current.events, previous.events), border=True)
if scores is not None and len(scores):
    latest = scores.iloc[-1]
    score_delta = ui.signed_pp(latest["score"] - scores.iloc[-2]["score"]) if len(scores) > 1 else None
    row2[3].metric("Latest quality score", ui.pct(latest["score"]), score_delta, border=True,
                   help=f"Rows passing every rule in the last run ({latest['run_id']}); "
                        f"target > {metrics.QUALITY_SCORE_TARGET_PCT:g}%. Change vs the run before.")
else:
    row2[3].metric("Latest quality score", "—", border=True, help="No `dq_metrics` table yet.")

st.plotly_chart(charts.revenue_trend(metrics.in_dates(daily, start, end)), key="overview_revenue")

st.subheader("Last pipeline run")
runs_ref = ui.optional_table(data.RUNS)
runs = data.read(runs_ref) if runs_ref else None
if runs is None or runs.empty:
    st.info("No pipeline run is recorded in `pipeline_runs` yet.")
else:
    latest_runs = metrics.latest_runs_by_layer(runs)
    finished = latest_runs["finished_at"].max()
    failed = latest_runs[latest_runs["status"] != "succeeded"]
    when = f"{finished:%Y-%m-%d %H:%M} UTC" if finished is not None and str(finished) != "NaT" else "not finished"
    if failed.empty:
        st.success(f"Last run finished {when}: every layer succeeded.", icon=":material/check_circle:")
    else:
        names = ", ".join(failed["layer"])
        st.error(f"Last run finished {when}: {names} failed.", icon=":material/error:")
        for _, run in failed.iterrows():
            st.code(str(run["error"] or "no error message recorded"), language=None)
    ui.dataframe(
        latest_runs[["layer", "run_id", "status", "started_at", "finished_at", "rows_in", "rows_out"]],
        column_config={"started_at": st.column_config.DatetimeColumn(format="YYYY-MM-DD HH:mm:ss"),
                       "finished_at": st.column_config.DatetimeColumn(format="YYYY-MM-DD HH:mm:ss")},
    )

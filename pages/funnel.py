"""Funnel: how deals move through the stages, for exactly the chosen slice."""

import streamlit as st

from dashboard import charts, shell
from dashboard.components import download, table
from metrics.funnel import deals_at_stage

filters, view = shell.page("funnel", "Funnel")  # every deal: the same view for every period
period = shell.part("funnel_period", filters)  # deals created or closed in the period
currency = shell.currency()
rate, summary, pipe = period.win_rate, period.summary, view.pipeline
if pipe["pipeline_value"] is None:
    pipeline_text = f"{pipe['open_deals']:,} open deals, none with an amount in this data: their value is unknown"
else:
    pipeline_text = (f"{pipe['open_deals']:,} open deals"
                     + ("" if pipe["open_with_amount"] == pipe["open_deals"] else f", {pipe['open_with_amount']:,} of them with an amount")
                     + f"; weighted by the historical chance of winning from their stage: {shell.money(pipe['weighted_pipeline'], currency)}")  # fmt: skip

cols = st.columns(5)
cols[0].metric("Win rate", "—" if rate.value is None else f"{100 * rate.value:.1f}%", border=True,
               help=f"won / (won + lost) among deals closed in the period (open deals do not count): {rate.numerator:,.0f} of {rate.denominator:,.0f}"
               + ("" if rate.ci_low is None else f"; 95% CI {100 * rate.ci_low:.1f}–{100 * rate.ci_high:.1f}%")
               + (" · small sample" if rate.small_sample else ""))  # fmt: skip
cols[1].metric(shell.card_label("Avg. deal", currency), shell.money(summary["average_deal_size"]),
               help="average deal size: mean amount of won deals closed in the period", border=True)  # fmt: skip
cols[2].metric("Sales cycle", "—" if summary["cycle_median_days"] is None else f"{summary['cycle_median_days']:.0f} days",
               help="median of closed − created date over won deals closed in the period; mean "
               + ("—" if summary["cycle_mean_days"] is None else f"{summary['cycle_mean_days']:.0f} days"), border=True)  # fmt: skip
cols[3].metric(shell.card_label("Open pipeline", currency), shell.money(pipe["pipeline_value"]), border=True, help=pipeline_text)
cols[4].metric(shell.card_label("Velocity", currency, per="day"), shell.money(pipe["velocity_per_day"]),
               help="sales velocity: open deals × win rate × average deal size / average cycle length (all deals)", border=True)  # fmt: skip

scope = st.radio("Deals", ["created in the period", "all deals"], horizontal=True, key="funnel_scope",
                 help="The cards above count deals closed in the period; the funnel counts deals by when they were created.")  # fmt: skip
in_period = scope == "created in the period"
shown = period if in_period else view
stages_frame, unknown = shown.funnel, shown.unknown_stage
if not stages_frame.height or not stages_frame.get_column("reached").max():
    st.info("No deal was created in this period: choose all deals, or a longer period.", icon="ℹ️")
    st.stop()
left, right = st.columns([3, 2])
left.plotly_chart(charts.funnel_chart(stages_frame, title=f"Deals {scope}: reached each stage"))
right.dataframe(stages_frame, hide_index=True, column_config={
    "stage": st.column_config.TextColumn("Stage"),
    "reached": st.column_config.NumberColumn("Deals reached", format="localized"),
    "step_conversion": st.column_config.NumberColumn("From previous", format="percent", help="reached this stage / reached the previous one"),
    "overall_conversion": st.column_config.NumberColumn("From first", format="percent", help="reached this stage / reached the first"),
    "drop_off": st.column_config.NumberColumn("Stopped before", format="localized", help="reached the previous stage but not this one"),
    "ci_low": st.column_config.NumberColumn("From previous, 95% low", format="percent"),
    "ci_high": st.column_config.NumberColumn("From previous, 95% high", format="percent"),
})  # fmt: skip
with right:
    st.caption(f"Open pipeline: {pipeline_text}. The interval is the 95% Wilson interval of the step conversion.")
    if unknown:
        st.caption(f"{unknown:,} deals record no stage of the stage order (lost deals whose export keeps only the outcome): "
                   "they count at the first stage, as every deal entered there.")  # fmt: skip
    inferred = {k: v for k, v in view.close_dates.items() if k in ("last stage", "created")}
    if inferred:
        st.caption("Closed deals without a close date are dated by "
                   + " and ".join(f"their {k} date ({v:,})" for k, v in inferred.items()) + ", so they count in a period.")  # fmt: skip
    download.show(stages_frame, "funnel")

breakdowns = shown.breakdowns
if breakdowns or shown.breakdowns_won_only:
    st.subheader("Breakdown")
if shown.breakdowns_won_only:
    named = " and ".join(shown.breakdowns_won_only).capitalize()
    them = "it" if len(shown.breakdowns_won_only) == 1 else "them"
    st.caption(f"{named}: recorded only for won deals in this data, so a breakdown by {them} would read 100 % at every "
               "stage. Left out.")  # fmt: skip
if breakdowns:
    tabs = st.tabs([d.capitalize() for d in breakdowns])
    for tab, (dim, parts) in zip(tabs, breakdowns.items(), strict=True):
        with tab:
            st.plotly_chart(charts.grouped_bars(parts["shown"], x="stage", y="overall_conversion", colour=dim, percent=True,
                                                order=parts["order"], title=f"Share of deals reaching each stage, by {dim}"))  # fmt: skip
            download.show(parts["all"], f"funnel-by-{dim}")

left, right = st.columns(2)
if view.trend.height:  # an empty chart would draw a made-up axis
    left.plotly_chart(charts.trend(view.trend, x="month", y="win_rate", band=("ci_low", "ci_high"), percent=True, name="win rate",
                                   partial="partial", title="Win rate by month closed"))  # fmt: skip
with left:
    st.caption("Win rate by month closed: won / (won + lost) of the deals closed in each month, as the win-rate cards "
               "count them. A month's rate never changes once it is over, however long other deals stay open."
               if view.trend.height else "Win rate by month closed: no deal in this slice is won or lost yet.")  # fmt: skip
    download.show(view.trend, "funnel-trend")
if view.time_in_stage is not None and view.time_in_stage.height:
    right.plotly_chart(charts.bars(view.time_in_stage, x="stage", y="median_days", title="Time in stage (median days, deals that moved on)",
                                   text="deals", text_template="%{text:,} deals"))  # fmt: skip
    with right:
        download.show(view.time_in_stage, "time-in-stage")
elif view.time_in_stage is None:
    right.info("Time in stage needs stage_history (or stage-date columns in the export).")
else:  # a history with one dated stage per deal (Maven's engage dates) has no time between two stages
    right.info("Time in stage needs deals with two or more dated stages in their history: in this data no deal has more "
               "than one, so no time between stages can be measured.")  # fmt: skip

st.subheader("Deals behind a stage")
c1, c2 = st.columns([1, 2])
stage = c1.selectbox("Stage", view.stages, key="drill_stage")
which = c2.radio("Deals that", ["reached it", "stopped there"], horizontal=True, key="drill_which")
behind = deals_at_stage(shown.reach, stages=view.stages, stage=stage, exact=which == "stopped there")
st.caption(f"{behind.height:,} deals")
table.show(behind, currency=currency, key="deals_behind")
download.show(behind, f"deals-{stage}")

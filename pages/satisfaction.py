"""Satisfaction and quick response: how customers feel and how fast we answer them."""

import streamlit as st

from dashboard import charts, shell
from dashboard.components import download
from dashboard.views import MIN_MONTH_ANSWERS


def rate_text(rate, unit: str = "%") -> str:
    if rate is None or rate.value is None:
        return "—"
    return f"{rate.value:+.0f}" if unit == "pts" else f"{rate.value:.1f}%"


def rate_help(rate, definition: str) -> str:
    if rate is None or rate.value is None:
        return f"{definition}. No responses in the period."
    return (f"{definition}. {rate.denominator:,.0f} responses; 95% CI {rate.ci_low:.1f} to {rate.ci_high:.1f}"
            + (" · small sample (under 30)" if rate.small_sample else ""))  # fmt: skip


filters, view = shell.page("satisfaction", "Satisfaction")
history = shell.part("satisfaction_history", filters)  # month by month and at the as-of date: cached apart from the period's
cards = []  # (label, value, help), as the data gives them
if view.nps is not None:
    ces = view.ces
    survey_cards = {
        "nps": ("NPS", rate_text(view.nps, "pts"), rate_help(view.nps, "% promoters (9–10) − % detractors (0–6)")),
        "csat": ("CSAT", rate_text(view.csat), rate_help(view.csat, "responses of 4 or 5 / all responses (1–5)")),
        "ces": ("CES", rate_text(ces), rate_help(ces, "responses of 5–7 / all responses (1–7)")
                + ("" if ces.value is None else f"; mean {ces.parts['mean']:.2f}")),
    }  # fmt: skip
    cards += [card for key, card in survey_cards.items() if view.asked[key]]  # a question never asked has no card
if view.ticket_csat is not None:
    cards.append(("CSAT after tickets", rate_text(view.ticket_csat),
                  rate_help(view.ticket_csat, "tickets created in the period and rated 4 or 5 / rated tickets (1–5)")))  # fmt: skip
if view.times_all is not None and view.times_all.height:
    t = view.times_all.row(0, named=True)
    cards.append(("Median first response", "—" if t["first_response_median_h"] is None else f"{t['first_response_median_h']:.1f} h",
                  f"Kaplan–Meier median over {t['tickets']:,} tickets created in the period; "
                  f"{t['open_unanswered']:,} still unanswered count as waiting (censored), not dropped. p90 "
                  + ("—" if t["first_response_p90_h"] is None else f"{t['first_response_p90_h']:.1f} h")))  # fmt: skip
for column, (label, value, text) in zip(st.columns(max(len(cards), 4)), cards, strict=False):
    column.metric(label, value, border=True, help=text)
never = [label for key, label in (("nps", "NPS"), ("csat", "CSAT"), ("ces", "CES")) if view.asked and not view.asked[key]]
if never:
    st.caption(f"No survey in this data answers {' or '.join(never)}, so {'it has' if len(never) == 1 else 'they have'} no card.")

if view.nps is not None:
    left, right = st.columns(2)
    if history.nps_trend_drawn.height:
        left.plotly_chart(charts.trend(history.nps_trend_drawn, x="period", y="nps", band=("ci_low", "ci_high"), name="NPS",
                                       title=f"NPS by month (95% interval; months with ≥ {MIN_MONTH_ANSWERS} answers)"))  # fmt: skip
    elif history.nps_trend.height:  # an empty chart would draw a made-up axis (January 2000 on)
        left.caption(f"No month has {MIN_MONTH_ANSWERS} or more NPS answers ({history.nps_trend.get_column('responses').sum():,} "
                     "in all), so the NPS by month is not drawn.")  # fmt: skip
    # else no survey answers NPS, which the sentence under the cards says
    if history.nps_trend.height:
        with left:
            download.show(history.nps_trend, "nps-trend")
    if view.nps_by_tier is not None and view.nps_by_tier.height:
        right.plotly_chart(charts.bars(shell.sort_tiers(view.nps_by_tier), x="tier", y="nps", colour_by_tier=True, error=("ci_low", "ci_high"),
                                       title="NPS by tier in the period (95% interval)"))  # fmt: skip
    answered = [(name, frame) for name, frame in view.distributions.items() if frame.height]  # side by side, from the left
    for column, (name, frame) in zip(st.columns(3), answered, strict=False):
        column.plotly_chart(charts.bars(frame, x="score", y="responses", title=f"{name.upper()} answers"))
    if history.by_group is not None and history.by_group.height:
        st.subheader("Do promoters stay?")
        groups = history.by_group
        st.plotly_chart(charts.bars(groups, x="group", y="retention", percent=True, error=("ci_low", "ci_high"),
                                    title="Still customers at the as-of date, by latest NPS answer"))  # fmt: skip
        download.show(groups, "retention-by-nps-group")

if view.times_channel is not None:
    st.subheader("Response times and SLA")
    left, right = st.columns(2)
    for column, key, dim in ((left, "times_channel", "channel"), (right, "times_priority", "priority")):
        column.plotly_chart(charts.grouped_bars(view.times_drawn[dim], x=dim, y="hours", colour="measure",
                                                title=f"First response by {dim} (hours)"))  # fmt: skip
        with column:
            download.show(getattr(view, key), f"response-times-{dim}")
    left, right = st.columns(2)
    for column, key, dim in ((left, "sla_priority", "priority"), (right, "sla_channel", "channel")):
        column.plotly_chart(charts.bars(getattr(view, key), x=dim, y="compliance", percent=True, error=("ci_low", "ci_high"),
                                        title=f"SLA compliance by {dim}"))  # fmt: skip
        with column:
            download.show(getattr(view, key), f"sla-{dim}")
    sla = view.sla_all.row(0, named=True) if view.sla_all.height else None
    if sla:
        st.caption(f"Answered within the first-response target of their priority: {sla['within_sla']:,} of {sla['decided']:,} decided "
                   f"tickets; {sla['pending']:,} still inside their target, {sla['no_target']:,} with a priority that has no target.")  # fmt: skip
    if history.complaints is not None:
        st.plotly_chart(charts.trend(history.complaints_drawn, x="month", y="per_100", name="complaints per 100",
                                     title="Complaints per 100 active customers per month"))  # fmt: skip
        download.show(history.complaints, "complaints")

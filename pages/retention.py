"""Retention: do customers come back, and how long do they stay?"""

import streamlit as st

from dashboard import charts, shell
from dashboard.components import download

filters, view = shell.page("retention", "Retention")
repeat = view.repeat
months, latest = view.churn_months, view.last_complete

cols = st.columns(3)  # two cards, at the width of three
tiers = view.survival.get_column("tier").n_unique() if view.survival.height else 0
cols[0].metric("Repeat purchase rate", "—" if repeat.value is None else f"{100 * repeat.value:.1f}%", border=True,
               help=f"customers with ≥ 2 orders / customers with ≥ 1 order: {repeat.numerator:,.0f} of {repeat.denominator:,.0f}")  # fmt: skip
if latest is not None:  # else no complete month had customers active at its start: said below or here
    cols[1].metric("Churn rate, last complete month", f"{100 * latest['churn_rate']:.1f}%", border=True,
                   help=f"{latest['month']:%B %Y}: {latest['churned']:,} of the {latest['active_at_start']:,} customers active "
                   f"on the day before it lapsed during it (no purchase for {view.window} days, or their churn date). A month "
                   "still running at the as-of date is not shown as one.")  # fmt: skip
    cols[2].metric("Came back, last complete month", f"{latest['reactivated']:,}", border=True,
                   help="customers who bought again after a lapse (a reactivation) in that month")
elif "churn" not in view.not_drawn:
    st.caption("The churn rate of a complete month needs customers active at its start: the only month with them is still "
               "running, so no month's rate is shown as a card.")
test = view.logrank
medians = {t: d for t, d in view.median_lifetime.items() if d is not None}

st.subheader("Cohorts")
basis = st.segmented_control("Retention of", ["customers", "revenue"], default="customers", key="cohort_basis")
matrix = view.revenue if basis == "revenue" else view.customers
st.plotly_chart(charts.cohort_heatmap(matrix, value_label="retention" if basis != "revenue" else "revenue retention",
                                      title=f"Share of each cohort's {'first-month revenue' if basis == 'revenue' else 'customers'} "
                                      "still buying, by month since their first purchase"))  # fmt: skip
st.caption("Cells after the as-of date are blank, not zero: a young cohort is never shown as churned.")
download.show(matrix, f"cohorts-{basis or 'customers'}")

left, right = st.columns(2)
by_tier = " by tier" if tiers > 1 else ""
if "curves" in view.not_drawn:
    left.caption(view.not_drawn["curves"])
elif view.curves_by_tier is not None:
    left.plotly_chart(charts.lines_by(view.curves_drawn, x="period", y="retention", group="tier",
                                      percent=True, order=shell.tier_order(),
                                      title=f"Retention curve{by_tier} (all cohorts pooled)"))  # fmt: skip
    with left:
        download.show(view.curves_by_tier, "retention-by-tier")
survival = view.survival
if "survival" in view.not_drawn:
    right.caption(view.not_drawn["survival"])
elif survival.height:
    right.plotly_chart(charts.lines_by(view.survival_drawn, x="days", y="survival", group="tier", percent=True,
                                       order=shell.tier_order(), band=("ci_low", "ci_high"), step=True,
                                       title=f"Still active, by days since first order{by_tier}"))  # fmt: skip
    with right:
        lost = {t: v for t, v in view.lost_day_0.items() if v >= 0.005}
        if lost:
            st.caption("The drop on day 0 is customers who bought once and lapsed ("
                       + ", ".join(f"{t} {100 * v:.0f}%" for t, v in lost.items()) + "): their time as a customer ends at their only order.")  # fmt: skip
        if test and test["p_value"] is not None:
            differ = test["p_value"] < 0.05
            text = ", ".join(f"{t} {d:,.0f} days" for t, d in sorted(medians.items(), key=lambda kv: kv[1]))
            st.caption(
                ("Customers of different tiers stay for measurably different times" if differ else
                 "The tiers do not differ measurably in how long customers stay")
                + f" (log-rank test, p = {test['p_value']:.2g}). "
                + (f"Half of the customers are gone after: {text}." if text else "No tier has lost half of its customers yet.")
            )  # fmt: skip
        download.show(survival, "survival")

if "churn" in view.not_drawn:
    st.caption(view.not_drawn["churn"])
else:
    st.plotly_chart(charts.trend(months, x="month", y="churn_rate", band=("ci_low", "ci_high"), percent=True, name="monthly churn",
                                 partial="partial", title="Monthly churn rate (customers active at the month's start who lapsed in it)"))  # fmt: skip
    download.show(view.monthly_churn, "monthly-churn")

test = view.backtest
shell.how_did_this_do(
    None if test is None else
    f"A year ago, on {test['as_of_then']:%d %b %Y}, the monthly churn rate read {100 * test['monthly_rate']:.1f}% "
    f"({test['month_then']:%B %Y}). At that rate {100 * test['predicted_share']:.0f}% of the {test['active_then']:,} "
    f"customers then active would have lapsed within a year; {100 * test['actual_share']:.0f}% did ({test['lapsed']:,}).",
    "A check needs a year of orders before a complete month of churn: this data does not reach back so far.",
)  # fmt: skip

"""Retention: do customers come back, and how long do they stay?"""

import polars as pl
import streamlit as st

from dashboard import charts, shell
from dashboard.components import download

filters, view = shell.page("retention", "Retention")
repeat = view["repeat"]
months = view["monthly_churn"].filter(pl.col("active_at_start") > 0)
latest = months.tail(1).to_dicts()[0] if months.height else None

cols = st.columns(3)
cols[0].metric("Repeat purchase rate", "—" if repeat.value is None else f"{100 * repeat.value:.1f}%", border=True,
               help=f"customers with ≥ 2 orders / customers with ≥ 1 order: {repeat.numerator:,.0f} of {repeat.denominator:,.0f}")  # fmt: skip
cols[1].metric("Churn rate, last month", "—" if latest is None else f"{100 * latest['churn_rate']:.1f}%", border=True,
               help=f"customers who churned in the month / customers active at its start; churned = no order for more than "
               f"{view['window']} days (or a churn date)")  # fmt: skip
test = view["logrank"]
if test and test["p_value"] is not None:
    verdict = "differ" if test["p_value"] < 0.05 else "do not differ measurably"
    cols[2].metric("Survival by tier", verdict, border=True,
                   help=f"log-rank test across {len(test['groups'])} tiers: χ² = {test['statistic']:.1f}, "
                   f"{test['dof']} degrees of freedom, p = {test['p_value']:.2g}")  # fmt: skip

st.subheader("Cohorts")
basis = st.segmented_control("Retention of", ["customers", "revenue"], default="customers", key="cohort_basis")
matrix = view["revenue" if basis == "revenue" else "customers"]
st.plotly_chart(charts.cohort_heatmap(matrix, value_label="retention" if basis != "revenue" else "revenue retention",
                                      title=f"Share of each cohort's {'first-month revenue' if basis == 'revenue' else 'customers'} "
                                      "still buying, by month since their first purchase"))  # fmt: skip
st.caption("Cells after the as-of date are blank, not zero: a young cohort is never shown as churned.")
download.show(matrix, f"cohorts-{basis or 'customers'}")

left, right = st.columns(2)
if view["curves_by_tier"] is not None:
    left.plotly_chart(charts.lines_by(view["curves_by_tier"].filter(pl.col("period") <= 24), x="period", y="retention", group="tier",
                                      percent=True, order=shell.tier_order(),
                                      title="Retention curve by tier (all cohorts pooled)"))  # fmt: skip
    with left:
        download.show(view["curves_by_tier"], "retention-by-tier")
survival = view["survival"]
if survival.height:
    right.plotly_chart(charts.lines_by(survival, x="days", y="survival", group="tier", percent=True, order=shell.tier_order(),
                                       band=("ci_low", "ci_high"), step=True,
                                       title="Kaplan–Meier survival by tier (95% band)"))  # fmt: skip
    with right:
        if test and test["p_value"] is not None:
            medians = survival.filter(pl.col("survival") <= 0.5).group_by("tier").agg(pl.col("days").min()).sort("days")
            text = ", ".join(f"{r['tier']} {r['days']:.0f} days" for r in medians.to_dicts())
            st.markdown(
                f"The tiers' survival curves **{verdict}** (log-rank χ² = {test['statistic']:.1f}, "
                f"p = {test['p_value']:.2g}). " + (f"Half of the customers have churned after: {text}." if text else
                                                   "No tier has lost half of its customers yet.")
            )  # fmt: skip
        download.show(survival, "survival")

st.plotly_chart(charts.trend(months, x="month", y="churn_rate", band=("ci_low", "ci_high"), percent=True, name="monthly churn",
                             title="Monthly churn rate"))  # fmt: skip
download.show(view["monthly_churn"], "monthly-churn")

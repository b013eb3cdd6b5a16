"""Overview: the state of the customer base at a glance and what changed."""

import streamlit as st

from dashboard import charts, shell
from dashboard.components import download, kpi_cards

filters, view = shell.page("overview", "Overview")
currency = shell.currency()

st.subheader("What changed")
for sentence in view["changes"] or ["Nothing to compare: the comparison period has no data."]:
    st.markdown(f"- {sentence}")

kpi_cards.show(view["overview"], view["months"], currency=currency)
st.caption(
    f"Changes against {view['overview'].comparison.label()}. A grey change is within normal "
    "variation (not significant at 5%); hover a card for its definition and test."
)

months = view["months"]
left, right = st.columns(2)
if "revenue" in months.columns:
    left.plotly_chart(charts.trend(months, x="month", y="revenue", title=f"Revenue per month ({currency})", name="revenue"))
    right.plotly_chart(charts.trend(months, x="month", y="active_customers", title="Active customers at the start of each month",
                                    name="active customers"))  # fmt: skip
    download.show(months, "overview-monthly")
if view["tiers"] is not None and view["tiers"].height:
    st.subheader("By tier, in the period")
    left, right = st.columns([3, 2])
    left.plotly_chart(charts.bars(view["tiers"], x="tier", y="revenue", title=f"Revenue by tier ({currency})", colour_by_tier=True))
    right.dataframe(view["tiers"], hide_index=True, column_config={
        "revenue": st.column_config.NumberColumn(format="localized"),
        "share": st.column_config.NumberColumn("revenue share", format="percent"),
    })  # fmt: skip
    download.show(view["tiers"], "overview-tiers")

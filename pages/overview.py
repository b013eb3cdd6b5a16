"""Overview: the state of the customer base at a glance and what changed."""

import streamlit as st

from dashboard import charts, shell
from dashboard.components import download, kpi_cards
from dashboard.text import plain

filters, view = shell.page("overview", "Overview")
currency = shell.currency()

st.subheader("What changed")
for sentence in view.changes:
    st.markdown(f"- {plain(sentence)}")

kpi_cards.show(view.overview, view.months, currency=currency)
if any(k.change is not None for k in view.overview.kpis):  # a card shows a change: what it is against
    st.caption(
        f"Changes against {view.overview.comparison.label()}. A grey change is within normal "
        "variation (not significant at 5%); hover a card for its definition and test."
    )

months = view.months
left, right = st.columns(2)
if "revenue" in months.columns:
    if "revenue" in view.not_drawn:
        left.caption(view.not_drawn["revenue"])
    else:
        left.plotly_chart(charts.trend(months, x="month", y="revenue", title=f"Revenue per month ({currency})", name="revenue",
                                       partial="partial"))  # fmt: skip
    if "active" in view.not_drawn:
        right.caption(view.not_drawn["active"])
    else:
        right.plotly_chart(charts.trend(months, x="month", y="active_customers", title="Active customers at the start of each month",
                                        name="active customers"))  # fmt: skip
    download.show(months, "overview-monthly")
if view.tiers is not None and view.tiers.height == 1:
    st.subheader("By tier, in the period")
    st.info(shell.one_tier_note(view.tiers), icon="ℹ️")
elif view.tiers is not None and view.tiers.height:
    st.subheader("By tier, in the period")
    # two bar charts rather than a table: the Overview then needs no data-grid JavaScript (1.3 MB
    # less for a first-time visitor's browser to load and compile, see benchmarks/pages.py)
    tiers = view.tiers
    left, right = st.columns(2)
    left.plotly_chart(charts.bars(tiers, x="tier", y="revenue", title=f"Revenue by tier ({currency}), share of the total",
                                  colour_by_tier=True, text="share", text_template="%{text:.1%}"))  # fmt: skip
    right.plotly_chart(charts.bars(tiers, x="tier", y="customers", title="Customers who bought, by tier",
                                   colour_by_tier=True, text="orders", counted=("order", "orders")))  # fmt: skip
    download.show(view.tiers, "overview-tiers")

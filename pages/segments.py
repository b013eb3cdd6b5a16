"""Segments: know the customers — who they are by value and behaviour, and what to do with each group."""

import streamlit as st

from dashboard import charts, shell, views
from dashboard.components import download, table
from metrics.segments import SEGMENT_ORDER

filters, view = shell.page("segments", "Segments")
currency = shell.currency()
summary = view.summary  # the segments that have customers

st.subheader("RFM segments")
left, right = st.columns([2, 3])
left.plotly_chart(charts.bars(summary, x="segment", y="customers", horizontal=True, title="Customers per segment"))
with right:
    table.show(summary, currency=currency, key="segments")
    download.show(view.summary_all, "segments")
if view.tiers > 1:
    st.plotly_chart(charts.matrix_heatmap(view.matrix, rows="segment", cols="tier", value="customers", title="Segment × tier (customers)",
                                          row_order=SEGMENT_ORDER, col_order=shell.tier_order()))  # fmt: skip

clusters = view.clusters
st.subheader("Clusters")
if clusters["reason"]:
    st.info(clusters["reason"])
else:
    st.caption(f"k-means on standardised log(1 + recency, frequency, monetary); k = {clusters['k']} chosen by silhouette "
               + ", ".join(f"k={k}: {s:.2f}" for k, s in clusters["silhouette"].items()))  # fmt: skip
    profiles = clusters["profiles"]
    for row in profiles.to_dicts():
        who = "1 customer" if row["customers"] == 1 else f"{row['customers']:,} customers"
        st.markdown(f"- **Cluster {row['cluster']}** — {who} ({100 * row['share']:.0f}%): {row['description']} "
                    f"({currency})")  # fmt: skip
    download.show(clusters["assignments"], "clusters")

st.subheader("Customer portfolio: value vs cost to serve")
folio = view.portfolio
if folio is None:
    st.info(view.portfolio_reason, icon="ℹ️")
else:
    unprofitable, points = view.unprofitable, view.portfolio_points
    st.plotly_chart(charts.scatter(points, x="cost_to_serve", y="margin", colour="tier", order=shell.tier_order(),
                                   x_title=f"cost to serve ({currency}: support tickets × cost per ticket + acquisition cost)",
                                   y_title=f"margin ({currency})", title=f"{unprofitable.height:,} of {folio.height:,} customers cost more than they earn"))  # fmt: skip
    if points.height < folio.height:
        st.caption(f"The chart draws {points.height:,} of the {folio.height:,} customers: the most unprofitable "
                   "ones and a random sample of the rest. The count in the title is of all of them.")  # fmt: skip
    table.show(unprofitable, currency=currency, key="unprofitable")
    download.show(unprofitable, "unprofitable-customers")

if view.contacts is not None and view.contacts.height:
    contacts = view.contacts
    st.plotly_chart(charts.bars(contacts, x="segment", y="contacts_per_sale",
                                title=f"Contacts per sale by segment (interactions / {contacts.get_column('basis')[0]})"))  # fmt: skip

st.subheader("Customers in a segment")
segment = st.selectbox("Segment", summary.get_column("segment").to_list(), key="segment_drill")
members = views.segment_members(view, segment)
table.show(members, currency=currency, key="segment_members")
download.show(members, f"segment-{segment}")

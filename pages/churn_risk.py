"""Churn risk: which valuable customers are likely to leave, and why."""

import streamlit as st

from dashboard import charts, shell
from dashboard.components import download, table

filters, view = shell.page("churn", "Churn risk")
currency = shell.currency()
model = view.model
if model.refused:
    st.warning(model.refused, icon="⚠️")
    st.stop()

cols = st.columns(4)
cols[0].metric("Model ROC AUC", f"{model.auc:.3f}", delta=f"{model.auc - model.baseline_auc:+.3f} vs recency alone", border=True,
               help=f"trained at {model.train_cutoff}, validated on who churned after {model.validation_cutoff} "
               f"({model.validation_customers:,} customers, {model.validation_churners:,} churners); recency alone: {model.baseline_auc:.3f}")  # fmt: skip
cols[1].metric("Precision, top 10% risk", f"{100 * model.top_decile_precision:.0f}%", border=True,
               delta=f"{100 * (model.top_decile_precision - model.baseline_top_decile_precision):+.0f} pts vs recency alone",
               help=f"share of churners among the 10% highest-scored customers at validation; base rate {100 * model.base_rate:.0f}%")  # fmt: skip
scores = view.scores
cols[2].metric("Active customers scored", f"{scores.height:,}", border=True)
cols[3].metric(shell.card_label("Margin at risk", currency), shell.money(scores.get_column("value_at_risk").sum() or 0), border=True,
               help="Σ risk × historical margin of the active customers in the slice")  # fmt: skip
if not model.beats_baseline:
    st.warning("On this dataset the model does not beat ranking by recency alone: use recency.")
for note in model.notes:
    st.caption(note)

left, right = st.columns(2)
left.plotly_chart(charts.histogram(view.risk_bins, title="Risk of churning in the next 90 days", x_title="risk"))
right.plotly_chart(charts.bars(model.importance.head(8), x="feature", y="mean_risk_added", horizontal=True,
                               title="What drives risk (mean risk added, riskiest customers)"))  # fmt: skip

st.subheader("High-value customers most at risk")
top = view.at_risk
show = [c for c in ("customer_id", "name", "tier", "risk", "drivers", "margin", "value_at_risk", "recency_days", "segment") if c in top.columns]
table.show(top.select(show), currency=currency, key="at_risk")
download.show(scores.select([c for c in scores.columns if c != "drivers"] + ["drivers"]), "churn-risk")

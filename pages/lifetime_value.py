"""Lifetime value: what customers are worth, historically and predicted, against what they cost."""

import streamlit as st

from dashboard import charts, shell
from dashboard.components import download, table

filters, view = shell.page("lifetime_value", "Lifetime value")
currency = shell.currency()
value = view.value

cols = st.columns(4)
cols[0].metric(shell.card_label("Avg. value to date", currency), shell.money(value.get_column("margin").mean() or 0), border=True,
               help="Σ gross margin per customer up to the as-of date (margin = amount × margin rate when not given)")  # fmt: skip
cols[1].metric("Customers", f"{value.height:,}", border=True)
costs = shell.part("lifetime_value_costs", filters).costs  # the period's: cached apart from the rest
if costs and costs["cac"] is not None:
    cols[2].metric(shell.card_label("CAC of new customers", currency), shell.money(costs["cac"]), border=True,
                   help=f"mean acquisition cost of the {costs['new']:,} customers whose first order falls in the period")  # fmt: skip
    if costs["retention_cost"] is not None:
        ratio = costs["cac"] / costs["retention_cost"] if costs["retention_cost"] else None
        cols[3].metric(shell.card_label("Cost to retain one", currency), shell.money(costs["retention_cost"]), border=True,
                       delta=None if ratio is None else f"acquiring costs {ratio:.1f}× more", delta_color="off", delta_arrow="off",
                       help=f"serving cost of retained customers in the period ({costs['basis']}) / {costs['retained']:,} "
                       "retained customers; the usual rule of thumb is that acquiring costs 5–7× retaining")  # fmt: skip
    else:
        cols[3].info("Set a cost per ticket on the Data page to compare with the cost of retaining.")

left, right = st.columns(2)
left.plotly_chart(charts.histogram(view.value_bins, log_x=True,
                                   title="Distribution of historical value (log scale)", x_title=f"margin ({currency})"))  # fmt: skip
if view.value_not_drawn:
    one = view.value_not_drawn == 1
    left.caption(f"{view.value_not_drawn:,} {'customer' if one else 'customers'} with a value under 0.01 (none, or refunds "
                 f"that cancel their purchases) {'is' if one else 'are'} not drawn: a log scale has no place for them.")  # fmt: skip
by_tier = shell.sort_tiers(view.value_by_tier)
if by_tier.height > 1:
    right.plotly_chart(charts.bars(by_tier, x="tier", y="mean", colour_by_tier=True, title=f"Average historical value by tier ({currency})"))
    with right:
        download.show(by_tier, "ltv-by-tier")
else:
    right.info(shell.one_tier_note(by_tier), icon="ℹ️")

st.subheader("Predicted value (BG/NBD + Gamma-Gamma)")
if view.model is None:
    st.info(view.model_reason)
else:
    bg, gg, clv, check = view.model, view.gamma_gamma, view.clv, view.holdout
    cols = st.columns(4)
    cols[0].metric(shell.card_label("12-month CLV", currency), shell.money(clv.get_column("clv").mean()), border=True,
                   help="mean predicted 12-month customer lifetime value: expected purchases (BG/NBD) × expected spend "
                   "(Gamma-Gamma), discounted 1% a month over 12 months")  # fmt: skip
    active = "—" if view.degenerate or view.p_alive_repeat is None else f"{100 * view.p_alive_repeat:.0f}%"
    cols[1].metric("Still active (repeat buyers)", active, border=True,
                   help="mean chance of still being active (BG/NBD's P(alive)) over customers with a repeat purchase; "
                   "the model gives every one-time buyer 100%, so they are left out of this mean")  # fmt: skip
    error = (check["predicted"] - check["actual"]) / check["actual"] if check["actual"] else None
    cols[2].metric("Holdout: predicted vs actual", "—" if error is None else f"{100 * error:+.1f}%", border=True,
                   help=f"model fitted on orders to {view.calibration_end:%d %b %Y}: it predicted {check['predicted']:,.0f} "
                   f"purchases (days with an order) for {shell.checked_customers(check)} in the following months, and "
                   f"{check['actual']:,.0f} happened")  # fmt: skip
    cols[3].metric("Repeat buyers", f"{view.repeat_buyers:,}", border=True,
                   help=f"customers with a purchase after their first day; the model's parameters: BG/NBD r={bg.r:.3f}, "
                   f"α={bg.alpha:.3f}, a={bg.a:.3f}, b={bg.b:.3f}; Gamma-Gamma p={gg.p:.2f}, q={gg.q:.2f}, γ={gg.v:.2f} "
                   f"({gg.excluded:,} customers without repeat purchases left out of the spend model)")  # fmt: skip
    if view.degenerate:
        st.warning(view.degenerate, icon="⚠️")
    left, right = st.columns(2)
    left.plotly_chart(charts.grouped_bars(view.holdout_drawn, x="frequency", y="purchases",
                                          colour="series", title="Holdout: mean purchases by prior repeat purchases (7 = 7+)"))  # fmt: skip
    if not view.degenerate:
        right.plotly_chart(charts.histogram(view.p_alive_bins, x_title="chance of still being active",
                                            title="Chance of still being active, repeat buyers"))  # fmt: skip
    groups = view.clv_by_group.get("tier")
    if groups is not None and groups.get_column("tier").n_unique() > 1:
        ordered = shell.sort_tiers(groups)
        st.plotly_chart(charts.bars(ordered, x="tier", y="mean_clv", colour_by_tier=True, text="model",
                                    title=f"12-month CLV by tier ({currency})", text_template="%{text} model"))  # fmt: skip
        pooled = view.pooled_groups["tier"]
        st.caption("Each tier with at least 300 repeat buyers gets a model of its own (a pooled model would give every "
                   "one-time buyer the mean spend of all tiers)."
                   + (f" Too few repeat buyers for their own, so from the pooled model: {', '.join(pooled)}." if pooled else ""))  # fmt: skip
    st.markdown("**Top customers by predicted value**")
    st.dataframe(view.top_clv, hide_index=True, column_order=["customer_id", "tier", "frequency", "p_alive",
                 "expected_purchases", "expected_value", "clv"], column_config={
        "customer_id": st.column_config.TextColumn("customer"),
        "frequency": st.column_config.NumberColumn("repeat purchase days", format="localized"),
        "p_alive": st.column_config.NumberColumn("chance still active", format="percent"),
        "expected_purchases": st.column_config.NumberColumn("purchases, next 12 months", format="%.1f"),
        "expected_value": st.column_config.NumberColumn("spend per purchase", format=table.MONEY),
        "clv": st.column_config.NumberColumn("CLV, 12 months", format=table.MONEY),
    })  # fmt: skip
    download.show(clv, "predicted-clv")

test = view.backtest
shell.how_did_this_do(
    None if test is None else
    f"Fitted on the orders known on {test['as_of_then']:%d %b %Y}, the model predicted that "
    f"{shell.checked_customers(test, whose='its')} would spend {shell.money(test['predicted'])} each in the following year (undiscounted); they spent "
    f"{shell.money(test['actual'])}" + ("." if test["error"] is None else  # error: predicted / actual − 1
                                          f": the prediction was {abs(100 * test['error']):.0f}% {'under' if test['error'] < 0 else 'over'}."),
    "A check needs the model fitted on the orders of a year ago: this data is too short or too thin for that.",
)  # fmt: skip

if view.ltv_cac:
    st.subheader("LTV : CAC")
    tabs = st.tabs([("Tier" if d == "tier" else "Acquisition channel") for d in view.ltv_cac])
    for tab, (dim, ratios) in zip(tabs, view.ltv_cac_tables.items(), strict=True):
        with tab:
            st.plotly_chart(charts.bars(ratios, x=dim, y="ltv_cac", colour_by_tier=dim == "tier",
                                        title=f"Historical value / acquisition cost by {dim.replace('_', ' ')}"))  # fmt: skip
            st.dataframe(ratios, hide_index=True, column_config={
                "mean_ltv": st.column_config.NumberColumn(f"mean historical margin ({currency})", format=table.MONEY),
                "mean_cac": st.column_config.NumberColumn(f"mean CAC ({currency})", format=table.MONEY),
                "ltv_cac": st.column_config.NumberColumn("LTV : CAC", format="%.2f"),
                "predicted_clv": st.column_config.NumberColumn(f"mean 12-month CLV on margin ({currency})", format=table.MONEY),
                "clv_cac": st.column_config.NumberColumn("CLV : CAC (margin)", format="%.2f"),
            })  # fmt: skip
            download.show(ratios, f"ltv-cac-{dim}")

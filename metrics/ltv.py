"""Lifetime value as a business figure (METRICS.md, "Lifetime value"): historical value and margin
per customer, simple LTV, LTV:CAC and acquisition against retention cost. The predictive models
(BG/NBD, Gamma-Gamma, CLV) are in metrics.btyd.
"""

from __future__ import annotations

import datetime as dt

import polars as pl

from metrics.stats import (
    DAYS_PER_MONTH,
    Frame,
    as_date,
    by_customer,
    days_within,
    lazy,
    sorted_by_id,
)


def _margin(orders: pl.LazyFrame, margin_rate: float) -> pl.Expr:
    if "gross_margin" in orders.collect_schema().names():
        return pl.coalesce(pl.col("gross_margin"), pl.col("amount") * margin_rate)
    return pl.col("amount") * margin_rate


def historical_value(
    orders: Frame, *, as_of: dt.date | dt.datetime | str, margin_rate: float = 1.0
) -> pl.DataFrame:
    """orders → customer_id, revenue, margin, orders: totals to the as-of date per customer.
    Margin is gross_margin where present, else amount × margin_rate (DATA_CONTRACT.md)."""
    frame = lazy(orders)
    end = as_date(as_of)
    return sorted_by_id(
        frame.filter(days_within(frame, "order_date", end=end))
        .group_by("customer_id")
        .agg(
            revenue=pl.col("amount").sum(),
            margin=_margin(frame, margin_rate).sum(),
            orders=pl.len().cast(pl.Int64),
        )
    )


def ltv_cac(
    values: pl.DataFrame,
    customers: Frame,
    *,
    value: str = "margin",
    by: str | list[str] = "tier",
) -> pl.DataFrame:
    """values (customer_id, value) + customers (acquisition_cost, by) → by, customers, mean_ltv,
    mean_cac, ltv_cac (mean LTV / mean CAC; null where no acquisition cost is known)."""
    keys = [by] if isinstance(by, str) else list(by)
    # the customers' cost and groups for each value row, by id code (stats.by_customer: a million
    # rows in half a join's time); the rows of customers not in `customers` are left out
    values = lazy(values).select("customer_id", pl.col(value).alias("ltv")).collect()
    people = lazy(customers).select("customer_id", "acquisition_cost", *keys, _known=pl.lit(True)).collect()
    joined = values.hstack(by_customer(people, values)).lazy().filter(pl.col("_known"))
    return (
        joined.group_by(keys)
        .agg(
            customers=pl.len().cast(pl.Int64),
            mean_ltv=pl.col("ltv").mean(),
            mean_cac=pl.col("acquisition_cost").mean(),
        )
        .with_columns(
            ltv_cac=pl.when(pl.col("mean_cac") > 0).then(pl.col("mean_ltv") / pl.col("mean_cac"))
        )
        .sort(keys)
        .collect()
    )


def simple_ltv(
    orders: Frame,
    *,
    start: dt.date,
    end: dt.date,
    churn_window_days: int = 90,
    customers: Frame | None = None,
    margin_rate: float = 1.0,
    spells: pl.DataFrame | None = None,
) -> dict[str, float | int | None]:
    """Simple LTV (METRICS.md) = average monthly margin per active customer / monthly churn rate,
    over the period [start, end].

    monthly margin per customer = margin in the period / customers who bought in it / months;
    monthly churn = 1 − (1 − period churn)^(1 / months), period churn = customers active on the day
    before the period who lapsed during it / those active (point in time, metrics.activity, as of
    `end`). `spells`: activity.spells as of `end` when the caller has them. ltv is None without churn.
    """
    from metrics import activity

    frame = lazy(orders)
    if spells is None:
        spells = activity.spells(frame, as_of=end, churn_window_days=churn_window_days, customers=customers)
    in_period = frame.filter(days_within(frame, "order_date", start, end))
    margin, buyers = in_period.select(_margin(frame, margin_rate).sum(), pl.col("customer_id").n_unique()).collect().row(0)
    churned, active_at_start = activity.period_churn(spells, start, end)
    months = ((end - start).days + 1) / DAYS_PER_MONTH
    out: dict[str, float | int | None] = {
        "buyers": buyers, "active_at_start": active_at_start, "churned": churned,
        "monthly_margin_per_customer": margin / buyers / months if buyers else None,
        "monthly_churn_rate": None, "ltv": None,
    }  # fmt: skip
    if active_at_start and churned:
        monthly_churn = 1 - (1 - churned / active_at_start) ** (1 / months)
        out["monthly_churn_rate"] = monthly_churn
        if out["monthly_margin_per_customer"] is not None and monthly_churn > 0:
            out["ltv"] = out["monthly_margin_per_customer"] / monthly_churn
    return out


def acquisition_vs_retention_cost(
    orders: Frame,
    customers: Frame,
    *,
    start: dt.date,
    end: dt.date,
    tickets: Frame | None = None,
    interactions: Frame | None = None,
    cost_per_ticket: float | None = None,
    cost_per_interaction: float | None = None,
    churn_window_days: int = 90,
    spells: pl.DataFrame | None = None,
) -> dict[str, float | int | str | None]:
    """CAC per new customer vs what keeping a customer costs, in the period [start, end].

    cac = mean acquisition_cost of customers whose first purchase falls in the period;
    retention_cost = (tickets × cost per ticket + interactions × cost per interaction) of the
    customers retained through the period (bought before it, still active on its last day) / their
    number. None where the cost data is missing (no acquisition_cost, no cost settings).
    `spells`: metrics.activity.spells as of `end` when the caller has them (as for simple_ltv).
    """
    from metrics import activity

    if spells is None:
        spells = activity.spells(orders, as_of=end, churn_window_days=churn_window_days, customers=customers)
    first = activity.first_purchases(spells)
    new = first.filter(pl.col("first_purchase").is_between(start, end)).select("customer_id")
    active = spells.filter(activity.active_on_day(end))
    retained = (
        first.filter(pl.col("first_purchase") < start).join(active.select("customer_id"), on="customer_id", how="semi")
        .select("customer_id")
    )  # fmt: skip
    frame = lazy(customers)
    cac = None
    if "acquisition_cost" in frame.collect_schema().names():
        cac = frame.join(new.lazy(), on="customer_id", how="semi").select(pl.col("acquisition_cost").mean()).collect().item()
    spend, parts = 0.0, []
    for table, column, cost in ((tickets, "created_at", cost_per_ticket), (interactions, "occurred_at", cost_per_interaction)):
        if table is not None and cost:
            count = (
                lazy(table).filter(days_within(table, column, start, end))
                .join(retained.lazy(), on="customer_id", how="semi").select(pl.len()).collect().item()
            )  # fmt: skip
            spend += count * cost
            parts.append(f"{count:,} {'tickets' if column == 'created_at' else 'interactions'} × {cost:g}")
    per_retained = spend / retained.height if retained.height and parts else None
    return {
        "cac": cac, "new": new.height, "retention_cost": per_retained, "retained": retained.height,
        "basis": " + ".join(parts),
        "ratio": cac / per_retained if cac is not None and per_retained else None,
    }  # fmt: skip

"""Know your customers: RFM scores and the eleven named segments with an action each, k-means
clusters described in plain units, the customer portfolio (value vs cost to serve) and contacts
per sale (METRICS.md, "Segments").
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import polars as pl

from metrics.purchase_days import PurchaseDays, day_number
from metrics.stats import (
    PURCHASE,
    Frame,
    as_date,
    canonical,
    cents,
    days_within,
    lazy,
    sorted_by_id,
)
from metrics.threads import one_thread

# The R × FM grid (FM = F and M scores averaged, rounded half up). Rows R = 5 … 1, columns
# FM = 1 … 5. It follows the common RFM segment map (Champions bought recently, often and much;
# Can't Lose Them used to buy often and much but not lately; Lost bought little, long ago), made
# complete and non-overlapping so every customer lands in exactly one segment.
SEGMENT_GRID: dict[int, tuple[str, str, str, str, str]] = {
    5: ("New Customers", "Potential Loyalist", "Potential Loyalist", "Champions", "Champions"),
    4: ("Promising", "Potential Loyalist", "Potential Loyalist", "Loyal Customers", "Champions"),
    3: ("About to Sleep", "Need Attention", "Need Attention", "Loyal Customers", "Loyal Customers"),
    2: ("Hibernating", "Hibernating", "At Risk", "At Risk", "Can't Lose Them"),
    1: ("Lost", "Lost", "At Risk", "Can't Lose Them", "Can't Lose Them"),
}

SEGMENT_ACTIONS: dict[str, str] = {
    "Champions": "Reward them; ask for reviews and referrals; early access to new products.",
    "Loyal Customers": "Upsell higher-value products; enrol in a loyalty programme.",
    "Potential Loyalist": "Offer membership or a loyalty programme; recommend related products.",
    "New Customers": "Onboard well: welcome series, quick first success, early support.",
    "Promising": "Build awareness of the range; offer free trials or samples.",
    "Need Attention": "Limited-time offers based on their purchase history; reactivate interest.",
    "About to Sleep": "Share popular products and renewals at a discount; reconnect.",
    "At Risk": "Personal outreach with helpful resources and a renewal offer.",
    "Can't Lose Them": "Win them back: call them, learn what went wrong, make a strong offer.",
    "Hibernating": "Offer other relevant products and special discounts; recreate value.",
    "Lost": "Revive interest with a reach-out campaign; otherwise spend nothing more.",
}
SEGMENT_ORDER: tuple[str, ...] = tuple(SEGMENT_ACTIONS)


def _score(column: str, *, reverse: bool = False) -> pl.Expr:
    """Quintile score 1–5 by rank: score = 1 + ⌊5 (rank_min − 1) / n⌋, so equal values always get
    the same score (rank 'min' gives ties the lowest rank). reverse: small values score 5."""
    expr = -pl.col(column) if reverse else pl.col(column)
    rank = expr.rank("min").cast(pl.Float64)
    return (1 + ((rank - 1) * 5 / pl.len()).floor()).cast(pl.Int8)


# R and FM as one key (10 R + FM) → the segment: one lookup per customer instead of 25 conditions
_SEGMENT_OF_KEY = {10 * r + fm: name for r, row in SEGMENT_GRID.items() for fm, name in enumerate(row, start=1)}


def _segment_expr() -> pl.Expr:
    fm = (pl.col("f_score").cast(pl.Int32) + pl.col("m_score").cast(pl.Int32) + 1) // 2
    return (10 * pl.col("r_score").cast(pl.Int32) + fm).replace_strict(_SEGMENT_OF_KEY, return_dtype=pl.String)


def rfm_table(
    orders: Frame,
    *,
    as_of: dt.date | dt.datetime | str,
    customer_id: str = "customer_id",
    order_date: str = "order_date",
    amount: str = "amount",
    days: PurchaseDays | None = None,
) -> pl.LazyFrame:
    """orders → customer_id, recency_days, frequency, monetary (see rfm_segments). `days`: the
    orders' purchase days (metrics.purchase_days) to the as-of date or later, when the caller has
    them: recency and frequency are read off each customer's run of days, and only the refunds
    are read from the orders."""
    end = as_date(as_of)
    frame = canonical(orders, {"customer_id": customer_id, "order_date": order_date, "amount": amount})
    if days is not None:
        return _rfm_from_days(frame, days.upto(end), end)
    return (
        frame.filter(days_within(frame, "order_date", end=end) & pl.col("customer_id").is_not_null())  # no customer, no one's purchase
        .group_by("customer_id")
        .agg(
            # recency and frequency count purchases; a refund is none (METRICS.md, "Segments")
            recency_days=(pl.lit(end) - pl.col("order_date").filter(PURCHASE).max().cast(pl.Date)).dt.total_days().cast(pl.Int64),
            frequency=PURCHASE.sum().cast(pl.Int64),
            monetary=cents(pl.col("amount").sum()),
        )
        .filter(pl.col("frequency") > 0)  # refunds only: no purchase to score
    )


def _rfm_from_days(orders: pl.LazyFrame, days: PurchaseDays, end: dt.date) -> pl.LazyFrame:
    """rfm_table from purchase days to `end`: a customer's last day, purchase orders and purchase
    total off their run of days (PurchaseDays.per_customer), plus their refunds to `end`."""
    per_customer = days.per_customer("orders", "amount").lazy()
    refunds = (
        orders.filter(~PURCHASE & days_within(orders, "order_date", end=end) & pl.col("customer_id").is_not_null())
        .group_by(pl.col("customer_id").cast(pl.String).cast(pl.Categorical))
        .agg(refunded=pl.col("amount").sum())
    )
    table = (
        per_customer.join(refunds, on="customer_id", how="left", maintain_order="left")
        .select(
            "customer_id",
            recency_days=(pl.lit(day_number(end)) - pl.col("last")).cast(pl.Int64),
            frequency=pl.col("orders").cast(pl.Int64),
            monetary=cents(pl.col("amount") + pl.col("refunded").fill_null(0.0)),
        )
        .collect()
    )
    return days.with_ids(table).lazy()


def rfm_segments(
    orders: Frame,
    *,
    as_of: dt.date | dt.datetime | str,
    customer_id: str = "customer_id",
    order_date: str = "order_date",
    amount: str = "amount",
    days: PurchaseDays | None = None,
) -> pl.DataFrame:
    """orders → customer_id, recency_days, frequency, monetary, r_score, f_score, m_score, segment.

    recency_days = days from the last purchase to the as-of date; frequency = purchases (orders with
    amount ≥ 0: a refund is not a purchase); monetary = total amount (refunds net), in cents. Scores 1–5 by quintile of rank, recency reversed (recent = 5), ties share
    a score. The segment comes from SEGMENT_GRID on R and FM = round((F + M) / 2). Orders without
    a customer are no customer's purchases. `days`: as rfm_table.
    """
    return sorted_by_id(
        rfm_table(
            orders, as_of=as_of, customer_id=customer_id, order_date=order_date, amount=amount, days=days
        )
        .with_columns(
            r_score=_score("recency_days", reverse=True),
            f_score=_score("frequency"),
            m_score=_score("monetary"),
        )
        .with_columns(segment=_segment_expr())
    )


def segment_summary(segments: pl.DataFrame) -> pl.DataFrame:
    """rfm_segments output → segment, customers, share, revenue, revenue_share, recency_days
    (median), frequency (median), action — in the order of SEGMENT_ORDER, empty segments kept."""
    total_customers = max(segments.height, 1)
    total_revenue = segments.get_column("monetary").sum() if segments.height else 0.0
    stats = segments.group_by("segment").agg(
        customers=pl.len().cast(pl.Int64),
        revenue=pl.col("monetary").sum(),
        recency_days=pl.col("recency_days").median(),
        frequency=pl.col("frequency").median(),
    )
    frame = pl.DataFrame({"segment": list(SEGMENT_ORDER), "action": list(SEGMENT_ACTIONS.values())})
    return (
        frame.join(stats, on="segment", how="left", maintain_order="left")
        .with_columns(pl.col("customers").fill_null(0), pl.col("revenue").fill_null(0.0))
        .with_columns(
            share=pl.col("customers") / total_customers,
            revenue_share=pl.col("revenue") / total_revenue
            if total_revenue
            else pl.lit(None, pl.Float64),
        )
        .select(
            "segment",
            "customers",
            "share",
            "revenue",
            "revenue_share",
            "recency_days",
            "frequency",
            "action",
        )
    )


MIN_CLUSTER_CUSTOMERS = 20  # customers a cluster stands for, on average, before it describes a group


def clusters(
    rfm: pl.DataFrame,
    *,
    k: int | None = None,
    k_range: range = range(2, 9),
    seed: int = 0,
    sample: int = 20_000,
) -> dict[str, Any]:
    """k-means on standardised log(1 + recency, frequency, monetary) (METRICS.md).

    rfm (customer_id, recency_days, frequency, monetary) → {"k", "silhouette" (per k tried),
    "assignments": customer_id, cluster, "profiles": cluster, customers, share, recency_days,
    frequency, monetary (medians in plain units), description}.
    k is chosen by the best silhouette in `k_range` unless given, with at least
    MIN_CLUSTER_CUSTOMERS customers a cluster on average (so no clusters under 40 customers).
    Choosing k and fitting use a seeded random sample of at most `sample` customers (silhouette is
    quadratic in n); every customer is then assigned to the nearest centroid.
    """
    # BLAS and OpenMP on one thread (metrics.threads): on two, k-means over a million customers took
    # 0.5-2.1 s against 0.4-0.5 s, and in a server beside a browser a Segments view of 180,000
    # customers spent 1.4 s in it against 0.4 s (a sampling profiler's count)
    with one_thread():
        return _clusters(rfm, k=k, k_range=k_range, seed=seed, sample=sample)


def _clusters(rfm: pl.DataFrame, *, k: int | None, k_range: range, seed: int, sample: int) -> dict[str, Any]:
    from sklearn.cluster import KMeans
    from sklearn.metrics import silhouette_score
    from sklearn.preprocessing import StandardScaler

    n = rfm.height
    features = np.log1p(
        rfm.select(
            pl.col("recency_days").clip(lower_bound=0),
            pl.col("frequency").clip(lower_bound=0),
            pl.col("monetary").clip(lower_bound=0),
        )
        .to_numpy()
        .astype(float)
    )
    if n < 2 * MIN_CLUSTER_CUSTOMERS and not k:
        return {"k": None, "silhouette": {}, "assignments": None, "profiles": None,
                "reason": f"Clustering needs at least {2 * MIN_CLUSTER_CUSTOMERS} customers ({MIN_CLUSTER_CUSTOMERS} a "
                          f"cluster); this slice has {n}."}  # fmt: skip
    if n < 3:
        return {"k": None, "silhouette": {}, "assignments": None, "profiles": None,
                "reason": f"Clustering needs at least 3 customers; this slice has {n}."}  # fmt: skip
    scaled = StandardScaler().fit_transform(features)
    rng = np.random.default_rng(seed)
    pick = rng.choice(n, size=min(n, sample), replace=False)
    fit_on = scaled[pick]
    distinct = len(np.unique(fit_on, axis=0))
    # as many clusters as MIN_CLUSTER_CUSTOMERS a cluster allows: 24 customers in 7 clusters of 1-6
    # (chosen by silhouette, which favours tiny clusters on few points) describe no one
    candidates = [k] if k else [c for c in k_range if c < distinct and c * MIN_CLUSTER_CUSTOMERS <= n]
    if not candidates or (k and k >= distinct):
        return {"k": None, "silhouette": {}, "assignments": None, "profiles": None,
                "reason": "all customers look alike: nothing to cluster"}  # fmt: skip
    # choosing k: one k-means++ run per candidate on at most 3,000 customers, silhouette on 1,500
    # (a quick comparison; the chosen k is then fitted properly below)
    trial = fit_on[: min(len(fit_on), 3_000)]
    scores: dict[int, float] = {}
    for c in candidates if not k else []:
        trial_labels = KMeans(n_clusters=c, n_init=1, random_state=seed).fit_predict(trial)
        if len(set(trial_labels)) > 1:
            scores[c] = float(silhouette_score(trial, trial_labels, sample_size=min(len(trial), 1_500), random_state=seed))
    best = k or max(scores, key=scores.get)
    final = KMeans(n_clusters=best, n_init=4, random_state=seed).fit(fit_on)
    labels = final.predict(scaled)
    # number clusters by value: cluster 1 has the highest median spend
    assigned = rfm.select("customer_id", "recency_days", "frequency", "monetary").with_columns(
        raw=pl.Series(labels)
    )
    ranking = (
        assigned.group_by("raw")
        .agg(m=pl.col("monetary").median())
        .sort("m", descending=True)
        .with_row_index("cluster", offset=1)
    )
    assigned = (
        assigned.join(ranking.select("raw", "cluster"), on="raw")
        .drop("raw")
        .with_columns(pl.col("cluster").cast(pl.Int64))
    )
    profiles = (
        assigned.group_by("cluster")
        .agg(
            customers=pl.len().cast(pl.Int64),
            recency_days=pl.col("recency_days").median(),
            frequency=pl.col("frequency").median(),
            monetary=pl.col("monetary").median(),
        )
        .with_columns(share=pl.col("customers") / n)
        .sort("cluster")
    )
    profiles = profiles.with_columns(description=pl.Series([_described(row) for row in profiles.iter_rows(named=True)], dtype=pl.String))
    return {
        "k": best,
        "silhouette": scores,
        "assignments": sorted_by_id(assigned.select("customer_id", "cluster")),
        "profiles": profiles,
        "reason": None,
    }


def _described(cluster: dict) -> str:
    """A cluster's median customer in words. A median of order counts is whole or half: "5
    orders", "1 order", "2.5 orders" (not "5.0").

    >>> _described({"recency_days": 490.0, "frequency": 1.0, "monetary": 29.4})
    'the median customer last bought 490 days ago, has 1 order and spent 29'
    >>> _described({"recency_days": 32.0, "frequency": 2.5, "monetary": 2078.0})
    'the median customer last bought 32 days ago, has 2.5 orders and spent 2,078'
    """
    orders = cluster["frequency"]
    return (f"the median customer last bought {cluster['recency_days']:,.0f} days ago, has {orders:g} "
            f"order{'' if orders == 1 else 's'} and spent {cluster['monetary']:,.0f}")  # fmt: skip


def portfolio(
    orders: Frame,
    *,
    as_of: dt.date | dt.datetime | str,
    tickets: Frame | None = None,
    cost_per_ticket: float = 0.0,
    margin_rate: float = 1.0,
    customers: Frame | None = None,
) -> pl.DataFrame:
    """→ customer_id, margin, tickets, cost_to_serve, profit, unprofitable, quadrant.

    margin = Σ gross_margin (or amount × margin_rate) to the as-of date; cost to serve = tickets ×
    cost_per_ticket (a dataset setting) plus the acquisition cost when `customers` carries it;
    profit = margin − cost to serve. quadrant splits at the medians of margin and cost to serve.
    """
    from metrics.ltv import historical_value

    end = as_date(as_of)
    value = historical_value(orders, as_of=end, margin_rate=margin_rate).select(
        "customer_id", "margin"
    )
    if tickets is not None:
        counts = (
            lazy(tickets)
            .filter(days_within(tickets, "created_at", end=end))
            .group_by("customer_id")
            .agg(tickets=pl.len().cast(pl.Int64))
            .collect()
        )
        value = value.join(counts, on="customer_id", how="left")
    else:
        value = value.with_columns(tickets=pl.lit(None, pl.Int64))
    value = value.with_columns(pl.col("tickets").fill_null(0))
    cost = pl.col("tickets") * cost_per_ticket
    if customers is not None and "acquisition_cost" in lazy(customers).collect_schema().names():
        cac = lazy(customers).select("customer_id", "acquisition_cost").collect()
        value = value.join(cac, on="customer_id", how="left")
        cost = cost + pl.col("acquisition_cost").fill_null(0.0)
    value = value.with_columns(cost_to_serve=cost.cast(pl.Float64))
    value = value.with_columns(profit=pl.col("margin") - pl.col("cost_to_serve")).with_columns(
        unprofitable=pl.col("profit") < 0
    )
    high_value = pl.col("margin") >= pl.col("margin").median()
    high_cost = pl.col("cost_to_serve") > pl.col("cost_to_serve").median()
    return sorted_by_id(
        value.with_columns(
            quadrant=pl.when(high_value & ~high_cost)
            .then(pl.lit("High value, low cost"))
            .when(high_value)
            .then(pl.lit("High value, high cost"))
            .when(~high_cost)
            .then(pl.lit("Low value, low cost"))
            .otherwise(pl.lit("Low value, high cost"))
        )
        .select(
            "customer_id",
            "margin",
            "tickets",
            "cost_to_serve",
            "profit",
            "unprofitable",
            "quadrant",
        )
    )


def contacts_per_sale(
    interactions: Frame,
    *,
    sales: Frame,
    segments: pl.DataFrame,
    by: str = "segment",
) -> pl.DataFrame:
    """→ by, interactions, sales, contacts_per_sale: interactions / sales per group, where `sales`
    are won deals (or orders) with a customer_id and `segments` maps customer_id → by."""
    keys = segments.select("customer_id", by).lazy()
    contacts = (
        lazy(interactions)
        .select("customer_id")
        .join(keys, on="customer_id")
        .group_by(by)
        .agg(interactions=pl.len().cast(pl.Int64))
    )
    sold = (
        lazy(sales)
        .select("customer_id")
        .join(keys, on="customer_id")
        .group_by(by)
        .agg(sales=pl.len().cast(pl.Int64))
    )
    return (
        contacts.join(sold, on=by, how="full", coalesce=True)
        .with_columns(pl.col("interactions", "sales").fill_null(0))
        .with_columns(
            contacts_per_sale=pl.when(pl.col("sales") > 0).then(
                pl.col("interactions") / pl.col("sales")
            )
        )
        .sort(by)
        .collect()
    )

"""Segments: hand-worked RFM scores and segments, clusters, portfolio, contacts per sale."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from metrics import segments
from metrics.purchase_days import purchase_days

D = dt.datetime
# five customers, as_of 2024-03-31
ORDERS = pl.DataFrame(
    {
        "customer_id": ["a"] * 5 + ["b"] * 4 + ["c"] * 3 + ["d"] * 2 + ["e"],
        "order_date": [D(2024, 3, 30)] * 5 + [D(2024, 3, 1)] * 4 + [D(2024, 2, 1)] * 3 + [D(2024, 1, 1)] * 2 + [D(2023, 12, 1)],
        "amount": [100.0] * 5 + [50.0] * 4 + [20.0] * 3 + [500.0] * 2 + [5.0],
    }
)  # fmt: skip


def test_rfm_segments_five_customer_example(as_input):
    """recency days a 1, b 30, c 59, d 90, e 121; frequency 5 4 3 2 1; monetary 500 200 60 1000 5.
    n = 5 distinct values → scores by rank 1 + ⌊5 (rank − 1) / 5⌋ = rank.
    R (recent = 5): a 5, b 4, c 3, d 2, e 1. F: a 5, b 4, c 3, d 2, e 1. M: d 5, a 4, b 3, c 2, e 1.
    FM = ⌊(F + M + 1) / 2⌋: a (5+4+1)/2 = 5, b 4, c 3, d 4, e 1.
    Grid: a R5 FM5 Champions; b R4 FM4 Loyal Customers; c R3 FM3 Need Attention;
    d R2 FM4 At Risk; e R1 FM1 Lost."""
    frame = as_input(ORDERS)
    out = segments.rfm_segments(frame, as_of=dt.date(2024, 3, 31))
    assert out.columns == [
        "customer_id",
        "recency_days",
        "frequency",
        "monetary",
        "r_score",
        "f_score",
        "m_score",
        "segment",
    ]
    assert out["recency_days"].to_list() == [1, 30, 59, 90, 121]
    assert out["r_score"].to_list() == [5, 4, 3, 2, 1]
    assert out["f_score"].to_list() == [5, 4, 3, 2, 1]
    assert out["m_score"].to_list() == [4, 3, 2, 5, 1]
    assert out["segment"].to_list() == [
        "Champions",
        "Loyal Customers",
        "Need Attention",
        "At Risk",
        "Lost",
    ]


def test_ties_share_a_score_and_summary_counts():
    """Two customers with the same frequency get the same F score (rank 'min')."""
    tied = pl.DataFrame(
        {
            "customer_id": ["x", "y", "z"],
            "order_date": [D(2024, 1, 1)] * 3,
            "amount": [1.0, 1.0, 2.0],
        }
    )
    out = segments.rfm_segments(tied, as_of=dt.date(2024, 1, 31))
    assert out["f_score"].n_unique() == 1 and out["r_score"].n_unique() == 1
    assert out["m_score"].to_list()[0] == out["m_score"].to_list()[1]
    summary = segments.segment_summary(segments.rfm_segments(ORDERS, as_of=dt.date(2024, 3, 31)))
    assert summary.height == 11 and summary["customers"].sum() == 5
    assert summary["share"].sum() == pytest.approx(1.0) and summary[
        "revenue_share"
    ].sum() == pytest.approx(1.0)
    assert summary["action"].null_count() == 0


def test_every_grid_cell_is_one_of_the_eleven_named_segments():
    names = {name for row in segments.SEGMENT_GRID.values() for name in row}
    assert names == set(segments.SEGMENT_ORDER) and len(names) == 11


def test_clusters_on_sample_are_described_in_plain_units(sample_tables):
    rfm = segments.rfm_segments(sample_tables["orders"], as_of=dt.date(2026, 6, 30))
    result = segments.clusters(rfm)
    assert 2 <= result["k"] <= 8 and set(result["silhouette"]) <= set(range(2, 9))
    assert result["assignments"].height == rfm.height
    profiles = result["profiles"]
    assert profiles["customers"].sum() == rfm.height
    assert profiles["monetary"].to_list() == sorted(profiles["monetary"].to_list(), reverse=True)
    assert all("days ago" in text for text in profiles["description"])
    # whole medians read as whole numbers: "has 1 order", never "1.0 orders"
    for text, orders in zip(profiles["description"], profiles["frequency"], strict=True):
        said = f"has {orders:g} order{'' if orders == 1 else 's'} and spent"
        assert said in text, (said, text)
    fixed = segments.clusters(rfm, k=3)
    assert fixed["k"] == 3 and fixed["profiles"].height == 3
    assert segments.clusters(rfm.head(2))["reason"].startswith("Clustering needs")


def test_clusters_stand_for_twenty_customers_each_on_average(sample_tables):
    """24 customers (a small shop's export) were split into 7 clusters of 1 to 6, silhouette
    favouring tiny clusters on few points: now no clustering under 40 customers, and at most
    n / 20 clusters above (60 customers: at most 3)."""
    rfm = segments.rfm_segments(sample_tables["orders"], as_of=dt.date(2026, 6, 30))
    assert segments.clusters(rfm.head(24))["reason"] == "Clustering needs at least 40 customers (20 a cluster); this slice has 24."
    sixty = segments.clusters(rfm.head(60))
    assert sixty["k"] is not None and sixty["k"] <= 3 and set(sixty["silhouette"]) <= {2, 3}


def test_portfolio_and_contacts_per_sale_example():
    """Margins (amount, margin rate 1): a 500, b 200, c 60, d 1000, e 5. Tickets: e has 3, a 1;
    cost per ticket 10 → e costs 30 > 5: unprofitable. Contacts: a 3 interactions, 1 order…"""
    tickets = pl.DataFrame({"customer_id": ["e", "e", "e", "a"], "created_at": [D(2024, 1, 5)] * 4})
    folio = segments.portfolio(
        ORDERS, as_of=dt.date(2024, 3, 31), tickets=tickets, cost_per_ticket=10.0
    )
    rows = {r["customer_id"]: r for r in folio.to_dicts()}
    assert (
        rows["e"]["cost_to_serve"] == 30.0
        and rows["e"]["profit"] == -25.0
        and rows["e"]["unprofitable"]
    )
    assert rows["a"]["profit"] == 490.0 and not rows["a"]["unprofitable"]
    assert folio["unprofitable"].sum() == 1
    rfm = segments.rfm_segments(ORDERS, as_of=dt.date(2024, 3, 31))
    interactions = pl.DataFrame({"customer_id": ["a", "a", "a", "e"]})
    per_sale = segments.contacts_per_sale(interactions, sales=ORDERS, segments=rfm)
    rows = {r["segment"]: r for r in per_sale.to_dicts()}
    assert (rows["Champions"]["interactions"], rows["Champions"]["sales"]) == (3, 5)
    assert rows["Champions"]["contacts_per_sale"] == pytest.approx(0.6)
    assert rows["Lost"]["contacts_per_sale"] == 1.0


def test_rfm_counts_purchases_not_refunds_and_money_in_cents():
    """As of 31 March 2024. A bought 1 Jan (100) and refunded 20 Mar (−100): recency counts the
    purchase (90 days), frequency 1, monetary 0. B bought 10 Mar (172.48 in two lines that sum with
    float noise) — B's and C's spend are the same 172.48 and share the M score."""
    orders = pl.DataFrame({
        "order_id": ["1", "2", "3", "4", "5"], "customer_id": ["A", "A", "B", "B", "C"],
        "order_date": [dt.datetime(2024, 1, 1), dt.datetime(2024, 3, 20), dt.datetime(2024, 3, 10), dt.datetime(2024, 3, 10),
                       dt.datetime(2024, 3, 11)],
        "amount": [100.0, -100.0, 0.1 + 0.2 + 100.0, 72.18, 172.48],  # 100.3 + 72.18 = 172.48000000000002
    })  # fmt: skip
    as_of = dt.date(2024, 3, 31)
    for rfm in (segments.rfm_segments(orders, as_of=as_of),
                segments.rfm_segments(orders, as_of=as_of, days=purchase_days(orders, as_of=as_of))):  # fmt: skip
        a = rfm.filter(pl.col("customer_id") == "A").row(0, named=True)
        assert (a["recency_days"], a["frequency"], a["monetary"]) == (90, 1, 0.0)
        b, c = (rfm.filter(pl.col("customer_id") == x).row(0, named=True) for x in "BC")
        assert b["monetary"] == c["monetary"] == 172.48 and b["m_score"] == c["m_score"]


def test_orders_without_a_customer_are_nobodys_purchases(as_input):
    """A shop export's guest checkouts carry no customer id: they are no customer's purchases, so
    RFM has one row, A's (2 purchases, 30.00), not a null customer with the guests' orders."""
    orders = pl.DataFrame({
        "order_id": ["1", "2", "3", "4"], "customer_id": ["A", None, "A", None],
        "order_date": [dt.datetime(2024, 3, 1), dt.datetime(2024, 3, 2), dt.datetime(2024, 3, 5), dt.datetime(2024, 3, 6)],
        "amount": [10.0, 99.0, 20.0, 50.0],
    })  # fmt: skip
    as_of = dt.date(2024, 3, 31)
    for rfm in (segments.rfm_segments(as_input(orders), as_of=as_of),
                segments.rfm_segments(as_input(orders), as_of=as_of, days=purchase_days(as_input(orders), as_of=as_of))):  # fmt: skip
        assert rfm.select(pl.col("customer_id").cast(pl.String), "frequency", "monetary").rows() == [("A", 2, 30.0)]

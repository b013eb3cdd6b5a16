"""Retention: hand-worked cohorts and churn, and Kaplan–Meier / log-rank against lifelines."""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from metrics import retention

D = dt.datetime
ORDERS = pl.DataFrame(
    {
        "customer_id": ["a", "a", "a", "b", "b", "c", "d"],
        "order_date": [D(2024, 1, 5), D(2024, 2, 10), D(2024, 3, 1), D(2024, 1, 20), D(2024, 3, 15), D(2024, 2, 2), D(2024, 2, 20)],
        "amount": [100.0, 50.0, 30.0, 200.0, 20.0, 80.0, -10.0],
    }
)  # fmt: skip


def test_cohort_retention_three_customer_example(as_input):
    """as_of 2024-03-31. d only has a refund: never a purchase, so in no cohort.
    Jan cohort {a, b} (size 2): Jan 2/2 = 1; Feb a only → 1/2; Mar a and b → 2/2.
    Feb cohort {c}: Feb 1/1; Mar 0/1 = 0 (a real zero: March is complete). No April cells.
    Revenue basis, Jan cohort: Jan 300, Feb 50 → 50/300, Mar 50 → 50/300."""
    frame = as_input(ORDERS)
    out = retention.cohort_retention(frame, as_of=dt.date(2024, 3, 31))
    got = {
        (r["cohort"].month, r["period"]): (r["cohort_size"], r["active"], r["retention"])
        for r in out.to_dicts()
    }
    assert got == {
        (1, 0): (2, 2, 1.0), (1, 1): (2, 1, 0.5), (1, 2): (2, 2, 1.0),
        (2, 0): (1, 1, 1.0), (2, 1): (1, 0, 0.0),
    }  # fmt: skip
    assert not out["partial"].any()
    revenue = retention.cohort_retention(frame, as_of=dt.date(2024, 3, 31), basis="revenue")
    jan = revenue.filter(pl.col("cohort") == dt.date(2024, 1, 1))["retention"].to_list()
    assert jan == pytest.approx([1.0, 50 / 300, 50 / 300])


def test_cohort_cells_after_as_of_are_absent_and_partial_month_marked():
    """as_of 2024-02-15: the Jan cohort has periods 0 and 1 only; February is partial."""
    out = retention.cohort_retention(ORDERS, as_of=dt.date(2024, 2, 15))
    assert out.filter(pl.col("cohort") == dt.date(2024, 1, 1))["period"].to_list() == [0, 1]
    assert out.filter(pl.col("partial"))["cohort"].to_list() == [
        dt.date(2024, 1, 1),
        dt.date(2024, 2, 1),
    ]
    assert retention.cohort_retention(ORDERS.clear(), as_of=dt.date(2024, 2, 15)).is_empty()
    with pytest.raises(ValueError, match="basis"):
        retention.cohort_retention(ORDERS, as_of=dt.date(2024, 2, 15), basis="margin")


def test_cohorts_per_group_and_pooled_back(as_input):
    """Groups: a and c in "x", b in "y"; d (refund only) is in no cohort. As of 2024-03-31:
    x: Jan cohort {a}: Jan 1/1, Feb 1/1, Mar 1/1; Feb cohort {c}: Feb 1/1, Mar 0/1.
    y: Jan cohort {b}: Jan 1/1, Feb 0/1, Mar 1/1; revenue retention 200 → 0 → 20/200 = 0.1.
    Pooled: the three-customer example's matrix again (Jan 2, 1, 2 of 2; Feb 1, 0 of 1)."""
    customers = as_input(pl.DataFrame({"customer_id": ["a", "b", "c"], "group": ["x", "y", "x"]}))
    per_group = retention.cohort_retention(as_input(ORDERS), as_of=dt.date(2024, 3, 31), basis="both",
                                           customers=customers, by="group")  # fmt: skip
    got = {(r["group"], r["cohort"].month, r["period"]): (r["cohort_size"], r["active"]) for r in per_group.to_dicts()}
    assert got == {
        ("x", 1, 0): (1, 1), ("x", 1, 1): (1, 1), ("x", 1, 2): (1, 1), ("x", 2, 0): (1, 1), ("x", 2, 1): (1, 0),
        ("y", 1, 0): (1, 1), ("y", 1, 1): (1, 0), ("y", 1, 2): (1, 1),
    }  # fmt: skip
    assert per_group.filter(pl.col("group") == "y")["revenue_retention"].to_list() == pytest.approx([1.0, 0.0, 0.1])
    everyone = retention.cohort_retention(ORDERS, as_of=dt.date(2024, 3, 31), basis="both")
    assert_frame_equal(retention.pooled(per_group, by="group", basis="both"), everyone, check_exact=False)
    with pytest.raises(ValueError, match="customers"):
        retention.cohort_retention(ORDERS, as_of=dt.date(2024, 3, 31), by="group")


def test_cohorts_by_signup_and_the_null_group(as_input):
    """Customers: a (signed up 1 Jan 2024, group x), b (15 Dec 2023, no group), d (1 Feb 2024, no
    group); c is not in the table. As of 2024-03-31, by signup month:
    x: Dec — ; Jan cohort {a}: Jan 1/1, Feb 1/1, Mar 1/1.
    null: Dec 2023 cohort {b}: Dec 0/1, Jan 1/1 (200), Feb 0/1, Mar 1/1 (20); Feb 2024 cohort {d}:
    Feb 0/1 with d's refund of −10, Mar 0/1. c buys but has no signup: in no cohort.
    By first purchase, the null group is b (no group) and c (not in the table) together, one row
    per cell: Jan cohort {b} 1, 0, 1 of 1; Feb cohort {c} 1, 0 of 1."""
    customers = as_input(pl.DataFrame({
        "customer_id": ["a", "b", "d"], "group": ["x", None, None],
        "signup_date": [dt.date(2024, 1, 1), dt.date(2023, 12, 15), dt.date(2024, 2, 1)],
    }))  # fmt: skip
    signup = retention.cohort_retention(as_input(ORDERS), as_of=dt.date(2024, 3, 31), basis="both", customers=customers,
                                        cohort_by="signup", by="group")  # fmt: skip
    got = {(r["group"], str(r["cohort"])[:7], r["period"]): (r["cohort_size"], r["active"], r["revenue"]) for r in signup.to_dicts()}
    assert got == {
        ("x", "2024-01", 0): (1, 1, 100.0), ("x", "2024-01", 1): (1, 1, 50.0), ("x", "2024-01", 2): (1, 1, 30.0),
        (None, "2023-12", 0): (1, 0, 0.0), (None, "2023-12", 1): (1, 1, 200.0), (None, "2023-12", 2): (1, 0, 0.0),
        (None, "2023-12", 3): (1, 1, 20.0), (None, "2024-02", 0): (1, 0, -10.0), (None, "2024-02", 1): (1, 0, 0.0),
    }  # fmt: skip
    first = retention.cohort_retention(as_input(ORDERS), as_of=dt.date(2024, 3, 31), customers=customers, by="group")
    got = {(r["group"], r["cohort"].month, r["period"]): (r["cohort_size"], r["active"]) for r in first.to_dicts()}
    assert got == {
        ("x", 1, 0): (1, 1), ("x", 1, 1): (1, 1), ("x", 1, 2): (1, 1),
        (None, 1, 0): (1, 1), (None, 1, 1): (1, 0), (None, 1, 2): (1, 1), (None, 2, 0): (1, 1), (None, 2, 1): (1, 0),
    }  # fmt: skip
    assert first.height == len(got)  # one row per cell: the missing and the null group are one group


def test_churn_status_from_purchase_days_counts_orders(as_input):
    """Read off purchase days, each customer's purchases are still orders: a's three orders fall
    on three days, and a second order on 1 Jan makes four purchases on three days. An order
    without a customer is nobody's. The same table as without purchase days handed in."""
    from metrics.purchase_days import purchase_days

    orders = pl.concat([ORDERS, pl.DataFrame({"customer_id": ["a", None], "order_date": [D(2024, 1, 5), D(2024, 1, 6)],
                                              "amount": [5.0, 7.0]})])  # fmt: skip
    frame = as_input(orders)
    as_of = dt.date(2024, 6, 30)
    given = retention.churn_status(frame, as_of=as_of, days=purchase_days(frame, as_of=dt.date(2024, 12, 31)))
    assert given.filter(pl.col("customer_id") == "a").get_column("purchases").to_list() == [4]
    assert given.get_column("customer_id").cast(pl.String).to_list() == ["a", "b", "c"]
    assert_frame_equal(given, retention.churn_status(frame, as_of=as_of))


def test_churn_status_contractual_and_non_contractual():
    """as_of 2024-06-30, window 90 days. a last bought 03-01: 121 days ago > 90 → churned from
    03-01 + 91 days = 05-31. b last bought 03-15: 107 days → churned 06-14. c last 02-02 → churned.
    With customers: b has a churn_date 2024-04-01 → contractual, churned on 04-01."""
    status = retention.churn_status(ORDERS, as_of=dt.date(2024, 6, 30))
    rows = {r["customer_id"]: r for r in status.to_dicts()}
    assert rows["a"]["churn_date"] == dt.date(2024, 5, 31) and rows["a"]["churned"]
    assert rows["b"]["churn_date"] == dt.date(2024, 6, 14)
    assert "d" not in rows
    early = retention.churn_status(ORDERS, as_of=dt.date(2024, 4, 30))
    assert not early.filter(pl.col("customer_id") == "a")["churned"].item()  # 60 days: still active
    customers = pl.DataFrame({"customer_id": ["a", "b", "c"], "signup_date": [None, None, None],
                              "churn_date": [None, dt.date(2024, 4, 1), None]},
                             schema={"customer_id": pl.String, "signup_date": pl.Date, "churn_date": pl.Date})  # fmt: skip
    with_contract = retention.churn_status(ORDERS, as_of=dt.date(2024, 4, 30), customers=customers)
    b = with_contract.filter(pl.col("customer_id") == "b").row(0, named=True)
    assert b["churned"] and b["contractual"] and b["churn_date"] == dt.date(2024, 4, 1)


def test_monthly_churn_rate_example():
    """Point in time, window 30 days, as of 2024-05-31. A spell lapses on its last purchase + 31
    days. a: Jan 5 (lapses Feb 5), then Feb 10 – Mar 1 (a reactivation; lapses Apr 1). b: Jan 20
    (lapses Feb 20), then Mar 15 (reactivation; lapses Apr 15). c: Feb 2 (lapses Mar 4). d only
    refunded: never active.
    Feb: active on Jan 31 a, b = 2; both lapse in Feb → 2/2; a reactivates → 1.
    Mar: active on Feb 29 a, c = 2 (b lapsed on Feb 20); c lapses Mar 4 → 1/2; b reactivates → 1.
    Apr: active on Mar 31 a, b = 2; both lapse → 2/2. May: nobody active → rate null; complete."""
    out = retention.monthly_churn(ORDERS, as_of=dt.date(2024, 5, 31), churn_window_days=30)
    rows = {r["month"].month: r for r in out.to_dicts()}
    assert [(rows[m]["active_at_start"], rows[m]["churned"], rows[m]["reactivated"]) for m in (2, 3, 4)] == [
        (2, 2, 1), (2, 1, 1), (2, 2, 0)]  # fmt: skip
    assert rows[3]["churn_rate"] == pytest.approx(1 / 2)
    assert rows[5]["active_at_start"] == 0 and rows[5]["churn_rate"] is None
    assert not any(r["partial"] for r in rows.values())
    partial = retention.monthly_churn(ORDERS, as_of=dt.date(2024, 4, 10), churn_window_days=30)
    assert partial.get_column("partial").to_list()[-1] is True


def test_survival_four_customer_example():
    """Lifetimes, window 30, as_of 2024-03-31: a Jan 5 → Mar 1 (active? 30 days since → not > 30:
    censored at Mar 31 = 86 days); b Jan 20 → Mar 15, censored at 71 days; c Feb 2, churned
    → event at its last purchase, duration 0. KM: S(0) = 1 − 1/3 = 2/3, constant afterwards."""
    out = retention.survival(ORDERS, as_of=dt.date(2024, 3, 31), churn_window_days=30)
    assert out["days"].to_list() == [0.0, 71.0, 86.0]
    assert out["survival"].to_list() == pytest.approx([2 / 3, 2 / 3, 2 / 3])
    assert out["events"].to_list() == [1, 0, 0]


def test_kaplan_meier_and_logrank_match_lifelines(sample_tables):
    from lifelines import KaplanMeierFitter
    from lifelines.statistics import multivariate_logrank_test

    orders, customers = sample_tables["orders"], sample_tables["customers"]
    as_of = dt.date(2026, 6, 30)
    life = retention.lifetimes_table(orders, as_of=as_of, customers=customers, by="tier")
    curves = retention.survival(orders.lazy(), as_of=as_of, customers=customers, by="tier")
    for tier in ("Bronze", "Silver", "Gold", "Platinum"):
        part = life.filter(pl.col("tier") == tier)
        km = KaplanMeierFitter().fit(part["duration"].to_numpy(), part["observed"].to_numpy())
        mine = curves.filter(pl.col("tier") == tier)
        assert mine["days"].to_list() == km.survival_function_.index.to_list()
        np.testing.assert_allclose(
            mine["survival"].to_numpy(),
            km.survival_function_.iloc[:, 0].to_numpy(),
            atol=1e-9,
            rtol=0,
        )
        ci = km.confidence_interval_.to_numpy()
        np.testing.assert_allclose(mine["ci_low"].to_numpy(), ci[:, 0], atol=1e-9, rtol=0)
        np.testing.assert_allclose(mine["ci_high"].to_numpy(), ci[:, 1], atol=1e-9, rtol=0)
    test = retention.survival_logrank(orders, as_of=as_of, customers=customers, by="tier")
    ref = multivariate_logrank_test(
        life["duration"].to_numpy(), life["tier"].to_numpy(), life["observed"].to_numpy()
    )
    assert test["statistic"] == pytest.approx(ref.test_statistic, abs=1e-9, rel=1e-12)
    assert test["p_value"] == pytest.approx(ref.p_value, abs=1e-9)
    assert test["dof"] == 3


def test_logrank_two_groups_matches_lifelines_on_small_data():
    from lifelines.statistics import logrank_test

    durations = np.array([3, 5, 5, 8, 10, 12, 4, 4, 6, 9, 15, 20], dtype=float)
    observed = np.array([1, 1, 0, 1, 0, 1, 1, 1, 1, 0, 1, 0], dtype=bool)
    groups = np.array(["x"] * 6 + ["y"] * 6)
    from metrics.stats import logrank

    mine = logrank(durations, observed, groups)
    ref = logrank_test(durations[:6], durations[6:], observed[:6], observed[6:])
    assert mine["statistic"] == pytest.approx(ref.test_statistic, abs=1e-9)
    assert mine["p_value"] == pytest.approx(ref.p_value, abs=1e-9)
    assert logrank(durations, observed, pl.Series(groups)) == mine  # a Polars column, as survival_logrank passes it


def test_repeat_purchase_rate_example():
    """Buyers a, b, c (d only refunded); a (3) and b (2) bought twice or more → 2/3."""
    rate = retention.repeat_purchase_rate(ORDERS.lazy())
    assert (rate.numerator, rate.denominator) == (2, 3)
    assert rate.value == pytest.approx(2 / 3) and rate.small_sample
    assert rate.ci_low < 2 / 3 < rate.ci_high
    empty = retention.repeat_purchase_rate(ORDERS.clear())
    assert empty.value is None and empty.denominator == 0


def test_both_bases_at_once_equal_each_basis():
    both = retention.cohort_retention(ORDERS, as_of=dt.date(2024, 3, 31), basis="both")
    customers = retention.cohort_retention(ORDERS, as_of=dt.date(2024, 3, 31))
    revenue = retention.cohort_retention(ORDERS, as_of=dt.date(2024, 3, 31), basis="revenue")
    assert both["retention"].to_list() == customers["retention"].to_list()
    assert both["revenue_retention"].to_list() == revenue["retention"].to_list()

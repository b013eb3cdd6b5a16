"""Lifetime value: published CDNOW reference values (METRICS.md) and hand-worked examples."""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from metrics import btyd, ltv
from metrics.btyd import compress, fitting


def _cdnow_transactions(realdata) -> pl.DataFrame:
    """CDNOW_sample.txt: original id, id, YYYYMMDD, number of CDs, dollar value (no header)."""
    lines = pl.read_csv(
        realdata / "cdnow" / "CDNOW_sample.txt",
        has_header=False,
        new_columns=["line"],
        separator="\t",
    )
    fields = lines.select(
        pl.col("line").str.extract_groups(r"^\s*(\d+)\s+(\d+)\s+(\d{8})\s+(\d+)\s+([\d.]+)")
    ).unnest("line")
    return fields.select(
        customer_id=pl.col("2").cast(pl.Int64).cast(pl.String),
        order_date=pl.col("3").str.to_datetime("%Y%m%d"),
        amount=pl.col("5").cast(pl.Float64),
    )


def test_rfm_summary_reproduces_published_cdnow_summary(realdata):
    """The 39-week calibration window ends 1997-09-30; weeks = days / 7 (METRICS.md)."""
    tx = _cdnow_transactions(realdata)
    assert tx.height == 6_919 and tx.get_column("customer_id").n_unique() == 2_357
    mine = btyd.rfm_summary(tx, as_of=dt.date(1997, 9, 30), unit="W")
    published = pl.read_csv(realdata / "cdnow" / "cdnow_customers_summary.csv").with_columns(
        customer_id=pl.col("ID").cast(pl.String)
    )
    with_money = pl.read_csv(realdata / "cdnow" / "cdnow_customers_summary_with_transactions.csv")
    joined = published.join(mine, on="customer_id", suffix="_mine").join(
        with_money.with_columns(customer_id=pl.col("ID").cast(pl.String)).select(
            "customer_id", "zbar"
        ),
        on="customer_id",
    )
    assert joined.height == 2_357 == mine.height
    assert (joined["frequency"] == joined["frequency_mine"]).all()
    assert (joined["recency"] - joined["recency_mine"]).abs().max() <= 0.005 + 1e-9
    assert (joined["T"] - joined["T_mine"]).abs().max() <= 0.005 + 1e-9
    repeat = joined.filter(pl.col("frequency") > 0)
    assert (repeat["zbar"] - repeat["monetary_value"]).abs().max() <= 0.005 + 1e-9
    assert joined.filter(pl.col("frequency") == 0)["monetary_value"].null_count() == 1_411


def test_bgnbd_matches_fader_hardie_lee_2005(realdata):
    summary = pl.read_csv(realdata / "cdnow" / "cdnow_customers_summary.csv")
    fit = btyd.fit_bgnbd(summary.lazy())
    assert (round(fit.r, 3), round(fit.alpha, 3), round(fit.a, 3), round(fit.b, 3)) == (
        0.243,
        4.414,
        0.793,
        2.426,
    )
    assert fit.r == pytest.approx(0.242593, abs=2e-6)
    assert fit.alpha == pytest.approx(4.413532, abs=2e-5)
    assert fit.a == pytest.approx(0.792886, abs=2e-6)
    assert fit.b == pytest.approx(2.425752, abs=2e-5)
    assert round(fit.log_likelihood, 1) == -9582.4
    assert fit.customers == 2_357


def test_a_weighted_summary_fits_as_the_customers_it_stands_for(realdata):
    """CDNOW's 2,357 customers grouped by (frequency, recency, T) into fewer rows with a count each
    (as lifetimes' fit(…, weights=)): the same BG/NBD to the optimiser's precision and the same
    number of customers. Gamma-Gamma likewise on repeat buyers grouped by (x, zbar)."""
    summary = pl.read_csv(realdata / "cdnow" / "cdnow_customers_summary.csv")
    grouped = summary.group_by("frequency", "recency", "T").agg(customers=pl.len())
    assert grouped.height < summary.height
    whole, weighted = btyd.fit_bgnbd(summary), btyd.fit_bgnbd(grouped, weights="customers")
    assert weighted.customers == whole.customers == 2_357
    for name in ("r", "alpha", "a", "b", "log_likelihood"):
        assert getattr(weighted, name) == pytest.approx(getattr(whole, name), rel=1e-6), name
    spend = pl.read_csv(realdata / "cdnow" / "cdnow_customers_summary_with_transactions.csv").rename(
        {"x": "frequency", "zbar": "monetary_value"}
    )
    doubled = spend.with_columns(twice=pl.lit(2.0))
    once, twice = btyd.fit_gamma_gamma(spend), btyd.fit_gamma_gamma(doubled, weights="twice")
    assert (twice.customers, twice.excluded) == (2 * 946, 2 * (2_357 - 946))
    assert (twice.p, twice.q, twice.v) == pytest.approx((once.p, once.q, once.v), rel=1e-6)
    with pytest.raises(ValueError, match="not negative"):
        btyd.fit_bgnbd(grouped.with_columns(customers=-pl.col("customers").cast(pl.Int64)), weights="customers")


def test_gamma_gamma_matches_fader_hardie_2013(realdata):
    data = pl.read_csv(realdata / "cdnow" / "cdnow_customers_summary_with_transactions.csv").rename(
        {"x": "frequency", "zbar": "monetary_value"}
    )
    fit = btyd.fit_gamma_gamma(data)
    # the paper prints its estimates to two decimals (γ = 15.447 is printed 15.44)
    assert fit.p == pytest.approx(6.25, abs=0.01)
    assert fit.q == pytest.approx(3.74, abs=0.01)
    assert fit.v == pytest.approx(15.44, abs=0.01)
    assert fit.customers == 946 and fit.excluded == 2_357 - 946
    expected = fit.conditional_expected_value(
        data["frequency"].to_numpy(), data["monetary_value"].to_numpy()
    )
    assert expected.mean() == pytest.approx(35.2529588256, rel=1e-6)
    observed = data.filter(pl.col("frequency") > 0)["monetary_value"].mean()
    assert observed == pytest.approx(35.078551797, rel=1e-9)


def test_subsample_start_and_newton_polish_reach_the_published_fits(realdata, monkeypatch):
    """Above 2 × WARM_ROWS distinct rows a fit starts on a subsample and finishes with Newton
    steps on the full data (what a million customers take). With WARM_ROWS = 400 the CDNOW data
    (1,016 distinct BG/NBD rows, 946 Gamma-Gamma customers) take that path, and it must land on
    the papers' estimates as the direct fit does."""
    polished = []

    def spy(*args, **kwargs):
        out = newton_polish(*args, **kwargs)
        polished.append(out is not None)
        return out

    newton_polish = fitting._newton_polish
    monkeypatch.setattr(fitting, "WARM_ROWS", 400)
    monkeypatch.setattr(fitting, "_newton_polish", spy)
    bgnbd = btyd.fit_bgnbd(pl.read_csv(realdata / "cdnow" / "cdnow_customers_summary.csv"))
    assert bgnbd.r == pytest.approx(0.242593, abs=2e-6) and bgnbd.a == pytest.approx(0.792886, abs=2e-6)
    assert bgnbd.alpha == pytest.approx(4.413532, abs=2e-5) and bgnbd.b == pytest.approx(2.425752, abs=2e-5)
    assert round(bgnbd.log_likelihood, 1) == -9582.4 and bgnbd.converged
    spend = pl.read_csv(realdata / "cdnow" / "cdnow_customers_summary_with_transactions.csv")
    gamma_gamma = btyd.fit_gamma_gamma(spend.rename({"x": "frequency", "zbar": "monetary_value"}))
    assert (gamma_gamma.p, gamma_gamma.q, gamma_gamma.v) == pytest.approx((6.25, 3.74, 15.44), abs=0.01)
    assert polished == [True, True]  # both fits took the subsample path and the polish converged


ORDERS = pl.DataFrame(
    {
        "customer_id": ["a", "a", "a", "a", "b", "c", "c"],
        "order_date": [dt.datetime(2024, 1, 1, 9), dt.datetime(2024, 1, 1, 17), dt.datetime(2024, 1, 15),
                       dt.datetime(2024, 1, 29), dt.datetime(2024, 1, 8), dt.datetime(2024, 1, 1), dt.datetime(2024, 3, 1)],
        "amount": [10.0, 20.0, 40.0, 60.0, 25.0, 30.0, -30.0],
        "gross_margin": [3.0, 6.0, 12.0, 18.0, 5.0, 9.0, -9.0],
    }
)  # fmt: skip


def test_rfm_summary_three_customer_example(as_input):
    """as_of 2024-02-05, unit W.
    a: purchase days 01-01 (10+20), 01-15 (40), 01-29 (60) → frequency 2, recency 28 d = 4 W,
       T = 35 d = 5 W, monetary = mean(40, 60) = 50.
    b: one day 01-08 → frequency 0, recency 0, T = 28 d = 4 W, monetary null.
    c: 01-01 only (the 03-01 refund is not a purchase, and is after as_of) → 0, 0, 35/7 = 5 W."""
    frame = as_input(ORDERS)
    out = btyd.rfm_summary(frame, as_of=dt.date(2024, 2, 5))
    assert out.to_dicts() == [
        {"customer_id": "a", "frequency": 2, "recency": 4.0, "T": 5.0, "monetary_value": 50.0},
        {"customer_id": "b", "frequency": 0, "recency": 0.0, "T": 4.0, "monetary_value": None},
        {"customer_id": "c", "frequency": 0, "recency": 0.0, "T": 5.0, "monetary_value": None},
    ]
    days = btyd.rfm_summary(frame, as_of="2024-02-05", unit="D")
    assert days.row(0, named=True)["T"] == 35.0


def test_rfm_summary_renamed_columns_and_empty():
    renamed = ORDERS.rename({"customer_id": "cust", "order_date": "when", "amount": "value"})
    out = btyd.rfm_summary(
        renamed, as_of=dt.date(2024, 2, 5), customer_id="cust", order_date="when", amount="value"
    )
    assert out.height == 3
    empty = btyd.rfm_summary(ORDERS.clear(), as_of=dt.date(2024, 2, 5))
    assert empty.is_empty() and empty.columns == [
        "customer_id",
        "frequency",
        "recency",
        "T",
        "monetary_value",
    ]
    with pytest.raises(ValueError, match="no customers"):
        btyd.fit_bgnbd(empty)
    with pytest.raises(ValueError, match="no customer has a repeat purchase"):
        btyd.fit_gamma_gamma(empty)
    with pytest.raises(ValueError, match="unit"):
        btyd.rfm_summary(ORDERS, as_of=dt.date(2024, 2, 5), unit="fortnight")


def test_p_alive_and_expected_purchases_follow_the_paper():
    """With x = 0 the dropout odds term vanishes: P(alive) = 1. Expected purchases grow with t
    and the new-customer expectation matches eq. 7 at t → 0."""
    model = btyd.BGNBD(
        r=0.243, alpha=4.414, a=0.793, b=2.426, log_likelihood=0, customers=0, converged=True
    )
    assert model.p_alive(np.array([0.0]), np.array([0.0]), np.array([10.0]))[0] == 1.0
    # a frequent buyer who has been silent for long is less likely alive than a recent one
    silent, recent = model.p_alive(
        np.array([5.0, 5.0]), np.array([5.0, 30.0]), np.array([39.0, 39.0])
    )
    assert silent < recent
    e = [
        model.expected_purchases(t, np.array([2.0]), np.array([30.0]), np.array([39.0]))[0]
        for t in (10, 20, 40)
    ]
    assert e[0] < e[1] < e[2]
    assert model.expected_purchases_new(1e-9) == pytest.approx(0.0, abs=1e-8)


def test_clv_and_holdout_on_sample(sample_tables):
    summary = btyd.rfm_summary(sample_tables["orders"], as_of=dt.date(2026, 6, 30))
    bg, gg = btyd.fit_bgnbd(summary), btyd.fit_gamma_gamma(summary)
    clv = btyd.predict_clv(summary, bg, gg)
    assert clv.height == summary.height
    assert clv["p_alive"].is_between(0, 1).all() and (clv["clv"] >= 0).all()
    # a longer horizon can only add value
    longer = btyd.predict_clv(summary, bg, gg, months=24)
    assert (longer["clv"] >= clv["clv"] - 1e-9).all()
    check = btyd.holdout_check(
        sample_tables["orders"], calibration_end="2025-12-31", observation_end="2026-06-30"
    )
    # the model predicts holdout purchases within 25% in total on the synthetic base
    assert check["predicted"] == pytest.approx(check["actual"], rel=0.25)
    assert check["by_frequency"]["customers"].sum() == check["customers"]


def test_historical_value_and_ltv_cac_example():
    """margin to 2024-02-05: a = 3+6+12+18 = 39, b = 5, c = 9 (refund after as_of).
    Tier X = {a, b}: mean LTV (39+5)/2 = 22, mean CAC (10+12)/2 = 11 → 2.0; tier Y = {c}: 9/0 → null."""
    value = ltv.historical_value(ORDERS, as_of=dt.date(2024, 2, 5))
    assert dict(zip(value["customer_id"], value["margin"], strict=True)) == {
        "a": 39.0,
        "b": 5.0,
        "c": 9.0,
    }
    customers = pl.DataFrame(
        {
            "customer_id": ["a", "b", "c"],
            "tier": ["X", "X", "Y"],
            "acquisition_cost": [10.0, 12.0, 0.0],
        }
    )
    ratio = ltv.ltv_cac(value, customers.lazy(), by="tier")
    assert ratio.to_dicts() == [
        {"tier": "X", "customers": 2, "mean_ltv": 22.0, "mean_cac": 11.0, "ltv_cac": 2.0},
        {"tier": "Y", "customers": 1, "mean_ltv": 9.0, "mean_cac": 0.0, "ltv_cac": None},
    ]
    no_margin = ltv.historical_value(
        ORDERS.drop("gross_margin"), as_of=dt.date(2024, 2, 5), margin_rate=0.5
    )
    assert no_margin.filter(pl.col("customer_id") == "b")["margin"].item() == 12.5


def test_clv_matches_the_direct_formula(sample_tables):
    """predict_clv evaluates the hypergeometric part per distinct (x, T); the result must equal
    eq. 10 evaluated customer by customer, and the discounting the sum of monthly increments."""
    summary = btyd.rfm_summary(sample_tables["orders"], as_of=dt.date(2026, 6, 30)).head(300)
    bg = btyd.BGNBD(r=1.5, alpha=7.8, a=0.77, b=9.6, log_likelihood=0, customers=0, converged=True)
    out = btyd.predict_clv(summary, bg, None, months=3, monthly_discount=0.01)
    x, t_x, big_t = (summary[c].to_numpy().astype(float) for c in ("frequency", "recency", "T"))
    month = ltv.DAYS_PER_MONTH / 7
    e = [bg.expected_purchases(m * month, x, t_x, big_t) for m in (1, 2, 3)]
    np.testing.assert_allclose(out["expected_purchases"].to_numpy(), e[2], rtol=1e-12)
    spend = summary["monetary_value"].fill_null(0).to_numpy()
    expected = (e[0] / 1.01 + (e[1] - e[0]) / 1.01**2 + (e[2] - e[1]) / 1.01**3) * spend
    np.testing.assert_allclose(out["clv"].to_numpy(), expected, rtol=1e-12)
    # undiscounted (the backtest), the increments add up to the purchases over the horizon
    flat = btyd.predict_clv(summary, bg, None, months=3, monthly_discount=0.0)
    np.testing.assert_allclose(flat["clv"].to_numpy(), e[2] * spend, rtol=1e-12)
    np.testing.assert_allclose(flat["expected_purchases"].to_numpy(), e[2], rtol=1e-12)


FEB = pl.DataFrame(
    {
        "customer_id": ["a", "a", "b", "c", "d"],
        "order_date": [dt.datetime(2024, 1, 10), dt.datetime(2024, 2, 5), dt.datetime(2024, 1, 20),
                       dt.datetime(2024, 2, 10), dt.datetime(2023, 12, 1)],
        "amount": [100.0, 150.0, 50.0, 70.0, 40.0],
    }
)  # fmt: skip


def test_simple_ltv_february_example(as_input):
    """Period 1–29 Feb 2024 (29 days = 29 / 30.4375 months), churn window 30 days, as of 29 Feb.
    b (last order 20 Jan) churns on 20 Feb; d (1 Dec) churned 1 Jan, before the period.
    Active at 1 Feb: a, b → churned in period: b → period churn 1/2,
    monthly churn = 1 − 0.5^(1 / months). Margin in Feb 150 + 70 = 220 over 2 buyers →
    110 per buyer per period → 110 / months per month. LTV = that / monthly churn ≈ 223.4."""
    frame = as_input(FEB)
    out = ltv.simple_ltv(frame, start=dt.date(2024, 2, 1), end=dt.date(2024, 2, 29), churn_window_days=30)
    months = 29 / (365.25 / 12)
    churn = 1 - 0.5 ** (1 / months)
    assert (out["active_at_start"], out["churned"], out["buyers"]) == (2, 1, 2)
    assert out["monthly_churn_rate"] == pytest.approx(churn)
    assert out["ltv"] == pytest.approx((110 / months) / churn)
    assert out["ltv"] == pytest.approx(223.4, abs=0.1)


def test_acquisition_vs_retention_cost_example():
    """New in Feb: c (CAC 30). Retained through Feb: a only (b and d churned). a raised 2 tickets
    in Feb at 5 each → retention cost 10 per retained customer; acquiring costs 3× keeping."""
    customers = pl.DataFrame({"customer_id": ["a", "b", "c", "d"], "acquisition_cost": [10.0, 20.0, 30.0, 40.0],
                              "signup_date": [None] * 4, "churn_date": [None] * 4},
                             schema_overrides={"signup_date": pl.Date, "churn_date": pl.Date})  # fmt: skip
    tickets = pl.DataFrame({"customer_id": ["a", "a", "b", "a"],
                            "created_at": [dt.datetime(2024, 2, 2), dt.datetime(2024, 2, 20), dt.datetime(2024, 2, 3),
                                           dt.datetime(2024, 1, 3)]})  # fmt: skip
    out = ltv.acquisition_vs_retention_cost(
        FEB, customers, start=dt.date(2024, 2, 1), end=dt.date(2024, 2, 29), tickets=tickets,
        cost_per_ticket=5.0, churn_window_days=30,
    )  # fmt: skip
    assert (out["cac"], out["new"], out["retained"], out["retention_cost"], out["ratio"]) == (30.0, 1, 1, 10.0, 3.0)
    # the activity spells passed in by a caller that has them give the same answer
    from metrics import activity

    spells = activity.spells(FEB, as_of=dt.date(2024, 2, 29), churn_window_days=30, customers=customers)
    assert ltv.acquisition_vs_retention_cost(
        FEB, customers, start=dt.date(2024, 2, 1), end=dt.date(2024, 2, 29), tickets=tickets,
        cost_per_ticket=5.0, spells=spells,
    ) == out  # fmt: skip
    assert ltv.acquisition_vs_retention_cost(FEB, customers, start=dt.date(2024, 2, 1), end=dt.date(2024, 2, 29))["retention_cost"] is None


HOLDOUT = pl.DataFrame(
    {
        "customer_id": list("aaaabccccd"),
        "order_date": [dt.datetime(2024, 1, 1), dt.datetime(2024, 1, 8), dt.datetime(2024, 2, 5), dt.datetime(2024, 2, 6),
                       dt.datetime(2024, 1, 10), dt.datetime(2024, 1, 15, 9), dt.datetime(2024, 1, 15, 17),
                       dt.datetime(2024, 2, 20, 9), dt.datetime(2024, 2, 20, 17), dt.datetime(2024, 2, 10)],
        "amount": [10.0] * 10,
    }
)  # fmt: skip


def test_holdout_check_example(as_input):
    """Calibration to 31 Jan, observation to 29 Feb 2024 (horizon 29 days = 29/7 weeks).
    Calibration summary: a bought 1 and 8 Jan → frequency 1; b (10 Jan) and c (two orders on
    15 Jan, one purchase day) → frequency 0; d's first purchase (10 Feb) is after the calibration
    end, so d is not in the check. Actual purchase days in Feb: a 5 and 6 Feb → 2, b 0, c two
    orders on 20 Feb → 1: total 3 over 3 customers. By frequency: 0 → (b, c) mean (0 + 1)/2 = 0.5;
    1 → a, 2. Predicted is eq. 10 of the model fitted on the calibration summary."""
    frame = as_input(HOLDOUT)
    check = btyd.holdout_check(frame, calibration_end="2024-01-31", observation_end="2024-02-29")
    assert (check["customers"], check["actual"]) == (3, 3.0)
    assert check["by_frequency"].select("frequency", "customers", "actual").rows() == [(0, 2, 0.5), (1, 1, 2.0)]
    calibration = btyd.rfm_summary(HOLDOUT, as_of="2024-01-31")
    x, t_x, big_t = (calibration[c].to_numpy() for c in ("frequency", "recency", "T"))
    predicted = check["model"].expected_purchases(29 / 7, x, t_x, big_t)
    assert check["predicted"] == pytest.approx(predicted.sum(), rel=1e-12)
    actual = np.array([2.0, 0.0, 1.0])  # a, b, c (the summary is sorted by customer)
    assert check["mae"] == pytest.approx(np.abs(predicted - actual).mean(), rel=1e-12)
    with pytest.raises(ValueError, match="must come after"):
        btyd.holdout_check(frame, calibration_end="2024-02-29", observation_end="2024-01-31")


def test_rfm_summaries_equal_one_summary_per_date(sample_tables):
    """One pass for several as-of dates gives what rfm_summary gives for each date alone."""
    dates = [dt.date(2026, 6, 30), dt.date(2025, 12, 31), dt.date(2024, 3, 15)]
    for date, summary in zip(dates, btyd.rfm_summaries(sample_tables["orders"], as_of=dates, unit="D"), strict=True):
        expected = btyd.rfm_summary(sample_tables["orders"], as_of=date, unit="D")
        assert summary.height == expected.height > 0
        assert_frame_equal(summary, expected)
    assert btyd.rfm_summaries(sample_tables["orders"], as_of=[]) == []


def test_rfm_summaries_by_hand_with_ids_coded_out_of_text_order():
    """Ids first seen as "rfm-z" then "rfm-y" get integer codes out of their text order; the
    summaries still come in text order. rfm-z buys 10.00 on 1 Jan, 20.00 on 8 Jan and 30.00 on
    15 Jan; rfm-y 5.00 on 10 Jan. As of 9 Jan (unit days): rfm-z frequency 1, recency 7, T 8,
    monetary 20.00 (rfm-y has not bought yet); as of 15 Jan: rfm-y 0, 0, 5, null; rfm-z 2, 14,
    14, (20 + 30) / 2 = 25.00."""
    orders = pl.DataFrame({
        "customer_id": ["rfm-z", "rfm-y", "rfm-z", "rfm-z"],
        "order_date": [dt.date(2024, 1, 1), dt.date(2024, 1, 10), dt.date(2024, 1, 8), dt.date(2024, 1, 15)],
        "amount": [10.0, 5.0, 20.0, 30.0],
    }).with_columns(pl.col("customer_id").cast(pl.Categorical))  # fmt: skip
    early, late = btyd.rfm_summaries(orders, as_of=[dt.date(2024, 1, 9), dt.date(2024, 1, 15)], unit="D")
    assert early.with_columns(pl.col("customer_id").cast(pl.String)).rows() == [("rfm-z", 1, 7.0, 8.0, 20.0)]
    assert late.with_columns(pl.col("customer_id").cast(pl.String)).rows() == [
        ("rfm-y", 0, 0.0, 5.0, None), ("rfm-z", 2, 14.0, 14.0, 25.0),
    ]  # fmt: skip


def test_validated_model_equals_the_single_calls(sample_tables):
    """validated_model fits the holdout's model in a second thread; every number must be what the
    single calls give one after the other (nothing shared between the two fits)."""
    orders, calibration_end, as_of = sample_tables["orders"], dt.date(2025, 12, 31), dt.date(2026, 6, 30)
    calibration, summary = btyd.rfm_summaries(orders, as_of=[calibration_end, as_of])
    model = btyd.validated_model(calibration, summary, calibration_end=calibration_end, observation_end=as_of)
    bg, gg = btyd.fit_bgnbd(summary), btyd.fit_gamma_gamma(summary)
    assert (model["bgnbd"], model["gamma_gamma"]) == (bg, gg)
    assert_frame_equal(model["clv"], btyd.predict_clv(summary, bg, gg))
    check = btyd.holdout_check(orders, calibration_end=calibration_end, observation_end=as_of)
    assert model["holdout"]["model"] == check["model"]
    assert (model["holdout"]["predicted"], model["holdout"]["actual"]) == (check["predicted"], check["actual"])


def test_compress_counts_customers_per_distinct_row():
    """Rows (x, t_x, T): (1, 2, 5) twice, (0, 0, 5) once, (1, 3, 5) once → three weighted rows, in
    the order of their codes whatever the customers' order; the group-by fallback for keys that
    would overflow 64 bits gives the same."""
    x, t_x, big_t = np.array([1.0, 0.0, 1.0, 1.0]), np.array([2.0, 0.0, 3.0, 2.0]), np.array([5.0, 5.0, 5.0, 5.0])
    for limit in (2**63, 1):
        distincts, rows, weights = compress.compress_rows(x, t_x, big_t, key_limit=limit)
        values = [tuple(d[i] for d, i in zip(distincts, row, strict=True)) for row in zip(*rows, strict=True)]
        assert values == [(0.0, 0.0, 5.0), (1.0, 2.0, 5.0), (1.0, 3.0, 5.0)]
        assert weights.tolist() == [1.0, 2.0, 1.0]


@given(st.lists(st.integers(0, 2**62), max_size=300))
def test_key_counts_are_numpys_unique_counts(keys):
    """compress's sorted distinct keys and their counts are np.unique's."""
    key = np.array(keys, dtype=np.int64)
    got, expected = compress._key_counts(key), np.unique(key, return_counts=True)
    assert got[0].tolist() == expected[0].tolist() and got[1].tolist() == expected[1].tolist()


@pytest.mark.parametrize(("distinct_values", "rows"), [(5, 500), (90, 500), (1_000, 100_001)])
def test_codes_of_several_columns_match_numpy_unique_rows(distinct_values, rows):
    """distinct_codes of (x, T): the sorted distinct rows and each row's index into them, as np.unique
    over rows gives. 5 distinct values per column take the dense-table path (5 × 5 keys), 90 at
    500 rows the sort of one mixed-radix key per row (8,100 keys > 4 × 500 + 4,096), 1,000 at
    100,001 rows (above SMALL_ROWS) the hash join. Alone, a column of whole numbers ≥ 0 is coded
    through a table too, so are whole days in weeks or months (/ 7, / 30.4375), any other column
    (days rounded to two decimals of a week, negative values) by a sort."""
    rng = np.random.default_rng(distinct_values)
    x = rng.integers(0, distinct_values, rows).astype(float)
    big_t = rng.integers(0, distinct_values, rows) / 7.0
    months = rng.integers(0, distinct_values, rows) / 30.4375
    for column in (x, big_t, months, np.round(big_t, 2), -x, x + 0.5):
        (values,), index = compress.distinct_codes(column)
        expected, inverse = np.unique(column, return_inverse=True)
        assert np.array_equal(values, expected) and np.array_equal(index, inverse)
    (ux, ut), index = compress.distinct_codes(x, big_t)
    rows, inverse = np.unique(np.column_stack([x, big_t]), axis=0, return_inverse=True)
    assert np.array_equal(ux, rows[:, 0]) and np.array_equal(ut, rows[:, 1])
    assert np.array_equal(index, inverse.ravel())


def test_a_large_group_is_fitted_on_a_seeded_sample_of_its_own_customers(sample_tables, monkeypatch):
    """A group larger than GROUP_FIT_SAMPLE is fitted and predicted on that many of its own
    customers, drawn without replacement and the same on every run; a smaller one on all of its
    customers. Here the sample size is 600, so the sample's Bronze and Silver are sampled."""
    from metrics.btyd import clv as clv_module

    monkeypatch.setattr(clv_module, "GROUP_FIT_SAMPLE", 600)
    summary = btyd.rfm_summary(sample_tables["orders"], as_of=dt.date(2026, 6, 30))
    customers = sample_tables["customers"].select("customer_id", "tier")
    pooled = btyd.predict_clv(summary, btyd.fit_bgnbd(summary), btyd.fit_gamma_gamma(summary))
    first = btyd.clv_by_group(summary, customers, by="tier", pooled=pooled, min_repeat_buyers=50)
    again = btyd.clv_by_group(summary, customers, by="tier", pooled=pooled, min_repeat_buyers=50)
    assert_frame_equal(first, again)
    buyers = summary.join(customers, on="customer_id").group_by("tier").len()
    assert buyers.filter(pl.col("len") > 600).height >= 2  # the fixture has groups to sample
    for tier, size in buyers.iter_rows():
        rows = first.filter(pl.col("tier") == tier)
        assert rows.height == min(size, 600) == rows.get_column("customer_id").n_unique()
        members = customers.filter(pl.col("tier") == tier).get_column("customer_id")
        assert rows.get_column("customer_id").is_in(members.implode()).all()
        assert set(rows.get_column("model")) == {"own"}


def test_a_customers_group_is_looked_up_by_their_id_whatever_the_order(sample_tables):
    """Each summary row gets its own customer's tier however the customers table is ordered, and
    a customer missing from it lands in "Unknown" (kept on the pooled CLV: too few repeat buyers
    there). The sample's first 200 customers, listed in reverse, without the first one: the
    result equals a plain join's, row for row, on String ids and on Categorical ids alike."""
    summary = btyd.rfm_summary(sample_tables["orders"], as_of=dt.date(2026, 6, 30)).head(200)
    pooled = summary.with_columns(clv=pl.col("frequency").cast(pl.Float64))
    customers = sample_tables["customers"].select("customer_id", "tier").reverse()
    customers = customers.filter(pl.col("customer_id") != summary["customer_id"][0])
    expected = (
        pooled.join(customers, on="customer_id", how="left")
        .select("customer_id", tier=pl.col("tier").fill_null("Unknown"), clv="clv", model=pl.lit("pooled"))
        .sort("customer_id")
    )
    for ids in (pl.String, pl.Categorical):
        as_ids = pl.col("customer_id").cast(ids)
        got = btyd.clv_by_group(summary.with_columns(as_ids), customers, by="tier", pooled=pooled.with_columns(as_ids),
                                min_repeat_buyers=10**6)  # fmt: skip
        got = got.with_columns(pl.col("customer_id").cast(pl.String)).sort("customer_id")
        assert_frame_equal(got, expected)
        assert got.filter(pl.col("tier") == "Unknown").get_column("customer_id").to_list() == [summary["customer_id"][0]]


def test_ltv_cac_counts_only_customers_with_both_a_value_and_a_record():
    """Values of a (30), b (10) and z (99, not a customer); customers a (cost 10), b (cost 30) and
    c (no value) in tier X: X has customers a and b, mean LTV (30+10)/2 = 20, mean CAC
    (10+30)/2 = 20 → 1.0. z and c are left out, as an inner join leaves them."""
    values = pl.DataFrame({"customer_id": ["z", "b", "a"], "margin": [99.0, 10.0, 30.0]})
    customers = pl.DataFrame({"customer_id": ["c", "a", "b"], "tier": ["X"] * 3, "acquisition_cost": [50.0, 10.0, 30.0]})
    got = ltv.ltv_cac(values, customers, by="tier")
    assert got.select("tier", "customers", "mean_ltv", "mean_cac", "ltv_cac").rows() == [("X", 2, 20.0, 20.0, 1.0)]


def test_a_dimension_of_one_group_takes_the_pooled_model_as_its_own(sample_tables, monkeypatch):
    """A slice of one tier: the tier dimension has one group, every customer of the summary. The
    pooled model was fitted on all of them, so it is the group's own (model "own", the pooled
    values row for row), not a second fit on a sample of the same customers (GROUP_FIT_SAMPLE
    set to 600 here: a fit of its own would stand on 600 of them). With fewer repeat buyers than
    the minimum the group is said to be on the pooled model, as any other."""
    from metrics.btyd import clv as clv_module

    monkeypatch.setattr(clv_module, "GROUP_FIT_SAMPLE", 600)
    gold = sample_tables["customers"].filter(pl.col("tier") == "Gold").select("customer_id", "tier")
    orders = sample_tables["orders"].join(gold, on="customer_id", how="semi")
    summary = btyd.rfm_summary(orders, as_of=dt.date(2026, 6, 30))
    pooled = btyd.predict_clv(summary, btyd.fit_bgnbd(summary), btyd.fit_gamma_gamma(summary))
    repeat_buyers = summary.filter(pl.col("frequency") > 0).height
    got = btyd.clv_by_group(summary, gold, by="tier", pooled=pooled, min_repeat_buyers=repeat_buyers)
    assert_frame_equal(got.select("customer_id", "clv"), pooled.select("customer_id", "clv"), check_exact=True)
    assert summary.height > 600 and set(got.get_column("tier")) == {"Gold"} and set(got.get_column("model")) == {"own"}
    fewer = btyd.clv_by_group(summary, gold, by="tier", pooled=pooled, min_repeat_buyers=repeat_buyers + 1)
    assert set(fewer.get_column("model")) == {"pooled"}

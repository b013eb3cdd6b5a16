"""Churn risk: the model beats recency alone on the sample, refuses thin data, never leaks."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from metrics import churn


def test_churn_model_beats_recency_baseline_on_sample(sample_tables):
    model = churn.train_churn_model(sample_tables, as_of=dt.date(2026, 6, 30))
    assert model.refused is None
    # time-based validation: trained on an earlier cutoff than it is validated on
    assert model.train_cutoff < model.validation_cutoff < dt.date(2026, 6, 30)
    assert (
        model.validation_customers >= churn.MIN_LABELLED
        and model.validation_churners >= churn.MIN_CHURNERS
    )
    assert model.beats_baseline, (model.auc, model.baseline_auc)
    assert model.top_decile_precision > model.base_rate
    scores = model.scores
    assert scores["risk"].is_between(0, 1).all()
    assert scores["customer_id"].n_unique() == scores.height
    assert scores.head(20)["drivers"].null_count() == 0
    assert model.importance["feature"].head(1).item() == "days since last order"


def test_scoring_in_blocks_gives_the_same_probabilities(sample_tables, monkeypatch):
    """Blocks of 1,000 rows (the sample's ~2,400 active customers: three blocks, the last
    short) score every customer exactly as one call over all of them does."""
    model = churn.train_churn_model(sample_tables, as_of=dt.date(2026, 6, 30))
    x = churn._matrix(model.scores, model.vocab, model.features)
    whole = model.predictor.predict_proba(x)[:, 1]
    monkeypatch.setattr(churn, "SCORING_BLOCK", 1_000)
    assert len(x) > 2 * churn.SCORING_BLOCK
    assert (churn.churn_probability(model.predictor, x) == whole).all()


def test_churn_model_refuses_too_little_data(sample_tables):
    few = sample_tables["customers"].head(150)
    small = {
        "customers": few,
        "orders": sample_tables["orders"].join(few.select("customer_id"), on="customer_id"),
    }
    model = churn.train_churn_model(small, as_of=dt.date(2026, 6, 30))
    assert model.refused is not None and "at least 200" in model.refused and model.scores is None
    assert churn.train_churn_model({"orders": small["orders"]}, as_of=dt.date(2026, 6, 30)).refused


def test_features_use_only_events_up_to_the_cutoff(sample_tables):
    cutoff = dt.date(2026, 1, 1)
    before = {name: frame for name, frame in sample_tables.items()}
    trimmed = dict(before)
    trimmed["orders"] = before["orders"].filter(pl.col("order_date").dt.date() <= cutoff)
    trimmed["tickets"] = before["tickets"].filter(pl.col("created_at").dt.date() <= cutoff)
    trimmed["surveys"] = before["surveys"].filter(pl.col("responded_at").dt.date() <= cutoff)
    full = churn.churn_features(before, cutoff=cutoff, label=False)
    cut = churn.churn_features(trimmed, cutoff=cutoff, label=False)
    # tickets created before the cutoff but answered after it: response time unknown at the cutoff
    # (sums may differ in the last bit: Polars adds in no fixed order)
    assert_frame_equal(full.drop("median_response_h"), cut.drop("median_response_h"), rel_tol=1e-12)


def test_features_without_values_are_left_out_and_said(sample_tables):
    """Orders and customers only (no tickets, surveys or segments), as a shop export gives: the
    empty features are left out by name instead of breaking scikit-learn's binning."""
    customers = sample_tables["customers"].with_columns(pl.lit(None, pl.String).alias("segment"), pl.lit("Unassigned").alias("tier"))
    model = churn.train_churn_model({"customers": customers, "orders": sample_tables["orders"]}, as_of=dt.date(2026, 6, 30))
    assert model.refused is None
    for gone in ("segment", "tier", "latest_nps", "tickets_180d", "median_response_h"):
        assert gone not in model.features
    assert "recency_days" in model.features
    assert any("latest NPS answer" in n and "segment" in n for n in model.notes)


def test_value_at_risk_rows_are_chosen_by_value_and_explained_themselves(sample_tables):
    """The table of the most valuable customers at risk holds the 50 largest values at risk of
    all scored customers, each with its drivers (not only the 1,000 riskiest ones)."""
    from dashboard import views
    from metrics.domain import Dataset, Filters
    from metrics.kpis import Period
    from metrics.slicing import Slice
    from sample_data import sample_settings

    as_of = dt.date(2026, 6, 30)
    model = churn.train_churn_model(sample_tables, as_of=as_of, explain_top=10)
    filters = Filters(Slice(), Period(dt.date(2026, 4, 1), as_of), "previous", as_of)
    view = views.compute("churn", Dataset("sample", sample_tables, sample_settings()), filters, churn_model=lambda: model)
    expected = view.scores.sort("value_at_risk", descending=True).head(views.AT_RISK_ROWS)
    assert view.at_risk.get_column("customer_id").to_list() == expected.get_column("customer_id").to_list()
    assert view.at_risk.get_column("drivers").null_count() == 0
    # with drivers for only the 10 riskiest, most of these 50 would have had none
    assert expected.get_column("drivers").null_count() > 25


def test_features_worked_by_hand(as_input):
    """Cutoff 30 June 2024, window 90. A bought 100 on 1 Jan, 50 on 1 Apr, 30 on 20 Jun, refunded
    20 on 25 Jun (not a purchase) and bought 999 on 10 Jul (after the cutoff). Days before the
    cutoff: 181, 90, 10. So frequency 3, monetary 180, recency 10, tenure 181, mean gap
    (171 days from 1 Jan to 20 Jun) / (3 − 1) = 85.5, recency vs gap 10 / (85.5 + 1) = 10 / 86.5;
    spend in the last 90 days (fewer than 90 before): 30; in the 90 before those (90 to 179): 50;
    trend (30 − 50) / (30 + 50 + 1) = −20 / 81. Tickets in the 180 days (after 2 Jan): the
    complaint of 1 May answered in 2 h, not the one of 1 Nov 2023 → 1, 1, 2.0. Latest answers by
    the cutoff: NPS 3 (1 Jun; the 10 of 5 Jul comes later), CSAT 4 (1 Jun has none, 1 Mar's 4).
    B last bought on 1 Feb (150 days): not active, no row. C bought 25 on the cutoff day: recency
    and tenure 0, no gap (one purchase), trend 25 / 26, no tickets (0, 0, no response time)."""
    orders = pl.DataFrame({
        "order_id": [str(i) for i in range(7)], "customer_id": ["A", "A", "A", "A", "A", "B", "C"],
        "order_date": [dt.datetime(2024, 1, 1), dt.datetime(2024, 4, 1), dt.datetime(2024, 6, 20, 15), dt.datetime(2024, 6, 25),
                       dt.datetime(2024, 7, 10), dt.datetime(2024, 2, 1), dt.datetime(2024, 6, 30, 23)],
        "amount": [100.0, 50.0, 30.0, -20.0, 999.0, 40.0, 25.0],
    })  # fmt: skip
    customers = pl.DataFrame({"customer_id": ["A", "B", "C"], "tier": ["Gold", "Silver", "Bronze"], "segment": ["SMB", "SMB", None]})
    tickets = pl.DataFrame({
        "ticket_id": ["t1", "t2"], "customer_id": ["A", "A"], "category": ["Complaint", "complaint"],
        "created_at": [dt.datetime(2024, 5, 1, 9), dt.datetime(2023, 11, 1)],
        "first_response_at": [dt.datetime(2024, 5, 1, 11), dt.datetime(2023, 11, 2)],
    })  # fmt: skip
    surveys = pl.DataFrame({
        "customer_id": ["A", "A", "A"], "responded_at": [dt.datetime(2024, 3, 1), dt.datetime(2024, 6, 1), dt.datetime(2024, 7, 5)],
        "nps": [9, 3, 10], "csat": [4, None, 5],
    })  # fmt: skip
    tables = {"orders": orders, "customers": customers, "tickets": tickets, "surveys": surveys}
    features = churn.churn_features({k: as_input(v) for k, v in tables.items()}, cutoff=dt.date(2024, 6, 30), label=False)
    rows = {row["customer_id"]: row for row in features.with_columns(pl.col("customer_id").cast(pl.String)).iter_rows(named=True)}
    assert set(rows) == {"A", "C"}
    a, c = rows["A"], rows["C"]
    assert (a["frequency"], a["monetary"], a["recency_days"], a["tenure_days"], a["mean_gap_days"]) == (3, 180, 10, 181, 85.5)
    assert a["recency_vs_gap"] == pytest.approx(10 / 86.5) and a["spend_trend"] == pytest.approx(-20 / 81)
    assert (a["spend_last_90d"], a["spend_prior_90d"]) == (30, 50)
    assert (a["tickets_180d"], a["complaints_180d"], a["median_response_h"]) == (1, 1, 2.0)
    assert (a["latest_nps"], a["latest_csat"], a["tier"], a["segment"]) == (3, 4, "Gold", "SMB")
    assert (c["recency_days"], c["tenure_days"], c["frequency"], c["mean_gap_days"], c["recency_vs_gap"]) == (0, 0, 1, None, None)
    assert c["spend_trend"] == pytest.approx(25 / 26)
    assert (c["tickets_180d"], c["complaints_180d"], c["median_response_h"], c["latest_nps"]) == (0, 0, None, None)


def test_the_label_counts_lapses_inside_the_horizon_only(as_input):
    """Cutoff 1 April 2024, window 90, horizon 90 (to 30 June). A last bought on the cutoff: lapses
    on 1 Apr + 91 = 1 July, outside → not churned. B last bought 31 March: lapses 30 June, inside →
    churned. C bought on the cutoff and again 20 May: active → not churned."""
    cutoff = dt.date(2024, 4, 1)
    orders = pl.DataFrame({
        "order_id": ["1", "2", "3", "4"], "customer_id": ["A", "B", "C", "C"],
        "order_date": [dt.datetime(2024, 4, 1), dt.datetime(2024, 3, 31), dt.datetime(2024, 4, 1), dt.datetime(2024, 5, 20)],
        "amount": [10.0, 10.0, 10.0, 10.0],
    })  # fmt: skip
    customers = pl.DataFrame({"customer_id": ["A", "B", "C"], "tier": ["Gold"] * 3})
    labelled = churn.churn_features({"orders": as_input(orders), "customers": as_input(customers)}, cutoff=cutoff)
    assert dict(labelled.select(pl.col("customer_id").cast(pl.String), "churned").iter_rows()) == {"A": False, "B": True, "C": False}

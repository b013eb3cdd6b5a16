"""Satisfaction and quick response: hand-worked NPS/CSAT/CES, censored response times, SLA."""

from __future__ import annotations

import datetime as dt
import math

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from metrics import satisfaction

D = dt.datetime


@pytest.mark.parametrize("kind", ["series", "list", "frame", "lazy"])
def test_nps_ten_answer_example(kind):
    """Scores 10 10 9 9 8 7 6 3 0 + one null: n = 9, promoters 4, detractors 3 →
    NPS = 100 (4 − 3) / 9 = 11.11. se = sqrt((4/9 + 3/9 − (1/9)²) / 9) = 0.2921;
    interval 11.11 ± 1.96 × 29.21 = [−46.1, 68.4]."""
    values = [10, 10, 9, 9, 8, 7, 6, 3, 0, None]
    data = {
        "series": pl.Series("nps", values),
        "list": values[:-1],
        "frame": pl.DataFrame({"nps": values}),
        "lazy": pl.DataFrame({"nps": values}).lazy(),
    }[kind]
    rate = satisfaction.nps(data)
    assert rate.value == pytest.approx(100 / 9)
    assert (rate.numerator, rate.denominator) == (1, 9)
    se = math.sqrt((4 / 9 + 3 / 9 - (1 / 9) ** 2) / 9)
    assert rate.ci_low == pytest.approx(100 * (1 / 9 - 1.959963984540054 * se))
    assert rate.ci_high == pytest.approx(100 * (1 / 9 + 1.959963984540054 * se))
    assert rate.small_sample and rate.parts == {"promoters": 4, "passives": 2, "detractors": 3}


def test_csat_ces_and_empty():
    """CSAT 5 4 4 3 1 → 3/5 = 60%; CES 7 5 4 2 → 2/4 = 50%, mean 4.5."""
    csat = satisfaction.csat([5, 4, 4, 3, 1])
    assert csat.value == pytest.approx(60.0) and csat.scale == 100
    assert 0 <= csat.ci_low < 60 < csat.ci_high <= 100
    ces = satisfaction.ces(pl.Series([7, 5, 4, 2]))
    assert ces.value == pytest.approx(50.0) and ces.parts["mean"] == 4.5
    for fn in (satisfaction.nps, satisfaction.csat, satisfaction.ces):
        empty = fn([])
        assert empty.value is None and empty.denominator == 0 and empty.small_sample


TICKETS = pl.DataFrame(
    {
        "ticket_id": ["t1", "t2", "t3", "t4"],
        "customer_id": ["a", "a", "b", "c"],
        "created_at": [D(2024, 1, 1, 8), D(2024, 1, 1, 8), D(2024, 1, 1, 8), D(2024, 1, 2, 0)],
        "first_response_at": [D(2024, 1, 1, 9), D(2024, 1, 1, 11), D(2024, 1, 2, 8), None],
        "resolved_at": [D(2024, 1, 1, 12), None, D(2024, 1, 3, 8), None],
        "channel": ["chat", "email", "email", "email"],
        "category": ["complaint", "question", "complaint", "question"],
        "priority": ["high", "high", "normal", "urgent"],
        "csat": [5, None, 2, None],
    }
)  # fmt: skip


def test_response_times_treat_open_tickets_as_censored(as_input):
    """as_of 2024-01-02 12:00. First response hours: t1 1, t2 3, t3 24, t4 open after 12 h
    (censored). KM: S(1) = 3/4, S(3) = 2/4 → median 3 h; S(12) censored; S(24) = 0 → p90 24 h.
    Dropping t4 instead would also give median 3 but hide that one ticket still waits."""
    tickets = as_input(TICKETS)
    out = satisfaction.response_times(tickets, as_of=D(2024, 1, 2, 12))
    row = out.row(0, named=True)
    assert (row["tickets"], row["answered"], row["open_unanswered"]) == (4, 3, 1)
    assert row["first_response_median_h"] == 3.0 and row["first_response_p90_h"] == 24.0
    # resolution: t1 4 h; t3 not yet resolved at as_of (resolved Jan 3) → censored at 28 h
    assert row["resolved"] == 1 and row["resolution_median_h"] is None
    by_channel = satisfaction.response_times(tickets, as_of=D(2024, 1, 2, 12), by="channel")
    assert by_channel["channel"].to_list() == ["chat", "email"]


def test_sla_compliance_by_priority(as_input):
    """Targets: high 4 h, normal 24 h, urgent 1 h. t1 1 h ≤ 4 ✓; t2 3 h ≤ 4 ✓; t3 24 h ≤ 24 ✓;
    t4 urgent, open 12 h > 1 h → breach. Compliance 3/4. With as_of 2024-01-02 00:30, t4 has
    waited 0.5 h and t3 (answered at 08:00) 16.5 h of its 24: both pending → 2/2."""
    tickets = as_input(TICKETS)
    out = satisfaction.sla_compliance(tickets, as_of=D(2024, 1, 2, 12))
    row = out.row(0, named=True)
    assert (row["decided"], row["within_sla"], row["compliance"]) == (4, 3, 0.75)
    early = satisfaction.sla_compliance(tickets, as_of=D(2024, 1, 2, 0, 30)).row(0, named=True)
    assert (early["decided"], early["pending"], early["compliance"]) == (2, 2, 1.0)
    by = satisfaction.sla_compliance(
        tickets, as_of=D(2024, 1, 2, 12), by="priority", sla_hours={"high": 2}
    )
    rows = {r["priority"]: r for r in by.to_dicts()}
    assert rows["high"]["compliance"] == 0.5  # 1 h ✓, 3 h > 2 ✗
    assert rows["normal"]["no_target"] == 1 and rows["normal"]["compliance"] is None


def test_complaints_per_100_and_retention_by_nps_group(as_input):
    """Orders: a and b buy in January 2024, c in December 2023; as_of 2024-01-31, window 90.
    January: 3 active customers, complaints t1 and t3 → 2 / 3 × 100 = 66.7."""
    orders = pl.DataFrame({
        "customer_id": ["a", "b", "c"], "order_date": [D(2024, 1, 1), D(2024, 1, 1), D(2023, 12, 1)],
        "amount": [10.0, 10.0, 10.0],
    })  # fmt: skip
    out = satisfaction.complaints_per_100(as_input(TICKETS), as_input(orders), as_of=dt.date(2024, 1, 31))
    jan = out.filter(pl.col("month") == dt.date(2024, 1, 1)).row(0, named=True)
    assert (jan["complaints"], jan["active_customers"]) == (2, 3)
    assert jan["per_100"] == pytest.approx(200 / 3)
    surveys = pl.DataFrame({
        "response_id": ["r1", "r2", "r3", "r4"], "customer_id": ["a", "a", "b", "c"],
        "responded_at": [D(2023, 12, 1), D(2024, 1, 5), D(2024, 1, 5), D(2024, 1, 5)], "nps": [2, 10, 8, 3],
    })  # fmt: skip
    groups = satisfaction.retention_by_nps_group(as_input(surveys), as_input(orders), as_of=dt.date(2024, 3, 15))
    # as_of 03-15: a, b 74 days → retained; c 105 days → churned. a's latest answer is 10.
    assert groups.select("group", "customers", "retained").rows() == [
        ("Promoter", 1, 1),
        ("Passive", 1, 1),
        ("Detractor", 1, 0),
    ]


def test_nps_by_period_and_distribution():
    surveys = pl.DataFrame({
        "responded_at": [D(2024, 1, 5), D(2024, 1, 9), D(2024, 2, 1)], "nps": [10, 0, 9], "tier": ["G", "G", "S"],
    })  # fmt: skip
    monthly = satisfaction.nps_by(surveys, period="1mo")
    assert monthly["nps"].to_list() == [0.0, 100.0]
    assert satisfaction.nps_by(surveys, by="tier")["responses"].to_list() == [2, 1]
    dist = satisfaction.score_distribution(surveys, column="nps")
    assert dist["responses"].sum() == 3 and dist["share"].sum() == pytest.approx(1.0)


def test_figures_read_from_activity_need_the_orders_or_what_stands_for_them(sample_tables):
    """Complaints per 100 active customers and retention by NPS group read the orders only
    through their spells or purchase days: given those, no orders are needed (the dashboard's
    slices then cut none); given neither, they say what is missing instead of failing inside."""
    from metrics.activity import spells
    from metrics.purchase_days import purchase_days
    from metrics.retention import churn_status
    from metrics.satisfaction import complaints_per_100, retention_by_nps_group

    as_of = dt.date(2026, 6, 30)
    t = sample_tables
    days = purchase_days(t["orders"], as_of=as_of)
    assert_frame_equal(
        complaints_per_100(t["tickets"], None, as_of=as_of, customers=t["customers"], spells=spells(days, as_of=as_of, customers=t["customers"])),
        complaints_per_100(t["tickets"], t["orders"], as_of=as_of, customers=t["customers"]),
    )  # fmt: skip
    assert_frame_equal(
        retention_by_nps_group(t["surveys"], None, as_of=as_of, customers=t["customers"], days=days),
        retention_by_nps_group(t["surveys"], t["orders"], as_of=as_of, customers=t["customers"]),
    )
    for call in (lambda: complaints_per_100(t["tickets"], None, as_of=as_of), lambda: churn_status(None, as_of=as_of)):
        with pytest.raises(ValueError, match="orders"):
            call()

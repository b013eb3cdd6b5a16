"""Numbers that never rewrite their own history (issue 13, METRICS.md "Point in time"): a month
complete at date A has the same figures computed as of A and as of any later B; checked as a
hypothesis property, on the full CDNOW log against an independent day-by-day computation, and on
hand-worked examples."""

from __future__ import annotations

import datetime as dt
import gzip
from pathlib import Path

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from metrics import activity, kpis, retention
from metrics.kpis import Period
from metrics.purchase_days import purchase_days
from metrics.stats import first_of_month
from tests.conftest import kpi_fields

FIXTURES = Path(__file__).parent / "fixtures"
START = dt.date(2023, 1, 1)

purchases = st.lists(
    st.tuples(st.integers(0, 12), st.integers(0, 700), st.floats(-50, 500, allow_nan=False, width=32)),
    min_size=1, max_size=60,
)  # fmt: skip


def _orders(rows) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "order_id": [str(i) for i in range(len(rows))],
            "customer_id": [f"c{c}" for c, _, _ in rows],
            "order_date": [dt.datetime.combine(START + dt.timedelta(days=d), dt.time(12)) for _, d, _ in rows],
            "amount": [float(a) for _, _, a in rows],
        }
    )


def _customers(churn_days) -> pl.DataFrame:
    """The customers c0…c12 of `purchases`, with a churn date (a day number) or none."""
    return pl.DataFrame(
        {"customer_id": [f"c{i}" for i in range(13)],
         "churn_date": [None if d is None else START + dt.timedelta(days=d) for d in churn_days]},
        schema={"customer_id": pl.String, "churn_date": pl.Date},
    )  # fmt: skip


churn_dates = st.lists(st.one_of(st.none(), st.integers(0, 700)), min_size=13, max_size=13)


def _complete_at(frame: pl.DataFrame, a: dt.date) -> pl.DataFrame:
    month_end = pl.col("month").dt.offset_by("1mo") - pl.duration(days=1)
    return frame.filter(month_end <= a)


@settings(max_examples=80, deadline=None)
@given(purchases, st.integers(30, 600), st.integers(1, 300), st.integers(20, 120))
def test_monthly_churn_never_restates_a_complete_month(rows, a_day, later, window):
    orders = _orders(rows)
    a = START + dt.timedelta(days=a_day)
    b = a + dt.timedelta(days=later)
    then = retention.monthly_churn(orders, as_of=a, churn_window_days=window)
    now = retention.monthly_churn(orders, as_of=b, churn_window_days=window)
    assert_frame_equal(_complete_at(then, a), _complete_at(now, a).head(_complete_at(then, a).height))
    assert _complete_at(now, a).height == _complete_at(then, a).height


@settings(max_examples=60, deadline=None)
@given(purchases, st.integers(0, 700), st.integers(0, 300))
def test_an_rfm_summary_of_a_past_date_uses_only_what_was_known_then(rows, a_day, later):
    """The CLV backtest and the holdout check read the RFM summary of an earlier date A off
    purchase days to a later B (btyd.rfm_summaries): it must be the summary of the orders known on
    A alone, whatever came after (refunds and purchases)."""
    from metrics import btyd

    orders = _orders(rows)
    a = START + dt.timedelta(days=a_day)
    b = a + dt.timedelta(days=later)
    read_later = btyd.rfm_summaries(purchase_days(orders, as_of=b), as_of=[a, b], unit="D")[0]
    known_then = btyd.rfm_summary(orders.filter(pl.col("order_date").dt.date() <= a), as_of=a, unit="D")
    assert_frame_equal(read_later, known_then, check_exact=False, rel_tol=1e-12)


@settings(max_examples=40, deadline=None)
@given(purchases, st.integers(60, 600), st.integers(1, 300))
def test_the_overview_monthly_series_never_restates_a_complete_month(rows, a_day, later):
    orders = _orders(rows)
    a = START + dt.timedelta(days=a_day)
    b = a + dt.timedelta(days=later)
    columns = ["month", "revenue", "active_customers", "new_customers", "churn_rate"]
    then = kpis.monthly_series({"orders": orders}, end=a, months=36).select(columns)
    now = kpis.monthly_series({"orders": orders}, end=b, months=48).select(columns)
    complete = _complete_at(then, a)
    assert_frame_equal(complete, now.join(complete.select("month"), on="month", how="semi"))


@settings(max_examples=40, deadline=None)
@given(purchases, st.integers(30, 700), st.integers(1, 200), st.sampled_from(["previous", "year"]), churn_dates)
def test_a_kpi_card_compares_with_what_the_earlier_period_shows_as_its_own(rows, end_day, days, comparison, churn_days):
    """Every Overview card's comparison value is the value the card shows when the comparison
    period is the one chosen: the earlier period's figures read from the activity as of the later
    period's end are those known at its own end (churn dates included). Except where the
    comparison period starts before the first order: its order figures are then null (unknown,
    not 0), whatever the earlier period shows as its own."""
    orders = _orders(rows)
    customers = _customers(churn_days)
    end = START + dt.timedelta(days=end_day)
    tables = {"orders": orders, "customers": customers}
    shown = kpis.overview(tables, period=Period(end - dt.timedelta(days=days - 1), end), comparison=comparison)
    earlier = kpis.overview(tables, period=shown.comparison, comparison=comparison)
    first = kpis.first_order_day(orders)
    before_data = first is None or shown.comparison.start < first
    expected = [(k.key, None if k.value is None or (before_data and kpis.CATALOGUE[k.key].needs == "orders")
                 else pytest.approx(k.value, rel=1e-12)) for k in earlier.kpis]  # fmt: skip
    assert [(k.key, k.previous) for k in shown.kpis] == expected


@settings(max_examples=40, deadline=None)
@given(purchases, st.integers(0, 24), st.integers(0, 300), st.sampled_from(["previous", "year"]), churn_dates)
def test_spells_of_a_later_day_give_the_overview_of_a_period_that_closes_a_month(rows, month, later, comparison, churn_days):
    """The Overview's page reads its KPIs and monthly series from the spells as of the as-of date
    (shared with the other pages) whenever the period ends on a month's last day: the result must
    be the one computed from the spells as of the period's end."""
    orders = _orders(rows)
    customers = _customers(churn_days)
    tables = {"orders": orders, "customers": customers}
    end = first_of_month(START, month + 1) - dt.timedelta(days=1)
    period = Period(first_of_month(end, -2), end)
    later_spells = activity.spells(orders, as_of=end + dt.timedelta(days=later), customers=customers)
    own = kpis.overview(tables, period=period, comparison=comparison)
    read_later = kpis.overview(tables, period=period, comparison=comparison, spells=later_spells)
    assert [kpi_fields(k) for k in read_later.kpis] == [kpi_fields(k, approx=True) for k in own.kpis]
    assert_frame_equal(kpis.monthly_series(tables, end=end, spells=later_spells), kpis.monthly_series(tables, end=end))


def test_spells_worked_example(as_input):
    """Window 90, as of 2024-12-31: purchases 1 Jan, 1 Mar (59 days apart: one spell), 1 Aug (153
    days after 1 Mar: a reactivation), and a refund on 15 Oct (no purchase). Spell 1 lapses on
    1 Mar + 91 = 31 May; spell 2 on 1 Aug + 91 = 31 Oct. Active on 30 May: yes; on 31 May: no."""
    orders = pl.DataFrame({
        "customer_id": ["a"] * 4,
        "order_date": [dt.datetime(2024, 1, 1), dt.datetime(2024, 3, 1), dt.datetime(2024, 8, 1), dt.datetime(2024, 10, 15)],
        "amount": [10.0, 10.0, 10.0, -10.0],
    })  # fmt: skip
    orders = as_input(orders)
    sp = activity.spells(orders, as_of=dt.date(2024, 12, 31))
    assert sp.select("spell", "start", "lapse").rows() == [
        (1, dt.date(2024, 1, 1), dt.date(2024, 5, 31)), (2, dt.date(2024, 8, 1), dt.date(2024, 10, 31))]  # fmt: skip
    assert activity.active_on(sp, dt.date(2024, 5, 30)) == 1 and activity.active_on(sp, dt.date(2024, 5, 31)) == 0
    # as of 15 October the second lapse is not known yet: the spell is running
    assert activity.spells(orders, as_of=dt.date(2024, 10, 15)).get_column("lapse").to_list() == [dt.date(2024, 5, 31), None]


def test_a_churn_date_ends_the_spell_it_falls_in(as_input):
    """Window 90: bought 1 Jan; churn date 10 Feb (a contract ended) → lapse 10 Feb, not 1 Apr."""
    orders = pl.DataFrame({"customer_id": ["a"], "order_date": [dt.datetime(2024, 1, 1)], "amount": [5.0]})
    customers = pl.DataFrame({"customer_id": ["a"], "churn_date": [dt.date(2024, 2, 10)]})
    sp = activity.spells(as_input(orders), as_of=dt.date(2024, 6, 30), customers=as_input(customers))
    assert sp.get_column("lapse").to_list() == [dt.date(2024, 2, 10)]


def test_nrr_is_year_over_year_worked_example(as_input):
    """P = Q2 2024, B = Q2 2023. a bought 100 in B and 60 in P, with a refund of 10 in P (net 50);
    b 50 in B and nothing in P; f 25 in B with a refund of 5 (net 20) and nothing in P; c only in P
    (new, not retained); d only in Q1 2024 (not in B); e only a refund in B (no purchase, so not a
    buyer of B) and 30 in P; an order without a customer id in both (nobody's).
    NRR = (50 + 0 + 0) / (100 + 50 + 20) = 50 / 170 = 29.41 %, over 3 customers."""
    D = dt.datetime
    orders = pl.DataFrame({
        "customer_id": ["a", "a", "a", "b", "c", "d", "e", "e", None, None, "f", "f"],
        "order_date": [D(2023, 5, 1), D(2024, 5, 2), D(2024, 6, 1), D(2023, 6, 1), D(2024, 4, 3), D(2024, 2, 2),
                       D(2023, 5, 5), D(2024, 5, 5), D(2023, 5, 1), D(2024, 5, 1), D(2023, 4, 1), D(2023, 6, 30)],
        "amount": [100.0, 60.0, -10.0, 50.0, 999.0, 70.0, -20.0, 30.0, 40.0, 40.0, 25.0, -5.0],
    })  # fmt: skip
    out = kpis.nrr(as_input(orders), Period(dt.date(2024, 4, 1), dt.date(2024, 6, 30)))
    assert out.value == pytest.approx(100 * 50 / 170)
    assert (out.customers, out.revenue_now, out.revenue_base) == (3, 50.0, 170.0)
    assert out.base == Period(dt.date(2023, 4, 1), dt.date(2023, 6, 30))


# --- the full CDNOW log (issue 13, "Done when") ------------------------------------------------------
@pytest.fixture(scope="module")
def cdnow() -> pl.DataFrame:
    text = gzip.decompress((FIXTURES / "cdnow_master" / "CDNOW_master.txt.gz").read_bytes()).decode()
    rows = [line.split() for line in text.splitlines()[1:] if line.strip()]
    return pl.DataFrame({
        "customer_id": [r[0] for r in rows],
        "order_date": [dt.datetime.strptime(r[1], "%Y%m%d") for r in rows],
        "amount": [float(r[3]) for r in rows],
    })  # fmt: skip


def _independent_month(orders: pl.DataFrame, month: dt.date, window: int = 90) -> tuple[int, int]:
    """Day-by-day, customer by customer, in plain Python: active on the day before the month (a
    purchase in the 90 days to it), and of those, how many have a day in the month with no
    purchase in the 90 days to it (they lapsed)."""
    by_customer: dict[str, list[dt.date]] = {}
    for cid, when in orders.select("customer_id", pl.col("order_date").dt.date()).iter_rows():
        by_customer.setdefault(cid, []).append(when)
    eve = month - dt.timedelta(days=1)
    last = (month.replace(day=28) + dt.timedelta(days=4)).replace(day=1) - dt.timedelta(days=1)

    def active(days: list[dt.date], d: dt.date) -> bool:
        return any(d - dt.timedelta(days=window) <= p <= d for p in days)

    at_start = churned = 0
    for days in by_customer.values():
        if not active(days, eve):
            continue
        at_start += 1
        d = month
        while d <= last:
            if not active(days, d):
                churned += 1
                break
            d += dt.timedelta(days=1)
    return churned, at_start


def test_cdnow_1997_months_are_the_same_at_the_end_of_1997_and_mid_1998(cdnow):
    then = retention.monthly_churn(cdnow, as_of=dt.date(1997, 12, 31))
    now = retention.monthly_churn(cdnow, as_of=dt.date(1998, 6, 30))
    assert_frame_equal(then, now.filter(pl.col("month") <= dt.date(1997, 12, 1)))
    december = then.filter(pl.col("month") == dt.date(1997, 12, 1)).row(0, named=True)
    assert december["active_at_start"] == 4_134


@pytest.mark.parametrize("month", [dt.date(1997, 4, 1), dt.date(1997, 12, 1), dt.date(1998, 5, 1)])
def test_cdnow_monthly_churn_equals_an_independent_point_in_time_count(cdnow, month):
    out = retention.monthly_churn(cdnow, as_of=dt.date(1998, 6, 30)).filter(pl.col("month") == month).row(0, named=True)
    assert (out["churned"], out["active_at_start"]) == _independent_month(cdnow, month)


def test_cdnow_q2_1998_churn_kpi_counts_the_customers_active_on_31_march(cdnow):
    result = kpis.overview({"orders": cdnow.with_columns(order_id=pl.int_range(pl.len()).cast(pl.String))},
                           period=Period(dt.date(1998, 4, 1), dt.date(1998, 6, 30)))  # fmt: skip
    churn = result.get("churn_rate")
    assert churn.denominator == 3_831
    assert result.get("active_customers").previous == 3_831  # active on 31 March, the comparison's end


def test_cdnow_q2_1998_nrr_is_q2_1997_buyers_revenue(cdnow):
    q2_97 = cdnow.filter(pl.col("order_date").dt.date().is_between(dt.date(1997, 4, 1), dt.date(1997, 6, 30)))
    buyers = q2_97.filter(pl.col("amount") >= 0).get_column("customer_id").unique()
    q2_98 = cdnow.filter(pl.col("order_date").dt.date().is_between(dt.date(1998, 4, 1), dt.date(1998, 6, 30)))
    expected = 100 * q2_98.filter(pl.col("customer_id").is_in(buyers.implode())).get_column("amount").sum() / q2_97.filter(
        pl.col("customer_id").is_in(buyers.implode())).get_column("amount").sum()  # fmt: skip
    assert kpis.nrr(cdnow, Period(dt.date(1998, 4, 1), dt.date(1998, 6, 30))).value == pytest.approx(expected)


def test_the_churn_backtest_reads_what_was_known_a_year_ago(sample_tables):
    """The rate is the last complete month's as computed a year before the as-of date; the actual
    share is counted from the spells known now: of the customers active then, those whose spell
    lapsed by now."""
    as_of = dt.date(2026, 6, 30)
    test = retention.churn_backtest(sample_tables["orders"], as_of=as_of, customers=sample_tables["customers"])
    then = dt.date(2025, 6, 30)
    past = retention.monthly_churn(sample_tables["orders"], as_of=then, customers=sample_tables["customers"])
    assert test["as_of_then"] == then and test["monthly_rate"] == past.filter(~pl.col("partial")).row(-1, named=True)["churn_rate"]
    assert test["predicted_share"] == pytest.approx(1 - (1 - test["monthly_rate"]) ** 12)
    now = activity.spells(sample_tables["orders"], as_of=as_of, customers=sample_tables["customers"])
    assert test["active_then"] == activity.active_on(now, then)
    assert 0 < test["actual_share"] < 1
    # the spells of the as-of date, handed over by a page that has them, give the same answer
    given = retention.churn_backtest(sample_tables["orders"], as_of=as_of, customers=sample_tables["customers"], spells=now)
    assert given == test
    # … and so do the purchase days of the as-of date in place of the orders (the page's Context)
    days = purchase_days(sample_tables["orders"], as_of=as_of)
    assert retention.churn_backtest(days, as_of=as_of, customers=sample_tables["customers"], spells=now) == test


def test_the_clv_backtest_compares_with_actual_spend(sample_tables):
    from metrics import btyd

    orders = sample_tables["orders"]
    test = btyd.clv_backtest(orders, as_of=dt.date(2026, 6, 30))
    known = orders.filter(pl.col("order_date").dt.date() <= dt.date(2025, 6, 30)).filter(pl.col("amount") >= 0)
    ids = known.get_column("customer_id").unique()
    after = orders.filter(pl.col("order_date").dt.date().is_between(dt.date(2025, 7, 1), dt.date(2026, 6, 30)))
    spent = after.filter(pl.col("customer_id").is_in(ids.implode())).get_column("amount").sum()
    assert test["customers"] == ids.len()
    assert test["actual"] == pytest.approx(spent / ids.len())
    assert abs(test["error"]) < 0.5  # the model is in the right range on the sample
    assert test["of_customers"] == test["customers"]  # fewer than btyd.CHECK_SAMPLE: every one
    # the summary a year back, from the pass that gives the page's model its own: the same check
    assert btyd.backtest_date(dt.date(2026, 6, 30)) == dt.date(2025, 6, 30)
    _, earlier = btyd.rfm_summaries(orders, as_of=[dt.date(2026, 6, 30), dt.date(2025, 6, 30)])
    assert btyd.clv_backtest(orders, as_of=dt.date(2026, 6, 30), summary=earlier) == test


def test_the_model_checks_of_many_customers_run_on_a_seeded_sample(sample_tables, monkeypatch):
    """With more customers than CHECK_SAMPLE (here lowered to 400) the holdout check and the
    backtest fit and compare that many, the same ones every run, and say of how many: the backtest
    is the model fitted on exactly those rows of the year-ago summary, its actual spend theirs."""
    from metrics import btyd
    from metrics.btyd import clv

    monkeypatch.setattr(clv, "CHECK_SAMPLE", 400)
    orders, as_of = sample_tables["orders"], dt.date(2026, 6, 30)
    test = btyd.clv_backtest(orders, as_of=as_of)
    (then,) = btyd.rfm_summaries(orders, as_of=[dt.date(2025, 6, 30)])
    assert (test["customers"], test["of_customers"]) == (400, then.height) and then.height > 1_000
    sample = then[clv.seeded_sample(then.height, 400)]
    predicted = btyd.predict_clv(sample, btyd.fit_bgnbd(sample), btyd.fit_gamma_gamma(sample), monthly_discount=0.0)
    after = orders.filter(pl.col("order_date").dt.date().is_between(dt.date(2025, 7, 1), as_of))
    spent = after.filter(pl.col("customer_id").is_in(sample.get_column("customer_id").implode())).get_column("amount").sum()
    assert test["predicted"] == pytest.approx(predicted.get_column("clv").mean(), rel=1e-12)
    assert test["actual"] == pytest.approx(spent / 400, rel=1e-12)
    assert btyd.clv_backtest(orders, as_of=as_of) == test
    calibration, summary = btyd.rfm_summaries(orders, as_of=[dt.date(2025, 12, 31), as_of])
    check = btyd.holdout_from_summaries(calibration, summary, calibration_end="2025-12-31", observation_end=as_of)
    assert (check["customers"], check["of_customers"]) == (400, calibration.height)
    assert check["by_frequency"].get_column("customers").sum() == 400


def test_active_in_a_month_counts_a_returning_customer_once(as_input):
    """Window 90. a bought 2 Jan (lapses 2 Jan + 91 = 2 Apr) and again 20 Apr: two spells touch
    April, one customer. b bought 1 Jan (lapses 1 Apr, so not active in April) and again 25 Apr.
    Active in March: a, b = 2; April: a, b = 2; August: a's second spell lapsed 20 Jul (20 Apr + 91
    = 20 Jul), b's 25 Jul → 0."""
    orders = pl.DataFrame({"customer_id": ["a", "a", "b", "b"],
                           "order_date": [dt.datetime(2024, 1, 2), dt.datetime(2024, 4, 20), dt.datetime(2024, 1, 1),
                                          dt.datetime(2024, 4, 25)], "amount": [5.0] * 4})  # fmt: skip
    sp = activity.spells(as_input(orders), as_of=dt.date(2024, 12, 31))
    months = pl.Series([dt.date(2024, 3, 1), dt.date(2024, 4, 1), dt.date(2024, 8, 1)])
    assert activity.active_in_months(sp, months).get_column("active_customers").to_list() == [2, 2, 0]
    # spells in another order than by customer and spell: the same counts
    assert activity.active_in_months(sp.reverse(), months).get_column("active_customers").to_list() == [2, 2, 0]


@settings(max_examples=40, deadline=None)
@given(purchases, st.integers(30, 600), st.integers(1, 300))
def test_complaints_per_100_never_restate_a_complete_month(rows, a_day, later):
    from metrics import satisfaction

    orders = _orders(rows)
    tickets = pl.DataFrame({"customer_id": orders.get_column("customer_id"), "category": ["complaint"] * orders.height,
                            "created_at": orders.get_column("order_date")})  # fmt: skip
    a = START + dt.timedelta(days=a_day)
    then = satisfaction.complaints_per_100(tickets, orders, as_of=a)
    now = satisfaction.complaints_per_100(tickets, orders, as_of=a + dt.timedelta(days=later))
    complete = _complete_at(then, a)
    assert_frame_equal(complete, now.join(complete.select("month"), on="month", how="semi"))


deal_rows = st.lists(
    st.tuples(st.integers(0, 600), st.one_of(st.none(), st.integers(0, 400)), st.booleans()), min_size=1, max_size=40
)  # (created day, days to close or None for never, won)


def _deals_known_on(rows, on: dt.date) -> pl.DataFrame:
    """The deals as an export taken on `on` holds them: created by then, and a deal that closes
    later still open."""
    known = []
    for i, (created, takes, won) in enumerate(rows):
        created_at = START + dt.timedelta(days=created)
        closed_at = None if takes is None else created_at + dt.timedelta(days=takes)
        if created_at > on:
            continue
        shut = closed_at is not None and closed_at <= on
        known.append((f"D{i}", created_at, closed_at if shut else None, ("won" if won else "lost") if shut else "open"))
    return pl.DataFrame(known, schema={"deal_id": pl.String, "created_date": pl.Date, "closed_date": pl.Date, "status": pl.String},
                        orient="row")  # fmt: skip


@settings(max_examples=60, deadline=None)
@given(deal_rows, st.integers(30, 700), st.integers(1, 400))
def test_the_win_rate_by_month_never_restates_a_complete_month(rows, a_day, later):
    """The Funnel's trend and the Overview's win-rate sparkline: the export of a later day B, in
    which deals open on A have since closed, gives every month complete on A the figures that A's
    export gave."""
    from metrics import funnel

    a = START + dt.timedelta(days=a_day)
    b = a + dt.timedelta(days=later)
    then = funnel.win_rate_by_month(_deals_known_on(rows, a), end=a)
    now = funnel.win_rate_by_month(_deals_known_on(rows, b), end=b)
    complete = _complete_at(then, a)
    assert_frame_equal(complete, now.join(complete.select("month"), on="month", how="semi"))
    assert complete.height == _complete_at(now, a).height

"""Overview KPIs: a hand-worked period comparison, comparison periods, changes in words."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys

import polars as pl
import pytest

from metrics import kpis
from metrics.kpis import Period

D = dt.datetime


def test_comparison_periods():
    q2 = Period(dt.date(2024, 4, 1), dt.date(2024, 6, 30))  # 91 days; Q1 2024 (leap) is 91 too
    assert kpis.comparison_period(q2) == Period(dt.date(2024, 1, 1), dt.date(2024, 3, 31))
    assert kpis.comparison_period(q2, "year") == Period(dt.date(2023, 4, 1), dt.date(2023, 6, 30))
    leap = Period(dt.date(2024, 2, 29), dt.date(2024, 2, 29))
    assert kpis.comparison_period(leap, "year").start == dt.date(2023, 2, 28)
    with pytest.raises(ValueError):
        kpis.comparison_period(q2, "quarter")


def test_overview_hand_worked_example(as_input):
    """Period = February 2024, a whole month: previous = January 2024 (METRICS.md, "Periods and
    dates"). Window 90 days.
    Orders: a Jan 10 (100), Feb 5 (150); b Jan 20 (50); c Feb 10 (70); d Dec 1 2023 (40).
    Revenue: Feb 150 + 70 = 220; Jan 100 + 50 = 150.
    New: Feb {c} = 1; Jan {a, b} = 2. Active at Feb 29: a, b, c (d last bought 90 days before
    Feb 29? Dec 1 → Feb 29 = 90 days: not more than 90 → still active) = 4.
    Deals closed in Feb: 1 won, 1 lost → 50%. Surveys in Feb: NPS 10, 9, 0 → 100 (2 − 1) / 3."""
    orders = pl.DataFrame({
        "order_id": ["1", "2", "3", "4", "5"], "customer_id": ["a", "a", "b", "c", "d"],
        "order_date": [D(2024, 1, 10), D(2024, 2, 5), D(2024, 1, 20), D(2024, 2, 10), D(2023, 12, 1)],
        "amount": [100.0, 150.0, 50.0, 70.0, 40.0],
    })  # fmt: skip
    deals = pl.DataFrame({
        "deal_id": ["x", "y", "z"], "status": ["won", "lost", "won"],
        "closed_date": [D(2024, 2, 3), D(2024, 2, 4), D(2024, 1, 4)], "created_date": [D(2024, 1, 1)] * 3,
    })  # fmt: skip
    surveys = pl.DataFrame(
        {"responded_at": [D(2024, 2, 1)] * 3, "nps": [10, 9, 0], "csat": [5, 4, 1]}
    )
    tables = {"orders": as_input(orders), "deals": as_input(deals), "surveys": as_input(surveys)}
    result = kpis.overview(tables, period=Period(dt.date(2024, 2, 1), dt.date(2024, 2, 29)))
    assert result.comparison == Period(dt.date(2024, 1, 1), dt.date(2024, 1, 31))
    revenue = result.get("revenue")
    assert (revenue.value, revenue.previous, revenue.change) == (220.0, 150.0, 70.0)
    assert revenue.change_pct == pytest.approx(100 * 70 / 150)
    assert result.get("new_customers").value == 1 and result.get("new_customers").previous == 2
    assert result.get("active_customers").value == 4
    assert result.get("win_rate").value == 50.0 and result.get("win_rate").previous == 100.0
    assert result.get("nps").value == pytest.approx(100 / 3)
    assert result.get("csat").value == pytest.approx(200 / 3)
    ticket_kpi = result.get("first_response")
    assert ticket_kpi.value is None and "tickets" in ticket_kpi.note
    for k in result.kpis:  # "beyond noise" is the test's verdict at 5 %, and only where there is a test
        assert k.beyond_noise == (None if k.p_value is None else k.p_value < 0.05), k.key
    assert len(result.kpis) == 11


def test_a_comparison_period_before_the_first_order_has_nothing_to_compare(as_input):
    """An export of one day (17 May 2024): period 17 May, previous 16 May, before the first order.
    Revenue is 30 + 20 = 50 and 2 customers are new, but "rose from 0" would be the export's
    start, not a change: the comparison's order figures are null, with the reason. A period whose
    comparison starts on the first order day is compared: 18 May (10) against 17 May (50)."""
    orders = pl.DataFrame({
        "order_id": ["1", "2", "3"], "customer_id": ["a", "b", "a"],
        "order_date": [D(2024, 5, 17), D(2024, 5, 17), D(2024, 5, 18)], "amount": [30.0, 20.0, 10.0],
    })  # fmt: skip
    tables = {"orders": as_input(orders)}
    result = kpis.overview(tables, period=Period(dt.date(2024, 5, 17), dt.date(2024, 5, 17)))
    revenue, new = result.get("revenue"), result.get("new_customers")
    assert (revenue.value, revenue.previous, revenue.p_value, new.value, new.previous) == (50.0, None, None, 2, None)
    assert "before the first order (17 May 2024)" in revenue.note
    churn = result.get("churn_rate")  # no value: its own reason, not the comparison's
    assert churn.value is None and churn.note == "nobody was active on 16 May 2024, the day before the period"
    assert all(k.previous is None for k in result.kpis) and kpis.top_changes(result) == []
    later = kpis.overview(tables, period=Period(dt.date(2024, 5, 18), dt.date(2024, 5, 18)))
    assert (later.get("revenue").value, later.get("revenue").previous) == (10.0, 50.0)
    # a slice whose customers came later: the dataset's first order day decides, so "from 0" holds
    sliced = kpis.overview(tables, period=Period(dt.date(2024, 5, 17), dt.date(2024, 5, 17)), first_order=dt.date(2024, 5, 1))
    assert (sliced.get("revenue").previous, sliced.get("new_customers").previous) == (0.0, 0)
    # the monthly series the same way: April is before the data (null, not 0); May holds the
    # first order (60 = 30 + 20 + 10, a and b new) but its day before, 30 April, does not (active
    # at its start unknown); on 31 May a and b are active, and June has no order (0, a real 0)
    months = kpis.monthly_series(tables, end=dt.date(2024, 6, 30), months=3)
    assert months.select("revenue", "new_customers", "active_customers").rows() == [
        (None, None, None), (60.0, 2, None), (0.0, 0, 2)]  # fmt: skip


def test_an_overview_without_changes_says_why(as_input):
    """No change to tell has four reasons, each said: the comparison starts before the first
    order (a one-day export: 17 May, compared with 16 May); every figure compared is unchanged;
    the comparison period has no data; no figure can be computed at all. It used to say the
    third for all of them."""
    import dataclasses

    orders = pl.DataFrame({"order_id": ["1", "2"], "customer_id": ["a", "b"],
                           "order_date": [D(2024, 5, 17), D(2024, 5, 17)], "amount": [30.0, 20.0]})  # fmt: skip
    early = kpis.overview({"orders": as_input(orders)}, period=Period(dt.date(2024, 5, 17), dt.date(2024, 5, 17)))
    assert kpis.top_changes(early) == []
    assert kpis.why_no_changes(early) == "Nothing to compare: the comparison period starts before the first order (17 May 2024)."
    same = dataclasses.replace(early, kpis=[dataclasses.replace(k, previous=k.value, note="") for k in early.kpis])
    assert kpis.top_changes(same) == []
    assert kpis.why_no_changes(same) == "Nothing changed: every figure compared is as it was in the comparison period."
    empty = dataclasses.replace(early, kpis=[dataclasses.replace(k, previous=None, note="") for k in early.kpis])
    assert kpis.why_no_changes(empty) == "Nothing to compare: the comparison period has no data."
    # a customers-only export (IBM's Telco churn data): no figure at all, which is not an empty
    # comparison period
    customers = pl.DataFrame({"customer_id": ["a", "b"], "signup_date": [D(2024, 1, 5), D(2024, 3, 1)]})
    nothing = kpis.overview({"customers": as_input(customers)}, period=Period(dt.date(2024, 4, 1), dt.date(2024, 6, 30)))
    assert all(k.value is None for k in nothing.kpis)
    assert kpis.why_no_changes(nothing) == "Nothing to compare: none of the Overview's figures can be computed from this data."


def test_nrr_without_buyers_a_year_before_says_why(as_input):
    """Orders from March 2024 on; the period is April-June 2024, so NRR's base (April-June 2023)
    has no buyer: no value, and the reason names the base period (the card said "—" alone)."""
    orders = pl.DataFrame({"order_id": ["1", "2"], "customer_id": ["a", "b"],
                           "order_date": [D(2024, 3, 5), D(2024, 5, 2)], "amount": [30.0, 20.0]})  # fmt: skip
    result = kpis.overview({"orders": as_input(orders)}, period=Period(dt.date(2024, 4, 1), dt.date(2024, 6, 30)))
    nrr = result.get("nrr")
    assert nrr.value is None and nrr.note == "no customer bought in 01 Apr 2023 – 30 Jun 2023, a year before"


def test_overview_win_rate_dates_lost_deals_as_the_funnel_does(as_input):
    """A HubSpot export leaves lost deals without a close date. Period March 2024 (previous:
    February). x won, closed 5 March; y lost, no close date, last stage entered 10 March → closes
    10 March; z lost, no close date, no history, created 2 Feb → closes 2 Feb. March: 1 won of 2
    closed → 50 % (without the dating: 1 of 1, 100 %); February: z alone → 0 of 1 → 0 %. The
    monthly series reads the same: 50 % in March, 0 % in February."""
    deals = pl.DataFrame({
        "deal_id": ["x", "y", "z"], "status": ["won", "lost", "lost"],
        "created_date": [D(2024, 1, 9), D(2024, 1, 5), D(2024, 2, 2)], "closed_date": [D(2024, 3, 5), None, None],
    })  # fmt: skip
    history = pl.DataFrame({"deal_id": ["y", "y"], "entered_at": [D(2024, 1, 5), D(2024, 3, 10)]})
    tables = {"deals": as_input(deals), "stage_history": as_input(history)}
    result = kpis.overview(tables, period=Period(dt.date(2024, 3, 1), dt.date(2024, 3, 31)))
    rate = result.get("win_rate")
    assert (rate.value, rate.previous, rate.numerator, rate.denominator) == (50.0, 0.0, 1, 2)
    months = kpis.monthly_series(tables, end=dt.date(2024, 3, 31), months=2)  # deals alone: a CRM export
    assert months.get_column("win_rate").to_list() == [0.0, 50.0]
    assert months.get_column("partial").to_list() == [False, False]
    assert kpis.monthly_series(tables, end=dt.date(2024, 3, 30), months=2).get_column("partial").to_list() == [False, True]


def test_overview_on_sample_and_top_changes(sample_tables):
    result = kpis.overview(sample_tables, period=Period(dt.date(2026, 4, 1), dt.date(2026, 6, 30)))
    assert {k.key for k in result.kpis} == {
        "revenue", "active_customers", "new_customers", "churn_rate", "nrr", "avg_ltv", "ltv_cac",
        "win_rate", "nps", "csat", "first_response",
    }  # fmt: skip
    assert all(k.value is not None for k in result.kpis)
    sentences = kpis.top_changes(result)
    assert len(sentences) == 3 and all(" from " in s and "news" in s for s in sentences)
    series = kpis.monthly_series(sample_tables, end=dt.date(2026, 6, 30))
    assert series.height == 12 and series["month"].is_sorted()


def test_overview_reads_given_purchase_days_as_its_own(sample_tables):
    """Purchase days handed in (as the Overview's view hands the shared ones) give the same KPIs;
    days that stop before the periods' end are not used (the KPIs still equal)."""
    from metrics.purchase_days import purchase_days

    period = Period(dt.date(2026, 4, 1), dt.date(2026, 6, 30))
    own = kpis.overview(sample_tables, period=period)
    for as_of in (dt.date(2026, 6, 30), dt.date(2026, 5, 31)):
        given = kpis.overview(sample_tables, period=period, days=purchase_days(sample_tables["orders"], as_of=as_of))
        # equal to the last digits Polars' parallel sums leave to chance (NRR's sums vary in the 15th)
        assert [k.key for k in given.kpis] == [k.key for k in own.kpis]
        assert [v for k in given.kpis for v in (k.value, k.previous)] == pytest.approx([v for k in own.kpis for v in (k.value, k.previous)], rel=1e-12)


def test_metrics_package_imports_neither_streamlit_nor_plotly():
    code = (
        "import sys, metrics.funnel, metrics.retention, metrics.ltv, metrics.satisfaction, "
        "metrics.segments, metrics.churn, metrics.kpis, metrics.stats; "
        "print([m for m in sys.modules if m.split('.')[0] in ('streamlit', 'plotly')])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_command_line_prints_the_same_numbers(sample_tables):
    """python -m metrics: the same functions from a shell (here: the funnel of the sample)."""
    import io

    from metrics import funnel
    from metrics.__main__ import main

    out = subprocess.run([sys.executable, "-m", "metrics", "funnel", "--csv"], capture_output=True, text=True, check=True)
    csv = out.stdout.split("# funnel\n")[1].split("\n\n")[0]
    shown = pl.read_csv(io.StringIO(csv))
    expected = funnel.stage_funnel(sample_tables["deals"], stages=list(shown["stage"]), stage_history=sample_tables["stage_history"])
    assert shown["reached"].to_list() == expected["reached"].to_list()
    assert main(["segments", "--csv"]) == 0


def test_monthly_series_service_figures_equal_the_kpis_of_that_month(sample_tables):
    """Each month's win rate, NPS, CSAT and median first response in the sparkline series is the
    Overview KPI with that month as the period (here May 2026, and the partial last month)."""
    series = kpis.monthly_series(sample_tables, end=dt.date(2026, 6, 20))
    for start, end in ((dt.date(2026, 5, 1), dt.date(2026, 5, 31)), (dt.date(2026, 6, 1), dt.date(2026, 6, 20))):
        month = series.filter(pl.col("month") == start).row(0, named=True)
        result = kpis.overview(sample_tables, period=kpis.Period(start, end))
        for key in ("win_rate", "nps", "csat", "first_response"):
            assert month[key] == pytest.approx(result.get(key).value, rel=1e-12), key


def test_monthly_nps_can_be_negative():
    """January: scores 10, 3, 2 → 1 promoter, 2 detractors of 3 → (1 − 2) / 3 × 100 = −33.3.
    February: no answers → null, never 0. CSAT in January: 5, 4, 1 → 2 of 3 → 66.7%."""
    surveys = pl.DataFrame({
        "customer_id": ["C1", "C2", "C3"],
        "responded_at": [dt.datetime(2025, 1, 10)] * 3,
        "nps": [10, 3, 2],
        "csat": [5, 4, 1],
    })  # fmt: skip
    orders = pl.DataFrame({"order_id": ["O1"], "customer_id": ["C1"], "order_date": [dt.datetime(2025, 1, 2)], "amount": [10.0]})
    series = kpis.monthly_series({"orders": orders, "surveys": surveys}, end=dt.date(2025, 2, 28), months=2)
    assert series.get_column("nps").to_list()[0] == pytest.approx(-100 / 3)
    assert series.get_column("nps").to_list()[1] is None
    assert series.get_column("csat").to_list()[0] == pytest.approx(200 / 3)


@pytest.mark.parametrize(
    "start, end, mode, expected",
    [
        # whole calendar months compare with whole calendar months (not 31 Dec – 31 Mar)
        ("2026-04-01", "2026-06-30", "previous", ("2026-01-01", "2026-03-31")),
        ("2024-03-01", "2024-03-31", "previous", ("2024-02-01", "2024-02-29")),
        ("2024-01-01", "2024-12-31", "previous", ("2023-01-01", "2023-12-31")),
        ("2024-02-01", "2024-02-29", "year", ("2023-02-01", "2023-02-28")),
        # other periods: the same number of days just before, or the same dates a year earlier
        ("2026-04-10", "2026-04-19", "previous", ("2026-03-31", "2026-04-09")),
        ("2024-02-29", "2024-03-10", "year", ("2023-02-28", "2023-03-10")),
    ],
)
def test_comparison_periods_follow_metrics_md(start, end, mode, expected):
    period = kpis.Period(dt.date.fromisoformat(start), dt.date.fromisoformat(end))
    other = kpis.comparison_period(period, mode)
    assert (other.start.isoformat(), other.end.isoformat()) == expected


def test_every_kpi_is_said_once_in_the_catalogue(sample_tables):
    """Each KPI's label and unit come from kpis.CATALOGUE; a missing table says which one."""
    result = kpis.overview(sample_tables, period=Period(dt.date(2026, 4, 1), dt.date(2026, 6, 30)))
    assert [k.key for k in result.kpis] == list(kpis.CATALOGUE)
    for k in result.kpis:
        spec = kpis.CATALOGUE[k.key]
        assert (k.label, k.unit) == (spec.label, spec.unit)
    bare = kpis.overview({"deals": sample_tables["deals"]}, period=Period(dt.date(2026, 4, 1), dt.date(2026, 6, 30)))
    assert bare.get("nps").note == "load the surveys table to see this"


@pytest.mark.parametrize("unit, value, text", [("count", 1234.0, "1,234"), ("percent", 12.345, "12.3%"),
                                                ("points", 7.25, "+7.2"), ("ratio", 3.456, "3.46×"), ("hours", 5.04, "5.0 h")])  # fmt: skip
def test_a_kpi_is_written_one_way_on_cards_and_in_sentences(unit, value, text):
    from dashboard.components.kpi_cards import format_value

    kpi = kpis.Kpi("x", "X", unit, value, None)
    assert kpis.value_text(unit, value) == format_value(kpi, value, "USD") == text


@pytest.mark.parametrize(("day", "months", "expected"), [
    (dt.date(2026, 6, 30), -12, dt.date(2025, 6, 30)),  # a year back: same day
    (dt.date(2024, 3, 31), -1, dt.date(2024, 2, 29)),  # February 2024 has 29 days: its last day
    (dt.date(2025, 3, 31), -1, dt.date(2025, 2, 28)),  # and 28 in 2025
    (dt.date(2025, 12, 31), 2, dt.date(2026, 2, 28)),  # forward across a year
    (dt.date(2026, 1, 15), -13, dt.date(2024, 12, 15)),  # back across two year ends
])  # fmt: skip
def test_calendar_month_steps(day, months, expected):
    """add_months keeps the day and clamps it to a shorter month; first_of_month steps from the
    first of day's month (15 Jan 2026, −13 → 1 Dec 2024)."""
    from metrics.stats import add_months, first_of_month

    assert add_months(day, months) == expected
    assert first_of_month(day, months) == expected.replace(day=1)


def test_a_question_the_surveys_never_ask_gives_no_card_but_a_reason(as_input):
    """Olist's reviews: a 1–5 score, no NPS. NPS used to show a card reading "—" with no word of
    why; now it is left out with its reason, as a missing table is. CSAT in Q2 2024: 4 and 5 of
    the three answers 4, 5, 2 → 2/3 = 66.7 %. A question answered only outside the period says
    that instead."""
    surveys = pl.DataFrame({
        "response_id": ["1", "2", "3", "4"], "customer_id": ["a", "b", "c", "a"],
        "responded_at": [D(2024, 4, 2), D(2024, 5, 3), D(2024, 6, 4), D(2024, 1, 9)],
        "nps": pl.Series([None, None, None, None], dtype=pl.Int64), "csat": [4, 5, 2, 3],
    })  # fmt: skip
    q2 = Period(dt.date(2024, 4, 1), dt.date(2024, 6, 30))
    result = kpis.overview({"surveys": as_input(surveys)}, period=q2)
    nps, csat = result.get("nps"), result.get("csat")
    assert (nps.value, nps.note) == (None, "the surveys hold no NPS answers")
    assert round(csat.value, 1) == 66.7 and csat.note == ""
    asked_in_january = surveys.with_columns(nps=pl.when(pl.col("response_id") == "4").then(9))
    result = kpis.overview({"surveys": as_input(asked_in_january)}, period=q2)
    assert (result.get("nps").value, result.get("nps").note) == (None, "no NPS answers in the period")


def test_a_figure_without_a_value_says_why(as_input):
    """Two customers, each buying once on 17 May 2024, the period that day: nobody was active on
    16 May, so no churn rate (0 lapsed of 0), and simple LTV = margin / churn has nothing to divide
    by; with an acquisition cost, LTV:CAC says it has no LTV. With a customer active before it
    (c, 1 May) and nobody lapsing, the LTV says that instead."""
    orders = pl.DataFrame({"order_id": ["1", "2"], "customer_id": ["a", "b"],
                           "order_date": [D(2024, 5, 17), D(2024, 5, 17)], "amount": [30.0, 20.0]})  # fmt: skip
    customers = pl.DataFrame({"customer_id": ["a", "b", "c"], "acquisition_cost": [5.0, 5.0, 5.0]})
    day = Period(dt.date(2024, 5, 17), dt.date(2024, 5, 17))
    result = kpis.overview({"orders": as_input(orders), "customers": as_input(customers)}, period=day)
    assert result.get("churn_rate").note == "nobody was active on 16 May 2024, the day before the period"
    assert result.get("avg_ltv").note == "no churn rate to divide by, as nobody was active on the day before the period"
    assert result.get("ltv_cac").note.startswith("no average LTV: no churn rate to divide by")
    earlier = pl.concat([orders, pl.DataFrame({"order_id": ["3"], "customer_id": ["c"], "order_date": [D(2024, 5, 1)],
                                               "amount": [10.0]})])  # fmt: skip
    result = kpis.overview({"orders": as_input(earlier), "customers": as_input(customers)}, period=day)
    assert result.get("churn_rate").value == 0.0
    assert result.get("avg_ltv").note == "no churn rate to divide by, as no customer lapsed in the period"

"""metrics.purchase_days: the shared table of each customer's purchase days, by hand."""

import datetime as dt

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from metrics import activity, btyd
from metrics.purchase_days import purchase_days, range_totals

ORDERS = pl.DataFrame({
    "customer_id": ["A", "A", "A", "A", "B", None],
    "order_date": [dt.datetime(2024, 1, 1, 9), dt.datetime(2024, 1, 1, 17), dt.datetime(2024, 1, 3),
                   dt.datetime(2024, 1, 3, 12), dt.datetime(2024, 1, 2), dt.datetime(2024, 1, 1)],
    "amount": [10.0, 5.0, 7.5, -2.0, 4.0, 99.0],
})  # fmt: skip


def rows(days):
    return days.table.select("customer_id", "day", "amount").with_columns(pl.col("customer_id").cast(pl.String)).rows()


def test_orders_of_a_day_are_one_purchase_day_and_refunds_none(as_input):
    """A: 10.00 + 5.00 on 1 Jan → one day of 15.00; 3 Jan: 7.50 (the −2.00 refund is not a
    purchase). B: 4.00 on 2 Jan. The order without a customer is nobody's. Day numbers count from
    1970-01-01: 1 Jan 2024 is day 19,723. Results come back in the orders' own id type."""
    orders = as_input(ORDERS)
    days = purchase_days(orders, as_of=dt.date(2024, 1, 3))
    assert sorted(rows(days)) == [("A", 19723, 15.0), ("A", 19725, 7.5), ("B", 19724, 4.0)]
    assert days.id_type == orders.collect_schema()["customer_id"]
    # the customer's code is the Categorical id's own, ascending, not a column of its own
    assert days.table.columns == ["customer_id", "day", "amount", "orders"]
    assert (np.diff(days.codes().astype(np.int64)) >= 0).all() and days.table.n_chunks() == 1


def test_upto_keeps_the_days_known_then_and_refuses_the_future():
    """As of 2 Jan A has one day (15.00) and B one; 3 Jan is not known yet."""
    days = purchase_days(ORDERS, as_of=dt.date(2024, 1, 3))
    assert sorted(rows(days.upto(dt.date(2024, 1, 2)))) == [("A", 19723, 15.0), ("B", 19724, 4.0)]
    assert rows(days.upto(dt.date(2024, 1, 2))) == rows(purchase_days(ORDERS, as_of=dt.date(2024, 1, 2)))
    with pytest.raises(ValueError, match="cannot tell"):
        days.upto(dt.date(2024, 1, 4))


def test_days_before_1970_and_far_ahead_keep_their_order():
    """Decades-old dates: day numbers are negative before 1970 and must still sort within the
    customer (1955-03-01 is day −5,420; 2030-01-01 is day 21,915)."""
    orders = pl.DataFrame({
        "customer_id": ["old", "old", "old"],
        "order_date": [dt.date(2030, 1, 1), dt.date(1955, 3, 1), dt.date(1969, 12, 31)],
        "amount": [1.0, 2.0, 3.0],
    })  # fmt: skip
    days = purchase_days(orders, as_of=dt.date(2030, 1, 1))
    assert rows(days) == [("old", -5420, 2.0), ("old", -1, 3.0), ("old", 21915, 1.0)]
    (summary,) = btyd.rfm_summaries(days, as_of=[dt.date(2030, 1, 1)], unit="D")
    # first 1955-03-01, last 2030-01-01: recency = 21,915 + 5,420 days; repeat days 3.0 and 1.0
    assert summary.row(0, named=True) == {
        "customer_id": "old", "frequency": 2, "recency": 27335.0, "T": 27335.0, "monetary_value": 2.0,
    }  # fmt: skip


def test_summaries_and_spells_read_the_same_from_days_as_from_orders(as_input):
    """Either input gives the same frames (the page passes the days it shares)."""
    orders = as_input(ORDERS)
    days = purchase_days(orders, as_of=dt.date(2024, 1, 3))
    for as_of in ([dt.date(2024, 1, 2), dt.date(2024, 1, 3)], [dt.date(2024, 1, 3)]):
        for a, b in zip(btyd.rfm_summaries(days, as_of=as_of), btyd.rfm_summaries(orders, as_of=as_of), strict=True):
            assert a.equals(b)
    assert activity.spells(days, as_of=dt.date(2024, 1, 2)).equals(activity.spells(orders, as_of=dt.date(2024, 1, 2)))
    # the days the pages share are untouched
    assert days.table.equals(purchase_days(orders, as_of=dt.date(2024, 1, 3)).table)


def test_orders_in_any_order_give_the_same_days(as_input):
    """Orders already by customer and day (as CDNOW's log) are taken in their order; any other
    order is sorted first. ORDERS is in that order; reversed it is not: the same days either way
    (A: 15.00 on 1 Jan and 7.50 on 3 Jan; B: 4.00 on 2 Jan)."""
    def days(orders):
        table = purchase_days(as_input(orders), as_of=dt.date(2024, 1, 3)).table
        return sorted(table.select(pl.col("customer_id").cast(pl.String), "day", "amount", "orders").rows())

    assert days(ORDERS) == days(ORDERS.reverse()) == [("A", 19723, 15.0, 2), ("A", 19725, 7.5, 1), ("B", 19724, 4.0, 1)]


@settings(max_examples=100, deadline=None)
@given(st.lists(st.floats(min_value=-1e6, max_value=1e6), min_size=1, max_size=60), st.data())
def test_range_totals_are_each_range_summed_alone(values, data):
    """Each range's sum is the one its values give on their own, whatever lies around them (the
    edges between ranges, the range that runs to the end, empty ranges)."""
    values = np.array(values)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(values)), min_size=2, max_size=12)))
    begin, end = np.array(cuts[0::2][: len(cuts) // 2]), np.array(cuts[1::2][: len(cuts) // 2])
    expected = [np.add.reduceat(values[b:e].copy(), [0])[0] if e > b else 0.0 for b, e in zip(begin, end, strict=True)]
    assert range_totals(values, begin, end).tolist() == expected


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.sampled_from("ABC"), st.integers(0, 60), st.floats(0.01, 1e5)), min_size=1, max_size=80),
       st.integers(0, 60))  # fmt: skip
def test_a_summary_at_an_earlier_date_is_the_one_computed_then(rows, cut):
    """The RFM summary at an earlier date, read off purchase days to a later one, equals the
    summary computed from the orders known then, to the last bit (customers with many purchase
    days included: their repeat spend is summed over the same values either way)."""
    orders = pl.DataFrame(
        {"customer_id": [r[0] for r in rows], "order_date": [dt.date(2024, 1, 1) + dt.timedelta(days=r[1]) for r in rows],
         "amount": [r[2] for r in rows]}  # fmt: skip
    )
    earlier, later = dt.date(2024, 1, 1) + dt.timedelta(days=cut), dt.date(2024, 3, 1)
    then, now = btyd.rfm_summaries(purchase_days(orders, as_of=later), as_of=[earlier, later])
    alone = btyd.rfm_summary(orders.filter(pl.col("order_date") <= earlier), as_of=earlier)
    assert then.equals(alone)
    assert now.equals(btyd.rfm_summary(orders, as_of=later))

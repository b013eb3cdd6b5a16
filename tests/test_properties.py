"""Invariants as hypothesis properties (DESIGN.md): retention in [0, 1], funnel counts never rise,
segment sizes sum to the customer count, NPS in [−100, 100], results invariant to row order."""

from __future__ import annotations

import datetime as dt

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from metrics import funnel, retention, satisfaction, segments
from metrics.purchase_days import purchase_days

AS_OF = dt.date(2024, 12, 31)
START = dt.datetime(2023, 1, 1)

order_rows = st.lists(
    st.tuples(
        st.sampled_from(["a", "b", "c", "d", "e", "f", "g"]),
        st.integers(min_value=0, max_value=730),
        st.floats(min_value=-50, max_value=1_000, allow_nan=False).map(lambda x: round(x, 2)),
    ),
    min_size=0,
    max_size=60,
)


def _orders(rows) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "customer_id": [r[0] for r in rows],
            "order_date": [START + dt.timedelta(days=r[1], hours=r[1] % 7) for r in rows],
            "amount": [r[2] for r in rows],
        },
        schema={"customer_id": pl.String, "order_date": pl.Datetime("us"), "amount": pl.Float64},
    )


@settings(max_examples=60, deadline=None)
@given(order_rows, st.randoms(use_true_random=False))
def test_cohort_retention_in_unit_interval_and_order_invariant(rows, rng):
    orders = _orders(rows)
    out = retention.cohort_retention(orders, as_of=AS_OF)
    assert out["retention"].drop_nulls().is_between(0, 1).all()
    assert (out.filter(pl.col("period") == 0)["retention"] == 1.0).all()
    shuffled = orders.sample(fraction=1.0, shuffle=True, seed=rng.randint(0, 10**6))
    assert_frame_equal(out, retention.cohort_retention(shuffled.lazy(), as_of=AS_OF))


@settings(max_examples=60, deadline=None)
@given(order_rows, st.integers(min_value=0, max_value=730))
def test_cohort_cells_equal_a_plain_count(rows, cut):
    """Every cell against a count in plain Python, as of a day inside the data (later orders left
    out): cohort = month of the first purchase (amount ≥ 0); active = cohort members with a
    purchase in the month; revenue = all their money in the month, refunds included. Per group
    (a, c, e in "x", the rest in "y"), the pooled groups give the same matrix."""
    as_of = (START + dt.timedelta(days=cut)).date()
    orders = _orders(rows)
    known = [(c, START + dt.timedelta(days=d, hours=d % 7), a) for c, d, a in rows if (START + dt.timedelta(days=d)).date() <= as_of]
    month = lambda when: (when.year, when.month)  # noqa: E731
    cohort = {}
    for c, when, a in known:
        if a >= 0:
            cohort[c] = min(cohort.get(c, month(when)), month(when))
    expected = {}
    for c, when, a in known:
        if c in cohort and month(when) >= cohort[c]:
            cell = expected.setdefault((cohort[c], month(when)), [set(), 0.0])
            cell[1] += a
            if a >= 0:
                cell[0].add(c)
    out = retention.cohort_retention(orders, as_of=as_of, basis="both")
    sizes = {m: sum(1 for v in cohort.values() if v == m) for m in set(cohort.values())}
    for r in out.iter_rows(named=True):
        key = (month(r["cohort"]), month(r["cohort"] + dt.timedelta(days=31 * r["period"])))
        active, revenue = expected.pop(key, [set(), 0.0])
        assert (r["cohort_size"], r["active"]) == (sizes[key[0]], len(active))
        assert abs(r["revenue"] - revenue) < 1e-6
    assert not expected  # every cell with a purchase or money is in the matrix
    groups = pl.DataFrame({"customer_id": list("abcdefg"), "group": list("xyxyxyy")})
    per_group = retention.cohort_retention(orders, as_of=as_of, basis="both", customers=groups, by="group")
    assert_frame_equal(retention.pooled(per_group, by="group", basis="both"), out, check_exact=False)


@settings(max_examples=60, deadline=None)
@given(order_rows, st.randoms(use_true_random=False))
def test_segment_sizes_sum_to_customer_count_and_order_invariant(rows, rng):
    orders = _orders(rows)
    out = segments.rfm_segments(orders, as_of=AS_OF)
    # every customer with a purchase (a refund is none) to the as-of date is in exactly one segment
    purchases = orders.filter((pl.col("order_date").dt.date() <= AS_OF) & (pl.col("amount") >= 0))
    customers = purchases["customer_id"].n_unique()
    summary = segments.segment_summary(out)
    assert summary["customers"].sum() == customers == out.height
    assert out["segment"].null_count() == 0
    for score in ("r_score", "f_score", "m_score"):
        assert out[score].is_between(1, 5).all()
    shuffled = orders.sample(fraction=1.0, shuffle=True, seed=rng.randint(0, 10**6))
    assert_frame_equal(out, segments.rfm_segments(shuffled, as_of=AS_OF), rel_tol=1e-9)
    # read off the purchase days (as the Segments page does, sharing them with the other pages)
    days = purchase_days(shuffled, as_of=AS_OF + dt.timedelta(days=30))
    assert_frame_equal(out, segments.rfm_segments(shuffled, as_of=AS_OF, days=days), rel_tol=1e-9)


STAGES = ["Lead", "Qualified", "Proposal", "Won"]
deal_rows = st.lists(
    st.tuples(
        st.sampled_from(STAGES + ["Other"]),
        st.sampled_from(["open", "won", "lost"]),
        st.sampled_from(["x", "y"]),
    ),
    max_size=40,
)


@settings(max_examples=80, deadline=None)
@given(
    deal_rows,
    st.lists(st.tuples(st.integers(0, 39), st.sampled_from(STAGES)), max_size=30),
    st.randoms(use_true_random=False),
)
def test_funnel_counts_never_rise_and_order_invariant(deal_rows, history_rows, rng):
    deals = pl.DataFrame(
        {"deal_id": [f"d{i}" for i in range(len(deal_rows))], "stage": [r[0] for r in deal_rows],
         "status": [r[1] for r in deal_rows], "owner": [r[2] for r in deal_rows]},
        schema={"deal_id": pl.String, "stage": pl.String, "status": pl.String, "owner": pl.String},
    )  # fmt: skip
    history = pl.DataFrame(
        {"deal_id": [f"d{i}" for i, _ in history_rows], "stage": [s for _, s in history_rows]},
        schema={"deal_id": pl.String, "stage": pl.String},
    )
    for by in (None, "owner"):
        out = funnel.stage_funnel(deals, stages=STAGES, stage_history=history, by=by)
        groups = out.partition_by(by) if by else [out]
        for group in groups:
            reached = group["reached"].to_list()
            assert all(
                later <= earlier for earlier, later in zip(reached, reached[1:], strict=False)
            )
            assert group["overall_conversion"].drop_nulls().is_between(0, 1).all()
    shuffled = deals.sample(fraction=1.0, shuffle=True, seed=rng.randint(0, 10**6))
    assert_frame_equal(
        funnel.stage_funnel(deals, stages=STAGES, stage_history=history),
        funnel.stage_funnel(shuffled.lazy(), stages=STAGES, stage_history=history.lazy()),
    )


@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.one_of(st.none(), st.integers(0, 10)), max_size=200),
    st.randoms(use_true_random=False),
)
def test_nps_within_bounds_and_order_invariant(values, rng):
    rate = satisfaction.nps(values)
    if rate.value is None:
        assert all(v is None for v in values)
        return
    assert -100 <= rate.ci_low <= rate.value <= rate.ci_high <= 100
    shuffled = list(values)
    rng.shuffle(shuffled)
    assert satisfaction.nps(shuffled) == rate


@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.datetimes(min_value=dt.datetime(1960, 1, 1), max_value=dt.datetime(2040, 12, 31)), max_size=30),
    st.sampled_from(["date", "ns", "us", "ms", "Europe/Berlin"]),
    st.none() | st.dates(min_value=dt.date(1959, 12, 1), max_value=dt.date(2041, 1, 31)),
    st.none() | st.dates(min_value=dt.date(1959, 12, 1), max_value=dt.date(2041, 1, 31)),
)
def test_a_filter_by_days_keeps_the_rows_whose_day_is_within(stamps, kind, start, end):
    """stats.days_within compares timestamps with midnights instead of casting each to its day:
    the rows kept are exactly those whose day (day(), the cast) lies from start through end, for
    dates, naive timestamps of every unit (midnight and the last microsecond of a day included)
    and zoned ones (whose days are their zone's)."""
    from metrics.stats import day, days_within

    edges = [dt.datetime.combine(d, t) for d in (start, end) if d for t in (dt.time(0), dt.time(23, 59, 59, 999999))]
    column = pl.Series("at", stamps + edges, dtype=pl.Datetime("us"))
    if kind == "date":
        column = column.cast(pl.Date)
    elif kind == "Europe/Berlin":
        column = column.dt.replace_time_zone("UTC").dt.convert_time_zone(kind)
    else:
        column = column.cast(pl.Datetime(kind))
    frame = column.to_frame()
    cast = pl.lit(True)
    if start:
        cast &= day("at") >= start
    if end:
        cast &= day("at") <= end
    assert frame.filter(days_within(frame, "at", start, end)).equals(frame.filter(cast))
    assert frame.lazy().filter(days_within(frame.lazy(), "at", start, end)).collect().equals(frame.filter(cast))

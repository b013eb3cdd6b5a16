"""Point-in-time activity (METRICS.md, "Point in time"): each customer's active spells, from which
every figure about a past day is read — active customers on a day, monthly churn, a period's churn
rate, reactivations — using only what was known on that day, so a past month never changes when
later orders arrive.

A customer is active on day d when they have a purchase in [d − window, d] and no churn_date ≤ d.
A spell starts with a purchase made while not active and runs while purchases follow each other
within the window; it lapses on its last purchase + window + 1 day (or on the churn_date, when that
comes first). A spell after the first is a reactivation. A lapse after the as-of date is not known
yet: such a spell is still running (lapse null).
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl

from metrics.purchase_days import PurchaseDays, purchase_days
from metrics.stats import Frame, as_date, coded, lazy, month_start, wilson_exprs

_SPELLS = {"spell": pl.Int64, "start": pl.Date, "last": pl.Date, "lapse": pl.Date}  # + customer_id as given


def spells(
    orders: Frame | PurchaseDays,
    *,
    as_of: dt.date | dt.datetime | str,
    churn_window_days: int = 90,
    customers: Frame | None = None,
) -> pl.DataFrame:
    """orders (+ customers' churn_date) → customer_id, spell (1, 2, …), start, last (its last
    purchase), lapse (the first day no longer active; null while still active at the as-of date),
    by customer and spell (customers in the order of their ids' codes, not by text). `orders` may
    be their purchase days (metrics.purchase_days) to the as-of date or later. `customers` gives
    the churn dates, where it has them.

    Only purchases (amount ≥ 0) on or before the as-of date count; a churn_date after the as-of date
    is not known yet. Worked example (window 90, as of 2024-12-31): purchases on 1 Jan and 1 Mar
    (59 days apart: one spell), then 1 Aug (153 days after 1 Mar: a new spell) → spell 1 from 1 Jan,
    last 1 Mar, lapse 1 Mar + 91 days = 31 May; spell 2 from 1 Aug, lapse 1 Aug + 91 = 31 Oct.

    >>> orders = pl.DataFrame({"customer_id": ["a"] * 3, "amount": [10.0] * 3,
    ...     "order_date": [dt.date(2024, 1, 1), dt.date(2024, 3, 1), dt.date(2024, 8, 1)]})
    >>> for row in spells(orders, as_of="2024-12-31").iter_rows():
    ...     print(*row)
    a 1 2024-01-01 2024-03-01 2024-05-31
    a 2 2024-08-01 2024-08-01 2024-10-31
    """
    end = as_date(as_of)
    days = orders if isinstance(orders, PurchaseDays) else purchase_days(orders, as_of=end)
    days = days.upto(end)
    code, d = pl.col("customer_id").to_physical(), pl.col("day")
    # on rows sorted by customer and day, a spell starts at a customer's first day or after a gap
    # longer than the window (a purchase on the would-be lapse day, last + window + 1, keeps the
    # customer active), and ends on the row before the next start
    first = (code != code.shift(1)).fill_null(True)
    marked = days.table.lazy().with_columns(first=first, new=first | ((d - d.shift(1)) > churn_window_days + 1))
    begins = marked.filter("new").select(
        "customer_id", "first", start=d.cast(pl.Date), row=pl.int_range(pl.len(), dtype=pl.Int64)
    )
    finishes = marked.filter(pl.col("new").shift(-1, fill_value=True)).select(last=d.cast(pl.Date))
    out = pl.concat([begins, finishes], how="horizontal").select(
        "customer_id", "start", "last", spell=pl.col("row") - pl.when("first").then("row").forward_fill() + 1
    )
    natural = pl.col("last") + dt.timedelta(days=churn_window_days + 1)
    if customers is not None and "churn_date" in lazy(customers).collect_schema().names():
        known = coded(lazy(customers).select("customer_id", "churn_date").filter(pl.col("churn_date") <= end))
        out = out.join(known, on="customer_id", how="left", maintain_order="left")
        natural = pl.when(pl.col("churn_date").is_between(pl.col("start"), natural)).then(pl.col("churn_date")).otherwise(natural)
    spells_frame = out.select("customer_id", "spell", "start", "last", lapse=pl.when(natural <= end).then(natural))
    return days.with_ids(spells_frame.collect().cast(_SPELLS))


def active_on_day(when: dt.date) -> pl.Expr:
    """True for the spells running on day `when`: started by then and not lapsed by then."""
    return (pl.col("start") <= when) & (pl.col("lapse").is_null() | (pl.col("lapse") > when))


def active_on(spells_frame: pl.DataFrame, when: dt.date) -> int:
    """How many customers are active on day `when` (a spell started and not yet lapsed)."""
    return int(spells_frame.select(active_on_day(when).sum()).item())


def period_churn(spells_frame: pl.DataFrame, start: dt.date, end: dt.date) -> tuple[int, int]:
    """(churned, active at start) for the period [start, end]: the customers active on the day
    before it, and how many of them lapse during it. A rate needs the period complete at the
    spells' as-of date (a lapse after it is not known yet)."""
    at_start = spells_frame.filter(active_on_day(start - dt.timedelta(days=1)))
    churned = at_start.filter(pl.col("lapse").is_not_null() & (pl.col("lapse") <= end)).height
    return churned, at_start.height


def first_purchases(spells_frame: pl.DataFrame) -> pl.DataFrame:
    """customer_id, first_purchase: the start of each customer's first spell."""
    return spells_frame.filter(pl.col("spell") == 1).select("customer_id", first_purchase=pl.col("start"))


def monthly(spells_frame: pl.DataFrame, *, as_of: dt.date | dt.datetime | str) -> pl.DataFrame:
    """→ month, active_at_start, churned, churn_rate, ci_low, ci_high, reactivated, partial, from
    the first purchase month to the as-of month.

    active_at_start: active on the day before the month; churned: those of them who lapse during
    the month; reactivated: spells after a customer's first that start in the month; partial: the
    month is not complete at the as-of date (its figures cover the days to it only)."""
    end = as_date(as_of)
    schema = {"month": pl.Date, "active_at_start": pl.Int64, "churned": pl.Int64, "churn_rate": pl.Float64,
              "ci_low": pl.Float64, "ci_high": pl.Float64, "reactivated": pl.Int64, "partial": pl.Boolean}  # fmt: skip
    if spells_frame.is_empty():
        return pl.DataFrame(schema=schema)
    first = spells_frame.get_column("start").min()
    months = pl.DataFrame(
        {"month": pl.date_range(first.replace(day=1), end.replace(day=1), "1mo", eager=True)}
    )
    # months as integers (year × 12 + month): four counts over the spells in one pass
    def index(column: str) -> pl.Expr:
        return pl.col(column).dt.year().cast(pl.Int64) * 12 + pl.col(column).dt.month().cast(pl.Int64) - 1

    marks = spells_frame.lazy().select(
        started=index("start"), lapsed=index("lapse"), again=pl.col("spell") > 1
    )
    counts = [
        marks.group_by(month="started").agg(started=pl.len()),
        marks.filter(pl.col("lapsed").is_not_null()).group_by(month="lapsed").agg(lapsed=pl.len()),
        # a spell that starts and lapses in one month was never active at a month's start
        marks.filter(pl.col("started") == pl.col("lapsed")).group_by(month="lapsed").agg(same=pl.len()),
        marks.filter("again").group_by(month="started").agg(reactivated=pl.len()),
    ]
    table = months.with_columns(key=index("month")).lazy()
    for frame in pl.collect_all(counts):
        table = table.join(frame.lazy(), left_on="key", right_on="month", how="left").drop("month_right", strict=False)
    table = (
        table.collect()
        .sort("month")
        .with_columns(pl.col("started", "lapsed", "same", "reactivated").fill_null(0).cast(pl.Int64))
        .with_columns(
            active_at_start=(pl.col("started").cum_sum() - pl.col("started"))
            - (pl.col("lapsed").cum_sum() - pl.col("lapsed")),
            churned=pl.col("lapsed") - pl.col("same"),
        )
    )
    month_end = pl.col("month").dt.offset_by("1mo") - pl.duration(days=1)
    return (
        table.with_columns(
            churn_rate=pl.when(pl.col("active_at_start") > 0).then(pl.col("churned") / pl.col("active_at_start")),
            partial=month_end > pl.lit(end),
        )
        .with_columns(wilson_exprs("churned", "active_at_start"))
        .select(list(schema))
        .cast(schema)
    )


def active_in_months(spells_frame: pl.DataFrame, months: pl.Series) -> pl.DataFrame:
    """→ month, active_customers: customers active on at least one day of each month (a spell
    started by its last day and not lapsed before its first). Point in time like the rest: a
    complete month's count does not change when later orders arrive. A customer who lapses and
    comes back within one month is one customer."""

    month_starts = months.to_numpy().astype("datetime64[D]")
    month_ends = months.dt.offset_by("1mo").to_numpy().astype("datetime64[D]") - np.timedelta64(1, "D")
    starts = np.sort(spells_frame.get_column("start").to_numpy().astype("datetime64[D]"))
    lapses = spells_frame.get_column("lapse").drop_nulls().to_numpy().astype("datetime64[D]")
    started = np.searchsorted(starts, month_ends, side="right")
    gone = np.searchsorted(np.sort(lapses), month_starts, side="right")
    # the second spell of a customer who came back in the month the first lapsed counts once.
    # spells() gives them by customer and spell, so each spell after the first follows its
    # predecessor: a plain shift (a window over the ids took 1.1 s of 1.7 at a million customers);
    # spells in any other order are sorted so first
    ordered = spells_frame.select(
        ((pl.col("spell") == 1) | ((pl.col("customer_id") == pl.col("customer_id").shift(1))
                                   & (pl.col("spell") == pl.col("spell").shift(1) + 1))).all()
    ).item()  # fmt: skip
    in_order = spells_frame if ordered else spells_frame.sort("customer_id", "spell")
    again = in_order.with_columns(previous=pl.col("lapse").shift(1)).filter(
        (pl.col("spell") > 1)
        & (month_start(pl.col("previous")) == month_start(pl.col("start")))
        & (pl.col("previous") > month_start(pl.col("start")))  # the first spell reached into the month
    )
    twice = again.group_by(month=month_start(pl.col("start"))).agg(twice=pl.len().cast(pl.Int64))
    return (
        pl.DataFrame({"month": months, "active_customers": (started - gone).astype(np.int64)})
        .join(twice, on="month", how="left")
        .select("month", active_customers=pl.col("active_customers") - pl.col("twice").fill_null(0))
    )

"""The RFM summary of the BTYD literature (frequency, recency, T, monetary value per customer),
from the orders or from their purchase days (metrics.purchase_days)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import numpy as np
import polars as pl

from metrics.purchase_days import PurchaseDays, day_number, purchase_days, range_totals
from metrics.stats import DAYS_PER_MONTH, Frame, as_date, canonical, lazy, sorted_by_id

UNIT_DAYS = {"D": 1.0, "W": 7.0, "M": DAYS_PER_MONTH}


def days_per_unit(unit: str) -> float:
    try:
        return UNIT_DAYS[unit]
    except KeyError:
        raise ValueError(f"unit must be one of {sorted(UNIT_DAYS)}, not {unit!r}") from None


# ---------------------------------------------------------------- RFM summary (BTYD convention)


def rfm_summary(
    orders: Frame,
    *,
    as_of: dt.date | dt.datetime | str,
    unit: str = "W",
    customer_id: str = "customer_id",
    order_date: str = "order_date",
    amount: str = "amount",
) -> pl.DataFrame:
    """orders (customer_id, order_date, amount) → customer_id, frequency, recency, T, monetary_value.

    Purchases on or before `as_of` are grouped into purchase days (several orders on one day are
    one purchase, their amounts summed). frequency = purchase days after the first; recency = days
    from the first to the last purchase day / unit; T = days from the first purchase day to `as_of`
    / unit; monetary_value = mean day total of the repeat purchase days (null when frequency is 0).
    Units: "D" days, "W" weeks (days / 7, as the published CDNOW summary), "M" months (days /
    30.4375). Refunds (negative amounts) are not purchases and are left out.
    """
    renames = {"customer_id": customer_id, "order_date": order_date, "amount": amount}
    return rfm_summaries(canonical(orders, renames), as_of=[as_of], unit=unit)[0]


def rfm_summaries(
    orders: Frame | PurchaseDays, *, as_of: Sequence[dt.date | dt.datetime | str], unit: str = "W"
) -> list[pl.DataFrame]:
    """The RFM summaries (as rfm_summary) at several as-of dates, from one pass over the orders:
    the holdout check needs them at the end of the calibration and of the observation period.
    `orders` may be their purchase days (metrics.purchase_days) to the latest of the dates or later,
    when the caller has them.

    From the purchase days, sorted by customer and day, each customer's figures are read off their
    run of rows up to each as-of date: the first day, the last day, how many days, and the amount
    of those after the first (the repeat purchases). The runs are found once: a customer's days up
    to an earlier date are the start of their run (the days ascend), so each date only counts them
    and sums that part of the run (nothing of the ten million rows is copied per date).
    """
    unit_days = days_per_unit(unit)
    ends = [as_date(value) for value in as_of]
    if not ends:
        return []
    days = orders if isinstance(orders, PurchaseDays) else purchase_days(orders, as_of=max(ends))
    days.known_by(max(ends))
    runs = days.per_customer()
    every_count = runs.get_column("days").to_numpy().astype(np.int64)
    starts = np.cumsum(every_count) - every_count  # each customer's first row
    day = days.table.get_column("day").to_numpy()
    amount = days.table.get_column("amount").to_numpy()
    first = runs.get_column("first").to_numpy()
    # the runs come in code order; where that is the ids' text order (stats.sorted_by_id), so is
    # every summary, a subset of them in the same order: checked once, not once per date
    in_text_order = runs.get_column("customer_id").cast(pl.String).is_sorted()
    summaries = []
    for end in ends:
        cut = day_number(end)
        if cut >= day_number(days.as_of):
            count, last, keep = every_count, runs.get_column("last").to_numpy(), None
        else:
            count = np.add.reduceat(day <= cut, starts, dtype=np.int64) if len(starts) else every_count
            last = day[starts + np.maximum(count, 1) - 1]
            keep = count > 0  # a customer whose first purchase comes later is not in it
        # the repeat days' amounts (the run's rows after the first, up to the date) summed in
        # NumPy, range by range (range_totals): Polars' parallel sums add a customer's days in an
        # order that varies from run to run (the last digit moved)
        repeat = range_totals(amount, starts + 1, starts + count)
        frequency = count - 1
        table = runs.select("customer_id").with_columns(
            frequency=pl.Series(frequency, dtype=pl.Int64),
            # divided in NumPy too: Polars divides by a constant through its reciprocal on some
            # paths and not on others (186 days / 7 came out as 26.571428571428573 or …57)
            recency=pl.Series((last - first) / unit_days, dtype=pl.Float64),
            T=pl.Series((cut - first) / unit_days, dtype=pl.Float64),
            monetary_value=pl.Series(repeat / np.maximum(frequency, 1), dtype=pl.Float64),
        ).with_columns(monetary_value=pl.when(pl.col("frequency") > 0).then("monetary_value"))
        if keep is not None:
            table = table.filter(pl.Series(keep))
        table = table if in_text_order else sorted_by_id(table)
        summaries.append(days.with_ids(table))
    return summaries


def float_columns(summary: Frame, *names: str) -> list[np.ndarray]:
    frame = lazy(summary).select(names).collect()
    return [frame.get_column(n).cast(pl.Float64).to_numpy() for n in names]


def row_weights(summary: Frame, column: str | None, rows: int) -> np.ndarray:
    """How many customers each row of a summary stands for: its `column`, or one each."""
    if column is None:
        return np.ones(rows)
    (weights,) = float_columns(summary, column)
    if not (np.isfinite(weights).all() and (weights >= 0).all()):
        raise ValueError(f"the weights in {column!r} must be finite and not negative")
    return weights

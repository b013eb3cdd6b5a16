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

import polars as pl

from metrics.stats import PURCHASE, Frame, as_date, day, lazy, month_start, wilson_exprs

_SPELLS = {"spell": pl.Int64, "start": pl.Date, "last": pl.Date, "lapse": pl.Date}  # + customer_id as given


def spells(
    orders: Frame,
    *,
    as_of: dt.date | dt.datetime | str,
    churn_window_days: int = 90,
    customers: Frame | None = None,
) -> pl.DataFrame:
    """orders (+ customers' churn_date) → customer_id, spell (1, 2, …), start, last (its last
    purchase), lapse (the first day no longer active; null while still active at the as-of date).

    Only purchases (amount ≥ 0) on or before the as-of date count; a churn_date after the as-of date
    is not known yet. Worked example (window 90, as of 2024-12-31): purchases on 1 Jan and 1 Mar
    (59 days apart: one spell), then 1 Aug (153 days after 1 Mar: a new spell) → spell 1 from 1 Jan,
    last 1 Mar, lapse 1 Mar + 91 days = 31 May; spell 2 from 1 Aug, lapse 1 Aug + 91 = 31 Oct.
    """
    end = as_date(as_of)
    window = churn_window_days
    days = (
        lazy(orders)
        .filter(PURCHASE & (day("order_date") <= end))
        .select("customer_id", d=day("order_date"))
        .unique()
        .sort("customer_id", "d")
    )
    gap = (pl.col("d") - pl.col("d").shift(1).over("customer_id")).dt.total_days()
    out = (
        # a purchase on the would-be lapse day (last + window + 1) keeps the customer active
        days.with_columns(new=gap.is_null() | (gap > window + 1))
        .with_columns(spell=pl.col("new").cum_sum().over("customer_id").cast(pl.Int64))
        .group_by("customer_id", "spell")
        .agg(start=pl.col("d").min(), last=pl.col("d").max())
        .with_columns(natural=pl.col("last") + dt.timedelta(days=window + 1))
    )
    if customers is not None and "churn_date" in lazy(customers).collect_schema().names():
        known = (
            lazy(customers)
            .select("customer_id", "churn_date")
            .filter(pl.col("churn_date") <= end)
        )
        out = out.join(known, on="customer_id", how="left").with_columns(
            natural=pl.when(pl.col("churn_date").is_between(pl.col("start"), pl.col("natural")))
            .then(pl.col("churn_date"))
            .otherwise(pl.col("natural"))
        )
    return (
        out.with_columns(lapse=pl.when(pl.col("natural") <= end).then(pl.col("natural")))
        .select("customer_id", *_SPELLS)
        .sort("customer_id", "spell")
        .collect()
        .cast(_SPELLS)
    )


def active_on(spells_frame: pl.DataFrame, when: dt.date) -> int:
    """How many customers are active on day `when` (a spell started and not yet lapsed)."""
    running = (pl.col("start") <= when) & (pl.col("lapse").is_null() | (pl.col("lapse") > when))
    return int(spells_frame.select(running.sum()).item())


def period_churn(spells_frame: pl.DataFrame, start: dt.date, end: dt.date) -> tuple[int, int]:
    """(churned, active at start) for the period [start, end]: the customers active on the day
    before it, and how many of them lapse during it. A rate needs the period complete at the
    spells' as-of date (a lapse after it is not known yet)."""
    eve = start - dt.timedelta(days=1)
    at_start = spells_frame.filter(
        (pl.col("start") <= eve) & (pl.col("lapse").is_null() | (pl.col("lapse") > eve))
    )
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
    started = month_start(pl.col("start"))
    lapsed = month_start(pl.col("lapse"))

    def count(frame: pl.LazyFrame | pl.DataFrame, by: pl.Expr, name: str) -> pl.DataFrame:
        return frame.group_by(month=by).agg(pl.len().cast(pl.Int64).alias(name))

    # counts by month through cumulative sums: spells started before the month − lapsed before it
    table = (
        months.join(count(spells_frame, started, "started"), on="month", how="left")
        .join(count(spells_frame.filter(pl.col("lapse").is_not_null()), lapsed, "lapsed"), on="month", how="left")
        .join(
            # a spell that starts and lapses in one month was never active at a month's start
            count(spells_frame.filter(started == lapsed), lapsed, "same"), on="month", how="left"
        )
        .join(count(spells_frame.filter(pl.col("spell") > 1), started, "reactivated"), on="month", how="left")
        .sort("month")
        .with_columns(pl.col("started", "lapsed", "same", "reactivated").fill_null(0))
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

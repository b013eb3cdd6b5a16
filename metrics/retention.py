"""Retention: cohort matrices, churn (non-contractual and contractual), monthly churn rate,
Kaplan–Meier survival per tier with the log-rank test, and the repeat purchase rate
(METRICS.md, "Retention").

A purchase is an order with a non-negative amount: a refund says nothing about whether the
customer is still buying, so it never makes a customer "active" (its money still counts in revenue).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import polars as pl

from metrics.purchase_days import PurchaseDays, purchase_days, run_totals
from metrics.stats import (
    PURCHASE,
    Frame,
    Rate,
    add_months,
    as_date,
    canonical,
    closes_month,
    code_rows,
    coded,
    customer_code,
    days_within,
    kaplan_meier,
    lazy,
    logrank,
    months_between,
    proportion,
    sorted_by_id,
)


def _orders(orders: Frame, end: dt.date, names: dict[str, str]) -> pl.LazyFrame:
    frame = canonical(orders, names)
    return frame.filter(days_within(frame, "order_date", end=end))


def _ym(date: pl.Expr) -> pl.Expr:
    """A date's month as year × 12 + month − 1."""
    return date.dt.year().cast(pl.Int64) * 12 + date.dt.month().cast(pl.Int64) - 1


def _ym_date(column: str) -> pl.Expr:
    """year × 12 + month − 1 back to the first day of that month."""
    return pl.date(pl.col(column) // 12, pl.col(column) % 12 + 1, 1)


_NO_COHORT = np.iinfo(np.int32).min  # a customer in no cohort (cohort_by="signup": no signup date by the as-of date)


def _group_index(named: pl.DataFrame) -> tuple[np.ndarray, int, pl.DataFrame]:
    """named (code, group) → each row's group index, the index of the null group (a customer not
    in `named` is in it, as a left join would put them) and labels (group: the index, label: its
    value)."""
    values = named.get_column("group").unique(maintain_order=True)
    if not values.null_count():
        values = values.extend(pl.Series([None], dtype=values.dtype))
    labels = pl.DataFrame({"group": np.arange(values.len(), dtype=np.int32), "label": values})
    index = named.join(labels.rename({"group": "index"}), left_on="group", right_on="label", how="left", nulls_equal=True,
                       maintain_order="left").get_column("index")  # fmt: skip
    return index.to_numpy(), int(values.is_null().arg_max()), labels


def _months_of_days(days: np.ndarray) -> np.ndarray:
    """Day numbers (since 1970-01-01) → their months as year × 12 + month − 1 (Int32), looked up
    in a calendar of the days from the first to the last: a third of the time of asking each of
    ten million dates its year and month."""
    if days.size == 0:
        return np.empty(0, dtype=np.int32)
    first = int(days.min())
    calendar = pl.Series(np.arange(first, int(days.max()) + 1, dtype=np.int32)).cast(pl.Date)
    months = (calendar.dt.year().cast(pl.Int32) * 12 + calendar.dt.month().cast(pl.Int32) - 1).to_numpy()
    return months[days - first]


def _purchase_months(days: PurchaseDays) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Each customer's months with a purchase, read off the purchase days (sorted by customer and
    day, so a customer's month is a run of rows: a pass in NumPy, no hash of ten million rows).

    → purchases: code, ym, revenue (the month's purchase total), bought (True), in the days' order;
    people: code, first_ym (the month of the first purchase), one row per customer in the same
    order."""
    table = days.table
    code = days.codes()
    ym = _months_of_days(table.get_column("day").to_numpy())
    new_customer = days.first_rows()
    new_month = new_customer.copy()
    new_month[1:] |= ym[1:] != ym[:-1]
    starts = np.flatnonzero(new_month)
    month_code, month_ym = code[starts].astype(np.int64), ym[starts]  # Int64: as stats.customer_code()
    purchases = pl.DataFrame(
        {"code": month_code, "ym": month_ym, "revenue": run_totals(table.get_column("amount").to_numpy(), starts),
         "bought": np.ones(len(starts), dtype=bool)}  # fmt: skip
    )
    firsts = np.flatnonzero(new_customer[starts])  # each customer's first month row
    people = pl.DataFrame({"code": month_code[firsts], "first_ym": month_ym[firsts]})
    return purchases, people


def cohort_retention(
    orders: Frame,
    *,
    as_of: dt.date | dt.datetime | str,
    basis: str = "customers",
    customers: Frame | None = None,
    cohort_by: str = "first_order",
    by: str | None = None,
    days: PurchaseDays | None = None,
    customer_id: str = "customer_id",
    order_date: str = "order_date",
    amount: str = "amount",
) -> pl.DataFrame:
    """orders → cohort (Date, first day of the month), period, cohort_size, active, revenue,
    retention, partial; with `by` (a column of `customers`), that column first and a matrix per
    group (customers not in `customers` fall in the null group; pooled() sums the groups back to
    the matrix without `by`).

    cohort = month of the customer's first purchase (cohort_by="signup": month of signup_date from
    `customers`); period p = months since the cohort month. basis="customers": retention = cohort
    customers with ≥ 1 purchase in month c+p / cohort size (period 0 is 1 by construction).
    basis="revenue": retention = cohort revenue in month c+p / cohort revenue in month c (refunds
    net). basis="both": both, as retention and revenue_retention, from one pass over the orders.
    `days`: the orders' purchase days (metrics.purchase_days) to the as-of date or later, when the
    caller has them.
    Every cell from period 0 to the as-of month is present, with 0 where nobody bought; cells
    after the as-of month are absent — an immature cohort is never shown as churned. `partial` marks
    the as-of month when the as-of date is not its last day.
    """
    if basis not in ("customers", "revenue", "both"):
        raise ValueError(f"basis must be 'customers', 'revenue' or 'both', not {basis!r}")
    end = as_date(as_of)
    names = {"customer_id": customer_id, "order_date": order_date, "amount": amount}
    if (cohort_by == "signup" or by is not None) and customers is None:
        raise ValueError("cohort_by='signup' and by= need the customers table")
    # Each customer's months with their revenue and whether they bought: purchases read off the
    # purchase days; refunds, a few per cent of the orders, add their money to their month's
    # revenue but are no purchase.
    frame = canonical(orders, names)
    days = (days if days is not None else purchase_days(frame, as_of=end)).upto(end)
    purchases, people = _purchase_months(days)
    refunds = (
        coded(frame.filter((pl.col("amount") < 0) & days_within(frame, "order_date", end=end)))
        .select(code=customer_code(), ym=_ym(pl.col("order_date")).cast(pl.Int32), revenue=pl.col("amount").cast(pl.Float64))
        .drop_nulls("code")
        .group_by("code", "ym")
        .agg(pl.col("revenue").sum(), bought=pl.lit(False))
        .collect()
    )
    months = pl.concat([purchases, refunds.select(purchases.columns)])
    if cohort_by == "signup":
        signup = pl.col("signup_date")
        members = (
            coded(lazy(customers))
            .filter(signup.is_not_null() & (signup <= end))
            .select(code=customer_code(), cohort_ym=signup.dt.year().cast(pl.Int32) * 12 + signup.dt.month().cast(pl.Int32) - 1)
            .drop_nulls("code")
            .collect()
        )
    else:
        members = people.select("code", cohort_ym="first_ym")
    # Each customer's cohort (and group) is looked up by their integer code (stats.code_rows),
    # rather than joining six million months with a million customers; a value appended at the end
    # is what row −1, a customer not there, gets.
    code, member_code = months.get_column("code").to_numpy(), members.get_column("code").to_numpy()
    cohort_of = np.append(members.get_column("cohort_ym").to_numpy(), _NO_COHORT).astype(np.int32)
    named = coded(lazy(customers)).select(code=customer_code(), group=pl.col(by)).drop_nulls("code").collect() if by else None
    if by:
        index, null_group, labels = _group_index(named)
        group_of = np.append(index, null_group).astype(np.int32)

    def groups_of(codes: np.ndarray) -> np.ndarray:
        if named is None:
            return np.zeros(len(codes), dtype=np.int32)
        return group_of[code_rows(named.get_column("code").to_numpy(), codes)]

    monthly = (
        months.lazy()
        .with_columns(cohort_ym=pl.Series(cohort_of[code_rows(member_code, code)]), group=pl.Series(groups_of(code)))
        .filter((pl.col("cohort_ym") != _NO_COHORT) & (pl.col("ym") >= pl.col("cohort_ym")))
        .group_by("group", "cohort_ym", "ym")
        .agg(active=pl.col("bought").sum().cast(pl.Int64), revenue=pl.col("revenue").sum())
        .select("group", cohort=_ym_date("cohort_ym"), month=_ym_date("ym"), active="active", revenue="revenue")
    )
    sizes = (
        members.lazy()
        .with_columns(group=pl.Series(groups_of(member_code)))
        .group_by("group", cohort=_ym_date("cohort_ym"))
        .agg(cohort_size=pl.len().cast(pl.Int64))
    )
    groups = [by] if by else []
    if by:  # the group's own values back in place of their index
        monthly, sizes = (f.join(labels.lazy(), on="group").drop("group").rename({"label": by}) for f in (monthly, sizes))
    else:
        monthly, sizes = monthly.drop("group"), sizes.drop("group")
    end_month = dt.date(end.year, end.month, 1)
    # one row per (group, cohort, month) from the cohort month to the as-of month
    grid = sizes.with_columns(
        month=pl.date_ranges(pl.col("cohort"), pl.lit(end_month), interval="1mo")
    ).explode("month")
    cells = (
        grid.join(monthly, on=[*groups, "cohort", "month"], how="left", nulls_equal=True)
        .with_columns(pl.col("active").fill_null(0), pl.col("revenue").fill_null(0.0))
        .with_columns(period=months_between(pl.col("cohort"), pl.col("month")).cast(pl.Int64))
    )
    cells = cells.with_columns(partial=(pl.col("month") == end_month) & pl.lit(not closes_month(end)))
    return _retention_rates(cells, basis, groups)


def pooled(matrix: pl.DataFrame, *, by: str, basis: str = "customers") -> pl.DataFrame:
    """A cohort matrix per group (cohort_retention(…, by=by)) summed over its groups: the matrix
    of everyone, as cohort_retention without `by` gives it (sizes, actives and revenue add up;
    the rates are worked out again from the sums)."""
    cells = matrix.lazy().group_by("cohort", "period").agg(
        pl.col("cohort_size", "active", "revenue").sum(), pl.col("partial").first()
    )
    return _retention_rates(cells, basis, [])


def _retention_rates(cells: pl.LazyFrame, basis: str, groups: list[str]) -> pl.DataFrame:
    """Cells (groups, cohort, period, cohort_size, active, revenue, partial) → with the retention
    of `basis`, sorted. Revenue retention divides by the cohort's revenue in its first month."""
    base_revenue = pl.col("revenue").filter(pl.col("period") == 0).first().over(*groups, "cohort")
    by_customers = (pl.col("active") / pl.col("cohort_size")).cast(pl.Float64)
    by_revenue = pl.when(base_revenue != 0).then(pl.col("revenue") / base_revenue).cast(pl.Float64)
    values = {
        "customers": [by_customers.alias("retention")],
        "revenue": [by_revenue.alias("retention")],
        "both": [by_customers.alias("retention"), by_revenue.alias("revenue_retention")],
    }[basis]
    return (
        cells.with_columns(*values)
        .select(*groups, "cohort", "period", "cohort_size", "active", "revenue", *[v.meta.output_name() for v in values], "partial")
        .sort(*groups, "cohort", "period", nulls_last=True)
        .collect()
    )


def churn_status(
    orders: Frame | None,
    *,
    as_of: dt.date | dt.datetime | str,
    churn_window_days: int = 90,
    customers: Frame | None = None,
    days: PurchaseDays | None = None,
) -> pl.DataFrame:
    """orders (+ customers) → customer_id, first_purchase, last_purchase, purchases, churn_date,
    churned, contractual.

    Non-contractual churn (METRICS.md): no purchase for more than `churn_window_days` at the as-of
    date; the customer counts as churned from last purchase + window. Contractual: a churn_date on
    or before the as-of date in `customers` decides, whatever the orders say. Customers without any
    purchase (but with a churn_date) are included when `customers` is given. Orders without a
    customer id are nobody's. `days`: the orders' purchase days (metrics.purchase_days) to the
    as-of date or later, when the caller has them (the orders are then not read: None will do).
    """
    end = as_date(as_of)
    if orders is None and days is None:
        raise ValueError("churn status needs the orders or their purchase days")
    window = dt.timedelta(days=churn_window_days)
    days = (days if days is not None else purchase_days(orders, as_of=end)).upto(end)
    activity = days.with_ids(
        days.per_customer("orders").select(
            "customer_id", first_purchase=pl.col("first").cast(pl.Date), last_purchase=pl.col("last").cast(pl.Date),
            purchases="orders",
        )  # fmt: skip
    ).lazy()
    if customers is not None:
        contract = lazy(customers).select(
            "customer_id",
            known_churn=pl.when(pl.col("churn_date") <= end).then(pl.col("churn_date")),
            signup=pl.col("signup_date"),
        )
        activity = (
            contract.join(activity, on="customer_id", how="left")
            .filter(pl.col("last_purchase").is_not_null() | pl.col("known_churn").is_not_null())
            .with_columns(
                pl.coalesce("first_purchase", "signup", "known_churn").alias("first_purchase"),
                pl.col("purchases").fill_null(0),
            )
        )
    else:
        activity = activity.with_columns(known_churn=pl.lit(None, pl.Date))
    inactive_from = pl.col("last_purchase") + window
    lapsed = pl.col("last_purchase").is_not_null() & (
        (pl.lit(end) - pl.col("last_purchase")).dt.total_days() > churn_window_days
    )
    return sorted_by_id(
        activity.with_columns(
            contractual=pl.col("known_churn").is_not_null(),
            churn_date=pl.when(pl.col("known_churn").is_not_null())
            .then(pl.col("known_churn"))
            .when(lapsed)
            .then(inactive_from + dt.timedelta(days=1)),
        )
        .with_columns(churned=pl.col("churn_date").is_not_null())
        .select(
            "customer_id",
            "first_purchase",
            "last_purchase",
            "purchases",
            "churn_date",
            "churned",
            "contractual",
        )
    )


def monthly_churn(
    orders: Frame,
    *,
    as_of: dt.date | dt.datetime | str,
    churn_window_days: int = 90,
    customers: Frame | None = None,
    spells: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """→ month, active_at_start, churned, churn_rate, ci_low, ci_high, reactivated, partial: point
    in time (metrics.activity). Customers active on the day before the month; churned: those of
    them who lapse during it (their last purchase + window + 1 day, or their churn date, falls in
    it); reactivated: customers who buy again after a lapse; partial: the as-of month, not yet
    complete. A complete month's figures use only what was known at its end, so they never change
    when later orders arrive. Months run from the first purchase month to the as-of month.
    `spells`: activity.spells for the same as-of date and window, when the caller has them."""
    from metrics import activity

    if spells is None:
        spells = activity.spells(orders, as_of=as_of, churn_window_days=churn_window_days, customers=customers)
    return activity.monthly(spells, as_of=as_of)


def lifetimes_table(
    orders: Frame,
    *,
    as_of: dt.date | dt.datetime | str,
    churn_window_days: int = 90,
    customers: Frame | None = None,
    by: str | None = None,
    status: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """→ customer_id, [by,] duration (days), observed: each customer's lifetime for survival
    analysis. It starts at the first purchase; a churned customer's ends at the last purchase (or
    the churn_date when set) and is an observed event; an active customer's is censored at the
    as-of date. `status`: a churn_status result for the same as-of date and window, to reuse."""
    end = as_date(as_of)
    if status is None:
        status = churn_status(orders, as_of=end, churn_window_days=churn_window_days, customers=customers)
    ended = (
        pl.when(pl.col("contractual"))
        .then(pl.col("churn_date"))
        .when(pl.col("churned"))
        .then(pl.col("last_purchase"))
        .otherwise(pl.lit(end))
    )
    out = status.with_columns(
        duration=(ended - pl.col("first_purchase"))
        .dt.total_days()
        .clip(lower_bound=0)
        .cast(pl.Float64),
        observed=pl.col("churned"),
    )
    if by is not None:
        if customers is None:
            raise ValueError(f"survival by {by!r} needs the customers table")
        out = out.join(
            lazy(customers).select("customer_id", by).collect(), on="customer_id", how="left"
        )
        out = out.with_columns(pl.col(by).cast(pl.String).fill_null("Unknown"))
    return out.select("customer_id", *([by] if by else []), "duration", "observed")


def survival(
    orders: Frame,
    *,
    as_of: dt.date | dt.datetime | str,
    churn_window_days: int = 90,
    customers: Frame | None = None,
    by: str | None = None,
    lifetimes: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """→ [by,] days, survival, ci_low, ci_high, at_risk, events, censored: Kaplan–Meier survival of
    customer lifetimes (see `lifetimes_table`) with a 95% Greenwood band (log(−log) scale), per
    group of `by` (a customers column, e.g. tier) when given. A step function: survival at day d is
    the last row with days ≤ d. `lifetimes`: a `lifetimes_table` result to reuse."""
    life = lifetimes if lifetimes is not None else lifetimes_table(
        orders, as_of=as_of, churn_window_days=churn_window_days, customers=customers, by=by
    )
    groups = [None] if by is None else sorted(life.get_column(by).unique().to_list())
    pieces = []
    for group in groups:
        part = life if group is None else life.filter(pl.col(by) == group)
        curve = kaplan_meier(
            part.get_column("duration").to_numpy(), part.get_column("observed").to_numpy()
        )
        curve = curve.rename({"time": "days"})
        if by is not None:
            curve = curve.select(pl.lit(group, pl.String).alias(by), pl.all())
        pieces.append(curve)
    out = (
        pl.concat(pieces)
        if pieces
        else kaplan_meier(np.array([]), np.array([])).rename({"time": "days"})
    )
    return out.select(
        *([by] if by else []),
        "days",
        "survival",
        "ci_low",
        "ci_high",
        "at_risk",
        "events",
        "censored",
    )


def survival_logrank(
    orders: Frame,
    *,
    as_of: dt.date | dt.datetime | str,
    customers: Frame,
    by: str = "tier",
    churn_window_days: int = 90,
    lifetimes: pl.DataFrame | None = None,
) -> dict[str, Any]:
    """Log-rank test that customer survival is the same in every group of `by` →
    {statistic, dof, p_value, groups, observed, expected}. `lifetimes`: a `lifetimes_table`
    result to reuse."""
    life = lifetimes if lifetimes is not None else lifetimes_table(
        orders, as_of=as_of, churn_window_days=churn_window_days, customers=customers, by=by
    )
    return logrank(
        life.get_column("duration").to_numpy(),
        life.get_column("observed").to_numpy(),
        life.get_column(by),
    )


def repeat_purchase_rate(
    orders: Frame, *, as_of: dt.date | dt.datetime | str | None = None
) -> Rate:
    """Customers with ≥ 2 purchases / customers with ≥ 1 purchase (orders up to the as-of date)."""
    frame = lazy(orders).filter(PURCHASE)
    if as_of is not None:
        frame = frame.filter(days_within(frame, "order_date", end=as_date(as_of)))
    counts = (
        frame.group_by("customer_id")
        .agg(n=pl.len())
        .select(buyers=pl.len(), repeaters=(pl.col("n") >= 2).sum())
        .collect()
    )
    buyers, repeaters = counts.item(0, "buyers"), counts.item(0, "repeaters") or 0
    return proportion(
        repeaters, buyers, definition="customers with ≥ 2 orders / customers with ≥ 1 order"
    )


def churn_backtest(
    orders: Frame | PurchaseDays,
    *,
    as_of: dt.date | dt.datetime | str,
    churn_window_days: int = 90,
    customers: Frame | None = None,
    months: int = 12,
    spells: pl.DataFrame | None = None,
) -> dict[str, object] | None:
    """How far to trust the churn rate: the monthly churn rate as it read a year before the as-of
    date (its last complete month then), the share of the customers active then that it implied
    would lapse within `months` months (1 − (1 − rate)^months), and the share that did lapse by the
    as-of date. None when the data do not reach back far enough. `spells`: activity.spells for the
    same as-of date and window, when the caller has them (the rate as it read then is always
    computed from the spells as of then: later purchases must not reach it). `orders` may be
    their purchase days (metrics.purchase_days) to the as-of date or later.

    → as_of_then, month_then, monthly_rate, active_then, predicted_share, lapsed, actual_share."""
    from metrics import activity

    end = as_date(as_of)
    then = add_months(end, -months)
    past = activity.spells(orders, as_of=then, churn_window_days=churn_window_days, customers=customers)
    complete = activity.monthly(past, as_of=then).filter(~pl.col("partial") & pl.col("churn_rate").is_not_null())
    if complete.is_empty():
        return None
    last = complete.row(-1, named=True)
    now = spells if spells is not None else activity.spells(orders, as_of=end, churn_window_days=churn_window_days,
                                                            customers=customers)  # fmt: skip
    # of the customers active on the day `then`, those who lapsed by the as-of date
    lapsed, active = activity.period_churn(now, then + dt.timedelta(days=1), end)
    if not active:
        return None
    return {
        "as_of_then": then, "month_then": last["month"], "monthly_rate": last["churn_rate"], "active_then": active,
        "predicted_share": 1 - (1 - last["churn_rate"]) ** months, "lapsed": lapsed, "actual_share": lapsed / active,
    }  # fmt: skip

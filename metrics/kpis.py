"""The Overview figures for a period and its comparison period, each with its change and whether
that change is beyond noise (a two-sided test at 5%), plus monthly series for sparklines and the
largest changes in words.

Tests used for "beyond noise": rates (churn, win rate, CSAT) — two-proportion z-test; NPS — its
standard error (METRICS.md); revenue — the compound-Poisson variance Σ amount²; customer counts —
Poisson; net revenue retention — the delta-method standard error of a ratio of sums; median first response — Mood's median
test on the answered tickets. Average LTV and LTV:CAC combine several estimates; no test is claimed
for them (beyond_noise is None).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

import numpy as np
import polars as pl

from metrics import activity, funnel, ltv, satisfaction
from metrics.domain import Period
from metrics.purchase_days import PurchaseDays, purchase_days
from metrics.schema import DatasetSettings
from metrics.stats import (
    PURCHASE,
    Z95,
    Frame,
    closes_month,
    day,
    days_within,
    difference_p,
    first_of_month,
    kaplan_meier,
    km_quantile,
    lazy,
    month_start,
    two_proportion_p,
)

ALPHA = 0.05


def whole_months(period: Period) -> int | None:
    """How many calendar months the period spans when it is made of whole ones, else None."""
    if period.start.day != 1 or not closes_month(period.end):
        return None
    return (period.end.year - period.start.year) * 12 + period.end.month - period.start.month + 1


def comparison_period(period: Period, mode: str = "previous") -> Period:
    """The period to compare with (METRICS.md, "Periods and dates"): "previous" — the same number
    of whole calendar months just before when the period is whole months (Apr–Jun → Jan–Mar),
    else the same number of days just before; "year" — the same dates one year earlier (29
    February becomes 28 February; whole months stay whole months)."""
    if mode not in ("previous", "year"):
        raise ValueError(f"comparison must be 'previous' or 'year', not {mode!r}")
    months = whole_months(period)
    if months is not None:
        shift = 12 if mode == "year" else months
        start = first_of_month(period.start, -shift)
        return Period(start, first_of_month(start, months) - dt.timedelta(days=1))
    if mode == "year":

        def back(d: dt.date) -> dt.date:
            try:
                return d.replace(year=d.year - 1)
            except ValueError:
                return d.replace(year=d.year - 1, day=28)

        return Period(back(period.start), back(period.end))
    end = period.start - dt.timedelta(days=1)
    return Period(end - dt.timedelta(days=period.days - 1), end)


@dataclass(frozen=True)
class Kpi:
    key: str
    label: str
    unit: str  # currency, count, percent, points, ratio, hours
    value: float | None
    previous: float | None
    p_value: float | None = None
    definition: str = ""
    numerator: float | None = None
    denominator: float | None = None
    note: str = ""

    @property
    def change(self) -> float | None:
        if self.value is None or self.previous is None:
            return None
        return self.value - self.previous

    @property
    def change_pct(self) -> float | None:
        if self.change is None or not self.previous:
            return None
        return 100 * self.change / abs(self.previous)

    @property
    def beyond_noise(self) -> bool | None:
        return None if self.p_value is None else self.p_value < ALPHA


@dataclass(frozen=True)
class KpiSpec:
    """What a KPI is, said once: its label, unit, definition, the table it needs and whether a
    fall is good news."""

    key: str
    label: str
    unit: str  # currency, count, percent, points, ratio, hours
    definition: str
    needs: str  # the table without which it cannot be computed
    lower_is_better: bool = False


CATALOGUE: dict[str, KpiSpec] = {spec.key: spec for spec in (
    KpiSpec("revenue", "Revenue", "currency", "Σ order amounts in the period (refunds net)", "orders"),
    KpiSpec("active_customers", "Active customers", "count",
            "customers with a purchase in the churn window to the period's last day and no churn date by then", "orders"),
    KpiSpec("new_customers", "New customers", "count", "customers whose first order falls in the period", "orders"),
    KpiSpec("churn_rate", "Churn rate", "percent", "customers active on the day before the period who lapsed during it "
            "(no purchase for the churn window, or their churn date) / customers active on that day", "orders", True),
    KpiSpec("nrr", "Net revenue retention", "percent", "revenue in the period from the customers who bought in the "
            "same dates a year earlier / their revenue then (year over year)", "orders"),
    KpiSpec("avg_ltv", "Average LTV", "currency", "average monthly margin per active customer / monthly churn rate", "orders"),
    KpiSpec("ltv_cac", "LTV:CAC", "ratio", "average LTV / mean acquisition cost of the period's new customers", "orders"),
    KpiSpec("win_rate", "Win rate", "percent", "won / (won + lost) deals closed in the period", "deals"),
    KpiSpec("nps", "NPS", "points", "% promoters (9–10) − % detractors (0–6)", "surveys"),
    KpiSpec("csat", "CSAT", "percent", "responses of 4 or 5 / all responses", "surveys"),
    KpiSpec("first_response", "Median first response", "hours",
            "median hours to the first response (open tickets censored)", "tickets", True),
)}  # fmt: skip
LOWER_IS_BETTER = {key for key, spec in CATALOGUE.items() if spec.lower_is_better}


def _kpi(key: str, value: float | None, previous: float | None, p_value: float | None = None, *,
         definition: str = "", numerator: float | None = None, denominator: float | None = None, note: str = "") -> Kpi:  # fmt: skip
    """A KPI of the catalogue; `definition` replaces the catalogue's where it names this data's
    particulars (the churn window, the base period of NRR)."""
    spec = CATALOGUE[key]
    return Kpi(key, spec.label, spec.unit, value, previous, p_value, definition or spec.definition, numerator, denominator, note)


def _missing(key: str, note: str = "") -> Kpi:
    """A KPI this data cannot give, saying what it needs."""
    return _kpi(key, None, None, note=note or f"load the {CATALOGUE[key].needs} table to see this")


@dataclass
class Overview:
    period: Period
    comparison: Period
    kpis: list[Kpi] = field(default_factory=list)
    # the activity spells the KPIs read (as of the period end, or the later day of those handed in)
    spells: pl.DataFrame | None = field(default=None, repr=False)

    def get(self, key: str) -> Kpi:
        return next(k for k in self.kpis if k.key == key)


def first_order_day(orders: Frame) -> dt.date | None:
    """The day of the first order (refunds included): where the order data begin."""
    return lazy(orders).select(pl.col("order_date").min().cast(pl.Date)).collect().item()  # the first one's day: one cast


def _orders_in(orders: pl.LazyFrame, p: Period) -> pl.LazyFrame:
    return orders.filter(days_within(orders, "order_date", p.start, p.end))


def _revenue(orders: pl.LazyFrame, p: Period) -> tuple[float, float]:
    row = (
        _orders_in(orders, p)
        .select(total=pl.col("amount").sum(), squares=(pl.col("amount") ** 2).sum())
        .collect()
        .row(0)
    )
    return float(row[0] or 0.0), math.sqrt(row[1] or 0.0)


def _poisson_p(a: float, b: float) -> float | None:
    if a + b == 0:
        return None
    return difference_p(a, math.sqrt(a), b, math.sqrt(b))


def _customer_counts(spells: pl.DataFrame, p: Period) -> dict[str, int]:
    """Point in time (metrics.activity), from spells as of the period end: active on its last day,
    new (first purchase in the period), active on the day before it and how many of those lapsed
    during it."""
    churned, at_start = activity.period_churn(spells, p.start, p.end)
    first = activity.first_purchases(spells).get_column("first_purchase")
    return {
        "active": activity.active_on(spells, p.end), "new": int(first.is_between(p.start, p.end).sum()),
        "at_start": at_start, "churned": churned,
    }  # fmt: skip


@dataclass(frozen=True)
class Retained:
    """Net revenue retention of a period P (METRICS.md): revenue in P from the customers who
    bought in the same dates one year earlier (B), over their revenue in B (refunds net)."""

    value: float | None  # percent
    se: float | None  # its delta-method standard error, in points
    customers: int
    revenue_now: float
    revenue_base: float
    base: Period


def nrr(orders: Frame, p: Period) -> Retained:
    """Year over year, so a season compares with itself. Worked example: B = Q2 2023, P = Q2 2024;
    a bought 100 in B and 60 in P, b bought 50 in B and nothing in P, c bought only in P: NRR =
    (60 + 0) / (100 + 50) = 40 %, over 2 customers (c is new, not retained).

    >>> orders = pl.DataFrame({"customer_id": ["a", "a", "b", "c"], "amount": [100.0, 60.0, 50.0, 80.0],
    ...     "order_date": [dt.date(2023, 5, 1), dt.date(2024, 5, 1), dt.date(2023, 6, 1), dt.date(2024, 4, 2)]})
    >>> kept = nrr(orders, Period(dt.date(2024, 4, 1), dt.date(2024, 6, 30)))
    >>> round(kept.value, 1), kept.customers, kept.revenue_now, kept.revenue_base
    (40.0, 2, 60.0, 150.0)
    """
    base = comparison_period(p, "year")
    frame = lazy(orders)
    in_base, in_now = days_within(frame, "order_date", base.start, base.end), days_within(frame, "order_date", p.start, p.end)
    # one pass over the two periods' orders; the customers kept are those with a purchase in B
    per = (
        frame
        .filter((in_base | in_now) & pl.col("customer_id").is_not_null())
        .group_by("customer_id")
        .agg(now=pl.col("amount").filter(in_now).sum(), base=pl.col("amount").filter(in_base).sum(),
             bought=(PURCHASE & in_base).any())  # fmt: skip
        .filter("bought")
        .collect()
    )
    a, b = per.get_column("now").to_numpy(), per.get_column("base").to_numpy()
    if per.is_empty() or not b.sum():
        return Retained(None, None, per.height, float(a.sum()), float(b.sum()), base)
    ratio = a.sum() / b.sum()
    # standard error of a ratio of sums by the delta method: Var(R) ≈ n Var(a − R b) / (Σb)²
    se = 100 * float(np.sqrt(a.size * np.var(a - ratio * b, ddof=1)) / abs(b.sum())) if a.size > 1 else None
    return Retained(float(100 * ratio), se, per.height, float(a.sum()), float(b.sum()), base)


def median_test_p(first: np.ndarray, second: np.ndarray) -> float | None:
    """Mood's median test: is the share of values above the pooled median the same in both
    samples? (A two-proportion z-test on those shares; a test about medians, which is what the
    KPI shows.)"""
    pooled = float(np.median(np.concatenate([first, second])))
    return two_proportion_p(float((first > pooled).sum()), first.size, float((second > pooled).sum()), second.size)


def _response(
    tickets: pl.LazyFrame, p: Period, end: dt.datetime
) -> tuple[float | None, np.ndarray]:
    frame = (
        tickets.filter(days_within(tickets, "created_at", p.start, p.end))
        .select(
            responded=pl.col("first_response_at").is_not_null()
            & (pl.col("first_response_at") <= end),
            hours=(
                pl.coalesce(
                    pl.when(pl.col("first_response_at") <= end).then(pl.col("first_response_at")),
                    pl.lit(end),
                )
                - pl.col("created_at")
            ).dt.total_seconds()
            / 3600,
        )
        .collect()
    )
    if frame.is_empty():
        return None, np.array([])
    curve = kaplan_meier(
        frame.get_column("hours").to_numpy(), frame.get_column("responded").to_numpy()
    )
    answered = frame.filter(pl.col("responded")).get_column("hours").to_numpy()
    return km_quantile(curve, 0.5), answered


def overview(
    tables: Mapping[str, pl.DataFrame | pl.LazyFrame],
    *,
    period: Period,
    comparison: str = "previous",
    settings: DatasetSettings | None = None,
    days: PurchaseDays | None = None,
    spells: pl.DataFrame | None = None,
    first_order: dt.date | None = None,
) -> Overview:
    """The eleven Overview KPIs for `period` and its comparison period. Missing tables give KPIs
    with value None and a note saying which table would enable them. `days`: the orders' purchase
    days (metrics.purchase_days), when the caller has them to the period's end or later.
    `spells`: the customers' activity spells (metrics.activity) as of the period's end or any later
    day, when the caller has them: spells as of a later day give the counts known on an earlier
    one (a day's activity reads nothing after it).

    A comparison period that starts before the first order has no order figures (null with a
    reason, not 0): before the data begin, revenue and customers are unknown, and "revenue rose
    from 0" would be the export's start, not a change. `first_order`: the dataset's first order
    day, when `tables` are a slice of it (a tier whose customers came later did have a before);
    by default the first order day in `tables`."""
    settings = settings or DatasetSettings()
    window = settings.churn_window_days
    other = comparison_period(period, comparison)
    result = Overview(period, other)
    orders = lazy(tables["orders"]) if "orders" in tables else None
    customers = tables.get("customers")

    def both(fn):
        return fn(period), fn(other)

    if orders is not None:
        (rev, rev_se), (prev_rev, prev_se) = both(lambda p: _revenue(orders, p))
        result.kpis.append(_kpi("revenue", rev, prev_rev, difference_p(rev, rev_se, prev_rev, prev_se)))
        if spells is None:
            if days is None or days.as_of < period.end:
                days = purchase_days(orders, as_of=period.end)
            spells = activity.spells(days, as_of=period.end, churn_window_days=window, customers=customers)
        result.spells = spells
        # the comparison period ends earlier (comparison_period): the same spells serve it
        now, then = _customer_counts(spells, period), _customer_counts(spells, other)
        result.kpis += [
            _kpi("active_customers", now["active"], then["active"], _poisson_p(now["active"], then["active"]),
                 definition=f"customers with a purchase in the {window} days to the period's last day and no churn date by then"),
            _kpi("new_customers", now["new"], then["new"], _poisson_p(now["new"], then["new"])),
        ]  # fmt: skip
        churn_now = 100 * now["churned"] / now["at_start"] if now["at_start"] else None
        churn_then = 100 * then["churned"] / then["at_start"] if then["at_start"] else None
        result.kpis.append(
            _kpi("churn_rate", churn_now, churn_then,
                 two_proportion_p(now["churned"], now["at_start"], then["churned"], then["at_start"]),
                 definition="customers active on the day before the period who lapsed during it (no purchase for "
                 f"{window} days, or their churn date) / customers active on that day",
                 numerator=now["churned"], denominator=now["at_start"],
                 note="" if now["at_start"] else f"nobody was active on {period.start - dt.timedelta(days=1):%d %b %Y}, the day before the period")
        )  # fmt: skip
        retained_now, retained_then = nrr(orders, period), nrr(orders, other)
        nrr_now, nrr_then = retained_now.value, retained_then.value
        result.kpis.append(
            _kpi("nrr", nrr_now, nrr_then,
                 difference_p(nrr_now, retained_now.se, nrr_then, retained_then.se)
                 if None not in (nrr_now, retained_now.se, nrr_then, retained_then.se) else None,
                 definition=f"revenue in the period from the {retained_now.customers:,} customers who bought in "
                 f"{retained_now.base.label()} / their revenue then (year over year)",
                 numerator=retained_now.revenue_now, denominator=retained_now.revenue_base,
                 note="" if retained_now.customers else f"no customer bought in {retained_now.base.label()}, a year before")
        )  # fmt: skip
        simple = ltv.simple_ltv(orders, start=period.start, end=period.end, margin_rate=settings.margin_rate, spells=spells)
        ltv_now = simple["ltv"]
        ltv_then = ltv.simple_ltv(orders, start=other.start, end=other.end, margin_rate=settings.margin_rate, spells=spells)["ltv"]
        # simple LTV divides by the churn rate: without one it has no value, and the card says why
        no_ltv = "" if ltv_now is not None else (
            "no churn rate to divide by, as nobody was active on the day before the period" if not simple["active_at_start"]
            else "no churn rate to divide by, as no customer lapsed in the period" if not simple["churned"]
            else "nobody bought in the period")  # fmt: skip
        result.kpis.append(_kpi("avg_ltv", ltv_now, ltv_then, note=no_ltv))
        cac_now = cac_then = None
        costs_known = (customers is not None and "acquisition_cost" in lazy(customers).collect_schema().names()
                       and lazy(customers).select(pl.col("acquisition_cost").is_not_null().any()).collect().item())  # fmt: skip
        if costs_known:
            cac = lazy(customers).select("customer_id", "acquisition_cost").collect()

            def mean_cac(spells: pl.DataFrame, p: Period) -> float | None:
                first = activity.first_purchases(spells)
                new = first.filter(pl.col("first_purchase").is_between(p.start, p.end))
                return new.join(cac, on="customer_id").get_column("acquisition_cost").mean()

            cac_now, cac_then = mean_cac(spells, period), mean_cac(spells, other)
        ratio = lambda ltv, cac: ltv / cac if ltv is not None and cac else None  # noqa: E731
        ltv_cac_now = ratio(ltv_now, cac_now)
        why_no_ratio = ("" if ltv_cac_now is not None else "needs acquisition_cost in customers" if not costs_known
                        else f"no average LTV: {no_ltv}" if ltv_now is None
                        else "no customer acquired in the period has an acquisition cost above 0")  # fmt: skip
        result.kpis.append(_kpi("ltv_cac", ltv_cac_now, ratio(ltv_then, cac_then), note=why_no_ratio))
        if first_order is None:
            first_order = first_order_day(orders)
        if first_order is None or other.start < first_order:
            why = (BEFORE_FIRST_ORDER + (f" ({first_order:%d %b %Y})" if first_order else "")
                   + ": there is nothing to compare with")  # fmt: skip
            # the reason goes on the cards that have a value: one without keeps its own (a card
            # left out for want of data says why it has no value, not why it has no comparison)
            result.kpis = [k if CATALOGUE[k.key].needs != "orders" else
                           replace(k, previous=None, p_value=None, note=why if k.value is not None and not k.note else k.note)
                           for k in result.kpis]  # fmt: skip
    else:
        result.kpis += [_missing(key) for key, spec in CATALOGUE.items() if spec.needs == "orders"]

    if "deals" in tables:
        deals = funnel.with_close_dates(tables["deals"], stage_history=tables.get("stage_history"))  # as the Funnel dates them
        now_rate, then_rate = (funnel.win_rate(deals, start=p.start, end=p.end) for p in (period, other))
        result.kpis.append(
            _kpi("win_rate", None if now_rate.value is None else 100 * now_rate.value,
                 None if then_rate.value is None else 100 * then_rate.value,
                 two_proportion_p(now_rate.numerator, now_rate.denominator, then_rate.numerator, then_rate.denominator),
                 numerator=now_rate.numerator, denominator=now_rate.denominator)
        )  # fmt: skip
    else:
        result.kpis.append(_missing("win_rate"))

    if "surveys" in tables:
        surveys = lazy(tables["surveys"])

        def in_period(p: Period) -> pl.DataFrame:
            return surveys.filter(days_within(surveys, "responded_at", p.start, p.end)).collect()

        s_now, s_then = in_period(period), in_period(other)
        n_now, n_then = satisfaction.nps(s_now), satisfaction.nps(s_then)

        def nps_se(rate) -> float:
            return (
                (rate.ci_high - rate.ci_low) / (2 * Z95)
                if rate.ci_low is not None
                else float("nan")
            )

        nps_p = (
            difference_p(n_now.value, nps_se(n_now), n_then.value, nps_se(n_then))
            if n_now.value is not None and n_then.value is not None
            else None
        )
        c_now, c_then = satisfaction.csat(s_now), satisfaction.csat(s_then)
        c_p = two_proportion_p(c_now.numerator, c_now.denominator, c_then.numerator, c_then.denominator)
        # surveys that never ask one of the two questions (a shop's reviews: a 1–5 score, no NPS)
        # give no card for it, and the caption says why, rather than a card reading "—"
        answered = satisfaction.questions_asked(surveys)
        for key, now, then, p in (("nps", n_now, n_then, nps_p), ("csat", c_now, c_then, c_p)):
            if not answered[key]:
                result.kpis.append(_missing(key, f"the surveys hold no {CATALOGUE[key].label} answers"))
            elif now.value is None:
                result.kpis.append(_missing(key, f"no {CATALOGUE[key].label} answers in the period"))
            else:
                result.kpis.append(_kpi(key, now.value, then.value, p, numerator=now.numerator, denominator=now.denominator))
    else:
        result.kpis += [_missing("nps"), _missing("csat")]

    if "tickets" in tables:
        tickets = lazy(tables["tickets"])
        (m_now, a_now), (m_then, a_then) = both(
            lambda p: _response(tickets, p, dt.datetime.combine(p.end, dt.time.max))
        )
        p_value = None
        if a_now.size and a_then.size:
            p_value = median_test_p(a_now, a_then)
        result.kpis.append(_kpi("first_response", m_now, m_then, p_value))
    else:
        result.kpis.append(_missing("first_response"))
    return result


def monthly_series(
    tables: Mapping[str, pl.DataFrame | pl.LazyFrame],
    *,
    end: dt.date,
    months: int = 12,
    churn_window_days: int = 90,
    spells: pl.DataFrame | None = None,
    first_order: dt.date | None = None,
) -> pl.DataFrame:
    """→ month, revenue, active_customers, new_customers, churn_rate (%), partial, and where their tables
    exist win_rate (%), nps (points), csat (%), first_response (median hours): the last `months`
    calendar months to `end`, for sparklines and trend charts. Each month's figure is the Overview
    KPI for that month as the period (the last month ends at `end`, flagged partial when `end` is
    not its last day); a month without data is null. Point in time: a month's figures use only what
    was known at its end, so they do not change when later data arrive. active_customers: active on
    the day before the month. `spells`: metrics.activity.spells as of `end`, or of a later day when
    `end` is its month's last day (the months then read nothing after `end`), to reuse.

    Before the data begin the order figures are null, as the Overview's comparison (`overview`):
    revenue and new customers of the months before the first order's, and the active customers
    and churn of a month whose day before is earlier than the first order. `first_order`: as in
    `overview`."""
    first = first_of_month(end, -(months - 1))
    calendar = pl.DataFrame(
        {"month": pl.date_range(first, dt.date(end.year, end.month, 1), "1mo", eager=True)}
    )
    if "orders" in tables:
        series = _monthly_order_figures(tables, calendar, end=end, churn_window_days=churn_window_days, spells=spells,
                                        first_order=first_order)  # fmt: skip
    else:  # a CRM's deals, surveys or tickets alone still have their months
        series = calendar.with_columns(partial=(pl.col("month") == pl.col("month").max()) & (not closes_month(end)))
    for extra in _monthly_service_figures(tables, calendar, end):
        series = series.join(extra, on="month", how="left")
    return series.sort("month")


def _monthly_order_figures(
    tables: Mapping[str, pl.DataFrame | pl.LazyFrame],
    calendar: pl.DataFrame,
    *,
    end: dt.date,
    churn_window_days: int,
    spells: pl.DataFrame | None,
    first_order: dt.date | None,
) -> pl.DataFrame:
    """Revenue, new and active customers, churn and `partial` per month of `calendar` (see
    monthly_series), null before the data begin."""
    first = calendar.item(0, "month")
    orders = lazy(tables["orders"])
    orders = orders.filter(days_within(orders, "order_date", end=end))
    revenue = (  # the months' orders only: a month of each of ten million dates takes a fifth of a second
        orders.filter(days_within(orders, "order_date", start=first))
        .group_by(month=day("order_date").dt.truncate("1mo"))
        .agg(revenue=pl.col("amount").sum())
        .collect()
    )
    if spells is None:
        spells = activity.spells(orders, as_of=end, churn_window_days=churn_window_days, customers=tables.get("customers"))
    new = activity.first_purchases(spells).group_by(month=pl.col("first_purchase").dt.truncate("1mo")).agg(
        new_customers=pl.len().cast(pl.Int64)
    )
    churn = activity.monthly(spells, as_of=end).select(
        "month", "active_at_start", "partial", churn_rate=100 * pl.col("churn_rate")
    )
    series = (
        calendar.join(revenue, on="month", how="left")
        .join(new, on="month", how="left")
        .join(churn, on="month", how="left")
        .with_columns(pl.col("revenue").fill_null(0.0), pl.col("new_customers").fill_null(0),
                      pl.col("partial").fill_null((pl.col("month") == pl.col("month").max()) & (not closes_month(end))))  # fmt: skip
        .rename({"active_at_start": "active_customers"})
    )
    if first_order is None:
        first_order = first_order_day(tables["orders"])
    if first_order is None:
        return series
    begun = pl.col("month") >= dt.date(first_order.year, first_order.month, 1)  # the month of the first order on
    known_at_start = pl.col("month") > first_order  # the day before the month is on or after it
    return series.with_columns(
        pl.when(begun).then(pl.col("revenue", "new_customers")),
        pl.when(known_at_start).then(pl.col("active_customers", "churn_rate")),
    )


def _monthly_service_figures(
    tables: Mapping[str, pl.DataFrame | pl.LazyFrame], calendar: pl.DataFrame, end: dt.date
) -> list[pl.DataFrame]:
    """Win rate, NPS, CSAT and median first response per calendar month of `calendar`, each
    through the function its KPI uses."""
    first = calendar.item(0, "month")
    out = []
    if "deals" in tables:
        deals = funnel.with_close_dates(tables["deals"], stage_history=tables.get("stage_history"))  # as the card
        by_month = funnel.win_rate_by_month(deals, start=first, end=end)
        out.append(by_month.select("month", win_rate=100 * pl.col("win_rate")))
    if "surveys" in tables:
        surveys = lazy(tables["surveys"])
        surveys = surveys.filter(days_within(surveys, "responded_at", first, end))
        names = surveys.collect_schema().names()
        if "nps" in names:
            out.append(satisfaction.nps_by(surveys, period="1mo").select(month="period", nps="nps"))
        if "csat" in names:
            csat = surveys.group_by(month=month_start(pl.col("responded_at"))).agg(csat=satisfaction.csat_share())
            out.append(csat.collect())
    if "tickets" in tables:
        # the KPI's own computation per month (Kaplan–Meier median, open tickets censored at the
        # month's end) on the year's tickets, collected once
        tickets = lazy(tables["tickets"])
        tickets = tickets.filter(days_within(tickets, "created_at", first, end)).collect().lazy()
        rows = []
        for start, month_end in calendar.select("month", month_end=pl.col("month").dt.month_end()).iter_rows():
            stop = min(month_end, end)
            rows.append({"month": start, "first_response": _response(tickets, Period(start, stop), dt.datetime.combine(stop, dt.time.max))[0]})
        out.append(pl.DataFrame(rows, schema={"month": pl.Date, "first_response": pl.Float64}))
    return out


def value_text(unit: str, value: float | None, currency: str = "") -> str:
    """A KPI's value in words, the one way the dashboard writes each unit (cards, hovers and
    sentences alike; a card shortens money to fit, see dashboard.shell.money)."""
    if value is None:
        return "n/a"
    return {
        "currency": f"{currency} {value:,.0f}".strip(),
        "count": f"{value:,.0f}",
        "percent": f"{value:.1f}%",
        "points": f"{value:+.1f}",
        "ratio": f"{value:.2f}×",
        "hours": f"{value:.1f} h",
    }.get(unit, f"{value:,.2f}")


BEFORE_FIRST_ORDER = "the comparison period starts before the first order"


def why_no_changes(result: Overview) -> str:
    """The sentence for an Overview whose top_changes are none: no figure can be computed from
    the data at all, the comparison starts before the data, every figure compared is unchanged,
    or the comparison period has no data."""
    if all(k.value is None for k in result.kpis):
        return "Nothing to compare: none of the Overview's figures can be computed from this data."
    early = next((k.note for k in result.kpis if k.note.startswith(BEFORE_FIRST_ORDER)), None)
    if early:
        return f"Nothing to compare: {early.split(':')[0]}."
    if any(k.previous is not None and k.value is not None for k in result.kpis):
        return "Nothing changed: every figure compared is as it was in the comparison period."
    return "Nothing to compare: the comparison period has no data."


def top_changes(result: Overview, *, n: int = 3, currency: str = "USD") -> list[str]:
    """The `n` most important changes in words: changes beyond noise first (smallest p-value),
    then the largest relative changes, each said with its direction and whether it is good news."""
    candidates = [k for k in result.kpis if k.change is not None and k.change != 0]
    candidates.sort(
        key=lambda k: (
            not k.beyond_noise,
            k.p_value if k.p_value is not None else 1.0,
            -abs(k.change_pct or 0),
        )
    )
    sentences = []
    for kpi in candidates[:n]:
        direction = "rose" if kpi.change > 0 else "fell"
        good = (kpi.change > 0) != (kpi.key in LOWER_IS_BETTER)
        relative = (
            f" ({kpi.change_pct:+.1f}%)"
            if kpi.change_pct is not None and kpi.unit in ("currency", "count")
            else ""
        )
        noise = (
            "beyond normal variation"
            if kpi.beyond_noise
            else (
                "within normal variation" if kpi.beyond_noise is False else "not tested for noise"
            )
        )
        sentences.append(
            f"{kpi.label} {direction} from {value_text(kpi.unit, kpi.previous, currency)} to "
            f"{value_text(kpi.unit, kpi.value, currency)}{relative} — {'good' if good else 'bad'} news, {noise}."
        )
    return sentences

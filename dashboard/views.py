"""What each page shows, computed from the metrics package for one dataset and one set of filters.

One function per page: Context in, that page's frozen view (its frames and figures' inputs) out;
`compute(page, dataset, filters)` is the one entry, through VIEWS (`view_of(page, context)` where
the caller keeps the context). No Streamlit calls here — `dashboard.data.view()` caches each result
per (dataset, filters) and the context per (dataset, filters) too, so the pieces pages share
(purchase days, activity spells) are computed once across pages; pages only draw.
A page that needs a table the dataset lacks raises `Missing`, which the page turns into an empty
state naming the table.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections import ChainMap
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any

import polars as pl

from metrics import (
    activity,
    btyd,
    churn,
    funnel,
    kpis,
    ltv,
    retention,
    satisfaction,
    segments,
    stats,
)
from metrics.deal_history import DealHistory, deal_history
from metrics.domain import Dataset, Filters
from metrics.purchase_days import PurchaseDays, purchase_days
from metrics.schema import TABLES, UNASSIGNED_TIER, latest_event
from metrics.slicing import SlicedTables, rows_among
from metrics.threads import one_blas_thread


class Missing(Exception):
    """The page needs a table this dataset (or slice) does not have."""

    def __init__(self, table: str, reason: str = ""):
        self.table = table
        self.reason = reason or (
            f"This page needs the **{table}** table, which the dataset does not have. "
            f"Load it on the Data page to enable {TABLES[table].enables}."
        )
        super().__init__(self.reason)


SPELLS_KEPT = 4  # end dates whose activity spells a context keeps (see Context._spells_once)


@dataclass
class Context:
    """What every page view is computed from: the dataset, its slice for the filters, the filters,
    and the churn model (trained once per dataset on every customer, whatever the slice: the caller
    hands a callable that trains or fetches it, so a page that does not need it never waits).
    `whole`, for a slice: a callable giving the whole customer base's context of the same dataset
    and as-of date, whose purchase days, where it has them already, are cut down to the slice."""

    dataset: Dataset
    tables: SlicedTables  # the slice, each table cut when first read, or read as a query (lazy)
    filters: Filters
    churn_model: Callable[[], churn.ChurnModel] | None = None
    whole: Callable[[], Context] | None = None
    _shared: dict[Any, Any] = field(default_factory=dict, repr=False)
    _lock: threading.RLock = field(default_factory=threading.RLock, repr=False)  # a piece may ask for another

    def _once(self, key: Any, compute: Callable[[], Any]) -> Any:
        """A piece several pages read, computed once per context (slice and as-of date): a second
        session asking for it meanwhile waits for the first."""
        with self._lock:
            if key not in self._shared:
                self._shared[key] = compute()
            return self._shared[key]

    def _spells_once(self, end: dt.date, compute: Callable[[], pl.DataFrame]) -> pl.DataFrame:
        """The spells as of `end`, computed once; those of the SPELLS_KEPT end dates used last are
        kept. A context lives across periods: a visitor stepping through twenty quarters would
        otherwise leave twenty behind (30 MB each at a million customers)."""
        key = ("spells", end)
        with self._lock:
            spells = self._shared.pop(key, None)
            self._shared[key] = compute() if spells is None else spells  # last in the dict's order: used last
            kept = [k for k in self._shared if isinstance(k, tuple) and k[0] == "spells"]
            for old in kept[:-SPELLS_KEPT]:
                del self._shared[old]
            return self._shared[key]

    def complete_months(self, wanted: list[dt.date], compute: Callable[[dt.date, dt.date], pl.DataFrame]) -> pl.DataFrame:
        """The rows of the `wanted` months (first days, in order, each complete at the as-of date)
        of a monthly series: those not yet known are computed by compute(first month, last day of
        the last month) in one call and kept. A complete month's figures never change (no
        restatement, METRICS.md), so a period change reuses every month an earlier period showed."""
        with self._lock:
            known = self._shared.setdefault("complete_months", {})
            missing = [m for m in wanted if m not in known]
            if missing:
                computed = compute(missing[0], stats.first_of_month(missing[-1], 1) - dt.timedelta(days=1))
                for (month,), row in computed.partition_by("month", as_dict=True, maintain_order=True).items():
                    known.setdefault(month, row)
            return pl.concat([known[m] for m in wanted], how="vertical_relaxed")

    def computed(self, key: Any) -> Any:
        """A piece if it has been computed, else None, without computing it or waiting: the lock
        is held while a piece is computed for another visitor, and a piece is stored whole."""
        return self._shared.get(key)

    def for_filters(self, filters: Filters) -> Context:
        """This context for other filters of the same slice and as-of date, sharing its pieces:
        none of them reads the period (the spells are kept per end date), so a period change
        neither cuts the slice nor sorts its orders again."""
        if filters.slice_key != self.filters.slice_key:
            raise ValueError("a context's pieces are those of its slice and as-of date")
        return replace(self, filters=filters)

    def purchase_days(self) -> PurchaseDays:
        """The slice's purchase days to the as-of date: the one sort of the orders that the RFM
        summaries and the activity spells read."""
        t = self.tables
        return self._once("purchase_days", lambda: self._cut_from_whole() or purchase_days(t.lazy("orders"), as_of=self.as_of))

    def _cut_from_whole(self) -> PurchaseDays | None:
        """A slice's purchase days as the whole base's rows of its customers, where the whole
        base's context has computed them (it has, once any visitor saw every customer, and the
        server prepares that view as it starts): a filter of sorted rows instead of a sort of the
        slice's orders: at a million customers a tier change in a server beside a browser spent about
        0.7 s of its 3.1 s on that sort (a sampling profiler's count). None where there is nothing
        to cut from."""
        days = self._whole_piece("purchase_days")  # asking for them would sort every order
        return None if days is None else days.of_customers(self._customer_ids())

    def _whole_piece(self, key: Any) -> Any:
        """The whole base's context's piece `key` when this context is a slice's and that piece has
        been computed (computed(): without computing it or waiting), else None."""
        if self.whole is None or self.filters.slice.is_everything or "customers" not in self.tables:
            return None
        return self.whole().computed(key)

    def _customer_ids(self) -> pl.Series:
        return self.tables["customers"].get_column("customer_id")

    def spells(self, end: dt.date | None = None) -> pl.DataFrame:
        """Each customer's activity spells as of `end` (the as-of date by default; metrics.activity)."""
        end = end or self.as_of
        window = self.settings.churn_window_days

        def compute() -> pl.DataFrame:
            whole = self._whole_piece(("spells", end))
            if whole is not None:
                return self._rows_of_customers(whole)
            orders = self.purchase_days() if end <= self.as_of else self.tables.lazy("orders")
            return activity.spells(orders, as_of=end, churn_window_days=window, customers=self.tables.get("customers"))

        return self._spells_once(end, compute)

    def rfm_summaries(self, dates: list[dt.date]) -> list[pl.DataFrame]:
        """The slice's RFM summaries (btyd.rfm_summaries) as of each of `dates` (on or before the
        as-of date), from one pass over its purchase days, once."""
        key = ("rfm_summaries", tuple(dates))

        def compute() -> list[pl.DataFrame]:
            whole = self._whole_piece(key)
            if whole is not None:
                return [self._rows_of_customers(summary) for summary in whole]
            return btyd.rfm_summaries(self.purchase_days(), as_of=dates)

        return self._once(key, compute)

    def _rows_of_customers(self, frame: pl.DataFrame) -> pl.DataFrame:
        """The rows of the slice's customers in a per-customer piece of the whole base's (spells,
        RFM summaries: each customer's rows depend on their own purchases alone), which is then
        not computed again, nor the slice's purchase days it is read from (a cut of 135-225 MB at
        a million customers, 0.3-0.45 s in a server)."""
        return rows_among(frame, "customer_id", self._customer_ids().cast(frame.schema["customer_id"]))

    def deals_reached(self) -> DealsReached:
        """The slice's deals as the Funnel reads them, with each one's furthest stage: computed
        once for the view of every deal and that of a period's deals (1 s of 1.4 at a million
        customers)."""
        return self._once("deals_reached", lambda: _deals_reached(self.tables, self.settings.stage_order, self._history_from_whole()))

    def _history_from_whole(self) -> DealHistory | None:
        """A slice's stage history sorted by deal as the whole base's rows of its deals, where the
        whole base's context has it (as _cut_from_whole the purchase days): at a million customers
        a slice of two tiers spent about 0.3 s of its Funnel (in one process) sorting its five
        million entries. None where there is nothing to cut from."""
        reached = self._whole_piece("deals_reached")
        if reached is None or reached.history is None:
            return None
        return reached.history.of_deals(self.tables["deals"].get_column("deal_id"))

    def dated_deals(self) -> pl.DataFrame:
        """The slice's deals with close dates where closed deals lack them (funnel.with_close_dates),
        for the Overview's win rate: once per slice, whatever the period (the Funnel's own come with
        its furthest stages, deals_reached)."""
        t = self.tables

        def dated() -> pl.DataFrame:
            deals = t["deals"]
            # the history only where a closed deal lacks its date: a slice's cut of it is a
            # membership test of every stage entry (five million at a million customers)
            history = t.get("stage_history") if funnel.lack_close_dates(deals) else None
            return funnel.with_close_dates(deals, stage_history=history)

        return self._once("dated_deals", dated)

    def first_order(self) -> dt.date | None:
        """The dataset's first order day: where its order data begin, for every slice alike (a
        tier whose customers came later did have a before, with nothing in it)."""
        orders = self.dataset.tables.get("orders")
        return None if orders is None else self._once("first_order", lambda: kpis.first_order_day(orders))

    def trained_churn_model(self) -> churn.ChurnModel:
        if self.churn_model is not None:
            return self.churn_model()
        as_of = self.settings.as_of or latest_event(self.dataset.tables)
        return churn.train_churn_model(self.dataset.tables, as_of=as_of, churn_window_days=self.settings.churn_window_days)

    @property
    def settings(self):
        return self.dataset.settings

    @property
    def as_of(self) -> dt.date:
        return self.filters.as_of

    def need(self, *names: str) -> None:
        for name in names:
            if name not in self.tables:
                raise Missing(name)
        for name in names:
            if self.dataset.tables[name].is_empty():
                raise Missing(name, f"This dataset has no {name} rows, and this page needs them: load them on the "
                                    f"Data page to enable {TABLES[name].enables}.")  # fmt: skip
            # asked of the slice's query, which cuts nothing: a page may read the table lazily (lazy)
            if self.tables.lazy(name).head(1).collect().is_empty():
                raise Missing(name, f"No {name} rows in this slice: widen the filters in the sidebar.")

    def tier_order(self) -> list[str]:
        present = set(self.tables["customers"].get_column("tier").fill_null(UNASSIGNED_TIER).unique().to_list())
        order = [t for t in self.settings.tier_order if t in present]
        return order + sorted(present - set(order))


def context(
    dataset: Dataset, filters: Filters, *, churn_model: Callable[[], churn.ChurnModel] | None = None,
    whole: Callable[[], Context] | None = None,
) -> Context:  # fmt: skip
    return Context(dataset, SlicedTables(dataset.tables, filters.slice), filters, churn_model, whole)


# ---------------------------------------------------------------- the views: what each page draws
# Frozen: a view is computed once per dataset and filters (dashboard.data caches it) and only read.


@dataclass(frozen=True)
class OverviewView:
    overview: kpis.Overview  # the eleven KPIs and their comparison
    months: pl.DataFrame  # twelve months of each monthly KPI (sparklines, trends)
    tiers: pl.DataFrame | None  # revenue, customers and orders per tier in the period
    changes: list[str]  # the three biggest changes in words, else why there are none
    not_drawn: dict[str, str] = field(default_factory=dict)  # monthly chart ("revenue", "active") → why it has nothing to draw


@dataclass(frozen=True)
class DealsReached:
    """The deals with the customer's tier, segment and region, close dates where lost deals lack
    them, the stage history sorted by deal (or None), and each deal's furthest stage (reach)."""

    deals: pl.DataFrame
    history: DealHistory | None
    reach: pl.DataFrame
    won_only: tuple[str, ...] = ()  # breakdown dimensions recorded only for won deals (_won_only)


@dataclass(frozen=True)
class FunnelView:
    """What the Funnel shows of every deal: it reads no period (PERIOD_FREE)."""

    stages: list[str]
    funnel: pl.DataFrame
    breakdowns: dict[str, dict[str, Any]]  # by dimension: all, shown (largest groups), order
    win_rate_all: Any
    win_by_tier: pl.DataFrame | None
    pipeline: dict[str, Any]
    probability: pl.DataFrame
    trend: pl.DataFrame  # win rate by month closed, the as-of month flagged partial
    time_in_stage: pl.DataFrame | None
    reach: pl.DataFrame  # each deal with its furthest stage
    unknown_stage: int  # deals counted at the first stage for want of a known one
    close_dates: dict[str | None, int]  # where closed deals' close dates came from
    breakdowns_won_only: tuple[str, ...] = ()  # dimensions left out: recorded only for won deals


@dataclass(frozen=True)
class FunnelPeriodView:
    """What the Funnel shows of the period: deals created in it, and the cards of deals closed in it."""

    funnel: pl.DataFrame  # deals created in the period
    breakdowns: dict[str, dict[str, Any]]
    win_rate: Any  # stats.Rate over deals closed in the period
    summary: dict[str, Any]  # deal size and cycle
    reach: pl.DataFrame
    unknown_stage: int
    breakdowns_won_only: tuple[str, ...] = ()  # as FunnelView's


@dataclass(frozen=True)
class RetentionView:
    customers: pl.DataFrame  # cohort × month retention of customers
    revenue: pl.DataFrame  # … of revenue
    curves_by_tier: pl.DataFrame | None
    curves_drawn: pl.DataFrame | None
    survival: pl.DataFrame  # Kaplan–Meier per tier
    survival_drawn: pl.DataFrame  # from 100% just before day 0
    median_lifetime: dict[str, float | None]
    lost_day_0: dict[str, float]
    logrank: dict[str, Any] | None
    monthly_churn: pl.DataFrame  # point in time, with reactivated and partial
    churn_months: pl.DataFrame  # the months with customers at their start
    last_complete: dict[str, Any] | None  # the last complete month, for the card
    backtest: dict[str, Any] | None  # the churn rate of a year ago against what happened
    repeat: Any  # stats.Rate
    window: int
    not_drawn: dict[str, str] = field(default_factory=dict)  # chart ("curves", "survival", "churn") → why it has nothing to draw


@dataclass(frozen=True)
class LifetimeValueView:
    value: pl.DataFrame  # historical revenue and margin per customer
    value_by_tier: pl.DataFrame
    value_bins: pl.DataFrame  # histogram of historical value (log scale)
    value_not_drawn: int  # customers whose value is under a cent: a log scale has no place for them
    model: Any = None  # BG/NBD fit, None when it could not be fitted
    model_reason: str | None = None
    clv_by_group: dict[str, pl.DataFrame] = field(default_factory=dict)
    pooled_groups: dict[str, list[str]] = field(default_factory=dict)
    gamma_gamma: Any = None
    clv: pl.DataFrame | None = None
    top_clv: pl.DataFrame | None = None
    holdout: dict[str, Any] | None = None
    holdout_drawn: pl.DataFrame | None = None
    calibration_end: dt.date | None = None
    repeat_buyers: int | None = None
    p_alive_repeat: float | None = None
    p_alive_bins: pl.DataFrame | None = None
    degenerate: str | None = None
    summary: pl.DataFrame | None = None  # the RFM summary the models are fitted on
    pooled_clv: pl.DataFrame | None = None
    customers: pl.DataFrame | None = None
    ltv_cac: dict[str, pl.DataFrame] | None = None
    clv_cac: dict[str, pl.DataFrame] | None = None
    ltv_cac_tables: dict[str, pl.DataFrame] | None = None
    margin_share: float | None = None
    backtest: dict[str, Any] | None = None


@dataclass(frozen=True)
class CostsView:
    """The Lifetime value page's one figure of the period: what acquiring a customer costs against
    keeping one (ltv.acquisition_vs_retention_cost), apart from LifetimeValueView so that the rest
    of the page, which reads no period, is computed once for every period."""

    costs: dict[str, Any] | None = None  # None where no acquisition cost is known


@dataclass(frozen=True)
class SatisfactionView:
    asked: dict[str, bool] | None = None  # whether the surveys ever answer NPS, CSAT, CES; None without surveys
    nps: Any = None  # stats.Rate of the period; None without surveys
    csat: Any = None
    ces: Any = None
    nps_by_tier: pl.DataFrame | None = None
    distributions: dict[str, pl.DataFrame] | None = None
    period_responses: int | None = None
    ticket_csat: Any = None  # stats.Rate of the tickets rated after they were answered; None without ratings
    times_channel: pl.DataFrame | None = None  # None without tickets
    times_priority: pl.DataFrame | None = None
    times_all: pl.DataFrame | None = None
    times_drawn: dict[str, pl.DataFrame] | None = None
    sla_priority: pl.DataFrame | None = None
    sla_channel: pl.DataFrame | None = None
    sla_all: pl.DataFrame | None = None


@dataclass(frozen=True)
class SatisfactionHistoryView:
    """What the Satisfaction page shows month by month and at the as-of date: it reads no period
    (PERIOD_FREE), so a period change does not compute it again (1 s of 1.4 at a million customers)."""

    nps_trend: pl.DataFrame | None = None  # None without surveys
    nps_trend_drawn: pl.DataFrame | None = None  # the months with enough answers
    by_group: pl.DataFrame | None = None  # retention of promoters, passives, detractors; None without orders
    complaints: pl.DataFrame | None = None  # None without tickets or orders
    complaints_drawn: pl.DataFrame | None = None


@dataclass(frozen=True)
class SegmentsView:
    rfm: pl.DataFrame  # per customer: R, F, M, scores, segment
    summary: pl.DataFrame  # segments with customers
    summary_all: pl.DataFrame
    matrix: pl.DataFrame  # segment × tier
    tiers: int
    clusters: dict[str, Any]
    portfolio: pl.DataFrame | None
    portfolio_points: pl.DataFrame | None  # at most SCATTER_POINTS of them
    portfolio_reason: str | None
    unprofitable: pl.DataFrame | None
    contacts: pl.DataFrame | None


@dataclass(frozen=True)
class ChurnView:
    model: churn.ChurnModel
    scores: pl.DataFrame | None = None
    at_risk: pl.DataFrame | None = None  # the largest margins at risk, explained
    risk_bins: pl.DataFrame | None = None


def with_tier(frame: pl.DataFrame, customers: pl.DataFrame, *, column: str = "tier", also: tuple[str, ...] = ()) -> pl.DataFrame:
    """frame with each row's customer's tier (Unassigned where the customer has none; null where
    the customer is not among the customers), as a left join would add it, and the customers'
    columns `also` in the same lookup."""
    tiers = customers.select("customer_id", pl.col("tier").fill_null(UNASSIGNED_TIER).alias(column), *also)
    return frame.hstack(stats.by_customer(tiers, frame))


# ---------------------------------------------------------------- Overview


def overview(ctx: Context) -> OverviewView:
    deals = ctx.tables.get("deals")
    if deals is None or deals.is_empty():  # a deals-only dataset still has its sales figures
        ctx.need("customers")
    end = ctx.filters.period.end
    spells = None
    if "orders" in ctx.tables and end <= ctx.as_of:
        # Spells as of a later day give the counts known on an earlier one, so the spells as of the
        # as-of date (which the other pages read too) serve any period that closes a month, the
        # default one included: a period change computes none. Otherwise the series' last month
        # (partial) must not see past `end`.
        spells = ctx.spells(ctx.as_of if stats.closes_month(end) else end)
    # dated once for the slice: the KPIs and the series then find every closed deal dated; the
    # orders, surveys and tickets as queries (SlicedTables.lazy): the figures read them in a few
    # passes of a few columns, where the cut of a slice of two tiers' orders is 240-490 MB of new
    # memory (0.5-1.7 s of a second tier's Overview in a server at a million customers, a sampling
    # profiler's count)
    read: dict[str, Any] = {name: ctx.tables.lazy(name) for name in ("orders", "surveys", "tickets") if name in ctx.tables}
    if deals is not None:
        read["deals"] = ctx.dated_deals()
    # dated deals need no stage history (funnel.with_close_dates): the KPIs are not handed it to cut
    tables = _Reading(ChainMap(read, ctx.tables), hidden={"stage_history"} if deals is not None else set())
    result = kpis.overview(tables, period=ctx.filters.period, comparison=ctx.filters.comparison, settings=ctx.settings,
                           spells=spells, first_order=ctx.first_order())  # fmt: skip
    months = _overview_months(ctx, tables, end, result.spells)
    tiers = None
    if "orders" in ctx.tables:
        p = ctx.filters.period
        orders = tables["orders"]
        in_period = orders.filter(stats.days_within(orders, "order_date", p.start, p.end)).collect()
        tiers = (
            with_tier(in_period, ctx.tables["customers"])
            .group_by("tier")
            .agg(revenue=pl.col("amount").sum(), customers=pl.col("customer_id").n_unique(), orders=pl.len())
            .with_columns(share=pl.when(pl.col("revenue").sum() != 0).then(pl.col("revenue") / pl.col("revenue").sum()))
        )
        order = {t: i for i, t in enumerate(ctx.tier_order())}
        tiers = tiers.sort(pl.col("tier").replace_strict(order, default=len(order)))
    changes = kpis.top_changes(result, currency=ctx.settings.currency) or [kpis.why_no_changes(result)]
    # a line needs two points: an export of a few days has one month of revenue and no month that
    # began with customers active
    not_drawn = {}
    if "revenue" in months.columns:
        first = ctx.first_order()
        since = f": the orders begin on {first:%d %b %Y}" if first else ""
        if months.get_column("revenue").drop_nulls().len() < 2:
            not_drawn["revenue"] = f"Revenue per month needs orders in two months or more{since}."
        if months.get_column("active_customers").drop_nulls().len() < 2:
            not_drawn["active"] = f"Active customers at the start of each month need two months that begin after the first order{since}."
    return OverviewView(overview=result, months=months, tiers=tiers, changes=changes, not_drawn=not_drawn)


class _Reading(Mapping[str, Any]):
    """A slice's tables as a metric is handed them, without the `hidden` ones (which the metric
    would otherwise cut on asking for them, needing none)."""

    def __init__(self, tables: Mapping[str, Any], hidden: set[str]):
        self._tables, self._hidden = tables, hidden

    def __getitem__(self, name: str) -> Any:
        if name in self._hidden:
            raise KeyError(name)
        return self._tables[name]

    def __contains__(self, name: object) -> bool:
        return name not in self._hidden and name in self._tables

    def __iter__(self):
        return (name for name in self._tables if name not in self._hidden)

    def __len__(self) -> int:
        return sum(1 for _ in self)


OVERVIEW_MONTHS = 12  # the months of the Overview's sparklines and trends


def _overview_months(ctx: Context, tables: Mapping[str, pl.DataFrame], end: dt.date, spells: pl.DataFrame | None) -> pl.DataFrame:
    """The Overview's monthly series to `end` (kpis.monthly_series). A period that closes a month
    by the as-of date shows complete months only: the context keeps them (complete_months), so a
    step back of a quarter computes three months, not twelve. `spells`: as of `end` or later."""

    def series(end: dt.date, months: int) -> pl.DataFrame:
        return kpis.monthly_series(tables, end=end, months=months, churn_window_days=ctx.settings.churn_window_days,
                                   spells=spells, first_order=ctx.first_order())  # fmt: skip

    if not (stats.closes_month(end) and end <= ctx.as_of):
        return series(end, OVERVIEW_MONTHS)
    wanted = [stats.first_of_month(end, -back) for back in range(OVERVIEW_MONTHS - 1, -1, -1)]
    return ctx.complete_months(wanted, lambda first, last: series(last, stats.months_spanned(first, last)))


# ---------------------------------------------------------------- Funnel


def _deals_reached(tables: Mapping[str, pl.DataFrame], stages: list[str], history: DealHistory | None = None) -> DealsReached:
    """`history`: the deals' stage history sorted by deal, where the caller has it (cut from the
    whole base's), else sorted here."""
    deals = tables["deals"]
    # the history sorted by deal once: the close dates, the furthest stages and the time in stage read its runs
    if history is None and "stage_history" in tables:
        history = deal_history(tables["stage_history"])
    if "customers" in tables:
        # deals of customers take the customer's tier/segment; prospects keep their own
        dims = tables["customers"].select("customer_id", c_tier=pl.col("tier"), c_segment=pl.col("segment"), c_region=pl.col("region"))
        deals = deals.join(dims, on="customer_id", how="left").with_columns(
            tier=pl.coalesce("c_tier", "tier").fill_null(UNASSIGNED_TIER),
            segment=pl.coalesce("c_segment", "segment"),
            region=pl.coalesce("c_region", "region"),
        ).drop("c_tier", "c_segment", "c_region")
    # lost deals without a close date are dated by their last stage or creation (and counted)
    deals = funnel.with_close_dates(deals, stage_history=history)
    # every funnel figure needs each deal's furthest stage: join the history once, reuse it
    return DealsReached(deals, history, funnel.furthest_stage(deals, stages=stages, stage_history=history).collect(), _won_only(deals))


BREAKDOWN_DIMENSIONS = ("tier", "segment", "owner", "source")


def _won_only(deals: pl.DataFrame) -> tuple[str, ...]:
    """The dimensions recorded only for won deals while other deals lack them (Olist's business
    segment comes with the closed deal): by such a dimension every stage would read 100 %."""
    won = pl.col("status") == "won"
    return tuple(
        dim for dim in BREAKDOWN_DIMENSIONS
        if dim in deals.columns and deals.select(pl.col(dim).is_null().any() & (pl.col(dim).is_null() | won).all()).item()
        and deals.get_column(dim).null_count() < deals.height
    )  # fmt: skip


def _breakdowns(reach: pl.DataFrame, reached: DealsReached, stages: list[str], ctx: Context) -> dict[str, dict[str, Any]]:
    """The funnel by each dimension the deals have two or more values of: by one value (every
    deal Unassigned, a slice of one tier) it would only draw the funnel again; by one recorded
    only for won deals (reached.won_only), 100 % at every stage."""
    deals = reached.deals
    return {
        dim: _largest_groups(funnel.stage_funnel(reach, stages=stages, by=dim), dim, ctx)
        for dim in BREAKDOWN_DIMENSIONS
        if dim in deals.columns and dim not in reached.won_only and deals.get_column(dim).drop_nulls().n_unique() > 1
    }


def funnel_page(ctx: Context) -> FunnelView:
    ctx.need("deals")
    stages, reached = ctx.settings.stage_order, ctx.deals_reached()
    deals, history, reach = reached.deals, reached.history, reached.reach
    inferred = deals.get_column("close_date_source").value_counts()
    return FunnelView(
        stages=stages,
        funnel=funnel.stage_funnel(reach, stages=stages),
        breakdowns=_breakdowns(reach, reached, stages, ctx),
        win_rate_all=funnel.win_rate(deals),
        win_by_tier=funnel.win_rate_by(deals, by="tier") if "tier" in deals.columns else None,
        pipeline=funnel.pipeline(reach, stages=stages),
        probability=funnel.stage_win_probability(reach, stages=stages),
        trend=funnel.win_rate_by_month(deals, end=ctx.as_of),
        time_in_stage=funnel.time_in_stage(history, stages=stages) if history is not None and history.table.height else None,
        reach=reach,
        unknown_stage=int((~reach.get_column("furthest_known")).sum()),
        close_dates=dict(zip(inferred.get_column("close_date_source").to_list(), inferred.get_column("count").to_list(), strict=True)),
        breakdowns_won_only=reached.won_only,
    )  # fmt: skip


def funnel_period(ctx: Context) -> FunnelPeriodView:
    ctx.need("deals")
    stages, reached, p = ctx.settings.stage_order, ctx.deals_reached(), ctx.filters.period
    deals = reached.deals
    created = reached.reach.filter(pl.col("created_date").is_null() | stats.days_within(reached.reach, "created_date", p.start, p.end))
    return FunnelPeriodView(
        funnel=funnel.stage_funnel(created, stages=stages),
        breakdowns=_breakdowns(created, reached, stages, ctx),
        win_rate=funnel.win_rate(deals, start=p.start, end=p.end),
        summary=funnel.deal_summary(deals, start=p.start, end=p.end),
        reach=created,
        unknown_stage=int((~created.get_column("furthest_known")).sum()),
        breakdowns_won_only=reached.won_only,
    )


BREAKDOWN_GROUPS = 12  # a chart shows at most this many groups (the largest)


def _largest_groups(frame: pl.DataFrame, dim: str, ctx: Context) -> dict[str, Any]:
    """A breakdown as the page draws it: the largest groups (by deals at the first stage), in tier
    order for tiers, else by size; the whole frame stays there for the download."""
    # ties by name: a group-by's order varies from run to run, the chart's order must not
    top = (
        frame.group_by(dim).agg(pl.col("reached").max())
        .sort(["reached", dim], descending=[True, False], nulls_last=True).head(BREAKDOWN_GROUPS)
    )  # fmt: skip
    names = top.get_column(dim).to_list()
    order = [t for t in ctx.tier_order() if t in names] if dim == "tier" and "customers" in ctx.tables else names
    return {"all": frame, "shown": frame.filter(pl.col(dim).is_in(names)), "order": order}


# ---------------------------------------------------------------- Retention


def retention_page(ctx: Context) -> RetentionView:
    ctx.need("customers", "orders")
    # the orders as a query: the page reads them only for refunds and repeat buyers (the rest
    # comes from the purchase days and spells), two passes that need not cut them (SlicedTables.lazy)
    orders, customers = ctx.tables.lazy("orders"), ctx.tables["customers"]
    as_of, window = ctx.as_of, ctx.settings.churn_window_days
    status = retention.churn_status(orders, as_of=as_of, churn_window_days=window, customers=customers, days=ctx.purchase_days())
    spells = ctx.spells()
    life = retention.lifetimes_table(orders, as_of=as_of, churn_window_days=window, customers=customers, by="tier", status=status)
    curves = retention.survival(orders, as_of=as_of, customers=customers, by="tier", lifetimes=life)
    tiers_present = curves.get_column("tier").n_unique() if curves.height else 0
    test = retention.survival_logrank(orders, as_of=as_of, customers=customers, by="tier", lifetimes=life) if tiers_present > 1 else None
    # one pass over the orders for the cohorts of every tier; everyone's matrix is their sum
    # (customers missing from the customers table have no tier: in `both`, in no tier's curve)
    tiered = customers.with_columns(pl.col("tier").fill_null(UNASSIGNED_TIER))
    per_tier = retention.cohort_retention(orders, as_of=as_of, basis="both", customers=tiered, by="tier", days=ctx.purchase_days())
    both = retention.pooled(per_tier, by="tier", basis="both")
    by_tier = []
    for tier in ctx.tier_order():
        matrix = per_tier.filter(pl.col("tier") == tier)
        if matrix.height:
            curve = matrix.group_by("period").agg(
                retention=(pl.col("active").sum() / pl.col("cohort_size").sum()), cohorts=pl.len()
            ).sort("period")
            by_tier.append(curve.with_columns(tier=pl.lit(tier)))
    # half-life of each tier (Kaplan–Meier median), and the share lost on day 0 (one-time buyers
    # who lapsed: their lifetime ends at their only order, METRICS.md)
    medians = {
        tier: stats.km_quantile(part.rename({"days": "time"}), 0.5)
        for (tier,), part in curves.group_by("tier", maintain_order=True)
    } if curves.height else {}
    first_day = curves.filter(pl.col("days") == 0)
    lost_day_0 = {r["tier"]: 1 - r["survival"] for r in first_day.to_dicts()}
    # every curve starts at 100% just before day 0, so the drop of day 0 shows as a drop
    start = curves.select("tier").unique(maintain_order=True).with_columns(
        days=pl.lit(0.0), survival=pl.lit(1.0), ci_low=pl.lit(1.0), ci_high=pl.lit(1.0)
    )
    drawn = pl.concat([start, curves.select(start.columns).with_columns(pl.col("days").cast(pl.Float64))]) if curves.height else curves
    churn = _churn_months(retention.monthly_churn(orders, as_of=as_of, churn_window_days=window, customers=customers, spells=spells))
    # a short export (a day, a month) gives these charts a single point or none: say why instead
    # of drawing an empty axis
    not_drawn = {}
    if not by_tier or pl.concat(by_tier).get_column("period").max() == 0:
        not_drawn["curves"] = ("The retention curve needs a cohort older than its first month: in this data every customer "
                               "bought for the first time in the as-of month.")
    if not curves.height or (curves.get_column("days").max() == 0 and not curves.get_column("events").sum()):
        not_drawn["survival"] = ("How long customers stay needs time after their first order: in this data every customer "
                                 "bought for the first time on the as-of date.")
    if not churn["churn_months"].height:
        not_drawn["churn"] = ("Monthly churn needs customers active at the start of a month: in this data nobody had bought "
                              "before the as-of month began.")
    return RetentionView(**{
        "customers": both.drop("revenue_retention"),
        "revenue": both.drop("retention").rename({"revenue_retention": "retention"}),
        "curves_by_tier": pl.concat(by_tier) if by_tier else None,
        "curves_drawn": pl.concat(by_tier).filter(pl.col("period") <= CURVE_MONTHS) if by_tier else None,
        "survival": curves,
        "survival_drawn": drawn,
        "median_lifetime": medians,
        "lost_day_0": lost_day_0,
        "logrank": test,
        **churn,
        "backtest": retention.churn_backtest(ctx.purchase_days(), as_of=as_of, churn_window_days=window, customers=customers,
                                             spells=spells),
        "repeat": retention.repeat_purchase_rate(orders, as_of=as_of),
        "window": window,
        "not_drawn": not_drawn,
    })


CURVE_MONTHS = 24  # retention curves are drawn over the first two years
TOP_ROWS = 25  # rows of a "top customers" table
CENT = 0.01  # the smallest value of money drawn on a log scale
MIN_MONTH_ANSWERS = 10  # a month's NPS is drawn from this many answers on


def _churn_months(months: pl.DataFrame) -> dict[str, Any]:
    """Monthly churn as the page draws it: months with customers at their start, and the last
    complete month for the card (a month still running is never shown as a full one)."""
    drawn = months.filter(pl.col("active_at_start") > 0)
    complete = drawn.filter(~pl.col("partial"))
    return {"monthly_churn": months, "churn_months": drawn, "last_complete": complete.row(-1, named=True) if complete.height else None}


# ---------------------------------------------------------------- Lifetime value


def lifetime_value(ctx: Context) -> LifetimeValueView:
    ctx.need("customers", "orders")
    # the orders as a query: read for the value to date and the backtest's actual spend, a pass
    # each that need not cut them (SlicedTables.lazy); the models read the purchase days
    orders, customers = ctx.tables.lazy("orders"), ctx.tables["customers"]
    dims = [d for d in ("tier", "acquisition_channel") if d in customers.columns]
    out: dict[str, Any] = {"model": None, "model_reason": None, "clv_by_group": {}}
    # The model fits are NumPy on one core, holding the interpreter's lock about half the time:
    # the value to date (Polars, which lets the lock go) and then the backtest's fits run in a
    # second thread beside them. At a million customers the view took 2.45 s instead of 3.1 s.
    # One BLAS thread for the whole block, as validated_model does for its two threads: each
    # fit's own limit, set and restored by two threads interleaved, could leave the wrong one.
    with one_blas_thread(), ThreadPoolExecutor(max_workers=1) as pool:
        to_date = pool.submit(_historical_value, ctx, dims)
        # the model's summary, the holdout check's and the backtest's from one pass over the runs
        # of purchase days; the backtest then goes into the second thread too
        calibration_end, then = ctx.as_of - dt.timedelta(days=182), btyd.backtest_date(ctx.as_of)
        calibration, summary, earlier = ctx.rfm_summaries([calibration_end, ctx.as_of, then])
        backtest = pool.submit(btyd.clv_backtest, orders, as_of=ctx.as_of, summary=earlier)
        by_group = _predicted_value(ctx, out, dims, calibration, summary, calibration_end)
        out.update(to_date.result(), backtest=backtest.result())
    value = out["value"]
    out["clv_by_group"] = {d: frame.group_by(d, "model").agg(mean_clv=pl.col("clv").mean()) for d, frame in by_group.items()}
    out["pooled_groups"] = {
        d: sorted(frame.filter(pl.col("model") == "pooled").get_column(d).to_list()) for d, frame in out["clv_by_group"].items()
    }
    if "ltv_cac" in out:
        if out.get("clv") is not None:
            # CLV predicts spend (revenue); set against a cost it is taken on margin (METRICS.md),
            # at the share of revenue the data's margin is
            revenue = value.get_column("revenue").sum()
            share = value.get_column("margin").sum() / revenue if revenue else None
            if share is not None:
                out["clv_cac"] = {
                    d: ltv.ltv_cac(by_group[d].select("customer_id", clv_margin=pl.col("clv") * share), customers,
                                   value="clv_margin", by=d)
                    for d in dims
                }  # fmt: skip
                out["margin_share"] = share
        # historical value : CAC, with predicted CLV : CAC beside it where the model ran
        tables = {
            d: frame if d not in out.get("clv_cac", {}) else frame.join(
                out["clv_cac"][d].select(d, predicted_clv=pl.col("mean_ltv"), clv_cac=pl.col("ltv_cac")), on=d, how="left")
            for d, frame in out["ltv_cac"].items()
        }  # fmt: skip
        order = {t: i for i, t in enumerate(ctx.tier_order())}
        out["ltv_cac_tables"] = {
            d: frame.sort(pl.col("tier").replace_strict(order, default=len(order), return_dtype=pl.Int64)) if d == "tier"
            else frame.sort("ltv_cac", descending=True, nulls_last=True)
            for d, frame in tables.items()
        }  # fmt: skip
    return LifetimeValueView(**out)


def _predicted_value(
    ctx: Context, out: dict[str, Any], dims: list[str], calibration: pl.DataFrame, summary: pl.DataFrame,
    calibration_end: dt.date,
) -> dict[str, pl.DataFrame]:  # fmt: skip
    """The pooled model, fitted on `summary` (RFM as of the as-of date), with its holdout check on
    `calibration` (as of `calibration_end`) into `out` (or the reason there is none), and each
    customer's CLV from the models per group of each dimension (clv_by_groups)."""
    as_of, customers = ctx.as_of, ctx.tables["customers"]
    repeaters = summary.filter(pl.col("frequency") > 0).height
    if summary.height < 100 or repeaters < 20:
        out["model_reason"] = (
            f"Too little data for the predictive model: {summary.height:,} buyers, {repeaters:,} of them repeat "
            "buyers (at least 100 and 20 are needed)."
        )
        return {}
    try:
        model = btyd.validated_model(calibration, summary, calibration_end=calibration_end, observation_end=as_of)
    except ValueError as exc:  # a degenerate slice: say so instead of failing
        out["model_reason"] = f"The predictive model could not be fitted on this slice: {exc}"
        return {}
    clv = with_tier(model["clv"], customers)
    repeat = clv.filter(pl.col("frequency") > 0)
    by_frequency = model["holdout"]["by_frequency"]
    out.update(
        summary=summary, pooled_clv=model["clv"], customers=customers,
        top_clv=clv.top_k(TOP_ROWS, by="clv").sort("clv", descending=True),  # 25 rows, not a sort of a million
        holdout_drawn=by_frequency.unpivot(index="frequency", on=["predicted", "actual"], variable_name="series",
                                           value_name="purchases").with_columns(pl.col("frequency").cast(pl.String)),
        model=model["bgnbd"], gamma_gamma=model["gamma_gamma"], clv=clv,
        holdout=model["holdout"], calibration_end=calibration_end,
        # P(alive) is 1 for every one-time buyer by the model's construction (METRICS.md):
        # "likely still active" is the mean over repeat buyers, and says so
        repeat_buyers=repeat.height, p_alive_repeat=repeat.get_column("p_alive").mean(),
        p_alive_bins=stats.binned(repeat.get_column("p_alive")),
        degenerate=degenerate_fit(model["bgnbd"], repeat),
    )  # fmt: skip
    # value by tier (and channel) from a model per group where each has enough repeat buyers
    return btyd.clv_by_groups(summary, customers, by=dims, pooled=model["clv"], pooled_model=model["bgnbd"],
                             pooled_spend=model["gamma_gamma"])  # fmt: skip


def _historical_value(ctx: Context, dims: list[str]) -> dict[str, Any]:
    """The view's figures of each customer's value to date: the values, their distribution and,
    where costs are known, LTV:CAC (acquisition against retention cost, which reads the period, is
    lifetime_value_costs)."""
    orders, customers = ctx.tables.lazy("orders"), ctx.tables["customers"]  # as lifetime_value
    # with the channel, cost and name where the customers have a channel (the tables show them)
    also = ("acquisition_channel", "acquisition_cost", "name") if "acquisition_channel" in customers.columns else ()
    value = with_tier(ltv.historical_value(orders, as_of=ctx.as_of, margin_rate=ctx.settings.margin_rate), customers, also=also)
    bins = stats.binned(value.get_column("margin"), log=True, smallest=CENT)  # fifty bars, not a million values
    figures = dict(
        value=value, value_bins=bins, value_not_drawn=value.height - int(bins.get_column("count").sum()),
        value_by_tier=value.group_by("tier").agg(mean=pl.col("margin").mean(), median=pl.col("margin").median(), customers=pl.len()),
    )  # fmt: skip
    if _acquisition_costs_known(customers):
        figures["ltv_cac"] = {d: ltv.ltv_cac(value, customers, value="margin", by=d) for d in dims}
    return figures


def _acquisition_costs_known(customers: pl.DataFrame) -> bool:
    return "acquisition_cost" in customers.columns and bool(customers.get_column("acquisition_cost").drop_nulls().len())


DEGENERATE_P_ALIVE = 0.999


def degenerate_fit(model, repeat_buyers: pl.DataFrame) -> str | None:
    """A BG/NBD fit at the edge of its range says nothing about who is still active: when the
    dropout parameter a runs to zero every repeat buyer gets P(alive) ≈ 1 (seen on UCI Online
    Retail). The sentence that says so, or None for an informative fit."""
    low = repeat_buyers.get_column("p_alive").quantile(0.05) if repeat_buyers.height else None
    if low is not None and low > DEGENERATE_P_ALIVE:
        return (
            f"The model finds almost no drop-out in this data (dropout parameter a = {model.a:.2g}): 95% of repeat "
            f"buyers get a chance of still being active above {DEGENERATE_P_ALIVE:.1%}. That is a fit at the edge "
            "of its range, not a finding: who is still active is not shown, and predicted purchases assume "
            "nobody leaves."
        )
    return None


def lifetime_value_costs(ctx: Context) -> CostsView:
    ctx.need("customers", "orders")
    return CostsView(acquisition_vs_retention(ctx) if _acquisition_costs_known(ctx.tables["customers"]) else None)


def acquisition_vs_retention(ctx: Context) -> dict[str, Any]:
    p, t = ctx.filters.period, ctx.tables
    # The dataset's tickets and interactions, not the slice's: only those of the customers retained
    # through the period count, and those are the slice's own (their spells are). Cutting the two
    # tables for a slice of most customers took 200-300 MB of new memory at a million customers.
    every = ctx.dataset.tables
    return ltv.acquisition_vs_retention_cost(
        t.lazy("orders"), t["customers"], start=p.start, end=p.end, tickets=every.get("tickets"), interactions=every.get("interactions"),
        cost_per_ticket=ctx.settings.cost_per_ticket, cost_per_interaction=ctx.settings.cost_per_interaction,
        churn_window_days=ctx.settings.churn_window_days, spells=ctx.spells(p.end),
    )  # fmt: skip


# ---------------------------------------------------------------- Satisfaction


def _need_surveys_or_tickets(ctx: Context) -> None:
    if "surveys" not in ctx.tables and "tickets" not in ctx.tables:
        raise Missing("surveys")


def satisfaction_page(ctx: Context) -> SatisfactionView:
    _need_surveys_or_tickets(ctx)
    p = ctx.filters.period
    out: dict[str, Any] = {}
    if "surveys" in ctx.tables and ctx.tables["surveys"].height:
        surveys = ctx.tables["surveys"]
        now = surveys.filter(stats.days_within(surveys, "responded_at", p.start, p.end))
        out.update(
            asked=satisfaction.questions_asked(surveys),
            nps=satisfaction.nps(now), csat=satisfaction.csat(now), ces=satisfaction.ces(now),
            nps_by_tier=satisfaction.nps_by(with_tier(now, ctx.tables["customers"]), by="tier") if "customers" in ctx.tables else None,
            distributions={
                c: satisfaction.score_distribution(now, column=c).with_columns(pl.col("score").cast(pl.String))
                for c in ("nps", "csat", "ces")
            },
            period_responses=now.height,
        )  # fmt: skip
    if "tickets" in ctx.tables and ctx.tables["tickets"].height:
        tickets = ctx.tables["tickets"]
        in_period = tickets.filter(stats.days_within(tickets, "created_at", p.start, p.end))
        end = dt.datetime.combine(p.end, dt.time.max)
        out.update(
            times_channel=satisfaction.response_times(in_period, as_of=end, by="channel"),
            times_priority=satisfaction.response_times(in_period, as_of=end, by="priority"),
            times_all=satisfaction.response_times(in_period, as_of=end),
            sla_priority=satisfaction.sla_compliance(in_period, as_of=end, sla_hours=ctx.settings.sla_hours, by="priority"),
            sla_channel=satisfaction.sla_compliance(in_period, as_of=end, sla_hours=ctx.settings.sla_hours, by="channel"),
            sla_all=satisfaction.sla_compliance(in_period, as_of=end, sla_hours=ctx.settings.sla_hours),
        )  # fmt: skip
        if "csat" in tickets.columns and tickets.get_column("csat").is_not_null().any():
            out["ticket_csat"] = satisfaction.csat(in_period)  # a period without ratings: no value, said
        names = {"first_response_median_h": "median", "first_response_p90_h": "p90"}
        out["times_drawn"] = {
            dim: out[key].unpivot(index=dim, on=list(names), variable_name="measure", value_name="hours")
            .with_columns(pl.col("measure").replace(names))
            for key, dim in (("times_channel", "channel"), ("times_priority", "priority"))
        }  # fmt: skip
    return SatisfactionView(**out)


def satisfaction_history(ctx: Context) -> SatisfactionHistoryView:
    _need_surveys_or_tickets(ctx)
    as_of, window, t = ctx.as_of, ctx.settings.churn_window_days, ctx.tables
    out: dict[str, Any] = {}
    if "surveys" in t and t["surveys"].height:
        surveys = t["surveys"]
        out.update(
            nps_trend=(trend := satisfaction.nps_by(surveys.filter(pl.col("responded_at").dt.date() <= as_of), period="1mo")),
            nps_trend_drawn=trend.filter(pl.col("responses") >= MIN_MONTH_ANSWERS),
        )  # fmt: skip
        # the orders as their purchase days and spells, which the context has: the slice's orders
        # are not cut for them (at a million customers, most customers' orders: 400 MB)
        if "orders" in t:
            out["by_group"] = satisfaction.retention_by_nps_group(
                surveys, None, as_of=as_of, churn_window_days=window, customers=t.get("customers"), days=ctx.purchase_days(),
            )  # fmt: skip
    if "tickets" in t and t["tickets"].height and "orders" in t:
        out["complaints"] = satisfaction.complaints_per_100(
            t["tickets"], None, as_of=as_of, churn_window_days=window, customers=t.get("customers"), spells=ctx.spells(),
        )  # fmt: skip
        out["complaints_drawn"] = out["complaints"].filter(pl.col("active_customers") > 0)
    return SatisfactionHistoryView(**out)


# ---------------------------------------------------------------- Segments


def segments_page(ctx: Context) -> SegmentsView:
    ctx.need("customers", "orders")
    # the orders as a query, read in a pass or two (as the Overview's)
    orders, customers = ctx.tables.lazy("orders"), ctx.tables["customers"]
    rfm = with_tier(segments.rfm_segments(orders, as_of=ctx.as_of, days=ctx.purchase_days()), customers)
    summary = segments.segment_summary(rfm)
    matrix = rfm.group_by("segment", "tier").agg(customers=pl.len())
    clusters = segments.clusters(rfm)
    tickets = ctx.tables.get("tickets")
    ticket_costs = ctx.settings.cost_per_ticket is not None and tickets is not None and tickets.height > 0
    acquisition = "acquisition_cost" in customers.columns and customers.get_column("acquisition_cost").drop_nulls().len() > 0
    folio, folio_reason = None, None
    if ticket_costs or acquisition:
        folio = segments.portfolio(
            orders, as_of=ctx.as_of, tickets=tickets, cost_per_ticket=ctx.settings.cost_per_ticket or 0.0,
            margin_rate=ctx.settings.margin_rate, customers=customers,
        )  # fmt: skip
        folio = folio.join(rfm.select("customer_id", "segment", "tier"), on="customer_id", how="left")
        # a chart of a million points sends tens of megabytes to the browser: a seeded sample
        # (every unprofitable customer among them up to the limit) says the same
    else:
        folio_reason = (
            "What serving a customer costs is not known in this dataset, so value cannot be set against it: it needs "
            "support tickets with a cost per ticket (Data page → Settings) or an acquisition cost per customer."
        )
    contacts = None
    if "interactions" in ctx.tables:
        deals = ctx.tables.get("deals")
        sales = deals.filter(pl.col("status") == "won") if deals is not None and deals.height else orders
        # the dataset's interactions, not the slice's: only those of customers in `rfm` (the
        # slice's) count, and cutting them for a slice of most customers is ~150 MB of new memory
        contacts = segments.contacts_per_sale(ctx.dataset.tables["interactions"], sales=sales, segments=rfm)
        contacts = contacts.with_columns(basis=pl.lit("won deals" if sales is not orders else "orders"))
    if "name" in customers.columns:
        rfm = rfm.join(customers.select("customer_id", "name"), on="customer_id", how="left")
    points = None
    if folio is not None:
        worst = folio.filter(pl.col("unprofitable")).sort("profit").head(SCATTER_POINTS // 2)
        rest = folio.join(worst.select("customer_id"), on="customer_id", how="anti")
        rest = rest.sample(n=min(rest.height, SCATTER_POINTS - worst.height), seed=0)
        points = pl.concat([worst, rest])
    if contacts is not None:
        contacts = contacts.filter(pl.col("contacts_per_sale").is_not_null())
    return SegmentsView(**{"rfm": rfm, "summary": summary.filter(pl.col("customers") > 0), "summary_all": summary, "matrix": matrix,
            "tiers": matrix.get_column("tier").n_unique(), "clusters": clusters, "portfolio": folio, "portfolio_points": points,
            "unprofitable": None if folio is None else folio.filter(pl.col("unprofitable")).sort("profit"),
            "portfolio_reason": folio_reason, "contacts": contacts})  # fmt: skip


def segment_members(view: SegmentsView, segment: str) -> pl.DataFrame:
    """The customers of one RFM segment, largest spend first (the page's drill-down)."""
    return view.rfm.filter(pl.col("segment") == segment).sort("monetary", descending=True)


# ---------------------------------------------------------------- Churn risk


AT_RISK_ROWS = 50
# Customers drawn in a scatter at most: two thousand show the cloud's shape as well as five, and
# Chromium draws them in a third of a second (five thousand as SVG: 0.6-0.7 s; in WebGL, without a
# graphics card, 0.55-0.65 s whatever the number of points)
SCATTER_POINTS = 2_000


def churn_page(ctx: Context) -> ChurnView:
    """The model is trained once per dataset on every customer (Context.churn_model); the slice
    only chooses whose scores are shown."""
    ctx.need("customers", "orders")
    model = ctx.trained_churn_model()
    if model.refused:
        return ChurnView(model)
    ids = ctx.tables["customers"].select("customer_id")
    scores = model.scores.join(ids, on="customer_id", how="semi")
    value = ltv.historical_value(ctx.tables.lazy("orders"), as_of=ctx.as_of, margin_rate=ctx.settings.margin_rate)
    scores = scores.join(value.select("customer_id", "margin"), on="customer_id", how="left").with_columns(
        value_at_risk=pl.col("risk") * pl.col("margin").clip(lower_bound=0)
    )
    if "name" in ctx.tables["customers"].columns:
        scores = scores.join(ctx.tables["customers"].select("customer_id", "name"), on="customer_id", how="left")
    # the rows shown are chosen by value at risk, and their drivers computed for exactly them
    at_risk = churn.explain(model, scores.sort("value_at_risk", descending=True, nulls_last=True).head(AT_RISK_ROWS))
    return ChurnView(model, scores, at_risk, stats.binned(scores.get_column("risk")))


# The one registry of page views: page name → function of a Context (dashboard.data.view caches them).
VIEWS: dict[str, Callable[[Context], Any]] = {
    "overview": overview,
    "funnel": funnel_page,
    "funnel_period": funnel_period,
    "retention": retention_page,
    "lifetime_value": lifetime_value,
    "lifetime_value_costs": lifetime_value_costs,
    "satisfaction": satisfaction_page,
    "satisfaction_history": satisfaction_history,
    "segments": segments_page,
    "churn": churn_page,
}


#: Pages whose view reads nothing of the filters but the slice and the as-of date (no period, no
#: comparison): their view is the same for every period, and is cached once for all of them.
PERIOD_FREE = frozenset({"funnel", "retention", "lifetime_value", "satisfaction_history", "segments", "churn"})


def cache_key(page: str, filters: Filters) -> tuple:
    """What `page`'s view depends on of the filters: all of them, or for a PERIOD_FREE page only
    the slice and the as-of date, so that changing the period does not compute it again."""
    return filters.slice_key if page in PERIOD_FREE else filters.key


def compute(page: str, dataset: Dataset, filters: Filters, *, churn_model: Callable[[], churn.ChurnModel] | None = None) -> Any:
    """The view of `page` for the dataset and filters: dataset → slice → page view, named calls only."""
    return view_of(page, context(dataset, filters, churn_model=churn_model))


def view_of(page: str, ctx: Context) -> Any:
    """The view of `page` from a context another page may already have computed shared pieces of."""
    return VIEWS[page](ctx)

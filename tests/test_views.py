"""Page views on data that makes figures misleading (issue 12): each is detected and said in words."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from dashboard import views
from metrics.domain import Dataset, Filters
from metrics.kpis import Period
from metrics.schema import DatasetSettings, with_categorical_keys
from metrics.slicing import Slice
from tests.conftest import kpi_fields


def _context(tables, as_of):
    filters = Filters(Slice(), Period(as_of.replace(day=1), as_of), "previous", as_of)
    return views.context(Dataset("t", tables, DatasetSettings()), filters)


def _never_leaving(customers: int = 600) -> dict[str, pl.DataFrame]:
    """Customers who buy every few weeks from their start to the end of the data and never stop:
    BG/NBD's dropout parameter a runs to 0 and every repeat buyer gets P(alive) = 1."""
    rng = np.random.default_rng(1)
    rows = []
    for c in range(customers):
        t = dt.datetime(2023, 1, 1) + dt.timedelta(days=int(rng.integers(0, 200)))
        while t < dt.datetime(2024, 12, 31):
            rows.append((f"O{len(rows)}", f"C{c}", t, float(rng.uniform(10, 50))))
            t += dt.timedelta(days=int(rng.exponential(25)) + 1)
    orders = pl.DataFrame(rows, schema=["order_id", "customer_id", "order_date", "amount"], orient="row")
    customers_frame = pl.DataFrame({"customer_id": [f"C{c}" for c in range(customers)], "tier": ["Gold"] * customers})
    return {"orders": orders, "customers": customers_frame}


def test_a_degenerate_bgnbd_fit_is_detected_and_said():
    view = views.lifetime_value(_context(_never_leaving(), dt.date(2024, 12, 31)))
    assert view.model.a < 1e-6
    assert view.degenerate is not None and "almost no drop-out" in view.degenerate


def test_an_informative_fit_is_not_called_degenerate(sample_tables):
    view = views.lifetime_value(_context(sample_tables, dt.date(2026, 6, 30)))
    assert view.degenerate is None
    # "likely still active" is over repeat buyers: one-time buyers all have P(alive) = 1
    repeat = view.clv.filter(pl.col("frequency") > 0)
    assert view.p_alive_repeat == repeat.get_column("p_alive").mean() < view.clv.get_column("p_alive").mean()


def test_clv_cac_is_on_margin(sample_tables):
    """CLV predicts spend; set against acquisition cost it is taken on margin: CLV × (Σ margin /
    Σ revenue) of the data, so CLV:CAC = mean CLV × share / mean CAC (METRICS.md)."""
    view = views.lifetime_value(_context(sample_tables, dt.date(2026, 6, 30)))
    share = view.margin_share
    value = view.value
    assert share == value.get_column("margin").sum() / value.get_column("revenue").sum() < 1
    gold = view.clv_cac["tier"].filter(pl.col("tier") == "Gold").row(0, named=True)
    customers = sample_tables["customers"].filter(pl.col("tier") == "Gold")
    gold_model = ltv_models(view, "Gold")
    clv = gold_model.join(customers.select("customer_id", "acquisition_cost"), on="customer_id")
    expected = clv.get_column("clv").mean() * share / clv.get_column("acquisition_cost").mean()
    assert gold["ltv_cac"] == pytest.approx(expected)


def ltv_models(view, tier: str) -> pl.DataFrame:
    """The CLV the view used for a tier's customers: its own model's, or the pooled one's."""
    from metrics import btyd

    return btyd.clv_by_group(view.summary, view.customers.select("customer_id", "tier"), by="tier",
                            pooled=view.pooled_clv).filter(pl.col("tier") == tier)  # fmt: skip


def test_clv_by_tier_comes_from_a_model_per_tier_with_enough_repeat_buyers(sample_tables):
    """Tiers with 300 repeat buyers or more get their own model; the others keep the pooled
    model's values, and say so."""
    from metrics import btyd

    view = views.lifetime_value(_context(sample_tables, dt.date(2026, 6, 30)))
    groups = view.clv_by_group["tier"]
    repeat = view.summary.filter(pl.col("frequency") > 0).join(sample_tables["customers"], on="customer_id")
    enough = {t for (t,), part in repeat.group_by("tier") if part.height >= btyd.MIN_REPEAT_BUYERS_PER_GROUP}
    assert set(groups.filter(pl.col("model") == "own").get_column("tier")) == enough
    assert set(groups.filter(pl.col("model") == "pooled").get_column("tier")) == set(groups.get_column("tier")) - enough


def test_views_hand_charts_bounded_data(sample_tables):
    """A chart gets at most fifty bars or five thousand points, whatever the number of customers."""
    from metrics import stats

    context = _context(sample_tables, dt.date(2026, 6, 30))
    value = views.lifetime_value(context)
    assert value.value_bins.height == 50
    drawn = value.value.filter(pl.col("margin") >= views.CENT).height
    assert value.value_bins.get_column("count").sum() == drawn
    assert value.value_not_drawn == value.value.height - drawn
    folio = views.segments_page(context)
    assert folio.portfolio_points.height <= views.SCATTER_POINTS
    bins = stats.binned(pl.Series([1.0, 2.0, 2.0, 10.0]), bins=3)
    assert bins.get_column("count").to_list() == [3, 0, 1]  # [1, 4), [4, 7), [7, 10]
    # log scale: 1e-14 (a refunded order's floating-point residue) and 0 are left out, so the axis
    # runs over log10 of 0.01 … 100 = −2 … 2 (4 bins of one decade), not over −14 … 2
    residue = stats.binned(pl.Series([1e-14, 0.0, 0.01, 0.5, 100.0]), bins=4, log=True, smallest=0.01)
    assert residue.get_column("left").to_list() == pytest.approx([-2.0, -1.0, 0.0, 1.0])
    assert residue.get_column("count").to_list() == [1, 1, 0, 1]  # 0.01, 0.5 (−0.3), 100 (last bin)


def test_the_page_benchmark_times_every_view_a_page_draws():
    """benchmarks/pages.py times a page's filter change as its view and the views the page draws
    beside it (shell.part): its list must be the pages' own, read from their source."""
    import ast
    from pathlib import Path

    from benchmarks.pages import DRAWN_BESIDE

    drawn = {}
    for page in sorted((Path(__file__).resolve().parent.parent / "pages").glob("*.py")):
        calls = [node for node in ast.walk(ast.parse(page.read_text())) if isinstance(node, ast.Call)
                 and isinstance(node.func, ast.Attribute) and node.func.attr in ("page", "part")]  # fmt: skip
        names = {node.func.attr: node.args[0].value for node in calls if node.args and isinstance(node.args[0], ast.Constant)}
        if "part" in names:
            drawn[names["page"]] = names["part"]
    assert drawn == DRAWN_BESIDE
    assert set(DRAWN_BESIDE) | set(DRAWN_BESIDE.values()) <= set(views.VIEWS)


def test_pages_only_draw():
    """Pages draw their view; every filter, sort and aggregation lives in dashboard/views.py."""
    import ast
    from pathlib import Path

    for page in sorted((Path(__file__).resolve().parent.parent / "pages").glob("*.py")):
        tree = ast.parse(page.read_text())
        imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import | ast.ImportFrom)
                    for alias in node.names} | {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}  # fmt: skip
        assert "polars" not in imported, page.name
        calls = {node.func.attr for node in ast.walk(tree) if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                 and not isinstance(node.func.value, ast.Constant)}  # ", ".join(…) is text, not a frame  # fmt: skip
        assert not calls & {"filter", "group_by", "join", "agg", "unpivot", "with_columns", "sort"}, (page.name, calls)


def test_lifetime_value_of_each_tier_fits_quietly(sample_tables):
    """A tier's slice splits into small channel groups whose fits can probe overflowing
    parameters: no warning escapes (pytest turns warnings into errors), and each group is
    either its own converged model or the pooled one."""
    for tier in ("Bronze", "Silver", "Gold", "Platinum"):
        filters = Filters(Slice(tiers=(tier,)), Period(dt.date(2026, 4, 1), dt.date(2026, 6, 30)), "previous",
                          dt.date(2026, 6, 30))  # fmt: skip
        view = views.lifetime_value(views.context(Dataset("t", sample_tables, DatasetSettings()), filters))
        if view.model is not None:
            assert set(view.clv_by_group["acquisition_channel"].get_column("model")) <= {"own", "pooled"}


def test_every_view_is_a_frozen_record_of_what_its_page_draws(sample_tables):
    """views.VIEWS is the one registry; each page's view is a frozen dataclass, computed through
    views.compute (dataset → slice → view) and only read by its page."""
    import dataclasses

    filters = Filters(Slice(), Period(dt.date(2026, 4, 1), dt.date(2026, 6, 30)), "previous", dt.date(2026, 6, 30))
    dataset = Dataset("t", sample_tables, DatasetSettings())
    for page in views.VIEWS:
        view = views.compute(page, dataset, filters)
        assert dataclasses.is_dataclass(view), page
        first = dataclasses.fields(view)[0].name
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(view, first, None)


def test_the_overview_hands_its_spells_to_the_pages_after_it(sample_tables):
    """The Overview's KPIs read each customer's spells as of the as-of date from the context, so
    the pages after it (Retention, Lifetime value, Satisfaction) read the same frame instead of
    computing it again, and it equals the context's own computation."""
    from polars.testing import assert_frame_equal

    as_of = dt.date(2026, 6, 30)
    filters = Filters(Slice(), Period(dt.date(2026, 4, 1), as_of), "previous", as_of)
    dataset = Dataset("t", sample_tables, DatasetSettings())
    ctx = views.context(dataset, filters)
    overview = views.view_of("overview", ctx)
    assert ctx.spells(as_of) is overview.overview.spells
    assert_frame_equal(ctx.spells(as_of), views.context(dataset, filters).spells(as_of))


@pytest.mark.parametrize("start, end", [(dt.date(2026, 1, 1), dt.date(2026, 3, 31)), (dt.date(2026, 2, 10), dt.date(2026, 5, 20))])
def test_the_overview_of_any_period_is_that_of_its_own_spells(sample_tables, start, end):
    """The Overview's view reads the context's spells as of the as-of date when the period closes
    a month (Jan-Mar) and spells as of the period's end otherwise (10 Feb-20 May: the series' last
    month is partial): either way its cards and monthly series are those computed from the
    period's own spells."""
    from polars.testing import assert_frame_equal

    from metrics import kpis

    as_of = dt.date(2026, 6, 30)
    dataset = Dataset("t", sample_tables, DatasetSettings())
    view = views.view_of("overview", views.context(dataset, Filters(Slice(), Period(start, end), "previous", as_of)))
    own = kpis.overview(sample_tables, period=Period(start, end), comparison="previous", settings=DatasetSettings())
    assert [kpi_fields(k) for k in view.overview.kpis] == [kpi_fields(k, approx=True) for k in own.kpis]
    assert_frame_equal(view.months, kpis.monthly_series(sample_tables, end=end, months=12))


def test_period_free_views_read_no_period(sample_tables):
    """views.PERIOD_FREE views are cached once for every period (views.cache_key), so they must
    not read it: computed with no period and no comparison at all they give the view of any period;
    a page that reads the period (the Overview, the Funnel's period part) cannot be computed so."""
    import dataclasses

    as_of = dt.date(2026, 6, 30)
    dataset = Dataset("t", sample_tables, DatasetSettings())
    nothing = Filters(Slice(tiers=("Gold",)), None, None, as_of)
    quarter = Filters(Slice(tiers=("Gold",)), Period(dt.date(2026, 1, 1), dt.date(2026, 3, 31)), "year", as_of)
    for page in views.PERIOD_FREE:
        without, with_period = views.compute(page, dataset, nothing), views.compute(page, dataset, quarter)
        for field in dataclasses.fields(without):
            _same(getattr(without, field.name), getattr(with_period, field.name), (page, field.name))
        assert views.cache_key(page, quarter) == views.cache_key(page, nothing) == (nothing.slice, as_of)
    for page in ("overview", "funnel_period"):
        assert page not in views.PERIOD_FREE and views.cache_key(page, quarter) == quarter.key
        with pytest.raises((AttributeError, ValueError)):  # no period to read, no comparison to make
            views.compute(page, dataset, nothing)


def _same(a, b, where) -> None:
    """a and b hold the same figures: frames in any row order (two runs may group in another order,
    or add a sum in another order, the last digit apart), dicts, lists and dataclasses item by item."""
    import dataclasses

    from polars.testing import assert_frame_equal

    if isinstance(a, pl.DataFrame):
        assert_frame_equal(a, b, check_exact=False, rel_tol=1e-12, check_row_order=False)
    elif isinstance(a, dict):
        assert a.keys() == b.keys(), where
        for key in a:
            _same(a[key], b[key], (*where, key))
    elif isinstance(a, list | tuple):
        assert len(a) == len(b), where
        for x, y in zip(a, b, strict=True):
            _same(x, y, where)
    elif dataclasses.is_dataclass(a) and not isinstance(a, type):  # a KPI, the overview's result
        assert type(a) is type(b), where
        for field in dataclasses.fields(a):
            _same(getattr(a, field.name), getattr(b, field.name), (*where, field.name))
    elif isinstance(a, float):
        assert a == pytest.approx(b, rel=1e-12, nan_ok=True), where
    else:
        assert repr(a) == repr(b), where


def test_a_context_for_another_period_shares_its_pieces_and_gives_the_same_views(sample_tables):
    """A period change keeps the slice, its purchase days and its spells (Context.for_filters, as
    dashboard/data.py caches contexts per slice and as-of date), so no shared piece may read the
    period: each page that reads it, computed after the first period filled the pieces, gives the
    view of a context made afresh for the second period. Another slice cannot share them."""
    import dataclasses

    as_of = dt.date(2026, 6, 30)
    dataset = Dataset("t", sample_tables, DatasetSettings())
    first = Filters(Slice(tiers=("Gold",)), Period(dt.date(2026, 4, 1), as_of), "previous", as_of)
    second = Filters(Slice(tiers=("Gold",)), Period(dt.date(2026, 1, 1), dt.date(2026, 3, 31)), "year", as_of)
    shared = views.context(dataset, first)
    pages = [page for page in views.VIEWS if page not in views.PERIOD_FREE]
    for page in pages:
        views.view_of(page, shared)
    again = shared.for_filters(second)
    assert again.purchase_days() is shared.purchase_days() and again.tables is shared.tables
    for page in pages:
        kept, afresh = views.view_of(page, again), views.compute(page, dataset, second)
        for field in dataclasses.fields(kept):
            _same(getattr(kept, field.name), getattr(afresh, field.name), (page, field.name))
    with pytest.raises(ValueError, match="slice"):
        shared.for_filters(dataclasses.replace(second, slice=Slice(tiers=("Silver",))))


def test_a_context_keeps_the_spells_of_its_last_few_end_dates(sample_tables):
    """A context lives across periods: it keeps the activity spells of the SPELLS_KEPT end dates
    asked for last, not of every period a visitor opened, and computes an older one again when
    asked (the same spells)."""
    as_of = dt.date(2026, 6, 30)
    ctx = views.context(Dataset("t", sample_tables, DatasetSettings()), Filters(Slice(), Period(as_of.replace(day=1), as_of), "previous", as_of))
    ends = [dt.date(2026, month, 1) - dt.timedelta(days=1) for month in range(1, 7)]  # six month ends
    first = ctx.spells(ends[0])
    for end in ends[1:]:
        ctx.spells(end)
    kept = [key[1] for key in ctx._shared if isinstance(key, tuple) and key[0] == "spells"]
    assert kept == ends[-views.SPELLS_KEPT:]
    again = ctx.spells(ends[0])
    assert again is not first and again.equals(first)
    # used again, a kept end date stays: the one used longest ago goes instead
    kept_first = ctx.spells(ends[3])
    ctx.spells(ends[1])
    assert ctx.spells(ends[3]) is kept_first


def test_with_tier_adds_each_rows_customers_tier_as_a_left_join_would():
    """Orders of c1 (Gold), of no one, of c9 (not a customer) and of c2 (no tier) get Gold, null,
    null and Unassigned, in the orders' own order, whether the ids are text or Categorical."""
    from metrics.schema import UNASSIGNED_TIER

    orders = pl.DataFrame({"customer_id": ["c1", None, "c9", "c2", "c1"], "amount": [1.0, 2.0, 3.0, 4.0, 5.0]})
    customers = pl.DataFrame({"customer_id": ["c2", "c1"], "tier": [None, "Gold"]})
    for ids in (pl.String, pl.Categorical):
        as_ids = pl.col("customer_id").cast(ids)
        got = views.with_tier(orders.with_columns(as_ids), customers.with_columns(as_ids))
        assert got.get_column("tier").to_list() == ["Gold", None, None, UNASSIGNED_TIER, "Gold"]
        assert got.get_column("amount").to_list() == [1.0, 2.0, 3.0, 4.0, 5.0]


def test_the_funnel_breaks_down_only_by_what_varies():
    """Four deals of customers without a tier (all Unassigned), of two owners, from one source:
    a breakdown by tier or source would draw the funnel again, so only the owners are shown."""
    day = dt.datetime(2024, 3, 5)
    deals = pl.DataFrame({
        "deal_id": ["D1", "D2", "D3", "D4"], "customer_id": ["a", "b", "c", "d"], "stage": ["Lead", "Won", "Won", "Lead"],
        "status": ["lost", "won", "won", "open"], "created_date": [day] * 4, "closed_date": [day, day, day, None],
        "amount": [1.0, 2.0, 3.0, 4.0], "owner": ["ann", "bob", "ann", "bob"], "source": ["web"] * 4,
    })  # fmt: skip
    customers = pl.DataFrame({"customer_id": ["a", "b", "c", "d"], "tier": [None, None, None, None]}, schema_overrides={"tier": pl.String})
    from metrics.schema import conform

    tables = {"deals": conform(deals, "deals"), "customers": conform(customers, "customers")}
    view = views.funnel_page(_context(tables, dt.date(2024, 3, 31)))
    assert list(view.breakdowns) == ["owner"]


def test_a_dimension_recorded_only_for_won_deals_is_not_a_breakdown():
    """Olist's funnel: a lead's business segment comes with the closed deal, so only won deals
    have one. By segment every stage would read 100 %: it is left out and named; the source,
    known for every lead, stays."""
    from metrics.schema import conform

    day = dt.datetime(2024, 3, 5)
    deals = pl.DataFrame({
        "deal_id": ["D1", "D2", "D3", "D4"], "stage": ["Won", "Won", "Lead", "Lead"], "status": ["won", "won", "lost", "open"],
        "created_date": [day] * 4, "closed_date": [day, day, day, None], "segment": ["cars", "toys", None, None],
        "source": ["web", "ads", "web", "ads"],
    })  # fmt: skip
    view = views.funnel_page(_context({"deals": conform(deals, "deals")}, dt.date(2024, 3, 31)))
    assert list(view.breakdowns) == ["source"] and view.breakdowns_won_only == ("segment",)
    period = views.view_of("funnel_period", _context({"deals": conform(deals, "deals")}, dt.date(2024, 3, 31)))
    assert list(period.breakdowns) == ["source"] and period.breakdowns_won_only == ("segment",)


def test_tickets_rated_after_they_were_answered_give_their_own_csat():
    """Ratings on the tickets (Zendesk's Good/Bad, a 1–5 rating) were imported and shown nowhere.
    March: T1 rated 5, T2 2, T3 4, T4 not rated; T0 (February, rated 1) is outside the period.
    CSAT after tickets = rated 4 or 5 / rated = 2 / 3 = 66.7 %. Tickets without any rating: none."""
    from metrics.schema import conform

    tickets = conform(pl.DataFrame({
        "ticket_id": ["T0", "T1", "T2", "T3", "T4"], "customer_id": ["C1", "C1", "C2", "C2", "C1"],
        "created_at": [dt.datetime(2024, 2, 20), *[dt.datetime(2024, 3, d) for d in (2, 5, 9, 12)]],
        "csat": [1, 5, 2, 4, None]}), "tickets")  # fmt: skip
    customers = pl.DataFrame({"customer_id": ["C1", "C2"], "tier": ["Gold", "Silver"]})
    view = views.satisfaction_page(_context({"tickets": tickets, "customers": customers}, dt.date(2024, 3, 31)))
    assert view.ticket_csat.value == pytest.approx(200 / 3) and view.ticket_csat.denominator == 3
    unrated = {"tickets": tickets.with_columns(pl.lit(None, pl.Int8).alias("csat")), "customers": customers}
    assert views.satisfaction_page(_context(unrated, dt.date(2024, 3, 31))).ticket_csat is None


def test_the_overview_months_of_a_period_change_are_those_computed_afresh(sample_tables):
    """A context keeps the complete months an earlier period showed (Context.complete_months): the
    Overview of each period, stepped back a quarter at a time, then a jump back a year and a
    period that ends mid-month, has the twelve months a fresh computation gives, row for row
    (revenue, active and new customers, churn, win rate, NPS, CSAT, first response). Stepping
    back a quarter computes only the three months not yet known."""
    from metrics import kpis

    as_of = dt.date(2026, 6, 30)
    context = _context(sample_tables, as_of)
    quarters = [(dt.date(2026, 4, 1), dt.date(2026, 6, 30)), (dt.date(2026, 1, 1), dt.date(2026, 3, 31)),
                (dt.date(2025, 10, 1), dt.date(2025, 12, 31)), (dt.date(2024, 10, 1), dt.date(2024, 12, 31)),
                (dt.date(2025, 5, 1), dt.date(2025, 5, 20))]  # fmt: skip
    computed = []
    for start, end in quarters:
        filters = Filters(Slice(), Period(start, end), "previous", as_of)
        before = set(context._shared.get("complete_months", {}))
        months = views.overview(context.for_filters(filters)).months
        computed.append(len(set(context._shared.get("complete_months", {})) - before))
        fresh = kpis.monthly_series({**sample_tables, "deals": context.dated_deals()}, end=end, months=12)
        assert_frame_equal(months, fresh)
    assert computed == [12, 3, 3, 12, 0]


def test_a_slice_cuts_its_purchase_days_out_of_the_whole_bases(sample_tables, monkeypatch):
    """A slice's purchase days are the whole base's rows of its customers where the whole base's
    context has computed them: equal to what purchase_days gives for the slice's own orders, and
    found without sorting them. Where the whole base's context has none, the slice sorts its own
    orders rather than making that context sort every order."""
    as_of = dt.date(2026, 6, 30)
    dataset = Dataset("t", sample_tables, DatasetSettings())
    period = Period(dt.date(2026, 4, 1), as_of)
    everyone = views.context(dataset, Filters(Slice(), period, "previous", as_of))
    gold = Filters(Slice(tiers=("Gold",)), period, "previous", as_of)
    alone = views.context(dataset, gold).purchase_days()
    views.context(dataset, gold, whole=lambda: everyone).purchase_days()
    assert "purchase_days" not in everyone._shared
    everyone.purchase_days()
    monkeypatch.setattr(views, "purchase_days", lambda *args, **kwargs: pytest.fail("the slice's orders were sorted"))
    cut = views.context(dataset, gold, whole=lambda: everyone).purchase_days()
    assert 0 < cut.table.height < everyone.purchase_days().table.height
    assert_frame_equal(cut.table, alone.table)
    assert (cut.as_of, cut.id_type) == (alone.as_of, alone.id_type)


def test_a_slices_spells_and_rfm_summaries_are_the_whole_bases_rows_of_its_customers(sample_tables):
    """Where the whole base's context has computed them, a slice's activity spells and RFM
    summaries are the whole base's rows of its customers (each customer's rows depend on their own
    purchases alone): equal to those from the slice's own purchase days, which its Overview and
    Lifetime value pages then never compute."""
    as_of = dt.date(2026, 6, 30)
    dataset = Dataset("t", with_categorical_keys(sample_tables), DatasetSettings())
    period = Period(dt.date(2026, 4, 1), as_of)
    everyone = views.context(dataset, Filters(Slice(), period, "previous", as_of))
    for page in ("overview", "lifetime_value", "lifetime_value_costs"):
        views.view_of(page, everyone)
    chosen = Filters(Slice(tiers=("Silver", "Gold")), period, "previous", as_of)
    ctx, alone = views.context(dataset, chosen, whole=lambda: everyone), views.context(dataset, chosen)
    dates = [as_of - dt.timedelta(days=182), as_of, dt.date(2025, 6, 30)]  # the Lifetime value page's
    for got, expected, whole in zip(ctx.rfm_summaries(dates), alone.rfm_summaries(dates), everyone.rfm_summaries(dates), strict=True):
        assert 0 < got.height < whole.height
        assert_frame_equal(got, expected)
    for end in (as_of, period.end):
        assert_frame_equal(ctx.spells(end), alone.spells(end))
    value, value_alone = views.lifetime_value(ctx), views.lifetime_value(alone)
    assert_frame_equal(value.pooled_clv, value_alone.pooled_clv)
    assert value.holdout["predicted"] == value_alone.holdout["predicted"] and value.backtest == value_alone.backtest
    assert views.lifetime_value_costs(ctx) == views.lifetime_value_costs(alone)
    front, front_alone = views.overview(ctx), views.overview(alone)
    assert_frame_equal(front.months, front_alone.months)
    assert [k.value for k in front.overview.kpis] == [k.value for k in front_alone.overview.kpis]
    assert ctx.computed("purchase_days") is None and alone.computed("purchase_days") is not None


@pytest.mark.parametrize("undated", [False, True])
def test_a_slice_cuts_its_sorted_stage_history_out_of_the_whole_bases(sample_tables, monkeypatch, undated):
    """A slice's stage history sorted by deal is the whole base's runs of its deals where the
    whole base's context has them: the Funnel shows the same as from the slice's own sort (also
    where lost deals lack their close dates, dated then from their last stage), and neither sorts
    the slice's entries nor cuts them."""
    from metrics.deal_history import deal_history

    tables = dict(sample_tables)
    if undated:  # lost deals without a close date (HubSpot's exports)
        lost = pl.col("status") == "lost"
        tables["deals"] = tables["deals"].with_columns(closed_date=pl.when(~lost).then(pl.col("closed_date")))
    as_of = dt.date(2026, 6, 30)
    dataset = Dataset("t", with_categorical_keys(tables), DatasetSettings())
    period = Period(dt.date(2026, 4, 1), as_of)
    everyone = views.context(dataset, Filters(Slice(), period, "previous", as_of))
    everyone.deals_reached()
    gold = Filters(Slice(tiers=("Gold", "Platinum")), period, "previous", as_of)
    alone = views.funnel_page(views.context(dataset, gold))
    monkeypatch.setattr(views, "deal_history", lambda *args, **kwargs: pytest.fail("the slice's stage history was sorted"))
    ctx = views.context(dataset, gold, whole=lambda: everyone)
    cut = views.funnel_page(ctx)
    assert "stage_history" not in ctx.tables.cut
    assert cut.reach.height < everyone.deals_reached().reach.height
    assert_frame_equal(cut.reach, alone.reach)
    assert_frame_equal(cut.funnel, alone.funnel)
    assert_frame_equal(cut.time_in_stage, alone.time_in_stage)
    assert (cut.close_dates, cut.win_rate_all) == (alone.close_dates, alone.win_rate_all)
    assert ("last stage" in cut.close_dates) is undated
    # the cut runs are those of the slice's own entries: the same deals, each entered last alike
    own = deal_history(ctx.tables["stage_history"])
    of_deals = everyone.deals_reached().history.of_deals(ctx.tables["deals"].get_column("deal_id"))
    assert of_deals.deals().to_list() == own.deals().to_list()
    assert of_deals.last_entered().to_list() == own.last_entered().to_list()


def test_a_slice_does_not_wait_while_the_whole_bases_context_computes_another_piece(sample_tables):
    """The whole base's context holds its lock while it computes a piece for another visitor (its
    deals' furthest stages take a second at a million customers): a slice only looks at the
    purchase days it has, so a tier change does not wait for that piece."""
    import threading

    as_of = dt.date(2026, 6, 30)
    dataset = Dataset("t", sample_tables, DatasetSettings())
    period = Period(dt.date(2026, 4, 1), as_of)
    everyone = views.context(dataset, Filters(Slice(), period, "previous", as_of))
    everyone.purchase_days()
    busy, release = threading.Event(), threading.Event()

    def another_piece():
        with everyone._lock:
            busy.set()
            release.wait(timeout=60)

    holder = threading.Thread(target=another_piece)
    holder.start()
    busy.wait(timeout=10)
    try:
        done = []
        silver = views.context(dataset, Filters(Slice(tiers=("Silver",)), period, "previous", as_of), whole=lambda: everyone)
        worker = threading.Thread(target=lambda: done.append(silver.purchase_days()))
        worker.start()
        worker.join(timeout=30)
        assert done, "the slice waited for the whole base's context"
    finally:
        release.set()
        holder.join()


def test_a_slices_tables_are_cut_when_first_read_and_once(sample_tables):
    """A slice's tables (SlicedTables) are cut as they are first read, each once: asking whether
    one is there cuts nothing; a deal's stage history needs the slice's deals, which need its
    customers; the other tables stay whole-base until asked for. Read from several threads at
    once, a table is cut once and every reader gets that one frame."""
    import threading

    from metrics.slicing import SlicedTables, slice_tables

    chosen = Slice(tiers=("Gold", "Platinum"))
    sliced = SlicedTables(sample_tables, chosen)
    assert list(sliced) == list(sample_tables) and len(sliced) == len(sample_tables)
    assert "orders" in sliced and "nonexistent" not in sliced and sliced.cut == ()
    history = sliced["stage_history"]
    assert sliced.cut == ("customers", "deals", "stage_history")
    assert history.height < sample_tables["stage_history"].height
    with pytest.raises(KeyError):
        sliced["nonexistent"]
    read: list[pl.DataFrame] = []
    threads = [threading.Thread(target=lambda: read.append(sliced["orders"])) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(read) == 4 and all(frame is read[0] for frame in read) and sliced.cut.count("orders") == 1
    eager = slice_tables(sample_tables, chosen)
    for name in sample_tables:
        assert_frame_equal(sliced[name], eager[name])


@pytest.mark.parametrize("page, never_cut", [("overview", {"orders", "stage_history", "interactions", "tickets", "surveys"}),
                                             ("funnel", {"orders", "interactions", "tickets", "surveys"}),
                                             ("retention", {"orders", "deals", "stage_history", "interactions", "tickets", "surveys"}),
                                             ("lifetime_value", {"orders", "deals", "stage_history", "interactions", "tickets", "surveys"}),
                                             ("lifetime_value_costs", {"orders", "deals", "stage_history", "interactions", "tickets",
                                                                       "surveys"}),
                                             ("satisfaction_history", {"orders", "deals", "stage_history", "interactions"}),
                                             ("segments", {"orders", "stage_history", "interactions", "surveys"}),
                                             ("churn", {"orders", "deals", "stage_history", "interactions", "tickets", "surveys"})])  # fmt: skip
def test_a_page_of_a_slice_cuts_only_the_tables_it_reads(sample_tables, page, never_cut):
    """At a million customers a slice of most customers cut whole took over a gigabyte of new
    memory; a page cuts what it reads: the Funnel no orders, Retention no deals, Satisfaction's
    history no orders (their purchase days come from the whole base's, as in a server). The
    Overview, Retention, Lifetime value, Segments and Churn risk read the orders as a query
    (SlicedTables.lazy) and cut none; the Overview reads surveys and tickets so too, and no stage
    history where every closed deal has its date."""
    as_of = dt.date(2026, 6, 30)
    dataset, period = Dataset("t", sample_tables, DatasetSettings()), Period(dt.date(2026, 4, 1), as_of)
    everyone = views.context(dataset, Filters(Slice(), period, "previous", as_of))
    everyone.purchase_days()
    filters = Filters(Slice(tiers=("Gold", "Platinum")), period, "previous", as_of)
    ctx = views.context(dataset, filters, whole=lambda: everyone)
    views.view_of(page, ctx)
    assert ctx.tables.cut and not never_cut & set(ctx.tables.cut), ctx.tables.cut


def test_a_slices_tables_as_queries_are_its_cut_tables(sample_tables):
    """SlicedTables.lazy gives the rows the cut has, in its order, without cutting; once a table is
    cut, the cut itself. The Overview, Retention, Lifetime value, Segments and Churn risk, which
    read the orders so, show the same as from the slice's own tables."""
    from metrics.slicing import SlicedTables, slice_tables

    chosen = Slice(tiers=("Gold", "Platinum"))
    eager = slice_tables(sample_tables, chosen)
    sliced = SlicedTables(sample_tables, chosen)
    for name in sample_tables:
        assert_frame_equal(sliced.lazy(name).collect(), eager[name])
    assert "orders" not in sliced.cut and "tickets" not in sliced.cut
    assert_frame_equal(sliced.lazy("orders").collect(), sliced["orders"])
    as_of = dt.date(2026, 6, 30)
    filters = Filters(chosen, Period(dt.date(2026, 4, 1), as_of), "previous", as_of)
    ctx = views.context(Dataset("t", sample_tables, DatasetSettings()), filters)
    alone = views.context(Dataset("t", eager, DatasetSettings()), replace(filters, slice=Slice()))
    kept, cut = views.retention_page(ctx), views.retention_page(alone)
    assert kept.repeat == cut.repeat
    assert_frame_equal(kept.revenue, cut.revenue)
    assert_frame_equal(kept.customers, cut.customers)
    value, value_cut = views.lifetime_value(ctx), views.lifetime_value(alone)
    assert_frame_equal(value.value, value_cut.value)
    assert value.backtest == value_cut.backtest and value.backtest is not None
    front, front_cut = views.overview(ctx), views.overview(alone)
    # the same figures; sums of many amounts may differ in the last digit (added in another order)
    for kpi, kpi_cut in zip(front.overview.kpis, front_cut.overview.kpis, strict=True):
        assert (kpi.key, kpi.definition) == (kpi_cut.key, kpi_cut.definition)
        for got, expected in ((kpi.value, kpi_cut.value), (kpi.previous, kpi_cut.previous), (kpi.p_value, kpi_cut.p_value)):
            assert got == (expected if expected is None else pytest.approx(expected, rel=1e-12))
    assert front.changes == front_cut.changes
    assert_frame_equal(front.months, front_cut.months)
    assert_frame_equal(front.tiers, front_cut.tiers)
    kinds, kinds_cut = views.segments_page(ctx), views.segments_page(alone)
    assert_frame_equal(kinds.rfm, kinds_cut.rfm)
    assert_frame_equal(kinds.portfolio, kinds_cut.portfolio)
    # (the churn model is trained on the dataset's customers, so only the slice's margins compare)
    margins = [views.churn_page(c).scores.select("customer_id", "margin").sort("customer_id") for c in (ctx, alone)]
    assert_frame_equal(*margins)
    assert "orders" not in ctx.tables.cut


def test_a_slices_retention_cost_counts_its_own_customers_contacts(sample_tables):
    """The Lifetime value page's retention cost reads the dataset's tickets and interactions
    without cutting them to the slice: only the retained customers' count, who are the slice's.
    The same figures as from the slice's own tables, on a slice whose customers have far fewer
    tickets than everyone's."""
    from metrics.slicing import slice_tables

    as_of = dt.date(2026, 6, 30)
    settings = replace(DatasetSettings(), cost_per_ticket=25.0, cost_per_interaction=5.0)
    filters = Filters(Slice(tiers=("Platinum",)), Period(dt.date(2026, 4, 1), as_of), "previous", as_of)
    dataset = Dataset("t", sample_tables, settings)
    costs = views.acquisition_vs_retention(views.context(dataset, filters))
    cut = slice_tables(sample_tables, filters.slice)
    assert cut["tickets"].height < sample_tables["tickets"].height / 3
    alone = views.acquisition_vs_retention(views.context(Dataset("t", cut, settings), replace(filters, slice=Slice())))
    assert costs == alone and costs["retention_cost"] and costs["retained"] < 2_000, costs


def test_a_slices_contacts_per_sale_count_its_own_customers_interactions(sample_tables):
    """Segments' contacts per sale read the dataset's interactions without cutting them to the
    slice: only those of the slice's customers (its RFM segments) count. The same figures as from
    the slice's own tables."""
    from metrics.slicing import slice_tables

    as_of = dt.date(2026, 6, 30)
    filters = Filters(Slice(tiers=("Platinum",)), Period(dt.date(2026, 4, 1), as_of), "previous", as_of)
    contacts = views.segments_page(views.context(Dataset("t", sample_tables, DatasetSettings()), filters)).contacts
    cut = slice_tables(sample_tables, filters.slice)
    assert cut["interactions"].height < sample_tables["interactions"].height / 3
    alone = views.segments_page(views.context(Dataset("t", cut, DatasetSettings()), replace(filters, slice=Slice()))).contacts
    assert contacts.height and contacts.get_column("interactions").sum() < cut["interactions"].height + 1
    assert_frame_equal(contacts, alone)

"""Small breaks that once went unnoticed (issue 14), each pinned by a test of its own: the slice of
stage history, contacts per sale per won deal, the holdout's six months, the funnel's tier of a
customer's deal, lookup files filling a table's missing columns, and Mood's median test."""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl
import pytest

from dashboard import views
from metrics import kpis
from metrics.domain import Dataset, Filters
from metrics.kpis import Period
from metrics.schema import DatasetSettings, with_categorical_keys
from metrics.slicing import Slice, slice_tables
from sample_data import sample_settings

AS_OF = dt.date(2026, 6, 30)


def _context(tables, settings=None):
    filters = Filters(Slice(), Period(dt.date(2026, 4, 1), AS_OF), "previous", AS_OF)
    return views.context(Dataset("t", tables, settings or sample_settings()), filters)


def test_a_slice_cuts_the_stage_history_to_its_deals():
    """Customers A (Gold) and B (Silver); deals D1 of A, D2 of B, D3 a prospect tagged Gold. The
    Gold slice keeps D1 and D3 and exactly their history rows."""
    tables = {
        "customers": pl.DataFrame({"customer_id": ["A", "B"], "tier": ["Gold", "Silver"]}),
        "deals": pl.DataFrame({"deal_id": ["D1", "D2", "D3"], "customer_id": ["A", "B", None],
                               "tier": [None, None, "Gold"]}),  # fmt: skip
        "stage_history": pl.DataFrame({"deal_id": ["D1", "D2", "D2", "D3"], "stage": ["Lead", "Lead", "Won", "Lead"]}),
    }
    gold = slice_tables(tables, Slice(tiers=("Gold",)))
    assert sorted(gold["deals"].get_column("deal_id")) == ["D1", "D3"]
    assert sorted(gold["stage_history"].get_column("deal_id")) == ["D1", "D3"]


@pytest.mark.parametrize("categorical", [False, True])
def test_a_slice_keeps_its_customers_orders_in_their_order(categorical):
    """Gold = A and C. Orders of A, B, C, nobody (null id) and an id missing from the customers
    table (Z): the slice keeps A's and C's in the order given, text or Categorical ids alike."""
    tables = {
        "customers": pl.DataFrame({"customer_id": ["A", "B", "C"], "tier": ["Gold", "Silver", "Gold"]}),
        "orders": pl.DataFrame({"customer_id": ["C", "B", None, "A", "Z", "C"], "amount": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]}),
    }
    if categorical:
        tables = with_categorical_keys(tables)
    gold = slice_tables(tables, Slice(tiers=("Gold",)))
    assert gold["orders"].get_column("amount").to_list() == [1.0, 4.0, 6.0]


def test_contacts_per_sale_count_won_deals_not_orders(sample_tables):
    """Where there are deals, a sale is a won deal: per segment, interactions / won deals."""
    view = views.segments_page(_context(sample_tables))
    contacts = view.contacts
    assert set(contacts.get_column("basis")) == {"won deals"}
    rfm = view.rfm.select("customer_id", "segment")
    won = sample_tables["deals"].filter(pl.col("status") == "won").select("customer_id").join(rfm, on="customer_id")
    expected = won.group_by("segment").agg(sales=pl.len())
    got = dict(contacts.select("segment", "sales").drop_nulls().iter_rows())
    assert got == dict(expected.iter_rows())


def test_the_holdout_check_leaves_out_the_last_six_months(sample_tables):
    """The model is checked on its prediction of the last 182 days (README: six months)."""
    view = views.lifetime_value(_context(sample_tables))
    assert view.calibration_end == AS_OF - dt.timedelta(days=182)


def test_a_customers_deal_takes_the_customers_tier_and_a_prospect_keeps_its_own():
    """D1 belongs to customer A (Gold) but its own row says Silver: it counts as Gold. D2 is a
    prospect tagged Bronze: Bronze. D3 is a prospect without a tier: Unassigned."""
    tables = {
        "customers": pl.DataFrame({"customer_id": ["A"], "tier": ["Gold"], "segment": ["Retail"], "region": ["North"]}),
        "deals": pl.DataFrame({
            "deal_id": ["D1", "D2", "D3"], "customer_id": ["A", None, None], "tier": ["Silver", "Bronze", None],
            "segment": [None, None, None], "region": [None, None, None], "stage": ["Lead"] * 3, "status": ["open"] * 3,
            "created_date": [dt.datetime(2026, 5, 1)] * 3, "closed_date": [None, None, None], "amount": [1.0] * 3,
        }, schema_overrides={"closed_date": pl.Datetime("us")}),  # fmt: skip
    }
    settings = DatasetSettings(stage_order=["Lead", "Won"])
    view = views.funnel_page(_context(tables, settings))
    tiers = dict(view.reach.select("deal_id", "tier").iter_rows())
    assert tiers == {"D1": "Gold", "D2": "Bronze", "D3": "Unassigned"}


def test_a_lookup_file_fills_the_columns_its_table_lacks(realdata):
    """Maven's sales_teams.csv (agent → manager → regional_office) is joined onto the deals by
    sales agent, and its regional office becomes the deals' region."""
    from dashboard.importer import SourceFile, plan_import

    files = [SourceFile(p.name, p.read_bytes()) for p in sorted((realdata / "maven_crm").glob("*.csv"))]
    deals = plan_import(files).tables["deals"]
    assert set(deals.get_column("region").drop_nulls()) == {"Central", "East", "West"}
    assert deals.get_column("region").null_count() == 0


def test_moods_median_test_against_scipy():
    """Mood's median test as a two-proportion z-test of the shares above the pooled median:
    first 1, 2, 3, 4, 30 and second 5, 6, 7, 8, 9 → pooled median 5.5 (the mean would be 7.5),
    above it 1 of 5 and 4 of 5; z = (0.2 − 0.8) / sqrt(0.5 · 0.5 · (1/5 + 1/5)) = −1.897…,
    two-sided p = 0.0578."""
    first, second = np.array([1, 2, 3, 4, 30.0]), np.array([5, 6, 7, 8, 9.0])
    assert kpis.median_test_p(first, second) == pytest.approx(0.05777957, rel=1e-6)
    # a shift of the first sample's values above the median changes the verdict
    assert kpis.median_test_p(np.array([6, 7, 8, 9, 10.0]), second) > 0.5

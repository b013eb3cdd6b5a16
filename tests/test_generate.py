"""The sample generator: deterministic, canonical, and behaving like a real customer base."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from metrics.schema import TABLES, conform
from sample_data.generate import AS_OF, generate, generate_chunk, main


def test_same_seed_same_data_different_seed_different_data():
    a = generate_chunk(seed=3, chunk=0, first=0, n=400)
    b = generate_chunk(seed=3, chunk=0, first=0, n=400)
    c = generate_chunk(seed=4, chunk=0, first=0, n=400)
    for name in TABLES:
        assert_frame_equal(a[name], b[name])
    assert not a["orders"].equals(c["orders"])


def test_files_are_canonical_tables_named_after_the_table(tmp_path):
    assert main(["--customers", "300", "--seed", "1", "--out", str(tmp_path), "--quiet"]) == 0
    for name, spec in TABLES.items():
        frame = pl.read_parquet(tmp_path / f"{name}.parquet")
        assert frame.columns[: len(spec.names)] == spec.names
        assert_frame_equal(frame, conform(frame, name))


def test_chunks_make_unique_ids_across_chunk_boundaries(tmp_path, monkeypatch):
    monkeypatch.setattr("sample_data.generate.CHUNK_CUSTOMERS", 150)
    generate(400, 2, tmp_path, quiet=True)
    for name, spec in TABLES.items():
        if spec.id_column:
            ids = pl.read_parquet(tmp_path / f"{name}.parquet").get_column(spec.id_column)
            assert ids.is_unique().all(), name


@pytest.fixture(scope="module")
def big():
    return generate_chunk(seed=11, chunk=0, first=0, n=20_000)


def test_no_event_after_the_fixed_as_of_date(big):
    limit = dt.datetime.combine(AS_OF, dt.time.max)
    assert big["orders"].get_column("order_date").max() <= limit
    assert big["tickets"].get_column("created_at").max() <= limit
    assert big["customers"].get_column("signup_date").max() <= AS_OF


def test_tiers_differ_in_size_spend_and_retention(big):
    c, o = big["customers"], big["orders"]
    last = o.group_by("customer_id").agg(pl.col("order_date").max().alias("last"))
    per_tier = (
        c.join(last, on="customer_id")
        .join(o.group_by("customer_id").agg(pl.col("amount").mean().alias("aov")), on="customer_id")
        .group_by("tier")
        .agg(
            pl.len().alias("n"),
            pl.col("aov").median(),
            (pl.col("last") >= dt.datetime(2026, 4, 1)).mean().alias("still_buying"),
        )
    )
    rows = {r["tier"]: r for r in per_tier.iter_rows(named=True)}
    assert rows["Bronze"]["n"] > rows["Silver"]["n"] > rows["Gold"]["n"] > rows["Platinum"]["n"]
    assert rows["Bronze"]["aov"] < rows["Gold"]["aov"] < rows["Platinum"]["aov"]
    assert rows["Bronze"]["still_buying"] < rows["Gold"]["still_buying"] < rows["Platinum"]["still_buying"]


def test_detractors_stop_buying_more_often_than_promoters(big):
    last = big["orders"].group_by("customer_id").agg(pl.col("order_date").max().alias("last"))
    s = big["surveys"].filter(pl.col("nps").is_not_null()).join(last, on="customer_id")
    lapsed = (pl.col("last") < dt.datetime(2026, 4, 1)).mean()
    promoters = s.filter(pl.col("nps") >= 9).select(lapsed).item()
    detractors = s.filter(pl.col("nps") <= 6).select(lapsed).item()
    assert detractors > promoters + 0.1


def test_refunds_churn_dates_open_pipeline_and_sla_breaches_exist(big):
    assert big["orders"].filter(pl.col("amount") < 0).height > 0
    assert big["customers"].get_column("churn_date").is_not_null().sum() > 0
    statuses = set(big["deals"].get_column("status").unique())
    assert statuses == {"open", "won", "lost"}
    t = big["tickets"].with_columns(
        ((pl.col("first_response_at") - pl.col("created_at")).dt.total_seconds() / 3600).alias("h")
    )
    urgent = t.filter(pl.col("priority") == "urgent")
    assert 0 < (urgent.get_column("h") > 1).mean() < 0.8  # some, not all, breach a 1 h target
    by_channel = t.group_by("channel").agg(pl.col("h").median()).sort("h")
    assert by_channel.get_column("channel")[0] in ("phone", "chat")


def test_stage_history_follows_stage_order(big):
    h = big["stage_history"].sort("deal_id", "entered_at")
    ranks = {"Lead": 0, "Qualified": 1, "Proposal": 2, "Negotiation": 3, "Won": 4}
    ranked = h.with_columns(pl.col("stage").replace_strict(ranks).alias("r"))
    steps = ranked.group_by("deal_id").agg(pl.col("r").diff().drop_nulls().min().alias("d"))
    assert steps.get_column("d").drop_nulls().min() == 1


def test_default_dataset_is_committed_and_loads(sample_tables):
    assert 4_000 <= sample_tables["customers"].height <= 6_000
    assert set(sample_tables) == set(TABLES)

"""Every metric gives the same answer for eager and lazy input, and for string and Categorical ids
(the dashboard casts its loaded dataset's keys, metrics.schema.with_categorical_keys), and never
changes its input."""

from __future__ import annotations

import datetime as dt
import uuid

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from metrics import activity, btyd, funnel, ltv, retention, satisfaction, segments
from metrics.purchase_days import purchase_days
from metrics.schema import with_categorical_keys

AS_OF = dt.date(2026, 6, 30)
STAGES = ["Lead", "Qualified", "Proposal", "Negotiation", "Won"]

def _by_text(frame: pl.DataFrame, *order: str) -> pl.DataFrame:
    """Rows in the text order of the ids: a table in the order of the ids' codes (spells) has the
    order of whichever ids were entered first."""
    return frame.with_columns(pl.col("customer_id").cast(pl.String)).sort(*order)


CASES = {
    "rfm_summary": lambda t: btyd.rfm_summary(t["orders"], as_of=AS_OF),
    "rfm_summaries_from_purchase_days": lambda t: btyd.rfm_summaries(
        purchase_days(t["orders"], as_of=AS_OF), as_of=[dt.date(2025, 12, 31), AS_OF])[0],
    "spells": lambda t: _by_text(activity.spells(t["orders"], as_of=AS_OF, customers=t["customers"]), "customer_id", "spell"),
    "monthly_activity": lambda t: activity.monthly(activity.spells(t["orders"], as_of=AS_OF, customers=t["customers"]), as_of=AS_OF),
    "historical_value": lambda t: ltv.historical_value(t["orders"], as_of=AS_OF),
    "cohort_retention": lambda t: retention.cohort_retention(t["orders"], as_of=AS_OF, basis="both"),
    "churn_status": lambda t: retention.churn_status(t["orders"], as_of=AS_OF, customers=t["customers"]),
    "monthly_churn": lambda t: retention.monthly_churn(t["orders"], as_of=AS_OF, customers=t["customers"]),
    "survival": lambda t: retention.survival(t["orders"], as_of=AS_OF, customers=t["customers"], by="tier"),
    "stage_funnel": lambda t: funnel.stage_funnel(t["deals"], stages=STAGES, stage_history=t["stage_history"], by="source"),
    "time_in_stage": lambda t: funnel.time_in_stage(t["stage_history"], stages=STAGES),
    "win_rate_by_month": lambda t: funnel.win_rate_by_month(t["deals"], end=AS_OF),
    "nps_by": lambda t: satisfaction.nps_by(t["surveys"], period="1q"),
    "response_times": lambda t: satisfaction.response_times(t["tickets"], as_of=AS_OF, by="channel"),
    "sla_compliance": lambda t: satisfaction.sla_compliance(t["tickets"], as_of=AS_OF, by="priority"),
    "complaints_per_100": lambda t: satisfaction.complaints_per_100(t["tickets"], t["orders"], as_of=AS_OF),
    "rfm_segments": lambda t: segments.rfm_segments(t["orders"], as_of=AS_OF),
    "portfolio": lambda t: segments.portfolio(t["orders"], as_of=AS_OF, tickets=t["tickets"], cost_per_ticket=25.0),
}


def _as_text(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.with_columns(pl.col(pl.Categorical).cast(pl.String))


@pytest.mark.parametrize("name", list(CASES))
def test_eager_lazy_and_categorical_input_agree(sample_tables, name):
    # a 600-customer slice keeps this quick; the lazy run gets LazyFrames of the same tables
    ids = sample_tables["customers"].head(600).select("customer_id")
    eager = {n: (f.join(ids, on="customer_id", how="semi") if "customer_id" in f.columns and n != "deals" else f)
             for n, f in sample_tables.items()}  # fmt: skip
    before = {n: f.clone() for n, f in eager.items()}
    lazy = {n: f.lazy() for n, f in eager.items()}
    out_eager, out_lazy = CASES[name](eager), CASES[name](lazy)
    assert isinstance(out_eager, pl.DataFrame)
    assert_frame_equal(out_eager, out_lazy, rel_tol=1e-9)
    categorical = with_categorical_keys(eager)
    assert categorical["orders"].schema["customer_id"] == pl.Categorical
    assert_frame_equal(out_eager, _as_text(CASES[name](categorical)), rel_tol=1e-9)
    for n, frame in eager.items():  # inputs untouched
        assert frame.equals(before[n]), n


def test_customer_ids_get_codes_in_text_order_and_sort_the_same_either_way():
    """with_categorical_keys gives new customer ids codes in text order, so sorted_by_id can sort
    the codes; ids whose codes are in another order (seen before, here inserted in reverse)
    must come out in text order all the same, nulls first as frame.sort puts them."""
    from metrics.stats import sorted_by_id

    tag = uuid.uuid4().hex  # ids no earlier test has put in Polars' global categories
    ids = [f"{tag}-{i}" for i in (3, 10, 1, 2)]  # text order: -1, -10, -2, -3
    customers = pl.DataFrame({"customer_id": ids, "tier": ["a", "b", "c", "d"]})
    cast = with_categorical_keys({"customers": customers})["customers"]
    codes = dict(zip(cast.get_column("customer_id").cast(pl.String), cast.get_column("customer_id").to_physical(), strict=True))
    assert [codes[i] for i in sorted(ids)] == sorted(codes.values())
    text_sorted = customers.sort("customer_id")
    assert_frame_equal(_as_text(sorted_by_id(cast.reverse())), text_sorted)
    in_code_order = cast.sort(pl.col("customer_id").to_physical())  # as read off purchase days: kept as is
    assert_frame_equal(_as_text(sorted_by_id(in_code_order)), text_sorted)

    # a table stored in id order (read as is, not sorted again), with a repeated id and a null
    stored = [f"{tag}-s{i}" for i in (1, 2, 2, 3)] + [None]
    cast = with_categorical_keys({"customers": pl.DataFrame({"customer_id": stored})})["customers"]
    physical = cast.get_column("customer_id").to_physical().to_list()
    assert physical[1] == physical[2] and physical[0] < physical[1] < physical[3] and physical[4] is None

    other = [f"{tag}-x{i}" for i in (2, 1, 0)]
    reverse_coded = pl.Series(other, dtype=pl.Categorical)  # codes now run against text order
    frame = pl.DataFrame({"customer_id": [other[0], None, other[2], other[1]], "n": [2, 9, 0, 1]})
    cast = frame.with_columns(pl.col("customer_id").cast(pl.Categorical))
    text_order_codes = pl.Series(sorted(other), dtype=pl.Categorical).to_physical().to_list()
    assert text_order_codes == sorted(text_order_codes, reverse=True)  # sorting by code would be wrong
    assert sorted_by_id(cast.lazy()).get_column("n").to_list() == [9, 0, 1, 2]
    assert sorted_by_id(frame).get_column("n").to_list() == [9, 0, 1, 2]
    del reverse_coded  # kept alive until here: Polars forgets categories nothing refers to

"""Every metric gives the same answer for eager and lazy input, and for string and Categorical ids
(the dashboard casts its loaded dataset's keys, metrics.schema.with_categorical_keys), and never
changes its input."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from metrics import funnel, ltv, retention, satisfaction, segments
from metrics.schema import with_categorical_keys

AS_OF = dt.date(2026, 6, 30)
STAGES = ["Lead", "Qualified", "Proposal", "Negotiation", "Won"]

CASES = {
    "rfm_summary": lambda t: ltv.rfm_summary(t["orders"], as_of=AS_OF),
    "historical_value": lambda t: ltv.historical_value(t["orders"], as_of=AS_OF),
    "cohort_retention": lambda t: retention.cohort_retention(t["orders"], as_of=AS_OF, basis="both"),
    "churn_status": lambda t: retention.churn_status(t["orders"], as_of=AS_OF, customers=t["customers"]),
    "monthly_churn": lambda t: retention.monthly_churn(t["orders"], as_of=AS_OF, customers=t["customers"]),
    "survival": lambda t: retention.survival(t["orders"], as_of=AS_OF, customers=t["customers"], by="tier"),
    "stage_funnel": lambda t: funnel.stage_funnel(t["deals"], stages=STAGES, stage_history=t["stage_history"], by="source"),
    "time_in_stage": lambda t: funnel.time_in_stage(t["stage_history"], stages=STAGES),
    "conversion_by_month": lambda t: funnel.conversion_by_month(t["deals"]),
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

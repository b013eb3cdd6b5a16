"""Cutting the canonical tables down to one slice of the customer base (the global filters).

A slice is a set of customers (by tier, segment, region, acquisition channel); every table that
belongs to customers keeps only their rows. Deals without a customer (prospects) are kept when
their own tier / segment / region columns match. Dates are not cut here: each metric takes its
period or as-of date itself, because retention and lifetime value need the history before it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import polars as pl

from metrics.domain import Slice
from metrics.schema import UNASSIGNED_TIER
from metrics.stats import Frame, lazy

CUSTOMER_TABLES = ("orders", "tickets", "surveys", "interactions")
DIMENSIONS = {"tiers": "tier", "segments": "segment", "regions": "region", "channels": "acquisition_channel"}


def _condition(frame_columns: Sequence[str], chosen: Slice) -> pl.Expr:
    condition = pl.lit(True)
    for field, column in DIMENSIONS.items():
        values = getattr(chosen, field)
        if not values:
            continue
        if column not in frame_columns:
            return pl.lit(False)  # a filter on a dimension the table lacks matches nothing
        value = pl.col(column)
        if column == "tier":
            value = value.fill_null(UNASSIGNED_TIER)
        condition = condition & value.is_in(list(values))
    return condition


def slice_tables(tables: Mapping[str, pl.DataFrame], chosen: Slice) -> dict[str, pl.DataFrame]:
    """tables → the same tables restricted to the chosen customers (and matching prospects)."""
    if chosen.is_everything or "customers" not in tables:
        return dict(tables)
    customers = tables["customers"].filter(_condition(tables["customers"].columns, chosen))
    keep = customers.get_column("customer_id")
    out: dict[str, pl.DataFrame] = {"customers": customers}
    for name, frame in tables.items():
        if name in CUSTOMER_TABLES:
            out[name] = rows_among(frame, "customer_id", keep)
    if "deals" in tables:
        deals = tables["deals"]
        deal_dims = [c for c in ("tier", "segment", "region") if c in deals.columns]
        with_customer = rows_among(deals, "customer_id", keep)
        # a prospect (no customer) carries its own tier/segment/region; channel is a customer fact
        prospect_slice = Slice(chosen.tiers, chosen.segments, chosen.regions, ())
        prospects = deals.filter(pl.col("customer_id").is_null())
        if deal_dims and not chosen.channels:
            prospects = prospects.filter(_condition(deals.columns, prospect_slice))
        else:
            prospects = prospects.clear()
        out["deals"] = pl.concat([with_customer, prospects])
        if "stage_history" in tables:
            out["stage_history"] = rows_among(tables["stage_history"], "deal_id", out["deals"].get_column("deal_id"))
    for name, frame in tables.items():
        out.setdefault(name, frame)
    return out


def rows_among(frame: Frame, column: str, values: pl.Series) -> pl.DataFrame:
    """The rows whose `column` is one of `values`, in their order; a null id is nobody's. A
    membership test rather than a semi-join: 0.04 s instead of 0.22 s for ten million orders
    against half a million Categorical ids (0.17 s instead of 0.35 s on text ids)."""
    return lazy(frame).filter(pl.col(column).is_in(values.implode()).fill_null(False)).collect()


def dimension_values(tables: Mapping[str, pl.DataFrame], column: str, *, order: Sequence[str] = ()) -> list[str]:
    """The values a filter can take, in the given order first (tier order), then alphabetically."""
    customers = tables.get("customers")
    if customers is None or column not in customers.columns:
        return []
    values = customers.get_column(column)
    if column == "tier":
        values = values.fill_null(UNASSIGNED_TIER)
    present = set(values.drop_nulls().cast(pl.String).unique().to_list())
    ordered = [v for v in order if v in present]
    return ordered + sorted(present - set(ordered))

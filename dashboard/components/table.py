"""A table as a reader wants it: headers in words with units, dates to the day, money and shares
formatted, columns without any value left out. One place that knows what each column means, so
every page's tables read the same way."""

from __future__ import annotations

import math

import polars as pl
import streamlit as st

# column → (header, kind); kind: text, count, number, money, share, days, date
COLUMNS: dict[str, tuple[str, str]] = {
    "customer_id": ("customer", "text"), "name": ("name", "text"), "tier": ("tier", "text"),
    "segment": ("segment", "text"), "region": ("region", "text"), "deal_id": ("deal", "text"),
    "customers": ("customers", "count"), "share": ("share of customers", "share"),
    "revenue": ("revenue", "money"), "revenue_share": ("share of revenue", "share"),
    "recency_days": ("days since last purchase", "count"), "frequency": ("purchases", "count"),
    "monetary": ("spend", "money"), "r_score": ("R", "count"), "f_score": ("F", "count"), "m_score": ("M", "count"),
    "action": ("what to do", "text"), "margin": ("margin", "money"), "tickets": ("support tickets", "count"),
    "cost_to_serve": ("cost to serve", "money"), "profit": ("margin − cost", "money"), "quadrant": ("quadrant", "text"),
    "risk": ("risk of churning", "share"), "drivers": ("main drivers", "text"), "value_at_risk": ("margin at risk", "money"),
    "created_date": ("created", "date"), "closed_date": ("closed", "date"), "stage": ("stage", "text"),
    "status": ("status", "text"), "amount": ("amount", "money"), "owner": ("owner", "text"), "source": ("source", "text"),
    "close_date_source": ("close date from", "text"), "mean_recency_days": ("days since last purchase, mean", "number"),
    "mean_frequency": ("purchases, mean", "number"), "mean_monetary": ("spend, mean", "money"),
}  # fmt: skip
HIDDEN = {"furthest", "furthest_known", "unprofitable"}
PAGE_ROWS = 100  # rows of a table sent to the browser at a time
MONEY = "%,.2f"  # 2,575.34 and -1,234.00: to the cent ("localized" showed 2,575.341 beside 103,618)


def _config(header: str, kind: str, currency: str):
    cc = st.column_config
    if kind == "money":
        return cc.NumberColumn(f"{header} ({currency})", format=MONEY)
    if kind == "share":
        return cc.NumberColumn(header, format="percent")
    if kind == "count":
        return cc.NumberColumn(header, format="localized")
    if kind == "number":
        return cc.NumberColumn(header, format="%.1f")
    if kind == "date":
        return cc.DateColumn(header, format="YYYY-MM-DD")
    return cc.TextColumn(header, width="large" if header in ("what to do", "main drivers") else None)


def show(frame: pl.DataFrame, *, currency: str, key: str, rows: int = PAGE_ROWS, height: int | str = "auto") -> None:
    """`frame` a page of `rows` rows at a time, with a page picker and "rows a–b of n" under it
    when there are more (the browser is sent one page, never a million rows); columns with no value
    at all on the page are left out. `key`: the picker's widget key, one per table of a page."""
    pages = max(1, math.ceil(frame.height / rows))
    page = 1
    if pages > 1:
        left, right = st.columns([1, 3])
        # the label names the page count: a table of another length is a new picker, back on page 1
        page = int(left.number_input(f"Page (of {pages:,})", min_value=1, max_value=pages, value=1, step=1, key=f"page_{key}"))
    shown = frame.slice((page - 1) * rows, rows)
    if pages > 1:
        first = (page - 1) * rows + 1
        right.caption(f"Rows {first:,}–{first + shown.height - 1:,} of {frame.height:,}")
    keep = [c for c in shown.columns if c not in HIDDEN and shown.get_column(c).null_count() < shown.height]
    shown = shown.select(keep)
    config = {c: _config(*COLUMNS[c], currency) for c in keep if c in COLUMNS}
    st.dataframe(shown, hide_index=True, column_config=config, height=height)

"""The active dataset: row counts, settings, the warnings kept with it, and each table's rows."""

from __future__ import annotations

import polars as pl
import streamlit as st

from dashboard.components import download
from dashboard.shell import NO_CURRENCY, holds_money
from dashboard.text import plain
from metrics.domain import Dataset
from metrics.schema import TABLES, latest_event

PREVIEW_ROWS = 200


def summary_line(dataset: Dataset) -> str:
    """As of, currency, tiers, and the funnel's stages where the dataset has deals to run them."""
    settings = dataset.settings
    as_of = settings.as_of or latest_event(dataset.tables)
    deals = dataset.tables.get("deals")
    stages = f" · stages {' > '.join(settings.stage_order)}" if deals is not None and deals.height else ""
    currency = f"currency {code}" if (code := settings.currency_code()) else NO_CURRENCY
    currency = f" · {currency}" if holds_money(dataset) else ""
    return (f"As of {as_of or '—'}{currency} · tiers "
            f"{' < '.join(settings.tier_order)}{stages}")  # fmt: skip


def show(dataset: Dataset) -> None:
    st.subheader(plain(dataset.name))
    st.caption(plain(summary_line(dataset)))
    counts = pl.DataFrame(
        {
            "table": list(TABLES),
            "rows": [dataset.tables[t].height if t in dataset.tables else None for t in TABLES],
            "enables": [TABLES[t].enables for t in TABLES],
        }
    )
    st.dataframe(
        counts,
        hide_index=True,
        width="stretch",
        column_config={"rows": st.column_config.NumberColumn(format="localized")},
    )
    missing = [t for t in TABLES if t not in dataset.tables or dataset.tables[t].is_empty()]
    if missing:
        st.info(
            "Not in this dataset: "
            + "; ".join(f"**{t}** (enables {TABLES[t].enables})" for t in missing)
        )
    if dataset.report:
        with st.expander(f"{len(dataset.report)} notes from the import", expanded=False):
            st.dataframe(
                pl.DataFrame(dataset.report).select(
                    "severity", "file", "table", "column", "message", "count"
                ),
                hide_index=True,
                width="stretch",
            )
    present = [t for t in TABLES if t in dataset.tables]
    if not present:
        return
    table = st.segmented_control("Table", present, default=present[0], key="overview_table")
    if table:
        frame = dataset.tables[table]
        st.dataframe(frame.head(PREVIEW_ROWS), hide_index=True, width="stretch")
        st.caption(f"First {min(PREVIEW_ROWS, frame.height):,} of {frame.height:,} rows.")
        download.show(frame, table, label=f"Download {table}.csv")  # the whole table, written on a click

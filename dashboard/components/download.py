"""The data behind a chart or table, as a CSV whose cells cannot start a formula."""

from __future__ import annotations

import polars as pl
import streamlit as st

from dashboard.export import safe_csv


def show(frame: pl.DataFrame | None, name: str, *, label: str = "Download CSV") -> None:
    if frame is None or frame.is_empty():
        return
    st.download_button(label, safe_csv(frame), file_name=f"{name}.csv", mime="text/csv", key=f"download-{name}", on_click="ignore",
                       icon="⬇️", type="tertiary")  # fmt: skip

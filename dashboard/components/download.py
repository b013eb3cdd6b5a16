"""The data behind a chart or table, as a CSV whose cells cannot start a formula.

The file is made when its button is pressed (Streamlit's deferred download), not on every run:
at a million customers one page's CSV takes 0.2–0.5 s to write and holds up to 135 MB (each
customer's predicted value), which every run of the page would otherwise pay for and keep in
the server's memory, for a download few visitors ask for."""

from __future__ import annotations

import polars as pl
import streamlit as st

from dashboard.export import safe_csv


def show(frame: pl.DataFrame | None, name: str, *, label: str = "Download CSV") -> None:
    if frame is None or frame.is_empty():
        return
    st.download_button(label, lambda: safe_csv(frame), file_name=f"{name}.csv", mime="text/csv", key=f"download-{name}",
                       on_click="ignore", icon="⬇️", type="tertiary")  # fmt: skip

"""Download this page: the page as PDF, PNG or a self-contained HTML file, and its KPIs as JSON,
with the filters, the dataset, the as-of date and each KPI's definition (dashboard/report.py).
Each file is made when its button is pressed (Streamlit's deferred download), not on every run."""

from __future__ import annotations

import re

import streamlit as st

from dashboard import data, shell
from dashboard.page_list import SHAREABLE
from dashboard.report import FORMATS, PageReport, render


def build(title: str, figures: list) -> PageReport:
    """The report of the page just drawn: its figures; the KPIs are computed when a file is made."""
    filters = shell.current_filters()
    return PageReport(title, shell.describe(filters), data.selected_name(), filters, shell.currency_code(), data.active_dataset(),
                      list(figures))  # fmt: skip


def show(title: str, figures: list) -> None:
    if title not in {page.title for page in SHAREABLE.values()}:  # the Data page has no report
        return
    report = build(title, figures)
    stem = re.sub(r"[^a-z0-9]+", "-", f"{title} {report.filters.period.start} {report.filters.period.end}".lower()).strip("-")
    with st.sidebar.expander("Download this page"):
        st.caption("The charts of this page with the filters, the dataset, the as-of date, the KPIs and how each "
                   "figure is defined.")  # fmt: skip
        for fmt, label in (("pdf", "PDF"), ("png", "PNG"), ("html", "HTML (interactive, works offline)"), ("json", "KPIs as JSON")):
            st.download_button(label, lambda fmt=fmt: render(report, fmt), file_name=f"{stem}.{fmt}", mime=FORMATS[fmt],
                               key=f"report-{fmt}", on_click="ignore", width="stretch")  # fmt: skip

"""The dashboard's pages, named once: the navigation (app.py), locked links (sharing.py) and the
command line's reports (python -m dashboard report) all read this list."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PageInfo:
    name: str  # its script, pages/<name>.py, and its name on the command line
    title: str
    icon: str
    url_path: str  # "" for the Overview, served at "/"
    shareable: bool = True  # a view a link or a report can show (the Data page is not one)


PAGES = (
    PageInfo("overview", "Overview", "📊", ""),
    PageInfo("funnel", "Funnel", "🔻", "funnel"),
    PageInfo("retention", "Retention", "🔁", "retention"),
    PageInfo("lifetime_value", "Lifetime value", "💰", "lifetime-value"),
    PageInfo("satisfaction", "Satisfaction", "🙂", "satisfaction"),
    PageInfo("segments", "Segments", "🧩", "segments"),
    PageInfo("churn_risk", "Churn risk", "⚠️", "churn-risk"),
    PageInfo("data", "Data", "🗂️", "data", shareable=False),
)
SHAREABLE = {page.name: page for page in PAGES if page.shareable}

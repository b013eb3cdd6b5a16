"""Share this view: the link to the page with its filters (anyone with access opens the same view),
and for editors a locked link that fixes the slice for whoever opens it (dashboard/sharing.py)."""

from __future__ import annotations

import datetime as dt
from urllib.parse import urlencode, urlsplit

import streamlit as st

from dashboard import access, config, data, shell
from dashboard.sharing import PAGES, Lock, link, make_token
from dashboard.text import plain

EXPIRY = {"1 day": 1, "7 days": 7, "30 days": 30, "90 days": 90}
LINK_KEY = "_locked_link"


def _page_and_base() -> tuple[str, str, str]:
    """This page's name (sharing.PAGES), the app's address in the browser, and this page's."""
    url = urlsplit(st.context.url or "http://localhost:8501/")
    path = url.path.rstrip("/")
    segment = path.rpartition("/")[2]
    by_path = {p: name for name, p in PAGES.items() if p}
    page = by_path.get(segment, "overview")
    base_path = path[: len(path) - len(segment)] if segment in by_path or segment in ("overview", "home", "data") else path
    return page, f"{url.scheme}://{url.netloc}{base_path.rstrip('/')}", f"{url.scheme}://{url.netloc}{url.path}"


def show(visitor: access.Visitor) -> None:
    with st.sidebar.expander("Share this view"):
        page, base, current = _page_and_base()
        query = [(k, v) for k in st.query_params for v in st.query_params.get_all(k)]
        here = current + (f"?{urlencode(query)}" if query else "")
        st.caption("Copy this link: it opens this page with these filters for anyone who can open the dashboard.")
        st.code(here, language=None, wrap_lines=True)
        if visitor.lock is not None or not access.can("editor"):
            return
        who = "whoever opens it and signs in" if config.access_settings().get("links_need_sign_in") else \
            "whoever opens it, also without an account"
        st.caption(f"A locked link shows only this slice (tier, segment, period) to {who}; its filters can narrow it, "
                   "never widen it.")  # fmt: skip
        expiry = st.selectbox("Open for", list(EXPIRY), index=1, key="share_expiry")
        if st.button("Make locked link", key="share_make"):
            _make(page, base, expiry)
        made = st.session_state.get(LINK_KEY)
        if made:
            st.code(made, language=None, wrap_lines=True)


def _make(page: str, base: str, expiry: str) -> None:
    access.require("editor")
    filters = shell.current_filters()
    lock = Lock(
        data.selected_name(), page, filters.slice.tiers, filters.slice.segments, filters.period.start, filters.period.end,
        dt.datetime.now(dt.UTC).replace(tzinfo=None) + dt.timedelta(days=EXPIRY[expiry]),
    )  # fmt: skip
    store = data.store()
    st.session_state[LINK_KEY] = link(base, make_token(store, lock), page)
    store.record(access.actor(), "locked link", f"dataset {lock.dataset!r}, {lock.describe()}, until {lock.expires:%Y-%m-%d %H:%M} UTC")
    st.toast(plain("Locked link made: copy it below."))

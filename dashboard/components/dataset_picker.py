"""Sidebar choice of the dataset every page shows."""

from __future__ import annotations

import streamlit as st

from dashboard import data
from dashboard.text import plain, shorten

NOTICE_KEY = "_dataset_notice"


def show() -> str:
    lock = data.active_lock()
    if lock is not None:  # a locked link fixes the dataset
        st.sidebar.caption("Dataset: " + plain(shorten(lock.dataset, 100)))
        return lock.dataset
    names = data.dataset_names()
    if st.session_state.get(data.DATASET_KEY) not in names:
        # A link's dataset wins over the default (the widget would otherwise take the value set
        # here and drop the link's); one that is not here is named in a notice.
        asked = st.query_params.get(data.DATASET_KEY)
        chosen = asked if asked in names else data.default_dataset()
        st.session_state[data.DATASET_KEY] = chosen
        if asked and asked != chosen:
            st.session_state[NOTICE_KEY] = f"The link asked for dataset {shorten(asked)!r}, which is not here: showing {chosen}."
    notice = st.session_state.get(NOTICE_KEY)
    if notice:
        st.sidebar.warning(plain(notice), icon="⚠️")
    return st.sidebar.selectbox(
        "Dataset",
        names,
        key=data.DATASET_KEY,
        bind="query-params",
        help="Which data every page shows. Import your own on the Data page.",
    )

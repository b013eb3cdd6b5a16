"""Sidebar choice of the dataset every page shows."""

from __future__ import annotations

import streamlit as st

from dashboard import data


def show() -> str:
    names = data.dataset_names()
    if st.session_state.get(data.DATASET_KEY) not in names:
        st.session_state[data.DATASET_KEY] = data.default_dataset()
    return st.sidebar.selectbox(
        "Dataset",
        names,
        key=data.DATASET_KEY,
        bind="query-params",
        help="Which data every page shows. Import your own on the Data page.",
    )

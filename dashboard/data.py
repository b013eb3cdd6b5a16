"""The one caching layer: which datasets exist, and the active one's canonical frames.

Everything that does not depend on a filter is cached here, once, keyed by what it came from (a
stored dataset's name and update time, so a re-import is picked up at once). Pages call
`active_dataset()` and never read files or databases themselves.
"""

from __future__ import annotations

import streamlit as st

from dashboard import config
from dashboard.store import Dataset, Store
from sample_data import load_tables, sample_settings

SAMPLE = "Sample CRM (bundled)"
SQL = "SQL database"
DATASET_KEY = "dataset"  # session-state key of the selected dataset, bound to ?dataset=


@st.cache_resource(show_spinner=False)
def store() -> Store:
    return Store(config.store_url())


def dataset_names() -> list[str]:
    names = [SAMPLE] + [info.name for info in store().list()]
    if config.sql_source_config():
        names.append(SQL)
    return names


def default_dataset() -> str:
    active = store().active_name()
    return active if active in dataset_names() else SAMPLE


@st.cache_resource(max_entries=3, show_spinner="Loading dataset…")
def _load(name: str, stamp: str) -> Dataset:
    if name == SAMPLE:
        return Dataset(SAMPLE, load_tables(), sample_settings())
    if name == SQL:
        from dashboard.sources.sql import from_config

        return Dataset(SQL, from_config(config.sql_source_config()).load())
    return store().load(name)


@st.cache_resource(ttl=300, show_spinner=False)
def _sql_stamp() -> str:
    import datetime as dt

    return dt.datetime.now().isoformat()  # the SQL source is re-read every five minutes


def load(name: str) -> Dataset:
    if name == SAMPLE:
        stamp = "bundled"
    elif name == SQL:
        stamp = _sql_stamp()
    else:
        info = {i.name: i for i in store().list()}.get(name)
        stamp = str(info.updated_at) if info else "missing"
    return _load(name, stamp)


def selected_name() -> str:
    name = st.session_state.get(DATASET_KEY)
    return name if name in dataset_names() else default_dataset()


def active_dataset() -> Dataset:
    return load(selected_name())

"""The one caching layer: which datasets exist, and the active one's canonical frames.

Everything that does not depend on a filter is cached here, once, keyed by what it came from (a
stored dataset's name and update time, so a re-import is picked up at once). Pages call
`active_dataset()` and never read files or databases themselves.
"""

from __future__ import annotations

import dataclasses
import logging
import threading

import streamlit as st

from dashboard import config
from dashboard.naming import SAMPLE, SQL
from dashboard.store import Store
from metrics.domain import Dataset, Slice
from metrics.schema import with_categorical_keys
from metrics.slicing import slice_tables
from sample_data import load_tables, sample_settings

DATASET_KEY = "dataset"  # session-state key of the selected dataset, bound to ?dataset=
LOCK_KEY = "_lock"  # the locked link's lock of this session (access.gate sets it every run)


@st.cache_resource(show_spinner=False)
def store() -> Store:
    return Store(config.store_url())


def dataset_names() -> list[str]:
    names = [SAMPLE] + [info.name for info in store().list() if info.name not in (SAMPLE, SQL)]
    if config.sql_source_config():
        names.append(SQL)
    return names


def default_dataset() -> str:
    active = store().active_name()
    return active if active in dataset_names() else SAMPLE


@st.cache_resource(max_entries=3, show_spinner="Loading dataset…")
def _load(name: str, stamp: str) -> Dataset:
    dataset = open_dataset(name, store())
    with _pending_lock:
        _pending_training[_key(name, stamp)] = dataset  # started once the page that loaded it is drawn
    return dataset


def open_dataset(name: str, stored: Store) -> Dataset:
    """A dataset by name, read afresh (the app caches it in _load; the command line reads it once)."""
    if name == SAMPLE:
        dataset = Dataset(SAMPLE, load_tables(), sample_settings())
    elif name == SQL:
        from dashboard.sources.sql import from_config

        source = from_config(config.sql_source_config())
        try:
            tables, problems = source.load_checked()
        finally:
            source.close()  # its connections are not kept between reads (every five minutes at most)
        dataset = Dataset(SQL, tables, report=[p.to_json() for p in problems])
    else:
        dataset = stored.load(name)
    # every page groups and joins by customer: integer-coded ids make that several times faster
    return dataclasses.replace(dataset, tables=with_categorical_keys(dataset.tables))


@st.cache_resource(ttl=300, show_spinner=False)
def _sql_stamp() -> str:
    import datetime as dt

    return dt.datetime.now().isoformat()  # the SQL source is re-read every five minutes


def _stamp(name: str) -> str:
    if name == SAMPLE:
        return "bundled"
    if name == SQL:
        return _sql_stamp()
    info = {i.name: i for i in store().list()}.get(name)
    return str(info.updated_at) if info else "missing"


def load(name: str) -> Dataset:
    return _load(name, _stamp(name))


def active_lock():
    """The lock of a locked link this session opened (sharing.Lock), or None."""
    return st.session_state.get(LOCK_KEY)


def selected_name() -> str:
    lock = active_lock()
    if lock is not None:
        return lock.dataset
    name = st.session_state.get(DATASET_KEY)
    return name if name in dataset_names() else default_dataset()


@st.cache_resource(max_entries=8, show_spinner="Loading the shared slice…")
def _locked(dataset_key: str, locked: Slice, _dataset: Dataset) -> Dataset:
    """The dataset cut down to a locked link's slice: every page and download of the session
    reads these tables, so none can show a row outside it."""
    return dataclasses.replace(_dataset, tables=slice_tables(_dataset.tables, locked))


def active_dataset() -> Dataset:
    name = selected_name()
    stamp = _stamp(name)  # one look at the store per call
    dataset = _load(name, stamp)
    lock = active_lock()
    return dataset if lock is None else _locked(f"{name}@{stamp}", Slice(lock.tiers, lock.segments), dataset)


# ---------------------------------------------------------------- page results, per filter


def active_key() -> str:
    """Identity of the active dataset's content: its name and when it was stored."""
    name, lock = selected_name(), active_lock()
    return _key(name, _stamp(name), lock)


def _key(name: str, stamp: str, lock=None) -> str:
    locked = "" if lock is None else f"|locked {lock.tiers!r} {lock.segments!r}"
    return f"{name}@{stamp}{locked}"


@st.cache_resource(max_entries=32, show_spinner="Computing…")
def _view(page: str, dataset_key: str, filters_key: str, _dataset: Dataset, _filters):
    from dashboard import views

    return views.view_of(page, _context(dataset_key, filters_key, _dataset, _filters))


# Two at most: a context holds its slice, the purchase days (at a million customers, ten million
# rows) and the spells, kept for the other pages of the same view of the data.
@st.cache_resource(max_entries=2, show_spinner=False)
def _context(dataset_key: str, filters_key: str, _dataset: Dataset, _filters):
    """The slice and the pieces several pages read (views.Context), once per dataset and filters."""
    from dashboard import views

    return views.context(_dataset, _filters, churn_model=lambda: _churn_model(dataset_key, _dataset))


# Datasets loaded whose churn model is still to be trained: loading one only notes it here, and
# the app starts the training at the end of the run that loaded it (train_loaded_models).
_pending_training: dict[str, Dataset] = {}
_pending_lock = threading.Lock()


def train_loaded_models() -> None:
    """Start training the churn model of each dataset loaded since the last call, in a thread, so
    the Churn risk page finds it trained (about 3 s at a million customers) instead of training
    it while its first visitor waits; a page asking for it meanwhile waits for this training (the
    cache computes a key once). The app calls this after drawing a page: started when the dataset
    loads, the training took the two cores from the first page (at a million customers the
    loading visit took 22 s instead of 14 s) and from the next. A failure here is only logged:
    the page then trains again and says what went wrong."""
    with _pending_lock:
        pending = list(_pending_training.items())
        _pending_training.clear()
    for dataset_key, dataset in pending:

        def train(dataset_key: str = dataset_key, dataset: Dataset = dataset) -> None:
            try:
                _churn_model(dataset_key, dataset)
            except Exception as exc:  # noqa: BLE001 - see the docstring
                logging.getLogger(__name__).warning("training the churn model in the background failed (%s)", type(exc).__name__)

        threading.Thread(target=train, name="churn-model", daemon=False).start()


@st.cache_resource(max_entries=4, show_spinner="Training the churn model…")
def _churn_model(dataset_key: str, _dataset: Dataset):
    """Trained once per dataset on every customer: it does not depend on the filters."""
    from metrics.churn import train_churn_model
    from metrics.schema import latest_event

    as_of = _dataset.settings.as_of or latest_event(_dataset.tables)
    return train_churn_model(_dataset.tables, as_of=as_of, churn_window_days=_dataset.settings.churn_window_days)


def view(page: str, filters):
    """The cached results of one page for the active dataset and these filters. Raises
    views.Missing when the dataset lacks a table the page needs."""
    return _view(page, active_key(), repr(filters.key), active_dataset(), filters)

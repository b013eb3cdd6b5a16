"""The one caching layer: which datasets exist, and the active one's canonical frames.

Everything that does not depend on a filter is cached here, once, keyed by what it came from (a
stored dataset's name and update time, so a re-import is picked up at once). Pages call
`active_dataset()` and never read files or databases themselves.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import threading
from collections.abc import Callable
from typing import TypeVar

import streamlit as st

from dashboard import config
from dashboard.naming import SAMPLE, SQL
from dashboard.store import Store
from metrics.domain import Dataset, Slice
from metrics.schema import with_categorical_keys
from metrics.slicing import dimension_values, slice_tables
from sample_data import load_tables, sample_settings

T = TypeVar("T")
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
        _pending[_key(name, stamp)] = dataset  # prepared once the page that loaded it is drawn
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


@st.cache_resource(max_entries=16, show_spinner=False)
def _of_dataset(dataset_key: str, what: str, _dataset: Dataset, _compute: Callable[[Dataset], T]) -> T:
    return _compute(_dataset)


def of_active_dataset(what: str, compute: Callable[[Dataset], T]) -> T:
    """compute(the active dataset), once per dataset (and lock) and `what`: for what every run
    of every page reads and only the data decide, such as the values a filter offers (at a million
    customers the sidebar's options and dates took 0.2 s of each run, page visits and clicks alike)."""
    return _of_dataset(active_key(), what, active_dataset(), compute)


# ---------------------------------------------------------------- page results, per filter


def active_key() -> str:
    """Identity of the active dataset's content: its name and when it was stored."""
    name, lock = selected_name(), active_lock()
    return _key(name, _stamp(name), lock)


def _key(name: str, stamp: str, lock=None) -> str:
    locked = "" if lock is None else f"|locked {lock.tiers!r} {lock.segments!r}"
    return f"{name}@{stamp}{locked}"


@st.cache_resource(max_entries=32, show_spinner="Computing…")
def _view(page: str, dataset_key: str, view_key: str, _dataset: Dataset, _filters):
    """`view_key`: views.cache_key of the page and filters; the context is that of the filters'
    slice and as-of date, shared with the other pages and periods."""
    return _computed_view(page, dataset_key, _dataset, _filters)


#: From this many customers a server also prepares every page's view for each tier on its own:
#: at a million customers a tier change computed its views for 1.3-3.3 s before the page could
#: redraw. Unprepared, at 240,000 a tier change took 0.37-1.68 s in Chromium and a second tier
#: beside it up to 2.0 s; at 190,000 0.36-1.44 s and 0.28-1.57 s: smaller datasets prepare none.
PREPARE_TIERS_FROM_CUSTOMERS = 200_000
#: Tiers prepared at most: a dataset whose tier column takes more values prepares none.
PREPARED_TIERS_AT_MOST = 6
VIEWS_AT_MOST = 10  # the views of a dataset's pages (views.VIEWS, which imports every metric)


# Two datasets' views prepared for each tier (_prepare), apart from _view: visitors trying other
# filters never push out what every tier change opens.
@st.cache_resource(max_entries=2 * VIEWS_AT_MOST * PREPARED_TIERS_AT_MOST, show_spinner="Computing…")
def _prepared_view(page: str, dataset_key: str, view_key: str, _dataset: Dataset, _filters, _shared=None):
    """`_shared`: the context to compute from (the preparing thread's own), else the cached one."""
    return _computed_view(page, dataset_key, _dataset, _filters, _shared)


def _computed_view(page: str, dataset_key: str, dataset: Dataset, filters, shared=None):
    from dashboard import views

    if shared is None:
        cached = _whole_context if filters.slice.is_everything else _context
        shared = cached(dataset_key, repr(filters.slice_key), dataset, filters)
    return views.view_of(page, shared.for_filters(filters))


# Two at most: a context holds its slice, the purchase days (at a million customers, ten million
# rows) and the spells, kept for the other pages of the same slice, whatever their period.
@st.cache_resource(max_entries=2, show_spinner=False)
def _context(dataset_key: str, slice_key: str, _dataset: Dataset, _filters):
    """The slice and the pieces several pages read (views.Context), once per dataset, slice and
    as-of date (`slice_key`): none of the pieces reads the period."""
    return _new_context(dataset_key, _dataset, _filters)


@st.cache_resource(max_entries=2, show_spinner=False)
def _whole_context(dataset_key: str, slice_key: str, _dataset: Dataset, _filters):
    """_context of a dataset's whole customer base (of the two datasets, or locked links' slices,
    used last), kept apart from the slices': a visit without a filter, the most common (a link,
    the start-up work), then finds its pieces however many slices were opened meanwhile. At a
    million customers, after visitors on a few tiers, a period change of the Funnel otherwise took
    7.1 s in Chromium instead of about 4: the whole base's deals were read again for their
    furthest stages."""
    return _new_context(dataset_key, _dataset, _filters)


def _new_context(dataset_key: str, dataset: Dataset, filters):
    from dashboard import views

    whole = None
    if not filters.slice.is_everything:  # a slice cuts what the whole base's context has computed
        everyone = dataclasses.replace(filters, slice=Slice())
        whole = lambda: _whole_context(dataset_key, repr(everyone.slice_key), dataset, everyone)  # noqa: E731
    return views.context(dataset, filters, churn_model=lambda: _churn_model(dataset_key, dataset), whole=whole)


PREPARING = "prepare-pages"  # the name of the thread that prepares a loaded dataset's pages


class _NoPageToDraw(logging.Filter):
    """Streamlit warns "missing ScriptRunContext" each time a cached function with a spinner runs
    outside a page run. The preparing thread's calls have no page to draw a spinner on, by design:
    their warnings would fill the server's log with a line per page."""

    def filter(self, record: logging.LogRecord) -> bool:
        return threading.current_thread().name != PREPARING or "missing ScriptRunContext" not in record.getMessage()


logging.getLogger("streamlit.runtime.scriptrunner_utils.script_run_context").addFilter(_NoPageToDraw())

# Datasets loaded whose pages are still to be prepared: loading one only notes it here, and the
# app starts the work at the end of the run that loaded it (prepare_loaded_datasets).
_pending: dict[str, Dataset] = {}
_pending_lock = threading.Lock()


def prepare_loaded_datasets(filters) -> None:
    """Start, in a thread, what the visitors of a dataset loaded by this run open next: every
    page's view for this run's filters (the filters a first visit or a shared link opens with), in
    the navigation's order, the churn model, which the Churn risk page's view trains, and for a
    large dataset every page's view for each tier (_prepare). At a million customers that is about
    14 s of work before the tiers, done while the visitor reads the first page:
    the next page then opens from the cache (a page whose view the thread is computing waits for
    it, the cache computes a key once) instead of computing its view for 1-3.5 s while its first
    visitor waits. The app calls this after drawing a page: started when the dataset loads, the
    work took the two cores from the page that loaded it. A dataset loaded for a locked link or
    not shown only trains its model. A failure here is only logged: the page then computes its
    view (or trains) again and says what went wrong."""
    with _pending_lock:
        pending = list(_pending.items())
        _pending.clear()
    if not pending:
        return
    from dashboard import views

    shown = active_key()
    for dataset_key, dataset in pending:
        pages = list(views.VIEWS) if dataset_key == shown and filters is not None else []
        threading.Thread(target=_prepare, args=(dataset_key, dataset, filters, pages), name=PREPARING, daemon=False).start()


def warm_start() -> None:
    """What a server does as it starts (dashboard/server.py), before a visitor asks: import the
    heavy modules, load the dataset a link without ?dataset= opens (the store's active one, else
    the sample), compute every page's view for the filters such a visit opens with, train its
    churn model and, for a large dataset, compute every page's view for each tier (_prepare). At a
    million customers that is 31-39 s of work here (without the tiers 17-20 s, loading ~4 s of it),
    which the first visitor after a start would otherwise wait for in part. A visitor who comes in
    the middle waits only for what is still being computed: the cache computes a key once and the
    others wait for it. Called in a thread named PREPARING; a failure is the same as in `_prepare`:
    logged, and the page that needs it computes it again and says what went wrong.

    The heavy modules import in a second thread while the dataset loads: importing is Python
    holding the lock of the interpreter for 1.5-2 s, loading is SQLite and Polars working outside
    it, so the two overlap instead of adding up. Loading imports none of the heavy modules (a
    module imported by two threads at once can be seen half-initialised, dashboard/preload.py)."""
    from dashboard.preload import heavy_modules

    importing = threading.Thread(target=heavy_modules, name=PREPARING, daemon=True)
    importing.start()
    name = default_dataset()
    stamp = _stamp(name)
    try:
        dataset = _load(name, stamp)
    finally:
        importing.join()
    from dashboard import filters, views  # after the heavy modules, which include views
    with _pending_lock:
        _pending.pop(_key(name, stamp), None)  # prepared here, not again after the first visit
    _prepare(_key(name, stamp), dataset, filters.defaults(dataset), list(views.VIEWS))


# Per dataset key, the (page, view key) pairs of _prepared_view: registered before they are
# computed, so that a visitor who asks meanwhile waits for the one computation. Of the last four
# datasets whose tiers were prepared.
_prepared: dict[str, frozenset[tuple[str, str]]] = {}
_prepared_lock = threading.Lock()


def _prepare(dataset_key: str, dataset: Dataset, filters, pages: list[str]) -> None:
    """Every page of `pages` for `filters`, then the churn model, then, for a large dataset, every
    page for each tier on its own (the filter a sales manager picks first; filters of other
    slices are computed when asked for)."""
    from dashboard import views

    tiers = [dataclasses.replace(filters, slice=Slice(tiers=(tier,))) for tier in _tiers_to_prepare(dataset)] if pages else []
    tiers = [chosen for chosen in tiers if chosen != filters]
    keys = {f: {page: repr(views.cache_key(page, f)) for page in pages} for f in [filters, *tiers]}
    if tiers:
        with _prepared_lock:
            _prepared[dataset_key] = _prepared.pop(dataset_key, frozenset()) | {(p, k) for f in tiers for p, k in keys[f].items()}
            for old in list(_prepared)[:-4]:
                del _prepared[old]
    log = logging.getLogger(__name__)

    def prepare(chosen, shared=None) -> None:
        # the first filters' views in _view, where the page that loaded the dataset put its own
        cached_view = _view if chosen == filters else functools.partial(_prepared_view, _shared=shared)
        for page, key in keys[chosen].items():
            try:
                cached_view(page, dataset_key, key, dataset, chosen)
            except views.Missing:  # the page says which table it needs when it is opened
                pass
            except Exception as exc:  # noqa: BLE001 - see prepare_loaded_datasets
                log.warning("preparing the %s page in the background failed (%s)", page, type(exc).__name__)

    prepare(filters)
    try:
        _churn_model(dataset_key, dataset)  # trained by the Churn risk page's view above, when it could run
    except Exception as exc:  # noqa: BLE001 - see prepare_loaded_datasets
        log.warning("training the churn model in the background failed (%s)", type(exc).__name__)
    for chosen in tiers:
        # a context of the tier's own, let go once its pages are done: in the cached contexts the
        # tiers would push out those of the slices visitors are looking at
        prepare(chosen, _new_context(dataset_key, dataset, chosen))


def _tiers_to_prepare(dataset: Dataset) -> list[str]:
    """The tiers whose views `_prepare` computes for a dataset (see PREPARE_TIERS_FROM_CUSTOMERS)."""
    customers = dataset.tables.get("customers")
    if customers is None or customers.height < PREPARE_TIERS_FROM_CUSTOMERS:
        return []
    tiers = dimension_values(dataset.tables, "tier", order=dataset.settings.tier_order)
    return tiers if len(tiers) <= PREPARED_TIERS_AT_MOST else []


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
    from dashboard import views

    dataset_key, view_key = active_key(), repr(views.cache_key(page, filters))
    cached = _prepared_view if (page, view_key) in _prepared.get(dataset_key, ()) else _view
    return cached(page, dataset_key, view_key, active_dataset(), filters)

"""Global filters in the sidebar, bound to the URL query string so a copied link reopens the same
view on any page (?tier=Gold&tier=Platinum&period=2026-04-01&period=2026-06-30&compare=year).

Streamlit's `bind="query-params"` keeps widget and URL in step and drops values that are not
options; this module adds what a user needs on top: a notice naming what a link asked for that
this dataset does not have, and a reset control. Only filter values ever travel in the URL.
"""

from __future__ import annotations

import datetime as dt

import streamlit as st

from dashboard import data
from dashboard.text import plain, shorten
from metrics.domain import Dataset, Filters, Period, Slice
from metrics.schema import earliest_event, latest_event
from metrics.slicing import dimension_values
from metrics.stats import closes_month, first_of_month

COMPARISONS = {"previous": "the period before", "year": "the same period a year earlier"}
LEGACY_COMPARISONS = {"Previous period": "previous", "Same period last year": "year"}  # older links
MULTI = {  # URL key → (customers column, label, Slice field)
    "tier": ("tier", "Customer tier", "tiers"),
    "segment": ("segment", "Segment", "segments"),
    "region": ("region", "Region", "regions"),
    "channel": ("acquisition_channel", "Acquisition channel", "channels"),
}
PERIOD_KEY, COMPARE_KEY = "period", "compare"
MAX_NAMED = 5  # refused values a notice names
KEYS = (*MULTI, PERIOD_KEY, COMPARE_KEY)


MAX_LINK_VALUE = 200  # characters of one value a link may carry (a tier, a date, a dataset name)
MAX_LINK_VALUES = 50  # values per key


def cap_link() -> None:
    """Cut what a link carries to sizes a view can have, before any widget reads it: a value
    longer than MAX_LINK_VALUE characters is dropped and a key keeps its first MAX_LINK_VALUES
    values (a 100 KB value froze the visitor's tab; a locked link's token has its own limit, see
    sharing.read_token). Said once, in the link notice."""
    from dashboard.sharing import MAX_TOKEN

    dropped = 0
    for key in list(st.query_params):
        values = st.query_params.get_all(key)
        limit = MAX_TOKEN if key == "share" else MAX_LINK_VALUE
        kept = [v for v in values if len(v) <= limit][:MAX_LINK_VALUES]
        if kept != values:
            dropped += len(values) - len(kept)
            st.query_params[key] = kept
    if dropped:
        values = "value" if dropped == 1 else "values"
        st.session_state["_link_cut"] = f"The link carried {dropped:,} {values} too long or too many to be filters: left out."


def dataset_as_of(dataset: Dataset) -> dt.date:
    return dataset.settings.as_of or latest_event(dataset.tables) or dt.date.today()


def default_period(as_of: dt.date, earliest: dt.date | None = None) -> tuple[dt.date, dt.date]:
    """The last three complete calendar months up to the as-of date: a month the data ends in the
    middle of is thin, and would look like a fall. Shorter when the data begin later; the days
    there are when they hold less than a month."""
    end = as_of if closes_month(as_of) else as_of.replace(day=1) - dt.timedelta(days=1)
    start = first_of_month(end, -2)
    if earliest is not None:
        if end < earliest:  # less than one complete month of data
            return earliest, as_of
        start = max(start, earliest)
    return start, end


def _earliest(dataset: Dataset, as_of: dt.date) -> dt.date:
    first = earliest_event(dataset.tables)
    return min(first, as_of) if first else as_of - dt.timedelta(days=3 * 365)


def _reset(defaults: dict[str, object]) -> None:
    for key, value in defaults.items():
        st.session_state[key] = value


def _names(values: list[str]) -> str:
    shown = ", ".join(repr(shorten(v)) for v in values[:MAX_NAMED])
    return shown + (f" and {len(values) - MAX_NAMED} more" if len(values) > MAX_NAMED else "")


def _legacy_compare() -> None:
    """Links written by earlier versions carry the label (`compare=Same+period+last+year`):
    they open that comparison too."""
    compare = st.query_params.get(COMPARE_KEY)
    if compare in LEGACY_COMPARISONS:
        st.session_state[COMPARE_KEY] = LEGACY_COMPARISONS[compare]


def _link_notice(options: dict[str, list[str]], earliest: dt.date, as_of: dt.date) -> None:
    """Say which values of the link this dataset does not have (the widgets then ignore them);
    values it does have are never named."""
    ignored = []
    for key, allowed in options.items():
        asked = [v for v in st.query_params.get_all(key) if v]
        wrong = [v for v in asked if v not in allowed]
        if wrong:
            ignored.append(f"{MULTI[key][1].lower()} {_names(wrong)}")
    compare = st.query_params.get(COMPARE_KEY)
    if compare and compare not in COMPARISONS and compare not in LEGACY_COMPARISONS:
        ignored.append(f"comparison {_names([compare])}")
    period = st.query_params.get_all(PERIOD_KEY)
    if period:
        try:
            days = [dt.date.fromisoformat(v) for v in period]
            start, end = days[0], days[-1]  # a one-day period may be written once
            if len(days) > 2:
                raise ValueError
            if not earliest <= start <= end <= as_of:
                ignored.append(f"the period {start} – {end}, outside the data ({earliest} – {as_of}),")
        except ValueError:
            ignored.append(f"the period {_names(period)}")
    notices = [st.session_state.pop("_link_cut", None)]
    if ignored:
        notices.append("The link asked for " + "; ".join(ignored) + " which this dataset does not have: ignored.")
    if any(notices):
        st.session_state["_link_notice"] = " ".join(n for n in notices if n)


def _one_day_link(day: dt.date) -> bool:
    """The session opened on a link to a one-day period (the date widget holds one date then,
    as it does while a range is half picked)."""
    return st.session_state.get("_one_day_link") == day.isoformat()


def defaults(dataset: Dataset) -> Filters:
    """The filters a visit opens with when its link carries none: every customer, the default
    period, compared with the period before (what `show` draws before anything is chosen)."""
    as_of = dataset_as_of(dataset)
    return Filters(Slice(), Period(*default_period(as_of, _earliest(dataset, as_of))), "previous", as_of)


def _choices(dataset: Dataset) -> tuple[dt.date, dt.date, dict[str, list[str]]]:
    """The dataset's as-of date, its earliest date and the values of each filter."""
    as_of, tier_order = dataset_as_of(dataset), dataset.settings.tier_order
    options = {
        key: dimension_values(dataset.tables, column, order=tier_order if key == "tier" else ())
        for key, (column, _, _) in MULTI.items()
    }
    return as_of, _earliest(dataset, as_of), options


def show() -> Filters:
    """The filters of the active dataset in the sidebar, and the ones chosen."""
    as_of, earliest, options = data.of_active_dataset("filter choices", _choices)
    latest = as_of
    lock = data.active_lock()
    if lock is not None:  # a locked link's period: the date picker cannot leave it
        earliest = min(max(earliest, lock.start or earliest), as_of)
        latest = max(min(as_of, lock.end or as_of), earliest)
    if "_link_checked" not in st.session_state:  # only the link a session opened with
        st.session_state["_link_checked"] = True
        _link_notice(options, earliest, latest)
        _legacy_compare()
        days = set(st.query_params.get_all(PERIOD_KEY))
        if len(days) == 1:
            st.session_state["_one_day_link"] = days.pop()
    sidebar = st.sidebar
    sidebar.markdown("**Filters**")
    if lock is not None:
        fixed = [f"{label} {', '.join(values)}" for label, values in (("tier", lock.tiers), ("segment", lock.segments)) if values]
        if lock.start or lock.end:
            fixed.append(f"period {earliest} – {latest}")
        if fixed:
            sidebar.caption("Fixed by the link: " + plain("; ".join(fixed)) + ". The other filters can narrow it.")
    chosen: dict[str, tuple[str, ...]] = {}
    for key, (_, label, field) in MULTI.items():
        if not options[key]:
            chosen[field] = ()
            continue
        values = sidebar.multiselect(
            label, options[key], key=key, bind="query-params", placeholder="All",
            help="Empty means all. Every page shows only the customers in the slice.",
        )  # fmt: skip
        chosen[field] = tuple(values)
    start_default, end_default = default_period(latest, earliest)
    period = sidebar.date_input(
        "Period", value=(start_default, end_default), min_value=earliest, max_value=latest,
        key=PERIOD_KEY, bind="query-params", format="YYYY-MM-DD",
        help=f"Period of the KPIs and trends. Data runs to {as_of:%d %b %Y} (the as-of date).",
    )  # fmt: skip
    if isinstance(period, tuple) and len(period) == 2 and earliest <= period[0] <= period[1] <= latest:
        start, end = period
    elif isinstance(period, tuple) and len(period) == 1 and _one_day_link(period[0]):
        start = end = period[0]  # a one-day period: the link says the day twice
    else:  # half-picked range: keep the default until the second date is chosen
        start, end = start_default, end_default
    # The options are the link's own values (a bound widget writes what it shows), so the link
    # says compare=year, the documented form, and reads back as it was written.
    comparison = sidebar.radio(
        "Compare with", list(COMPARISONS), captions=list(COMPARISONS.values()), key=COMPARE_KEY,
        bind="query-params", horizontal=True,
    )  # fmt: skip
    defaults = {key: [] for key in MULTI} | {PERIOD_KEY: (start_default, end_default), COMPARE_KEY: "previous"}
    sidebar.button("Reset filters", on_click=_reset, args=(defaults,), width="stretch")
    notice = st.session_state.get("_link_notice")
    if notice:
        sidebar.warning(plain(notice), icon="⚠️")
    return Filters(Slice(**chosen), Period(start, end), comparison or "previous", as_of)

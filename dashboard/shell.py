"""What every page shares: the filters chosen in the sidebar this run, the page header that says
which slice is shown, and the empty state when a page cannot be computed."""

from __future__ import annotations

from typing import Any

import streamlit as st

from dashboard import data
from dashboard.text import plain
from metrics.domain import Filters

FILTERS_KEY = "_filters"  # set by app.py before the page runs; never put in the URL


def current_filters() -> Filters:
    return st.session_state[FILTERS_KEY]


def describe(filters: Filters) -> str:
    parts = []
    lock = data.active_lock()  # a locked link's values hold when the filter chooses none
    tiers = filters.slice.tiers or (lock.tiers if lock else ())
    segments = filters.slice.segments or (lock.segments if lock else ())
    for label, values in (("tier", tiers), ("segment", segments),
                          ("region", filters.slice.regions), ("channel", filters.slice.channels)):  # fmt: skip
        if values:
            parts.append(f"{label} {', '.join(values)}")
    who = "; ".join(parts) if parts else "all customers"
    # the cards' labels then name no currency; a dataset without amounts needs none
    unset = f" · {NO_CURRENCY}" if currency() == NO_CURRENCY and holds_money(data.active_dataset()) else ""
    return f"{data.selected_name()} · {who} · {filters.period.label()} · data as of {filters.as_of:%d %b %Y}{unset}"


def page(name: str, title: str) -> tuple[Filters, Any]:
    """Header, then the page's cached results, or its empty state (and the page stops)."""
    from dashboard.views import Missing

    filters = current_filters()
    st.title(title)
    st.caption(plain(describe(filters)))  # the dataset's name and the data's tier values: text
    try:
        return filters, data.view(name, filters)
    except Missing as missing:
        st.info(missing.reason, icon="ℹ️")
        st.stop()
        raise  # unreachable: st.stop() ends the run


def part(name: str, filters: Filters) -> Any:
    """Another cached view the page draws beside its own (views.VIEWS), for the same filters."""
    return data.view(name, filters)


NO_CURRENCY = "currency not set"


def holds_money(dataset) -> bool:
    """Whether the dataset has amounts a currency would name (orders or deals)."""
    return any(t in dataset.tables and dataset.tables[t].height for t in ("orders", "deals"))


def currency_code() -> str:
    """The dataset's currency code or symbol; "" when it is not set (an import whose amounts name
    none) or is not a currency code or symbol (nothing else reaches a label or a report)."""
    return data.active_dataset().settings.currency_code()


def currency() -> str:
    """The dataset's currency for labels, said plainly when it is not set (NO_CURRENCY)."""
    return currency_code() or NO_CURRENCY


def card_label(label: str, currency: str, per: str = "") -> str:
    """A money card's label: "Avg. deal (USD)", "Velocity (USD/day)" with per="day". Without a
    currency it stays short ("Avg. deal", "Velocity (per day)"): a card cuts "(currency not set)"
    to "(currenc…", and the page's caption already says that the currency is not set."""
    if currency == NO_CURRENCY:
        return f"{label} (per {per})" if per else label
    return f"{label} ({currency}/{per})" if per else f"{label} ({currency})"


def tier_order() -> list[str]:
    return list(data.active_dataset().settings.tier_order)


def money(value: float | None, currency: str | None = None) -> str:
    """Compact money for cards: 2,733 · 51.2k · 1.99M (with the currency in front when given, or
    after it in brackets when it is not set, so a sentence reads "4.79M (currency not set)");
    exact values go in the hover text and tables."""
    if value is None:
        return "—"
    size = abs(value)
    text = f"{value:,.0f}"
    for threshold, divisor, suffix in ((1e9, 1e9, "B"), (1e6, 1e6, "M"), (1e4, 1e3, "k")):
        if size >= threshold:
            scaled = value / divisor
            text = f"{scaled:,.{2 if abs(scaled) < 100 else 1}f}{suffix}"
            break
    return with_currency(text, currency)


def with_currency(amount: str, currency: str | None) -> str:
    """ "USD 4.79M", or "4.79M (currency not set)" when the currency is NO_CURRENCY."""
    if currency == NO_CURRENCY:
        return f"{amount} ({currency})"
    return f"{currency} {amount}" if currency else amount


def sort_tiers(frame, column: str = "tier"):
    """Rows in the dataset's tier order (Bronze < Silver < Gold < Platinum), unknown tiers last."""
    import polars as pl

    order = {t: i for i, t in enumerate(tier_order())}
    return frame.sort(pl.col(column).replace_strict(order, default=len(order), return_dtype=pl.Int64))


def one_tier_note(by_tier) -> str:
    """What a per-tier chart would say when the slice has a single tier."""
    tier = by_tier.get_column("tier")[0] if by_tier.height else "none"
    return (f"All customers in this slice are in one tier ({plain(tier)}): there is nothing to compare. A tier "
            "column in the customers file (or a tier filter with several tiers) splits this by tier.")


def checked_customers(check: dict, whose: str = "the") -> str:
    """Whom a model check (holdout, backtest) compared: "the 23,570 customers", or "a random
    sample of 100,000 of the 811,957 customers" where it was run on a sample (btyd.CHECK_SAMPLE)."""
    customers, everyone = check["customers"], check.get("of_customers", check["customers"])
    if everyone > customers:
        return f"a random sample of {customers:,} of {whose} {everyone:,} customers"
    return f"{whose} {customers:,} customers"


def how_did_this_do(sentence: str | None, missing: str) -> None:
    """The backtest panel of a page: what a figure said a year ago against what then happened, or
    why the data cannot tell."""
    st.subheader("How did this do?")
    if sentence is None:
        st.caption(missing)
    else:
        st.text(sentence)

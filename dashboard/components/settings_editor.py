"""The active dataset's settings (DATA_CONTRACT.md): currency, margin rate, tier and stage order,
churn window, SLA targets, as-of date and the costs of serving a customer. Stored datasets can be
edited here; the bundled sample and the SQL source are shown read-only."""

from __future__ import annotations

import datetime as dt

import polars as pl
import streamlit as st

from dashboard import access, data
from dashboard.store import StoreBusy
from dashboard.text import plain
from metrics.domain import Dataset
from metrics.schema import (
    CURRENCY_FORM,
    UNASSIGNED_TIER,
    DatasetSettings,
    earliest_event,
    latest_event,
)
from metrics.slicing import dimension_values


def _order(text: str) -> list[str]:
    return [part.strip() for part in text.split(">") if part.strip()]


def validate(settings: DatasetSettings, dataset: Dataset) -> list[str]:
    """Problems that would make the settings wrong for this dataset, in words."""
    problems = []
    if settings.currency and not CURRENCY_FORM.fullmatch(settings.currency):
        problems.append("The currency is a code such as GBP or a symbol such as £ (letters only, up to 8).")
    if not 0 <= settings.margin_rate <= 1:
        problems.append("The margin rate must be between 0 and 1 (e.g. 0.35 for 35%).")
    if not 1 <= settings.churn_window_days <= 3650:
        problems.append("The churn window must be between 1 and 3,650 days.")
    tiers = set(dimension_values(dataset.tables, "tier")) - {UNASSIGNED_TIER}
    missing = sorted(tiers - set(settings.tier_order))
    if missing:
        problems.append(f"The tier order leaves out tiers in the data: {', '.join(missing)}.")
    if len(set(settings.stage_order)) != len(settings.stage_order) or len(settings.stage_order) < 2:
        problems.append("The stage order needs at least two different stages.")
    if any(v is not None and v < 0 for v in (settings.cost_per_ticket, settings.cost_per_interaction)):
        problems.append("Costs cannot be negative.")
    first = earliest_event(dataset.tables)
    if settings.as_of is not None and first is not None and settings.as_of < first:
        problems.append(f"The as-of date is before the data's first date ({first}): nothing would be known on it.")
    if any(h <= 0 for h in settings.sla_hours.values()):
        problems.append("SLA targets must be positive hours.")
    return problems


def show(dataset: Dataset) -> None:
    s = dataset.settings
    editable = dataset.name not in (data.SAMPLE, data.SQL)
    if not editable:
        st.caption("The bundled sample and the SQL source use these settings as they are; import your data to set your own.")
    st.caption(f"Timestamps are read on {plain(s.time_zone)} time (chosen at import: import again to change it).")
    latest, first = latest_event(dataset.tables), earliest_event(dataset.tables)
    # Bounds from the data itself: Streamlit's default bounds (ten years around today) refuse a
    # dataset from the 1990s or 2010s with an error instead of a page.
    low = min(first or dt.date(1900, 1, 1), s.as_of or dt.date.max)
    high = max(latest or dt.date(2100, 12, 31), s.as_of or dt.date.min)
    with st.form("dataset_settings", border=False):
        c1, c2, c3 = st.columns(3)
        currency = c1.text_input("Currency", s.currency, max_chars=8, disabled=not editable)
        margin = c2.number_input("Margin rate (when orders carry no gross_margin)", 0.0, 1.0, float(s.margin_rate), 0.05,
                                 disabled=not editable)  # fmt: skip
        window = c3.number_input("Churn window (days without an order)", 1, 3650, int(s.churn_window_days), disabled=not editable,
                                 key="settings_window")  # fmt: skip
        tiers = st.text_input("Tier order, lowest first (separate with >)", " > ".join(s.tier_order), disabled=not editable,
                              key="settings_tiers")  # fmt: skip
        stages = st.text_input("Stage order (separate with >)", " > ".join(s.stage_order), disabled=not editable)
        c1, c2, c3 = st.columns(3)
        as_of = c1.date_input("As-of date (empty: latest event in the data)", s.as_of, min_value=low, max_value=high,
                              disabled=not editable)  # fmt: skip
        per_ticket = c2.number_input("Cost per support ticket", 0.0, None, s.cost_per_ticket, disabled=not editable,
                                     help="Used for cost to serve and retention cost; empty: unknown")  # fmt: skip
        per_contact = c3.number_input("Cost per interaction", 0.0, None, s.cost_per_interaction, disabled=not editable)
        sla = st.data_editor(
            pl.DataFrame({"priority": list(s.sla_hours), "first response target (hours)": list(s.sla_hours.values())}),
            num_rows="dynamic", hide_index=True, disabled=not editable, key="sla_editor",
        )  # fmt: skip
        submitted = st.form_submit_button("Save settings", type="primary", disabled=not editable)
    if not submitted:
        return
    sla_rows = sla.drop_nulls().rows() if isinstance(sla, pl.DataFrame) else []
    new = DatasetSettings(
        currency=currency.strip().upper(), margin_rate=float(margin), tier_order=_order(tiers), stage_order=_order(stages),
        churn_window_days=int(window), sla_hours={str(p).strip().lower(): float(h) for p, h in sla_rows},
        as_of=as_of, cost_per_ticket=per_ticket, cost_per_interaction=per_contact, time_zone=s.time_zone,
    )  # fmt: skip
    problems = validate(new, dataset)
    if problems:
        for problem in problems:
            st.error(plain(problem))
        return
    access.require("editor")
    try:
        data.store().update_settings(dataset.name, new, actor=access.actor())
    except StoreBusy as busy:
        st.error(plain(str(busy)))
        return
    st.success("Settings saved: every page now uses them.")

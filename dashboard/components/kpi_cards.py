"""KPI cards: value, change against the comparison period (grey when within noise), a sparkline,
and a hover that says how the number is made."""

from __future__ import annotations

import polars as pl
import streamlit as st

from dashboard.shell import card_label, money, with_currency
from metrics.kpis import LOWER_IS_BETTER, Kpi, Overview, value_text


def format_value(kpi: Kpi, value: float | None, currency: str) -> str:
    """The card's number: money shortened to fit (the currency is in the label), every other unit
    as metrics.kpis.value_text writes it."""
    if value is None:
        return "—"
    if kpi.unit == "currency":
        return money(value)
    return value_text(kpi.unit, value)


def _unchanged(kpi: Kpi) -> bool:
    """The change rounds to nothing at the precision it is shown with (no arrow, no colour)."""
    if kpi.change is None:
        return False
    if kpi.unit in ("percent", "points", "hours"):
        return round(kpi.change, 1) == 0
    if kpi.unit == "ratio":
        return round(kpi.change, 2) == 0
    return round(kpi.change_pct, 1) == 0 if kpi.change_pct is not None else round(kpi.change) == 0


def _delta(kpi: Kpi) -> str | None:
    if kpi.change is None:
        return None
    if _unchanged(kpi):
        return "no change"
    if kpi.unit in ("percent", "points"):
        text = f"{kpi.change:+.1f} pts"
    elif kpi.unit == "hours":
        text = f"{kpi.change:+.1f} h"
    elif kpi.unit == "ratio":
        text = f"{kpi.change:+.2f}"
    else:
        text = f"{kpi.change_pct:+.1f}%" if kpi.change_pct is not None else f"{kpi.change:+,.0f}"
    if kpi.beyond_noise is False:
        text += " · within noise"
    elif kpi.beyond_noise is None:
        text += " · not tested"
    return text


def _help(kpi: Kpi, overview: Overview, currency: str) -> str:
    lines = [f"**{kpi.label}**: {kpi.definition}." if kpi.definition else f"**{kpi.label}**"]
    if kpi.numerator is not None and kpi.denominator:
        lines.append(f"{kpi.numerator:,.0f} of {kpi.denominator:,.0f}.")
    if kpi.unit == "currency" and kpi.value is not None:
        lines.append(f"Exactly {with_currency(f'{kpi.value:,.2f}', currency)}.")
    lines.append(f"Comparison ({overview.comparison.label()}): {format_value(kpi, kpi.previous, currency)}.")
    if kpi.p_value is not None:
        verdict = "beyond noise" if kpi.beyond_noise else "within noise"
        lines.append(f"Change {verdict} (p = {kpi.p_value:.3g}, two-sided test at 5%).")
    if kpi.note:
        lines.append(kpi.note)
    return "  \n".join(lines)


def show(overview: Overview, months: pl.DataFrame, *, currency: str, per_row: int = 4) -> None:
    # metrics.kpis.monthly_series names its columns after the KPIs: a KPI with a column there gets
    # a sparkline. Those cards come first, so every row holds cards of one height (growth, then
    # sales and service, then the period-level value figures).
    kpis = sorted(overview.kpis, key=lambda k: k.key not in months.columns)
    # a KPI the data cannot give (its table or column is missing) gets no empty card: the caption
    # below names it and says what would give it
    shown = [k for k in kpis if not (k.value is None and k.note)]
    for start in range(0, len(shown), per_row):
        columns = st.columns(per_row)
        for column, kpi in zip(columns, shown[start : start + per_row], strict=False):
            spark = None
            if kpi.key in months.columns:
                # a month without data is left out, not drawn as 0 (an NPS of 0 is a real score);
                # a single month is no trend (it drew a flat line)
                spark = months.get_column(kpi.key).drop_nulls().to_list()
                spark = spark if len(spark) >= 2 else None
            with column:
                label = card_label(kpi.label, currency) if kpi.unit == "currency" else kpi.label
                unchanged = _unchanged(kpi)
                st.metric(
                    label, format_value(kpi, kpi.value, currency), delta=_delta(kpi),
                    delta_color="off" if not kpi.beyond_noise or unchanged else ("inverse" if kpi.key in LOWER_IS_BETTER else "normal"),
                    help=_help(kpi, overview, currency), border=True,
                    chart_data=spark, chart_type="area" if spark else None, delta_arrow="off" if unchanged else "auto",
                )  # fmt: skip
    missing = [f"{kpi.label} ({kpi.note})" for kpi in kpis if kpi.value is None and kpi.note]
    if missing:
        st.caption("Not shown, for want of data: " + "; ".join(missing) + ".")

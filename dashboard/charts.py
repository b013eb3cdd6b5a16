"""Plotly figure builders: frame in, figure out, no Streamlit calls. One theme and one set of tier
colours everywhere, so Gold is the same gold on every page."""

from __future__ import annotations

import html
import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar

import numpy as np
import plotly.graph_objects as go
import plotly.io as pio
import polars as pl

from metrics.stats import months_spanned

TIER_COLOURS = {
    "Bronze": "#b0743c", "Silver": "#8d99a6", "Gold": "#d4a017", "Platinum": "#4b6584",
    "Unassigned": "#b8b8b8",
}  # fmt: skip
PALETTE = ["#2f6fdf", "#e8833a", "#2ca58d", "#c4456b", "#7d5ba6", "#8c8c3a", "#3aa0c8", "#a0522d"]
ACCENT = PALETTE[0]
GOOD, BAD, NEUTRAL = "#2ca58d", "#c4456b", "#8d99a6"
FONT = "Inter, Segoe UI, Helvetica, Arial, sans-serif"
# Every figure's template, as the default a new figure starts from: passed to each figure's
# update_layout instead, Plotly validated and copied the whole template again for every chart
# (a four-trace bar chart took 19-22 ms to build that way, 8.5-13.5 ms this way); the figure
# sent to the browser is the same.
pio.templates.default = "plotly_white"


def colour_for(name: str, index: int = 0) -> str:
    return TIER_COLOURS.get(name, PALETTE[index % len(PALETTE)])


def _text(value: object) -> str:
    """A value from the data as Plotly text: Plotly reads <a href>, <b> and <br> in every label,
    legend and hover, so a tier or stage named "<a href=…>" would be a link; escaped, it is the
    characters typed."""
    return html.escape(str(value), quote=False)


def _data_as_text(fig: go.Figure) -> None:
    """Escape what the data put in the figure: trace names, category axes and per-point texts.
    (Hover texts built with markup escape their values where they are built.)"""
    for trace in fig.data:
        if isinstance(trace.name, str):
            trace.name = _text(trace.name)
        for attribute in ("x", "y", "text"):
            values = getattr(trace, attribute, None)
            if isinstance(values, np.ndarray) and values.dtype.kind in "OU":  # a many-point trace's texts
                setattr(trace, attribute, np.array([_text(v) if isinstance(v, str) else v for v in values.tolist()], dtype=object))
            elif isinstance(values, (list, tuple)) and any(isinstance(v, str) for v in values):
                setattr(trace, attribute, [_text(v) if isinstance(v, str) else v for v in values])


_collected: ContextVar[list[go.Figure] | None] = ContextVar("figures of this page run", default=None)


@contextmanager
def collecting() -> Iterator[list[go.Figure]]:
    """Every figure built in this block (in this thread: one page run), in order — what the
    page's report holds (dashboard/report.py)."""
    figures: list[go.Figure] = []
    token = _collected.set(figures)
    try:
        yield figures
    finally:
        _collected.reset(token)


def _layout(fig: go.Figure, *, title: str = "", height: int = 360, **kw) -> go.Figure:
    if (figures := _collected.get()) is not None:
        figures.append(fig)
    _data_as_text(fig)
    fig.update_layout(
        title={"text": title, "x": 0, "font": {"size": 15}},
        font={"family": FONT, "size": 12},
        height=height,
        margin={"l": 10, "r": 10, "t": 40 if title else 10, "b": 10},
        # the legend sits under the plot (and under the x-axis title when there is one), where it
        # cannot collide with the title
        legend={"orientation": "h", "yanchor": "top", "y": -0.2 if fig.layout.xaxis.title.text else -0.12, "x": 0},
        hoverlabel={"font_size": 12},
        **kw,
    )
    return fig


def funnel_chart(funnel: pl.DataFrame, *, title: str = "Deals reaching each stage") -> go.Figure:
    """Counts with step and overall conversion and the 95% interval of each step in the hover."""
    rows = funnel.to_dicts()
    hover = []
    for r in rows:
        step = "—" if r["step_conversion"] is None else f"{100 * r['step_conversion']:.1f}%"
        interval = "" if r["ci_low"] is None else f" (95% CI {100 * r['ci_low']:.1f}–{100 * r['ci_high']:.1f}%)"
        overall = "—" if r["overall_conversion"] is None else f"{100 * r['overall_conversion']:.1f}%"
        hover.append(f"<b>{_text(r['stage'])}</b><br>reached {r['reached']:,}<br>step conversion {step}{interval}"
                     f"<br>overall {overall}<br>drop-off {r['drop_off']:,}")  # fmt: skip
    fig = go.Figure(
        go.Funnel(
            y=[r["stage"] for r in rows], x=[r["reached"] for r in rows],
            textinfo="value+percent initial+percent previous", marker={"color": ACCENT},
            hovertext=hover, hoverinfo="text",
        )
    )  # fmt: skip
    return _layout(fig, title=title, height=340)


def grouped_bars(frame: pl.DataFrame, *, x: str, y: str, colour: str, title: str = "", percent: bool = False,
                 order: Sequence[str] | None = None) -> go.Figure:  # fmt: skip
    fig = go.Figure()
    groups = order or frame.get_column(colour).unique(maintain_order=True).to_list()
    for i, group in enumerate(groups):
        part = frame.filter(pl.col(colour) == group)
        if part.is_empty():
            continue
        fig.add_bar(x=part.get_column(x).to_list(), y=part.get_column(y).to_list(), name=str(group),
                    marker_color=colour_for(str(group), i))  # fmt: skip
    fig.update_layout(barmode="group")
    if percent:
        fig.update_yaxes(tickformat=".0%")
    return _layout(fig, title=title)


def bars(frame: pl.DataFrame, *, x: str, y: str, title: str = "", percent: bool = False, horizontal: bool = False,
         colour_by_tier: bool = False, error: tuple[str, str] | None = None, text: str | None = None,
         text_template: str | None = None, counted: tuple[str, str] | None = None) -> go.Figure:  # fmt: skip
    """Bars, tier-coloured on request; `text` labels each bar with a column, formatted by Plotly's
    `text_template` (e.g. "%{text:.1%}") when given, or as a count of `counted` (singular, plural:
    "1 order", "1,234 orders")."""
    xs, ys = frame.get_column(x).to_list(), frame.get_column(y).to_list()
    colours = [colour_for(str(v), i) for i, v in enumerate(xs)] if colour_by_tier else ACCENT
    kw = {}
    if error:
        low, high = frame.get_column(error[0]).to_list(), frame.get_column(error[1]).to_list()
        kw["error_y" if not horizontal else "error_x"] = {
            "type": "data", "symmetric": False,
            "array": [None if h is None or v is None else h - v for v, h in zip(ys, high, strict=True)],
            "arrayminus": [None if lo is None or v is None else v - lo for v, lo in zip(ys, low, strict=True)],
        }  # fmt: skip
    if text:
        kw["text"] = frame.get_column(text).to_list()
        if counted:
            kw["text"] = [f"{n:,} {counted[0] if n == 1 else counted[1]}" for n in kw["text"]]
        kw["textposition"] = "auto"
        if text_template:
            kw["texttemplate"] = text_template
    bar = go.Bar(y=xs, x=ys, orientation="h", marker_color=colours, **kw) if horizontal else go.Bar(x=xs, y=ys, marker_color=colours, **kw)
    fig = go.Figure(bar)
    if percent:
        (fig.update_xaxes if horizontal else fig.update_yaxes)(tickformat=".0%")
    else:
        _whole_counts(fig, frame.get_column(y), axis="x" if horizontal else "y", from_zero=True)
    if horizontal:
        fig.update_yaxes(autorange="reversed")
    return _layout(fig, title=title, height=max(300, 28 * len(xs) + 80) if horizontal else 360)


def _whole_counts(fig: go.Figure, values: pl.Series, *, axis: str = "y", from_zero: bool = False) -> None:
    """Counts (an integer column) tick in whole numbers: with a few customers or answers Plotly
    would tick 8.5, 9, 9.5, … or 0.5, 1, 1.5. In ones when the axis spans ten or fewer (bars:
    from 0)."""
    values = values.drop_nulls()
    if not values.dtype.is_integer() or values.is_empty():
        return
    low, high = values.min(), values.max()
    if from_zero:
        low, high = min(low, 0), max(high, 0)
    few = high - low <= 10
    (fig.update_xaxes if axis == "x" else fig.update_yaxes)(tickformat=",d", dtick=1 if few else None)


MONTH_TICKS = 6  # month labels on a trend's axis at most


def trend(frame: pl.DataFrame, *, x: str, y: str, title: str = "", band: tuple[str, str] | None = None,
          percent: bool = False, name: str | None = None, colour: str = ACCENT, partial: str | None = None) -> go.Figure:  # fmt: skip
    """A line over time, with its 95% band when given. `partial`: a boolean column marking periods
    not complete at the as-of date; they are drawn dashed and hollow, labelled as such. The axis
    starts at the first period with a value: periods before the data begin are not drawn as empty."""
    fig = go.Figure()
    begun = frame.get_column(y).is_not_null().arg_true()
    if len(begun):
        frame = frame.slice(begun[0])
    if partial and partial in frame.columns and frame.get_column(partial).any():
        complete = frame.filter(~pl.col(partial))
        joined = pl.concat([complete.tail(1), frame.filter(pl.col(partial))])
        fig.add_scatter(x=joined.get_column(x).to_list(), y=joined.get_column(y).to_list(), mode="lines+markers",
                        line={"color": colour, "width": 2, "dash": "dot"}, marker={"symbol": "circle-open", "size": 9},
                        name="month not yet complete")  # fmt: skip
        frame = complete
    if band:
        xs = frame.get_column(x).to_list()
        fig.add_scatter(x=xs + xs[::-1], y=frame.get_column(band[1]).to_list() + frame.get_column(band[0]).to_list()[::-1],
                        mode="lines", fill="toself", fillcolor="rgba(47,111,223,0.12)", line={"width": 0}, hoverinfo="skip",
                        name="95% interval", showlegend=True)  # fmt: skip
    fig.add_scatter(x=frame.get_column(x).to_list(), y=frame.get_column(y).to_list(), mode="lines+markers",
                    line={"color": colour, "width": 2}, name=name or y)  # fmt: skip
    if percent:
        fig.update_yaxes(tickformat=".0%")
    else:
        _whole_counts(fig, frame.get_column(y))
    if frame.schema.get(x, pl.Null).is_temporal():
        # months are labelled as months (with a few points Plotly would tick in milliseconds), at
        # most MONTH_TICKS of them: twelve "Oct 2016" labels in a half-width chart were turned on
        # their side and cut off
        monthly = frame.height and frame.get_column(x).dt.day().max() == 1
        fig.update_xaxes(type="date", tickformat="%b %Y" if monthly else "%d %b %Y",
                         dtick=f"M{-(-months_spanned(frame.get_column(x).min(), frame.get_column(x).max()) // MONTH_TICKS)}" if monthly else None)  # fmt: skip
    return _layout(fig, title=title)


def lines_by(frame: pl.DataFrame, *, x: str, y: str, group: str, title: str = "", percent: bool = False,
             order: Sequence[str] | None = None, band: tuple[str, str] | None = None, step: bool = False) -> go.Figure:  # fmt: skip
    fig = go.Figure()
    groups = order or frame.get_column(group).unique(maintain_order=True).to_list()
    for i, g in enumerate(groups):
        part = frame.filter(pl.col(group) == g)
        if part.is_empty():
            continue
        colour = colour_for(str(g), i)
        xs = _points(part.get_column(x))
        if band:
            fig.add_scatter(x=_there_and_back(xs, xs), y=_there_and_back(_points(part.get_column(band[1])), _points(part.get_column(band[0]))),
                            mode="lines", fill="toself", fillcolor=_rgba(colour, 0.14),
                            line={"width": 0, "shape": "hv" if step else "linear"},
                            hoverinfo="skip", showlegend=False)  # fmt: skip
        fig.add_scatter(x=xs, y=_points(part.get_column(y)), mode="lines", name=str(g),
                        line={"color": colour, "width": 2, "shape": "hv" if step else "linear"})  # fmt: skip
    if percent:
        fig.update_yaxes(tickformat=".0%")
    return _layout(fig, title=title, height=380)


def _points(values: pl.Series) -> np.ndarray | list:
    """A curve's coordinates for Plotly: numbers as a NumPy array, which Plotly takes whole (and
    sends packed), where it checks a list one value at a time (a survival curve has a step for
    each day on which a customer lapsed); anything else as a list."""
    return values.to_numpy() if values.dtype.is_numeric() else values.to_list()


def _there_and_back(forth: np.ndarray | list, back: np.ndarray | list) -> np.ndarray | list:
    """A band's outline: along `forth`, then back along `back` reversed."""
    if isinstance(forth, np.ndarray) and isinstance(back, np.ndarray):
        return np.concatenate([forth, back[::-1]])
    return list(forth) + list(back)[::-1]


def _rgba(hex_colour: str, alpha: float) -> str:
    h = hex_colour.lstrip("#")
    r, g, b = (int(h[i : i + 2], 16) for i in (0, 2, 4))
    return f"rgba({r},{g},{b},{alpha})"


def cohort_heatmap(matrix: pl.DataFrame, *, title: str = "", value_label: str = "retention") -> go.Figure:
    """Cohorts down, months since first purchase across; cells after the as-of date stay blank."""
    if matrix.is_empty():
        return _layout(go.Figure(), title=title)
    cohorts = sorted(matrix.get_column("cohort").unique().to_list())
    periods = list(range(int(matrix.get_column("period").max()) + 1))
    lookup = {(r["cohort"], r["period"]): r for r in matrix.to_dicts()}
    z, text, hover = [], [], []
    for c in cohorts:
        row_z, row_t, row_h = [], [], []
        for p in periods:
            cell = lookup.get((c, p))
            value = None if cell is None else cell["retention"]
            row_z.append(value)
            row_t.append("" if value is None else f"{100 * value:.0f}")
            row_h.append("" if cell is None else
                         f"cohort {c:%b %Y}, month {p}<br>{value_label} {100 * (value or 0):.1f}%"
                         f"<br>active {cell['active']:,} of {cell['cohort_size']:,}"
                         + ("<br>(month still running)" if cell["partial"] else ""))  # fmt: skip
        z.append(row_z)
        text.append(row_t)
        hover.append(row_h)
    fig = go.Figure(
        go.Heatmap(z=z, x=periods, y=[f"{c:%b %Y}" for c in cohorts], text=text, texttemplate="%{text}",
                   hovertext=hover, hoverinfo="text", colorscale="Blues", zmin=0, zmax=1 if value_label == "retention" else None,
                   colorbar={"title": "%", "tickformat": ".0%"}, xgap=1, ygap=1, textfont={"size": 9})
    )  # fmt: skip
    # months as categories: labels such as "1997-01" would otherwise make a date axis ticked by week
    fig.update_yaxes(autorange="reversed", title="cohort (first purchase month)", type="category")
    fig.update_xaxes(title="months since first purchase")
    return _layout(fig, title=title, height=max(380, 16 * len(cohorts) + 120))


def histogram(bins: pl.DataFrame, *, title: str = "", x_title: str = "", log_x: bool = False) -> go.Figure:
    """Bars of a binned histogram (metrics.stats.binned: left, right, count); with log_x the bins
    are of log10 of the values (money spans decades) and the axis is labelled in plain values."""
    left, right, count = (bins.get_column(c).to_list() for c in ("left", "right", "count"))
    centres = [(a + b) / 2 for a, b in zip(left, right, strict=True)]
    widths = [b - a for a, b in zip(left, right, strict=True)]
    fig = go.Figure(go.Bar(x=centres, y=count, width=widths, marker_color=ACCENT,
                           hovertemplate="%{y:,} customers<extra></extra>"))  # fmt: skip
    if log_x and right:
        values = log_ticks(min(left), max(right))
        fig.update_xaxes(tickvals=[math.log10(v) for v in values], ticktext=[_short(v) for v in values])
    fig.update_xaxes(title=x_title)
    fig.update_yaxes(title="customers")
    _whole_counts(fig, bins.get_column("count"), from_zero=True)
    return _layout(fig, title=title, bargap=0)


def log_ticks(low: float, high: float) -> list[float]:
    """The values to label on a log axis from 10^low to 10^high: every power of ten, and 2 and 5
    times each where the axis spans less than two of them (else a span from 150 to 3,000 is
    labelled "1k" alone).

    >>> log_ticks(2.1, 3.5), log_ticks(0, 4)
    ([200.0, 500.0, 1000.0, 2000.0], [1.0, 10.0, 100.0, 1000.0, 10000.0])
    """
    steps = (1, 2, 5) if high - low < 2 else (1,)
    return [float(m * 10**e) for e in range(math.floor(low), math.ceil(high) + 1) for m in steps
            if low <= math.log10(m * 10**e) <= high]  # fmt: skip


def scatter(frame: pl.DataFrame, *, x: str, y: str, colour: str | None = None, title: str = "", hover: str = "customer_id",
            x_title: str = "", y_title: str = "", order: Sequence[str] | None = None) -> go.Figure:  # fmt: skip
    fig = go.Figure()
    groups = [None] if colour is None else (order or frame.get_column(colour).unique(maintain_order=True).to_list())
    for i, g in enumerate(groups):
        part = frame if g is None else frame.filter(pl.col(colour) == g)
        if part.is_empty():
            continue
        # NumPy arrays: Plotly takes them whole (and sends the numbers packed), where it checks a
        # list of thousands of values one at a time. SVG, not WebGL: a browser without a graphics
        # card spends over half a second starting WebGL for any number of points, more than SVG
        # takes for the two thousand a view hands over (views.SCATTER_POINTS)
        fig.add_scatter(x=_points(part.get_column(x)), y=_points(part.get_column(y)), mode="markers", name=str(g or ""),
                        marker={"size": 5, "opacity": 0.6, "color": colour_for(str(g), i) if g else ACCENT},
                        text=part.get_column(hover).cast(pl.String).to_numpy(),
                        hovertemplate="%{text}<br>%{x:,.0f} / %{y:,.0f}<extra></extra>")  # fmt: skip
    fig.update_xaxes(title=x_title)
    fig.update_yaxes(title=y_title)
    return _layout(fig, title=title, height=440)


def matrix_heatmap(frame: pl.DataFrame, *, rows: str, cols: str, value: str, title: str = "",
                   row_order: Sequence[str] = (), col_order: Sequence[str] = ()) -> go.Figure:  # fmt: skip
    row_values = [r for r in row_order if r in set(frame.get_column(rows))] or sorted(frame.get_column(rows).unique())
    col_values = [c for c in col_order if c in set(frame.get_column(cols))] or sorted(frame.get_column(cols).unique())
    lookup = {(r[rows], r[cols]): r[value] for r in frame.to_dicts()}
    z = [[lookup.get((r, c), 0) for c in col_values] for r in row_values]
    fig = go.Figure(go.Heatmap(z=z, x=col_values, y=row_values, colorscale="Blues", text=z, texttemplate="%{text:,}",
                               hovertemplate=f"%{{y}} · %{{x}}: %{{z:,}} {value}<extra></extra>", xgap=1, ygap=1))  # fmt: skip
    fig.update_yaxes(autorange="reversed")
    return _layout(fig, title=title, height=max(320, 30 * len(row_values) + 100))


def _short(value: float) -> str:
    for limit, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if value >= limit:
            return f"{value / limit:g}{suffix}"
    return f"{value:g}"

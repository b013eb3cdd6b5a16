"""What the charts draw from a view's frame (dashboard/charts.py)."""

from __future__ import annotations

import datetime as dt

import polars as pl

from dashboard import charts


def test_a_trend_starts_where_its_values_do():
    """Twelve months, revenue known from the fifth on (the data begin in May) and missing in
    August: the axis runs May–December, and August stays a gap inside it."""
    months = [dt.date(2024, m, 1) for m in range(1, 13)]
    revenue = [None] * 4 + [10.0, 12.0, 11.0, None, 9.0, 8.0, 7.0, 6.0]
    fig = charts.trend(pl.DataFrame({"month": months, "revenue": revenue}), x="month", y="revenue")
    (line,) = fig.data
    assert list(line.x) == months[4:]
    assert list(line.y) == revenue[4:]


def test_a_trend_with_a_partial_last_month_draws_it_apart():
    frame = pl.DataFrame({"month": [dt.date(2024, m, 1) for m in (1, 2, 3)], "v": [None, 2.0, 3.0],
                          "partial": [False, False, True]})  # fmt: skip
    partial, complete = charts.trend(frame, x="month", y="v", partial="partial").data
    assert list(complete.y) == [2.0] and list(partial.y) == [2.0, 3.0]
    assert partial.name == "month not yet complete"


def test_a_band_of_few_periods_is_an_area_without_markers():
    """Plotly marks every point of a trace of fewer than 20 points unless told otherwise: a band
    over three months (six points) was drawn with six stray dots in the palette's second colour."""
    frame = pl.DataFrame({"month": [dt.date(2024, m, 1) for m in (1, 2, 3)], "v": [0.1, 0.2, 0.1],
                          "lo": [0.0, 0.1, 0.0], "hi": [0.2, 0.3, 0.2], "g": ["a"] * 3})  # fmt: skip
    band, _ = charts.trend(frame, x="month", y="v", band=("lo", "hi")).data
    assert band.mode == "lines" and band.fill == "toself"
    band, _ = charts.lines_by(frame, x="month", y="v", group="g", band=("lo", "hi")).data
    assert band.mode == "lines" and band.fill == "toself"


def test_a_monthly_axis_has_at_most_six_labels():
    """Twelve "Oct 2016" labels did not fit a half-width chart (Plotly turned them on their side
    and cut them off): one label every ceil(months / 6) months. 3 months → every month; 12 → every
    second (6 labels); 15 → every third (5); 36 → every sixth (6)."""

    def every(months: int) -> str:
        frame = pl.DataFrame({"month": pl.date_range(dt.date(2016, 10, 1), dt.date(2030, 1, 1), "1mo", eager=True)[:months],
                              "rate": [0.5] * months})  # fmt: skip
        return charts.trend(frame, x="month", y="rate").layout.xaxis.dtick

    assert [every(n) for n in (1, 3, 12, 15, 36)] == ["M1", "M1", "M2", "M3", "M6"]


def test_a_histogram_of_a_few_customers_counts_in_whole_numbers_and_labels_its_log_axis():
    """Twelve customers (Online Retail's sample) from 150 to 3,000 GBP: the count axis ticked
    0.2, 0.4, … and the log axis said "1k" alone. Now whole numbers and 200, 500, 1k, 2k."""
    import math

    bins = pl.DataFrame({"left": [math.log10(150), 3.0], "right": [3.0, math.log10(3000)], "count": [7, 5]})
    fig = charts.histogram(bins, log_x=True)
    assert fig.layout.yaxis.dtick == 1
    assert list(fig.layout.xaxis.ticktext) == ["200", "500", "1k", "2k"]
    many = charts.histogram(bins.with_columns(pl.col("count") * 1000), log_x=True)
    assert many.layout.yaxis.dtick is None  # Plotly's own ticks: whole numbers there anyway


def test_a_trend_of_a_few_customers_ticks_whole_numbers():
    """Olist's sample: 8 to 11 active customers a month, ticked 8, 8.5, 9, … Counts (an integer
    column) tick in ones when they span ten or fewer, and print without decimals."""
    frame = pl.DataFrame({"month": pl.date_range(dt.date(2024, 1, 1), dt.date(2024, 4, 1), "1mo", eager=True),
                          "active": [9, 8, 11, 10]})  # fmt: skip
    fig = charts.trend(frame, x="month", y="active")
    assert (fig.layout.yaxis.dtick, fig.layout.yaxis.tickformat) == (1, ",d")
    wide = charts.trend(frame.with_columns(pl.col("active") * 100), x="month", y="active")
    assert (wide.layout.yaxis.dtick, wide.layout.yaxis.tickformat) == (None, ",d")


def test_bars_of_a_few_answers_tick_whole_numbers():
    """Olist's CSAT answers in a quarter: 1, 3, 2 and 1 of the scores 2 to 5, ticked 0.5, 1, 1.5."""
    frame = pl.DataFrame({"score": ["2", "3", "4", "5"], "responses": [1, 3, 2, 1]})
    assert charts.bars(frame, x="score", y="responses").layout.yaxis.dtick == 1
    assert charts.bars(frame.with_columns(pl.col("responses") * 9), x="score", y="responses").layout.yaxis.dtick is None


def test_bars_label_counts_in_words():
    """The Overview's tiers: one tier bought once, another 1,234 times: "1 order", "1,234 orders"
    (Plotly's templates said "1 orders")."""
    frame = pl.DataFrame({"tier": ["Gold", "Silver"], "customers": [1, 900], "orders": [1, 1234]})
    fig = charts.bars(frame, x="tier", y="customers", text="orders", counted=("order", "orders"))
    assert list(fig.data[0].text) == ["1 order", "1,234 orders"]


def test_a_scatters_hover_ids_are_text_and_its_points_the_values():
    """Customer ids come from the data: an id written as a link is drawn as the characters typed
    (escaped in the hover, though the ids reach Plotly as an array, not a list); the points are
    the frame's values, tier by tier in the order given."""
    frame = pl.DataFrame({"customer_id": ["<a href=http://evil.example>x</a>", "C2", "C3"], "cost": [1.0, 2.0, 3.0],
                          "margin": [-5.0, 10.0, None], "tier": ["Gold", "Bronze", "Gold"]})  # fmt: skip
    fig = charts.scatter(frame, x="cost", y="margin", colour="tier", order=["Bronze", "Gold"])
    bronze, gold = fig.data
    assert (bronze.name, gold.name) == ("Bronze", "Gold")
    assert list(gold.text) == ["&lt;a href=http://evil.example&gt;x&lt;/a&gt;", "C3"] and list(bronze.text) == ["C2"]
    assert list(gold.x) == [1.0, 3.0] and gold.y[0] == -5.0 and gold.y[1] != gold.y[1]  # a missing margin: no point (NaN)
    assert "<a href" not in fig.to_json()

"""Every page renders on every dataset of the corpus (tests/corpus.py): real exports as downloaded
and odd shapes, through AppTest. No exception, no error box; where a figure cannot be computed the
page says why in words (an info or a caption), never a crash (issue 12)."""

from __future__ import annotations

import corpus
import pytest
from streamlit.testing.v1 import AppTest

from dashboard.store import Store
from tests.conftest import APP, REALDATA, require

PAGES = ["overview", "funnel", "retention", "lifetime_value", "satisfaction", "segments", "churn_risk", "data"]
NAMES = list(corpus.shapes())


@pytest.fixture(scope="module")
def corpus_store(tmp_path_factory):
    require(REALDATA.is_dir(), f"{REALDATA} is absent")
    path = tmp_path_factory.mktemp("corpus") / "store.sqlite"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CRM_STORE_URL", f"sqlite:///{path}")
        mp.setenv("CRM_SECRETS_FILE", str(path.parent / "none.toml"))
        from dashboard import data

        data.store.clear()
        corpus.build(Store(f"sqlite:///{path}"))
        yield
        data.store.clear()


def open_page(dataset: str, page: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=300)
    at.query_params["dataset"] = dataset
    at.run()
    if page != "overview":
        at.switch_page(f"../pages/{page}.py").run()
    return at


@pytest.mark.parametrize("page", PAGES)
@pytest.mark.parametrize("dataset", NAMES)
def test_every_page_renders_on_every_dataset(corpus_store, dataset, page):
    at = open_page(dataset, page)
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    if page != "data":  # the Data page has no slice caption; every other page names its dataset
        assert at.caption[0].value.startswith(dataset)


def test_the_maven_funnel_says_what_its_export_cannot_give(corpus_store):
    """Maven's export fills a deal's amount only when it closes and dates one stage per deal (the
    engage date): the open pipeline's value is unknown, not 0, and no time between two stages can
    be measured. The Funnel says both in words."""
    at = open_page("Maven CRM", "funnel")
    assert not at.exception
    card = next(m for m in at.metric if m.label.startswith("Open pipeline"))
    assert card.value == "—"
    assert any("none with an amount in this data" in c.value for c in at.caption)
    assert any("no deal has more than one" in i.value for i in at.info)


def test_an_export_of_one_day_has_nothing_to_compare_with(corpus_store):
    """Every order of "One day" is on 17 May 2024, the default period is that day and its
    comparison the day before, when the data had not begun: the Overview says there is nothing to
    compare, not "revenue rose from 0", and its cards carry no change."""
    at = open_page("One day", "overview")
    assert not at.exception
    from dashboard.text import plain

    sentences = [m.value for m in at.markdown if m.value.startswith("- ")]
    assert sentences == [f"- {plain('Nothing to compare: the comparison period starts before the first order (17 May 2024).')}"]
    revenue = next(m for m in at.metric if m.label.startswith("Revenue"))
    assert revenue.value == "2,370" and not revenue.delta
    assert "before the first order" in revenue.help
    # no card reads "—" without a reason: the churn rate and average LTV (nobody was active the
    # day before) are named with theirs; the monthly lines, one point and none, are sentences
    assert all(m.value != "—" for m in at.metric)
    said = " ".join(c.value for c in at.caption)
    assert "Churn rate (nobody was active on 16 May 2024, the day before the period)" in said
    assert "Average LTV (no churn rate to divide by, as nobody was active on the day before the period)" in said
    assert "Revenue per month needs orders in two months or more: the orders begin on 17 May 2024." in said
    assert "Active customers at the start of each month need two months" in said
    assert not at.get("plotly_chart")
    assert not any(m.proto.chart_data for m in at.metric)  # one month is no trend: no flat sparkline


def test_retention_of_one_day_says_why_three_charts_are_not_drawn(corpus_store):
    """One day of orders: the retention curve would be one point at 100 %, how long customers
    stay a curve of no length, monthly churn a chart of no month (each was an empty axis, the
    churn one from 0 to 400 %). Each says why in a sentence; the cohort matrix is still drawn."""
    at = open_page("One day", "retention")
    assert not at.exception
    said = " ".join(c.value for c in at.caption)
    assert "The retention curve needs a cohort older than its first month" in said
    assert "How long customers stay needs time after their first order" in said
    assert "Monthly churn needs customers active at the start of a month" in said
    titles = [str(chart.proto.spec) for chart in at.get("plotly_chart")]
    assert len(titles) == 1 and "still buying" in titles[0]
    assert [m.label for m in at.metric] == ["Repeat purchase rate"]  # no churn card reading "—"


def test_surveys_without_nps_say_so_instead_of_an_empty_chart(corpus_store):
    """Olist's reviews are scores of 1–5 (CSAT), with no NPS question: the Satisfaction page says
    so once, with no NPS or CES card reading "—" and no empty chart on a made-up axis (January
    2000); the CSAT answers are drawn in the first column."""
    at = open_page("Olist shop", "satisfaction")
    assert not at.exception
    assert [c.value for c in at.caption if "NPS" in c.value] == ["No survey in this data answers NPS or CES, so they have no card."]
    assert [m.label for m in at.metric] == ["CSAT"]
    charts = [str(chart.proto.spec) for chart in at.get("plotly_chart")]
    assert not any("NPS by month" in spec for spec in charts) and any("CSAT answers" in spec for spec in charts)


def test_the_olist_funnel_names_the_breakdowns_it_leaves_out(corpus_store):
    """Olist's marketing funnel records a lead's segment and seller only once it is won: the
    Funnel says so instead of drawing every stage at 100 %, and breaks down by source."""
    at = open_page("Olist funnel", "funnel")
    assert not at.exception
    assert any(c.value.startswith("Segment and owner: recorded only for won deals") for c in at.caption)
    assert [t.label for t in at.tabs] == ["Source"]


@pytest.mark.parametrize(
    "dataset, line",
    [("Shopify orders", "As of 2024-05-22 · currency EUR · tiers Unassigned"),
     ("Handful", "As of 2023-06-30 · currency not set · tiers Silver < Gold"),
     ("HubSpot deals", "stages Appointment Scheduled > ")],
)  # fmt: skip
def test_the_data_page_names_stages_only_for_deals_and_says_when_no_currency_is_set(corpus_store, dataset, line):
    """A shop's orders have no funnel: its Data page lists no stages (it listed the default
    Lead > … > Won), and a dataset without a currency says so (it read "currency ·")."""
    at = open_page(dataset, "data")
    assert not at.exception
    caption = next(c.value for c in at.caption if c.value.startswith("As of"))
    from dashboard.text import plain

    assert plain(line) in caption
    assert ("stages" in caption) == (dataset == "HubSpot deals")


def test_the_overview_draws_no_empty_card_for_a_figure_the_data_cannot_give(corpus_store):
    """HubSpot's deals alone give the win rate and nothing else: one card, and the caption names
    the ten figures left out and the table each needs (the cards used to stand there empty, "—",
    under a caption saying they were not shown)."""
    at = open_page("HubSpot deals", "overview")
    assert not at.exception
    assert [m.label for m in at.metric] == ["Win rate"]
    caption = next(c.value for c in at.caption if c.value.startswith("Not shown, for want of data"))
    assert "Revenue (load the orders table to see this)" in caption
    assert "NPS (load the surveys table to see this)" in caption and caption.count(" (load the ") == 10


def test_a_hubspot_funnel_draws_its_win_rate_by_month_despite_stale_open_deals(corpus_store):
    """HubSpot keeps deals nobody closed open for good. By the month deals were created, no month
    had 95% of its deals closed and the chart was drawn empty; months that were drawn changed
    whenever a stale deal closed. By the month deals closed, every month with a close is drawn,
    and its rate is final once the month is over."""
    at = open_page("HubSpot deals", "funnel")
    assert not at.exception
    assert any(c.value.startswith("Win rate by month closed: won / (won + lost) of the deals closed in each month") for c in at.caption)
    assert any("Win rate by month closed" in str(chart.proto.spec) for chart in at.get("plotly_chart"))

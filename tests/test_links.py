"""Links reopen exactly the view (issue 12): every filter value, in the form the app writes it into
the link (repeated keys for lists, ISO dates, the comparison's key), reads back as the same
widget value on every page, with no notice; a refused value is named, an accepted one never is.
That the app writes these forms is checked in a real browser (tests/test_browser.py)."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from streamlit.testing.v1 import AppTest

from dashboard.filters import COMPARISONS
from dashboard.shell import FILTERS_KEY
from metrics.slicing import dimension_values
from tests.conftest import APP

PAGES = ["overview", "funnel", "retention", "lifetime_value", "satisfaction", "segments", "churn_risk", "data"]
AS_OF, FIRST = dt.date(2026, 6, 30), dt.date(2023, 7, 1)


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    path = tmp_path_factory.mktemp("links")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CRM_STORE_URL", f"sqlite:///{path / 'store.sqlite'}")
        mp.setenv("CRM_SECRETS_FILE", str(path / "none.toml"))
        from dashboard import data

        data.store.clear()
        yield
        data.store.clear()


def _open(page: str, query: dict) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120)
    for key, value in query.items():
        at.query_params[key] = value
    at.run()
    if page != "overview":
        at.switch_page(f"../pages/{page}.py").run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _options(sample_tables):
    return {
        "tier": dimension_values(sample_tables, "tier", order=("Bronze", "Silver", "Gold", "Platinum")),
        "segment": dimension_values(sample_tables, "segment"),
        "region": dimension_values(sample_tables, "region"),
        "channel": dimension_values(sample_tables, "acquisition_channel"),
    }


@st.composite
def views(draw, options):
    query = {key: draw(st.lists(st.sampled_from(values), unique=True, max_size=2)) for key, values in options.items()}
    query = {k: v for k, v in query.items() if v}
    start = draw(st.dates(FIRST, AS_OF))
    end = draw(st.dates(start, AS_OF))
    query["period"] = [start.isoformat(), end.isoformat()]
    query["compare"] = draw(st.sampled_from(list(COMPARISONS)))
    return draw(st.sampled_from(PAGES)), query


def test_every_filter_value_reads_back_on_every_page(env, sample_tables):
    options = _options(sample_tables)

    @settings(max_examples=20, deadline=None, suppress_health_check=list(HealthCheck))
    @given(views(options))
    def round_trip(view):
        page, query = view
        at = _open(page, query)
        for key in options:
            assert at.sidebar.multiselect(key=key).value == query.get(key, []), key
        start, end = (dt.date.fromisoformat(v) for v in query["period"])
        filters = at.session_state[FILTERS_KEY]  # what every page computes with
        assert (filters.period.start, filters.period.end) == (start, end)
        assert filters.comparison == at.sidebar.radio(key="compare").value == query["compare"]
        assert not at.sidebar.warning, [w.value for w in at.sidebar.warning]

    round_trip()


def test_a_refused_value_is_named_and_an_accepted_one_never(env):
    at = _open("funnel", {"tier": ["Gold", "Diamond"], "compare": "decade", "period": ["1990-01-01", "1990-03-31"]})
    notice = " ".join(w.value.replace("\\", "") for w in at.sidebar.warning)
    assert "'Diamond'" in notice and "'decade'" in notice and "1990-01-01 – 1990-03-31" in notice
    assert "Gold" not in notice
    assert at.sidebar.multiselect(key="tier").value == ["Gold"]


def test_a_one_day_period_written_once_opens_that_day(env):
    at = _open("overview", {"period": "2025-03-04"})
    filters = at.session_state[FILTERS_KEY]
    assert (filters.period.start, filters.period.end) == (dt.date(2025, 3, 4),) * 2
    assert not at.sidebar.warning


def test_the_comparison_label_of_older_links_still_opens(env):
    at = _open("overview", {"compare": "Same period last year"})
    assert at.sidebar.radio(key="compare").value == "year"
    assert not at.sidebar.warning


def test_an_oversized_or_overlong_link_is_cut_before_any_widget_reads_it(env):
    """A 100 KB value is dropped, a key keeps its first 50 values (filters.cap_link), the URL is
    rewritten without them (tests/test_browser.py checks the address bar), and the notice says so
    in a few words."""
    at = _open("overview", {"tier": ["x" * 100_000] + [f"t{i}" for i in range(60)]})
    notice = " ".join(w.value for w in at.sidebar.warning).replace("\\", "")
    assert len(notice) < 600
    assert "carried 11 values too long or too many" in notice and "'t0', 't1', 't2', 't3', 't4' and 45 more" in notice
    assert at.sidebar.multiselect(key="tier").value == []


def test_markdown_in_a_link_shows_as_text(env):
    at = _open("overview", {"compare": "[Your session expired](http://evil.example)"})
    notice = at.sidebar.warning[0].value
    assert "\\[Your session expired\\]\\(http" in notice  # escaped: drawn as the characters typed


def test_a_link_to_a_dataset_opens_it_even_when_another_is_the_default(env, sample_tables):
    from dashboard import data
    from dashboard.importer import ImportOptions, SourceFile, commit_import, plan_import

    csv = b"customer_id,tier\nC1,Gold\nC2,Silver\n"
    commit_import(plan_import([SourceFile("customers.csv", csv)], options=ImportOptions()), data.store(), "Mine")
    assert data.default_dataset() == "Mine"
    at = _open("overview", {"dataset": data.SAMPLE})
    assert at.sidebar.selectbox(key="dataset").value == data.SAMPLE
    at = _open("overview", {"dataset": "Nope"})
    assert at.sidebar.selectbox(key="dataset").value == "Mine"
    assert any("'Nope'" in w.value for w in at.sidebar.warning)
    data.store().delete("Mine")

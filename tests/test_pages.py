"""AppTest for every page: renders on the sample, shows the metrics module's numbers for the same
filters, follows the tier filter, honours (and sanity-checks) links, and has empty states."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl
import pytest
from streamlit.testing.v1 import AppTest

from dashboard.shell import money
from metrics import funnel, kpis, retention, satisfaction
from metrics.kpis import Period
from metrics.slicing import Slice, slice_tables
from sample_data import sample_settings

APP = str(Path(__file__).resolve().parent.parent / "dashboard" / "app.py")
PAGES = {
    "Overview": "../pages/overview.py",
    "Funnel": "../pages/funnel.py",
    "Retention": "../pages/retention.py",
    "Lifetime value": "../pages/lifetime_value.py",
    "Satisfaction": "../pages/satisfaction.py",
    "Segments": "../pages/segments.py",
    "Churn risk": "../pages/churn_risk.py",
    "Data": "../pages/data.py",
}
AS_OF = dt.date(2026, 6, 30)
DEFAULT_PERIOD = Period(dt.date(2026, 4, 1), AS_OF)  # the last three months to the as-of date


@pytest.fixture
def env(tmp_path, monkeypatch):
    monkeypatch.setenv("CRM_STORE_URL", f"sqlite:///{tmp_path / 'store.sqlite'}")
    monkeypatch.setenv("CRM_SECRETS_FILE", str(tmp_path / "none.toml"))
    from dashboard import data

    data.store.clear()
    return data


def _app(query: dict | None = None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120)
    for key, value in (query or {}).items():
        at.query_params[key] = value
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _metric(at: AppTest, label: str) -> str:
    return next(m.value for m in at.metric if m.label == label)


@pytest.mark.parametrize("title", list(PAGES))
def test_every_page_renders_on_the_sample(env, title):
    at = _app()
    if title != "Overview":
        at.switch_page(PAGES[title]).run()
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    assert at.title[0].value == title


def test_overview_shows_the_kpis_of_the_metrics_module(env, sample_tables):
    at = _app()
    expected = kpis.overview(sample_tables, period=DEFAULT_PERIOD, settings=sample_settings())
    assert _metric(at, "Revenue (USD)") == money(expected.get("revenue").value)
    assert _metric(at, "Active customers") == f"{expected.get('active_customers').value:,.0f}"
    assert _metric(at, "NPS") == f"{expected.get('nps').value:+.1f}"
    changes = [m.value for m in at.markdown if m.value.startswith("- ")]
    from dashboard.text import plain

    assert changes == [f"- {plain(s)}" for s in kpis.top_changes(expected, currency="USD")]  # the three changes in words


def test_tier_filter_changes_the_funnel_and_matches_the_metrics(env, sample_tables):
    at = _app()
    at.switch_page(PAGES["Funnel"]).run()
    everyone = _metric(at, "Win rate")
    rate = funnel.win_rate(sample_tables["deals"], start=DEFAULT_PERIOD.start, end=DEFAULT_PERIOD.end)
    assert everyone == f"{100 * rate.value:.1f}%"
    at.sidebar.multiselect(key="tier").set_value(["Gold"]).run()
    assert not at.exception
    gold = slice_tables(sample_tables, Slice(tiers=("Gold",)))
    rate_gold = funnel.win_rate(gold["deals"], start=DEFAULT_PERIOD.start, end=DEFAULT_PERIOD.end)
    assert _metric(at, "Win rate") == f"{100 * rate_gold.value:.1f}%" != everyone
    stages = sample_settings().stage_order
    created = gold["deals"].filter(pl.col("created_date").dt.date().is_between(DEFAULT_PERIOD.start, DEFAULT_PERIOD.end))
    expected = funnel.stage_funnel(created, stages=stages, stage_history=gold["stage_history"])
    assert at.dataframe[0].value["reached"].tolist() == expected["reached"].to_list()
    at.radio(key="funnel_scope").set_value("all deals").run()
    expected = funnel.stage_funnel(gold["deals"], stages=stages, stage_history=gold["stage_history"])
    assert at.dataframe[0].value["reached"].tolist() == expected["reached"].to_list()


@pytest.mark.parametrize(
    ("page", "label", "compute"),
    [
        ("Retention", "Repeat purchase rate",
         lambda t: f"{100 * retention.repeat_purchase_rate(t['orders'], as_of=AS_OF).value:.1f}%"),
        ("Satisfaction", "CSAT",
         lambda t: f"{satisfaction.csat(t['surveys'].filter(pl.col('responded_at').dt.date().is_between(DEFAULT_PERIOD.start, AS_OF))).value:.1f}%"),
        ("Satisfaction", "CSAT after tickets",
         lambda t: f"{satisfaction.csat(t['tickets'].filter(pl.col('created_at').dt.date().is_between(DEFAULT_PERIOD.start, AS_OF))).value:.1f}%"),
        ("Lifetime value", "Customers", lambda t: f"{t['orders'].get_column('customer_id').n_unique():,}"),
    ],
)  # fmt: skip
def test_page_numbers_follow_the_tier_filter(env, sample_tables, page, label, compute):
    at = _app({"tier": ["Platinum", "Gold"]})
    at.switch_page(PAGES[page]).run()
    assert set(at.sidebar.multiselect(key="tier").value) == {"Gold", "Platinum"}
    sliced = slice_tables(sample_tables, Slice(tiers=("Gold", "Platinum")))
    assert _metric(at, label) == compute(sliced)
    assert _metric(at, label) != compute(sample_tables)


def test_link_values_the_dataset_lacks_are_ignored_with_a_notice(env):
    at = _app({"tier": ["Gold", "Diamond"], "compare": "decade"})
    assert at.sidebar.multiselect(key="tier").value == ["Gold"]
    assert any("Diamond" in w.value and "ignored" in w.value for w in at.sidebar.warning)
    assert at.sidebar.radio(key="compare").value == "previous"


def test_reset_filters_clears_the_slice(env):
    at = _app({"tier": ["Gold"]})
    at.sidebar.button[0].click().run()
    assert at.sidebar.multiselect(key="tier").value == []


def test_pages_without_their_table_show_why(env, sample_tables):
    from metrics.domain import Dataset

    tables = {name: sample_tables[name] for name in ("customers", "orders")}
    env.store().save(Dataset("Orders only", tables, sample_settings()))
    env.store().set_active("Orders only")
    at = _app()
    assert at.sidebar.selectbox[0].value == "Orders only"
    at.switch_page(PAGES["Funnel"]).run()
    assert any("**deals** table" in i.value for i in at.info)
    at.switch_page(PAGES["Satisfaction"]).run()
    assert any("**surveys** table" in i.value for i in at.info)
    at.switch_page(PAGES["Retention"]).run()
    assert not at.exception and _metric(at, "Repeat purchase rate")


def test_an_overview_with_no_figure_says_so_once(env, sample_tables):
    """A customers-only export (IBM's Telco churn data): no card, one sentence saying that no
    figure can be computed, and no caption about what the (absent) changes are against."""
    from metrics.domain import Dataset

    env.store().save(Dataset("Customers only", {"customers": sample_tables["customers"]}, sample_settings()))
    env.store().set_active("Customers only")
    at = _app()
    assert not at.exception and not at.metric
    said = [m.value.replace("\\", "") for m in at.markdown if m.value.startswith("- ")]  # plain() escapes Markdown
    assert said == ["- Nothing to compare: none of the Overview's figures can be computed from this data."]
    assert not any("Changes against" in c.value for c in at.caption)


def test_a_survey_question_never_asked_has_no_card_on_either_page(env, sample_tables):
    """Surveys that ask for a 1–5 score only (a shop's reviews, as Olist's): no NPS or CES card
    reading "—" on the Satisfaction page, a sentence saying why; the Overview leaves NPS out and
    names it with its reason."""
    import polars as pl

    from metrics.domain import Dataset

    reviews = sample_tables["surveys"].with_columns(pl.lit(None, pl.Int64).alias("nps"), pl.lit(None, pl.Int64).alias("ces"))
    env.store().save(Dataset("Reviews", dict(sample_tables, surveys=reviews), sample_settings()))
    env.store().set_active("Reviews")
    at = _app()
    labels = {m.label for m in at.metric}
    assert "CSAT" in labels and "NPS" not in labels
    assert any("NPS (the surveys hold no NPS answers)" in c.value for c in at.caption)
    at.switch_page(PAGES["Satisfaction"]).run()
    assert not at.exception
    labels = [m.label for m in at.metric]
    assert "CSAT" in labels and "NPS" not in labels and "CES" not in labels
    assert any(c.value == "No survey in this data answers NPS or CES, so they have no card." for c in at.caption)


def test_cards_without_a_change_get_no_caption_about_changes(env, sample_tables):
    """A shop export (customers, orders) that begins with the default period (1 April 2026): the
    cards are drawn, none has a change (the comparison is before the first order, as the sentence above them says), so
    no caption explains what changes are against and which are grey."""
    import datetime as dt

    import polars as pl

    from metrics.domain import Dataset

    orders = sample_tables["orders"].filter(pl.col("order_date") >= dt.datetime(2026, 4, 1))
    env.store().save(Dataset("From April", {"customers": sample_tables["customers"], "orders": orders}, sample_settings()))
    env.store().set_active("From April")
    at = _app()
    assert _metric(at, "Revenue (USD)")
    assert any("the comparison period starts before the first order" in m.value.replace("\\", "") for m in at.markdown)
    assert not any("Changes against" in c.value for c in at.caption)


def test_without_a_currency_the_caption_says_so_and_the_cards_stay_short(env, sample_tables):
    import dataclasses

    from metrics.domain import Dataset

    env.store().save(Dataset("No currency", sample_tables, dataclasses.replace(sample_settings(), currency=None)))
    env.store().set_active("No currency")
    at = _app()
    assert "currency not set" in at.caption[0].value
    assert _metric(at, "Revenue") and not any("currency" in m.label for m in at.metric)
    at.switch_page(PAGES["Funnel"]).run()
    cards = {m.label: m for m in at.metric}
    assert {"Avg. deal", "Open pipeline", "Velocity (per day)"} <= set(cards)
    assert cards["Open pipeline"].help.endswith(" (currency not set)")  # "…from their stage: 1.23M (currency not set)"


def test_a_long_table_is_sent_a_page_at_a_time(env):
    """Segments' "customers in a segment" table: the largest segment of the sample has more than
    one page of rows; the browser gets 100 of them, the caption says which, and the picker moves on."""
    at = _app()
    at.switch_page(PAGES["Segments"]).run()
    picker = next(n for n in at.number_input if n.key == "page_segment_members")
    pages = int(picker.label.removeprefix("Page (of ").removesuffix(")").replace(",", ""))
    assert pages > 1
    members = at.dataframe[-1].value
    assert len(members) == 100
    first_page = members.iloc[0].to_dict()
    captions = [c.value for c in at.caption if c.value.startswith("Rows ")]
    assert "Rows 1–100 of " in captions[-1]
    picker.set_value(2).run()
    assert not at.exception, [e.value for e in at.exception]
    assert [c.value for c in at.caption if c.value.startswith("Rows ")][-1].startswith("Rows 101–")
    assert at.dataframe[-1].value.iloc[0].to_dict() != first_page
    # on the last page, then the other segments (smaller ones among them): no error, each shown
    picker = next(n for n in at.number_input if n.key == "page_segment_members")
    picker.set_value(pages).run()
    for segment in at.selectbox(key="segment_drill").options[1:]:
        at.selectbox(key="segment_drill").set_value(segment).run()
        assert not at.exception, (segment, [e.value for e in at.exception])
        assert len(at.dataframe[-1].value) > 0


def test_a_loaded_dataset_prepares_its_pages_after_the_first_page(env, monkeypatch):
    """Loading a dataset starts, once the page that loaded it is drawn (not while that page
    computes: on two cores it would take half the machine from it), a thread that computes every
    other page's view for the same filters and trains the churn model; once that is done, each
    page opens from the cache: no view is computed again and the model is not trained again."""
    import threading

    from dashboard import views
    from metrics import churn

    env._load.clear()
    env._churn_model.clear()
    env._view.clear()  # so that the Overview's view is computed in this run
    env._prepared_view.clear()  # (an earlier test's warm start prepared it there)
    earlier = set(threading.enumerate())  # an earlier test's preparation may still be running
    threads_while_drawing = []
    overview = views.VIEWS["overview"]

    def watched(ctx):
        threads_while_drawing.extend(t.name for t in threading.enumerate() if t not in earlier)
        return overview(ctx)

    monkeypatch.setitem(views.VIEWS, "overview", watched)
    at = _app()  # the Overview: loads the sample afresh
    assert threads_while_drawing and env.PREPARING not in threads_while_drawing, "the preparation ran beside the first page"
    workers = [t for t in threading.enumerate() if t.name == env.PREPARING and t not in earlier]
    assert workers, "nothing was prepared after the page that loaded the dataset"
    for worker in workers:
        worker.join(timeout=300)
    computed = []
    for name, view in list(views.VIEWS.items()):
        monkeypatch.setitem(views.VIEWS, name, lambda ctx, name=name, view=view: computed.append(name) or view(ctx))
    real = churn.train_churn_model
    monkeypatch.setattr(churn, "train_churn_model", lambda *a, **k: computed.append("model") or real(*a, **k))
    for title in ("Funnel", "Retention", "Lifetime value", "Satisfaction", "Segments", "Churn risk"):
        at.switch_page(PAGES[title]).run()
        assert not at.exception and at.title[0].value == title
    assert at.metric
    assert not computed, f"computed again when opened: {computed}"


def _warm_start_then_watch(env, monkeypatch, note) -> list:
    """A warm start on empty caches, then the list to which every view computed after it adds
    note(page, context)."""
    from dashboard import views

    env._load.clear()
    env._churn_model.clear()
    env._view.clear()
    env._prepared_view.clear()
    env.warm_start()
    computed = []
    for name, view in list(views.VIEWS.items()):
        monkeypatch.setitem(views.VIEWS, name, lambda ctx, name=name, view=view: computed.append(note(name, ctx)) or view(ctx))
    return computed


def test_a_warm_start_prepares_what_the_first_visit_opens(env, monkeypatch):
    """dashboard/server.py runs data.warm_start as the server starts. Afterwards the first visit
    (a link without filters, so filters.defaults) opens every page from the cache: no view is
    computed, the churn model is not trained and the dataset is not loaded again, and no second
    preparation starts after the first page. A difference between filters.defaults and what the
    sidebar draws on a fresh visit would make the Overview compute again here."""
    import threading

    from metrics import churn

    computed = _warm_start_then_watch(env, monkeypatch, lambda name, ctx: name)
    real = churn.train_churn_model
    monkeypatch.setattr(churn, "train_churn_model", lambda *a, **k: computed.append("model") or real(*a, **k))
    monkeypatch.setattr(env, "open_dataset", lambda *a, **k: computed.append("load"))
    earlier = set(threading.enumerate())
    at = _app()
    assert at.title[0].value == "Overview" and at.metric
    assert not [t for t in threading.enumerate() if t.name == env.PREPARING and t not in earlier]
    for title in ("Funnel", "Retention", "Lifetime value", "Satisfaction", "Segments", "Churn risk"):
        at.switch_page(PAGES[title]).run()
        assert not at.exception and at.title[0].value == title
    assert not computed, f"computed again when opened: {computed}"


def test_a_large_datasets_warm_start_prepares_every_tier_and_keeps_it_apart(env, monkeypatch):
    """From PREPARE_TIERS_FROM_CUSTOMERS customers on (lowered here to the sample's 5,000) a warm
    start also computes every page's view for each tier on its own: a visitor who then picks a
    tier, on any page, computes no view. Those views stay when visitors fill the cache of other
    filters' views (_view), and a slice of two tiers, never prepared, is computed when asked."""
    from dashboard import views

    assert len(views.VIEWS) <= env.VIEWS_AT_MOST  # the prepared views' cache holds them all
    monkeypatch.setattr(env, "PREPARE_TIERS_FROM_CUSTOMERS", 5_000)
    computed = _warm_start_then_watch(env, monkeypatch, lambda name, ctx: (name, ctx.filters.slice.tiers))
    at = _app()
    for title, tier in zip(("Funnel", "Retention", "Lifetime value", "Satisfaction", "Segments", "Churn risk", "Overview"),
                           ("Gold", "Silver", "Bronze", "Platinum", "Gold", "Silver", "Bronze"), strict=True):  # fmt: skip
        at.switch_page(PAGES[title]).run()
        at.sidebar.multiselect(key="tier").set_value([tier]).run()
        assert not at.exception and at.title[0].value == title
    assert not computed, f"computed again when a tier was picked: {computed}"
    env._view.clear()  # as when visitors' other filters push every view of their own out
    at.sidebar.multiselect(key="tier").set_value(["Gold", "Platinum"]).run()
    at.switch_page(PAGES["Funnel"]).run()
    at.sidebar.multiselect(key="tier").set_value(["Gold"]).run()
    assert not at.exception and at.metric
    assert computed == [("overview", ("Gold", "Platinum")), ("funnel", ("Gold", "Platinum")), ("funnel_period", ("Gold", "Platinum"))]


def test_the_preparing_thread_leaves_no_spinner_warnings_in_the_log():
    """A cached call with a spinner outside a page run makes Streamlit warn "missing
    ScriptRunContext"; the preparing thread has no page by design, so those lines are dropped
    (in that thread only)."""
    import logging
    import threading

    from dashboard import data

    logger = logging.getLogger("streamlit.runtime.scriptrunner_utils.script_run_context")
    kept = {}

    def log(name: str) -> None:
        record = logger.makeRecord(logger.name, logging.WARNING, __file__, 0,
                                   "Thread '%s': missing ScriptRunContext! This warning can be ignored", (name,), None)  # fmt: skip
        kept[name] = logger.filter(record)

    for name in (data.PREPARING, "another"):
        thread = threading.Thread(target=log, args=(name,), name=name)
        thread.start()
        thread.join()
    assert kept == {data.PREPARING: False, "another": True}


def test_a_period_change_computes_only_the_pages_that_read_the_period(env, monkeypatch):
    """Retention reads no period (views.PERIOD_FREE): after a period change it comes from the
    cache. Of the Funnel, only the part of the period's deals is computed for the new period;
    what it shows of every deal comes from the cache. Of Satisfaction, the period's figures; its
    months and its promoters' retention at the as-of date come from the cache."""
    import threading

    from dashboard import views

    at = _app()
    for worker in [t for t in threading.enumerate() if t.name == env.PREPARING]:
        worker.join(timeout=300)  # a preparation of the sample, started by this or an earlier test
    at.switch_page(PAGES["Funnel"]).run()
    at.switch_page(PAGES["Satisfaction"]).run()
    at.switch_page(PAGES["Retention"]).run()
    computed = []
    for name in ("retention", "funnel", "funnel_period", "satisfaction", "satisfaction_history"):
        monkeypatch.setitem(views.VIEWS, name, lambda ctx, name=name, view=views.VIEWS[name]: computed.append(name) or view(ctx))
    at.sidebar.date_input(key="period").set_value((dt.date(2026, 1, 1), dt.date(2026, 3, 31))).run()
    assert not at.exception and at.title[0].value == "Retention"
    at.switch_page(PAGES["Funnel"]).run()
    assert not at.exception and at.title[0].value == "Funnel"
    at.switch_page(PAGES["Satisfaction"]).run()
    assert not at.exception and at.title[0].value == "Satisfaction"
    assert computed == ["funnel_period", "satisfaction"]


def test_the_cost_cards_of_lifetime_value_follow_the_period(env, sample_tables):
    """The rest of the Lifetime value page reads no period and is cached across periods; its CAC
    card is the period's: the mean acquisition cost of the customers whose first order falls in
    it (ltv.acquisition_vs_retention_cost), for the default quarter and for another."""
    from metrics import activity, ltv

    at = _app()
    at.switch_page(PAGES["Lifetime value"]).run()
    spells = activity.spells(sample_tables["orders"], as_of=AS_OF, customers=sample_tables["customers"])
    for period in (DEFAULT_PERIOD, Period(dt.date(2026, 1, 1), dt.date(2026, 3, 31))):
        if period != DEFAULT_PERIOD:
            at.sidebar.date_input(key="period").set_value((period.start, period.end)).run()
        assert not at.exception and at.title[0].value == "Lifetime value"
        costs = ltv.acquisition_vs_retention_cost(sample_tables["orders"], sample_tables["customers"], start=period.start,
                                                  end=period.end, spells=spells)  # fmt: skip
        card = next(m.value for m in at.metric if m.label.startswith("CAC of new customers"))
        assert card == money(costs["cac"]), period


def test_the_lifetime_value_backtest_says_which_way_the_prediction_was_off(env, sample_tables):
    """The sample's model fitted a year back predicted less than the customers then spent: the
    sentence says by how much and that it was under (error = predicted / actual − 1 < 0)."""
    from dashboard import views
    from metrics.domain import Dataset, Filters

    filters = Filters(Slice(), DEFAULT_PERIOD, "previous", AS_OF)
    test = views.lifetime_value(views.context(Dataset("s", sample_tables, sample_settings()), filters)).backtest
    at = _app()
    at.switch_page(PAGES["Lifetime value"]).run()
    sentence = next(t.value for t in at.text if t.value.startswith("Fitted on the orders known on"))
    assert test["error"] < 0 and sentence.endswith(f"they spent {money(test['actual'])}: the prediction was "
                                                   f"{abs(100 * test['error']):.0f}% under.")  # fmt: skip


def test_the_whole_base_keeps_its_context_whatever_slices_are_opened(env, monkeypatch):
    """The slices' contexts are two at most; the whole customer base's is kept apart. After
    visits to three tiers, a visitor back on every customer who changes the period finds the
    whole base's context (its purchase days, spells and deals) and computes no new one."""
    import threading

    from dashboard import views

    at = _app()
    for worker in [t for t in threading.enumerate() if t.name == env.PREPARING]:
        worker.join(timeout=300)
    for tier in ("Gold", "Silver", "Platinum"):
        at.sidebar.multiselect(key="tier").set_value([tier]).run()
        assert not at.exception
    original, made = views.context, []
    monkeypatch.setattr(views, "context", lambda dataset, filters, **kw: made.append(filters.slice) or original(dataset, filters, **kw))
    at.sidebar.multiselect(key="tier").set_value([]).run()
    at.sidebar.date_input(key="period").set_value((dt.date(2026, 1, 1), dt.date(2026, 3, 31))).run()
    assert not at.exception and at.title[0].value == "Overview"
    assert made == []


def test_the_server_keeps_freed_memory_and_runs_blas_on_one_thread():
    """dashboard/server.py asks Polars' allocator to keep freed memory (it reads the setting as
    Polars is imported, so the server must set it first: imported after Polars, the setting would
    be Polars' own), and preload.heavy_modules leaves BLAS at one thread and the imported modules
    frozen out of the collector's full passes. In a fresh process, as `streamlit run` starts."""
    import subprocess
    import sys

    script = (
        "import os, gc, sys\n"
        "os.environ.pop('_RJEM_MALLOC_CONF', None)\n"
        "import dashboard.server\n"
        "import polars\n"
        "print(os.environ['_RJEM_MALLOC_CONF'])\n"
        "from dashboard.preload import heavy_modules\n"
        "heavy_modules()\n"
        "from threadpoolctl import threadpool_info\n"
        "print(sorted({p['num_threads'] for p in threadpool_info() if p['user_api'] == 'blas'}))\n"
        "print(gc.get_freeze_count() > 100_000)\n"
    )
    root = Path(__file__).resolve().parent.parent
    out = subprocess.run([sys.executable, "-c", script], cwd=root, capture_output=True, text=True, check=True).stdout.split("\n")
    # Polars puts its own defaults first and the server's after them: the later setting counts
    assert out[0].endswith("dirty_decay_ms:-1,muzzy_decay_ms:-1"), out[0]
    assert out[1] == "[1]" and out[2] == "True", out


def test_a_model_check_on_a_sample_says_of_how_many():
    """The Lifetime value page's holdout and backtest sentences name a sample where the check ran
    on one (btyd.CHECK_SAMPLE), and every customer otherwise."""
    from dashboard import shell

    assert shell.checked_customers({"customers": 400, "of_customers": 5_000}, whose="its") == (
        "a random sample of 400 of its 5,000 customers")
    assert shell.checked_customers({"customers": 400, "of_customers": 400}) == "the 400 customers"

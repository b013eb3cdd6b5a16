"""A real `streamlit run` server driven by Debian's Chromium through Playwright."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import ROOT, require

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
# Screenshots go to test-artifacts/ (ignored by git); `make screenshots` points this at
# docs/screenshots to refresh the README's pictures on purpose.
SHOTS = Path(os.environ.get("CRM_SCREENSHOTS") or ROOT / "test-artifacts" / "screenshots")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _serve(store_url: str, *, port: int | None = None, options: tuple[str, ...] = (), **env_vars: str):
    port = port or _free_port()
    env = dict(os.environ, CRM_STORE_URL=store_url, CRM_SECRETS_FILE="/nonexistent.toml") | env_vars
    # The log goes to a file, not a pipe: nobody reads a pipe while the tests run, and a server that
    # fills one (64 KB) blocks on its next log line.
    log = tempfile.NamedTemporaryFile(prefix="streamlit-", suffix=".log", delete=False)  # noqa: SIM115
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(ROOT / "dashboard" / "server.py"),
         "--server.port", str(port), "--server.headless", "true", "--server.fileWatcherType", "none", *options],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=log,
    )
    proc.log = Path(log.name)
    log.close()
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            urllib.request.urlopen(url + "/_stcore/health", timeout=2)
            break
        except OSError:
            time.sleep(0.5)
    else:
        pytest.fail("streamlit did not start: " + _stop(proc)[-2000:])
    return proc, url


def _stop(proc) -> str:
    """Stop a server started by _serve and return what it logged."""
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    text = proc.log.read_text(errors="replace")
    proc.log.unlink()
    return text


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    proc, url = _serve(f"sqlite:///{tmp_path_factory.mktemp('s') / 'store.sqlite'}")
    yield url
    _stop(proc)


@pytest.fixture(scope="module")
def corpus_server(tmp_path_factory):
    """A server whose store holds the corpus of real export shapes (tests/corpus.py)."""
    import corpus

    from dashboard.store import Store

    url = f"sqlite:///{tmp_path_factory.mktemp('corpus') / 'store.sqlite'}"
    corpus.build(Store(url))
    proc, address = _serve(url)
    yield address
    _stop(proc)


PAGES = {  # url path → title
    "": "Overview", "funnel": "Funnel", "retention": "Retention", "lifetime-value": "Lifetime value",
    "satisfaction": "Satisfaction", "segments": "Segments", "churn-risk": "Churn risk", "data": "Data",
}  # fmt: skip


@pytest.fixture(scope="module")
def browser():
    require(Path(CHROMIUM).exists(), "Chromium is not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser):
    # 1400 px wide; tall, because Streamlit scrolls an inner container (full_page misses it)
    pg = browser.new_page(viewport={"width": 1400, "height": 2600})
    yield pg
    pg.close()


def _open(page, url: str, title: str) -> None:
    page.goto(url)
    page.get_by_role("heading", name=title, exact=True).wait_for(timeout=60_000)
    _settle(page)


def _settle(page) -> None:
    """Wait until the script run has finished (the status widget's "Running" disappears) and
    every lazily loaded element (data grid, download button: a grey "stSkeleton" until its
    JavaScript arrives) is drawn."""
    page.wait_for_timeout(800)
    page.locator("[data-testid='stStatusWidget']").wait_for(state="hidden", timeout=60_000)
    page.wait_for_function("() => !document.querySelector(\"[data-testid='stSkeleton']\")", timeout=60_000)
    page.wait_for_timeout(1200)


def _no_error_box(page) -> None:
    assert page.locator("[data-testid='stException']").count() == 0
    assert page.locator("[data-testid='stAlertContentError']").count() == 0


@pytest.mark.browser
@pytest.mark.parametrize("path", list(PAGES))
def test_every_page_renders_in_chromium(server, page, path):
    _open(page, f"{server}/{path}", PAGES[path])
    _no_error_box(page)
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{path or 'overview'}.png"))


def _pick(page, multiselect, name: str) -> None:
    """Choose `name` in a multiselect. A click that lands while the page is still settling can
    leave the list closed (seen on a loaded two-core machine), so the list is opened again until
    the option shows."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    option = page.get_by_role("option", name=name, exact=True)
    for _ in range(5):
        multiselect.click()
        try:
            option.wait_for(timeout=5_000)
            break
        except PlaywrightTimeout:  # the list did not open; try again
            page.keyboard.press("Escape")
    option.click()
    page.keyboard.press("Escape")


def _funnel_counts(page, *, differ_from: list[int] | None = None) -> list[int]:
    """The counts on the funnel bars (SVG text such as "9128100% of initial100% of previous"),
    once Plotly has drawn them (and, given `differ_from`, once they have changed)."""
    deadline = time.time() + 30
    while True:
        lines = page.locator(".js-plotly-plot text").evaluate_all(
            "els => els.map(e => [e.textContent, (e.querySelector('tspan.line') || e).textContent])"
        )
        counts = [int(first.replace(",", "")) for full, first in lines if full and "% of initial" in full]
        if (counts and counts != differ_from) or time.time() > deadline:
            return counts
        page.wait_for_timeout(300)


@pytest.mark.browser
def test_selecting_a_tier_changes_the_funnel_counts(server, page, sample_tables):
    from metrics.funnel import stage_funnel
    from metrics.slicing import Slice, slice_tables
    from sample_data import sample_settings

    _open(page, f"{server}/funnel", "Funnel")
    page.get_by_text("all deals", exact=True).click()
    _settle(page)
    everyone = _funnel_counts(page)
    assert everyone[0] == sample_tables["deals"].height
    tier = page.locator("[data-testid='stSidebar'] [data-testid='stMultiSelect']").first
    _pick(page, tier, "Gold")
    _settle(page)
    gold = slice_tables(sample_tables, Slice(tiers=("Gold",)))
    expected = stage_funnel(gold["deals"], stages=sample_settings().stage_order, stage_history=gold["stage_history"])
    assert _funnel_counts(page, differ_from=everyone) == expected["reached"].to_list() != everyone
    assert "tier=Gold" in page.url  # the filter travels in the link
    _no_error_box(page)


@pytest.mark.browser
@pytest.mark.parametrize("path", list(PAGES))
def test_a_gold_link_opens_with_gold_selected(server, page, path):
    _open(page, f"{server}/{path}?tier=Gold", PAGES[path])
    tier = page.locator("[data-testid='stSidebar'] [data-testid='stMultiSelect']").first
    chips = tier.locator(".react-aria-ComboBox [data-tag]")
    chips.first.wait_for(timeout=30_000)
    assert chips.evaluate_all("els => els.map(e => e.getAttribute('aria-label'))") == ["Gold"]
    _no_error_box(page)


@pytest.mark.browser
def test_import_tab_shows_the_uploader(server, page):
    _open(page, f"{server}/data", "Data")
    page.get_by_role("tab", name="Import files").click()
    page.get_by_text("CRM exports: CSV or text, Excel").wait_for(timeout=30_000)
    _no_error_box(page)
    page.screenshot(path=str(SHOTS / "data-import.png"))


@pytest.mark.browser
def test_a_copied_link_reopens_the_same_view_on_another_page(server, page, browser):
    """What the app writes into the link (tier, comparison) reads back: the link copied from the
    Funnel opens Retention with Gold and the year-earlier comparison chosen."""
    _open(page, f"{server}/funnel", "Funnel")
    _pick(page, page.locator("[data-testid='stSidebar'] [data-testid='stMultiSelect']").first, "Gold")
    _settle(page)
    page.locator("[data-testid='stSidebar']").get_by_text("year", exact=True).click()
    _settle(page)
    link = page.url
    assert "tier=Gold" in link and "compare=year" in link
    other = browser.new_page(viewport={"width": 1400, "height": 2600})
    try:
        _open(other, link.replace("/funnel", "/retention"), "Retention")
        chips = other.locator("[data-testid='stSidebar'] [data-testid='stMultiSelect']").first.locator(".react-aria-ComboBox [data-tag]")
        chips.first.wait_for(timeout=30_000)
        assert chips.evaluate_all("els => els.map(e => e.getAttribute('aria-label'))") == ["Gold"]
        assert other.locator("[data-testid='stSidebar'] input[type='radio']:checked").evaluate("e => e.value") in ("1", "year")
        assert other.locator("[data-testid='stSidebar'] [data-testid='stAlertContentWarning']").count() == 0
        _no_error_box(other)
    finally:
        other.close()


@pytest.mark.browser
def test_a_csv_is_written_when_its_button_is_pressed(server, page):
    """The CSV behind a chart comes from the server on the click (a deferred download): the
    Retention page's monthly churn for Gold customers, with its header and a row per month."""
    _open(page, f"{server}/retention?tier=Gold", "Retention")
    with page.expect_download(timeout=120_000) as download:
        page.locator("[data-testid='stMain'] [data-testid='stDownloadButton'] button").last.click()
    made = download.value
    assert made.suggested_filename == "monthly-churn.csv"
    with open(made.path(), encoding="utf-8") as file:
        lines = file.read().splitlines()
    assert len(lines) > 2 and "," in lines[0]


@pytest.mark.browser
def test_the_server_says_when_its_start_up_work_is_done(tmp_path):
    """dashboard/server.py loads the dataset and prepares its pages as it starts (on the sample
    several seconds: the libraries, the data, eight views and the churn model): /api/ready
    answers 503 {"ready": false} until that is done and 200 {"ready": true} after, naming nothing
    about the data."""
    import json
    import urllib.error

    proc, url = _serve(f"sqlite:///{tmp_path / 'store.sqlite'}")
    answers = []
    try:
        deadline = time.time() + 120
        while not answers or answers[-1] != (200, {"ready": True}):
            try:
                with urllib.request.urlopen(url + "/api/ready", timeout=5) as response:
                    answers.append((response.status, json.loads(response.read())))
            except urllib.error.HTTPError as exc:
                answers.append((exc.code, json.loads(exc.read())))
            assert time.time() < deadline, f"not ready two minutes after the start: {answers[-1]}"
            time.sleep(0.2)
    finally:
        log = _stop(proc)
    assert "failed" not in log, log[-2000:]  # neither the start-up work nor a page's preparation
    assert answers[0] == (503, {"ready": False}), answers[0]
    assert set(map(repr, answers)) == {repr((503, {"ready": False})), repr((200, {"ready": True}))}


@pytest.mark.browser
def test_the_overview_opens_at_its_own_path_too(server, page):
    _open(page, f"{server}/overview", "Overview")
    assert page.get_by_text("Page not found").count() == 0
    _no_error_box(page)


@pytest.mark.browser
@pytest.mark.parametrize(
    "dataset, path",
    [("CDNOW master", ""), ("CDNOW master", "retention"), ("CDNOW master", "lifetime-value"),
     ("HubSpot deals", "funnel"), ("Olist shop", "satisfaction"), ("Olist funnel", "")],
)  # fmt: skip
def test_real_export_shapes_render_in_chromium(corpus_server, page, dataset, path):
    from urllib.parse import quote

    _open(page, f"{corpus_server}/{path}?dataset={quote(dataset)}", PAGES[path])
    _no_error_box(page)
    shots = ROOT / "test-artifacts" / "screenshots"  # to look at; not the README's pictures
    shots.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(shots / f"{dataset.lower().replace(' ', '-')}-{path or 'overview'}.png"))


@pytest.mark.browser
def test_an_overlong_link_value_is_dropped_from_the_address(server, page):
    """A 20 KB ?tier= value: the page renders, says it left the value out, and the address bar no
    longer carries it."""
    _open(page, f"{server}/funnel?tier={'x' * 20_000}", "Funnel")
    _no_error_box(page)
    assert "x" * 200 not in page.url
    assert page.get_by_text("The link carried 1 value too long or too many to be filters").count() == 1

"""Page benchmarks (issue 4): the Overview's first render on the sample data, and the metric
computation behind each page when a filter changes, on the sample and on 100,000 customers.

    python -m benchmarks.pages [--customers 100000] [--repeat 5]
    python -m benchmarks.pages --every-page DIR   # every page in Chromium on a generated dataset, and a tier change on it
    python -m benchmarks.pages --redraw DIR [--repeat 5]   # each page redrawn for filters whose views are cached

First render, two ways: the server-side script run of the Overview (AppTest, fresh process: the
first session pays for importing the dashboard's modules, the next finds the dataset and results
cached), and a real `streamlit run` server with Chromium, from opening the link until the KPI
cards are drawn (adds the browser loading and drawing Streamlit's and Plotly's JavaScript).
Filter change: the page's metric computation (dashboard.views: its view and any it draws beside
it, from one context as the app computes them) for a new tier selection, i.e. what a slice the
server has not prepared costs (and what preparing a tier does); the dataset itself stays cached, and so do the whole base's purchase
days, which the slice cuts its own from, as in the app. Medians over the tiers and
repeats, and the peak memory of each child process. Also a period change on every customer:
the views that read the period, for earlier quarters, from the slice's cached context.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import itertools
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SERVER_SIDE = """
import json, os, sys, tempfile, time
os.environ["CRM_STORE_URL"] = "sqlite:///" + tempfile.mkdtemp() + "/store.sqlite"
os.environ["CRM_SECRETS_FILE"] = "/nonexistent.toml"
from streamlit.testing.v1 import AppTest  # a running server has Streamlit imported already
runs = []
for _ in range(2):
    at = AppTest.from_file(sys.argv[1], default_timeout=120)
    started = time.perf_counter()
    at.run()
    runs.append(time.perf_counter() - started)
    assert not at.exception and at.title[0].value == "Overview"
print(json.dumps(runs))
"""

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]  # fmt: skip


def _store_env() -> dict[str, str]:
    """The environment of a dashboard on a fresh, empty SQLite store and no secrets file."""
    import os

    tmp = tempfile.mkdtemp()
    return dict(os.environ, CRM_STORE_URL=f"sqlite:///{tmp}/store.sqlite", CRM_SECRETS_FILE="/nonexistent.toml")


@contextlib.contextmanager
def _server(root: Path, env: dict[str, str]):
    """A `streamlit run dashboard/server.py` server (as `make run` starts it) on a free port, once
    healthy: yields (url, pid, the perf_counter time it was started at). It loads its dataset and
    prepares the pages in the background as it starts (/api/ready says when that is done)."""
    import socket
    import urllib.request

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    started = time.perf_counter()
    server = subprocess.Popen([sys.executable, "-m", "streamlit", "run", str(root / "dashboard" / "server.py"), "--server.port",
                               str(port), "--server.headless", "true", "--server.fileWatcherType", "none"], cwd=root, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    url = f"http://127.0.0.1:{port}/"
    try:
        for _ in range(120):
            try:
                urllib.request.urlopen(url + "_stcore/health", timeout=1)
                break
            except OSError:
                time.sleep(0.5)
        yield url, server.pid, started
    finally:
        server.terminate()
        server.wait(timeout=30)


def first_render(root: Path, visitors: int = 2) -> list[float]:
    """Start `streamlit run`, then open the Overview in Chromium as `visitors` first-time visitors
    (each a new session and browser profile) and then as a returning visitor (same profile, its
    cache warm); seconds from navigation until the eleven KPI cards are drawn and the run is done.
    The first visitor pays for importing the dashboard's modules in the fresh server."""
    from playwright.sync_api import sync_playwright

    with _server(root, _store_env()) as (url, _, _):

        def visit(page) -> float:
            started = time.perf_counter()
            page.goto(url)
            page.locator("[data-testid='stMetric']").nth(10).wait_for(timeout=120_000)
            page.locator("[data-testid='stStatusWidget']").wait_for(state="hidden", timeout=120_000)
            return time.perf_counter() - started

        times = []
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
            for _ in range(visitors):  # each a first-time visitor: a new browser profile, empty cache
                context = browser.new_context(viewport={"width": 1400, "height": 1400})
                times.append(visit(context.new_page()))
                context.close()
            # a returning visitor: the same profile opens the link again (JavaScript cached)
            context = browser.new_context(viewport={"width": 1400, "height": 1400})
            visit(context.new_page())
            times.append(visit(context.new_page()))
            context.close()
            browser.close()
        return times


PAGES = [("", "Overview"), ("funnel", "Funnel"), ("retention", "Retention"), ("lifetime-value", "Lifetime value"),
         ("satisfaction", "Satisfaction"), ("segments", "Segments"), ("churn-risk", "Churn risk"), ("data", "Data")]  # fmt: skip
QUIET_S = 3.0  # a page is drawn when the server has sent nothing for this long and the run is done
ON_DEMAND_PERIOD = ("2026-01-01", "2026-03-31")  # the quarter before the generated data's default period
# The tier each page's visitor picks, in the pages' order: Lifetime value (the slowest view) gets
# Bronze (the largest tier, 55 % of the customers). From 200,000 customers the server has prepared
# each tier's views (dashboard.data._prepare); below, or for the second tier picked beside it, a
# change computes its slice's views while the visitor waits.
TIER_CHANGES = ("Silver", "Gold", "Platinum", "Bronze")
REDRAW_TIER = "Silver"  # --redraw: the tier picked and removed again on every page


def _ready(url: str) -> float:
    """The perf_counter time at which the server's /api/ready first answers 200."""
    import urllib.error
    import urllib.request

    deadline = time.perf_counter() + 600
    while time.perf_counter() < deadline:
        try:
            urllib.request.urlopen(url + "api/ready", timeout=5)
            return time.perf_counter()
        except urllib.error.HTTPError:
            time.sleep(0.2)
    raise RuntimeError(f"{url}: not ready ten minutes after the start")


def _drawn(page, frames: list, started: float, what: str, count: int | None = None) -> float:
    """Wait until the page's run is over (nothing sent for QUIET_S, the running indicator gone);
    seconds from `started` until the last message of it (`frames`: (time, bytes) of each
    websocket message received; `count`: how many had arrived before the step began, by default
    those there now — a click's whole answer can arrive while Playwright is still clicking)."""
    count = len(frames) if count is None else count
    while time.perf_counter() - started < 600:
        page.wait_for_timeout(250)
        quiet = len(frames) > count and time.perf_counter() - frames[-1][0] > QUIET_S
        if quiet and not page.locator("[data-testid='stStatusWidget']").is_visible():
            return round(frames[-1][0] - started, 2)
    raise RuntimeError(f"{what}: the server sent nothing new in 600 s")


def _open(browser, url: str) -> tuple:
    """A first-time visitor (a new browser context, empty cache) opens `url`: (context, page, the
    (time, bytes) of every websocket message received, seconds until the page's run was drawn)."""
    context = browser.new_context(viewport={"width": 1400, "height": 1400})
    page = context.new_page()
    frames: list[tuple[float, int]] = []
    page.on("websocket", lambda ws: ws.on("framereceived", lambda body: frames.append((time.perf_counter(), len(body)))))
    started = time.perf_counter()
    page.goto(url)
    return context, page, frames, _drawn(page, frames, started, url, 0)


def _import_bench(root: Path, env: dict[str, str], data: Path) -> None:
    """Import the generated Parquet files in `data` as the dataset "bench" of the store in `env`."""
    subprocess.run([sys.executable, "-m", "dashboard", "import", "--dataset", "bench", "--as-of", "2026-06-30",
                    "--currency", "USD", *map(str, sorted(data.glob("*.parquet")))],
                   cwd=root, env=env, check=True, stdout=subprocess.DEVNULL)  # fmt: skip


def every_page_first_render(root: Path, data: Path, shots: Path | None = None) -> dict:
    """Import `data` (the generated Parquet files) into a fresh SQLite store and start the server on
    it as `make run` does (dashboard/server.py: it loads the dataset and prepares every page's view
    for a first visit's filters as it starts). Open the Overview as soon as the server answers (a
    visitor who comes while it starts: reported apart), note when /api/ready says the start-up work
    is done, then open every page as a first-time visitor in Chromium. Per page: seconds from
    navigation until the last message of its first run arrives (nothing more for QUIET_S seconds,
    the running indicator gone), and the bytes the server sent over the app's websocket (the page's
    data and charts; Streamlit's own JavaScript comes over HTTP, is not counted, and is loaded
    afresh by each visitor: each visit is a new browser context with an empty cache). Then that
    visitor picks a tier in the sidebar (TIER_CHANGES): seconds from the click until the page's
    last message for the new slice, as a visitor waits for a filter change, redraw included; then
    a second tier beside it ("second_tier"): a slice of two tiers, whose views no server prepares
    (dashboard.data._prepare), so they are computed while the visitor waits.

    The first pass finds every page's view ready. A second pass opens every page again with a
    link to the period before the default one, as a visitor who changes the period: the view of
    each page that reads the period is computed while its visitor waits ("on demand", from the
    slice's cached context), and the pages that read none (views.PERIOD_FREE) come from the cache.
    Also the server's peak resident memory; with `shots`, a screenshot of each page there."""
    from playwright.sync_api import sync_playwright

    env = _store_env()
    _import_bench(root, env, data)
    results: dict = {}
    with _server(root, env) as (url, pid, started_server):

        def visit(browser, path: str, shot: str | None = None, tier: str | None = None) -> dict:
            context, page, frames, first_render = _open(browser, url + path)
            result = {"first_render_s": first_render, "websocket_mb": round(sum(n for _, n in frames) / 1e6, 2),
                      "exceptions": page.locator("[data-testid='stException']").count()}  # fmt: skip
            if shots and shot:  # after the measurement: drawing the whole page may ask the server for more
                shots.mkdir(parents=True, exist_ok=True)
                page.screenshot(path=str(shots / f"{shot}.png"), full_page=True)
            if tier:  # the visitor picks a tier in the sidebar: from the click until the page is redrawn
                multiselect = page.locator("[data-testid='stSidebar'] [data-testid='stMultiSelect']").first
                # then a second tier beside it: a slice of two tiers, which no server prepares
                for step, chosen in (("tier_change", tier), ("second_tier", TIER_CHANGES[(TIER_CHANGES.index(tier) + 1) % len(TIER_CHANGES)])):
                    _open_list(page, multiselect, chosen)
                    option = page.get_by_role("option", name=chosen, exact=True)
                    sent_before, received_before = sum(n for _, n in frames), len(frames)
                    clicked = time.perf_counter()
                    option.click()
                    result[step] = {"tier": chosen, "redrawn_s": _drawn(page, frames, clicked, f"{url}{path}, {chosen}", received_before),
                                    "websocket_mb": round((sum(n for _, n in frames) - sent_before) / 1e6, 2),
                                    "exceptions": page.locator("[data-testid='stException']").count()}  # fmt: skip
                    page.keyboard.press("Escape")
            context.close()
            return result

        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
            results["overview_while_the_server_starts"] = visit(browser, "", shot="loading")
            results["server_ready_after_s"] = round(_ready(url) - started_server, 2)
            for (path, title), tier in zip(PAGES, itertools.cycle(TIER_CHANGES)):
                results[title] = visit(browser, path, shot=path or "overview", tier=tier)
                print(title, results[title], file=sys.stderr, flush=True)
            results["on_demand"] = {"period": f"{ON_DEMAND_PERIOD[0]} – {ON_DEMAND_PERIOD[1]}"}
            link = "?" + "&".join(f"period={day}" for day in ON_DEMAND_PERIOD)
            for path, title in PAGES:
                results["on_demand"][title] = visit(browser, path + link)
                print("on demand:", title, results["on_demand"][title], file=sys.stderr, flush=True)
            browser.close()
        status = Path(f"/proc/{pid}/status").read_text()
        results["server_peak_mb"] = int(next(ln for ln in status.splitlines() if ln.startswith("VmHWM")).split()[1]) // 1024
        return results


def _open_list(page, multiselect, name: str) -> None:
    """Open a multiselect's list until its option `name` shows: a click that lands while the page
    is still settling can leave it closed (seen on a loaded two-core machine; tests/test_browser.py
    opens it the same way)."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    for _ in range(5):
        multiselect.click()
        try:
            page.get_by_role("option", name=name, exact=True).wait_for(timeout=6_000)
            return
        except PlaywrightTimeout:
            page.keyboard.press("Escape")
    raise RuntimeError(f"the list of {name!r} did not open in five tries")


def redraw(root: Path, data: Path, repeat: int) -> dict:
    """What a filter change costs besides its views: per page, a visitor in Chromium picks a tier
    (REDRAW_TIER: its views computed, or prepared by the server), then removes it and picks it again, `repeat` times each:
    every one of those runs finds its views cached, so from the click until the page's last
    message is the page's drawing alone (the script's Streamlit and Plotly calls, sending, and
    the browser drawing on the same two cores). Medians and each run, per page."""
    from playwright.sync_api import sync_playwright

    env = _store_env()
    _import_bench(root, env, data)
    results: dict = {}
    with _server(root, env) as (url, _, _):
        _ready(url)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
            for path, title in PAGES:
                context, page, frames, _ = _open(browser, url + path)
                multiselect = page.locator("[data-testid='stSidebar'] [data-testid='stMultiSelect']").first
                runs = []
                for step in range(1 + 2 * repeat):
                    received_before = len(frames)
                    if step % 2 == 0:  # pick the tier
                        _open_list(page, multiselect, REDRAW_TIER)
                        clicked = time.perf_counter()
                        page.get_by_role("option", name=REDRAW_TIER, exact=True).click()
                    else:  # remove it again: the last chip goes with Backspace
                        multiselect.locator("input").first.click()
                        clicked = time.perf_counter()
                        page.keyboard.press("Backspace")
                    drawn = _drawn(page, frames, clicked, f"{url}{path}, step {step}", received_before)
                    page.keyboard.press("Escape")
                    if step:  # the first pick computes the tier's views
                        runs.append(drawn)
                results[title] = {"median_s": round(statistics.median(runs), 2), "runs_s": runs,
                                  "exceptions": page.locator("[data-testid='stException']").count()}  # fmt: skip
                print(title, results[title], file=sys.stderr, flush=True)
                context.close()
            browser.close()
    return results


#: The views a page draws beside its own (pages/*.py: shell.part), computed from the same context.
DRAWN_BESIDE = {"funnel": "funnel_period", "lifetime_value": "lifetime_value_costs", "satisfaction": "satisfaction_history"}


def filter_change(data: Path | None, repeat: int) -> dict:
    from dashboard import views
    from dashboard.filters import default_period
    from metrics.churn import train_churn_model
    from metrics.domain import Dataset, Filters
    from metrics.kpis import Period
    from metrics.schema import with_categorical_keys
    from metrics.slicing import Slice
    from sample_data import load_tables, sample_settings

    # as dashboard.data loads a dataset: keys cast to Categorical once
    tables = with_categorical_keys(load_tables(data) if data else load_tables())
    dataset = Dataset("bench", tables, sample_settings())
    as_of = dt.date(2026, 6, 30)
    start, end = default_period(as_of)
    model = train_churn_model(tables, as_of=as_of)  # cached per dataset in the app: not timed
    # the whole base's context with its purchase days, as a prepared server has it: a slice cuts
    # its own out of them (views.Context.whole)
    everyone = views.context(dataset, Filters(Slice(), Period(start, end), "previous", as_of), churn_model=lambda: model)
    everyone.purchase_days()
    results = {}
    for page in views.VIEWS:
        if page in DRAWN_BESIDE.values():
            continue  # timed with the page that draws it
        runs = []
        for _ in range(repeat):
            for tier in ("Bronze", "Silver", "Gold", "Platinum"):
                filters = Filters(Slice(tiers=(tier,)), Period(start, end), "previous", as_of)
                started = time.perf_counter()
                context = views.context(dataset, filters, churn_model=lambda: model, whole=lambda: everyone)  # as the app: one per slice
                for part in (page, DRAWN_BESIDE.get(page)):
                    if part:
                        views.view_of(part, context)
                runs.append(time.perf_counter() - started)
        results[page] = {"median_s": statistics.median(runs), "max_s": max(runs), "runs": len(runs)}
    results["period_change"] = _period_change(dataset, model, start, end, repeat)
    results["peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return results


def _period_change(dataset, model, start, end, repeat: int) -> dict:
    """A period change, every customer: the slice's context stays (the app caches it per slice and
    as-of date, with its purchase days), and what is computed is each view that reads the period
    (not views.PERIOD_FREE, cached across periods). Timed for each of `repeat` earlier quarters,
    each new, visiting the pages in the navigation's order as a visitor who steps back a quarter
    does. The default period's views are computed first, untimed, as a prepared server has them."""
    from dashboard import views
    from metrics.domain import Filters
    from metrics.kpis import Period
    from metrics.slicing import Slice
    from metrics.stats import first_of_month

    everyone = views.context(dataset, Filters(Slice(), Period(start, end), "previous", end), churn_model=lambda: model)
    pages = {page: [p for p in (page, DRAWN_BESIDE.get(page)) if p and p not in views.PERIOD_FREE]
             for page in views.VIEWS if page not in DRAWN_BESIDE.values()}  # fmt: skip
    pages = {page: parts for page, parts in pages.items() if parts}
    for parts in pages.values():
        for part in parts:
            views.view_of(part, everyone)
    runs: dict[str, list[float]] = {page: [] for page in pages}
    for back in range(1, repeat + 1):
        quarter = Period(first_of_month(start, -3 * back), first_of_month(start, -3 * (back - 1)) - dt.timedelta(days=1))
        context = everyone.for_filters(Filters(Slice(), quarter, "previous", end))
        for page, parts in pages.items():
            started = time.perf_counter()
            for part in parts:
                views.view_of(part, context)
            runs[page].append(time.perf_counter() - started)
    return {page: {"median_s": statistics.median(r), "max_s": max(r), "runs": len(r)} for page, r in runs.items()}


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--customers", type=int, default=100_000)
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--child-filter", nargs="?", const="", default=None)
    p.add_argument("--every-page", type=Path, metavar="DIR",
                   help="only: every page's first render in Chromium on the generated dataset in DIR")
    p.add_argument("--screenshots", type=Path, metavar="DIR", help="with --every-page: a screenshot of each page here")
    p.add_argument("--redraw", type=Path, metavar="DIR",
                   help="only: each page's redraw in Chromium for filters whose views are cached, on the dataset in DIR")  # fmt: skip
    args = p.parse_args()
    if args.redraw:
        print(json.dumps(redraw(Path(__file__).resolve().parent.parent, args.redraw, args.repeat), indent=2))
        return
    if args.every_page:
        print(json.dumps(every_page_first_render(Path(__file__).resolve().parent.parent, args.every_page, args.screenshots), indent=2))
        return
    if args.child_filter is not None:
        print(json.dumps(filter_change(Path(args.child_filter) if args.child_filter else None, args.repeat)))
        return
    root = Path(__file__).resolve().parent.parent
    results: dict = {}
    cold, warm, returning = [], [], []
    for _ in range(args.repeat):
        first, second, again = first_render(root)
        cold.append(first)
        warm.append(second)
        returning.append(again)
    server_side = [json.loads(subprocess.run([sys.executable, "-c", SERVER_SIDE, str(root / "dashboard" / "app.py")],
                                             capture_output=True, text=True, check=True, cwd=root).stdout.strip().splitlines()[-1])
                   for _ in range(args.repeat)]  # fmt: skip
    results["overview_script_run_sample"] = {
        "first_session_median_s": statistics.median(r[0] for r in server_side),
        "next_session_median_s": statistics.median(r[1] for r in server_side),
    }  # fmt: skip
    results["overview_first_render_sample"] = {
        "cold_server_median_s": statistics.median(cold), "cold_runs_s": [round(t, 3) for t in cold],
        "warm_server_median_s": statistics.median(warm), "warm_runs_s": [round(t, 3) for t in warm],
        "returning_visitor_median_s": statistics.median(returning), "returning_runs_s": [round(t, 3) for t in returning],
    }  # fmt: skip
    print("first render", results["overview_first_render_sample"], file=sys.stderr, flush=True)

    def child(data: str) -> dict:
        out = subprocess.run([sys.executable, "-m", "benchmarks.pages", "--repeat", str(args.repeat), "--child-filter", data],
                             capture_output=True, text=True, check=True, cwd=root)  # fmt: skip
        return json.loads(out.stdout.strip().splitlines()[-1])

    results["filter_change_sample"] = child("")
    print("sample", results["filter_change_sample"], file=sys.stderr, flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([sys.executable, "-m", "sample_data.generate", "--customers", str(args.customers), "--seed", "1",
                        "--out", tmp, "--quiet"], check=True, cwd=root, stdout=subprocess.DEVNULL)  # fmt: skip
        results[f"filter_change_{args.customers}"] = child(tmp)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()

"""Load (issue 15): concurrent signed-in sessions against one `streamlit run` server on the sample
data. Each session signs in, opens every page and changes a filter; reported: the 50th and 95th
percentile time from asking for a page until the server has drawn it (its script run finished),
errors, and the server's peak memory.

    python -m benchmarks.load [--sessions 20] [--browsers 2]

Twenty Chromium renderers on two cores would measure the browsers, not the server: most sessions
are light clients speaking Streamlit's own websocket protocol (the protobuf messages the browser
sends: a rerun with the page and the widget values, answered by the page's elements and "script
finished"), and `--browsers` of them are real Chromium, timed from the click until the page's
heading is drawn and the run is done.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import threading
import time
from pathlib import Path

from benchmarks.pages import CHROMIUM_ARGS, _server, _store_env

ROOT = Path(__file__).resolve().parent.parent
ACCOUNT, PASSWORD = "load", "load-test-password"
PAGES = ["Overview", "Funnel", "Retention", "Lifetime value", "Satisfaction", "Segments", "Churn risk", "Data"]


class LightSession:
    """One Streamlit session over its websocket, as a browser tab would drive it."""

    def __init__(self, ws_url: str, origin: str):
        self.ws_url, self.origin = ws_url, origin
        self.widgets: dict[str, object] = {}  # label → the widget's proto (its id)
        self.pages: dict[str, str] = {}  # title → page script hash
        self.page_hash = ""

    async def __aenter__(self):
        import websockets

        self.ws = await websockets.connect(self.ws_url, subprotocols=["streamlit"], origin=self.origin, max_size=2**27)
        return self

    async def __aexit__(self, *exc):
        await self.ws.close()

    async def run(self, widget_states=(), page_hash: str | None = None) -> tuple[float, list[str], list[str]]:
        """A rerun: seconds until the script finished, the titles drawn, and exception messages."""
        from streamlit.proto.BackMsg_pb2 import BackMsg
        from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

        msg = BackMsg()
        msg.rerun_script.query_string = ""
        msg.rerun_script.page_script_hash = page_hash if page_hash is not None else self.page_hash
        for state in widget_states:
            msg.rerun_script.widget_states.widgets.append(state)
        started = time.perf_counter()
        await self.ws.send(msg.SerializeToString())
        titles, errors = [], []
        while True:
            forward = ForwardMsg()
            forward.ParseFromString(await self.ws.recv())
            kind = forward.WhichOneof("type")
            if kind == "navigation":
                self.pages = {p.page_name: p.page_script_hash for p in forward.navigation.app_pages}
                self.page_hash = forward.navigation.page_script_hash
            elif kind == "delta" and forward.delta.WhichOneof("type") == "new_element":
                element = forward.delta.new_element
                which = element.WhichOneof("type")
                if which == "heading":
                    titles.append(element.heading.body)
                elif which == "exception":
                    errors.append(element.exception.message)
                elif which == "alert" and element.alert.format == 1:  # an error box
                    errors.append(element.alert.body)
                elif which in ("text_input", "button", "multiselect"):
                    proto = getattr(element, which)
                    self.widgets[proto.label] = proto
            elif kind == "script_finished" and forward.script_finished != ForwardMsg.FINISHED_EARLY_FOR_RERUN:
                return time.perf_counter() - started, titles, errors  # (a run that asked for a rerun goes on)

    def state(self, label: str, **value):
        from streamlit.proto.WidgetStates_pb2 import WidgetState

        state = WidgetState(id=self.widgets[label].id)
        for field, v in value.items():
            if field == "string_array_value":
                state.string_array_value.data.extend(v)
            else:
                setattr(state, field, v)
        return state


async def light_visit(ws_url: str, origin: str, times: list[float], errors: list[str]) -> None:
    """Sign in, open every page, then on the Funnel choose the Gold tier."""
    async with LightSession(ws_url, origin) as s:
        _, titles, errs = await s.run()
        if "Sign in" not in titles:
            errors.append(f"no sign-in form: {titles} {errs}")
            return
        took, titles, errs = await s.run([s.state("Account name", string_value=ACCOUNT), s.state("Password", string_value=PASSWORD),
                                          s.state("Sign in", trigger_value=True)])  # fmt: skip
        times.append(took)
        errors.extend(errs)
        for title in PAGES:
            took, titles, errs = await s.run(page_hash=s.pages[title])
            times.append(took)
            errors.extend(errs + ([] if title in titles else [f"{title} not drawn: {titles}"]))
        took, titles, errs = await s.run([s.state("Customer tier", string_array_value=["Gold"])], page_hash=s.pages["Funnel"])
        times.append(took)
        errors.extend(errs)


def browser_visits(url: str, count: int, times: list[float], errors: list[str]) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)

        def drawn(page, title: str) -> float:
            started = time.perf_counter()
            page.get_by_role("heading", name=title, exact=True).wait_for(timeout=300_000)
            page.locator("[data-testid='stStatusWidget']").wait_for(state="hidden", timeout=300_000)
            return time.perf_counter() - started

        def one() -> None:
            page = browser.new_context(viewport={"width": 1400, "height": 1400}).new_page()
            page.goto(url)
            page.get_by_role("textbox", name="Account name").fill(ACCOUNT)
            page.get_by_role("textbox", name="Password").fill(PASSWORD)
            page.get_by_role("button", name="Sign in").click()
            times.append(drawn(page, "Overview"))
            for title in PAGES[1:]:
                page.get_by_role("link", name=title).click()
                times.append(drawn(page, title))
            if page.locator("[data-testid='stException']").count():
                errors.append("an exception box in Chromium")

        for _ in range(count):
            one()
        browser.close()


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sessions", type=int, default=20, help="sessions in all (light clients and browsers)")
    parser.add_argument("--browsers", type=int, default=2, help="of them, real Chromium sessions")
    args = parser.parse_args()
    env = _store_env()
    from dashboard.accounts import Accounts
    from dashboard.store import Store

    os.environ["CRM_STORE_URL"] = env["CRM_STORE_URL"]
    Accounts(Store(env["CRM_STORE_URL"])).add(ACCOUNT, PASSWORD, "viewer")
    with _server(ROOT, env) as (url, pid):
        origin = url.rstrip("/")
        ws_url = origin.replace("http", "ws") + "/_stcore/stream"
        light_times: list[float] = []
        browser_times: list[float] = []
        errors: list[str] = []
        started = time.perf_counter()
        browsers = threading.Thread(target=browser_visits, args=(url, args.browsers, browser_times, errors))
        browsers.start()

        async def all_light() -> None:
            await asyncio.gather(*(light_visit(ws_url, origin, light_times, errors) for _ in range(args.sessions - args.browsers)))

        asyncio.run(all_light())
        browsers.join()
        wall = time.perf_counter() - started
        peak = peak_rss_mb(pid)

    def percentiles(values: list[float]) -> dict:
        if not values:
            return {}
        cuts = statistics.quantiles(values, n=20, method="inclusive") if len(values) > 1 else [values[0]] * 19
        return {"p50_s": round(statistics.median(values), 2), "p95_s": round(cuts[18], 2), "max_s": round(max(values), 2), "n": len(values)}

    print(json.dumps({
        "sessions": args.sessions, "browsers": args.browsers, "light_clients": percentiles(light_times),
        "chromium": percentiles(browser_times), "all": percentiles(light_times + browser_times), "errors": errors[:20],
        "error_count": len(errors), "wall_s": round(wall, 1), "server_peak_mb": round(peak),
    }, indent=2))  # fmt: skip


if __name__ == "__main__":
    main()

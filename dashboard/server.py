"""The server: `streamlit run dashboard/server.py` serves the app (dashboard/app.py) and gets it
ready for its first visitor as it starts.

A server started with `streamlit run dashboard/app.py` does nothing until someone opens the link:
that first visitor then waits while the server imports its libraries, loads the dataset and
computes the page (at a million customers, 11-17 s on the machine this was measured on). Served through this module, the server does
that work in a thread as soon as it starts (dashboard.data.warm_start), so a visitor who comes
once it is done opens pages from the cache, and one who comes sooner waits only for the rest.

GET /api/ready answers 200 once that work is done (whether or not it succeeded: a page then says
what went wrong) and 503 until then, for a load balancer or an orchestrator that should send
visitors only to a server that is ready. It names nothing about the data.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import threading
from pathlib import Path

# Polars' allocator (jemalloc) hands freed memory back to the system within a second, Polars'
# own setting. A server then gets fresh pages for each slice a visitor opens, and the kernel
# clears every fresh page first: for a slice of two tiers at a million customers that was half of
# the server's time (perf: clear_page), sys 4.8-5.5 s beside user 2.0-2.9 s. Kept for reuse, the
# page faults fell by a half to two thirds and the Chromium wait by 0.5-1.8 s; the memory the
# server holds is then what it needed at its busiest (6.6 instead of 5.5 GB once ready). Polars
# reads this as it is imported, so before anything imports it; a setting already in the
# environment is left as it is.
os.environ.setdefault("_RJEM_MALLOC_CONF", "dirty_decay_ms:-1,muzzy_decay_ms:-1")

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # `streamlit run dashboard/server.py` from a plain checkout
    sys.path.insert(0, str(ROOT))

import streamlit as st  # noqa: E402
from starlette.requests import Request  # noqa: E402
from starlette.responses import JSONResponse  # noqa: E402
from starlette.routing import Route  # noqa: E402

from dashboard import data  # noqa: E402

READY_PATH = "/api/ready"
_ready = threading.Event()


def _warm_start() -> None:
    try:
        data.warm_start()
    except Exception as exc:  # noqa: BLE001 - the first visitor's page computes it again and says why
        logging.getLogger(__name__).warning("getting ready at start failed (%s)", type(exc).__name__)
    finally:
        _ready.set()


@contextlib.asynccontextmanager
async def _lifespan(_app):
    threading.Thread(target=_warm_start, name=data.PREPARING, daemon=True).start()
    yield None


async def _readiness(_request: Request) -> JSONResponse:
    ready = _ready.is_set()
    return JSONResponse({"ready": ready}, status_code=200 if ready else 503)


app = st.App(ROOT / "dashboard" / "app.py", lifespan=_lifespan, routes=[Route(READY_PATH, _readiness)])

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
import sys
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # `streamlit run dashboard/server.py` from a plain checkout
    sys.path.insert(0, str(ROOT))

from dashboard import preload  # noqa: E402  (imports no Polars)

preload.keep_freed_memory()  # before anything imports Polars, which reads it then

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

"""What a server process sets up once: Polars' allocator keeping the memory it frees
(keep_freed_memory, before Polars is imported), and the heavy modules, imported one thread at
a time, after which BLAS runs on one thread and the imported objects are frozen.

Each visitor's session runs the app in its own thread. Left to the pages, the first visitors after
a start import pandas, Plotly, SciPy and scikit-learn at the same moment in several threads, and
some of them see a half-initialised module ("partially initialized module 'pandas' has no
attribute 'Series'"). The app calls `heavy_modules()` before anything else: the first caller
imports them under a lock, the others wait for it, and every later call costs nothing.

Once they are imported, two settings for the rest of the process. BLAS runs on one thread
(metrics.threads). And the objects the modules made (about 200,000 functions, classes and dicts)
are moved out of the garbage collector's sight (`gc.freeze()`): Streamlit runs a full collection
after every page run (its `runner.postScriptGC`), which walked all of them each time, holding the
interpreter's lock: 0.15 s in a plain process, about 0.5 s of a page's run in a server at a million
customers (a sampling profiler's count). Frozen, they are never collected: module-level objects
live as long as the process anyway; what the pages make afterwards is collected as before. With
both, a page redrawn from the cache at a million customers (benchmarks/pages.py --redraw, median
per page) took 0.29-0.99 s instead of 0.39-1.18 s; the Overview 0.29 s instead of 0.69 s.
"""

from __future__ import annotations

import gc
import os
import threading

#: Polars' allocator (jemalloc) keeping the memory it frees: see keep_freed_memory.
KEEP_FREED_MEMORY = "dirty_decay_ms:-1,muzzy_decay_ms:-1"


def keep_freed_memory() -> None:
    """Ask Polars' allocator to keep freed memory for the next computation, in this process and
    those it starts. It hands freed memory back to the system within a second, Polars' own setting:
    a server then gets fresh pages for each slice a visitor opens, and the kernel clears every
    fresh page first. For a slice of two tiers at a million customers that was half of the server's
    time (perf: clear_page), sys 4.8-5.5 s beside user 2.0-2.9 s; kept, the page faults fell by a
    half to two thirds and the Chromium wait by 0.5-1.8 s. What the server holds is then what it
    needed at its busiest (6.6 instead of 5.5 GB once ready, at a million customers). Polars reads
    the setting as it is imported: this must run before anything imports it. A setting already
    in the environment is left as it is."""
    os.environ.setdefault("_RJEM_MALLOC_CONF", KEEP_FREED_MEMORY)


_lock = threading.Lock()
_done = False


def heavy_modules() -> None:
    global _done
    if _done:
        return
    with _lock:
        if _done:
            return
        import pandas  # noqa: F401  (Plotly and Streamlit's dataframes use it)
        import plotly.graph_objects  # noqa: F401
        import scipy.optimize  # noqa: F401
        import scipy.special  # noqa: F401
        import sklearn.cluster  # noqa: F401
        import sklearn.ensemble  # noqa: F401
        import sklearn.metrics  # noqa: F401
        import sklearn.preprocessing  # noqa: F401

        import dashboard.charts  # noqa: F401
        import dashboard.views  # noqa: F401
        from metrics.threads import keep_one_blas_thread

        keep_one_blas_thread()  # every visitor's BLAS work is small (metrics.threads)
        gc.collect()  # what is garbage now would never be collected once frozen
        gc.freeze()
        _done = True

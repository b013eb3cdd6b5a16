"""The heavy modules, imported once per server process, one thread at a time.

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
import threading

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

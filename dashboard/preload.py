"""The heavy modules, imported once per server process, one thread at a time.

Each visitor's session runs the app in its own thread. Left to the pages, the first visitors after
a start import pandas, Plotly, SciPy and scikit-learn at the same moment in several threads, and
some of them see a half-initialised module ("partially initialized module 'pandas' has no
attribute 'Series'"). The app calls `heavy_modules()` before anything else: the first caller
imports them under a lock, the others wait for it, and every later call costs nothing.
"""

from __future__ import annotations

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

        _done = True

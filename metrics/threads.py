"""The native thread pools under NumPy, SciPy and scikit-learn (BLAS, OpenMP): where they run on
one thread, and why.

BLAS spreads a matrix product over every core. The products here are small (a fit's 4-vectors,
k-means on a 20,000-customer sample, silhouettes on 1,500), so waking a second thread costs more
than it saves, and where the other core is busy (Polars, a browser, a second visitor) the threads
wait for each other: k-means over a million customers' RFM took 0.5-2.1 s on two BLAS threads and
0.4-0.5 s on one (beside a busy core 0.8-1.2 s against 0.7-0.9 s). Polars has its own threads and
is not touched. OpenMP is left to the churn model's gradient boosting, which uses it well (2.4-2.9 s
to train at a million customers against 3.2-3.3 s on one thread), but not to k-means: on the
5,000-customer sample starting its threads cost more than they saved (0.3 s against 0.18 s).
"""

from __future__ import annotations

import functools


def one_blas_thread():
    """A context in which BLAS runs on one thread. The libraries are found once per process
    (threadpoolctl reads the process's loaded libraries: 1 ms, paid by each of the twenty-odd
    fits of a page otherwise), after SciPy's own BLAS is loaded, so that the limit covers it."""
    return _controller().limit(limits=1, user_api="blas")


def one_thread():
    """A context in which BLAS and OpenMP both run on one thread (k-means: see the module)."""
    return _controller().limit(limits=1)


def keep_one_blas_thread() -> None:
    """BLAS on one thread for the rest of the process (the server's). The contexts of
    one_blas_thread, entered and left by several visitors' threads interleaved, each put back
    what they found; with the process at one thread already, what they put back is one thread."""
    one_blas_thread()  # the limit applies as it is made; not entered as a context, it stays


@functools.cache
def _controller():
    from scipy import optimize  # noqa: F401 - loads SciPy's BLAS before the libraries are read
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()

"""Maximum likelihood over log-parameters, shared by BG/NBD and Gamma-Gamma: a start on a
subsample, Newton steps in whitened coordinates on the whole data, L-BFGS-B where they fail."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from metrics.threads import one_blas_thread


@dataclass(frozen=True)
class _Fit:
    x: np.ndarray
    log_likelihood: float
    success: bool


WARM_ROWS = 50_000  # the subsample that finds a fit's starting point and curvature (see maximise)


def maximise(negll, prepare, columns: tuple, weights: np.ndarray, *, start: np.ndarray) -> _Fit:
    """Maximum likelihood over log-parameters with L-BFGS-B and analytic gradients.

    The objective is the mean log-likelihood per customer (so tolerances mean the same at any
    size). With many distinct rows, a fit on a seeded random subsample gives the starting point
    and its curvature, and the full data only polish it with Newton steps (_newton_polish;
    L-BFGS-B where those do not converge): the optimum is the full-data MLE, reached in 3-4 full
    evaluations instead of dozens.
    """
    # The search may probe parameters whose likelihood overflows (a small group, a degenerate
    # fit): such a probe is not finite and the line search steps back from it. The error state is
    # set here, in the thread that fits (NumPy keeps it per thread).
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        return _search(negll, prepare, columns, weights, start=start)


def _search(negll, prepare, columns: tuple, weights: np.ndarray, *, start: np.ndarray) -> _Fit:
    """maximise's search itself."""
    total = float(weights.sum())

    # Stop when the mean log-likelihood no longer improves by 1e-14 (relative); beyond 100,000
    # distinct rows 1e-12 — the parameters' sampling error there is ~1e-3, a billion times larger,
    # and it halves the number of passes over a million customers.
    ftol = 1e-14 if len(weights) < 100_000 else 1e-12

    from scipy import optimize  # imported here: 0.3 s that pages without a model fit should not pay

    def mean_objective(cols, w):
        data, scale = prepare(*cols, w), float(w.sum())
        return lambda theta: tuple(part / scale for part in negll(theta, data))

    def run(objective, x0, basis=None) -> _Fit:
        # With a basis S (S^T H S = I for the Hessian H near x0) the search runs in u, θ = x0 + S u,
        # where the problem is nearly a round bowl: L-BFGS needs no iterations to learn its shape.
        basis = np.eye(len(x0)) if basis is None else basis
        def whitened(u):  # noqa: E306
            value, gradient = objective(x0 + basis @ u)
            return value, basis.T @ gradient
        # L-BFGS-B works on 4-vectors through BLAS; a multi-threaded BLAS spends ~1 ms per
        # iteration waking threads for them (5-15× the fit itself on a slice): one thread
        with one_blas_thread():
            result = optimize.minimize(whitened, np.zeros(len(x0)), jac=True, method="L-BFGS-B",
                                       options={"maxiter": 1000, "ftol": ftol, "gtol": 1e-9})  # fmt: skip
        theta = x0 + basis @ result.x
        # L-BFGS-B also stops "abnormally" in a line search at the floating-point limit; a stop
        # where the gradient of the mean log-likelihood is negligible is an optimum all the same
        converged = bool(np.all(np.isfinite(theta)) and (result.success or np.max(np.abs(objective(theta)[1])) < 1e-5))
        return _Fit(theta, -float(result.fun), converged)  # the mean log-likelihood, for now

    x0, basis = start, None
    if len(weights) > 2 * WARM_ROWS:
        # customers drawn with probability ∝ weight: a plain random sample of customers
        pick = np.random.default_rng(0).choice(len(weights), size=WARM_ROWS, replace=True, p=weights / total)
        sample = mean_objective(tuple(c[pick] for c in columns), np.ones(WARM_ROWS))
        warm = run(sample, start)
        if warm.success:
            x0, basis = warm.x, _whitening(sample, warm.x)
    objective = mean_objective(columns, weights)
    polished = _newton_polish(objective, x0, basis, ftol) if basis is not None else None
    if polished is not None:
        return _Fit(polished.x, polished.log_likelihood * total, True)
    best = run(objective, x0, basis)
    if not best.success:  # a second start before giving up
        other = run(objective, np.zeros_like(start))
        if other.log_likelihood > best.log_likelihood or not np.isfinite(best.log_likelihood):
            best = other
    return _Fit(best.x, best.log_likelihood * total, best.success)


def _newton_polish(objective, theta: np.ndarray, basis: np.ndarray, ftol: float, max_steps: int = 20) -> _Fit | None:
    """Newton's method in the whitened coordinates θ = θ0 + S u, where the subsample's Hessian
    is the identity and the full data's nearly so: the step is −g (g the whitened gradient),
    halved until the objective does not rise. Near the optimum f − f* ≈ ½|g|², so it stops when
    that predicted gain is below ftol·max(|f|, 1) — the gain at which L-BFGS-B would stop, seen one
    step sooner (a fit from the subsample's optimum takes 3-4 full passes instead of 6-7). None
    when it does not get there (a poor subsample Hessian): the caller runs L-BFGS-B instead.
    """
    u = np.zeros(len(theta))
    value, gradient = objective(theta)
    for _ in range(max_steps):
        g = basis.T @ gradient
        if not (np.isfinite(value) and np.all(np.isfinite(g))):
            return None
        if 0.5 * (g @ g) <= ftol * max(abs(value), 1.0):
            return _Fit(theta + basis @ u, -float(value), True)
        step = -g
        for _ in range(30):  # halve the step until the objective does not rise
            trial_value, trial_gradient = objective(theta + basis @ (u + step))
            if np.isfinite(trial_value) and trial_value <= value:
                break
            step = step / 2
        else:
            return None
        u, value, gradient = u + step, trial_value, trial_gradient
    return None


def _whitening(objective, theta: np.ndarray, step: float = 1e-4) -> np.ndarray | None:
    """S with S^T H S = I, H the Hessian of `objective` at θ by central differences of its
    analytic gradient (2k evaluations); None where H is not positive definite."""
    k = len(theta)
    columns = []
    for i in range(k):
        e = np.zeros(k)
        e[i] = step
        columns.append((objective(theta + e)[1] - objective(theta - e)[1]) / (2 * step))
    hessian = np.column_stack(columns)
    eigenvalues, vectors = np.linalg.eigh((hessian + hessian.T) / 2)
    if not (np.all(np.isfinite(eigenvalues)) and eigenvalues.min() > 1e-12 * max(eigenvalues.max(), 1e-300)):
        return None
    return vectors / np.sqrt(eigenvalues)

"""Lifetime value: historical value, simple LTV, the RFM summary of the BTYD literature, BG/NBD and
Gamma-Gamma fitted by maximum likelihood, P(alive), discounted CLV, the holdout check, LTV:CAC and
acquisition vs retention cost (METRICS.md, "Lifetime value").

BG/NBD and Gamma-Gamma are written here on NumPy/SciPy: the `lifetimes` package is unmaintained
and breaks on current NumPy/pandas. The likelihoods are the papers' (Fader, Hardie & Lee 2005;
Fader & Hardie 2013), maximised over log-parameters with L-BFGS-B and analytic gradients. Customers
sharing (x, t_x, T) are fitted once with a weight, and the gamma-function terms, which depend on x
alone, are evaluated once per distinct x — that is what makes a million customers take seconds.
"""

from __future__ import annotations

import datetime as dt
import functools
import math
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import polars as pl
from scipy import special

from metrics.purchase_days import PurchaseDays, day_number, purchase_days
from metrics.stats import (
    DAYS_PER_MONTH,
    Frame,
    add_months,
    as_date,
    canonical,
    day,
    lazy,
    sorted_by_id,
)

UNIT_DAYS = {"D": 1.0, "W": 7.0, "M": DAYS_PER_MONTH}


def _unit_days(unit: str) -> float:
    try:
        return UNIT_DAYS[unit]
    except KeyError:
        raise ValueError(f"unit must be one of {sorted(UNIT_DAYS)}, not {unit!r}") from None


# ---------------------------------------------------------------- RFM summary (BTYD convention)


def rfm_summary(
    orders: Frame,
    *,
    as_of: dt.date | dt.datetime | str,
    unit: str = "W",
    customer_id: str = "customer_id",
    order_date: str = "order_date",
    amount: str = "amount",
) -> pl.DataFrame:
    """orders (customer_id, order_date, amount) → customer_id, frequency, recency, T, monetary_value.

    Purchases on or before `as_of` are grouped into purchase days (several orders on one day are
    one purchase, their amounts summed). frequency = purchase days after the first; recency = days
    from the first to the last purchase day / unit; T = days from the first purchase day to `as_of`
    / unit; monetary_value = mean day total of the repeat purchase days (null when frequency is 0).
    Units: "D" days, "W" weeks (days / 7, as the published CDNOW summary), "M" months (days /
    30.4375). Refunds (negative amounts) are not purchases and are left out.
    """
    renames = {"customer_id": customer_id, "order_date": order_date, "amount": amount}
    return rfm_summaries(canonical(orders, renames), as_of=[as_of], unit=unit)[0]


def rfm_summaries(
    orders: Frame | PurchaseDays, *, as_of: Sequence[dt.date | dt.datetime | str], unit: str = "W"
) -> list[pl.DataFrame]:
    """The RFM summaries (as rfm_summary) at several as-of dates, from one pass over the orders:
    the holdout check needs them at the end of the calibration and of the observation period.
    `orders` may be their purchase days (metrics.purchase_days) to the latest of the dates or later,
    when the caller has them.

    From the purchase days, sorted by customer and day, each customer's figures are read off their
    run of rows up to each as-of date: the first day, the last day, how many days, and the amount
    of those after the first (the repeat purchases).
    """
    unit_days = _unit_days(unit)
    ends = [as_date(value) for value in as_of]
    if not ends:
        return []
    days = orders if isinstance(orders, PurchaseDays) else purchase_days(orders, as_of=max(ends))
    code = pl.col("code")
    summaries = []
    for end in ends:
        per_customer = (
            days.upto(end).table.lazy()
            .with_columns(repeat=pl.when(code == code.shift(1)).then(pl.col("amount")).otherwise(0.0))
            .group_by("code", maintain_order=True)
            .agg(pl.col("customer_id").first(), first=pl.col("day").first(), last=pl.col("day").last(),
                 days=pl.len(), repeat=pl.col("repeat").sum())
            .select(
                "customer_id",
                frequency=(pl.col("days") - 1).cast(pl.Int64),
                recency=((pl.col("last") - pl.col("first")) / unit_days).cast(pl.Float64),
                T=((day_number(end) - pl.col("first")) / unit_days).cast(pl.Float64),
                monetary_value=pl.when(pl.col("days") > 1).then(pl.col("repeat") / (pl.col("days") - 1)),
            )
        )  # fmt: skip
        summaries.append(days.with_ids(sorted_by_id(per_customer)))
    return summaries


def _columns(summary: Frame, *names: str) -> list[np.ndarray]:
    frame = lazy(summary).select(names).collect()
    return [frame.get_column(n).cast(pl.Float64).to_numpy() for n in names]


# ---------------------------------------------------------------- BG/NBD


@dataclass(frozen=True)
class BGNBD:
    """Fitted BG/NBD parameters; `log_likelihood` is the total over customers."""

    r: float
    alpha: float
    a: float
    b: float
    log_likelihood: float
    customers: int
    converged: bool
    unit: str = "W"

    def _core(self, x: np.ndarray, t_x: np.ndarray, T: np.ndarray) -> np.ndarray:
        """a/(b+x−1) · ((α+T)/(α+t_x))^(r+x) for x > 0, else 0: the odds of having dropped out."""
        r, alpha, a, b = self.r, self.alpha, self.a, self.b
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            log_term = (
                np.log(a) - np.log(b + x - 1) + (r + x) * (np.log(alpha + T) - np.log(alpha + t_x))
            )
            return np.where(x > 0, np.exp(log_term), 0.0)

    def p_alive(self, x: np.ndarray, t_x: np.ndarray, T: np.ndarray) -> np.ndarray:
        """P(still active | x, t_x, T) (Fader, Hardie & Lee 2005, eq. 11)."""
        return 1.0 / (1.0 + self._core(np.asarray(x, float), np.asarray(t_x, float), T))

    def expected_purchases(
        self, t: float, x: np.ndarray, t_x: np.ndarray, T: np.ndarray
    ) -> np.ndarray:
        """Expected purchases in the next `t` units given (x, t_x, T) (eq. 10). The hypergeometric
        part depends on (x, T) alone and is evaluated once per distinct pair."""
        x, t_x, T = (np.asarray(v, float) for v in (x, t_x, T))
        # whole purchase days make the distinct (x, T) pairs far fewer than customers
        (ux, uT), index = _codes(x, T)
        return self.purchase_potential(t, ux, uT)[index] / (1 + self._core(x, t_x, T))

    def purchase_potential(self, t: float, x: np.ndarray, T: np.ndarray) -> np.ndarray:
        """The numerator of eq. 10, which depends on x and T only (t_x enters through the dropout
        odds alone): (a+b+x−1)/(a−1) · [1 − ((α+T)/(α+T+t))^(r+x) ₂F₁(r+x, b+x; a+b+x−1; t/(α+T+t))]."""
        r, alpha, a, b = self.r, self.alpha, self.a, self.b
        x, T = np.asarray(x, float), np.asarray(T, float)
        if t <= 0:
            return np.zeros_like(x)
        z = t / (alpha + T + t)
        hyp = special.hyp2f1(r + x, b + x, a + b + x - 1, z)
        head = (a + b + x - 1) / (a - 1)
        return head * (1 - ((alpha + T) / (alpha + T + t)) ** (r + x) * hyp)

    def expected_purchases_new(self, t: float) -> float:
        """Expected purchases in (0, t] of a new customer (eq. 7)."""
        r, alpha, a, b = self.r, self.alpha, self.a, self.b
        hyp = special.hyp2f1(r, b, a + b - 1, t / (alpha + t))
        return float((a + b - 1) / (a - 1) * (1 - (alpha / (alpha + t)) ** r * hyp))


SMALL_ROWS = 100_000  # below this many rows a sort beats a hash join's fixed cost (see _codes)


def _codes(*columns: np.ndarray) -> tuple[list[np.ndarray], np.ndarray]:
    """The distinct rows of the columns, sorted, and each row's index into them.

    Where the rows map to small non-negative integer keys, a table over all keys marks the ones
    present and their ranks are the codes (_dense_codes: no hashing, no sorting): a column of
    whole numbers (a frequency) is its own key, and several columns, each coded first, combine in
    mixed radix when the product of their distinct counts is small (whole days make it so).
    Otherwise np.unique's sort for up to SMALL_ROWS rows (a group's sample: a tenth of the hash
    join's time), else a hash join (np.unique's sort takes twice as long at a million rows).
    """
    n = len(columns[0])
    limit = 4 * n + 4096  # a table no bigger than a few times the rows
    if len(columns) == 1:
        column = columns[0]
        if n and column.min() >= 0 and column.max() < limit and np.array_equal(column, np.floor(column)):
            (keys,), index = _dense_codes(column.astype(np.int64), int(column.max()) + 1)
            return [keys.astype(column.dtype)], index
    else:
        coded = [_codes(c) for c in columns]
        distincts = [distinct for (distinct,), _ in coded]
        sizes = [len(distinct) for distinct in distincts]
        if (space := math.prod(sizes)) <= limit:
            (keys,), index = _dense_codes(_mixed_radix([index for _, index in coded], sizes), space)
            return [d[i] for d, i in zip(distincts, _split_radix(keys, sizes), strict=True)], index
    if len(columns) == 1 and n <= SMALL_ROWS:
        keys, index = np.unique(columns[0], return_inverse=True)
        return [keys], index.astype(np.int64)
    rows = pl.DataFrame({f"c{i}": c for i, c in enumerate(columns)})
    distinct = rows.unique().sort(rows.columns).with_row_index("k")
    index = rows.join(distinct, on=rows.columns, how="left", maintain_order="left").get_column("k")
    return [distinct.get_column(c).to_numpy() for c in rows.columns], index.cast(pl.Int64).to_numpy()


def _dense_codes(key: np.ndarray, space: int) -> tuple[list[np.ndarray], np.ndarray]:
    """_codes of integer keys in [0, space): the keys present, sorted, and each row's rank among them."""
    present = np.zeros(space, dtype=bool)
    present[key] = True
    keys = np.flatnonzero(present)
    rank = np.empty(space, dtype=np.int64)
    rank[keys] = np.arange(len(keys))
    return [keys], rank[key]


def _mixed_radix(indexes: list[np.ndarray], sizes: list[int]) -> np.ndarray:
    """One integer key per row from its index into each column's distinct values (digits in
    mixed radix: the keys sort as the rows do)."""
    key = np.zeros(len(indexes[0]), dtype=np.int64)
    for size, index in zip(sizes, indexes, strict=True):
        key = key * size + index
    return key


def _split_radix(keys: np.ndarray, sizes: list[int]) -> list[np.ndarray]:
    """_mixed_radix undone: each column's index from the keys."""
    indexes = []
    for size in reversed(sizes):
        keys, index = np.divmod(keys, size)
        indexes.append(index)
    return indexes[::-1]


def _compress(*columns: np.ndarray, key_limit: int = 2**63) -> tuple[list[np.ndarray], list[np.ndarray], np.ndarray]:
    """Customers sharing the values of every column are one weighted row of the likelihood.

    → each column's distinct values, each distinct row's index into them, and how many customers
    share it. The rows are found through one integer key per customer (the column codes in mixed
    radix), so the result is in key order whatever the order of the customers.
    """
    coded = [_codes(c) for c in columns]
    distincts = [distinct for (distinct,), _ in coded]
    sizes = [len(distinct) for distinct in distincts]
    if math.prod(sizes) >= key_limit:  # whole days keep it far below 2^63; just in case
        rows = pl.DataFrame({f"c{i}": index for i, (_, index) in enumerate(coded)})
        grouped = rows.group_by(rows.columns).len().sort(rows.columns)
        return distincts, [grouped.get_column(c).to_numpy() for c in rows.columns], grouped.get_column("len").to_numpy().astype(float)
    keys, counts = np.unique(_mixed_radix([index for _, index in coded], sizes), return_counts=True)
    return distincts, _split_radix(keys, sizes), counts.astype(float)


def _bgnbd_data(
    xs: np.ndarray, txs: np.ndarray, ts: np.ndarray, x_index: np.ndarray, tx_index: np.ndarray, t_index: np.ndarray,
    w: np.ndarray,
) -> tuple:  # fmt: skip
    """Everything of BG/NBD's likelihood that does not depend on the parameters: the distinct
    values of x, t_x and T (few: whole days), the total weights of each x and each T (the terms
    linear in a function of T are summed per distinct T), and the rows of repeat buyers with
    their indexes (only they have a dropout branch)."""
    x = xs[x_index]
    wx = np.bincount(x_index, weights=w, minlength=len(xs))
    w_t = np.bincount(t_index, weights=w, minlength=len(ts))
    wx_t = np.bincount(t_index, weights=w * x, minlength=len(ts))
    repeat = x > 0
    rows = (x[repeat], w[repeat], x_index[repeat], t_index[repeat], tx_index[repeat])
    return xs, wx, ts, w_t, wx_t, txs, rows


def _bgnbd_negll(theta: np.ndarray, data: tuple) -> tuple[float, np.ndarray]:
    """−log-likelihood of BG/NBD and its gradient with respect to log(r, α, a, b).

    Per customer: ll = A(x) − (r+x) ln(α+T) + ln(1 + e^d), with
    d = ln a − ln(b+x−1) + (r+x) (ln(α+T) − ln(α+t_x)) for x > 0 (e^d = 0 for x = 0) and
    A(x) = lnΓ(r+x) − lnΓ(r) + r ln α + ln B(a, b+x) − ln B(a, b). A(x) is summed per distinct x
    and (r+x) ln(α+T) per distinct T; the dropout branch e^d is what remains per row, on the
    repeat buyers' rows only: a few gathers, one exp and one log1p.
    """
    xs, wx, ts, w_t, wx_t, txs, (x, w, x_index, t_index, tx_index) = data
    r, alpha, a, b = np.exp(theta)
    gx = (
        special.gammaln(r + xs) - special.gammaln(r) + r * np.log(alpha)
        + special.gammaln(a + b) + special.gammaln(b + xs) - special.gammaln(b) - special.gammaln(a + b + xs)
    )  # fmt: skip
    log_at, inv_at = np.log(alpha + ts), 1.0 / (alpha + ts)  # per distinct T
    log_atx, inv_atx = np.log(alpha + txs), 1.0 / (alpha + txs)  # per distinct t_x
    with np.errstate(divide="ignore", invalid="ignore"):  # x = 0 with b < 1: never gathered below
        log_odds = np.log(a) - np.log(b + xs - 1)
        inv_bx1 = 1.0 / (b + xs - 1)
    weight_t = r * w_t + wx_t  # Σ w (r + x) per distinct T
    # the repeat buyers' rows
    rx = r + x
    gap = log_at[t_index] - log_atx[tx_index]
    e = np.exp(log_odds[x_index] + rx * gap)
    w4 = w * (e / (1.0 + e))  # weight × P(dropped out after the last purchase | the row)
    ll = float(wx @ gx + w @ np.log1p(e) - weight_t @ log_at)

    psi_r, psi_b, psi_ab = special.digamma(r), special.digamma(b), special.digamma(a + b)
    d_r = wx @ (special.digamma(r + xs) - psi_r + np.log(alpha)) + w4 @ gap - w_t @ log_at
    d_alpha = wx.sum() * r / alpha - weight_t @ inv_at - (w4 * rx) @ (inv_atx[tx_index] - inv_at[t_index])
    d_a = wx @ (psi_ab - special.digamma(a + b + xs)) + w4.sum() / a
    d_b = wx @ (psi_ab + special.digamma(b + xs) - psi_b - special.digamma(a + b + xs)) - w4 @ inv_bx1[x_index]
    return -ll, -np.array([d_r * r, d_alpha * alpha, d_a * a, d_b * b])


def fit_bgnbd(
    summary: Frame,
    *,
    frequency: str = "frequency",
    recency: str = "recency",
    T: str = "T",
    unit: str = "W",
    start: BGNBD | None = None,
) -> BGNBD:
    """Maximum-likelihood BG/NBD (Fader, Hardie & Lee 2005) on an RFM summary.

    summary (frequency, recency, T) → BGNBD(r, alpha, a, b, log_likelihood). On the CDNOW
    summary this gives r = 0.242593, α = 4.413532, a = 0.792886, b = 2.425752, LL = −9582.43.
    Raises ValueError on an empty summary (nothing to fit). `start`: a fit to start the search
    from (a group's model from the pooled one), else a generic starting point.
    """
    x, t_x, big_t = _columns(summary, frequency, recency, T)
    if x.size == 0:
        raise ValueError("cannot fit BG/NBD: the summary has no customers")
    (xs, txs, ts), rows, w = _compress(x, t_x, big_t)
    start = (
        np.log([start.r, start.alpha, start.a, start.b])
        if start is not None and min(start.r, start.alpha, start.a, start.b) > 0
        else np.log([0.5, max(float(big_t.mean()), 1.0), 1.0, 2.0])
    )
    best = _maximise(_bgnbd_negll, functools.partial(_bgnbd_data, xs, txs, ts), tuple(rows), w, start=start)
    r, alpha, a, b = np.exp(best.x)
    return BGNBD(
        float(r), float(alpha), float(a), float(b), float(best.log_likelihood), int(w.sum()),
        bool(best.success), unit,
    )  # fmt: skip


# ---------------------------------------------------------------- Gamma-Gamma


@dataclass(frozen=True)
class GammaGamma:
    """Fitted Gamma-Gamma spend model; `v` is the paper's γ. `excluded` counts the customers
    left out (no repeat purchase or non-positive spend)."""

    p: float
    q: float
    v: float
    log_likelihood: float
    customers: int
    excluded: int
    converged: bool

    def conditional_expected_value(self, frequency: np.ndarray, monetary: np.ndarray) -> np.ndarray:
        """E(M | x, z̄) = (p (γ + x z̄)) / (p x + q − 1) (Fader & Hardie 2013, eq. 8); for x = 0
        it is the population mean p γ / (q − 1)."""
        x = np.asarray(frequency, float)
        z = np.nan_to_num(np.asarray(monetary, float), nan=0.0)
        return self.p * (self.v + x * z) / (self.p * x + self.q - 1)


def _gg_data(x: np.ndarray, z: np.ndarray, w: np.ndarray) -> tuple:
    """Everything of Gamma-Gamma's likelihood that does not depend on the parameters."""
    (xs,), index = _codes(x)
    wx = np.bincount(index, weights=w, minlength=len(xs))
    return (x * z, w, w * x, float(w @ np.log(z)), float((w * x) @ np.log(z)), xs, wx)


def _gg_negll(theta: np.ndarray, data: tuple) -> tuple[float, np.ndarray]:
    """−log-likelihood of Gamma-Gamma and its gradient with respect to log(p, q, γ).

    ll = Σ lnΓ(px+q) − lnΓ(px) − lnΓ(q) + q ln γ + (px − 1) ln z̄ + px ln x − (px+q) ln(γ + x z̄).
    The gamma-function terms depend on x alone and are evaluated once per distinct x; the only
    per-customer work left is ln(γ + x z̄) and 1 / (γ + x z̄).
    """
    xz, w, w_x, sum_log_z, sum_x_log_z, xs, wx = data
    p, q, v = np.exp(theta)
    pxs = p * xs
    log_vxz = np.log(v + xz)
    inv_vxz = 1.0 / (v + xz)
    sum_wx_log_vxz, sum_w_log_vxz = w_x @ log_vxz, w @ log_vxz
    ll = (
        wx @ (special.gammaln(pxs + q) - special.gammaln(pxs) - special.gammaln(q) + q * np.log(v) + pxs * np.log(xs))
        + p * sum_x_log_z - sum_log_z - p * sum_wx_log_vxz - q * sum_w_log_vxz
    )  # fmt: skip
    psi = special.digamma(pxs + q)
    d_p = wx @ (xs * (psi - special.digamma(pxs) + np.log(xs))) + sum_x_log_z - sum_wx_log_vxz
    d_q = wx @ (psi - special.digamma(q) + np.log(v)) - sum_w_log_vxz
    d_v = wx.sum() * q / v - p * (w_x @ inv_vxz) - q * (w @ inv_vxz)
    return -float(ll), -np.array([d_p * p, d_q * q, d_v * v])


@dataclass(frozen=True)
class _Fit:
    x: np.ndarray
    log_likelihood: float
    success: bool


@functools.cache
def _blas():
    """threadpoolctl's controller of the BLAS libraries NumPy and SciPy loaded, found once: finding
    them reads the process's memory map, 1–2 ms that every one of the per-group fits paid."""
    from scipy import optimize  # noqa: F401  (loads SciPy's own BLAS before the lookup)
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()


WARM_ROWS = 50_000  # the subsample that finds a fit's starting point and curvature (see _maximise)


def _maximise(negll, prepare, columns: tuple, weights: np.ndarray, *, start: np.ndarray) -> _Fit:
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
    """_maximise's search itself."""
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
        with _blas().limit(limits=1, user_api="blas"):
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


def fit_gamma_gamma(
    summary: Frame,
    *,
    frequency: str = "frequency",
    monetary_value: str = "monetary_value",
    start: GammaGamma | None = None,
) -> GammaGamma:
    """Maximum-likelihood Gamma-Gamma (Fader & Hardie 2013) on customers with frequency > 0 and
    monetary_value > 0; the others are excluded and counted. On the 946 CDNOW repeat customers:
    p = 6.25, q = 3.74, γ = 15.44. Raises ValueError when no customer qualifies. `start`: a fit
    to start the search from (a group's model from the pooled one)."""
    x, z = _columns(summary, frequency, monetary_value)
    usable = (x > 0) & np.isfinite(z) & (z > 0)
    excluded = int((~usable).sum())
    if not usable.any():
        raise ValueError(
            "cannot fit Gamma-Gamma: no customer has a repeat purchase with a positive amount"
        )
    # Spend averages are nearly all distinct: compressing would cost more than it saves
    x, z = x[usable], z[usable]
    first = (
        np.log([start.p, start.q, start.v])
        if start is not None and min(start.p, start.q, start.v) > 0
        else np.log([1.0, 2.0, max(float(z.mean()), 1.0)])
    )
    best = _maximise(_gg_negll, _gg_data, (x, z), np.ones(len(x)), start=first)
    p, q, v = np.exp(best.x)
    return GammaGamma(
        float(p), float(q), float(v), float(best.log_likelihood), len(x), excluded, bool(best.success)
    )


# ---------------------------------------------------------------- predictions


def predict_clv(
    summary: pl.DataFrame,
    bgnbd: BGNBD,
    gamma_gamma: GammaGamma | None,
    *,
    months: int = 12,
    monthly_discount: float = 0.01,
    unit: str = "W",
) -> pl.DataFrame:
    """summary → customer_id, frequency, recency, T, monetary_value, p_alive,
    expected_purchases (over the horizon), expected_value (per purchase), clv.

    CLV = Σ_m (E[purchases by month m] − E[purchases by month m−1]) × E(M) / (1 + d)^m for
    m = 1…months (METRICS.md: monthly discounting, default 1%, 12 months). Without a Gamma-Gamma
    fit the expected value is each customer's own mean spend (0 for one-time buyers).
    """
    unit_days = _unit_days(unit)
    x, t_x, big_t = (
        summary.get_column(c).cast(pl.Float64).to_numpy() for c in ("frequency", "recency", "T")
    )
    monetary = summary.get_column("monetary_value").cast(pl.Float64).fill_null(0.0).to_numpy()
    # The hypergeometric part depends on (x, T) only: evaluate it once per distinct pair (far
    # fewer than customers), gather it back, and divide by each customer's own dropout odds.
    (ux, uT), index = _codes(x, big_t)
    dropout = 1 + bgnbd._core(x, t_x, big_t)  # 1 / P(alive)
    # Σ_m discount_m · (potential_m − potential_{m−1}) per distinct pair, then one gather: the
    # customer's own 1 / dropout factor is common to every month.
    potential = np.vstack(
        [np.zeros(len(ux))]
        + [bgnbd.purchase_potential(m * DAYS_PER_MONTH / unit_days, ux, uT) for m in range(1, months + 1)]
    )  # (months + 1) × distinct pairs
    discount = np.array([(1 + monthly_discount) ** -m for m in range(1, months + 1)])
    discounted_potential = discount @ np.diff(potential, axis=0)
    discounted = discounted_potential[index] / dropout
    expected_purchases = potential[-1][index] / dropout
    spend = (
        gamma_gamma.conditional_expected_value(x, monetary) if gamma_gamma is not None else monetary
    )
    return summary.with_columns(
        p_alive=pl.Series(1.0 / dropout),
        expected_purchases=pl.Series(expected_purchases),
        expected_value=pl.Series(spend),
        clv=pl.Series(discounted * spend),
    )


def holdout_check(
    orders: Frame,
    *,
    calibration_end: dt.date | str,
    observation_end: dt.date | str,
    unit: str = "W",
) -> dict[str, object]:
    """Fit BG/NBD on orders up to `calibration_end`, predict each customer's purchases (distinct
    purchase days) in (calibration_end, observation_end] and compare with what happened.

    → {"model": BGNBD, "customers", "predicted", "actual" (totals), "mae" (per customer),
       "by_frequency": frame frequency (calibration, capped at 7), customers, predicted, actual}.
    """
    calibration, observation = rfm_summaries(orders, as_of=[calibration_end, observation_end], unit=unit)
    return holdout_from_summaries(
        calibration, observation, calibration_end=calibration_end, observation_end=observation_end, unit=unit
    )


def holdout_from_summaries(
    calibration: pl.DataFrame,
    observation: pl.DataFrame,
    *,
    calibration_end: dt.date | str,
    observation_end: dt.date | str,
    unit: str = "W",
) -> dict[str, object]:
    """holdout_check on RFM summaries at the calibration and observation ends (rfm_summaries
    gives both in one pass; the dashboard's model already needs the second). A customer's actual
    purchases in between are the difference of their frequencies: purchase days up to the
    observation end minus those up to the calibration end."""
    cal_end, obs_end = as_date(calibration_end), as_date(observation_end)
    if obs_end <= cal_end:
        raise ValueError(f"the observation end ({obs_end}) must come after the calibration end ({cal_end})")
    model = fit_bgnbd(calibration, unit=unit)
    horizon = (obs_end - cal_end).days / _unit_days(unit)
    x, t_x, big_t = (calibration.get_column(c).to_numpy() for c in ("frequency", "recency", "T"))
    compared = (
        calibration.select("customer_id", "frequency")
        .with_columns(predicted=pl.Series(model.expected_purchases(horizon, x, t_x, big_t)))
        .join(observation.select("customer_id", later="frequency"), on="customer_id", how="left")
        .with_columns(actual=(pl.col("later") - pl.col("frequency")).cast(pl.Float64))
    )
    by_frequency = (
        compared.group_by(frequency=pl.col("frequency").clip(upper_bound=7))
        .agg(
            customers=pl.len(), predicted=pl.col("predicted").mean(), actual=pl.col("actual").mean()
        )
        .sort("frequency")
    )
    return {
        "model": model,
        "customers": compared.height,
        "predicted": float(compared.get_column("predicted").sum()),
        "actual": float(compared.get_column("actual").sum()),
        "mae": float(
            (compared.get_column("predicted") - compared.get_column("actual")).abs().mean()
        ),
        "by_frequency": by_frequency,
    }


def validated_model(
    calibration: pl.DataFrame,
    summary: pl.DataFrame,
    *,
    calibration_end: dt.date | str,
    observation_end: dt.date | str,
    unit: str = "W",
    months: int = 12,
    monthly_discount: float = 0.01,
) -> dict[str, object]:
    """The predictive model with its check, as the lifetime-value page shows it: BG/NBD and
    Gamma-Gamma fitted on `summary` (the RFM summary at `observation_end`), each customer's CLV
    (predict_clv), and holdout_from_summaries(calibration, summary).

    → {"bgnbd", "gamma_gamma", "clv", "holdout"}. Gamma-Gamma and then the check's own BG/NBD
    fit run in a second thread while BG/NBD is fitted: a fit is NumPy work on one core that
    releases the GIL, so on two cores the check adds little to the model's time. A ValueError of
    any fit is raised as from the single calls.
    """
    # One BLAS thread for both fits, set once here: each fit's own limit, set and restored by two
    # threads interleaved, could otherwise leave the process at the wrong setting.
    with _blas().limit(limits=1, user_api="blas"), ThreadPoolExecutor(max_workers=1) as pool:
        # the short Gamma-Gamma fit first, so that it is ready when BG/NBD is and the CLV can go on
        spend = pool.submit(fit_gamma_gamma, summary)
        check = pool.submit(
            holdout_from_summaries, calibration, summary, calibration_end=calibration_end,
            observation_end=observation_end, unit=unit,
        )  # fmt: skip
        bgnbd = fit_bgnbd(summary, unit=unit)
        gamma_gamma = spend.result()
        clv = predict_clv(summary, bgnbd, gamma_gamma, months=months, monthly_discount=monthly_discount, unit=unit)
        holdout = check.result()
    return {"bgnbd": bgnbd, "gamma_gamma": gamma_gamma, "clv": clv, "holdout": holdout}


# ---------------------------------------------------------------- historical and simple LTV


def _margin(orders: pl.LazyFrame, margin_rate: float) -> pl.Expr:
    if "gross_margin" in orders.collect_schema().names():
        return pl.coalesce(pl.col("gross_margin"), pl.col("amount") * margin_rate)
    return pl.col("amount") * margin_rate


def historical_value(
    orders: Frame, *, as_of: dt.date | dt.datetime | str, margin_rate: float = 1.0
) -> pl.DataFrame:
    """orders → customer_id, revenue, margin, orders: totals to the as-of date per customer.
    Margin is gross_margin where present, else amount × margin_rate (DATA_CONTRACT.md)."""
    frame = lazy(orders)
    end = as_date(as_of)
    return sorted_by_id(
        frame.filter(day("order_date") <= end)
        .group_by("customer_id")
        .agg(
            revenue=pl.col("amount").sum(),
            margin=_margin(frame, margin_rate).sum(),
            orders=pl.len().cast(pl.Int64),
        )
    )


def ltv_cac(
    values: pl.DataFrame,
    customers: Frame,
    *,
    value: str = "margin",
    by: str | list[str] = "tier",
) -> pl.DataFrame:
    """values (customer_id, value) + customers (acquisition_cost, by) → by, customers, mean_ltv,
    mean_cac, ltv_cac (mean LTV / mean CAC; null where no acquisition cost is known)."""
    keys = [by] if isinstance(by, str) else list(by)
    joined = (
        lazy(customers)
        .select("customer_id", "acquisition_cost", *keys)
        .join(
            values.lazy().select("customer_id", pl.col(value).alias("ltv")),
            on="customer_id",
            how="inner",
        )
    )
    return (
        joined.group_by(keys)
        .agg(
            customers=pl.len().cast(pl.Int64),
            mean_ltv=pl.col("ltv").mean(),
            mean_cac=pl.col("acquisition_cost").mean(),
        )
        .with_columns(
            ltv_cac=pl.when(pl.col("mean_cac") > 0).then(pl.col("mean_ltv") / pl.col("mean_cac"))
        )
        .sort(keys)
        .collect()
    )


def simple_ltv(
    orders: Frame,
    *,
    start: dt.date,
    end: dt.date,
    churn_window_days: int = 90,
    customers: Frame | None = None,
    margin_rate: float = 1.0,
    spells: pl.DataFrame | None = None,
) -> dict[str, float | int | None]:
    """Simple LTV (METRICS.md) = average monthly margin per active customer / monthly churn rate,
    over the period [start, end].

    monthly margin per customer = margin in the period / customers who bought in it / months;
    monthly churn = 1 − (1 − period churn)^(1 / months), period churn = customers active on the day
    before the period who lapsed during it / those active (point in time, metrics.activity, as of
    `end`). `spells`: activity.spells as of `end` when the caller has them. ltv is None without churn.
    """
    from metrics import activity

    frame = lazy(orders)
    if spells is None:
        spells = activity.spells(frame, as_of=end, churn_window_days=churn_window_days, customers=customers)
    in_period = frame.filter((day("order_date") >= start) & (day("order_date") <= end))
    margin, buyers = in_period.select(_margin(frame, margin_rate).sum(), pl.col("customer_id").n_unique()).collect().row(0)
    churned, active_at_start = activity.period_churn(spells, start, end)
    months = ((end - start).days + 1) / DAYS_PER_MONTH
    out: dict[str, float | int | None] = {
        "buyers": buyers, "active_at_start": active_at_start, "churned": churned,
        "monthly_margin_per_customer": margin / buyers / months if buyers else None,
        "monthly_churn_rate": None, "ltv": None,
    }  # fmt: skip
    if active_at_start and churned:
        monthly_churn = 1 - (1 - churned / active_at_start) ** (1 / months)
        out["monthly_churn_rate"] = monthly_churn
        if out["monthly_margin_per_customer"] is not None and monthly_churn > 0:
            out["ltv"] = out["monthly_margin_per_customer"] / monthly_churn
    return out


def acquisition_vs_retention_cost(
    orders: Frame,
    customers: Frame,
    *,
    start: dt.date,
    end: dt.date,
    tickets: Frame | None = None,
    interactions: Frame | None = None,
    cost_per_ticket: float | None = None,
    cost_per_interaction: float | None = None,
    churn_window_days: int = 90,
    spells: pl.DataFrame | None = None,
) -> dict[str, float | int | str | None]:
    """CAC per new customer vs what keeping a customer costs, in the period [start, end].

    cac = mean acquisition_cost of customers whose first purchase falls in the period;
    retention_cost = (tickets × cost per ticket + interactions × cost per interaction) of the
    customers retained through the period (bought before it, still active on its last day) / their
    number. None where the cost data is missing (no acquisition_cost, no cost settings).
    `spells`: metrics.activity.spells as of `end` when the caller has them (as for simple_ltv).
    """
    from metrics import activity

    if spells is None:
        spells = activity.spells(orders, as_of=end, churn_window_days=churn_window_days, customers=customers)
    first = activity.first_purchases(spells)
    new = first.filter(pl.col("first_purchase").is_between(start, end)).select("customer_id")
    active = spells.filter(activity.active_on_day(end))
    retained = (
        first.filter(pl.col("first_purchase") < start).join(active.select("customer_id"), on="customer_id", how="semi")
        .select("customer_id")
    )  # fmt: skip
    frame = lazy(customers)
    cac = None
    if "acquisition_cost" in frame.collect_schema().names():
        cac = frame.join(new.lazy(), on="customer_id", how="semi").select(pl.col("acquisition_cost").mean()).collect().item()
    spend, parts = 0.0, []
    for table, column, cost in ((tickets, "created_at", cost_per_ticket), (interactions, "occurred_at", cost_per_interaction)):
        if table is not None and cost:
            count = (
                lazy(table).filter(day(column).is_between(start, end))
                .join(retained.lazy(), on="customer_id", how="semi").select(pl.len()).collect().item()
            )  # fmt: skip
            spend += count * cost
            parts.append(f"{count:,} {'tickets' if column == 'created_at' else 'interactions'} × {cost:g}")
    per_retained = spend / retained.height if retained.height and parts else None
    return {
        "cac": cac, "new": new.height, "retention_cost": per_retained, "retained": retained.height,
        "basis": " + ".join(parts),
        "ratio": cac / per_retained if cac is not None and per_retained else None,
    }  # fmt: skip


def clv_backtest(
    orders: Frame, *, as_of: dt.date | dt.datetime | str, months: int = 12, unit: str = "W", days: PurchaseDays | None = None
) -> dict[str, object] | None:
    """How far to trust predicted value: the model fitted on the orders known `months` months
    before the as-of date, its predicted spend over the following `months` months (undiscounted,
    to compare with what happened) for the customers it knew, and their actual spend (refunds net)
    in those months. None when the model cannot be fitted on the earlier data.

    → as_of_then, customers, predicted (mean per customer), actual (mean per customer), error
    (predicted / actual − 1). `days`: the orders' purchase days (metrics.purchase_days) to the
    as-of date or later, when the caller has them."""
    end = as_date(as_of)
    then = add_months(end, -months)
    (summary,) = rfm_summaries(days if days is not None else orders, as_of=[then], unit=unit)
    if summary.height < 100 or summary.filter(pl.col("frequency") > 0).height < 20:
        return None
    try:
        model = fit_bgnbd(summary, unit=unit)
        spend = fit_gamma_gamma(summary)
    except ValueError:
        return None
    predicted = predict_clv(summary, model, spend, months=months, monthly_discount=0.0, unit=unit)
    d = day("order_date")
    actual = (
        lazy(orders).filter((d > then) & (d <= end)).group_by("customer_id").agg(actual=pl.col("amount").sum())
        .collect()
    )  # fmt: skip
    joined = predicted.select("customer_id", "clv").join(actual, on="customer_id", how="left").with_columns(
        pl.col("actual").fill_null(0.0)
    )
    mean_predicted, mean_actual = joined.get_column("clv").mean(), joined.get_column("actual").mean()
    return {
        "as_of_then": then, "customers": joined.height, "predicted": mean_predicted, "actual": mean_actual,
        "error": mean_predicted / mean_actual - 1 if mean_actual else None,
    }  # fmt: skip


#: A group gets a model of its own from this many repeat buyers on (METRICS.md: "enough").
MIN_REPEAT_BUYERS_PER_GROUP = 300
#: Customers a group's model is fitted on at most (a seeded sample of a larger group).
GROUP_FIT_SAMPLE = 20_000


def clv_by_group(summary: pl.DataFrame, groups: pl.DataFrame, *, by: str, pooled: pl.DataFrame, **options) -> pl.DataFrame:
    """CLV per customer from a BG/NBD and Gamma-Gamma model per group of `by` (tier, channel) where
    the group has at least `min_repeat_buyers` repeat buyers, else from the pooled model (`pooled`:
    predict_clv of the whole summary). A pooled model gives every one-time buyer the population's
    mean spend, whatever their group; a model per group gives them their group's.

    summary (RFM) + groups (customer_id, by) → customer_id, by, clv, model ("own" or "pooled").
    `options`: as clv_by_groups — `pooled_model`, `pooled_spend` (the pooled fits, each group's
    search starts from them), months, monthly_discount, unit, min_repeat_buyers.
    A group larger than GROUP_FIT_SAMPLE customers is fitted and predicted on a seeded sample of
    that many: its rows then stand for the group (its mean CLV, CLV:CAC). On the generated million
    customers the standard error of a tier's mean CLV from 20,000 of them is 0.4–0.8 % of it."""
    return clv_by_groups(summary, groups, by=[by], pooled=pooled, **options)[by]


def clv_by_groups(
    summary: pl.DataFrame,
    customers: Frame,
    *,
    by: Sequence[str],
    pooled: pl.DataFrame,
    pooled_model: BGNBD | None = None,
    pooled_spend: GammaGamma | None = None,
    months: int = 12,
    monthly_discount: float = 0.01,
    unit: str = "W",
    min_repeat_buyers: int = MIN_REPEAT_BUYERS_PER_GROUP,
) -> dict[str, pl.DataFrame]:
    """clv_by_group for each dimension of `by` (tier, channel), the customers' columns joined to
    the summary once. One dimension after the other: in threads they took longer (the fits are
    many small NumPy calls that hold the interpreter lock)."""
    labelled = summary.join(
        lazy(customers).select("customer_id", *by).collect(), on="customer_id", how="left", maintain_order="left"
    )

    def one_dimension(by: str) -> pl.DataFrame:
        parts = []
        named = labelled.with_columns(pl.col(by).cast(pl.String).fill_null("Unknown"))
        for (group,), whole in named.group_by(by, maintain_order=True):
            own = None
            part = whole.sample(n=GROUP_FIT_SAMPLE, seed=0) if whole.height > GROUP_FIT_SAMPLE else whole
            if whole.filter(pl.col("frequency") > 0).height >= min_repeat_buyers:
                try:
                    bg = fit_bgnbd(part, unit=unit, start=pooled_model)  # a group is near the whole
                    gg = fit_gamma_gamma(part, start=pooled_spend)
                    if bg.converged and gg.converged:  # only a converged fit is used (else the pooled model)
                        own = predict_clv(part, bg, gg, months=months, monthly_discount=monthly_discount, unit=unit)
                except ValueError:  # a group the models cannot fit: it keeps the pooled values
                    own = None
            if own is not None:
                parts.append(own.select("customer_id", "clv").with_columns(pl.lit(group).alias(by), model=pl.lit("own")))
            else:
                parts.append(
                    pooled.join(part.select("customer_id"), on="customer_id", how="semi").select("customer_id", "clv")
                    .with_columns(pl.lit(group).alias(by), model=pl.lit("pooled"))
                )  # fmt: skip
        return pl.concat(parts).select("customer_id", by, "clv", "model")

    return {d: one_dimension(d) for d in by}

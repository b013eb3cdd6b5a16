"""BG/NBD (Fader, Hardie & Lee 2005): the fitted model's predictions and its maximum-likelihood fit."""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
from scipy import special

from metrics.btyd.compress import compress_rows, distinct_codes
from metrics.btyd.fitting import maximise
from metrics.btyd.summary import float_columns, row_weights
from metrics.stats import Frame


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

    def dropout_odds(self, x: np.ndarray, t_x: np.ndarray, T: np.ndarray) -> np.ndarray:
        """a/(b+x−1) · ((α+T)/(α+t_x))^(r+x) for x > 0, else 0: the odds of having dropped out."""
        r, alpha, a, b = self.r, self.alpha, self.a, self.b
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            log_term = (
                np.log(a) - np.log(b + x - 1) + (r + x) * (np.log(alpha + T) - np.log(alpha + t_x))
            )
            return np.where(x > 0, np.exp(log_term), 0.0)

    def p_alive(self, x: np.ndarray, t_x: np.ndarray, T: np.ndarray) -> np.ndarray:
        """P(still active | x, t_x, T) (Fader, Hardie & Lee 2005, eq. 11)."""
        return 1.0 / (1.0 + self.dropout_odds(np.asarray(x, float), np.asarray(t_x, float), T))

    def expected_purchases(
        self, t: float, x: np.ndarray, t_x: np.ndarray, T: np.ndarray
    ) -> np.ndarray:
        """Expected purchases in the next `t` units given (x, t_x, T) (eq. 10). The hypergeometric
        part depends on (x, T) alone and is evaluated once per distinct pair."""
        x, t_x, T = (np.asarray(v, float) for v in (x, t_x, T))
        # whole purchase days make the distinct (x, T) pairs far fewer than customers
        (ux, uT), index = distinct_codes(x, T)
        return self.purchase_potential(t, ux, uT)[index] / (1 + self.dropout_odds(x, t_x, T))

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
    weights: str | None = None,
) -> BGNBD:
    """Maximum-likelihood BG/NBD (Fader, Hardie & Lee 2005) on an RFM summary.

    summary (frequency, recency, T) → BGNBD(r, alpha, a, b, log_likelihood). On the CDNOW
    summary this gives r = 0.242593, α = 4.413532, a = 0.792886, b = 2.425752, LL = −9582.43.
    Raises ValueError on an empty summary (nothing to fit). `start`: a fit to start the search
    from (a group's model from the pooled one), else a generic starting point. `weights`: a column
    saying how many customers each row stands for (a summary already compressed), else one each;
    customers sharing (x, t_x, T) are one weighted row in any case.
    """
    x, t_x, big_t = float_columns(summary, frequency, recency, T)
    if x.size == 0:
        raise ValueError("cannot fit BG/NBD: the summary has no customers")
    given = row_weights(summary, weights, len(x)) if weights is not None else None
    (xs, txs, ts), rows, w = compress_rows(x, t_x, big_t, weights=given)
    start = (
        np.log([start.r, start.alpha, start.a, start.b])
        if start is not None and min(start.r, start.alpha, start.a, start.b) > 0
        else np.log([0.5, max(float(big_t.mean()), 1.0), 1.0, 2.0])
    )
    best = maximise(_bgnbd_negll, functools.partial(_bgnbd_data, xs, txs, ts), tuple(rows), w, start=start)
    r, alpha, a, b = np.exp(best.x)
    return BGNBD(
        float(r), float(alpha), float(a), float(b), float(best.log_likelihood), int(w.sum()),
        bool(best.success), unit,
    )  # fmt: skip

"""Buy-till-you-die models of customer value (METRICS.md, "Lifetime value"): the RFM summary,
BG/NBD and Gamma-Gamma fitted by maximum likelihood, P(alive), discounted CLV, the holdout check,
the backtest and models per group. The business figures of lifetime value (historical value,
simple LTV, LTV:CAC) are in metrics.ltv.

BG/NBD and Gamma-Gamma are written here on NumPy/SciPy: the `lifetimes` package is unmaintained
and breaks on current NumPy/pandas. The likelihoods are the papers' (Fader, Hardie & Lee 2005;
Fader & Hardie 2013), maximised over log-parameters with L-BFGS-B and analytic gradients.

Modules: summary (RFM summaries), compress (customers sharing their values as one weighted row;
a fit's `weights=` column says how many customers a row stands for, as lifetimes' fit(…, weights=)),
fitting (the search shared by both models), bgnbd, gamma_gamma, clv (predictions and checks).
"""

from metrics.btyd.bgnbd import BGNBD, fit_bgnbd
from metrics.btyd.clv import (
    CHECK_SAMPLE,
    GROUP_FIT_SAMPLE,
    MIN_REPEAT_BUYERS_PER_GROUP,
    backtest_date,
    clv_backtest,
    clv_by_group,
    clv_by_groups,
    holdout_check,
    holdout_from_summaries,
    predict_clv,
    validated_model,
)
from metrics.btyd.gamma_gamma import GammaGamma, fit_gamma_gamma
from metrics.btyd.summary import UNIT_DAYS, rfm_summaries, rfm_summary

__all__ = [
    "BGNBD", "CHECK_SAMPLE", "GROUP_FIT_SAMPLE", "MIN_REPEAT_BUYERS_PER_GROUP", "UNIT_DAYS", "GammaGamma", "backtest_date",
    "clv_backtest",
    "clv_by_group", "clv_by_groups", "fit_bgnbd", "fit_gamma_gamma", "holdout_check", "holdout_from_summaries",
    "predict_clv", "rfm_summaries", "rfm_summary", "validated_model",
]  # fmt: skip

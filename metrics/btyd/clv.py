"""Predicted customer value from the fitted models: discounted CLV, the holdout check, the model
as the page shows it, the backtest a year back, and models per group (tier, channel)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import polars as pl

from metrics.btyd.bgnbd import BGNBD, fit_bgnbd
from metrics.btyd.compress import distinct_codes
from metrics.btyd.gamma_gamma import GammaGamma, fit_gamma_gamma
from metrics.btyd.summary import days_per_unit, rfm_summaries
from metrics.purchase_days import PurchaseDays
from metrics.stats import DAYS_PER_MONTH, Frame, add_months, as_date, by_customer, days_within, lazy
from metrics.threads import one_blas_thread

#: The holdout check and the backtest judge the model on a seeded sample of this many customers
#: where there are more. They say how far to trust the model, which the pooled fit on every
#: customer is: at a million customers five samples gave holdout errors of +16.1 to +17.2 % against
#: +16.3 % on all of them, and backtest errors of −12.6 to −13.5 % against −12.9 %; two fits on
#: every customer fewer took the lifetime-value family from 1.87-1.93 s to 1.62-1.69 s (same hour).
CHECK_SAMPLE = 100_000


def seeded_sample(population: int | np.ndarray, size: int) -> np.ndarray:
    """`size` of `population` (a count of rows, or the row numbers to draw from), drawn without
    replacement with a fixed seed (the same sample on every run), in ascending order."""
    return np.sort(np.random.default_rng(0).choice(population, size=size, replace=False))


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
    unit_days = days_per_unit(unit)
    x, t_x, big_t = (
        summary.get_column(c).cast(pl.Float64).to_numpy() for c in ("frequency", "recency", "T")
    )
    monetary = summary.get_column("monetary_value").cast(pl.Float64).fill_null(0.0).to_numpy()
    # The hypergeometric part depends on (x, T) only: evaluate it once per distinct pair (far
    # fewer than customers), gather it back, and divide by each customer's own dropout odds.
    (ux, uT), index = distinct_codes(x, big_t)
    dropout = 1 + bgnbd.dropout_odds(x, t_x, big_t)  # 1 / P(alive)
    # Σ_m discount_m · (potential_m − potential_{m−1}) per distinct pair, then one gather: the
    # customer's own 1 / dropout factor is common to every month. Undiscounted (the backtest) the
    # sum telescopes to the horizon's potential: one evaluation instead of one a month.
    horizon = bgnbd.purchase_potential(months * DAYS_PER_MONTH / unit_days, ux, uT)
    if monthly_discount == 0:
        discounted_potential = horizon
    else:
        potential = np.vstack(
            [np.zeros(len(ux))]
            + [bgnbd.purchase_potential(m * DAYS_PER_MONTH / unit_days, ux, uT) for m in range(1, months)]
            + [horizon]
        )  # (months + 1) × distinct pairs
        discount = np.array([(1 + monthly_discount) ** -m for m in range(1, months + 1)])
        discounted_potential = discount @ np.diff(potential, axis=0)
    discounted = discounted_potential[index] / dropout
    expected_purchases = horizon[index] / dropout
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

    → {"model": BGNBD, "customers", "of_customers", "predicted", "actual" (totals), "mae" (per
       customer), "by_frequency": frame frequency (calibration, capped at 7), customers, predicted,
       actual}, of a sample where there are many customers (holdout_from_summaries).
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
    observation end minus those up to the calibration end. Of more than CHECK_SAMPLE customers,
    a seeded sample of that many is checked: "customers" counts them, "of_customers" all."""
    cal_end, obs_end = as_date(calibration_end), as_date(observation_end)
    if obs_end <= cal_end:
        raise ValueError(f"the observation end ({obs_end}) must come after the calibration end ({cal_end})")
    everyone = calibration.height
    if everyone > CHECK_SAMPLE:
        calibration = calibration[seeded_sample(everyone, CHECK_SAMPLE)]
    model = fit_bgnbd(calibration, unit=unit)
    horizon = (obs_end - cal_end).days / days_per_unit(unit)
    x, t_x, big_t = (calibration.get_column(c).to_numpy() for c in ("frequency", "recency", "T"))
    compared = (
        calibration.select("customer_id", "frequency")
        .with_columns(predicted=pl.Series(model.expected_purchases(horizon, x, t_x, big_t)))
        .hstack(by_customer(observation.select("customer_id", later="frequency"), calibration))
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
        "of_customers": everyone,
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
    # threads interleaved, could otherwise leave the process at the wrong setting (and a fit run
    # with several BLAS threads could differ from the single call in the last digits).
    with one_blas_thread(), ThreadPoolExecutor(max_workers=1) as pool:
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


def backtest_date(as_of: dt.date | dt.datetime | str, months: int = 12) -> dt.date:
    """The day clv_backtest fits its model on the orders known by: `months` months before the as-of date."""
    return add_months(as_date(as_of), -months)


def clv_backtest(
    orders: Frame,
    *,
    as_of: dt.date | dt.datetime | str,
    months: int = 12,
    unit: str = "W",
    days: PurchaseDays | None = None,
    summary: pl.DataFrame | None = None,
) -> dict[str, object] | None:
    """How far to trust predicted value: the model fitted on the orders known `months` months
    before the as-of date, its predicted spend over the following `months` months (undiscounted,
    to compare with what happened) for the customers it knew, and their actual spend (refunds net)
    in those months. None when the model cannot be fitted on the earlier data.

    → as_of_then, customers, of_customers, predicted (mean per customer), actual (mean per
    customer), error (predicted / actual − 1): of more than CHECK_SAMPLE customers known then, a
    seeded sample of that many is fitted and compared ("customers"; "of_customers": all of them).
    `days`: the orders' purchase days (metrics.purchase_days) to the as-of date or later, when the
    caller has them; `summary`: the RFM summary (in `unit`) as of backtest_date(as_of, months),
    when the caller has it (rfm_summaries gives it beside the model's own in the same pass)."""
    end = as_date(as_of)
    then = backtest_date(end, months)
    if summary is None:
        (summary,) = rfm_summaries(days if days is not None else orders, as_of=[then], unit=unit)
    if summary.height < 100 or summary.filter(pl.col("frequency") > 0).height < 20:
        return None
    everyone = summary.height
    if everyone > CHECK_SAMPLE:
        summary = summary[seeded_sample(everyone, CHECK_SAMPLE)]
    try:
        model = fit_bgnbd(summary, unit=unit)
        spend = fit_gamma_gamma(summary)
    except ValueError:
        return None
    predicted = predict_clv(summary, model, spend, months=months, monthly_discount=0.0, unit=unit)
    # their actual spend: only its mean is compared, so one sum over their orders in the year,
    # not a table per customer (is_in: half a semi-join's time at a million customers)
    frame = lazy(orders)
    spent = (
        frame.filter(days_within(frame, "order_date", then + dt.timedelta(days=1), end)
                     & pl.col("customer_id").is_in(predicted.get_column("customer_id").implode()))
        .select(pl.col("amount").sum()).collect().item()
    )  # fmt: skip
    mean_predicted, mean_actual = predicted.get_column("clv").mean(), (spent or 0.0) / predicted.height
    return {
        "as_of_then": then, "customers": predicted.height, "of_customers": everyone, "predicted": mean_predicted,
        "actual": mean_actual,
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
    """clv_by_group for each dimension of `by` (tier, channel), the customers' columns looked up
    once. A dimension of one group (a slice of one tier) takes the pooled model as that group's
    own: it is fitted on every one of the group's customers. One dimension after the other, and
    the groups' fits one after the other: in threads they took longer (the fits are many small
    NumPy calls that hold the interpreter lock). A group's prediction, mostly the hypergeometric
    function, which lets the lock go, runs in a second thread while the next group is fitted."""
    labelled = summary.hstack(by_customer(lazy(customers).select("customer_id", *by).collect(), summary))

    def one_dimension(by: str, predictions: ThreadPoolExecutor) -> pl.DataFrame:
        parts = []
        # each group's rows by a code per customer, and a group's sample drawn from its row
        # numbers: only those rows are gathered (not the whole group, half a million rows for a
        # large tier, to keep twenty thousand of them)
        group_of = labelled.get_column(by).cast(pl.String).fill_null("Unknown")
        names = group_of.unique(maintain_order=True)
        code = group_of.replace_strict(names, pl.int_range(len(names), eager=True), return_dtype=pl.UInt32).to_numpy()
        repeat = labelled.get_column("frequency").to_numpy() > 0
        if len(names) == 1:  # one group of every customer (a slice of one tier): the pooled model is its own
            model = "own" if np.count_nonzero(repeat) >= min_repeat_buyers else "pooled"
            return pooled.select("customer_id", pl.lit(names[0]).alias(by), "clv", model=pl.lit(model))
        for number, group in enumerate(names):
            rows = np.flatnonzero(code == number)
            repeat_buyers = int(np.count_nonzero(repeat[rows]))
            if len(rows) > GROUP_FIT_SAMPLE:  # seeded: the same sample on every run
                rows = seeded_sample(rows, GROUP_FIT_SAMPLE)
            part = labelled[rows]
            own = None
            if repeat_buyers >= min_repeat_buyers:
                try:
                    bg = fit_bgnbd(part, unit=unit, start=pooled_model)  # a group is near the whole
                    gg = fit_gamma_gamma(part, start=pooled_spend)
                    if bg.converged and gg.converged:  # only a converged fit is used (else the pooled model)
                        own = predictions.submit(
                            predict_clv, part, bg, gg, months=months, monthly_discount=monthly_discount, unit=unit
                        )
                except ValueError:  # a group the models cannot fit: it keeps the pooled values
                    own = None
            parts.append((group, part, own))
        return pl.concat(
            own.result().select("customer_id", "clv").with_columns(pl.lit(group).alias(by), model=pl.lit("own"))
            if own is not None
            else pooled.join(part.select("customer_id"), on="customer_id", how="semi").select("customer_id", "clv")
            .with_columns(pl.lit(group).alias(by), model=pl.lit("pooled"))
            for group, part, own in parts
        ).select("customer_id", by, "clv", "model")  # fmt: skip

    with ThreadPoolExecutor(max_workers=1) as predictions:
        return {d: one_dimension(d, predictions) for d in by}


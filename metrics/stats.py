"""Intervals, small-sample flags, Kaplan–Meier and the shared frame helpers of the metric families.

Every rate the dashboard shows is a `Rate`: its value, numerator, denominator, a 95% interval and
whether it rests on fewer than 30 observations (METRICS.md). Kaplan–Meier lives here because three
families use it: customer survival (retention), response times with open tickets censored
(satisfaction) and the churn model's labels.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl

# scipy.special, not scipy.stats: the latter takes 1.4 s to import, a third of a cold page load
from scipy import special

Z95 = 1.959963984540054  # two-sided 95% normal quantile
SMALL_SAMPLE = 30  # METRICS.md: fewer observations than this is flagged "small sample"

Frame = pl.DataFrame | pl.LazyFrame


@dataclass(frozen=True)
class Rate:
    """A rate with what it is made of. `value`, `ci_low`, `ci_high` share one scale (`scale`:
    1 for a fraction, 100 for percent or NPS points); `value` is None when the denominator is 0."""

    value: float | None
    numerator: float
    denominator: float
    ci_low: float | None
    ci_high: float | None
    small_sample: bool
    scale: float = 1.0
    definition: str = ""
    parts: Mapping[str, float] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "value": self.value,
            "numerator": self.numerator,
            "denominator": self.denominator,
            "ci_low": self.ci_low,
            "ci_high": self.ci_high,
            "small_sample": self.small_sample,
        }


def wilson(successes: float, n: float, *, z: float = Z95) -> tuple[float | None, float | None]:
    """Wilson score interval of a proportion (fractions); (None, None) when n is 0.

    >>> [round(bound, 4) for bound in wilson(5, 10)]  # Newcombe (1998): 0.2366–0.7634
    [0.2366, 0.7634]
    """
    if n <= 0:
        return None, None
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def proportion(successes: float, n: float, *, scale: float = 1.0, definition: str = "") -> Rate:
    """successes / n with its Wilson interval, on `scale` (1 or 100)."""
    low, high = wilson(successes, n)
    return Rate(
        value=None if n <= 0 else scale * successes / n,
        numerator=float(successes),
        denominator=float(n),
        ci_low=None if low is None else scale * low,
        ci_high=None if high is None else scale * high,
        small_sample=n < SMALL_SAMPLE,
        scale=scale,
        definition=definition,
    )


def wilson_exprs(num: str, den: str, *, prefix: str = "") -> list[pl.Expr]:
    """The Wilson interval as Polars expressions over count columns (for per-group rates)."""
    n = pl.col(den).cast(pl.Float64)
    p = pl.col(num) / n
    z2 = Z95 * Z95
    denom = 1 + z2 / n
    centre = (p + z2 / (2 * n)) / denom
    half = Z95 * ((p * (1 - p) / n + z2 / (4 * n * n)).sqrt()) / denom
    valid = pl.col(den) > 0
    return [
        pl.when(valid).then((centre - half).clip(0.0, 1.0)).alias(f"{prefix}ci_low"),
        pl.when(valid).then((centre + half).clip(0.0, 1.0)).alias(f"{prefix}ci_high"),
    ]


def two_proportion_p(k1: float, n1: float, k2: float, n2: float) -> float | None:
    """Two-sided p-value of a difference between two proportions (pooled z-test)."""
    if n1 <= 0 or n2 <= 0:
        return None
    pooled = (k1 + k2) / (n1 + n2)
    se = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    if se == 0:
        return 1.0 if k1 / n1 == k2 / n2 else 0.0
    z = (k1 / n1 - k2 / n2) / se
    return float(2 * special.ndtr(-abs(z)))


def difference_p(value1: float, se1: float, value2: float, se2: float) -> float | None:
    """Two-sided p-value of a difference between two independent estimates with standard errors."""
    se = math.sqrt(se1 * se1 + se2 * se2)
    if not math.isfinite(se) or se == 0:
        return None
    return float(2 * special.ndtr(-abs(value1 - value2) / se))


# ---------------------------------------------------------------- frame helpers


DAYS_PER_MONTH = 365.25 / 12  # an average calendar month

#: An order with a negative amount is a refund: it counts in revenue, never as a purchase.
PURCHASE = pl.col("amount") >= 0


def cents(expr: pl.Expr) -> pl.Expr:
    """Money rounded to cents: sums of floats carry noise (172.48 vs 172.48000000000002) that
    would otherwise split equal values between ranks."""
    return expr.round(2)


def lazy(frame: Frame) -> pl.LazyFrame:
    """Every metric takes eager or lazy input; inside, everything is lazy until the edge."""
    return frame.lazy() if isinstance(frame, pl.DataFrame) else frame


def canonical(frame: Frame, renames: Mapping[str, str]) -> pl.LazyFrame:
    """Rename caller-named columns to the canonical names (`renames` maps canonical → given)."""
    swap = {given: canon for canon, given in renames.items() if given != canon}
    out = lazy(frame)
    return out.rename(swap) if swap else out


def code_rows(codes: np.ndarray, wanted: np.ndarray) -> np.ndarray:
    """The row of each of `wanted` in `codes` (distinct), −1 where it is not there. Both are the
    non-negative integer codes of a Categorical id, the same in every table: one array from code
    to row and a gather, instead of a hash join of millions of rows.

    >>> code_rows(np.array([7, 2, 5]), np.array([5, 3, 7, 7]))
    array([ 2, -1,  0,  0])
    """
    size = max(int(codes.max()) + 1 if len(codes) else 0, int(wanted.max()) + 1 if len(wanted) else 0)
    row = np.full(size, -1, dtype=np.int64)
    row[codes] = np.arange(len(codes))
    return row[wanted]


def coded(frame: pl.LazyFrame) -> pl.LazyFrame:
    """customer_id as Categorical, so that an id has one integer code in every table. (Polars
    forgets categories nothing refers to: codes agree between tables that are alive together.)"""
    if isinstance(frame.collect_schema()["customer_id"], pl.Categorical):
        return frame
    return frame.with_columns(pl.col("customer_id").cast(pl.String).cast(pl.Categorical))


def customer_code() -> pl.Expr:
    """A Categorical customer id's integer code, the same in every table (see coded)."""
    return pl.col("customer_id").to_physical().cast(pl.Int64)


def by_customer(table: pl.DataFrame, rows_of: pl.DataFrame) -> pl.DataFrame:
    """The columns of `table` (one row per customer) but its customer_id, for each row of
    `rows_of`, in its order; null where a customer is not in `table` — a left join's columns, with
    `table`'s ids distinct (a customers table: the importer rejects duplicates). Looked up by the
    ids' integer codes (code_rows) rather than hash-joining a million rows to a million (a
    customer's tier for a million rows: 0.10 → 0.05 s).

    >>> tiers = pl.DataFrame({"customer_id": ["x", "y", "z"], "tier": ["Gold", "Silver", None]})
    >>> by_customer(tiers, pl.DataFrame({"customer_id": ["z", "q", None, "x", "x"]}))["tier"].to_list()
    [None, None, None, 'Gold', 'Gold']
    """
    # both as Categorical at once: an id's code is the same in both only while the first cast's
    # categories are still held (forgotten, they can be given out again)
    table = coded(table.lazy().filter(pl.col("customer_id").is_not_null())).collect()
    wanted = coded(rows_of.lazy().select("customer_id")).collect()
    codes = wanted.select(customer_code().fill_null(-1)).to_series().to_numpy()  # −1: no id
    rows = np.where(codes < 0, -1, code_rows(table.select(customer_code()).to_series().to_numpy(), np.maximum(codes, 0)))
    values = table.drop("customer_id")
    # row −1, a customer not in `table` or a row without an id, is the null row appended last
    return pl.concat([values, values.clear(1)])[rows]


def sorted_by_id(frame: Frame, key: str = "customer_id") -> pl.DataFrame:
    """The frame, collected, in the text order of its id column — as frame.sort(key), faster.

    Why: a Categorical sorts by comparing its strings (0.1 s per million rows, paid by every
    per-customer table). Where the codes follow the text order of the ids — with_categorical_keys
    makes them so for a dataset's customers — sorting the codes gives the same rows in the same
    order in a fifth of the time. That is checked on the result (one pass); any other ids, String
    or Categorical, get the text sort.
    """
    out = lazy(frame).collect()
    if out.schema[key] == pl.Categorical:
        # a table read off sorted purchase days is in code order already: checked, not sorted again
        by_code = out if out.get_column(key).to_physical().is_sorted() else out.sort(pl.col(key).to_physical())
        if by_code.get_column(key).cast(pl.String).is_sorted():
            return by_code
    return out.sort(key)


def as_datetime(value: dt.date | dt.datetime | str) -> dt.datetime:
    """An as-of date as the end of that day when a plain date is given (events on it count)."""
    if isinstance(value, str):
        value = dt.date.fromisoformat(value)
    if isinstance(value, dt.datetime):
        return value
    return dt.datetime.combine(value, dt.time(23, 59, 59, 999999))


def as_date(value: dt.date | dt.datetime | str) -> dt.date:
    if isinstance(value, str):
        value = dt.date.fromisoformat(value)
    return value.date() if isinstance(value, dt.datetime) else value


def day(column: str) -> pl.Expr:
    """The calendar day of a Date or Datetime column."""
    return pl.col(column).cast(pl.Date)


def days_within(frame: Frame, column: str, start: dt.date | None = None, end: dt.date | None = None) -> pl.Expr:
    """A filter of `frame`: day(column) from `start` through `end` (both counted; None leaves
    that side open).

    Why not day(column) itself: casting ten million timestamps to their dates takes 0.03-0.05 s
    a pass, comparing the timestamps with midnights a tenth of that. A timestamp's day is on or
    before `end` when it comes before the midnight that follows `end`, and on or after `start`
    when it comes at or after `start`'s midnight. A zoned Datetime (whose days are its zone's)
    or a column of any other type is cast as before.

    >>> frame = pl.DataFrame({"at": [dt.datetime(2024, 1, 31, 23, 59), dt.datetime(2024, 2, 1)]})
    >>> frame.filter(days_within(frame, "at", end=dt.date(2024, 1, 31))).height
    1
    >>> frame.filter(days_within(frame, "at", start=dt.date(2024, 2, 1), end=dt.date(2024, 2, 1))).height
    1
    """
    dtype = lazy(frame).collect_schema()[column]
    exact = dtype == pl.Date or (isinstance(dtype, pl.Datetime) and dtype.time_zone is None)
    value = pl.col(column) if exact else day(column)
    conditions = []
    if start is not None:
        conditions.append(value >= pl.lit(start))
    if end is not None:
        if not exact:
            conditions.append(value <= pl.lit(end))
        elif end < dt.date.max:
            conditions.append(value < pl.lit(end + dt.timedelta(days=1)))
    return pl.all_horizontal(conditions) if conditions else pl.lit(True)


def closes_month(d: dt.date) -> bool:
    """Whether d is the last day of its month (a period ending on it ends with a whole month).

    >>> closes_month(dt.date(2024, 2, 29)), closes_month(dt.date(2023, 2, 28)), closes_month(dt.date(2024, 2, 28))
    (True, True, False)
    """
    return (d + dt.timedelta(days=1)).day == 1


def months_spanned(first: dt.date, last: dt.date) -> int:
    """Calendar months from `first`'s to `last`'s, both counted.

    >>> months_spanned(dt.date(2025, 11, 1), dt.date(2026, 2, 28))
    4
    """
    return (last.year - first.year) * 12 + last.month - first.month + 1


def first_of_month(d: dt.date, months: int = 0) -> dt.date:
    """The first day of the month `months` calendar months after d's (before it when negative)."""
    index = d.year * 12 + d.month - 1 + months
    return dt.date(index // 12, index % 12 + 1, 1)


def add_months(d: dt.date, months: int) -> dt.date:
    """The same day `months` calendar months later (earlier when negative); the month's last day
    when it is shorter (31 March − 1 month = 28 or 29 February).

    >>> add_months(dt.date(2024, 3, 31), -1), add_months(dt.date(2025, 3, 31), -1), add_months(dt.date(2024, 11, 15), 3)
    (datetime.date(2024, 2, 29), datetime.date(2025, 2, 28), datetime.date(2025, 2, 15))
    """
    first = first_of_month(d, months)
    last = first_of_month(first, 1) - dt.timedelta(days=1)
    return min(first + dt.timedelta(days=d.day - 1), last)


def month_start(expr: pl.Expr) -> pl.Expr:
    return expr.cast(pl.Date).dt.truncate("1mo")


def months_between(start: pl.Expr, end: pl.Expr) -> pl.Expr:
    """Whole calendar months from the month of `start` to the month of `end`."""
    return (end.dt.year().cast(pl.Int32) - start.dt.year().cast(pl.Int32)) * 12 + (
        end.dt.month().cast(pl.Int32) - start.dt.month().cast(pl.Int32)
    )


def scores(values: Any, column: str) -> pl.Series:
    """Survey scores from a Series, a sequence, or a frame's `column`; nulls dropped."""
    if isinstance(values, pl.LazyFrame):
        values = values.select(column).collect()
    if isinstance(values, pl.DataFrame):
        values = values.get_column(column)
    if not isinstance(values, pl.Series):
        values = pl.Series(column, list(values) if isinstance(values, Iterable) else [values])
    return values.drop_nulls().cast(pl.Float64)


# ---------------------------------------------------------------- Kaplan–Meier


def kaplan_meier(durations: np.ndarray, observed: np.ndarray) -> pl.DataFrame:
    """Kaplan–Meier survival with a 95% Greenwood band on the log(−log) scale.

    durations, observed (1 = event, 0 = censored) → time, at_risk, events, censored, survival,
    ci_low, ci_high: one row at time 0 and one per distinct duration (event or censoring), as
    lifelines' KaplanMeierFitter and R's survfit(conf.type = "log-log") report it. The band uses
    Greenwood's variance Σ d / (n (n − d)) transformed to log(−log S) so it stays inside [0, 1];
    where S is 1 or 0 the band collapses onto S.
    """
    durations = np.asarray(durations, dtype=float)
    observed = np.asarray(observed, dtype=bool)
    if durations.size == 0:
        return pl.DataFrame(
            schema={
                "time": pl.Float64,
                "at_risk": pl.Int64,
                "events": pl.Int64,
                "censored": pl.Int64,
                "survival": pl.Float64,
                "ci_low": pl.Float64,
                "ci_high": pl.Float64,
            }
        )
    times, inverse = np.unique(durations, return_inverse=True)
    events = np.bincount(inverse, weights=observed, minlength=times.size).astype(np.int64)
    removed = np.bincount(inverse, minlength=times.size).astype(np.int64)
    at_risk = durations.size - np.concatenate(([0], np.cumsum(removed)[:-1]))
    if times[0] != 0:  # a row at time 0, nobody removed yet
        times = np.concatenate(([0.0], times))
        events = np.concatenate(([0], events))
        removed = np.concatenate(([0], removed))
        at_risk = np.concatenate(([durations.size], at_risk))
    with np.errstate(divide="ignore", invalid="ignore"):
        survival = np.cumprod(1.0 - events / at_risk)
        greenwood = np.cumsum(
            np.where(at_risk > events, events / (at_risk * (at_risk - events)), 0.0)
        )
        log_s = np.log(survival)
        half = Z95 * np.sqrt(greenwood) / np.abs(log_s)
        low = np.exp(-np.exp(np.log(-log_s) + half))
        high = np.exp(-np.exp(np.log(-log_s) - half))
    flat = (survival >= 1.0) | (survival <= 0.0) | ~np.isfinite(half)
    low = np.where(flat, survival, low)
    high = np.where(flat, survival, high)
    return pl.DataFrame(
        {
            "time": times,
            "at_risk": at_risk,
            "events": events,
            "censored": removed - events,
            "survival": survival,
            "ci_low": low,
            "ci_high": high,
        }
    )


def km_quantile(curve: pl.DataFrame, q: float) -> float | None:
    """The smallest time at which survival has fallen to 1 − q or below (the q-quantile of the
    lifetime); None when the curve never gets there (too much censoring to say)."""
    hit = curve.filter(pl.col("survival") <= 1.0 - q + 1e-12)
    return None if hit.is_empty() else float(hit.get_column("time").min())


def logrank(durations: np.ndarray, observed: np.ndarray, groups: np.ndarray | pl.Series) -> dict[str, Any]:
    """Log-rank test that the groups share one survival curve (k groups, k − 1 degrees of freedom).

    At each event time j with n_j at risk and d_j events: expected events of group g are
    d_j n_gj / n_j, and the covariance of (observed − expected) is
    d_j (n_j − d_j) / (n_j − 1) · (n_gj / n_j) (δ_gh − n_hj / n_j). The statistic is the quadratic
    form of (O − E) over the first k − 1 groups; p from χ² with k − 1 degrees of freedom.
    """
    durations = np.asarray(durations, dtype=float)
    observed = np.asarray(observed, dtype=bool)
    # group codes through Polars: np.unique on a million strings sorts them, far slower (and a
    # Polars column is best passed as it is: a million strings through NumPy are Python objects)
    names = (groups if isinstance(groups, pl.Series) else pl.Series(groups)).cast(pl.String).fill_null("Unknown")
    labels = sorted(names.unique().to_list())
    codes = {name: i for i, name in enumerate(labels)}
    g = names.replace_strict(codes, return_dtype=pl.Int64).to_numpy()
    k = len(labels)
    if k < 2 or not observed.any():
        return {"statistic": None, "dof": max(k - 1, 0), "p_value": None, "groups": labels}
    times = np.unique(durations[observed])
    # at risk at time t: duration ≥ t; events at t: duration == t and observed
    # one binary search per subject, then counts per (group, time index) through one bincount each
    # (a search per group repeated the work k times)
    m = times.size + 1
    # a subject is at risk for every event time ≤ its duration: count per end index, reverse-cumsum
    ends = np.searchsorted(times, durations, side="right")
    at_end = np.bincount(g * m + ends, minlength=k * m).reshape(k, m)
    n_gt = np.cumsum(at_end[:, ::-1], axis=1)[:, ::-1][:, 1:].astype(float)
    # an observed duration is itself an event time: its index is ends − 1
    d_gt = np.bincount(g[observed] * m + ends[observed] - 1, minlength=k * m).reshape(k, m)[:, : times.size].astype(float)
    n_t = n_gt.sum(axis=0)
    d_t = d_gt.sum(axis=0)
    expected = (n_gt / n_t * d_t).sum(axis=1)
    obs = d_gt.sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        factor = np.where(n_t > 1, d_t * (n_t - d_t) / (n_t - 1), 0.0)
    share = n_gt / n_t
    cov = np.einsum("t,gt,ht->gh", factor, share, share) * -1.0
    cov[np.diag_indices(k)] += (factor * share).sum(axis=1)
    diff = (obs - expected)[:-1]
    statistic = float(diff @ np.linalg.pinv(cov[:-1, :-1]) @ diff)
    return {
        "statistic": statistic,
        "dof": k - 1,
        "p_value": float(special.chdtrc(k - 1, statistic)),  # χ² survival function
        "groups": labels,
        "observed": dict(zip(labels, obs.tolist(), strict=True)),
        "expected": dict(zip(labels, expected.tolist(), strict=True)),
    }


def binned(values: pl.Series, *, bins: int = 50, log: bool = False, smallest: float = 0.0) -> pl.DataFrame:
    """values → left, right, count: a histogram of `bins` equal-width bins (of log10 of the
    positive values when `log`), so a chart gets fifty bars instead of a million values.
    With `log`, values under `smallest` are left out too: a margin of 1e-14 (what is left of a
    refunded order in floating point) would otherwise stretch the axis over fourteen decades."""
    v = values.drop_nulls().cast(pl.Float64)
    if log:
        v = v.filter((v > 0) & (v >= smallest)).log10()
    v = v.filter(v.is_finite())
    if v.is_empty():
        return pl.DataFrame(schema={"left": pl.Float64, "right": pl.Float64, "count": pl.Int64})
    lo, hi = float(v.min()), float(v.max())
    width = (hi - lo) / bins if hi > lo else 1.0
    index = ((v - lo) / width).floor().clip(0, bins - 1).cast(pl.Int64)
    counts = index.value_counts(name="count").rename({index.name: "bin"})
    frame = pl.DataFrame({"bin": pl.int_range(0, bins if hi > lo else 1, eager=True)}).join(counts, on="bin", how="left")
    return frame.select(
        left=lo + pl.col("bin") * width, right=lo + (pl.col("bin") + 1) * width,
        count=pl.col("count").fill_null(0).cast(pl.Int64),
    )  # fmt: skip

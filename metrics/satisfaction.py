"""Satisfaction and quick response: NPS, CSAT, CES with intervals; first-response and resolution
times with open tickets censored; SLA compliance; complaints per 100 active customers; retention of
promoters, passives and detractors (METRICS.md, "Satisfaction").
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from typing import Any

import polars as pl

from metrics.purchase_days import PurchaseDays
from metrics.schema import DEFAULT_SLA_HOURS
from metrics.stats import (
    SMALL_SAMPLE,
    Z95,
    Frame,
    Rate,
    as_date,
    as_datetime,
    kaplan_meier,
    km_quantile,
    lazy,
    month_start,
    proportion,
    scores,
    wilson_exprs,
)

NPS_GROUPS = ("Promoter", "Passive", "Detractor")


def questions_asked(surveys: Frame, questions: tuple[str, ...] = ("nps", "csat", "ces")) -> dict[str, bool]:
    """Whether any survey holds an answer to each question (a column of the surveys table): a
    shop's reviews ask for a 1–5 score and never for NPS, and a question never asked has no figure
    to show, in any period.

    >>> questions_asked(pl.DataFrame({"nps": [None, None], "csat": [4, None]}))
    {'nps': False, 'csat': True, 'ces': False}
    """
    frame = lazy(surveys)
    asked = [q for q in questions if q in frame.collect_schema().names()]
    found = frame.select(pl.col(q).is_not_null().any() for q in asked).collect().row(0, named=True) if asked else {}
    return {q: bool(found.get(q)) for q in questions}


def nps(values: Any, *, column: str = "nps") -> Rate:
    """NPS = % promoters (9–10) − % detractors (0–6), on −100…100, with the 95% interval
    ±1.96 · sqrt((p₊ + p₋ − (p₊ − p₋)²) / n) (METRICS.md). `values`: a Series, a sequence or a
    frame with `column`; nulls are not responses."""
    s = scores(values, column)
    n = s.len()
    promoters = int((s >= 9).sum())
    detractors = int((s <= 6).sum())
    parts = {
        "promoters": promoters,
        "passives": n - promoters - detractors,
        "detractors": detractors,
    }
    if n == 0:
        return Rate(None, 0.0, 0.0, None, None, True, 100.0, "NPS: no responses", parts)
    p_plus, p_minus = promoters / n, detractors / n
    score = p_plus - p_minus
    se = math.sqrt(max(p_plus + p_minus - score * score, 0.0) / n)
    return Rate(
        value=100 * score,
        numerator=float(promoters - detractors),
        denominator=float(n),
        ci_low=max(-100.0, 100 * (score - Z95 * se)),
        ci_high=min(100.0, 100 * (score + Z95 * se)),
        small_sample=n < SMALL_SAMPLE,
        scale=100.0,
        definition="% promoters (9–10) − % detractors (0–6)",
        parts=parts,
    )


CSAT_SATISFIED = 4  # a CSAT answer of 4 or 5 (of 1–5) counts as satisfied


def csat_share(column: str = "csat") -> pl.Expr:
    """CSAT in percent as an aggregation (e.g. per month in a group-by): the share of the answers,
    nulls being none, that are satisfied; the same figure as csat().value."""
    return 100 * (pl.col(column) >= CSAT_SATISFIED).mean()


def csat(values: Any, *, column: str = "csat") -> Rate:
    """CSAT = responses of 4 or 5 / all responses × 100 (1–5 scale), Wilson interval."""
    s = scores(values, column)
    rate = proportion(
        int((s >= CSAT_SATISFIED).sum()),
        s.len(),
        scale=100.0,
        definition="responses of 4 or 5 / all responses (1–5)",
    )
    return Rate(**{**rate.__dict__, "parts": {"mean": s.mean() if s.len() else None}})


def ces(values: Any, *, column: str = "ces") -> Rate:
    """CES = responses of 5 or more / all responses × 100 (1–7 scale), Wilson interval; the mean
    score is in parts["mean"]."""
    s = scores(values, column)
    rate = proportion(
        int((s >= 5).sum()),
        s.len(),
        scale=100.0,
        definition="responses of 5–7 / all responses (1–7)",
    )
    return Rate(**{**rate.__dict__, "parts": {"mean": s.mean() if s.len() else None}})


def nps_group(column: str = "nps") -> pl.Expr:
    return (
        pl.when(pl.col(column) >= 9).then(pl.lit("Promoter"))
        .when(pl.col(column) >= 7).then(pl.lit("Passive"))
        .when(pl.col(column).is_not_null()).then(pl.lit("Detractor"))
    )  # fmt: skip


def nps_by(
    surveys: Frame, *, by: str | list[str] | None = None, period: str | None = None
) -> pl.DataFrame:
    """surveys → [by,] [period,] responses, promoters, detractors, nps, ci_low, ci_high,
    small_sample. period: a Polars truncation such as "1mo" or "1q" over responded_at."""
    keys = [by] if isinstance(by, str) else list(by or [])
    frame = lazy(surveys).filter(pl.col("nps").is_not_null())
    if period:
        frame = frame.with_columns(period=pl.col("responded_at").cast(pl.Date).dt.truncate(period))
        keys = [*keys, "period"]
    n = pl.col("responses")
    p_plus, p_minus = pl.col("promoters") / n, pl.col("detractors") / n
    score = p_plus - p_minus
    se = ((p_plus + p_minus - score * score).clip(lower_bound=0) / n).sqrt()
    grouped = frame.group_by(keys) if keys else frame.group_by(pl.lit(1).alias("_all"))
    return (
        grouped.agg(
            responses=pl.len().cast(pl.Int64),
            promoters=(pl.col("nps") >= 9).sum().cast(pl.Int64),
            detractors=(pl.col("nps") <= 6).sum().cast(pl.Int64),
        )
        .with_columns(
            nps=100 * score,
            ci_low=(100 * (score - Z95 * se)).clip(-100, 100),
            ci_high=(100 * (score + Z95 * se)).clip(-100, 100),
            small_sample=n < SMALL_SAMPLE,
        )
        .drop("_all", strict=False)
        .sort(keys or "responses")
        .collect()
    )


def score_distribution(surveys: Frame, *, column: str) -> pl.DataFrame:
    """→ score, responses, share: how many responses gave each score."""
    return (
        lazy(surveys)
        .filter(pl.col(column).is_not_null())
        .group_by(score=pl.col(column).cast(pl.Int64))
        .agg(responses=pl.len().cast(pl.Int64))
        .with_columns(share=pl.col("responses") / pl.col("responses").sum())
        .sort("score")
        .collect()
    )


def _hours(end: str, start: str = "created_at") -> pl.Expr:
    return (pl.col(end) - pl.col(start)).dt.total_seconds() / 3600


def response_times(
    tickets: Frame, *, as_of: dt.date | dt.datetime | str, by: str | list[str] | None = None
) -> pl.DataFrame:
    """tickets → [by,] tickets, answered, open_unanswered, first_response_median_h,
    first_response_p90_h, resolved, unresolved, resolution_median_h, resolution_p90_h.

    Times are in hours from created_at. A ticket without a response (or resolution) by the as-of
    date is censored at the as-of date — it still waits — and the median and p90 are read off the
    Kaplan–Meier curve, so open tickets pull the estimate up instead of silently vanishing. A
    quantile is null when too many tickets are still open to reach it.
    """
    end = as_datetime(as_of)
    keys = [by] if isinstance(by, str) else list(by or [])
    frame = (
        lazy(tickets)
        .filter(pl.col("created_at") <= end)
        .with_columns(
            pl.when(pl.col("first_response_at") <= end)
            .then(pl.col("first_response_at"))
            .alias("first_response_at"),
            pl.when(pl.col("resolved_at") <= end).then(pl.col("resolved_at")).alias("resolved_at"),
        )
        .with_columns(
            response_h=_hours("first_response_at").fill_null(
                (pl.lit(end) - pl.col("created_at")).dt.total_seconds() / 3600
            ),
            responded=pl.col("first_response_at").is_not_null(),
            resolution_h=_hours("resolved_at").fill_null(
                (pl.lit(end) - pl.col("created_at")).dt.total_seconds() / 3600
            ),
            resolved=pl.col("resolved_at").is_not_null(),
        )
        .collect()
    )
    if keys:
        frame = frame.with_columns(pl.col(keys).cast(pl.String).fill_null("Unknown"))
    groups = frame.partition_by(keys, as_dict=True, maintain_order=True) if keys else {(): frame}
    rows = []
    for key, part in sorted(groups.items(), key=lambda kv: tuple(str(k) for k in kv[0])):
        response = kaplan_meier(
            part.get_column("response_h").to_numpy(), part.get_column("responded").to_numpy()
        )
        resolution = kaplan_meier(
            part.get_column("resolution_h").to_numpy(), part.get_column("resolved").to_numpy()
        )
        answered = int(part.get_column("responded").sum())
        resolved = int(part.get_column("resolved").sum())
        rows.append({
            **dict(zip(keys, key, strict=True)),
            "tickets": part.height,
            "answered": answered,
            "open_unanswered": part.height - answered,
            "first_response_median_h": km_quantile(response, 0.5),
            "first_response_p90_h": km_quantile(response, 0.9),
            "resolved": resolved,
            "unresolved": part.height - resolved,
            "resolution_median_h": km_quantile(resolution, 0.5),
            "resolution_p90_h": km_quantile(resolution, 0.9),
        })  # fmt: skip
    schema = {k: pl.String for k in keys} | {
        "tickets": pl.Int64, "answered": pl.Int64, "open_unanswered": pl.Int64,
        "first_response_median_h": pl.Float64, "first_response_p90_h": pl.Float64,
        "resolved": pl.Int64, "unresolved": pl.Int64,
        "resolution_median_h": pl.Float64, "resolution_p90_h": pl.Float64,
    }  # fmt: skip
    return pl.DataFrame(rows, schema=schema)


def sla_compliance(
    tickets: Frame,
    *,
    as_of: dt.date | dt.datetime | str,
    sla_hours: Mapping[str, float] | None = None,
    by: str | list[str] | None = None,
) -> pl.DataFrame:
    """tickets → [by,] tickets, decided, within_sla, compliance, ci_low, ci_high, pending,
    no_target.

    compliance = tickets first answered within the target of their priority / decided tickets.
    A ticket is decided once it was answered or its target has passed unanswered (a breach);
    an open ticket still inside its target at the as-of date is pending and not counted yet.
    Tickets whose priority has no target are counted in no_target.
    """
    end = as_datetime(as_of)
    targets = {k.lower(): float(v) for k, v in (sla_hours or DEFAULT_SLA_HOURS).items()}
    keys = [by] if isinstance(by, str) else list(by or [])
    frame = (
        lazy(tickets)
        .filter(pl.col("created_at") <= end)
        .with_columns(
            target=pl.col("priority")
            .str.to_lowercase()
            .replace_strict(targets, default=None, return_dtype=pl.Float64),
            answered=pl.col("first_response_at").is_not_null()
            & (pl.col("first_response_at") <= end),
            waited_h=(pl.lit(end) - pl.col("created_at")).dt.total_seconds() / 3600,
            response_h=_hours("first_response_at"),
        )
    )
    frame = frame.with_columns(
        within=pl.col("answered") & (pl.col("response_h") <= pl.col("target")),
        decided=pl.col("target").is_not_null()
        & (pl.col("answered") | (pl.col("waited_h") > pl.col("target"))),
    )
    if keys:
        frame = frame.with_columns(pl.col(keys).cast(pl.String).fill_null("Unknown"))
    grouped = frame.group_by(keys) if keys else frame.group_by(pl.lit(1).alias("_all"))
    return (
        grouped.agg(
            tickets=pl.len().cast(pl.Int64),
            decided=pl.col("decided").sum().cast(pl.Int64),
            within_sla=(pl.col("within") & pl.col("decided")).sum().cast(pl.Int64),
            pending=(pl.col("target").is_not_null() & ~pl.col("decided")).sum().cast(pl.Int64),
            no_target=pl.col("target").is_null().sum().cast(pl.Int64),
        )
        .with_columns(
            compliance=pl.when(pl.col("decided") > 0).then(
                pl.col("within_sla") / pl.col("decided")
            ),
        )
        .with_columns(wilson_exprs("within_sla", "decided"))
        .drop("_all", strict=False)
        .sort(keys or "tickets")
        .collect()
    )


def complaints_per_100(
    tickets: Frame,
    orders: Frame | None,
    *,
    as_of: dt.date | dt.datetime | str,
    churn_window_days: int = 90,
    customers: Frame | None = None,
    category: str = "complaint",
    spells: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """→ month, complaints, active_customers, per_100: complaint tickets created in the month per
    100 customers active in it (on at least one day of it, point in time: metrics.activity).
    `spells`: activity.spells for the same as-of date and window, when the caller has them (the
    orders are then not read: None will do)."""
    from metrics import activity

    end = as_date(as_of)
    if spells is None:
        if orders is None:
            raise ValueError("complaints per 100 customers need the orders or their activity spells")
        spells = activity.spells(orders, as_of=end, churn_window_days=churn_window_days, customers=customers)
    complaints = (
        lazy(tickets)
        .filter(
            (pl.col("category").str.to_lowercase() == category)
            & (pl.col("created_at").cast(pl.Date) <= end)
        )
        .group_by(month=month_start(pl.col("created_at")))
        .agg(complaints=pl.len().cast(pl.Int64))
        .collect()
    )
    if spells.is_empty():
        return pl.DataFrame(
            schema={
                "month": pl.Date,
                "complaints": pl.Int64,
                "active_customers": pl.Int64,
                "per_100": pl.Float64,
            }
        )
    first = spells.get_column("start").min()
    months = pl.date_range(
        dt.date(first.year, first.month, 1), dt.date(end.year, end.month, 1), "1mo", eager=True
    )
    active = activity.active_in_months(spells, months)
    return (
        active.join(complaints, on="month", how="left")
        .with_columns(pl.col("complaints").fill_null(0))
        .with_columns(
            per_100=pl.when(pl.col("active_customers") > 0).then(
                100 * pl.col("complaints") / pl.col("active_customers")
            )
        )
        .select("month", "complaints", "active_customers", "per_100")
        .sort("month")
    )


def retention_by_nps_group(
    surveys: Frame,
    orders: Frame | None,
    *,
    as_of: dt.date | dt.datetime | str,
    churn_window_days: int = 90,
    customers: Frame | None = None,
    days: PurchaseDays | None = None,
) -> pl.DataFrame:
    """→ group (Promoter/Passive/Detractor by each customer's latest NPS answer), customers,
    retained, churned, retention, ci_low, ci_high: how many are still customers at the as-of date.
    `days`: the orders' purchase days (metrics.purchase_days) to the as-of date or later, when the
    caller has them (the orders are then not read: None will do)."""
    from metrics.retention import churn_status

    end = as_datetime(as_of)
    latest = (
        lazy(surveys)
        .filter(pl.col("nps").is_not_null() & (pl.col("responded_at") <= end))
        .sort("responded_at")
        .group_by("customer_id")
        .agg(nps=pl.col("nps").last())
        .with_columns(group=nps_group())
        .collect()
    )
    status = churn_status(orders, as_of=end, churn_window_days=churn_window_days, customers=customers, days=days)
    joined = latest.join(status.select("customer_id", "churned"), on="customer_id", how="inner")
    order = pl.DataFrame({"group": list(NPS_GROUPS), "rank": [0, 1, 2]})
    return (
        joined.group_by("group")
        .agg(customers=pl.len().cast(pl.Int64), churned=pl.col("churned").sum().cast(pl.Int64))
        .with_columns(retained=pl.col("customers") - pl.col("churned"))
        .with_columns(retention=pl.col("retained") / pl.col("customers"))
        .with_columns(wilson_exprs("retained", "customers"))
        .join(order, on="group", how="left")
        .sort("rank")
        .drop("rank")
        .select("group", "customers", "retained", "churned", "retention", "ci_low", "ci_high")
    )

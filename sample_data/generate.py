"""Deterministic generator of a realistic CRM dataset in the canonical schema.

    python -m sample_data.generate --customers 5000 --seed 7 --out sample_data/default

Writes one Parquet file per canonical table (customers.parquet, orders.parquet, …).

How the behaviour is modelled (all draws from one seeded NumPy generator per chunk):
- Four tiers that differ in size (Bronze most), spend per order, order rate, retention and support
  priority. Every customer has a latent satisfaction ``z``: it raises NPS/CSAT/CES and lowers the
  churn hazard, so satisfaction scores predict later churn, as in real customer bases.
- Acquisition channels with their own acquisition cost (referrals cheap, outbound sales dear).
- Signups grow over the window with a November–December peak; orders are a seasonal Poisson
  process thinned by month weight; ~1.2 % of orders are followed by a refund (negative amount).
- Lifetimes are exponential with a tier- and satisfaction-dependent monthly hazard. Churners on a
  contract get an explicit churn_date; the others simply stop ordering (inactive customers).
- Deals run through Lead > Qualified > Proposal > Negotiation > Won with tier-dependent step
  probabilities and gamma-distributed time in stage; every stage entered is a stage_history row;
  deals whose close would fall after the as-of date are still open.
- Tickets answer by priority and channel (chat and phone fast, email and social slow), with
  lognormal spread so some breach their SLA; unresolved tickets at the as-of date stay open.

The generator works in fixed chunks of customers, each with its own seed derived from (seed,
chunk), and streams every table to Parquet, so memory stays bounded at any size and a dataset of N
customers is the same whatever machine makes it.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import time
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow.parquet as pq

from metrics.schema import DEFAULT_TIER_ORDER, TABLES, conform

AS_OF = dt.date(2026, 6, 30)  # fixed, never the wall clock: results are reproducible
START = dt.date(2023, 7, 1)
CHUNK_CUSTOMERS = 50_000
DEFAULT_OUT = Path(__file__).parent / "default"

TIERS = np.array(DEFAULT_TIER_ORDER)
TIER_SHARE = np.array([0.55, 0.27, 0.13, 0.05])
TIER_ORDER_VALUE = np.array([55.0, 130.0, 360.0, 1050.0])  # median order value
TIER_ORDER_RATE = np.array([0.8, 1.0, 1.35, 1.7])  # orders per active month
TIER_CHURN_HAZARD = np.array([0.065, 0.045, 0.028, 0.016])  # monthly, at z = 0
TIER_CONTRACT_SHARE = np.array([0.2, 0.35, 0.6, 0.8])  # churners with an explicit churn_date
TIER_SALES_ASSISTED = np.array([0.25, 0.5, 0.9, 1.0])  # customers won through a deal
TIER_CAC_FACTOR = np.array([1.0, 1.6, 3.0, 6.0])
TIER_SATISFACTION_SHIFT = np.array([0.0, 0.1, 0.2, 0.3])

CHANNELS = np.array(
    ["Organic search", "Paid search", "Social", "Referral", "Partner", "Events", "Outbound sales"]
)
CHANNEL_CAC = np.array([35.0, 110.0, 80.0, 25.0, 140.0, 280.0, 420.0])
CHANNEL_SHARE_BY_TIER = np.array(
    [
        [0.30, 0.25, 0.20, 0.12, 0.05, 0.04, 0.04],
        [0.22, 0.22, 0.14, 0.15, 0.10, 0.08, 0.09],
        [0.10, 0.12, 0.06, 0.17, 0.20, 0.15, 0.20],
        [0.04, 0.05, 0.02, 0.15, 0.22, 0.20, 0.32],
    ]
)
REGIONS = np.array(["North America", "Europe", "Asia Pacific", "Latin America", "Middle East"])
REGION_SHARE = np.array([0.38, 0.30, 0.17, 0.09, 0.06])
SEGMENTS = np.array(["Retail", "Technology", "Healthcare", "Finance", "Manufacturing", "Education"])
SEGMENT_SHARE = np.array([0.24, 0.22, 0.14, 0.14, 0.16, 0.10])
PRODUCTS = np.array(
    ["Starter plan", "Standard plan", "Pro plan", "Enterprise plan", "Add-on", "Services"]
)
PRODUCT_MARGIN = np.array([0.72, 0.66, 0.6, 0.55, 0.8, 0.35])
PRODUCT_SHARE_BY_TIER = np.array(
    [
        [0.55, 0.25, 0.03, 0.00, 0.15, 0.02],
        [0.15, 0.50, 0.15, 0.00, 0.15, 0.05],
        [0.02, 0.20, 0.50, 0.10, 0.10, 0.08],
        [0.00, 0.05, 0.25, 0.50, 0.08, 0.12],
    ]
)
# Month weights (Jan … Dec): a soft summer dip and a year-end peak.
MONTH_WEIGHT = np.array([0.9, 0.88, 0.97, 0.97, 1.0, 0.95, 0.88, 0.9, 1.02, 1.05, 1.22, 1.3])

STAGES = ["Lead", "Qualified", "Proposal", "Negotiation", "Won"]
STEP_PROB_BY_TIER = np.array(  # Lead→Qualified, →Proposal, →Negotiation, →Won
    [
        [0.55, 0.50, 0.62, 0.55],
        [0.60, 0.55, 0.65, 0.58],
        [0.65, 0.58, 0.68, 0.60],
        [0.70, 0.60, 0.70, 0.63],
    ]
)
STAGE_DAYS = np.array(
    [10.0, 18.0, 15.0, 12.0]
)  # mean days in Lead, Qualified, Proposal, Negotiation
TIER_CYCLE_FACTOR = np.array([0.8, 1.0, 1.5, 2.2])
LEAD_SOURCES = np.array(["Inbound", "Outbound", "Referral", "Partner", "Event", "Website"])
REPS_PER_REGION = 5
FIRST_NAMES = np.array(
    ["Ava", "Noah", "Maya", "Omar", "Lena", "Ravi", "Sara", "Jon", "Leila", "Tomás", "Yuki", "Ada"]
)
LAST_NAMES = np.array(
    ["Jensen", "Okafor", "Silva", "Novak", "Haddad", "Kim", "Moreau", "Patel", "Rossi", "Berg"]
)
COMPANY_WORDS = np.array(
    ["Acme", "Blue", "North", "Vertex", "Harbor", "Summit", "Pixel", "Cedar", "Nova", "Orbit"]
)
COMPANY_SUFFIX = np.array(["Labs", "Group", "Foods", "Health", "Systems", "Works", "Retail", "Co"])

TICKET_CHANNELS = np.array(["email", "phone", "chat", "web", "social"])
TICKET_CHANNEL_SHARE = np.array([0.40, 0.18, 0.27, 0.10, 0.05])
TICKET_CHANNEL_SPEED = np.array([1.4, 0.25, 0.3, 1.0, 1.8])  # × the priority's median response
PRIORITIES = np.array(["low", "normal", "high", "urgent"])
PRIORITY_SHARE_BY_TIER = np.array(
    [
        [0.35, 0.50, 0.12, 0.03],
        [0.28, 0.52, 0.16, 0.04],
        [0.18, 0.47, 0.27, 0.08],
        [0.10, 0.40, 0.35, 0.15],
    ]
)
PRIORITY_RESPONSE_HOURS = np.array([22.0, 9.0, 1.8, 0.45])  # median first response
PRIORITY_RESOLUTION_HOURS = np.array([70.0, 30.0, 12.0, 5.0])
CATEGORIES = np.array(["question", "request", "bug", "billing", "complaint"])
COMMENTS_HAPPY = np.array(["Great service", "Fast delivery", "Very helpful team", "Love it"])
COMMENTS_UNHAPPY = np.array(["Too slow to respond", "Billing was wrong", "Considering leaving"])
INTERACTION_CHANNELS = np.array(["email", "phone", "chat", "social", "meeting"])

DAY_US = 86_400_000_000
MONTH_DAYS = 30.4375


def _days(date: dt.date) -> int:
    return (date - START).days


WINDOW_DAYS = _days(AS_OF) + 1


def _to_datetime(days: np.ndarray) -> np.ndarray:
    """Fractional days since START → datetime64[us] (vectorised)."""
    base = np.datetime64(START, "us")
    seconds = np.round(days * 86_400.0).astype("int64")  # CRM exports keep whole seconds
    return base + (seconds * 1_000_000).astype("timedelta64[us]")


def _to_date(days: np.ndarray) -> np.ndarray:
    return np.datetime64(START, "D") + np.floor(days).astype("int64").astype("timedelta64[D]")


def _month_weight(days: np.ndarray) -> np.ndarray:
    months = _to_date(days).astype("datetime64[M]").astype("int64") % 12
    return MONTH_WEIGHT[months] / MONTH_WEIGHT.max()


def _choice_by_row(rng: np.random.Generator, probs: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """For each row index r, one category drawn with probabilities probs[r] (vectorised)."""
    cum = np.cumsum(probs, axis=1)
    cum[:, -1] = 1.0
    u = rng.random(len(rows))
    return (u[:, None] > cum[rows]).sum(axis=1)


def _ids(prefix: str, first: int, n: int, *, width: int = 7) -> pl.Series:
    """prefix + zero-padded running number, e.g. C0000042 (vectorised)."""
    number = pl.int_range(first, first + n, dtype=pl.Int64).cast(pl.String).str.zfill(width)
    return pl.select(pl.concat_str(pl.lit(prefix), number)).to_series()


def _signup_days(rng: np.random.Generator, n: int) -> np.ndarray:
    """Signup day since START: linear growth (+60 % over the window) times month seasonality."""
    grid = np.arange(WINDOW_DAYS, dtype=np.float64)
    weight = (1.0 + 0.6 * grid / WINDOW_DAYS) * _month_weight(grid)
    cdf = np.cumsum(weight)
    cdf /= cdf[-1]
    return np.searchsorted(cdf, rng.random(n)) + rng.random(n)


def _poisson_events(
    rng: np.random.Generator, owner_start: np.ndarray, owner_span: np.ndarray, rate: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Seasonal Poisson events on [start, start + span): owner index and day of each event.

    Candidates are drawn at the peak rate and thinned by month weight, which is exactly a Poisson
    process with a month-varying intensity."""
    counts = rng.poisson(rate * owner_span / MONTH_DAYS)
    owner = np.repeat(np.arange(len(owner_start)), counts)
    day = owner_start[owner] + rng.random(len(owner)) * owner_span[owner]
    keep = rng.random(len(owner)) < _month_weight(day)
    return owner[keep], day[keep]


def generate_chunk(seed: int, chunk: int, first: int, n: int) -> dict[str, pl.DataFrame]:
    rng = np.random.default_rng([seed, chunk])
    cust_ids = _ids("C", first, n)

    # --- customers ------------------------------------------------------------------------
    tier = rng.choice(4, size=n, p=TIER_SHARE)
    z = rng.standard_normal(n) + TIER_SATISFACTION_SHIFT[tier]
    channel = _choice_by_row(rng, CHANNEL_SHARE_BY_TIER, tier)
    region = rng.choice(len(REGIONS), size=n, p=REGION_SHARE)
    segment = rng.choice(len(SEGMENTS), size=n, p=SEGMENT_SHARE)
    signup = _signup_days(rng, n)
    cac = CHANNEL_CAC[channel] * TIER_CAC_FACTOR[tier] * rng.lognormal(0.0, 0.35, n)
    hazard = TIER_CHURN_HAZARD[tier] * np.exp(-0.55 * z)
    lifetime = rng.exponential(MONTH_DAYS / hazard)
    end = signup + lifetime
    churned = end < WINDOW_DAYS
    contractual = rng.random(n) < TIER_CONTRACT_SHARE[tier]
    active_end = np.minimum(end, WINDOW_DAYS)
    span = np.maximum(active_end - signup, 0.0)
    names = pl.select(
        pl.concat_str(
            pl.lit(COMPANY_WORDS[rng.integers(0, len(COMPANY_WORDS), n)]),
            pl.lit(" "),
            pl.lit(COMPANY_SUFFIX[rng.integers(0, len(COMPANY_SUFFIX), n)]),
            pl.lit(" "),
            pl.lit(pl.Series(np.arange(first, first + n)).cast(pl.String)),
        )
    ).to_series()
    churn_date = np.where(churned & contractual, _to_date(end), np.datetime64("NaT"))
    customers = pl.DataFrame(
        {
            "customer_id": cust_ids,
            "name": names,
            "tier": TIERS[tier],
            "segment": SEGMENTS[segment],
            "region": REGIONS[region],
            "acquisition_channel": CHANNELS[channel],
            "signup_date": _to_date(signup),
            "acquisition_cost": np.round(cac, 2),
            "churn_date": churn_date.astype("datetime64[D]"),
        }
    )

    # --- orders: first order at signup, then a seasonal Poisson process while active --------
    rate = TIER_ORDER_RATE[tier] * rng.lognormal(0.0, 0.45, n) * np.exp(0.12 * z)
    rep_owner, rep_day = _poisson_events(rng, signup, span, rate / MONTH_WEIGHT.mean())
    first_day = np.minimum(signup + rng.random(n) * 2.0, WINDOW_DAYS - 1e-3)
    o_cust = np.concatenate([np.arange(n), rep_owner])
    o_day = np.concatenate([first_day, rep_day])
    o_tier = tier[o_cust]
    season_uplift = np.where(
        _to_date(o_day).astype("datetime64[M]").astype("int64") % 12 >= 10, 1.12, 1.0
    )
    amount = np.round(
        TIER_ORDER_VALUE[o_tier] * rng.lognormal(0.0, 0.55, len(o_cust)) * season_uplift, 2
    )
    product = _choice_by_row(rng, PRODUCT_SHARE_BY_TIER, o_tier)
    margin = np.round(amount * PRODUCT_MARGIN[product], 2)
    # Refunds: a negative order a few days after ~1.2 % of orders, if still before the as-of date.
    refunded = np.flatnonzero(rng.random(len(o_cust)) < 0.012)
    refund_day = o_day[refunded] + 1.0 + rng.random(len(refunded)) * 29.0
    ok = refund_day < WINDOW_DAYS
    refunded, refund_day = refunded[ok], refund_day[ok]
    share = np.where(rng.random(len(refunded)) < 0.7, 1.0, 0.5)
    all_cust = np.concatenate([o_cust, o_cust[refunded]])
    all_day = np.concatenate([o_day, refund_day])
    order_sort = np.lexsort((all_day, all_cust))
    orders = pl.DataFrame(
        {
            "order_id": _ids("O" + f"{chunk:03d}-", 0, len(all_cust)),
            "customer_id": cust_ids.gather(all_cust[order_sort]),
            "order_date": _to_datetime(all_day[order_sort]),
            "amount": np.concatenate([amount, -np.round(amount[refunded] * share, 2)])[order_sort],
            "gross_margin": np.concatenate([margin, -np.round(margin[refunded] * share, 2)])[
                order_sort
            ],
            "product": PRODUCTS[np.concatenate([product, product[refunded]])][order_sort],
        }
    )

    deals, history = _deals(rng, chunk, n, cust_ids, tier, segment, region, signup)
    tickets = _tickets(rng, chunk, cust_ids, tier, z, signup, span)
    surveys = _surveys(rng, chunk, cust_ids, z, signup, span)
    interactions = _interactions(rng, chunk, cust_ids, region, signup, span)
    frames = {
        "customers": customers,
        "orders": orders,
        "deals": deals,
        "stage_history": history,
        "tickets": tickets,
        "surveys": surveys,
        "interactions": interactions,
    }
    return {name: conform(frame, name) for name, frame in frames.items()}


def _rep_names(region: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    reps = np.array(
        [
            f"{FIRST_NAMES[(r * 7 + k) % len(FIRST_NAMES)]} {LAST_NAMES[(r * 3 + k) % len(LAST_NAMES)]}"
            for r in range(len(REGIONS))
            for k in range(REPS_PER_REGION)
        ]
    )
    return reps[region * REPS_PER_REGION + rng.integers(0, REPS_PER_REGION, len(region))]


def _deals(rng, chunk, n, cust_ids, tier, segment, region, signup):
    """New-business deals of sales-assisted customers (won at signup) plus pipeline deals.

    Pipeline deals belong to an existing customer (expansion) when created after its signup;
    otherwise they are prospects with no customer, which cannot close as won in this data."""
    assisted = np.flatnonzero(rng.random(n) < TIER_SALES_ASSISTED[tier])
    m = int(round(n * 1.4))
    pipe_cust = rng.integers(0, n, m)
    pipe_created = rng.random(m) * WINDOW_DAYS
    is_prospect = pipe_created < signup[pipe_cust]
    d_cust = np.concatenate([assisted, pipe_cust])
    d_tier = tier[d_cust]
    k = len(d_cust)
    durations = rng.gamma(2.0, 0.5, (k, 4)) * STAGE_DAYS * TIER_CYCLE_FACTOR[d_tier][:, None]
    forced_won = np.zeros(k, dtype=bool)
    forced_won[: len(assisted)] = True
    created = np.concatenate(
        [signup[assisted] - durations[: len(assisted)].sum(axis=1), pipe_created]
    )
    step_p = STEP_PROB_BY_TIER[d_tier].copy()
    step_p[len(assisted) :, 3] = np.where(is_prospect, 0.0, step_p[len(assisted) :, 3])
    passed = (rng.random((k, 4)) < step_p) | forced_won[:, None]
    # reached stage j ⇔ passed every earlier step
    reached = np.concatenate([np.ones((k, 1), bool), np.cumprod(passed, axis=1).astype(bool)], 1)
    entered = created[:, None] + np.concatenate([np.zeros((k, 1)), np.cumsum(durations, 1)], 1)
    last = reached.sum(axis=1) - 1  # index of the last stage reached
    won = last == 4
    # A lost deal closes one stage-duration after entering its last stage.
    close_day = np.where(
        won,
        entered[np.arange(k), 4],
        entered[np.arange(k), last] + durations[np.arange(k), np.minimum(last, 3)],
    )
    in_window = entered <= WINDOW_DAYS - 1e-3
    visible_last = np.where(reached & in_window, np.arange(5), -1).max(axis=1)
    open_ = close_day >= WINDOW_DAYS
    keep = (visible_last >= 0) & (created >= 0)
    status = np.where(open_, "open", np.where(won, "won", "lost"))
    stage_idx = np.where(open_, visible_last, last)
    amount = np.round(TIER_ORDER_VALUE[d_tier] * 10 * rng.lognormal(0, 0.5, k), 2)
    has_customer = np.ones(k, bool)
    has_customer[len(assisted) :] = ~is_prospect
    deal_ids = _ids("D" + f"{chunk:03d}-", 0, k)
    sources = LEAD_SOURCES[rng.integers(0, len(LEAD_SOURCES), k)]
    deals = pl.DataFrame(
        {
            "deal_id": deal_ids,
            "customer_id": pl.Series(cust_ids.gather(d_cust)).zip_with(
                pl.Series(has_customer), pl.Series([None] * k, dtype=pl.String)
            ),
            "created_date": _to_datetime(created),
            "stage": np.array(STAGES)[stage_idx.clip(0)],
            "status": status,
            "closed_date": pl.Series(_to_datetime(close_day)).zip_with(
                pl.Series(~open_), pl.Series([None] * k, dtype=pl.Datetime("us"))
            ),
            "amount": amount,
            "owner": _rep_names(region[d_cust], rng),
            "source": sources,
            "tier": TIERS[d_tier],
            "segment": SEGMENTS[segment[d_cust]],
            "region": REGIONS[region[d_cust]],
        }
    ).filter(pl.Series(keep))
    rows, cols = np.nonzero(reached & in_window & keep[:, None])
    history = pl.DataFrame(
        {
            "deal_id": deal_ids.gather(rows),
            "stage": np.array(STAGES)[cols],
            "entered_at": _to_datetime(entered[rows, cols]),
        }
    )
    return deals, history


def _tickets(rng, chunk, cust_ids, tier, z, signup, span):
    rate = np.array([0.12, 0.16, 0.24, 0.33])[tier] * np.exp(-0.35 * z)
    owner, day = _poisson_events(rng, signup, span, rate)
    k = len(owner)
    t_tier = tier[owner]
    priority = _choice_by_row(rng, PRIORITY_SHARE_BY_TIER, t_tier)
    channel = rng.choice(len(TICKET_CHANNELS), size=k, p=TICKET_CHANNEL_SHARE)
    tier_speed = np.array([1.15, 1.0, 0.8, 0.6])[t_tier]
    response_h = (
        PRIORITY_RESPONSE_HOURS[priority]
        * TICKET_CHANNEL_SPEED[channel]
        * tier_speed
        * rng.lognormal(0.0, 0.9, k)
    )
    resolution_h = response_h + PRIORITY_RESOLUTION_HOURS[priority] * rng.lognormal(0.0, 0.8, k)
    responded = day + response_h / 24 < WINDOW_DAYS
    resolved = day + resolution_h / 24 < WINDOW_DAYS
    unhappy = z[owner] < -0.8
    cat_p = np.where(
        unhappy[:, None], [[0.3, 0.2, 0.15, 0.1, 0.25]], [[0.4, 0.28, 0.15, 0.09, 0.08]]
    )
    category = (rng.random(k)[:, None] > np.cumsum(cat_p, axis=1)).sum(axis=1).clip(0, 4)
    score = 3.9 + 0.8 * z[owner] - 0.35 * np.log1p(response_h / 8) + rng.normal(0, 0.8, k)
    csat = np.where(resolved & (rng.random(k) < 0.5), np.clip(np.round(score), 1, 5), np.nan)
    null_dt = np.datetime64("NaT")
    return pl.DataFrame(
        {
            "ticket_id": _ids("T" + f"{chunk:03d}-", 0, k),
            "customer_id": cust_ids.gather(owner),
            "created_at": _to_datetime(day),
            "first_response_at": np.where(responded, _to_datetime(day + response_h / 24), null_dt),
            "resolved_at": np.where(resolved, _to_datetime(day + resolution_h / 24), null_dt),
            "channel": TICKET_CHANNELS[channel],
            "category": CATEGORIES[category],
            "priority": PRIORITIES[priority],
            "csat": pl.Series(csat, nan_to_null=True).cast(pl.Int8),
        }
    )


def _surveys(rng, chunk, cust_ids, z, signup, span):
    owner, day = _poisson_events(rng, signup, span, np.full(len(z), 0.045))
    k = len(owner)
    zz = z[owner]
    nps = np.clip(np.round(7.4 + 1.9 * zz + rng.normal(0, 1.3, k)), 0, 10)
    csat = np.clip(np.round(3.9 + 0.75 * zz + rng.normal(0, 0.6, k)), 1, 5)
    ces = np.clip(np.round(5.0 + 0.9 * zz + rng.normal(0, 0.9, k)), 1, 7)
    kind = rng.random(k)  # relationship surveys ask NPS (+ CES); post-purchase ones ask CSAT
    comment = np.where(
        nps >= 9, COMMENTS_HAPPY[rng.integers(0, 4, k)], COMMENTS_UNHAPPY[rng.integers(0, 3, k)]
    )
    return pl.DataFrame(
        {
            "response_id": _ids("S" + f"{chunk:03d}-", 0, k),
            "customer_id": cust_ids.gather(owner),
            "responded_at": _to_datetime(day),
            "nps": pl.Series(np.where(kind < 0.6, nps, np.nan), nan_to_null=True).cast(pl.Int8),
            "csat": pl.Series(np.where(kind >= 0.6, csat, np.nan), nan_to_null=True).cast(pl.Int8),
            "ces": pl.Series(np.where(kind < 0.35, ces, np.nan), nan_to_null=True).cast(pl.Int8),
            "comment": pl.Series(comment).zip_with(
                pl.Series(rng.random(k) < 0.2), pl.Series([None] * k, dtype=pl.String)
            ),
        }
    )


def _interactions(rng, chunk, cust_ids, region, signup, span):
    owner, day = _poisson_events(rng, signup, span, np.full(len(region), 0.5))
    k = len(owner)
    return pl.DataFrame(
        {
            "interaction_id": _ids("I" + f"{chunk:03d}-", 0, k),
            "customer_id": cust_ids.gather(owner),
            "occurred_at": _to_datetime(day),
            "channel": INTERACTION_CHANNELS[rng.integers(0, len(INTERACTION_CHANNELS), k)],
            "direction": np.where(rng.random(k) < 0.55, "outbound", "inbound"),
            "owner": _rep_names(region[owner], rng),
        }
    )


def generate(customers: int, seed: int, out: Path, *, quiet: bool = False) -> dict[str, int]:
    """Write one Parquet file per canonical table into ``out``; return the row counts."""
    out.mkdir(parents=True, exist_ok=True)
    writers: dict[str, pq.ParquetWriter] = {}
    rows = dict.fromkeys(TABLES, 0)
    started = time.perf_counter()
    try:
        for chunk, first in enumerate(range(0, customers, CHUNK_CUSTOMERS)):
            n = min(CHUNK_CUSTOMERS, customers - first)
            for name, frame in generate_chunk(seed, chunk, first, n).items():
                arrow = frame.to_arrow()
                if name not in writers:
                    writers[name] = pq.ParquetWriter(
                        out / f"{name}.parquet", arrow.schema, compression="zstd"
                    )
                writers[name].write_table(arrow.cast(writers[name].schema))
                rows[name] += frame.height
            if not quiet:
                print(
                    f"  {first + n:>9,} customers  {time.perf_counter() - started:6.1f} s",
                    file=sys.stderr,
                )
    finally:
        for w in writers.values():
            w.close()
    return rows


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m sample_data.generate", description=__doc__.split("\n")[0]
    )
    p.add_argument("--customers", type=int, default=5000)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--out", type=Path, default=DEFAULT_OUT)
    p.add_argument("--quiet", action="store_true")
    args = p.parse_args(argv)
    if args.customers < 1:
        p.error("--customers must be at least 1")
    rows = generate(args.customers, args.seed, args.out, quiet=args.quiet)
    for name, count in rows.items():
        print(f"{name:<14} {count:>12,} rows → {args.out / (name + '.parquet')}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

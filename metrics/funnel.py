"""Sales funnel: stages reached, conversion, drop-off, win rate, deal size, sales cycle, time in
stage, pipeline and weighted pipeline, sales velocity; by month of creation and by any dimension
(METRICS.md, "Funnel").

A deal reached stage k (DATA_CONTRACT.md) when it has a stage_history row for stage k or a later
one, or its current stage is k or later, or it is won. So reached() is the deal's furthest stage
index, and every stage up to it counts as reached: funnel counts can never rise stage to stage.
Every deal enters the funnel at the first stage: a deal whose furthest stage is not known (a lost
deal whose export records only "Closed Lost", a stage outside the stage order) counts there, and
`furthest_known` says which ones.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import polars as pl

from metrics.deal_history import DealHistory
from metrics.stats import (
    Frame,
    Rate,
    canonical,
    closes_month,
    days_within,
    lazy,
    month_start,
    proportion,
    wilson_exprs,
)

_EMPTY_FUNNEL = {
    "stage": pl.String, "reached": pl.Int64, "step_conversion": pl.Float64,
    "overall_conversion": pl.Float64, "drop_off": pl.Int64, "ci_low": pl.Float64, "ci_high": pl.Float64,
}  # fmt: skip


def _stage_rank(frame: pl.LazyFrame, stages: Sequence[str]) -> pl.Expr:
    """Position of the stage in the stage order, matched case-insensitively; null for unknown
    stages. The few distinct stage names are matched in Python, so no string is lowercased per
    row (that took most of the time on five million history rows)."""
    lookup = {s.strip().lower(): i for i, s in enumerate(stages)}
    names = frame.select(pl.col("stage").unique()).collect().get_column("stage").drop_nulls()
    mapping = {n: lookup[n.strip().lower()] for n in names.to_list() if n.strip().lower() in lookup}
    return pl.col("stage").replace_strict(mapping, default=None, return_dtype=pl.Int64)


def furthest_stage(
    deals: Frame,
    *,
    stages: Sequence[str],
    stage_history: Frame | DealHistory | None = None,
    deal_id: str = "deal_id",
    stage: str = "stage",
    status: str = "status",
) -> pl.LazyFrame:
    """deals → deal_id, furthest (index into `stages` of the furthest stage reached; 0, the first
    stage, when none of its stages is in `stages`), furthest_known, plus every deal column.
    `stage_history`: its rows, or the same sorted by deal (metrics.deal_history) when the caller has them."""
    frame = canonical(deals, {"deal_id": deal_id, "stage": stage, "status": status})
    last = len(stages) - 1
    current = (
        pl.when(pl.col("status") == "won")
        .then(pl.lit(last, pl.Int64))
        .otherwise(_stage_rank(frame, stages))
    )
    frame = frame.with_columns(furthest=current)
    if isinstance(stage_history, DealHistory):
        ranks = stage_history.largest(_stage_rank(stage_history.table.lazy(), stages)).cast(pl.Int64)
        table = frame.collect()
        frame = table.with_columns(stage_history.for_deals(ranks, table.get_column("deal_id")).alias("history_rank")).lazy()
    elif stage_history is not None:
        history_frame = lazy(stage_history)
        history = (
            history_frame.with_columns(rank=_stage_rank(history_frame, stages))
            .group_by("deal_id")
            .agg(history_rank=pl.col("rank").max())
        )
        frame = frame.join(history, on="deal_id", how="left")
    if stage_history is not None:
        frame = frame.with_columns(furthest=pl.max_horizontal("furthest", "history_rank")).drop("history_rank")
    return frame.with_columns(
        furthest_known=pl.col("furthest").is_not_null(), furthest=pl.col("furthest").fill_null(0)
    )


def _funnel_from(reached: pl.LazyFrame, stages: Sequence[str], keys: list[str]) -> pl.LazyFrame:
    stage_frame = pl.LazyFrame(
        {"stage": list(stages), "index": list(range(len(stages)))},
        schema={"stage": pl.String, "index": pl.Int64},
    )
    counted = (
        reached.filter(pl.col("furthest").is_not_null()).group_by(*keys, "furthest").agg(n=pl.len())
    )
    groups = reached.select(keys).unique() if keys else pl.LazyFrame({"_": [0]})
    grid = groups.join(stage_frame, how="cross")
    joined = (
        grid.join(counted, left_on=[*keys, "index"], right_on=[*keys, "furthest"], how="left")
        if keys
        else grid.join(counted, left_on="index", right_on="furthest", how="left")
    )
    over = keys or None
    ordered = joined.with_columns(pl.col("n").fill_null(0)).sort(
        *keys, "index", descending=[False] * len(keys) + [True]
    )
    # reached(k) = deals whose furthest stage is k or later: a reverse cumulative sum
    with_reached = ordered.with_columns(
        reached=(pl.col("n").cum_sum().over(over) if over else pl.col("n").cum_sum()).cast(pl.Int64)
    ).sort(*keys, "index")
    previous = pl.col("reached").shift(1).over(over) if over else pl.col("reached").shift(1)
    first = pl.col("reached").first().over(over) if over else pl.col("reached").first()
    return (
        with_reached.with_columns(
            previous=previous,
            first=first,
        )
        .with_columns(
            step_conversion=pl.when(pl.col("index") == 0)
            .then(pl.when(pl.col("reached") > 0).then(1.0))
            .when(pl.col("previous") > 0)
            .then(pl.col("reached") / pl.col("previous")),
            overall_conversion=pl.when(pl.col("first") > 0).then(
                pl.col("reached") / pl.col("first")
            ),
            drop_off=(pl.col("previous") - pl.col("reached")).fill_null(0).cast(pl.Int64),
        )
        .with_columns(wilson_exprs("reached", "previous"))
        .with_columns(
            # the first stage has no previous one: its step is 100% by definition, no interval
            pl.when(pl.col("index") > 0).then(pl.col("ci_low")).alias("ci_low"),
            pl.when(pl.col("index") > 0).then(pl.col("ci_high")).alias("ci_high"),
        )
        .select(
            *keys,
            "stage",
            "reached",
            "step_conversion",
            "overall_conversion",
            "drop_off",
            "ci_low",
            "ci_high",
        )
    )


def _reach(deals: Frame, stages: Sequence[str], stage_history: Frame | DealHistory | None, **names: str) -> pl.LazyFrame:
    """The deals with their furthest stage. Deals that already carry a `furthest` column (the
    output of furthest_stage, collected once by a page) are used as they are: computing it means
    joining every deal with its history, the costly part of every funnel figure."""
    frame = lazy(deals)
    if "furthest" in frame.collect_schema().names():
        return frame
    return furthest_stage(frame, stages=stages, stage_history=stage_history, **names)


def stage_funnel(
    deals: Frame,
    *,
    stages: Sequence[str],
    stage_history: Frame | DealHistory | None = None,
    by: str | list[str] | None = None,
    deal_id: str = "deal_id",
    stage: str = "stage",
    status: str = "status",
) -> pl.DataFrame:
    """deals (+ stage_history) → [by,] stage, reached, step_conversion, overall_conversion,
    drop_off, ci_low, ci_high (95% Wilson interval of the step conversion).

    step_conversion(k) = reached(k) / reached(k−1) (1 for the first stage); overall_conversion(k) =
    reached(k) / reached(first); drop_off(k) = reached(k−1) − reached(k). Deals whose stage is not
    in `stages` and who have no history in it count nowhere. `deals` may be furthest_stage output.
    """
    keys = [by] if isinstance(by, str) else list(by or [])
    if not stages:
        return pl.DataFrame(schema=_EMPTY_FUNNEL)
    reached = _reach(deals, stages, stage_history, deal_id=deal_id, stage=stage, status=status)
    if keys:
        reached = reached.with_columns(pl.col(keys).cast(pl.String).fill_null("Unknown"))
    return _funnel_from(reached, stages, keys).collect()


def funnel_by_month(
    deals: Frame, *, stages: Sequence[str], stage_history: Frame | DealHistory | None = None
) -> pl.DataFrame:
    """→ month (of created_date), stage, reached, step_conversion, overall_conversion, …"""
    frame = (
        lazy(deals)
        .filter(pl.col("created_date").is_not_null())
        .with_columns(month=month_start(pl.col("created_date")).cast(pl.String))
    )
    out = stage_funnel(frame, stages=stages, stage_history=stage_history, by="month")
    return out.with_columns(pl.col("month").str.to_date()).sort("month")


def with_close_dates(deals: Frame, *, stage_history: Frame | DealHistory | None = None) -> pl.DataFrame:
    """deals with closed_date filled for closed deals that lack one, and close_date_source
    (closed_date / last stage / created; null for open deals).

    Exports often leave the close date of lost deals empty (HubSpot). Such a deal closed at the
    latest on its last stage date, or, without history, is dated by its creation: without a date it
    would fall out of every period, and a win rate over the period would count wins only."""
    frame = lazy(deals)
    closed = pl.col("status").is_in(["won", "lost"])
    if not lack_close_dates(frame):
        # every closed deal has its date: no history to read (a clean CRM's deals, the sample's)
        return frame.with_columns(close_date_source=pl.when(closed).then(pl.lit("closed_date"))).collect()
    last = None
    if isinstance(stage_history, DealHistory):
        table = frame.collect()
        last = stage_history.for_deals(stage_history.last_entered(), table.get_column("deal_id"))
        frame = table.with_columns(last.alias("__last")).lazy()
    elif stage_history is not None:
        last = lazy(stage_history).group_by("deal_id").agg(__last=pl.col("entered_at").max())
        frame = frame.join(last, on="deal_id", how="left", maintain_order="left")
    last_stage = pl.col("__last") if last is not None else pl.lit(None, pl.Datetime("us"))
    source = (
        pl.when(~closed).then(None)
        .when(pl.col("closed_date").is_not_null()).then(pl.lit("closed_date"))
        .when(last_stage.is_not_null()).then(pl.lit("last stage"))
        .when(pl.col("created_date").is_not_null()).then(pl.lit("created"))
    )  # fmt: skip
    filled = pl.when(closed).then(pl.coalesce("closed_date", last_stage, "created_date")).otherwise("closed_date")
    frame = frame.with_columns(close_date_source=source, closed_date=filled)
    return (frame.drop("__last") if last is not None else frame).collect()


def lack_close_dates(deals: Frame) -> bool:
    """Whether a closed (won or lost) deal lacks its close date: only then does with_close_dates
    read the stage history.

    >>> deals = pl.DataFrame({"status": ["won", "lost", "open"], "closed_date": [dt.date(2024, 1, 2), None, None]})
    >>> lack_close_dates(deals), lack_close_dates(deals.filter(pl.col("status") != "lost"))
    (True, False)
    """
    closed = pl.col("status").is_in(["won", "lost"])
    return bool(lazy(deals).select((closed & pl.col("closed_date").is_null()).any()).collect().item())


def _closed(deals: Frame, start: dt.date | None, end: dt.date | None) -> pl.LazyFrame:
    frame = lazy(deals).filter(pl.col("status").is_in(["won", "lost"]))
    return frame.filter(days_within(frame, "closed_date", start, end))


def win_rate(deals: Frame, *, start: dt.date | None = None, end: dt.date | None = None) -> Rate:
    """won / (won + lost) among deals closed in [start, end] (all closed deals when no period is
    given); open deals do not count. A fraction with its 95% Wilson interval."""
    counts = (
        _closed(deals, start, end)
        .select(won=(pl.col("status") == "won").sum(), closed=pl.len())
        .collect()
    )
    return proportion(
        counts.item(0, "won") or 0, counts.item(0, "closed"),
        definition="won deals / (won + lost) deals closed in the period",
    )  # fmt: skip


def win_rate_by(deals: Frame, *, by: str | list[str]) -> pl.DataFrame:
    """→ by, won, closed, win_rate, ci_low, ci_high."""
    keys = [by] if isinstance(by, str) else list(by)
    return (
        _closed(deals, None, None)
        .with_columns(pl.col(keys).cast(pl.String).fill_null("Unknown"))
        .group_by(keys)
        .agg(won=(pl.col("status") == "won").sum().cast(pl.Int64), closed=pl.len().cast(pl.Int64))
        .with_columns(win_rate=pl.col("won") / pl.col("closed"))
        .with_columns(wilson_exprs("won", "closed"))
        .sort(keys)
        .collect()
    )


def deal_summary(
    deals: Frame, *, start: dt.date | None = None, end: dt.date | None = None
) -> dict[str, float | int | None]:
    """Average deal size (mean amount of won deals) and sales cycle (median and mean of
    closed_date − created_date in days over won deals) for deals closed in [start, end]."""
    won = _closed(deals, start, end).filter(pl.col("status") == "won")
    cycle = (pl.col("closed_date") - pl.col("created_date")).dt.total_seconds() / 86400
    row = (
        won.select(
            won=pl.len(),
            average_deal_size=pl.col("amount").mean(),
            cycle_median_days=cycle.median(),
            cycle_mean_days=cycle.mean(),
        )
        .collect()
        .row(0, named=True)
    )
    return row


def _stage_durations(history: pl.DataFrame | DealHistory) -> pl.LazyFrame:
    """history → stage, days: each entry's time until the deal's next entry.

    Rows are put in (deal, time) order by a numeric sort, several times faster than sorting five
    million string ids: on a Categorical id's integer code (one per id), else on a 64-bit hash of
    the id. Two deals sharing a hash would show up as neighbours with equal hashes but different
    ids; that is checked, and then the exact (slower) per-deal window is used instead, so the
    result never depends on luck. A DealHistory is in that order already.
    """
    same_key = pl.col("key").shift(-1) == pl.col("key")
    if isinstance(history, DealHistory):
        keyed = history.table.rename({"code": "key"})
    elif history.schema["deal_id"] == pl.Categorical:
        keyed = history.with_columns(key=pl.col("deal_id").to_physical()).sort("key", "entered_at")
    else:
        keyed = history.with_columns(key=pl.col("deal_id").hash(seed=7)).sort("key", "entered_at")
        if keyed.select((same_key & (pl.col("deal_id").shift(-1) != pl.col("deal_id"))).any()).item():
            return (
                history.lazy().sort("entered_at")
                .with_columns(days=(pl.col("entered_at").shift(-1).over("deal_id") - pl.col("entered_at")).dt.total_seconds() / 86400)
                .filter(pl.col("days").is_not_null())
            )  # fmt: skip
    return (
        keyed.lazy()
        .with_columns(days=pl.when(same_key).then((pl.col("entered_at").shift(-1) - pl.col("entered_at")).dt.total_seconds() / 86400))
        .filter(pl.col("days").is_not_null())
    )


def time_in_stage(stage_history: Frame | DealHistory, *, stages: Sequence[str]) -> pl.DataFrame:
    """stage_history → stage, deals, median_days, mean_days, p90_days: entered_at of the next
    stage the deal entered − entered_at of this stage (the last stage of a deal has no duration).
    `stage_history`: its rows, or the same sorted by deal (metrics.deal_history)."""
    durations = _stage_durations(
        stage_history if isinstance(stage_history, DealHistory)
        else lazy(stage_history).select("deal_id", "stage", "entered_at").collect()
    )  # fmt: skip
    order = pl.LazyFrame(
        {"stage": list(stages), "index": list(range(len(stages)))},
        schema={"stage": pl.String, "index": pl.Int64},
    )
    return (
        durations.group_by("stage")
        .agg(
            deals=pl.len().cast(pl.Int64),
            median_days=pl.col("days").median(),
            mean_days=pl.col("days").mean(),
            p90_days=pl.col("days").quantile(0.9, interpolation="linear"),
        )
        .join(order, on="stage", how="left")
        .sort("index", nulls_last=True)
        .drop("index")
        .collect()
    )


def _win_probability(reached: pl.DataFrame, stages: Sequence[str]) -> pl.DataFrame:
    """reached (furthest, status) of all deals → stage, closed, won, probability."""
    closed = reached.filter(pl.col("status").is_in(["won", "lost"]))
    counts = closed.group_by("furthest").agg(n=pl.len(), w=(pl.col("status") == "won").sum())
    table = pl.DataFrame({"stage": list(stages), "index": list(range(len(stages)))}, schema={"stage": pl.String, "index": pl.Int64})
    table = table.join(counts, left_on="index", right_on="furthest", how="left").with_columns(pl.col("n", "w").fill_null(0)).sort("index")
    # closed deals that reached stage k = those whose furthest stage is k or later
    table = table.with_columns(
        closed=pl.col("n").reverse().cum_sum().reverse().cast(pl.Int64),
        won=pl.col("w").reverse().cum_sum().reverse().cast(pl.Int64),
    )
    return table.select(
        "stage", "closed", "won", probability=pl.when(pl.col("closed") > 0).then(pl.col("won") / pl.col("closed"))
    )


def stage_win_probability(
    deals: Frame, *, stages: Sequence[str], stage_history: Frame | DealHistory | None = None
) -> pl.DataFrame:
    """→ stage, closed, won, probability: of the closed deals that reached each stage, the share
    that was won (the historical probability of winning from that stage)."""
    reached = _reach(deals, stages, stage_history).select("furthest", "status").collect()
    return _win_probability(reached, stages)


def pipeline(
    deals: Frame, *, stages: Sequence[str], stage_history: Frame | DealHistory | None = None
) -> dict[str, float | int | None]:
    """Open pipeline: open deals, how many of them carry an amount (open_with_amount), pipeline
    value (Σ amount of open deals), weighted pipeline (Σ amount × historical probability of
    winning from the deal's current stage) and sales velocity per day (open deals × win rate ×
    average deal size / mean cycle length in days). The two sums are None when open deals exist
    but none carries an amount (Maven's export fills the amount only when a deal closes): their
    value is unknown, not zero."""
    reached = _reach(deals, stages, stage_history).select("furthest", "status", "amount").collect()
    probability = _win_probability(reached, stages).with_row_index("furthest").with_columns(pl.col("furthest").cast(pl.Int64))
    row = (
        reached.filter(pl.col("status") == "open")
        .join(probability.select("furthest", "probability"), on="furthest", how="left")
        .select(
            open_deals=pl.len(),
            open_with_amount=pl.col("amount").is_not_null().sum().cast(pl.Int64),
            pipeline_value=pl.col("amount").sum(),
            weighted_pipeline=(pl.col("amount") * pl.col("probability")).sum(),
        )
        .row(0, named=True)
    )
    if row["open_deals"] and not row["open_with_amount"]:
        row.update(pipeline_value=None, weighted_pipeline=None)
    rate = win_rate(deals)
    summary = deal_summary(deals)
    velocity = None
    if (
        rate.value is not None
        and summary["average_deal_size"] is not None
        and summary["cycle_mean_days"]
    ):
        velocity = (
            row["open_deals"]
            * rate.value
            * summary["average_deal_size"]
            / summary["cycle_mean_days"]
        )
    return {**row, "win_rate": rate.value, **summary, "velocity_per_day": velocity}


def win_rate_by_month(deals: Frame, *, end: dt.date, start: dt.date | None = None) -> pl.DataFrame:
    """→ month, won, closed, win_rate, ci_low, ci_high, partial: the win rate of the deals closed in
    each calendar month from `start`'s to `end`'s (METRICS.md's win rate, the month as the period),
    months without a closed deal left out. The month of `end` is flagged partial when `end` is not
    its last day. Point in time: a month's rate counts only deals closed in it, so it does not
    change when later deals close (a rate by the month deals were created would: each stale open
    deal that closes later rewrites its creation month).

    >>> deals = pl.DataFrame({"status": ["won", "lost", "lost", "won", "open"],
    ...     "closed_date": [dt.date(2025, 1, 3), dt.date(2025, 1, 9), dt.date(2025, 1, 30), dt.date(2025, 2, 2), None]})
    >>> win_rate_by_month(deals, end=dt.date(2025, 2, 10)).select("month", "won", "closed", "partial").rows()
    [(datetime.date(2025, 1, 1), 1, 3, False), (datetime.date(2025, 2, 1), 1, 1, True)]
    """
    return (
        _closed(deals, start and dt.date(start.year, start.month, 1), end)
        .group_by(month=month_start(pl.col("closed_date")))
        .agg(won=(pl.col("status") == "won").sum().cast(pl.Int64), closed=pl.len().cast(pl.Int64))
        .with_columns(
            win_rate=pl.col("won") / pl.col("closed"),
            partial=(pl.col("month") == dt.date(end.year, end.month, 1)) & pl.lit(not closes_month(end)),
        )
        .with_columns(wilson_exprs("won", "closed"))
        .sort("month")
        .select("month", "won", "closed", "win_rate", "ci_low", "ci_high", "partial")
        .collect()
    )


def deals_at_stage(
    deals: Frame,
    *,
    stages: Sequence[str],
    stage: str,
    stage_history: Frame | DealHistory | None = None,
    exact: bool = False,
) -> pl.DataFrame:
    """The deals behind a funnel bar: those that reached `stage` (exact=True: whose furthest stage
    is `stage`, i.e. that stopped there)."""
    index = list(stages).index(stage)
    reached = _reach(deals, stages, stage_history)
    condition = pl.col("furthest") == index if exact else pl.col("furthest") >= index
    return reached.filter(condition).drop("furthest").collect()

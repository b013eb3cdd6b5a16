"""What the tables imply but do not say: deal status from stage names, stage history from
stage-date columns, customers from the ids of other tables, snapshot churn dates, lost leads,
orders that were never a sale by their status."""

from __future__ import annotations

import datetime as dt

import polars as pl

from dashboard.importer import mapping as mp
from dashboard.importer.model import ImportOptions
from dashboard.importer.problems import FILE_COL, ROW_COL, Problem, per_file, rows_of
from dashboard.importer.vocabulary import LOST_WORDS, NOT_A_SALE, ORDER_STATUS_HEADERS, WON_WORDS
from metrics.schema import (
    DEFAULT_TIER_ORDER,
    UNASSIGNED_TIER,
    DatasetSettings,
    latest_event,
)


def derive(tables, plans, options, settings, problems, lost_after) -> dict[str, pl.DataFrame]:
    if "orders" in tables:  # before customers are derived from the orders' ids
        tables["orders"] = _leave_out_orders_not_sold(tables["orders"], problems)
    if "tickets" in tables and "first_response_minutes" in tables["tickets"].columns:
        tables["tickets"] = _first_response_from_minutes(tables["tickets"], problems)
    if "deals" in tables:
        tables = _derive_deals(tables, settings, problems)
        if lost_after:
            tables["deals"] = _close_old_open_deals(tables, settings, lost_after, problems)
    if "customers" in tables:
        tables["customers"] = _derive_customers(tables["customers"], options, problems)
    elif tables:
        id_frames = [f.select("customer_id") for f in tables.values() if "customer_id" in f.columns]
        ids = (
            pl.concat(id_frames, how="vertical_relaxed").drop_nulls().unique(maintain_order=True)
            if id_frames
            else pl.DataFrame(schema={"customer_id": pl.String})
        )
        if ids.height:
            tables["customers"] = ids.with_columns(
                pl.lit(UNASSIGNED_TIER).alias("tier"),
                pl.lit(0, pl.Int64).alias(ROW_COL),
                pl.lit("(derived)").alias(FILE_COL),
            )
            problems.append(
                Problem(
                    "warning",
                    "(customers)",
                    f"no customers file: {ids.height:,} customers were derived from the customer ids "
                    "in the other files (tier Unassigned)",
                    table="customers",
                )
            )
        else:
            tables["customers"] = pl.DataFrame(
                schema={
                    "customer_id": pl.String,
                    "tier": pl.String,
                    ROW_COL: pl.Int64,
                    FILE_COL: pl.String,
                }
            )
            problems.append(
                Problem(
                    "warning",
                    "(customers)",
                    "no customers file and no customer ids: only pages that need no customers "
                    "(the Funnel) will show data",
                    table="customers",
                )
            )
    if "orders" in tables:
        # gross_margin stays empty where the file has none: the metrics take amount × the
        # dataset's margin rate there, so a rate set later in Settings takes effect.
        if "customers" in tables:
            first_order = (
                tables["orders"]
                .group_by("customer_id")
                .agg(pl.col("order_date").min().dt.date().alias("__first"))
            )
            c = tables["customers"]
            if "signup_date" not in c.columns:
                c = c.with_columns(pl.lit(None, pl.Date).alias("signup_date"))
            tables["customers"] = (
                c.join(first_order, on="customer_id", how="left")
                .with_columns(pl.col("signup_date").fill_null(pl.col("__first")))
                .drop("__first")
            )
    return tables


def _leave_out_orders_not_sold(orders: pl.DataFrame, problems) -> pl.DataFrame:
    """Orders whose status column says they were never a sale (NOT_A_SALE: cancelled, failed,
    unpaid…) are left out and counted; every other status stays, refunded included."""
    column = mp.find_header(orders.columns, ORDER_STATUS_HEADERS)
    if column is None:
        return orders
    status = orders.get_column(column).cast(pl.String).str.strip_chars().str.to_lowercase()
    hit = status.is_in(list(NOT_A_SALE)).fill_null(False)
    if not hit.any():
        return orders
    seen = orders.get_column(column).filter(hit).unique(maintain_order=True).head(4).to_list()
    per_file(problems, "info", orders, hit, "orders", column,
             f"orders with {column} {' or '.join(map(repr, seen))} were never a sale and are left out")  # fmt: skip
    return orders.filter(~hit)


def _first_response_from_minutes(t: pl.DataFrame, problems) -> pl.DataFrame:
    """A helpdesk export gives the minutes to the first reply (Zendesk's "First reply time in
    minutes"), not its time: first_response_at = created_at + those minutes, where not given."""
    minutes = pl.col("first_response_minutes")
    negative = (minutes < 0).fill_null(False)
    if t.select(negative.any()).item():
        per_file(problems, "error", t, t.select(negative).to_series(), "tickets", "first_response_minutes",
                 "negative minutes to the first reply")  # fmt: skip
        return t
    reply = pl.col("created_at") + pl.duration(seconds=(minutes * 60).round())
    if "first_response_at" in t.columns:
        reply = pl.coalesce(pl.col("first_response_at"), reply)
    out = t.with_columns(reply.alias("first_response_at"))
    added = out.get_column("first_response_at").is_not_null().sum() - (
        t.get_column("first_response_at").is_not_null().sum() if "first_response_at" in t.columns else 0)  # fmt: skip
    problems.append(Problem("info", t.get_column(FILE_COL)[0],
                            f"first_response_at of {added:,} tickets is created_at + the minutes to the first reply",
                            table="tickets", column="first_response_at"))  # fmt: skip
    return out


def _derive_customers(c: pl.DataFrame, options: ImportOptions, problems) -> pl.DataFrame:
    if "tier" not in c.columns:
        c = c.with_columns(pl.lit(None, pl.String).alias("tier"))
    no_tier = c.get_column("tier").is_null()
    if no_tier.any():
        problems.append(
            Problem(
                "info",
                c.get_column(FILE_COL)[0],
                f"{no_tier.sum():,} customers have no tier and are shown as {UNASSIGNED_TIER!r}",
                table="customers",
                column="tier",
                count=int(no_tier.sum()),
            )
        )
        c = c.with_columns(pl.col("tier").fill_null(UNASSIGNED_TIER))
    if "churned" in c.columns:
        # A snapshot export (e.g. IBM Telco): a churn flag and a tenure, no dates. The snapshot
        # date is the as-of date; churners left during the snapshot's last month (that is what
        # such flags mean), and signup lies tenure months before it.
        if options.as_of is None:
            problems.append(
                Problem(
                    "error",
                    c.get_column(FILE_COL)[0],
                    "this is a snapshot export with a churn flag but no dates: give the date the "
                    "export was taken (snapshot date on the Data page, --as-of on the command line)",
                    table="customers",
                    column="churned",
                )
            )
            return c
        as_of = options.as_of
        churn = pl.when(pl.col("churned")).then(pl.lit(as_of)).otherwise(None)
        exprs = [
            pl.coalesce(pl.col("churn_date"), churn).alias("churn_date")
            if "churn_date" in c.columns
            else churn.alias("churn_date")
        ]
        if "tenure_months" in c.columns:
            negative = (pl.col("tenure_months") < 0).fill_null(False)
            if c.select(negative.any()).item():
                rows, count = rows_of(c, negative)
                problems.append(
                    Problem("error", c.get_column(FILE_COL)[0], "negative tenures (months as a customer)",
                            table="customers", column="tenure_months", rows=rows, count=count)  # fmt: skip
                )
                return c
            signup = pl.lit(as_of).dt.offset_by(
                pl.format("-{}mo", pl.col("tenure_months").round().cast(pl.Int64))
            )
            exprs.append(
                pl.coalesce(pl.col("signup_date"), signup).alias("signup_date")
                if "signup_date" in c.columns
                else signup.alias("signup_date")
            )
        c = c.with_columns(exprs)
    return c


def _derive_deals(tables, settings: DatasetSettings, problems) -> dict[str, pl.DataFrame]:
    d = tables["deals"]
    file = d.get_column(FILE_COL)[0]
    stage_cols = [c for c in d.columns if c.startswith("__stage::")]
    if "status" not in d.columns:
        d = d.with_columns(
            pl.col("stage").map_elements(mp.derive_status, return_dtype=pl.String).alias("status")
        )
        problems.append(
            Problem(
                "info",
                file,
                "no status column: won/lost/open derived from the stage names",
                table="deals",
                column="status",
            )
        )
    else:
        words = pl.col("status")
        d = d.with_columns(
            pl.when(words.str.contains("(?i)" + WON_WORDS.pattern))
            .then(pl.lit("won"))
            .when(words.str.contains("(?i)" + LOST_WORDS.pattern))
            .then(pl.lit("lost"))
            .when(pl.col("status").is_null())
            .then(pl.col("stage").map_elements(mp.derive_status, return_dtype=pl.String))
            .otherwise(pl.lit("open"))
            .alias("status")
        )
    d = _expected_closes_apart(d, file, problems)
    history: list[pl.DataFrame] = []
    for col in stage_cols:
        stage = col.removeprefix("__stage::")
        history.append(
            d.select(
                "deal_id",
                pl.lit(stage).alias("stage"),
                pl.col(col).alias("entered_at"),
                ROW_COL,
                FILE_COL,
            ).filter(pl.col("entered_at").is_not_null())
        )
    if stage_cols:
        earliest = pl.min_horizontal([pl.col(c) for c in stage_cols])
        if "created_date" not in d.columns:
            d = d.with_columns(earliest.alias("created_date"))
            problems.append(
                Problem(
                    "info",
                    file,
                    "no creation date column: created_date is the earliest stage date "
                    f"({', '.join(c.removeprefix('__stage::') for c in stage_cols)})",
                    table="deals",
                    column="created_date",
                )
            )
        else:
            d = d.with_columns(pl.col("created_date").fill_null(earliest))
    hist = pl.concat(history) if history else None
    if "stage_history" in tables and hist is not None:
        hist = pl.concat([tables["stage_history"], hist], how="diagonal_relaxed")
    elif "stage_history" in tables:
        hist = tables["stage_history"]
    median_entered: dict[str, float] = {}
    if hist is not None and hist.height:
        med = hist.group_by("stage").agg(pl.col("entered_at").cast(pl.Int64).median())
        lo, hi = med.get_column("entered_at").min(), med.get_column("entered_at").max()
        span = (hi - lo) or 1
        median_entered = {s: 1 + 7 * (v - lo) / span for s, v in med.iter_rows()}
    stages = d.get_column("stage").drop_nulls().unique().to_list()
    if hist is not None:
        stages += hist.get_column("stage").unique().to_list()
    if not set(stages) <= set(settings.stage_order) | {
        s for s in stages if LOST_WORDS.search(s)
    }:
        settings.stage_order = mp.infer_stage_order(stages, median_entered)
    # A lost deal's stage is "the last stage reached before it closed": when an export records
    # the outcome ("Lost") as the stage, take the latest stage from its history instead.
    if hist is not None and hist.height:
        rank = {s: i for i, s in enumerate(settings.stage_order)}
        last = (
            hist.with_columns(pl.col("stage").replace_strict(rank, default=-1).alias("__rank"))
            .sort("__rank")
            .group_by("deal_id")
            .agg(pl.col("stage").last().alias("__last"))
        )
        d = (
            d.join(last, on="deal_id", how="left")
            .with_columns(
                pl.when(pl.col("stage").str.contains("(?i)" + LOST_WORDS.pattern))
                .then(pl.coalesce("__last", pl.lit(settings.stage_order[0])))
                .otherwise(pl.col("stage"))
                .alias("stage")
            )
            .drop("__last")
        )
    tables["deals"] = d.drop(stage_cols)
    if hist is not None:
        tables["stage_history"] = hist
    no_created = tables["deals"].get_column("created_date").is_null()
    if no_created.any():
        rows, count = rows_of(tables["deals"], no_created)
        problems.append(
            Problem(
                "warning",
                file,
                f"{count:,} deals have no creation date: they count in the funnel "
                "but not in views by month",
                table="deals",
                column="created_date",
                rows=rows,
                count=count,
            )
        )
    return tables


def _expected_closes_apart(d: pl.DataFrame, file: str, problems) -> pl.DataFrame:
    """Salesforce, HubSpot, Pipedrive and Zoho give every open deal a close date: the day it is
    expected to close, often still ahead. It is not an event: kept as expected_close_date, and
    an open deal has no closed_date (it would read as a date in the future, or move the as-of
    date ahead of the data)."""
    if "closed_date" not in d.columns:
        return d
    open_ = pl.col("status") == "open"
    count = d.select((open_ & pl.col("closed_date").is_not_null()).sum()).item()
    if not count:
        return d
    deals = "1 open deal carries" if count == 1 else f"{count:,} open deals carry"
    problems.append(Problem("info", file, f"{deals} a close date: the day it is expected to close, kept as "
                                          "expected_close_date (not a close)",
                            table="deals", column="closed_date", count=count))  # fmt: skip
    return d.with_columns(
        pl.when(open_).then(pl.col("closed_date")).alias("expected_close_date"),
        pl.when(open_).then(None).otherwise(pl.col("closed_date")).alias("closed_date"),
    )


def _close_old_open_deals(tables, settings: DatasetSettings, days: int, problems) -> pl.DataFrame:
    """Lead lists say who was won, not who was lost: an open deal older than `days` at the as-of
    date counts as lost, closed `days` after it was created (so it falls into a period)."""
    d = tables["deals"]
    as_of = settings.as_of or latest_event(tables)
    if as_of is None or "created_date" not in d.columns:
        return d
    limit = dt.datetime.combine(as_of, dt.time.max) - dt.timedelta(days=days)
    old = (pl.col("status") == "open") & (pl.col("created_date") <= limit)
    count = d.select(old.sum()).item()
    problems.append(
        Problem(
            "info",
            d.get_column(FILE_COL)[0],
            f"{count:,} open deals created more than {days} days before {as_of} count as lost, "
            f"closed {days} days after creation (change the number of days: 'Open deals count "
            "as lost after' on the Data page, --lost-after on the command line)",
            table="deals",
            column="status",
            count=count,
        )
    )
    return d.with_columns(
        pl.when(old).then(pl.lit("lost")).otherwise(pl.col("status")).alias("status"),
        pl.when(old)
        .then(pl.col("created_date") + pl.duration(days=days))
        .otherwise(pl.col("closed_date") if "closed_date" in d.columns else pl.lit(None, pl.Datetime("us")))
        .alias("closed_date"),
    )


def tier_order(tables: dict[str, pl.DataFrame]) -> list[str]:
    """Default tiers in their order, then any others alphabetically, Unassigned last."""
    if "customers" not in tables:
        return list(DEFAULT_TIER_ORDER)
    found = set(tables["customers"].get_column("tier").drop_nulls().unique().to_list())
    order = [t for t in DEFAULT_TIER_ORDER if t in found]
    order += sorted(found - set(order) - {UNASSIGNED_TIER})
    if UNASSIGNED_TIER in found:
        order.append(UNASSIGNED_TIER)
    return order or list(DEFAULT_TIER_ORDER)

"""Validation at the boundary (DATA_CONTRACT.md): every rule broken is a problem naming the
file, table, column, first rows and count; errors block an import, warnings are kept with it."""

from __future__ import annotations

import datetime as dt

import polars as pl

from dashboard.importer.problems import FILE_COL, ROW_COL, Problem, per_file
from metrics.schema import (
    EVENT_COLUMNS,
    TABLES,
    DatasetSettings,
    earliest_event,
)

EARLIEST_PLAUSIBLE = dt.datetime(1900, 1, 1)


ABSURD_AMOUNT = 1e12


UNKNOWN_CUSTOMER_ERROR_SHARE = 0.5  # above this share of unknown customers it is a wrong file
# Activity rows without a customer id (a shop's guest checkouts, a payment without a customer
# object) are left out up to this share; above it the column is more likely the wrong one.
MISSING_CUSTOMER_ERROR_SHARE = 0.5


LATEST_AS_OF = dt.date(2100, 12, 31)


def validate(tables: dict[str, pl.DataFrame], settings: DatasetSettings, problems) -> None:
    # A cell that did not parse is already reported; do not report it again as empty.
    unparsed = {(p.table, p.column) for p in problems if p.severity == "error"}
    _leave_out_rows_without_customer(tables, unparsed, problems)
    for name, frame in tables.items():
        spec = TABLES[name]
        for col in spec.columns:
            if col.name not in frame.columns:
                continue
            s = frame.get_column(col.name)
            if (
                col.required
                and not col.nullable
                and s.null_count()
                and (name, col.name) not in unparsed
            ):
                per_file(
                    problems,
                    "error",
                    frame,
                    s.is_null(),
                    name,
                    col.name,
                    "required values are empty",
                )
            if col.unique:
                dup = s.is_duplicated() & s.is_not_null()
                if dup.any():
                    examples = s.filter(dup).unique(maintain_order=True).head(3).to_list()
                    per_file(
                        problems,
                        "error",
                        frame,
                        dup,
                        name,
                        col.name,
                        "duplicate ids, e.g. " + ", ".join(repr(e) for e in examples),
                    )
            if col.minimum is not None or col.maximum is not None:
                low = (
                    s < col.minimum
                    if col.minimum is not None
                    else pl.repeat(False, len(s), eager=True)
                )
                high = (
                    s > col.maximum
                    if col.maximum is not None
                    else pl.repeat(False, len(s), eager=True)
                )
                out = low | high
                if out.any():
                    examples = s.filter(out).unique().head(3).to_list()
                    per_file(
                        problems,
                        "error",
                        frame,
                        out.fill_null(False),
                        name,
                        col.name,
                        f"values outside {_range(col)}, e.g. " + ", ".join(str(e) for e in examples),
                    )
            if col.allowed:
                bad = ~s.is_in(list(col.allowed)) & s.is_not_null()
                if bad.any():
                    per_file(
                        problems,
                        "error",
                        frame,
                        bad,
                        name,
                        col.name,
                        f"values other than {', '.join(col.allowed)}",
                    )
        for col in (c.name for c in spec.columns if c.dtype == pl.Float64):
            if col not in frame.columns or not frame.schema[col].is_numeric():
                continue
            absurd = frame.get_column(col).abs() >= ABSURD_AMOUNT
            if absurd.any():
                per_file(
                    problems,
                    "error",
                    frame,
                    absurd.fill_null(False),
                    name,
                    col,
                    f"absurd values (≥ {ABSURD_AMOUNT:,.0f} in size)",
                )
        _check_dates(name, frame, settings, problems)
    _check_references(tables, problems)


def _leave_out_rows_without_customer(tables: dict[str, pl.DataFrame], unparsed, problems) -> None:
    """Orders, tickets, survey answers and interactions without a customer id are left out and
    counted (with the revenue that leaves), unless they are most of their table."""
    for name in ("orders", "tickets", "surveys", "interactions"):
        frame = tables.get(name)
        if frame is None or "customer_id" not in frame.columns or (name, "customer_id") in unparsed:
            continue
        missing = frame.get_column("customer_id").is_null()
        if not missing.any() or missing.sum() > MISSING_CUSTOMER_ERROR_SHARE * frame.height:
            continue  # none, or most: the required-values check reports it as an error
        message = "rows without a customer id were left out"
        if name == "orders" and frame.schema.get("amount", pl.Null).is_numeric():
            message += f"; their revenue ({frame.filter(missing).get_column('amount').sum():,.2f}) is in no figure"
        per_file(problems, "warning", frame, missing, name, "customer_id", message)
        tables[name] = frame.filter(~missing)


def _range(col) -> str:
    if col.maximum is None:
        return f"the allowed range (at least {col.minimum:g})"
    if col.minimum is None:
        return f"the allowed range (at most {col.maximum:g})"
    return f"{col.minimum:g}–{col.maximum:g}"


def _check_dates(name: str, frame: pl.DataFrame, settings: DatasetSettings, problems) -> None:
    today = dt.datetime.now()  # only a sanity bound: results never depend on the wall clock
    limit = dt.datetime.combine(settings.as_of, dt.time.max) if settings.as_of else None
    for col in EVENT_COLUMNS[name]:
        if col not in frame.columns:
            continue
        s = frame.get_column(col)
        s = s.cast(pl.Datetime("us")) if s.dtype == pl.Date else s
        early = s < EARLIEST_PLAUSIBLE
        if early.any():
            per_file(
                problems,
                "error",
                frame,
                early.fill_null(False),
                name,
                col,
                "dates before 1900 (a wrong date format?)",
            )
        if limit is not None and (late := s > limit).any():
            per_file(
                problems,
                "error",
                frame,
                late.fill_null(False),
                name,
                col,
                f"dates after the as-of date {settings.as_of}",
            )
        elif (future := s > today).any():
            per_file(
                problems, "error", frame, future.fill_null(False), name, col, "dates in the future"
            )


def _check_references(tables: dict[str, pl.DataFrame], problems) -> None:
    if "customers" not in tables:
        return
    known = tables["customers"].get_column("customer_id").drop_nulls()
    for name in ("orders", "tickets", "surveys", "interactions", "deals"):
        if name not in tables or "customer_id" not in tables[name].columns:
            continue
        frame = tables[name]
        ids = frame.get_column("customer_id")
        unknown = ids.is_not_null() & ~ids.is_in(known.implode())
        if not unknown.any():
            continue
        examples = ", ".join(repr(v) for v in ids.filter(unknown).unique().head(3).to_list())
        share = unknown.sum() / max(ids.is_not_null().sum(), 1)
        if name == "deals":  # prospects' deals may name accounts the customers file lacks
            severity, message = "warning", f"deals of accounts not in the customers file (kept, e.g. {examples})"
        elif share > UNKNOWN_CUSTOMER_ERROR_SHARE:
            severity, message = "error", (f"{share:.0%} of rows refer to customers that are not in the customers "
                                          f"file, e.g. {examples} — is it the right customers file?")  # fmt: skip
        else:
            severity, message = "warning", f"rows of unknown customers were dropped, e.g. {examples}"
            tables[name] = frame.filter(~unknown)
        per_file(problems, severity, frame, unknown, name, "customer_id", message)
    if "stage_history" in tables and "deals" in tables:
        h = tables["stage_history"]
        unknown = ~h.get_column("deal_id").is_in(tables["deals"].get_column("deal_id").implode())
        if unknown.any():
            per_file(
                problems,
                "warning",
                h,
                unknown,
                "stage_history",
                "deal_id",
                "stage history of unknown deals was dropped",
            )
            tables["stage_history"] = h.filter(~unknown)
    if "orders" in tables and "signup_date" in tables["customers"].columns:
        o = tables["orders"].join(
            tables["customers"].select("customer_id", "signup_date"), on="customer_id", how="left"
        )
        early = o.get_column("order_date").dt.date() < o.get_column("signup_date")
        if early.fill_null(False).any():
            per_file(
                problems,
                "warning",
                o,
                early.fill_null(False),
                "orders",
                "order_date",
                "orders dated before the customer's signup date",
            )


def validate_tables(
    tables: dict[str, pl.DataFrame], settings: DatasetSettings | None = None, *, source: str
) -> tuple[dict[str, pl.DataFrame], list[Problem]]:
    """Validate frames that arrive already typed (the SQL source) by the same rules as uploads:
    the tables as they pass them (rows of unknown customers dropped, as for a file) and the
    problems, each naming `source` and the table."""
    problems: list[Problem] = []
    marked = {
        name: frame.with_row_index(ROW_COL, offset=1).with_columns(
            pl.col(ROW_COL).cast(pl.Int64), pl.lit(f"{source} {name}").alias(FILE_COL)
        )
        for name, frame in tables.items()
    }
    validate(marked, settings or DatasetSettings(), problems)
    return {name: frame.drop(ROW_COL, FILE_COL) for name, frame in marked.items()}, problems


def check_as_of(tables: dict[str, pl.DataFrame], settings: DatasetSettings, problems) -> None:
    """An as-of date before all the data, or beyond any business date, leaves nothing to compute."""
    if settings.as_of is None:
        return
    first = earliest_event(tables)
    if settings.as_of > LATEST_AS_OF:
        problems.append(
            Problem("error", "(settings)", f"the as-of date {settings.as_of} is after {LATEST_AS_OF}: a typo?")
        )
    elif first is not None and settings.as_of < first:
        problems.append(
            Problem(
                "error",
                "(settings)",
                f"the as-of date {settings.as_of} is before the data's first date {first}: "
                "nothing would be known on it",
            )
        )

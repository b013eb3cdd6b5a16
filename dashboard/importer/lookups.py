"""Files that are no CRM table by themselves (a product list, a sales team list) joined onto the
table whose column their first column matches."""

from __future__ import annotations

import polars as pl

from dashboard.importer import mapping as mp
from dashboard.importer.convert import extra_name
from dashboard.importer.model import FilePlan
from dashboard.importer.parsing import (
    clean_text,
)
from dashboard.importer.problems import ROW_COL, Problem, rows_of
from metrics.schema import (
    TABLES,
)


def assign_lookups(plans: list[FilePlan], problems: list[Problem]) -> None:
    """Files that are no canonical table (product lists, sales teams) enrich a table when their
    first column's values are a column of that table; others are left out with a notice."""
    tables = [p for p in plans if p.role == "table"]
    for p in plans:
        if p.role != "lookup":
            continue
        key = p.raw.columns[0]
        keys = set(clean_text(p.raw.frame.get_column(key)).drop_nulls().unique().to_list())
        best: tuple[float, FilePlan, str] | None = None
        for t in tables:
            for col in t.raw.columns:
                if col in t.stage_columns:
                    continue
                values = set(
                    clean_text(t.raw.frame.get_column(col))
                    .drop_nulls()
                    .unique()
                    .head(5000)
                    .to_list()
                )
                if not values or not keys:
                    continue
                overlap = len(values & keys) / len(values)
                if overlap >= 0.5 and (best is None or overlap > best[0]):
                    best = (overlap, t, col)
        if best:
            p.lookup = (best[1].table, best[2], key)
            problems.append(
                Problem(
                    "info",
                    p.raw.name,
                    f"not a CRM table by itself: its columns are added to {best[1].table} by matching "
                    f"{key!r} with {best[2]!r}",
                    table=best[1].table,
                    column=best[2],
                )
            )
        else:
            p.role = "skipped"
            problems.append(
                Problem(
                    "info",
                    p.raw.name,
                    "not recognised as a CRM table and matches no other file: left out "
                    "(choose its table on the Data page if it is one)",
                )
            )


def apply_lookups(plans: list[FilePlan], tables: dict[str, pl.DataFrame], problems) -> None:
    for p in plans:
        if p.lookup is None or p.lookup[0] not in tables:
            continue
        table, src_col, key = p.lookup
        target = tables[table]
        col = next(
            (c for c, s in _mapping_of(plans, table).items() if s == src_col), None
        ) or extra_name(src_col, {})
        if col not in target.columns:
            continue
        extra = p.raw.frame.drop(ROW_COL).select(pl.all().cast(pl.String))
        extra = extra.rename({c: extra_name(c, target.columns) for c in extra.columns if c != key})
        extra = extra.rename({key: col}).unique(subset=col, keep="first")
        joined = target.join(extra, on=col, how="left", coalesce=True)
        added = [c for c in extra.columns if c != col]
        unmatched = (
            target.get_column(col).is_not_null() & joined.get_column(added[0]).is_null()
            if added
            else None
        )
        if unmatched is not None and unmatched.any():
            rows, count = rows_of(target, unmatched)
            values = target.get_column(col).filter(unmatched).unique().head(3).to_list()
            problems.append(
                Problem(
                    "warning",
                    p.raw.name,
                    f"{count:,} {table} rows have a {col} with no match in this file, e.g. "
                    + ", ".join(repr(v) for v in values),
                    table=table,
                    column=col,
                    rows=rows,
                    count=count,
                )
            )
        # A lookup column can fill a canonical column the table lacks (regional_office → region).
        missing = [c for c in TABLES[table].names if c not in _mapping_of(plans, table)]
        fills = {c: s for c, s in mp.guess_mapping(table, p.raw.columns).items() if c in missing}
        for canonical, source in fills.items():
            src_name = extra_name(source, target.columns)
            if src_name in joined.columns:
                joined = joined.with_columns(pl.col(src_name).alias(canonical))
        tables[table] = joined


def _mapping_of(plans: list[FilePlan], table: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for p in plans:
        if p.table == table and p.role == "table":
            out.update(p.mapping)
    return out

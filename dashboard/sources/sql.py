"""A SQL database as a source: one SQLAlchemy URL, and per canonical table a table name or a query.

Configured in .streamlit/secrets.toml ([sql_source]) or by CRM_SQL_URL, never typed into a page.
Tier and date filters are pushed into the WHERE clause as bound parameters, so the database only
sends the slice asked for; configured queries are wrapped as sub-queries, never concatenated with
user input.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import polars as pl
import sqlalchemy as sa

from metrics.schema import TABLES, conform

# The date each table is filtered on.
DATE_COLUMN = {
    "orders": "order_date",
    "deals": "created_date",
    "stage_history": "entered_at",
    "tickets": "created_at",
    "surveys": "responded_at",
    "interactions": "occurred_at",
}


@dataclass(frozen=True)
class SqlFilters:
    tiers: tuple[str, ...] | None = None  # None: every tier
    start: dt.date | None = None
    end: dt.date | None = None  # inclusive


class SqlSource:
    def __init__(self, url: str, tables: dict[str, str]):
        unknown = set(tables) - set(TABLES)
        if unknown:
            raise ValueError(
                f"[sql_source.tables] names unknown tables: {', '.join(sorted(unknown))}"
            )
        if "customers" not in tables:
            raise ValueError("[sql_source.tables] must name the customers table")
        self.engine = sa.create_engine(url)
        self.tables = tables

    def close(self) -> None:
        self.engine.dispose()

    def _source(self, table: str) -> str:
        """A FROM-clause item (to be aliased) for a configured table name or query (admin
        configuration)."""
        spec = self.tables[table].strip()
        if spec.lower().startswith(("select", "with")):
            return f"({spec})"
        quote = self.engine.dialect.identifier_preparer.quote
        return ".".join(quote(part) for part in spec.split("."))

    def statement(self, table: str, filters: SqlFilters) -> tuple[sa.TextClause, dict]:
        """SELECT for one table with the filters as bound parameters.

        The tier filter reaches deals and stage_history through a LEFT JOIN on the chosen
        customers rather than `customer_id IN (…) OR …`: MariaDB cannot turn an IN sub-query under
        an OR into a semi-join and re-ran it for every row (26 s on the 5,000-customer sample)."""
        conditions: list[str] = []
        joins = ""
        params: dict = {}
        chosen = f"(SELECT DISTINCT c.customer_id FROM {self._source('customers')} AS c WHERE c.tier IN :tiers)"
        if filters.tiers is not None:
            params["tiers"] = list(filters.tiers)
            if table == "customers":
                conditions.append("t.tier IN :tiers")
            elif table == "deals":
                joins = f" LEFT JOIN {chosen} AS k ON t.customer_id = k.customer_id"
                conditions.append("(k.customer_id IS NOT NULL OR (t.customer_id IS NULL AND t.tier IN :tiers))")
            elif table == "stage_history":
                if "deals" in self.tables:
                    conditions.append(
                        f"t.deal_id IN (SELECT d.deal_id FROM {self._source('deals')} AS d LEFT JOIN {chosen} AS k "
                        "ON d.customer_id = k.customer_id "
                        "WHERE k.customer_id IS NOT NULL OR (d.customer_id IS NULL AND d.tier IN :tiers))"
                    )
            else:
                conditions.append(f"t.customer_id IN {chosen}")
        date_col = DATE_COLUMN.get(table)
        if date_col and filters.start:
            conditions.append(f"t.{date_col} >= :start")
            params["start"] = dt.datetime.combine(filters.start, dt.time.min)
        if date_col and filters.end:
            conditions.append(f"t.{date_col} < :end")
            params["end"] = dt.datetime.combine(filters.end + dt.timedelta(days=1), dt.time.min)
        where = f" WHERE {' AND '.join(conditions)}" if conditions else ""
        stmt = sa.text(f"SELECT t.* FROM {self._source(table)} AS t{joins}{where}")
        if "tiers" in params:
            stmt = stmt.bindparams(sa.bindparam("tiers", expanding=True))
        return stmt, params

    def load(self, filters: SqlFilters = SqlFilters()) -> dict[str, pl.DataFrame]:
        frames: dict[str, pl.DataFrame] = {}
        with self.engine.connect() as conn:
            for table in self.tables:
                stmt, params = self.statement(table, filters)
                result = conn.execute(stmt, params)
                columns = list(result.keys())
                rows = result.fetchall()
                frame = pl.DataFrame(
                    [tuple(r) for r in rows], schema=columns, orient="row", infer_schema_length=None
                )
                frames[table] = conform(_normalise_types(frame, table), table)
        return frames


def _normalise_types(frame: pl.DataFrame, table: str) -> pl.DataFrame:
    """Drivers disagree on types: NUMERIC arrives as Decimal, SQLite returns dates as text."""
    frame = frame.with_columns(pl.col(pl.Decimal).cast(pl.Float64))
    fixes = []
    for col in TABLES[table].columns:
        if col.name in frame.columns and frame.schema[col.name] == pl.String:
            if col.kind == "date":
                fixes.append(pl.col(col.name).str.to_datetime(strict=False).dt.date())
            elif col.kind == "datetime":
                fixes.append(pl.col(col.name).str.to_datetime(strict=False, time_unit="us"))
    return frame.with_columns(fixes) if fixes else frame


def from_config(config: dict) -> SqlSource:
    return SqlSource(config["url"], dict(config.get("tables", {})))

"""A SQL database as a source: one SQLAlchemy URL, and per canonical table a table name or a query.

Configured in .streamlit/secrets.toml ([sql_source]) or by CRM_SQL_URL, never typed into a page.
The dashboard loads each configured table whole (`load_checked`: every comparison period and
point-in-time figure needs the history around the filtered slice), through Arrow with connectorx
for PostgreSQL, MySQL/MariaDB and SQLite, and validates it by the same rules as an uploaded file.
`load(SqlFilters(...))` pushes tier and date filters into the WHERE clause as bound parameters,
for scripts that want only a slice; configured queries are wrapped as sub-queries, never
concatenated with user input.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import polars as pl
import sqlalchemy as sa

from metrics.schema import TABLES, conform

# SQLAlchemy backends connectorx reads into Arrow, and the scheme it knows each by.
ARROW_SCHEMES = {"postgresql": "postgresql", "mysql": "mysql", "mariadb": "mysql", "sqlite": "sqlite"}

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
        """Each configured table in the canonical schema; a filter's values are bound parameters.
        Unfiltered reads go through Arrow (connectorx) where the database kind allows it."""
        frames: dict[str, pl.DataFrame] = {}
        uri = self._arrow_uri()
        with self.engine.connect() as conn:
            for table in self.tables:
                stmt, params = self.statement(table, filters)
                if uri and not params:
                    frame = self._read_arrow(str(stmt), uri)
                else:
                    frame = pl.read_database(
                        stmt, conn, execute_options={"parameters": params}, infer_schema_length=None
                    )
                frames[table] = conform(_normalise_types(frame, table), table)
        return frames

    def load_checked(self) -> tuple[dict[str, pl.DataFrame], list]:
        """Every table, validated as an uploaded file is (duplicate ids, ranges, unknown
        customers …): the tables as they pass the rules, and the problems in words."""
        from dashboard.importer.pipeline import validate_tables

        return validate_tables(self.load(), source="SQL")

    def _arrow_uri(self) -> str | None:
        url = self.engine.url
        scheme = ARROW_SCHEMES.get(url.get_backend_name())
        if scheme is None:
            return None
        if scheme == "sqlite":
            if not url.database or url.database == ":memory:":
                return None
            url = url.set(database=str(Path(url.database).resolve()))
        return url.set(drivername=scheme).render_as_string(hide_password=False)

    def _read_arrow(self, query: str, uri: str) -> pl.DataFrame:
        try:
            return pl.read_database_uri(query, uri, engine="connectorx")
        except Exception as exc:  # noqa: BLE001 - connectorx raises its own types
            # its messages can quote the connection string: never pass the password on
            password = self.engine.url.password
            text = str(exc).replace(password, "***") if password else str(exc)
            raise RuntimeError(f"reading the SQL source failed: {text}") from None


def _normalise_types(frame: pl.DataFrame, table: str) -> pl.DataFrame:
    """Drivers disagree on types: NUMERIC arrives as Decimal, SQLite returns dates as text."""
    frame = frame.with_columns(pl.col(pl.Decimal).cast(pl.Float64))
    # time-zone-aware columns are instants: UTC wall-clock, as the importer reads them
    aware = [c for c, t in frame.schema.items() if isinstance(t, pl.Datetime) and t.time_zone]
    if aware:
        frame = frame.with_columns(pl.col(aware).dt.convert_time_zone("UTC").dt.replace_time_zone(None))
    # Arrow readers give the database's integer widths; ids are text in the contract
    ids = [c for c in frame.columns if c.endswith("_id") and frame.schema[c] != pl.String]
    frame = frame.with_columns(pl.col(ids).cast(pl.String)) if ids else frame
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

"""The canonical CRM tables (../shared/DATA_CONTRACT.md), defined once in code.

The sample generator, the importer, the dataset store, the SQL source and the tests all read
their column names, types and rules from here, so a change to the contract is a change to one file.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from dataclasses import dataclass, field
from typing import Any

import polars as pl

DATETIME = pl.Datetime("us")

DEFAULT_TIER_ORDER: tuple[str, ...] = ("Bronze", "Silver", "Gold", "Platinum")
UNASSIGNED_TIER = "Unassigned"
DEFAULT_STAGE_ORDER: tuple[str, ...] = ("Lead", "Qualified", "Proposal", "Negotiation", "Won")
DEFAULT_SLA_HOURS: dict[str, float] = {"urgent": 1.0, "high": 4.0, "normal": 24.0, "low": 72.0}
DEAL_STATUSES: tuple[str, ...] = ("open", "won", "lost")


@dataclass(frozen=True)
class Column:
    name: str
    dtype: pl.DataType
    required: bool = False  # the column must be present (mapped from the source or derivable)
    nullable: bool = True  # a missing value in a present column is allowed
    unique: bool = False
    minimum: float | None = None
    maximum: float | None = None
    allowed: tuple[str, ...] | None = None
    description: str = ""

    @property
    def kind(self) -> str:
        """'text', 'number', 'integer', 'date' or 'datetime': how the importer parses it."""
        if self.dtype == pl.String:
            return "text"
        if self.dtype == pl.Float64:
            return "number"
        if self.dtype.is_integer():
            return "integer"
        if self.dtype == pl.Date:
            return "date"
        if self.dtype == pl.Boolean:
            return "boolean"
        return "datetime"


@dataclass(frozen=True)
class Table:
    name: str
    columns: tuple[Column, ...]
    required: bool = False
    id_column: str | None = None
    description: str = ""
    enables: str = ""  # which pages need it: used in "load table X to enable …" messages

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]

    def column(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(f"{self.name} has no canonical column {name!r}")

    @property
    def polars_schema(self) -> dict[str, pl.DataType]:
        return {c.name: c.dtype for c in self.columns}


def _c(name: str, dtype: pl.DataType, **kw: Any) -> Column:
    return Column(name, dtype, **kw)


S, F, D, T = pl.String, pl.Float64, pl.Date, DATETIME

CUSTOMERS = Table(
    "customers",
    (
        _c("customer_id", S, required=True, nullable=False, unique=True),
        _c("name", S),
        _c("tier", S, required=True, description='customer tier; missing → "Unassigned"'),
        _c("segment", S, description="market / industry segment"),
        _c("region", S),
        _c("acquisition_channel", S, description="where the customer came from"),
        _c("signup_date", D, description="default: first order date"),
        _c("acquisition_cost", F, minimum=0.0, description="cost to acquire (CAC)"),
        _c("churn_date", D, description="known end of the relationship (contractual)"),
    ),
    required=True,
    id_column="customer_id",
    enables="every page",
)

ORDERS = Table(
    "orders",
    (
        _c("order_id", S, required=True, nullable=False, unique=True),
        _c("customer_id", S, required=True, nullable=False),
        _c("order_date", T, required=True, nullable=False),
        _c("amount", F, required=True, nullable=False, description="negative = refund"),
        _c("gross_margin", F, description="default: amount × margin rate"),
        _c("product", S),
    ),
    required=True,
    id_column="order_id",
    enables="Retention, Lifetime value, Segments, Churn risk and the Overview's revenue and customer figures",
)

DEALS = Table(
    "deals",
    (
        _c("deal_id", S, required=True, nullable=False, unique=True),
        _c("customer_id", S),
        # Required, but exports such as Maven's carry no creation date for deals that never left
        # the first stage: those rows are kept (they count in the funnel) with a warning.
        _c("created_date", T, required=True),
        _c("stage", S, required=True, nullable=False),
        _c("status", S, required=True, nullable=False, allowed=DEAL_STATUSES),
        _c("closed_date", T),
        _c("amount", F),
        _c("owner", S),
        _c("source", S),
        _c("tier", S),
        _c("segment", S),
        _c("region", S),
    ),
    id_column="deal_id",
    enables="Funnel",
)

STAGE_HISTORY = Table(
    "stage_history",
    (
        _c("deal_id", S, required=True, nullable=False),
        _c("stage", S, required=True, nullable=False),
        _c("entered_at", T, required=True, nullable=False),
    ),
    enables="time in stage and the furthest stage of each deal on the Funnel page",
)

TICKETS = Table(
    "tickets",
    (
        _c("ticket_id", S, required=True, nullable=False, unique=True),
        _c("customer_id", S, required=True, nullable=False),
        _c("created_at", T, required=True, nullable=False),
        _c("first_response_at", T),
        _c("resolved_at", T),
        _c("channel", S),
        _c("category", S),
        _c("priority", S),
        _c("csat", pl.Int8, minimum=1, maximum=5),
    ),
    id_column="ticket_id",
    enables="response times and complaints on the Satisfaction page",
)

SURVEYS = Table(
    "surveys",
    (
        _c("response_id", S, required=True, nullable=False, unique=True),
        _c("customer_id", S, required=True, nullable=False),
        _c("responded_at", T, required=True, nullable=False),
        _c("nps", pl.Int8, minimum=0, maximum=10),
        _c("csat", pl.Int8, minimum=1, maximum=5),
        _c("ces", pl.Int8, minimum=1, maximum=7),
        _c("comment", S),
    ),
    id_column="response_id",
    enables="NPS, CSAT and CES on the Satisfaction page",
)

INTERACTIONS = Table(
    "interactions",
    (
        _c("interaction_id", S, required=True, nullable=False, unique=True),
        _c("customer_id", S, required=True, nullable=False),
        _c("occurred_at", T, required=True, nullable=False),
        _c("channel", S),
        _c("direction", S, allowed=("inbound", "outbound")),
        _c("owner", S),
    ),
    id_column="interaction_id",
    enables="contacts per sale on the Segments page",
)

TABLES: dict[str, Table] = {
    t.name: t for t in (CUSTOMERS, ORDERS, DEALS, STAGE_HISTORY, TICKETS, SURVEYS, INTERACTIONS)
}

# Where each table's events happen: used for the default as-of date and the future-date check.
EVENT_COLUMNS: dict[str, tuple[str, ...]] = {
    "customers": ("signup_date", "churn_date"),
    "orders": ("order_date",),
    "deals": ("created_date", "closed_date"),
    "stage_history": ("entered_at",),
    "tickets": ("created_at", "first_response_at", "resolved_at"),
    "surveys": ("responded_at",),
    "interactions": ("occurred_at",),
}


#: A currency as settings hold it: an ISO code or a symbol (letters only, so it can be shown anywhere)
CURRENCY_FORM = re.compile(r"[A-Za-z€£$¥₹₽₺₩﷼]{1,8}")


@dataclass
class DatasetSettings:
    """The per-dataset settings of DATA_CONTRACT.md, stored with each dataset as JSON."""

    currency: str = "USD"
    margin_rate: float = 1.0
    tier_order: list[str] = field(default_factory=lambda: list(DEFAULT_TIER_ORDER))
    stage_order: list[str] = field(default_factory=lambda: list(DEFAULT_STAGE_ORDER))
    churn_window_days: int = 90
    sla_hours: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_SLA_HOURS))
    as_of: dt.date | None = None  # None: the latest event date in the data
    # What serving a customer costs, for the portfolio and retention cost (None: not known)
    cost_per_ticket: float | None = None
    cost_per_interaction: float | None = None
    # the clock every timestamp is read on (an IANA name): instants from any source become
    # wall-clock times here, so a day or a month means the same whatever the file format
    time_zone: str = "UTC"

    def currency_code(self) -> str:
        """The currency as a code or symbol, "" when none is set or it is not one (CURRENCY_FORM):
        what a label or a report may show of it."""
        return self.currency if CURRENCY_FORM.fullmatch(self.currency or "") else ""

    def to_json(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["as_of"] = self.as_of.isoformat() if self.as_of else None
        return d

    @classmethod
    def from_json(cls, d: dict[str, Any] | None) -> DatasetSettings:
        d = dict(d or {})
        known = {f.name for f in dataclasses.fields(cls)}
        d = {k: v for k, v in d.items() if k in known}
        if d.get("as_of"):
            d["as_of"] = dt.date.fromisoformat(d["as_of"])
        return cls(**d)


def conform(frame: pl.DataFrame, table: str | Table) -> pl.DataFrame:
    """Canonical columns first, in contract order and type; absent optional columns become null;
    extra columns a source brings are kept after them (they are filter/group dimensions)."""
    spec = TABLES[table] if isinstance(table, str) else table
    canonical = [
        (pl.col(c.name).cast(c.dtype) if c.name in frame.columns else pl.lit(None, c.dtype)).alias(
            c.name
        )
        for c in spec.columns
    ]
    extras = [c for c in frame.columns if c not in spec.names]
    return frame.select(*canonical, *extras)


def _event_dates(tables: dict[str, pl.DataFrame], pick: str) -> list[dt.date]:
    found: list[dt.date] = []
    for name, frame in tables.items():
        for col in EVENT_COLUMNS.get(name, ()):
            if col in frame.columns and frame.height and frame.schema[col].is_temporal():
                value = getattr(frame.get_column(col), pick)()
                if value is not None:
                    found.append(value.date() if isinstance(value, dt.datetime) else value)
    return found


def latest_event(tables: dict[str, pl.DataFrame]) -> dt.date | None:
    """The default as-of date: the latest event date in the data (never the wall clock)."""
    return max(_event_dates(tables, "max"), default=None)


def earliest_event(tables: dict[str, pl.DataFrame]) -> dt.date | None:
    """The first event date in the data: no as-of date can be earlier."""
    return min(_event_dates(tables, "min"), default=None)


KEY_COLUMNS = ("customer_id", "deal_id")


def with_categorical_keys(tables: dict[str, pl.DataFrame]) -> dict[str, pl.DataFrame]:
    """The same tables with customer_id and deal_id cast to Categorical, for a dataset that many
    metrics will read (the dashboard's loaded dataset, the benchmarks, the command line).

    Why: every metric groups or joins ten million orders by customer. On string ids Polars hashes
    every string each time; on Categorical ids it works on the integer codes (a group-by over
    10M orders: 2.7 s → 0.45 s here), and the cast is paid once per dataset (1.4–2.4 s for all
    seven tables at 1M customers). Categories are global in Polars, so the keys of different
    tables still join. Every metric gives the same answer on either form
    (tests/test_eager_lazy.py); ids still print and export as text.
    """

    def cast(frame):
        keys = [c for c in KEY_COLUMNS if c in frame.collect_schema().names()]
        return frame.with_columns(pl.col(keys).cast(pl.Categorical)) if keys else frame

    # The customers' ids enter the categories in text order first, so that new ids get codes in
    # that order and per-customer tables sort by code (metrics.stats.sorted_by_id: 0.1 s less per
    # million rows). Ids the process has seen before keep their codes; sorting then falls back to
    # comparing the text, correct either way. (Polars forgets categories nothing refers to: the
    # sorted ids are held until the tables refer to them.)
    in_text_order = None
    if "customers" in tables and "customer_id" in tables["customers"].collect_schema().names():
        ids = tables["customers"].get_column("customer_id")
        if ids.dtype == pl.String:
            # a repeated id takes the code of its first row, so sorting is enough (no unique(), 0.3 s
            # at a million ids); a customers table stored in id order needs no sort either
            ids = ids.drop_nulls()
            in_text_order = (ids if ids.is_sorted() else ids.sort()).cast(pl.Categorical)
    cast_tables = {name: cast(frame) for name, frame in tables.items()}
    del in_text_order  # referenced until the tables are cast, on purpose
    return cast_tables

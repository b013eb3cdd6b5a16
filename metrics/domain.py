"""The domain's types, owned by neither the UI nor the store: a period of days, a slice of the
customers, the filters a page is computed for, and a dataset. Every layer imports them from here:
the metrics (Period, Slice), the store (Dataset), the sidebar (Filters) and the page views."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from metrics.schema import DatasetSettings


@dataclass(frozen=True)
class Period:
    start: dt.date
    end: dt.date

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def label(self) -> str:
        return f"{self.start:%d %b %Y} – {self.end:%d %b %Y}"


@dataclass(frozen=True)
class Slice:
    """Chosen values per dimension; an empty tuple means "all"."""

    tiers: tuple[str, ...] = ()
    segments: tuple[str, ...] = ()
    regions: tuple[str, ...] = ()
    channels: tuple[str, ...] = ()

    @property
    def is_everything(self) -> bool:
        return not (self.tiers or self.segments or self.regions or self.channels)


@dataclass(frozen=True)
class Filters:
    """What a page is computed for: the customers' slice, the period, the comparison ("previous"
    or "year") and the as-of date."""

    slice: Slice
    period: Period
    comparison: str
    as_of: dt.date

    @property
    def key(self) -> tuple:
        """Hashable identity for caching results of this view."""
        return (self.slice, self.period, self.comparison, self.as_of)

    @property
    def slice_key(self) -> tuple:
        """The filters but the period and comparison: what the data a page reads is cut by."""
        return (self.slice, self.as_of)


@dataclass
class Dataset:
    """Canonical frames plus what was learned importing them."""

    name: str
    tables: dict[str, pl.DataFrame]
    settings: DatasetSettings = field(default_factory=DatasetSettings)
    report: list[dict[str, Any]] = field(default_factory=list)  # warnings kept with the data
    mapping: dict[str, Any] = field(default_factory=dict)  # how source columns were understood
    updated_at: dt.datetime | None = None

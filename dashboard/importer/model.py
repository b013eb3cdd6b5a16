"""The import's types: the files given, the options chosen, each file's plan and the whole plan."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from dashboard.importer import recipes
from dashboard.importer.problems import Problem
from dashboard.importer.reading import RawFile
from metrics.schema import (
    DatasetSettings,
)


@dataclass
class SourceFile:
    name: str
    data: bytes


@dataclass
class ImportOptions:
    as_of: dt.date | None = None  # snapshot date; also the as-of date setting when given
    encoding: str | None = None
    delimiter: str | None = None
    prefer_dmy: bool = False  # how to read dates that could be D/M/Y or M/D/Y
    time_zone: str = "UTC"  # the dataset's clock: instants become wall-clock times there
    max_bytes: int | None = None
    # per file name: {"table": name or "skip", "mapping": {canonical: source header}}
    overrides: dict[str, dict[str, Any]] = field(default_factory=dict)
    # a mapping file (recipes.py); None: recognise the export's shape from its headers
    recipe: recipes.Recipe | None = None
    currency: str | None = None  # None: detected from the amounts, else asked
    margin_rate: float | None = None  # None: not known (margins then equal revenue)
    lost_after_days: int | None = None  # open deals older than this count as lost


@dataclass
class FilePlan:
    raw: RawFile
    table: str | None  # None: not a canonical table
    mapping: dict[str, str]
    stage_columns: dict[str, str]
    shape: str
    mapping_source: str  # detected / saved / chosen
    role: str = "table"  # table / lookup / joined / skipped
    lookup: tuple[str, str, str] | None = None  # (table, table column, file column)


@dataclass
class ImportPlan:
    files: list[FilePlan]
    tables: dict[str, pl.DataFrame]
    settings: DatasetSettings
    problems: list[Problem]
    recipe: recipes.Recipe | None = None  # the shape recognised or the mapping file given
    sources: dict[str, RawFile] = field(default_factory=dict)  # each file as read, by name
    recipe_given: bool = False  # the recipe came from the user (a file, the page), not recognition

    @property
    def ok(self) -> bool:
        return not any(p.severity == "error" for p in self.problems)

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "warning"]

    def row_counts(self) -> dict[str, int]:
        return {t: f.height for t, f in self.tables.items()}

    def mapping_file(self) -> dict[str, Any]:
        """The mapping this plan used, as a file `--mapping` (and the Data page) accept again."""
        recipe = self.recipe or recipes.Recipe({}, "mapping file")
        files = dict(recipe.files)
        for f in self.files:
            if f.role == "table" and f.mapping_source != "recipe":
                files[f.raw.name] = recipes.FileRecipe(f.table, dict(f.mapping))
        skipped = [f.raw.name for f in self.files if f.role == "skipped"]
        return recipes.Recipe(files, recipe.shape, recipe.open_lost_after_days, skipped).to_json()

    def mapping_json(self) -> dict[str, Any]:
        return {
            f.raw.name: {
                "table": f.table,
                "role": f.role,
                "mapping": f.mapping,
                "stage_columns": f.stage_columns,
                "detected": f.raw.describe(),
                "mapping_source": f.mapping_source,
            }
            for f in self.files
        }

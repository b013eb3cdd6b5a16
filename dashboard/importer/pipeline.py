"""Files → a checked import plan (the dry run) → a stored dataset.

`plan_import` reads every file, decides its table and column mapping, converts it to the canonical
schema and validates it as DATA_CONTRACT.md says; nothing is stored. `commit_import` stores a plan
without errors atomically. The Data page and `python -m dashboard import` both call these two.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import available_timezones

import polars as pl

from dashboard.export import FORMULA_START
from dashboard.importer import mapping as mp
from dashboard.importer import recipes, shapes
from dashboard.importer.parsing import (
    Parsed,
    clean_id,
    clean_text,
    detect_currency,
    parse_date,
    parse_datetime,
    parse_flag,
    parse_integer,
    parse_number,
)
from dashboard.importer.problems import ROW_COL, ImportFailed, Problem, rows_of
from dashboard.importer.reading import MAX_CELL_CHARS, RawFile, ReadError, read_file
from dashboard.store import Dataset, Store
from metrics.schema import (
    DEFAULT_TIER_ORDER,
    EVENT_COLUMNS,
    TABLES,
    UNASSIGNED_TIER,
    DatasetSettings,
    conform,
    earliest_event,
    latest_event,
)

FILE_COL = "__file"
EARLIEST_PLAUSIBLE = dt.datetime(1900, 1, 1)
ABSURD_AMOUNT = 1e12
UNKNOWN_CUSTOMER_ERROR_SHARE = 0.5  # above this share of unknown customers it is a wrong file


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


# --- planning ---------------------------------------------------------------------------------------
def plan_import(
    files: list[SourceFile], *, options: ImportOptions | None = None, store: Store | None = None
) -> ImportPlan:
    options = options or ImportOptions()
    problems: list[Problem] = []
    raws: list[RawFile] = []
    for f in files:
        try:
            raw = read_file(
                f.name,
                f.data,
                max_bytes=options.max_bytes,
                encoding=options.encoding,
                delimiter=options.delimiter,
            )
        except ReadError as exc:
            problems.append(exc.problem)
            continue
        problems.extend(raw.notes)
        raws.append(raw)
    recipe = (
        options.recipe
        or _saved_recipe(raws, store)
        or shapes.recognise([r for r in raws if r.name not in options.overrides])
    )
    plans = _plan_recipe(recipe, raws, problems) if recipe else []
    consumed = {p.raw.name for p in plans}
    for raw in raws:
        if raw.name in consumed:
            continue
        if recipe and raw.name in recipe.skip:
            plans.append(FilePlan(raw, None, {}, {}, mp.shape_key(raw.columns), "chosen", role="skipped"))
        else:
            plans.append(_plan_file(raw, options, store))
    settings = DatasetSettings(time_zone=options.time_zone)
    if options.time_zone not in available_timezones() and options.time_zone != "UTC":
        problems.append(Problem("error", "(settings)", f"unknown time zone {options.time_zone!r}: use a name such as Europe/London"))
        return ImportPlan([], {}, settings, problems, None, {r.name: r for r in raws})
    if options.as_of:
        settings.as_of = options.as_of
    if not plans:
        if not problems:
            problems.append(Problem("error", "(no file)", "no files were given"))
        return ImportPlan([], {}, settings, problems, recipe, {r.name: r for r in raws})

    _assign_lookups(plans, problems)
    converted: dict[str, list[pl.DataFrame]] = {}
    for fp in plans:
        if fp.role != "table":
            continue
        frame = _convert(fp, options, settings, problems)
        if frame is not None:
            converted.setdefault(fp.table, []).append(frame)
    tables = {t: pl.concat(frames, how="diagonal_relaxed") for t, frames in converted.items()}
    _apply_lookups(plans, tables, problems)
    lost_after = options.lost_after_days or (recipe.open_lost_after_days if recipe else None)
    tables = _derive(tables, plans, options, settings, problems, lost_after)
    _validate(tables, settings, problems)
    _check_as_of(tables, settings, problems)
    _settle_money(plans, options, settings, problems)
    tables = {
        t: conform(f.drop([c for c in (ROW_COL, FILE_COL) if c in f.columns]), t)
        for t, f in tables.items()
    }
    settings.tier_order = _tier_order(tables)
    _refuse_empty(tables, plans, problems)
    given = options.recipe is not None
    return ImportPlan(plans, tables, settings, problems, recipe, {r.name: r for r in raws}, given)


RECIPE_SHAPE = "recipe:"  # saved mappings of a recipe, apart from plain header mappings


def _saved_recipe(raws: list[RawFile], store: Store | None) -> recipes.Recipe | None:
    """The recipes saved for these files' shapes, when every file they join is uploaded too."""
    if store is None:
        return None
    files: dict[str, recipes.FileRecipe] = {}
    for raw in raws:
        saved = store.saved_mapping(RECIPE_SHAPE + mp.shape_key(raw.columns))
        if saved:
            fr = recipes.Recipe.from_json({"files": {raw.name: saved[1]["recipe"]}}).files[raw.name]
            files[raw.name] = fr
    names = {r.name for r in raws}
    if not files or any(j.file not in names for fr in files.values() for j in fr.joins):
        return None
    return recipes.Recipe(files, "saved mapping")


def _plan_recipe(
    recipe: recipes.Recipe, raws: list[RawFile], problems: list[Problem]
) -> list[FilePlan]:
    """File plans for the files a recipe names (its prepared files and the files it joins)."""
    by_name = {r.name: r for r in raws}
    if recipe.shape == "saved mapping":
        problems.append(
            Problem("info", ", ".join(recipe.files), "mapped as saved the last time files of this shape were imported")
        )
    elif recipe.shape != "mapping file":
        problems.append(
            Problem(
                "info",
                ", ".join(recipe.files),
                f"recognised as {recipe.shape}; the notes that follow say what was derived. The "
                "mapping can be saved, changed and given back (Download mapping on the Data page, "
                "--write-mapping and --mapping on the command line)",
            )
        )
    plans = []
    for p in recipes.apply(recipe, by_name, problems):
        shape = mp.shape_key(p.raw.columns)
        plans.append(FilePlan(p.raw, p.table, p.mapping, _stage_columns(p.raw, p.table, p.mapping), shape, "recipe"))
    for name in recipe.joined_files() | {n for n in recipe.files if n not in {p.raw.name for p in plans}}:
        if name in by_name:
            raw = by_name[name]
            plans.append(FilePlan(raw, None, {}, {}, mp.shape_key(raw.columns), "recipe", role="joined"))
    return plans


LATEST_AS_OF = dt.date(2100, 12, 31)


def _check_as_of(tables: dict[str, pl.DataFrame], settings: DatasetSettings, problems) -> None:
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


def _settle_money(plans, options: ImportOptions, settings: DatasetSettings, problems) -> None:
    """Currency: given, else detected from symbols or codes in the money columns, else asked.
    Margin rate: given, else unknown (margins equal revenue until it is set)."""
    money = {"orders": "amount", "deals": "amount", "customers": "acquisition_cost"}
    found: set[str] = set()
    for fp in plans:
        src = fp.mapping.get(money.get(fp.table or "", ""))
        if fp.role == "table" and src in fp.raw.frame.columns:
            found |= detect_currency(fp.raw.frame.get_column(src))
    if options.currency:
        settings.currency = options.currency
    elif len(found) == 1:
        settings.currency = found.pop()
        problems.append(
            Problem("info", "(settings)", f"currency {settings.currency}, from the amounts' symbols")
        )
    else:
        settings.currency = ""
        problems.append(
            Problem(
                "warning",
                "(settings)",
                (f"the amounts carry several currencies ({', '.join(sorted(found))}); "
                 if found else "the amounts carry no currency symbol or code; ")
                + "amounts are shown without a currency until you set it "
                "(Currency on the Data page, --currency on the command line)",
            )
        )
    if options.margin_rate is not None:
        settings.margin_rate = options.margin_rate
    elif any(fp.table == "orders" and "gross_margin" not in fp.mapping for fp in plans):
        problems.append(
            Problem(
                "warning",
                "(settings)",
                "no margin rate given and orders carry no gross margin: margins equal revenue "
                "(rate 1.00) until you set the rate (Margin rate on the Data page or in Settings, "
                "--margin-rate on the command line)",
            )
        )


def _refuse_empty(tables: dict[str, pl.DataFrame], plans: list[FilePlan], problems) -> None:
    """Never store a dataset without data: it would open every page on nothing."""
    if any(f.height for f in tables.values()) or any(p.severity == "error" for p in problems):
        return
    left_out = [p.raw.name for p in plans if p.role == "skipped"]
    problems.append(
        Problem(
            "error",
            ", ".join(left_out) or "(all files)",
            "nothing to import: no file was recognised as a CRM table with data. Choose each "
            "file's table on the Data page, or give a mapping file (--mapping)",
        )
    )


def _plan_file(raw: RawFile, options: ImportOptions, store: Store | None) -> FilePlan:
    shape = mp.shape_key(raw.columns)
    override = options.overrides.get(raw.name)
    if override:
        table = override.get("table")
        if table == "skip":
            return FilePlan(raw, None, {}, {}, shape, "chosen", role="skipped")
        mapping = override.get("mapping") or mp.guess_mapping(table, raw.columns)
        return FilePlan(raw, table, mapping, _stage_columns(raw, table, mapping), shape, "chosen")
    saved = store.saved_mapping(shape) if store else None
    if saved and set(saved[1].values()) <= set(raw.columns):
        table, mapping = saved
        return FilePlan(raw, table, mapping, _stage_columns(raw, table, mapping), shape, "saved")
    guess = mp.guess_table(raw.name, raw.columns)
    if guess.table is None and (named := mp.table_named_in(raw.name)):
        # Named like a table but its columns do not fit (often a wrong delimiter): convert as that
        # table so the report says which required columns are missing.
        guess = mp.TableGuess(named, mp.guess_mapping(named, raw.columns), 0.0)
    return FilePlan(
        raw,
        guess.table,
        guess.mapping,
        _stage_columns(raw, guess.table, guess.mapping),
        shape,
        "detected",
        role="table" if guess.table else "lookup",
    )


def _stage_columns(raw: RawFile, table: str | None, mapping: dict[str, str]) -> dict[str, str]:
    """Wide stage-date columns of a deals file, matched against the stages its data names."""
    if table != "deals" or "stage" not in mapping:
        return {}
    stages = clean_text(raw.frame.get_column(mapping["stage"])).drop_nulls().unique().to_list()
    return mp.stage_date_columns(raw.columns, mapping, sorted(stages))


def _assign_lookups(plans: list[FilePlan], problems: list[Problem]) -> None:
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


# --- conversion of one file ---------------------------------------------------------------------------
def _convert(
    fp: FilePlan, options: ImportOptions, settings: DatasetSettings, problems: list[Problem]
) -> pl.DataFrame | None:
    spec = TABLES[fp.table]
    raw = fp.raw.frame
    missing = [
        c.name
        for c in spec.columns
        if c.required and c.name not in fp.mapping and not _derivable(fp, c.name)
    ]
    if missing:
        problems.append(
            Problem(
                "error",
                fp.raw.name,
                f"required column{'s' if len(missing) > 1 else ''} {', '.join(missing)} not found among "
                f"the file's columns ({', '.join(fp.raw.columns[:12])}{' …' if len(fp.raw.columns) > 12 else ''})"
                + (" — is the delimiter right?" if len(fp.raw.columns) == 1 else ""),
                table=fp.table,
                column=", ".join(missing),
            )
        )
        return None
    out: dict[str, pl.Series] = {ROW_COL: raw.get_column(ROW_COL)}
    derived_cols = mp.DERIVED.get(fp.table, {})
    for col, src in fp.mapping.items():
        series = raw.get_column(src)
        if col in derived_cols:
            parsed = parse_flag(series) if col == "churned" else parse_number(series)
            kind = "yes/no value" if col == "churned" else "number"
        elif col.endswith("_id"):
            kind = "text"
            parsed = Parsed(clean_id(series), pl.Series([False] * len(series)))
        else:
            kind = spec.column(col).kind
            parsed = _parse(series, kind, options)
        _report_parse(fp, col, src, kind, parsed, raw, problems)
        out[col] = parsed.values.alias(col)
    for src in fp.raw.columns:  # extra columns are kept as segment dimensions
        if src not in fp.mapping.values() and src not in fp.stage_columns:
            name = _extra_name(src, out)
            out[name] = (
                clean_text(raw.get_column(src))
                if raw.schema[src] == pl.String
                else raw.get_column(src)
            )
    frame = pl.DataFrame(out).with_columns(pl.lit(fp.raw.name).alias(FILE_COL))
    _check_text(fp, frame, problems)
    if fp.stage_columns:
        stage_dates = {}
        for src, stage in fp.stage_columns.items():
            parsed = parse_datetime(raw.get_column(src), prefer_dmy=options.prefer_dmy, time_zone=options.time_zone)
            _report_parse(fp, f"stage date '{stage}'", src, "datetime", parsed, raw, problems)
            stage_dates[f"__stage::{stage}"] = parsed.values
        frame = frame.with_columns(**stage_dates)
    return frame


def _derivable(fp: FilePlan, col: str) -> bool:
    if fp.table == "deals":
        return col == "status" or (col == "created_date" and bool(fp.stage_columns))
    return fp.table == "customers" and col == "tier"


def _extra_name(src: str, taken: dict) -> str:
    name = mp.normalise(src).replace(" ", "_") or "column"
    while name in taken or name in (ROW_COL, FILE_COL):
        name += "_"
    return name


def _parse(series: pl.Series, kind: str, options: ImportOptions) -> Parsed:
    if kind == "number":
        return parse_number(series)
    if kind == "integer":
        return parse_integer(series)
    if kind == "date":
        return parse_date(series, prefer_dmy=options.prefer_dmy, time_zone=options.time_zone)
    if kind == "datetime":
        return parse_datetime(series, prefer_dmy=options.prefer_dmy, time_zone=options.time_zone)
    if kind == "boolean":
        return parse_flag(series)
    values = clean_text(series)
    return Parsed(values, pl.Series([False] * len(series)))


def _report_parse(fp, col, src, kind, parsed: Parsed, raw, problems) -> None:
    if parsed.bad.any():
        examples = (
            raw.get_column(src).filter(parsed.bad).unique(maintain_order=True).head(3).to_list()
        )
        rows, count = rows_of(raw, parsed.bad)
        what = {
            "number": "are not numbers",
            "integer": "are not whole numbers",
            "date": "are not dates",
            "datetime": "are not dates",
            "yes/no value": "are not yes/no values",
        }.get(kind, "cannot be read")
        fmt = f" read as {parsed.detail}" if kind in ("date", "datetime") and parsed.detail else ""
        problems.append(
            Problem(
                "error",
                fp.raw.name,
                f"column {src!r}: {count:,} values {what}{fmt} — e.g. "
                + ", ".join(repr(_short(e)) for e in examples)
                + (" (mixed date formats?)" if kind in ("date", "datetime") else ""),
                table=fp.table,
                column=col,
                rows=rows,
                count=count,
            )
        )
    if parsed.info:
        problems.append(
            Problem("info", fp.raw.name, f"column {src!r}: {parsed.info}", table=fp.table, column=col)
        )
    if parsed.note:
        problems.append(
            Problem("warning", fp.raw.name, f"column {src!r} {parsed.note}", table=fp.table, column=col)
        )
    if parsed.ambiguous:
        order = "D/M/Y" if parsed.detail == "D/M/Y" else "M/D/Y"
        problems.append(
            Problem(
                "warning",
                fp.raw.name,
                f"column {src!r}: every date reads both as D/M/Y and as M/D/Y; read as {order} "
                "(choose the other order on the Data page if that is wrong)",
                table=fp.table,
                column=col,
            )
        )


def _short(value: Any) -> str:
    text = str(value)
    return text if len(text) <= 40 else text[:37] + "…"


def _check_text(fp: FilePlan, frame: pl.DataFrame, problems: list[Problem]) -> None:
    for col, dtype in frame.schema.items():
        if dtype != pl.String or col in (FILE_COL, ROW_COL):
            continue
        s = frame.get_column(col)
        too_long = s.str.len_chars() > MAX_CELL_CHARS
        if too_long.any():
            rows, count = rows_of(frame, too_long)
            problems.append(
                Problem(
                    "error",
                    fp.raw.name,
                    f"column {col!r} has cells longer than {MAX_CELL_CHARS:,} characters "
                    f"(the longest is {s.str.len_chars().max():,}): a broken quote or a wrong file?",
                    table=fp.table,
                    column=col,
                    rows=rows,
                    count=count,
                )
            )
        formula = s.str.contains(FORMULA_START)
        if formula.any():
            rows, count = rows_of(frame, formula)
            problems.append(
                Problem(
                    "warning",
                    fp.raw.name,
                    f"column {col!r}: cells start with =, +, - or @ (a spreadsheet would run them as "
                    "formulas); kept as text, and every CSV export escapes them",
                    table=fp.table,
                    column=col,
                    rows=rows,
                    count=count,
                )
            )


# --- lookups and derivations -----------------------------------------------------------------------
def _apply_lookups(plans: list[FilePlan], tables: dict[str, pl.DataFrame], problems) -> None:
    for p in plans:
        if p.lookup is None or p.lookup[0] not in tables:
            continue
        table, src_col, key = p.lookup
        target = tables[table]
        col = next(
            (c for c, s in _mapping_of(plans, table).items() if s == src_col), None
        ) or _extra_name(src_col, {})
        if col not in target.columns:
            continue
        extra = p.raw.frame.drop(ROW_COL).select(pl.all().cast(pl.String))
        extra = extra.rename({c: _extra_name(c, target.columns) for c in extra.columns if c != key})
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
            src_name = _extra_name(source, target.columns)
            if src_name in joined.columns:
                joined = joined.with_columns(pl.col(src_name).alias(canonical))
        tables[table] = joined


def _mapping_of(plans: list[FilePlan], table: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for p in plans:
        if p.table == table and p.role == "table":
            out.update(p.mapping)
    return out


def _derive(tables, plans, options, settings, problems, lost_after) -> dict[str, pl.DataFrame]:
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
            pl.when(words.str.contains("(?i)" + mp.WON_WORDS.pattern))
            .then(pl.lit("won"))
            .when(words.str.contains("(?i)" + mp.LOST_WORDS.pattern))
            .then(pl.lit("lost"))
            .when(pl.col("status").is_null())
            .then(pl.col("stage").map_elements(mp.derive_status, return_dtype=pl.String))
            .otherwise(pl.lit("open"))
            .alias("status")
        )
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
        s for s in stages if mp.LOST_WORDS.search(s)
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
                pl.when(pl.col("stage").str.contains("(?i)" + mp.LOST_WORDS.pattern))
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


# --- validation across tables -----------------------------------------------------------------------
def _validate(tables: dict[str, pl.DataFrame], settings: DatasetSettings, problems) -> None:
    # A cell that did not parse is already reported; do not report it again as empty.
    unparsed = {(p.table, p.column) for p in problems if p.severity == "error"}
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
                _per_file(
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
                    _per_file(
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
                    _per_file(
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
                    _per_file(
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
                _per_file(
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
            _per_file(
                problems,
                "error",
                frame,
                early.fill_null(False),
                name,
                col,
                "dates before 1900 (a wrong date format?)",
            )
        if limit is not None and (late := s > limit).any():
            _per_file(
                problems,
                "error",
                frame,
                late.fill_null(False),
                name,
                col,
                f"dates after the as-of date {settings.as_of}",
            )
        elif (future := s > today).any():
            _per_file(
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
        if name == "deals":
            _per_file(
                problems,
                "warning",
                frame,
                unknown,
                name,
                "customer_id",
                f"deals of accounts not in the customers file (kept, e.g. {examples})",
            )
        elif share > UNKNOWN_CUSTOMER_ERROR_SHARE:
            _per_file(
                problems,
                "error",
                frame,
                unknown,
                name,
                "customer_id",
                f"{share:.0%} of rows refer to customers that are not in the customers "
                f"file, e.g. {examples} — is it the right customers file?",
            )
        else:
            _per_file(
                problems,
                "warning",
                frame,
                unknown,
                name,
                "customer_id",
                f"rows of unknown customers were dropped, e.g. {examples}",
            )
            tables[name] = frame.filter(~unknown)
    if "stage_history" in tables and "deals" in tables:
        h = tables["stage_history"]
        unknown = ~h.get_column("deal_id").is_in(tables["deals"].get_column("deal_id").implode())
        if unknown.any():
            _per_file(
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
            _per_file(
                problems,
                "warning",
                o,
                early.fill_null(False),
                "orders",
                "order_date",
                "orders dated before the customer's signup date",
            )


def _per_file(problems, severity, frame, mask, table, column, message) -> None:
    """One problem per source file, with that file's first rows and its count."""
    hit = frame.filter(mask)
    for file, group in hit.group_by(FILE_COL, maintain_order=True):
        rows = group.get_column(ROW_COL).head(5).to_list()
        problems.append(
            Problem(
                severity,
                file[0],
                message,
                table=table,
                column=column,
                rows=rows,
                count=group.height,
            )
        )


def _tier_order(tables: dict[str, pl.DataFrame]) -> list[str]:
    """Default tiers in their order, then any others alphabetically, Unassigned last."""
    if "customers" not in tables:
        return list(DEFAULT_TIER_ORDER)
    found = set(tables["customers"].get_column("tier").drop_nulls().unique().to_list())
    order = [t for t in DEFAULT_TIER_ORDER if t in found]
    order += sorted(found - set(order) - {UNASSIGNED_TIER})
    if UNASSIGNED_TIER in found:
        order.append(UNASSIGNED_TIER)
    return order or list(DEFAULT_TIER_ORDER)


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
    _validate(marked, settings or DatasetSettings(), problems)
    return {name: frame.drop(ROW_COL, FILE_COL) for name, frame in marked.items()}, problems


# --- committing ---------------------------------------------------------------------------------------
def commit_import(plan: ImportPlan, store: Store, name: str, *, activate: bool = True) -> Dataset:
    """Store a plan without errors as dataset `name` (replacing it atomically)."""
    if not plan.ok:
        raise ImportFailed(plan.problems)
    kept = [p.to_json() for p in plan.problems if p.severity != "error"]
    dataset = Dataset(name, plan.tables, plan.settings, kept, plan.mapping_json())
    store.save(dataset)
    for fp in plan.files:
        if fp.role == "table" and fp.table and fp.mapping_source != "recipe":
            store.save_mapping(fp.shape, fp.table, fp.mapping)
    if plan.recipe is not None and plan.recipe_given:
        # A mapping the user gave or edited is kept per file shape, as a plain one is.
        for file, fr in plan.recipe.files.items():
            if file in plan.sources:
                shape = RECIPE_SHAPE + mp.shape_key(plan.sources[file].columns)
                store.save_mapping(shape, fr.table, {"file": file, "recipe": dataclasses.asdict(fr)})
    if activate:
        store.set_active(name)
    return dataset


def import_paths(
    paths: list[Path], name: str, store: Store, options: ImportOptions, *, dry_run: bool = False
) -> ImportPlan:
    """The command-line path: the same plan and commit as the Data page."""
    files = [SourceFile(p.name, p.read_bytes()) for p in paths]
    plan = plan_import(files, options=options, store=store)
    if not plan.ok:
        raise ImportFailed(plan.problems)
    if not dry_run:
        commit_import(plan, store, name)
    return plan

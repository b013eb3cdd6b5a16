"""Files → a checked import plan (the dry run) → a stored dataset.

`plan_import` reads every file, decides its table and column mapping, converts it to the canonical
schema and validates it as DATA_CONTRACT.md says; nothing is stored. `commit_import` stores a plan
without errors atomically. The Data page and `python -m dashboard import` both call these two.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from zoneinfo import available_timezones

import polars as pl

from dashboard.importer import mapping as mp
from dashboard.importer import recipes, shapes
from dashboard.importer.convert import convert_file
from dashboard.importer.derive import derive, tier_order
from dashboard.importer.lookups import apply_lookups, assign_lookups
from dashboard.importer.model import FilePlan, ImportOptions, ImportPlan, SourceFile
from dashboard.importer.parsing import (
    clean_text,
    detect_currency,
)
from dashboard.importer.problems import FILE_COL, ROW_COL, ImportFailed, Problem
from dashboard.importer.reading import RawFile, ReadError, read_file
from dashboard.importer.validate import check_as_of, validate, validate_tables
from dashboard.importer.vocabulary import CURRENCY_HEADERS
from dashboard.naming import check_dataset_name
from dashboard.store import LOCAL, Store
from metrics.domain import Dataset
from metrics.schema import (
    CURRENCY_FORM,
    DatasetSettings,
    conform,
)

__all__ = ["FilePlan", "ImportOptions", "ImportPlan", "SourceFile", "commit_import", "import_paths", "plan_import",
           "validate_tables"]  # fmt: skip


RECIPE_SHAPE = "recipe:"  # saved mappings of a recipe, apart from plain header mappings


def plan_import(
    files: list[SourceFile], *, options: ImportOptions | None = None, store: Store | None = None
) -> ImportPlan:
    options = options or ImportOptions()
    problems: list[Problem] = []
    raws: list[RawFile] = []
    for f in files:
        try:
            read = read_file(
                f.name,
                f.data,
                max_bytes=options.max_bytes,
                encoding=options.encoding,
                delimiter=options.delimiter,
            )
        except ReadError as exc:
            problems.append(exc.problem)
            continue
        for raw in read:
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

    assign_lookups(plans, problems)
    converted: dict[str, list[pl.DataFrame]] = {}
    for fp in plans:
        if fp.role != "table":
            continue
        frame = convert_file(fp, options, settings, problems)
        if frame is not None:
            converted.setdefault(fp.table, []).append(frame)
    tables = {t: pl.concat(frames, how="diagonal_relaxed") for t, frames in converted.items()}
    apply_lookups(plans, tables, problems)
    lost_after = options.lost_after_days or (recipe.open_lost_after_days if recipe else None)
    tables = derive(tables, plans, options, settings, problems, lost_after)
    validate(tables, settings, problems)
    check_as_of(tables, settings, problems)
    _settle_money(plans, options, settings, problems)
    tables = {
        t: conform(f.drop([c for c in (ROW_COL, FILE_COL) if c in f.columns]), t)
        for t, f in tables.items()
    }
    settings.tier_order = tier_order(tables)
    _refuse_empty(tables, plans, problems)
    given = options.recipe is not None
    return ImportPlan(plans, tables, settings, problems, recipe, {r.name: r for r in raws}, given)


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


def _settle_money(plans, options: ImportOptions, settings: DatasetSettings, problems) -> None:
    """Currency: given, else detected from symbols or codes in the money columns or from a
    currency column beside them, else asked.
    Margin rate: given, else unknown (margins equal revenue until it is set)."""
    money = {"orders": "amount", "deals": "amount", "customers": "acquisition_cost"}
    found: set[str] = set()
    has_money = False
    for fp in plans:
        src = fp.mapping.get(money.get(fp.table or "", ""))
        if fp.role == "table" and src in fp.raw.frame.columns:
            has_money = True
            found |= detect_currency(fp.raw.frame.get_column(src))
            if column := mp.find_header(fp.raw.frame.columns, CURRENCY_HEADERS):
                found |= detect_currency(fp.raw.frame.get_column(column))
    if options.currency and not CURRENCY_FORM.fullmatch(options.currency):
        problems.append(Problem("error", "(settings)", "the currency is a code such as GBP or a symbol such as £ "
                                                       f"(letters only, up to 8), not {options.currency[:20]!r}"))  # fmt: skip
    elif options.currency:
        settings.currency = options.currency
    elif len(found) == 1:
        settings.currency = found.pop()
        problems.append(
            Problem("info", "(settings)", f"currency {settings.currency}, from the amounts' symbols or currency column")
        )
    elif not has_money:  # tickets or surveys alone: no amount to name a currency for
        settings.currency = ""
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


def commit_import(plan: ImportPlan, store: Store, name: str, *, activate: bool = True, actor: str = LOCAL) -> Dataset:
    """Store a plan without errors as dataset `name` (replacing it atomically; the version it
    replaces is kept). The name is checked first (naming.BadName says why it cannot be used)."""
    if not plan.ok:
        raise ImportFailed(plan.problems)
    name = check_dataset_name(name)
    kept = [p.to_json() for p in plan.problems if p.severity != "error"]
    dataset = Dataset(name, plan.tables, plan.settings, kept, plan.mapping_json())
    store.save(dataset, actor=actor)
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
        store.set_active(name, actor=actor)
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

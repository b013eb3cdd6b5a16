"""Mappings richer than "this header is that column": a recipe per file.

A recipe says, for one uploaded file, which canonical table it becomes and where each canonical
column comes from: a header, a constant, a derived value (product, sum or difference of two
columns, a synthesised id, a value chosen by whether another column is filled), after joining
columns of other files by a key. It can also read a record written over several rows from its
first row, group lines into orders, drop rows without a required value, drop repeated ids, skip
rows by a column's value (in any letter case), and derive the customers table from the ids it
holds.

Recipes are plain JSON (`Recipe.to_json` / `Recipe.from_json`): the command line reads one with
`--mapping FILE.json`, the Data page offers the one it used for download, and `shapes.py` writes
them for the export shapes it recognises by their headers. `apply` turns raw text files into
prepared files whose headers are canonical column names; the pipeline then parses and validates
them like any other file.

Source specs (the values of `columns`), as JSON:
- "Header"                               the file's column (or one a join brought)
- {"const": "Won"}                       the same value on every row
- {"product": [A, B]}, {"sum": [A, B]}, {"difference": [A, B]}
                                         numbers: A × B, A + B, A − B (A and B are specs themselves;
                                         in a difference an empty B counts as 0: nothing taken off)
- {"coalesce": [A, B, ...]}              the first of the specs that has a value
- {"if_present": "Header", "then": X, "else": Y}   X, Y values (or specs given as objects)
- {"row_key": ["Header", ...]}           an id made of the headers' values and a running number
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from dashboard.importer.parsing import clean_id, clean_text, parse_number
from dashboard.importer.problems import ROW_COL, Problem, rows_of
from dashboard.importer.reading import RawFile
from metrics.schema import TABLES

AGGREGATES = ("first", "sum")
SUMMED_WHEN_GROUPED = ("amount", "gross_margin")
ID_COLUMNS = {"customer_id", "order_id", "deal_id", "ticket_id", "response_id", "interaction_id"}


class RecipeError(ValueError):
    """A recipe that does not fit the files (names a file or column that is not there)."""


@dataclass
class Join:
    file: str  # the other file's name
    on: str  # column of this file (after earlier joins)
    other_on: str  # column of the other file
    take: list[str] = field(default_factory=list)  # the other file's columns to bring; [] = all
    aggregate: str = "first"  # how several matching rows combine: first row, or sum of numbers


@dataclass
class FileRecipe:
    table: str
    columns: dict[str, Any] = field(default_factory=dict)  # canonical (or extra) column → source
    joins: list[Join] = field(default_factory=list)
    # header whose equal values are one record written over several rows, its own fields on the
    # first row and its line items on every row (Shopify's orders export): only first rows are read
    first_row_of: str | None = None
    group_by: str | None = None  # canonical column whose equal values make one row
    require: list[str] = field(default_factory=list)  # rows without these are dropped, counted
    unique: str | None = None  # repeated values of this id: the first row is kept, counted
    skip_values: dict[str, list[str]] = field(default_factory=dict)  # header → values to skip (any case)
    customers: dict[str, str] | None = None  # derive customers: canonical column → header
    keep_extra: bool = True  # keep the file's other columns (never when lines are grouped)


@dataclass
class Recipe:
    files: dict[str, FileRecipe]  # by file name; files only joined into others are not keys
    shape: str = "mapping file"  # what the recipe is, in words ("order lines", …)
    open_lost_after_days: int | None = None  # open deals older than this count as lost

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Recipe:
        if not isinstance(data, dict) or not isinstance(data.get("files"), dict):
            raise RecipeError('a mapping file is a JSON object with a "files" object')
        files = {}
        for name, spec in data["files"].items():
            if not isinstance(spec, dict) or "table" not in spec:
                raise RecipeError(f'mapping for {name!r}: needs "table"')
            spec = dict(spec)
            if "mapping" in spec and "columns" not in spec:  # the simple form the page saves
                spec["columns"] = spec.pop("mapping")
            spec.pop("mapping", None)
            known = {f.name for f in dataclasses.fields(FileRecipe)}
            unknown = set(spec) - known
            if unknown:
                raise RecipeError(f"mapping for {name!r}: unknown keys {', '.join(sorted(unknown))}")
            try:
                spec["joins"] = [Join(**j) for j in spec.get("joins", [])]
            except TypeError as exc:
                raise RecipeError(f"mapping for {name!r}: a join {exc}") from None
            recipe = FileRecipe(**spec)
            if recipe.table not in TABLES:
                raise RecipeError(
                    f"mapping for {name!r}: table {recipe.table!r} is not one of {', '.join(TABLES)}"
                )
            for j in recipe.joins:
                if j.aggregate not in AGGREGATES:
                    raise RecipeError(f"mapping for {name!r}: aggregate must be first or sum")
            files[name] = recipe
        days = data.get("open_lost_after_days")
        if days is not None and (not isinstance(days, int) or days < 1):
            raise RecipeError("open_lost_after_days must be a whole number of days ≥ 1")
        skip = data.get("skip", [])
        if not isinstance(skip, list) or not all(isinstance(n, str) for n in skip):
            raise RecipeError('"skip" is a list of file names')
        return cls(files, data.get("shape", "mapping file"), days, skip)

    skip: list[str] = field(default_factory=list)  # files left out on purpose

    def joined_files(self) -> set[str]:
        """Files that only lend columns to others (not tables themselves)."""
        used = {j.file for r in self.files.values() for j in r.joins}
        return used - set(self.files)


@dataclass
class Prepared:
    """A file after its recipe: headers are canonical names (plus kept extras)."""

    raw: RawFile
    table: str
    mapping: dict[str, str]
    notes: list[str]  # what was derived, in words


def apply(recipe: Recipe, raws: dict[str, RawFile], problems: list[Problem]) -> list[Prepared]:
    """Prepared files for every file the recipe names, plus derived customers tables."""
    missing = sorted(
        {j.file for r in recipe.files.values() for j in r.joins} - set(raws)
        | (set(recipe.files) - set(raws))
    )
    for name in missing:
        problems.append(
            Problem(
                "error",
                name,
                "the mapping names this file, but it was not uploaded",
            )
        )
    if missing:
        return []
    out: list[Prepared] = []
    for name, fr in recipe.files.items():
        try:
            out.extend(_apply_file(name, fr, raws, problems))
        except RecipeError as exc:
            problems.append(Problem("error", name, str(exc), table=fr.table))
    return out


def _apply_file(
    name: str, fr: FileRecipe, raws: dict[str, RawFile], problems: list[Problem]
) -> list[Prepared]:
    raw = raws[name]
    frame = raw.frame
    notes: list[str] = []
    if fr.first_row_of:
        frame = _first_rows(name, frame, fr, problems, notes)
    for j in fr.joins:
        frame = _join(name, frame, j, raws[j.file], problems, notes)
    for header, values in fr.skip_values.items():
        _need(name, frame, header)
        text = clean_text(frame.get_column(header))
        hit = text.str.to_lowercase().is_in([v.lower() for v in values]).fill_null(False)
        seen = text.filter(hit).unique(maintain_order=True).to_list()  # as the file writes them
        frame = _leave_out(frame, hit, problems, "info", name, fr.table, header,
                           f"{{n:,}} rows with {header} {' or '.join(map(repr, seen))} are left out")  # fmt: skip
    columns = {col: _evaluate(name, frame, spec, col, problems) for col, spec in fr.columns.items()}
    used = _headers_of(list(fr.columns.values())) | {j.on for j in fr.joins}
    out = pl.DataFrame({ROW_COL: frame.get_column(ROW_COL), **columns})
    for col in ID_COLUMNS & set(out.columns):
        out = out.with_columns(clean_id(out.get_column(col)).alias(col))
    if fr.keep_extra and fr.group_by is None:
        extras = [c for c in frame.columns if c not in used and c != ROW_COL and c not in out.columns]
        out = out.with_columns(frame.select(extras))
    for col in fr.require:
        out = _leave_out(out, out.get_column(col).is_null(), problems, "warning", name, fr.table, col,
                         f"{{n:,}} of {{total:,}} rows have no {col} and were left out")  # fmt: skip
    customers = None
    if fr.customers is not None:
        customers = _customers_from_rows(name, frame, out, fr.customers)
    if fr.group_by:
        out = _group(name, out, fr, problems, notes)
    if fr.unique:
        ids = out.get_column(fr.unique)
        repeated = ids.is_not_null() & ~out.select(pl.col(fr.unique).is_first_distinct()).to_series()
        once = int(repeated.sum()) == 1
        out = _leave_out(out, repeated, problems, "warning", name, fr.table, fr.unique,
                         f"{{n:,}} {'row repeats' if once else 'rows repeat'} a {fr.unique} already seen; "
                         "the first of each was kept")  # fmt: skip
    mapping = {c: c for c in fr.columns if c in TABLES[fr.table].names}
    prepared = [Prepared(_raw_like(raw, name, out), fr.table, mapping, notes)]
    if customers is not None:
        label = f"{name} (customers)"
        cmap = {c: c for c in customers.columns if c in TABLES["customers"].names}
        prepared.append(
            Prepared(
                _raw_like(raw, label, customers),
                "customers",
                cmap,
                [f"customers derived from the customer ids of {name}"],
            )
        )
    return prepared


def _first_rows(name: str, frame: pl.DataFrame, fr: FileRecipe, problems, notes) -> pl.DataFrame:
    """Each record's first row: the one that carries its own fields (total, status, date); the
    rows after it repeat its key to list further line items and leave those fields empty."""
    key = fr.first_row_of
    _need(name, frame, key)
    ids = clean_id(frame.get_column(key))
    first = ids.is_not_null() & ids.is_first_distinct()
    records = int(first.sum())
    if records == frame.height:
        return frame
    text = (f"{frame.height:,} rows hold {records:,} {fr.table}, each read from its first row by {key} "
            "(the rows after it list further line items)")  # fmt: skip
    notes.append(text)
    problems.append(Problem("info", name, text, table=fr.table, column=key))
    return frame.filter(first)


def _leave_out(frame, mask, problems, severity, file, table, column, message) -> pl.DataFrame:
    """`frame` without the rows of `mask`, reported when there are any: `message` is a template
    with {n} (rows left out) and {total} (rows before)."""
    if not mask.any():
        return frame
    rows, count = rows_of(frame, mask)
    text = message.format(n=count, total=frame.height)
    problems.append(Problem(severity, file, text, table=table, column=column, rows=rows, count=count))
    return frame.filter(~mask)


def _raw_like(raw: RawFile, name: str, frame: pl.DataFrame) -> RawFile:
    return RawFile(name, frame, raw.kind, raw.encoding, raw.delimiter, raw.header_row)


def _need(file: str, frame: pl.DataFrame, header: str) -> None:
    if header not in frame.columns:
        shown = ", ".join(c for c in frame.columns[:15] if c != ROW_COL)
        raise RecipeError(f"the mapping names column {header!r}, which is not in the file ({shown})")


def _join(
    name: str,
    frame: pl.DataFrame,
    j: Join,
    other: RawFile,
    problems: list[Problem],
    notes: list[str],
) -> pl.DataFrame:
    _need(name, frame, j.on)
    _need(j.file, other.frame, j.other_on)
    take = j.take or [c for c in other.columns if c != j.other_on]
    for c in take:
        _need(j.file, other.frame, c)
    key = "__key"
    right = other.frame.select(clean_id(other.frame.get_column(j.other_on)).alias(key), *take)
    if j.aggregate == "sum":
        parsed = {}
        for c in take:
            p = parse_number(right.get_column(c))
            if p.bad.any():
                rows, count = rows_of(other.frame, p.bad)
                problems.append(
                    Problem("error", j.file, f"column {c!r}: {count:,} values are not numbers",
                            column=c, rows=rows, count=count)  # fmt: skip
                )
            parsed[c] = p.values
        right = pl.DataFrame({key: right.get_column(key), **parsed}).group_by(key).agg(
            pl.all().sum()
        )
    else:
        right = right.unique(subset=key, keep="first", maintain_order=True)
    renamed = {c: c if c not in frame.columns else f"{c} ({j.file})" for c in take}
    right = right.rename(renamed)
    left = frame.with_columns(clean_id(frame.get_column(j.on)).alias(key))
    joined = left.join(right, on=key, how="left", maintain_order="left")
    hits, n = match_rate(frame.get_column(j.on), right.get_column(key))
    share = hits / n if n else 0.0
    text = (
        f"{hits:,} of {n:,} rows ({share:.1%}) matched {j.file} by {j.on} = {j.other_on}; "
        f"took {', '.join(renamed.values())}" + (" (summed)" if j.aggregate == "sum" else "")
    )
    notes.append(text)
    problems.append(
        Problem("info" if hits else "warning", name, text + ("" if hits else ": is the key right?"))
    )
    return joined.drop(key)


def match_rate(keys: pl.Series, other_keys: pl.Series) -> tuple[int, int]:
    """How many of `keys` (rows of this file) find a row with the same id among `other_keys`,
    out of how many: the preview a join is judged by before it is made."""
    found = clean_id(keys).is_in(clean_id(other_keys).drop_nulls().implode()).fill_null(False)
    return int(found.sum()), len(keys)


def columns_after_joins(name: str, fr: FileRecipe, raws: dict[str, RawFile]) -> list[str]:
    """The headers a recipe's column sources can name: the file's own, then each join's."""
    columns = list(raws[name].columns)
    for j in fr.joins:
        other = raws.get(j.file)
        if other is None:
            continue
        take = j.take or [c for c in other.columns if c != j.other_on]
        columns += [c if c not in columns else f"{c} ({j.file})" for c in take]
    return columns


def _headers_of(specs: list[Any]) -> set[str]:
    out: set[str] = set()
    for spec in specs:
        if isinstance(spec, str):
            out.add(spec)
        elif isinstance(spec, dict):
            for key, value in spec.items():
                if key in ("product", "sum", "difference", "coalesce", "row_key"):
                    out |= _headers_of(list(value))
                elif key == "if_present":
                    out.add(value)
    return out


def _evaluate(
    file: str, frame: pl.DataFrame, spec: Any, col: str, problems: list[Problem]
) -> pl.Series:
    n = frame.height
    if isinstance(spec, str):
        _need(file, frame, spec)
        return frame.get_column(spec).alias(col)
    if not isinstance(spec, dict) or len(spec) not in (1, 3):
        raise RecipeError(f"column {col!r}: cannot read the source {spec!r}")
    if "const" in spec:
        return pl.Series(col, [None if spec["const"] is None else str(spec["const"])] * n, pl.String)
    if op := next((o for o in ("product", "sum", "difference") if o in spec), None):
        parts = spec[op]
        if not isinstance(parts, list) or len(parts) != 2:
            raise RecipeError(f"column {col!r}: {op} takes two sources")
        a, b = (_number(file, frame, p, col, problems) for p in parts)
        if op == "difference":  # an empty part taken off is nothing taken off (a refund on most orders)
            return (a - b.fill_null(0.0)).alias(col)
        return (a * b if op == "product" else a + b).alias(col)
    if "coalesce" in spec:
        parts = [_evaluate(file, frame, p, col, problems) for p in spec["coalesce"]]
        if any(p.dtype.is_numeric() for p in parts):
            parts = [p if p.dtype.is_numeric() else parse_number(p).values for p in parts]
        else:
            parts = [clean_text(p) for p in parts]
        return pl.select(pl.coalesce([pl.lit(p) for p in parts])).to_series().alias(col)
    if "if_present" in spec:
        _need(file, frame, spec["if_present"])
        present = clean_text(frame.get_column(spec["if_present"])).is_not_null()
        then, other = (
            _evaluate(file, frame, v, col, problems)
            if isinstance(v, dict)
            else pl.Series(col, [v] * n, pl.String)  # a value, not a header
            for v in (spec["then"], spec["else"])
        )
        return pl.select(
            pl.when(pl.lit(present)).then(pl.lit(clean_text(then))).otherwise(pl.lit(clean_text(other)))
        ).to_series().alias(col)
    if "row_key" in spec:
        headers = list(spec["row_key"])
        for h in headers:
            _need(file, frame, h)
        keys = pl.DataFrame([clean_text(frame.get_column(h)).alias(f"k{i}") for i, h in enumerate(headers)])
        parts = keys.columns
        return keys.select(
            pl.format(
                "{}-{}",
                pl.concat_str(parts, separator="-"),
                pl.int_range(pl.len()).over(parts) + 1,
            ).alias(col)
        ).to_series()
    raise RecipeError(f"column {col!r}: cannot read the source {spec!r}")


def _number(file: str, frame: pl.DataFrame, spec: Any, col: str, problems) -> pl.Series:
    values = _evaluate(file, frame, spec, col, problems)
    if values.dtype.is_numeric():
        return values.cast(pl.Float64)
    parsed = parse_number(values)
    if parsed.bad.any():
        rows, count = rows_of(frame, parsed.bad)
        examples = values.filter(parsed.bad).unique(maintain_order=True).head(3).to_list()
        problems.append(
            Problem(
                "error",
                file,
                f"column {spec!r}: {count:,} values are not numbers, e.g. "
                + ", ".join(repr(e) for e in examples),
                column=col,
                rows=rows,
                count=count,
            )
        )
    return parsed.values


def _group(name: str, out: pl.DataFrame, fr: FileRecipe, problems, notes) -> pl.DataFrame:
    key = fr.group_by
    summed = []
    for c in SUMMED_WHEN_GROUPED:
        if c in out.columns and not out.schema[c].is_numeric():
            parsed = parse_number(out.get_column(c))
            if parsed.bad.any():
                rows, count = rows_of(out, parsed.bad)
                problems.append(
                    Problem("error", name, f"{count:,} {c} values are not numbers",
                            table=fr.table, column=c, rows=rows, count=count)  # fmt: skip
                )
            out = out.with_columns(parsed.values.alias(c))
        if c in out.columns:
            summed.append(c)
    lines = out.height
    grouped = (
        out.group_by(key, maintain_order=True)
        .agg(
            pl.col(ROW_COL).min(),
            *[pl.col(c).sum() for c in summed],
            *[pl.col(c).first() for c in out.columns if c not in (key, ROW_COL, *summed)],
            *([pl.len().cast(pl.Int64).alias("lines")] if fr.table == "orders" else []),
        )
        .sort(ROW_COL)
    )
    unit = "lines" if fr.table == "orders" else "rows"
    text = f"{lines:,} {unit} grouped into {grouped.height:,} {fr.table} by {key}" + (
        f" ({' and '.join(summed)} summed)" if summed else ""
    )
    notes.append(text)
    problems.append(Problem("info", name, text, table=fr.table, column=key))
    return grouped


def _customers_from_rows(
    name: str, frame: pl.DataFrame, out: pl.DataFrame, attributes: dict[str, str]
) -> pl.DataFrame:
    """One row per customer id of `out`, each attribute its last non-empty value in the file."""
    cols = {ROW_COL: out.get_column(ROW_COL), "customer_id": out.get_column("customer_id")}
    source = frame.join(out.select(ROW_COL), on=ROW_COL, how="semi", maintain_order="left")
    for col, header in attributes.items():
        _need(name, frame, header)
        cols[col] = clean_text(source.get_column(header))
    table = pl.DataFrame(cols)
    return (
        table.group_by("customer_id", maintain_order=True)
        .agg(pl.col(ROW_COL).min(), *[pl.col(c).drop_nulls().last() for c in attributes])
        .sort(ROW_COL)
    )

"""One file → canonical columns: each mapped column parsed to its type, parse problems named by
file, column and rows, extra columns kept as dimensions, cells that start like a formula reported."""

from __future__ import annotations

from typing import Any

import polars as pl

from dashboard.export import FORMULA_START
from dashboard.importer import mapping as mp
from dashboard.importer.model import FilePlan, ImportOptions
from dashboard.importer.parsing import (
    Parsed,
    clean_id,
    clean_text,
    parse_date,
    parse_datetime,
    parse_flag,
    parse_integer,
    parse_number,
    parse_rating,
)
from dashboard.importer.problems import FILE_COL, ROW_COL, Problem, rows_of
from dashboard.importer.reading import MAX_CELL_CHARS
from dashboard.importer.vocabulary import DERIVED
from metrics.schema import (
    TABLES,
    DatasetSettings,
)


def convert_file(
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
    derived_cols = DERIVED.get(fp.table, {})
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
            parsed = parse_rating(series) if col == "csat" else _parse(series, kind, options)
        _report_parse(fp, col, src, kind, parsed, raw, problems)
        out[col] = parsed.values.alias(col)
    for src in fp.raw.columns:  # extra columns are kept as segment dimensions
        if src not in fp.mapping.values() and src not in fp.stage_columns:
            name = extra_name(src, out)
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


def extra_name(src: str, taken: dict) -> str:
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
        lengths = s.str.len_chars()
        checks = (
            ("error", lengths > MAX_CELL_CHARS,
             f"column {col!r} has cells longer than {MAX_CELL_CHARS:,} characters "
             f"(the longest is {lengths.max() or 0:,}): a broken quote or a wrong file?"),
            ("warning", s.str.contains(FORMULA_START),
             f"column {col!r}: cells start with =, +, - or @ (a spreadsheet would run them as "
             "formulas); kept as text, and every CSV export escapes them"),
        )  # fmt: skip
        for severity, mask, message in checks:
            if mask.any():
                rows, count = rows_of(frame, mask)
                problems.append(
                    Problem(
                        severity, fp.raw.name, message,
                        table=fp.table, column=col, rows=rows, count=count,
                    )
                )  # fmt: skip

"""Bytes of an uploaded file → a table of text cells, plus what was detected on the way.

Supported: CSV (any of , ; tab | as delimiter; UTF-8 with or without BOM, UTF-16, Windows-1252,
Windows-1256), Excel .xlsx (calamine through fastexcel) and Parquet. Title rows above the header
are skipped and reported. Every failure becomes a Problem naming the file (and rows where known).
"""

from __future__ import annotations

import codecs
import csv
import dataclasses
import io
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import PurePath

import charset_normalizer
import polars as pl

from dashboard.importer.problems import ROW_COL, Problem

DELIMITERS = [",", ";", "\t", "|"]
SUPPORTED_LEGACY = ["cp1252", "cp1256"]  # Western European and Persian/Arabic Windows code pages
ENCODING_NAMES = {
    "utf_8": "UTF-8",
    "utf-8": "UTF-8",
    "utf-8-sig": "UTF-8 with BOM",
    "utf-16": "UTF-16",
    "utf-16-le": "UTF-16 LE",
    "utf-16-be": "UTF-16 BE",
    "cp1252": "Windows-1252",
    "cp1256": "Windows-1256",
}
WHITESPACE = " "  # runs of blanks between fields, as fixed-width logs are (CDNOW)
DELIMITER_NAMES = {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe", WHITESPACE: "whitespace"}
HEADER_SCAN_ROWS = 15
MAX_CELL_CHARS = 10_000
# Checked before a file is parsed, so an absurd file is refused in words instead of taking the
# server's memory: a CRM export has tens of columns (HubSpot's widest, a few hundred), and the
# upload limit holds about four million orders.
MAX_COLUMNS = 1_000
MAX_ROWS = 20_000_000
MAX_UNPACKED_XLSX = 1_000 * 2**20  # an .xlsx is a zip: what its parts unpack to
MAX_XLSX_PART = 400 * 2**20  # one part (a sheet, the shared strings)
NESTED = (pl.List, pl.Array, pl.Struct, pl.Object)


class ReadError(Exception):
    def __init__(self, problem: Problem):
        self.problem = problem
        super().__init__(str(problem))


@dataclass
class RawFile:
    name: str
    frame: pl.DataFrame  # text columns as found, plus ROW_COL
    kind: str  # csv / excel / parquet
    encoding: str = ""
    delimiter: str = ""
    header_row: int = 1  # spreadsheet row number of the header
    notes: list[Problem] = field(default_factory=list)

    @property
    def columns(self) -> list[str]:
        return [c for c in self.frame.columns if c != ROW_COL]

    def describe(self) -> str:
        parts = [self.kind.upper()]
        if self.encoding:
            parts.append(ENCODING_NAMES.get(self.encoding, self.encoding))
        if self.delimiter:
            parts.append(f"{DELIMITER_NAMES.get(self.delimiter, repr(self.delimiter))}-separated")
        if self.header_row > 1:
            parts.append(f"header on row {self.header_row}")
        return ", ".join(parts)


def fail(file: str, message: str, rows: list[int] | None = None, count: int = 0) -> ReadError:
    return ReadError(
        Problem("error", file, message, rows=rows or [], count=count or len(rows or []))
    )


def read_file(
    name: str,
    data: bytes,
    *,
    max_bytes: int | None = None,
    encoding: str | None = None,
    delimiter: str | None = None,
) -> list[RawFile]:
    """The tables one uploaded file holds: one, or one per sheet with data of an Excel workbook
    (each then named "book.xlsx › Sheet")."""
    if max_bytes is not None and len(data) > max_bytes:
        raise fail(
            name,
            f"the file is {len(data) / 2**20:,.1f} MB, over the upload limit of "
            f"{max_bytes / 2**20:,.0f} MB (server.maxUploadSize in .streamlit/config.toml)",
        )
    if not data.strip():
        raise fail(name, "the file is empty")
    suffix = PurePath(name).suffix.lower()
    if suffix in (".xlsx", ".xlsm", ".xls") or data[:4] == b"PK\x03\x04":
        raws = _read_excel(name, data)
    elif suffix == ".parquet" or data[:4] == b"PAR1":
        raws = [_read_parquet(name, data)]
    else:
        raws = [_read_csv(name, data, encoding=encoding, delimiter=delimiter)]
    if all(raw.frame.height == 0 for raw in raws):
        raise fail(name, "the file has a header row but no data rows")
    return [raw for raw in raws if raw.frame.height]


# --- CSV ---------------------------------------------------------------------------------------
def detect_encoding(name: str, data: bytes) -> str:
    if data.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        # A UTF-16 text has a zero byte beside every ASCII character; without any, the mark is
        # wrong (some tools write it before UTF-8 text).
        return "utf-16" if data[2:4096].count(0) else "utf-8-after-utf-16-mark"
    sample = data[:8192]
    zeros = sample.count(0)
    if zeros:
        # UTF-16 without a BOM puts a zero byte beside every ASCII character; anything else with
        # zero bytes is not text at all.
        even, odd = sample[0::2].count(0), sample[1::2].count(0)
        if odd > 0.3 * len(sample) / 2 and even < odd / 10:
            return "utf-16-le"
        if even > 0.3 * len(sample) / 2 and odd < even / 10:
            return "utf-16-be"
        raise fail(name, "this is a binary file, not a CSV text export (it contains zero bytes)")
    try:
        data.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError:
        pass
    best = charset_normalizer.from_bytes(data[:200_000], cp_isolation=SUPPORTED_LEGACY).best()
    if best is None or best.chaos > 0.2:
        raise fail(
            name,
            "unknown text encoding: the file is not UTF-8, UTF-16, Windows-1252 or Windows-1256. "
            "Save it as UTF-8 CSV from your CRM or spreadsheet and upload it again",
        )
    return best.encoding


def _records(text: str, delimiter: str, limit: int) -> list[list[str]]:
    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
    out = []
    try:
        for row in reader:
            out.append(row)
            if len(out) >= limit:
                break
    except csv.Error:
        pass
    return out


def detect_delimiter(head: str) -> str:
    """The delimiter giving the most rows with the same number (> 1) of fields; runs of blanks
    when no delimiter splits the rows but blanks do, alike in every row."""
    best, best_score = ",", (0, 0)
    for d in DELIMITERS:
        counts = [len(r) for r in _records(head, d, 50) if r]
        if not counts:
            continue
        mode = max(set(counts), key=counts.count)
        score = (counts.count(mode) if mode > 1 else 0, mode)
        if score > best_score:
            best, best_score = d, score
    if best_score[0] == 0:
        widths = [len(line.split()) for line in head.splitlines() if line.strip()]
        if widths and min(widths) > 1 and len(set(widths)) == 1:
            return WHITESPACE
    return best


def detect_header(records: list[list[str]]) -> int:
    """Index of the header among the first records: the first row that fills most of the table's
    width (a title row above it fills one or two cells; a header may have a blank cell or two)."""
    widths = [sum(1 for cell in r if cell.strip()) for r in records[:HEADER_SCAN_ROWS]]
    if not widths:
        return 0
    widest = max(widths)
    return next(i for i, w in enumerate(widths) if w >= max(min(widest, 3), 0.6 * widest))


def _read_csv(name: str, data: bytes, *, encoding: str | None, delimiter: str | None) -> RawFile:
    enc = encoding or detect_encoding(name, data)
    if enc == "utf-8-after-utf-16-mark":
        data, enc = data[2:], "utf-8"
    if data.count(b"\n") > MAX_ROWS:
        raise fail(name, f"the file has more than {MAX_ROWS:,} rows, over what one import takes")
    try:
        text = data.decode(enc)
    except (UnicodeDecodeError, LookupError) as exc:
        raise fail(name, f"the file cannot be read as {enc}: {exc}") from None
    text = text.removeprefix("\ufeff")
    mixed_ends = re.search("\r(?!\n)", text) is not None
    if mixed_ends:  # old-Mac CR, or CR mixed with LF: one kind of line end from here on
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    if any(ch in text[:100_000] for ch in ("\x00", "\x01", "\x02", "\x03")):
        raise fail(name, "this is a binary file, not a CSV text export")
    head = "\n".join(text[:200_000].splitlines()[:60])
    if delimiter is not None and delimiter not in DELIMITER_NAMES and len(delimiter) != 1:
        raise fail(name, f"the delimiter must be one character (or a blank for whitespace), not {delimiter!r}")
    sep = delimiter or detect_delimiter(head)
    if sep == WHITESPACE:
        text = "\n".join("\t".join(line.split()) for line in text.splitlines())
        raw = _read_csv(name, text.encode("utf-8"), encoding="utf-8", delimiter="\t")
        raw.delimiter, raw.encoding = WHITESPACE, enc
        return raw
    head_records = _records(head, sep, HEADER_SCAN_ROWS)
    header_idx = detect_header(head_records)
    if head_records and len(head_records[header_idx]) > MAX_COLUMNS:
        raise fail(
            name,
            f"the header has {len(head_records[header_idx]):,} columns, more than the {MAX_COLUMNS:,} "
            "an import takes: export only the columns you need",
        )
    utf8 = text.encode("utf-8") if enc not in ("utf-8", "utf_8") or mixed_ends else data
    if utf8.startswith(codecs.BOM_UTF8):
        utf8 = utf8[len(codecs.BOM_UTF8) :]
    try:
        frame = pl.read_csv(
            utf8,
            separator=sep,
            infer_schema=False,
            skip_rows=header_idx,
            raise_if_empty=False,
        )
    except pl.exceptions.PolarsError:
        raise _diagnose_csv(name, text, sep, header_idx) from None
    header_row = header_idx + 1
    notes: list[Problem] = []
    header = [_original_name(c, head_records[header_idx] if head_records else []) for c in frame.columns]
    raw = RawFile(name, _with_rows(frame, header_row, notes, name, header), "csv", enc, sep, header_row, notes)
    _check_last_record(raw, text, sep)
    _note_title_rows(raw, header_idx)
    return raw


def _original_name(column: str, header: list[str]) -> str:
    """Polars renames a repeated header "x" to "x_duplicated_0"; back to "x", so that the
    repeat is reported once, in words (_with_rows)."""
    base = column.split("_duplicated_")[0]
    return base if "_duplicated_" in column and base in header else column


def _note_title_rows(raw: RawFile, header_idx: int) -> None:
    """Rows skipped above a detected header are reported, never dropped silently."""
    if header_idx:
        raw.notes.append(
            Problem(
                "info",
                raw.name,
                f"rows 1–{header_idx} above the header look like a title and were skipped",
                rows=list(range(1, header_idx + 1)),
                count=header_idx,
            )
        )


def _with_rows(
    frame: pl.DataFrame,
    header_row: int,
    notes: list[Problem],
    name: str,
    header: list[str] | None = None,
) -> pl.DataFrame:
    """The frame with clean header names (from `header` where the reader renamed repeats) and
    its spreadsheet row numbers (ROW_COL)."""
    names = []
    for i, c in enumerate(header or frame.columns):
        clean = c.strip().lstrip("_") if c.strip().startswith("__") else c.strip()
        if not clean:
            clean = f"column_{i + 1}"
            notes.append(Problem("info", name, f"column {i + 1} has no header: called {clean!r}"))
        elif clean != c.strip():
            notes.append(Problem("info", name, f"column {c!r}: names starting with __ are reserved; called {clean!r}"))
        names.append(clean)
    duplicated = sorted({n for n in names if names.count(n) > 1})
    for n in duplicated:
        notes.append(
            Problem(
                "warning",
                name,
                f"the header names {n!r} {names.count(n)} times: the first is used, the others "
                f"are kept as {n!r} with a number",
                column=n,
            )
        )
    frame.columns = _unique(names)
    for c, dtype in frame.schema.items():
        if isinstance(dtype, NESTED):
            raise fail(
                name,
                f"column {c!r} holds nested values ({dtype}), not single values: "
                "flatten it before exporting, or leave it out",
            )
    return frame.with_row_index(ROW_COL, offset=header_row + 1).with_columns(
        pl.col(ROW_COL).cast(pl.Int64)
    )


def _diagnose_csv(name: str, text: str, sep: str, header_idx: int) -> ReadError:
    """Polars refused the file: find the rows that break it with the csv module (slow path)."""
    opened = _unclosed_quote_row(text)
    if opened is not None:
        return fail(
            name,
            f"a quote opened on row {opened} is never closed: everything after it reads as one "
            "cell (a stray \" in that row?)",
            [opened],
        )
    reader = csv.reader(io.StringIO(text), delimiter=sep, strict=True)
    expected, bad = None, []
    try:
        for i, row in enumerate(reader):
            if i < header_idx:
                continue
            if expected is None:
                expected = len(row)
            elif row and len(row) != expected:
                bad.append(reader.line_num)
    except csv.Error as exc:
        return fail(
            name,
            f"the CSV is malformed near row {reader.line_num}: {exc} "
            "(an unclosed quote or a truncated file)",
            [reader.line_num],
        )
    if bad:
        return fail(
            name,
            f"rows have a different number of fields than the header's {expected} "
            f"(is the delimiter {DELIMITER_NAMES.get(sep, sep)} right?)",
            bad[:5],
            len(bad),
        )
    return fail(name, "the CSV cannot be parsed (check the delimiter, quoting and encoding)")


def _unclosed_quote_row(text: str) -> int | None:
    """The line on which a quote opens that no later quote closes, if any."""
    inside, opened = False, None
    for number, line in enumerate(text.split("\n"), start=1):
        if line.count('"') % 2:
            inside = not inside
            opened = number if inside else None
    return opened if inside else None


def _check_last_record(raw: RawFile, text: str, sep: str) -> None:
    """A truncated download ends mid-row: the last record has fewer fields than the header.
    A file that ends with a line break finished its last row (which may span lines in quotes)."""
    if text.endswith(("\n", "\r")):
        return
    tail = text.rsplit("\n", 1)[-1]
    last = _records(tail, sep, 1)
    width = len(raw.columns)
    if width > 1 and last and len(last[0]) < width and raw.frame.height:
        row = raw.frame.get_column(ROW_COL)[-1]
        raise fail(
            raw.name,
            f"the last row has {len(last[0])} of {width} fields: the file looks "
            "truncated (download or export it again)",
            [row],
            1,
        )


# --- Excel and Parquet ---------------------------------------------------------------------------
def _check_unpacked_size(name: str, data: bytes) -> None:
    """An .xlsx is a zip: refuse one whose parts unpack to more than an import can hold, before
    the reader unpacks anything (a small file can unpack to gigabytes)."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            parts = archive.infolist()
    except zipfile.BadZipFile:
        raise fail(name, "the Excel file cannot be read: it is not a valid .xlsx (zip) file") from None
    total = sum(p.file_size for p in parts)
    largest = max(parts, key=lambda p: p.file_size, default=None)
    if total > MAX_UNPACKED_XLSX or (largest and largest.file_size > MAX_XLSX_PART):
        raise fail(
            name,
            f"the Excel file unpacks to {total / 2**20:,.0f} MB ({largest.filename}: "
            f"{largest.file_size / 2**20:,.0f} MB), more than an import takes "
            f"({MAX_UNPACKED_XLSX / 2**20:,.0f} MB in all, {MAX_XLSX_PART / 2**20:,.0f} MB a part): "
            "save it as CSV, or split it",
        )


def _read_excel(name: str, data: bytes) -> list[RawFile]:
    """Every sheet with data: a workbook of several tables (customers, orders, tickets) is read as
    that many files. A workbook of one sheet with data keeps the file's own name."""
    _check_unpacked_size(name, data)
    try:
        import fastexcel

        reader = fastexcel.read_excel(data)
        # header_row=None and skip_rows=0 keep blank rows, so row numbers match the sheet's.
        grids = [(sheet, reader.load_sheet(i, header_row=None, skip_rows=0, dtypes="string").to_polars())
                 for i, sheet in enumerate(reader.sheet_names)]  # fmt: skip
    except Exception as exc:  # noqa: BLE001 - calamine raises its own types for broken files
        raise fail(name, f"the Excel file cannot be read: {exc}") from None
    read = [(sheet, grid, _sheet_file(f"{name} › {sheet}", grid)) for sheet, grid in grids if _has_cells(grid)]
    tables = [(sheet, grid, raw) for sheet, grid, raw in read if raw.frame.height]
    if not tables:  # the caller says the file has no data rows
        return [_sheet_file(name, grids[0][1])]
    if len(tables) == 1:  # one table keeps the file's own name (read once: a sheet may be large)
        raw = tables[0][2]
        return [dataclasses.replace(raw, name=name, notes=[dataclasses.replace(p, file=name) for p in raw.notes])]
    raws = [raw for _, _, raw in tables]
    text = (f"the workbook has {len(tables)} sheets with data, each read as a file of its own: "
            + ", ".join(repr(sheet) for sheet, _, _ in tables))  # fmt: skip
    if aside := [sheet for sheet, _, raw in read if not raw.frame.height]:
        text += "; left out, with no rows under a header: " + ", ".join(map(repr, aside))
    raws[0].notes.insert(0, Problem("info", name, text))
    return raws


def _has_cells(grid: pl.DataFrame) -> bool:
    return grid.height > 0 and grid.select(pl.any_horizontal(pl.all().str.strip_chars().ne("")).any()).item() is True


def _sheet_file(name: str, grid: pl.DataFrame) -> RawFile:
    records = [[c or "" for c in r] for r in grid.head(HEADER_SCAN_ROWS).iter_rows()]
    header_idx = detect_header(records)
    header = (
        [c.strip() or f"column_{i + 1}" for i, c in enumerate(records[header_idx])]
        if records
        else []
    )
    if len(header) > MAX_COLUMNS:
        raise fail(name, f"the sheet has {len(header):,} columns, more than the {MAX_COLUMNS:,} an import takes")
    body = grid.slice(header_idx + 1)
    body.columns = _unique(header)
    notes: list[Problem] = []
    body = _with_rows(body, header_idx + 1, notes, name, header)
    data_cols = [c for c in body.columns if c != ROW_COL]
    empty_unnamed = [
        c for c in data_cols if c.startswith("column_") and body[c].null_count() == body.height
    ]
    body = body.drop(empty_unnamed).filter(~pl.all_horizontal(pl.exclude(ROW_COL).is_null()))
    raw = RawFile(name, body, "excel", header_row=header_idx + 1, notes=notes)
    _note_title_rows(raw, header_idx)
    return raw


def _unique(names: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for n in names:
        seen[n] = seen.get(n, 0) + 1
        out.append(n if seen[n] == 1 else f"{n}_{seen[n]}")
    return out


def _read_parquet(name: str, data: bytes) -> RawFile:
    try:
        frame = pl.read_parquet(io.BytesIO(data))
    except Exception as exc:  # noqa: BLE001
        raise fail(name, f"the Parquet file cannot be read: {exc}") from None
    if frame.width > MAX_COLUMNS:
        raise fail(name, f"the file has {frame.width:,} columns, more than the {MAX_COLUMNS:,} an import takes")
    notes: list[Problem] = []
    return RawFile(name, _with_rows(frame, 1, notes, name), "parquet", notes=notes)

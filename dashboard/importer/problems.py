"""The import report: every problem names the file, table, column, first rows and a count."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Literal

import polars as pl

Severity = Literal["error", "warning", "info"]
ROW_COL = "__row"  # the spreadsheet row number (header = row 1) carried through the import
FILE_COL = "__file"  # the file a row came from, carried through the import
SHOW_ROWS = 5


@dataclass
class Problem:
    severity: Severity
    file: str
    message: str
    table: str = ""
    column: str = ""
    rows: list[int] = field(default_factory=list)  # first few spreadsheet row numbers
    count: int = 0  # how many rows in all

    def __str__(self) -> str:
        where = self.file
        if self.table or self.column:
            where += f" → {self.table}{'.' if self.table and self.column else ''}{self.column}"
        text = f"{where}: {self.message}"
        if self.rows:
            shown = ", ".join(str(r) for r in self.rows[:SHOW_ROWS])
            more = " …" if self.count > len(self.rows[:SHOW_ROWS]) else ""
            text += f" (row{'s' if self.count > 1 else ''} {shown}{more}; {self.count:,} in all)"
        return text

    def to_json(self) -> dict:
        return asdict(self)


class ImportFailed(Exception):
    """Raised by the command-line path when an import has errors; carries the whole report."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems if p.severity == "error"))


def rows_of(frame: pl.DataFrame, mask: pl.Series | pl.Expr) -> tuple[list[int], int]:
    """First spreadsheet row numbers where mask holds, and how many rows in all."""
    hit = frame.lazy().filter(mask).select(ROW_COL)
    count = hit.select(pl.len()).collect().item()
    first = hit.head(SHOW_ROWS).collect().get_column(ROW_COL).to_list() if count else []
    return first, count


def per_file(problems, severity, frame, mask, table, column, message) -> None:
    """One problem per source file, with that file's first rows and its count."""
    hit = frame.filter(mask)
    for file, group in hit.group_by(FILE_COL, maintain_order=True):
        rows = group.get_column(ROW_COL).head(SHOW_ROWS).to_list()
        problems.append(
            Problem(severity, file[0], message, table=table, column=column, rows=rows, count=group.height)
        )

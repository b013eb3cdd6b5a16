"""CSV downloads that a spreadsheet cannot turn into a formula (CSV/formula injection).

A text cell starting with =, +, -, @, tab or carriage return is prefixed with an apostrophe, as
OWASP recommends; numbers stay numbers (a negative amount is not text)."""

from __future__ import annotations

import polars as pl

FORMULA_START = r"^[=+\-@\t\r]"


def safe_csv(frame: pl.DataFrame) -> bytes:
    text = [c for c, dtype in frame.schema.items() if dtype in (pl.String, pl.Categorical) or isinstance(dtype, pl.Enum)]
    escaped = frame.with_columns(pl.col(text).cast(pl.String)).with_columns(
        pl.when(pl.col(c).str.contains(FORMULA_START)).then(pl.lit("'") + pl.col(c)).otherwise(pl.col(c)).alias(c)
        for c in text
    )
    return escaped.write_csv().encode("utf-8")

"""Customers sharing their values are one weighted row of a likelihood: the integer codes of
distinct values and rows that make a million customers a few hundred thousand rows (or fewer)."""

from __future__ import annotations

import math

import numpy as np
import polars as pl

from metrics.btyd.summary import UNIT_DAYS

SMALL_ROWS = 100_000  # below this many rows a sort beats a hash join's fixed cost (see distinct_codes)
# An RFM summary's recency and T are whole days divided by the unit (btyd.summary): in weeks or
# months such a column is coded through its day numbers, with no hashing
DAY_GRIDS = (UNIT_DAYS["W"], UNIT_DAYS["M"])


def distinct_codes(*columns: np.ndarray) -> tuple[list[np.ndarray], np.ndarray]:
    """The distinct rows of the columns, sorted, and each row's index into them.

    Where the rows map to small non-negative integer keys, a table over all keys marks the ones
    present and their ranks are the codes (_dense_codes: no hashing, no sorting): a column of
    whole numbers (a frequency) is its own key, so is a column of whole days in weeks or months
    (its values × 7 or × 30.4375, checked to give the column back exactly), and several columns,
    each coded first, combine in mixed radix when the product of their distinct counts is small.
    Otherwise np.unique's sort for up to SMALL_ROWS rows (of the one column, or of the columns'
    mixed-radix key: a group's sample, a tenth of the hash join's time), else a hash join
    (np.unique's sort takes twice as long at a million rows).
    """
    n = len(columns[0])
    limit = 4 * n + 4096  # a table no bigger than a few times the rows
    if len(columns) == 1:
        column = columns[0]
        if n and column.min() >= 0 and column.max() < limit and np.array_equal(column, np.floor(column)):
            (keys,), index = _dense_codes(column.astype(np.int64), int(column.max()) + 1)
            return [keys.astype(column.dtype)], index
        for scale in DAY_GRIDS:  # whole days in weeks or months: coded by their day numbers
            days = np.rint(column * scale)
            if n and days.min() >= 0 and days.max() < limit and np.array_equal(days / scale, column):
                (keys,), index = _dense_codes(days.astype(np.int64), int(days.max()) + 1)
                return [keys / scale], index
    else:
        coded = [distinct_codes(c) for c in columns]
        distincts = [distinct for (distinct,), _ in coded]
        sizes = [len(distinct) for distinct in distincts]
        space = math.prod(sizes)
        if space <= limit or n <= SMALL_ROWS:
            key = _mixed_radix([index for _, index in coded], sizes)
            if space <= limit:
                (keys,), index = _dense_codes(key, space)
            else:  # a group's sample: a sort of one integer key per row
                keys, index = np.unique(key, return_inverse=True)
            return [d[i] for d, i in zip(distincts, _split_radix(keys, sizes), strict=True)], index.astype(np.int64)
    if len(columns) == 1 and n <= SMALL_ROWS:
        keys, index = np.unique(columns[0], return_inverse=True)
        return [keys], index.astype(np.int64)
    rows = pl.DataFrame({f"c{i}": c for i, c in enumerate(columns)})
    distinct = rows.unique().sort(rows.columns).with_row_index("k")
    index = rows.join(distinct, on=rows.columns, how="left", maintain_order="left").get_column("k")
    return [distinct.get_column(c).to_numpy() for c in rows.columns], index.cast(pl.Int64).to_numpy()


def _dense_codes(key: np.ndarray, space: int) -> tuple[list[np.ndarray], np.ndarray]:
    """distinct_codes of integer keys in [0, space): the keys present, sorted, and each row's rank among them."""
    present = np.zeros(space, dtype=bool)
    present[key] = True
    keys = np.flatnonzero(present)
    rank = np.empty(space, dtype=np.int64)
    rank[keys] = np.arange(len(keys))
    return [keys], rank[key]


def _mixed_radix(indexes: list[np.ndarray], sizes: list[int]) -> np.ndarray:
    """One integer key per row from its index into each column's distinct values (digits in
    mixed radix: the keys sort as the rows do)."""
    key = np.zeros(len(indexes[0]), dtype=np.int64)
    for size, index in zip(sizes, indexes, strict=True):
        key = key * size + index
    return key


def _split_radix(keys: np.ndarray, sizes: list[int]) -> list[np.ndarray]:
    """_mixed_radix undone: each column's index from the keys."""
    indexes = []
    for size in reversed(sizes):
        keys, index = np.divmod(keys, size)
        indexes.append(index)
    return indexes[::-1]


def _key_counts(key: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """np.unique(key, return_counts=True), sorted by Polars: a million keys 52 → 14 ms (NumPy's
    sort is single-threaded), the runs of equal keys then found in one pass.

    >>> _key_counts(np.array([5, 3, 5, 9, 3, 5]))
    (array([3, 5, 9]), array([2, 3, 1]))
    """
    ordered = pl.Series(key).sort().to_numpy()
    if not len(ordered):
        return ordered, np.zeros(0, dtype=np.int64)
    starts = np.flatnonzero(np.concatenate(([True], ordered[1:] != ordered[:-1])))
    return ordered[starts], np.diff(np.append(starts, len(ordered)))


def compress_rows(
    *columns: np.ndarray, weights: np.ndarray | None = None, key_limit: int = 2**63
) -> tuple[list[np.ndarray], list[np.ndarray], np.ndarray]:
    """Customers sharing the values of every column are one weighted row of the likelihood.

    → each column's distinct values, each distinct row's index into them, and how many customers
    share it (the sum of their `weights` when each row already stands for several customers). The
    rows are found through one integer key per customer (the column codes in mixed radix), so the
    result is in key order whatever the order of the customers.
    """
    coded = [distinct_codes(c) for c in columns]
    distincts = [distinct for (distinct,), _ in coded]
    sizes = [len(distinct) for distinct in distincts]
    if math.prod(sizes) >= key_limit:  # whole days keep it far below 2^63; just in case
        rows = pl.DataFrame({f"c{i}": index for i, (_, index) in enumerate(coded)})
        w = np.ones(len(rows)) if weights is None else weights
        grouped = rows.with_columns(w=w).group_by(rows.columns).agg(pl.col("w").sum()).sort(rows.columns)
        return distincts, [grouped.get_column(c).to_numpy() for c in rows.columns], grouped.get_column("w").to_numpy().astype(float)
    key = _mixed_radix([index for _, index in coded], sizes)
    if weights is None:
        keys, counts = _key_counts(key)
        return distincts, _split_radix(keys, sizes), counts.astype(float)
    keys, inverse = np.unique(key, return_inverse=True)
    return distincts, _split_radix(keys, sizes), np.bincount(inverse, weights=weights, minlength=len(keys))

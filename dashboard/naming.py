"""Dataset names, checked in one place for the Data page, the command line and the store.

A name is shown in the sidebar, in links (?dataset=) and in reports, and it is the key of a stored
dataset: it must fit the store's column, carry no control characters, and not be one of the names
the app gives the sources that are not stored (the bundled sample, the SQL database) — a stored
dataset under such a name could never be opened, and would hide the source it is named after.
"""

from __future__ import annotations

import unicodedata

SAMPLE = "Sample CRM (bundled)"
SQL = "SQL database"
RESERVED = (SAMPLE, SQL)
MAX_LENGTH = 100  # the store's column holds 200; a name longer than a line is no name


class BadName(ValueError):
    """A dataset name that cannot be used; the message says why in words."""


def check_dataset_name(name: str) -> str:
    """The name as it will be stored (spaces at either end removed), or BadName saying why not."""
    cleaned = name.strip()
    if not cleaned:
        raise BadName("A dataset needs a name.")
    if len(cleaned) > MAX_LENGTH:
        raise BadName(f"A dataset name has at most {MAX_LENGTH} characters; this one has {len(cleaned):,}.")
    if any(unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp") for ch in cleaned):
        raise BadName("A dataset name cannot hold control characters or line breaks.")
    if cleaned.casefold() in {reserved.casefold() for reserved in RESERVED}:
        raise BadName(f"“{cleaned}” is the name of a built-in source; choose another name.")
    return cleaned

"""Which canonical table a file is, and which of its columns is which canonical column.

Detected from header names and synonyms, including the default export headers of HubSpot,
Salesforce, Pipedrive and Zoho; the user confirms or corrects the result, and a confirmed mapping
is saved under the file's *shape* (its set of headers) and reused for the next upload of that shape.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from dashboard.importer.vocabulary import (
    DERIVED,
    FILENAME_HINTS,
    LOST_WORDS,
    STAGE_RANKS,
    SYNONYMS,
    WON_WORDS,
)
from metrics.schema import TABLES


def normalise(header: str) -> str:
    """'Deal - Close Date' → 'deal close date'; 'customerID' → 'customer id'; Arabic yeh and kaf
    (as Windows-1256 writes Persian) as the Persian letters, so 'كد مشتري' is 'کد مشتری'."""
    h = re.sub(r"(?<=[a-z])(?=[A-Z])", " ", header.strip()).replace("ي", "ی").replace("ك", "ک")
    h = re.sub(r"\(.*?\)", " ", h)
    h = re.sub(r"[^0-9a-zA-Z\u0600-\u06FF]+", " ", h).strip().lower()
    return re.sub(r"\s+", " ", h)


def _norm_synonyms() -> dict[str, dict[str, list[str]]]:
    return {
        t: {c: [normalise(s) for s in syns] for c, syns in cols.items()}
        for t, cols in SYNONYMS.items()
    }


_NORMALISED = _norm_synonyms()


def find_header(headers: list[str], names: tuple[str, ...]) -> str | None:
    """The header among `headers` for the first of `names` (normalised) there is, if any."""
    by_norm = {normalise(h): h for h in headers}
    return next((by_norm[n] for n in names if n in by_norm), None)


def shape_key(headers: list[str]) -> str:
    """A stable key for a file's shape: the sorted set of normalised header names."""
    joined = "\x1f".join(sorted(normalise(h) for h in headers))
    return hashlib.sha256(joined.encode()).hexdigest()[:32]


@dataclass
class TableGuess:
    table: str | None
    mapping: dict[str, str]  # canonical (or derived) column → source header
    score: float


def guess_mapping(table: str, headers: list[str]) -> dict[str, str]:
    """Best source header for each canonical column: exact name, then synonyms in priority order.
    A source header is used for one canonical column only (the earlier in the contract wins)."""
    by_norm: dict[str, str] = {}
    for h in headers:
        by_norm.setdefault(normalise(h), h)
    for prefix in ("deal ", "opportunity ", "ticket ", "contact ", "company ", "order "):
        for h in headers:
            n = normalise(h)
            if n.startswith(prefix):
                by_norm.setdefault(n.removeprefix(prefix), h)
    mapping: dict[str, str] = {}
    used: set[str] = set()
    columns = list(TABLES[table].names) + list(DERIVED.get(table, {}))
    for col in columns:
        options = [normalise(col)] + _NORMALISED[table].get(col, [])
        for opt in options:
            src = by_norm.get(opt)
            if src and src not in used:
                mapping[col] = src
                used.add(src)
                break
    return mapping


def guess_table(filename: str, headers: list[str]) -> TableGuess:
    """The canonical table a file most likely holds, or table=None when none fits."""
    name = filename.lower()
    best = TableGuess(None, {}, 0.0)
    for table, spec in TABLES.items():
        mapping = guess_mapping(table, headers)
        required = [c.name for c in spec.columns if c.required]
        derivable = {"status", "created_date"} if table == "deals" else set()
        if table == "customers":
            derivable = {"tier"}
        missing = [c for c in required if c not in mapping and c not in derivable]
        if missing:
            continue
        score = sum(
            2.0 if spec.column(c).required else 1.0 for c in mapping if c in spec.names
        ) + sum(0.5 for c in mapping if c not in spec.names)
        if any(hint in name for hint in FILENAME_HINTS[table]):
            score += 3.0
        if table in name:
            score += 2.0
        if score > best.score:
            best = TableGuess(table, mapping, score)
    return best


def table_named_in(filename: str) -> str | None:
    """The canonical table a file name spells out (orders.csv, Deals export.xlsx), if any."""
    stem = normalise(filename.rsplit(".", 1)[0])
    for table in TABLES:
        if re.search(rf"\b{table.replace('_', ' ')}\b", stem) or stem.startswith(table.rstrip("s")):
            return table
    return None


def _stem(word: str) -> str:
    w = normalise(word)
    for suffix in ("ing", "ment", "ed", "e", "s"):
        if w.endswith(suffix) and len(w) - len(suffix) >= 4:
            return w[: -len(suffix)]
    return w


STAGE_STEMS = {_stem(s): s for s in STAGE_RANKS}


def stage_date_columns(
    headers: list[str], mapping: dict[str, str], stages: list[str] | None = None
) -> dict[str, str]:
    """Wide stage-date columns → the stage they record entering.

    'Date entered Qualified To Buy (Sales Pipeline)' → 'Qualified To Buy';
    'engage_date' → 'Engaging' when the data has a stage 'Engaging' (matched by word stem)."""
    known = {_stem(s): s for s in (stages or [])}
    used = set(mapping.values())
    out: dict[str, str] = {}
    for h in headers:
        if h in used:
            continue
        n = normalise(h)
        m = re.match(r"^(?:date entered|entered|became an?) (.+)$", n)
        if m:  # HubSpot: the stage name follows, in the export's own spelling
            original = re.sub(r"(?i)^\s*(date entered|entered|became an?)\s+", "", h)
            out[h] = known.get(_stem(m.group(1)), re.sub(r"\s*\(.*\)\s*$", "", original).strip())
            continue
        m = re.match(r"^(.+?) (?:date|at|time|on)$", n)
        if m and m.group(1) not in (
            "close",
            "closed",
            "create",
            "created",
            "closing",
            "last modified",
            "modified",
            "updated",
        ):
            stem = _stem(m.group(1))
            if stem in known:
                out[h] = known[stem]
            elif stem in STAGE_STEMS:
                out[h] = STAGE_STEMS[stem].title()
    return out


def infer_stage_order(
    stages: list[str], median_entered: dict[str, float] | None = None
) -> list[str]:
    """Stages in funnel order; lost-type stages are outcomes, not steps, and are left out.

    Known vocabulary decides first; unknown stages fall back to when deals entered them (median
    entered_at from stage history, ranked between the known stages); unknown stages without
    history go just before the won stage, in the order the data names them."""
    median_entered = median_entered or {}
    steps = [s for s in dict.fromkeys(stages) if s and not LOST_WORDS.search(s)]
    numbered = [re.match(r"\s*(\d+)\s*[-.):]", s) for s in steps]
    if steps and all(numbered):  # "1-Qualify", "2-Develop" (Dynamics 365): the numbers say the order
        return [s for _, s in sorted(zip((int(m.group(1)) for m in numbered), steps, strict=True))]

    def rank(s: str) -> tuple[float, float]:
        n = normalise(s)
        if n in STAGE_RANKS:
            return (STAGE_RANKS[n], 0.0)
        if WON_WORDS.search(s):
            return (9.0, 0.0)
        return (median_entered.get(s, 7.0), 0.0)

    return sorted(steps, key=rank)


def derive_status(stage: str) -> str:
    if WON_WORDS.search(stage or ""):
        return "won"
    if LOST_WORDS.search(stage or ""):
        return "lost"
    return "open"

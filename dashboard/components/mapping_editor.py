"""Correct how one uploaded file is mapped: its table, where each column comes from (a header, a
constant, a product, sum or difference of two columns, an id made of columns), lines grouped into rows, rows
left out without a value, and columns joined from another file by a key (with its match rate).

Every edit changes the import's mapping (a recipe, dashboard/importer/recipes.py) kept in the
session; the dry run is then planned again from it. `show(plan, name, recipe)` returns the
changed recipe, or None when nothing changed.
"""

from __future__ import annotations

import copy
from typing import Any

import streamlit as st

from dashboard.importer.mapping import guess_mapping
from dashboard.importer.pipeline import ImportPlan
from dashboard.importer.recipes import FileRecipe, Join, columns_after_joins, match_rate
from dashboard.importer.vocabulary import DERIVED
from dashboard.text import plain
from metrics.schema import TABLES

NOT_MAPPED = "— not in file —"
CONSTANT = "= a constant value"
PRODUCT = "= column × column"
SUM = "= column + column"
DIFFERENCE = "= column − column"
ROW_KEY = "= an id made of columns"
SPECIAL = {CONSTANT: "const", PRODUCT: "product", SUM: "sum", DIFFERENCE: "difference", ROW_KEY: "row_key"}
SIGNS = {"product": "×", "sum": "+", "difference": "−"}
OTHER = "= derived (as the notes above say)"
SKIP = "skip"


# The editor's widget keys start with these: when the mapping is replaced from outside (new files,
# a mapping file), their remembered choices must go, or they would write the old choices back.
KEY_PREFIXES = ("table::", "map::", "const::", "rowkey::", "producta::", "productb::", "suma::", "sumb::",
                "differencea::", "differenceb::", "group::", "require::", "jfile::", "jon::", "jother::", "jtake::", "jhow::", "join::", "unjoin::")  # fmt: skip


def forget_choices() -> None:
    """Drop the editor's remembered widget choices (the mapping in force was replaced)."""
    for key in [k for k in st.session_state if isinstance(k, str) and k.startswith(KEY_PREFIXES)]:
        del st.session_state[key]


def show(plan: ImportPlan, name: str, recipe: dict[str, Any]) -> dict[str, Any] | None:
    recipe = copy.deepcopy(recipe)
    files = recipe.setdefault("files", {})
    raws = plan.sources
    choices = list(TABLES) + [SKIP]
    spec = files.get(name)
    current = spec["table"] if spec else SKIP
    table = st.selectbox("Table", choices, index=choices.index(current), key=f"table::{name}")
    if table != current:
        recipe["skip"] = [n for n in recipe.get("skip", []) if n != name]
        if table == SKIP:
            files.pop(name, None)
            recipe["skip"].append(name)
        else:
            files[name] = {"table": table, "columns": guess_mapping(table, raws[name].columns)}
        return recipe
    if spec is None:
        return None
    fr = FileRecipe(table, joins=[Join(**j) for j in spec.get("joins", [])])
    headers = columns_after_joins(name, fr, raws)
    changed = _columns(name, table, spec, headers)
    changed = _rows(name, table, spec) or changed
    changed = _joins(name, spec, raws, plan) or changed
    return recipe if changed else None


def _columns(name: str, table: str, spec: dict, headers: list[str]) -> bool:
    columns = spec.setdefault("columns", {})
    canonical = list(TABLES[table].names) + list(DERIVED.get(table, {}))
    options = [NOT_MAPPED] + headers + list(SPECIAL)
    grid = st.columns(4)
    changed = False
    for i, col in enumerate(canonical):
        required = col in TABLES[table].names and TABLES[table].column(col).required
        source = columns.get(col)
        if source is None:
            value = NOT_MAPPED
        elif isinstance(source, str):
            value = source if source in headers else NOT_MAPPED
        else:
            kind = next(iter(source))
            value = next((label for label, k in SPECIAL.items() if k == kind), OTHER)
        opts = options if value != OTHER else options + [OTHER]
        chosen = grid[i % 4].selectbox(
            f"{col}{' *' if required else ''}", opts, index=opts.index(value), key=f"map::{name}::{table}::{col}"
        )
        if chosen != value:
            changed = True
            if chosen == NOT_MAPPED:
                columns.pop(col, None)
            elif chosen in SPECIAL:
                columns[col] = _blank(SPECIAL[chosen], headers)
            else:
                columns[col] = chosen
    for col, source in list(columns.items()):
        if isinstance(source, dict) and next(iter(source)) in SPECIAL.values():
            changed = _special(name, col, source, headers) or changed
    return changed


def _blank(kind: str, headers: list[str]) -> dict:
    first = headers[:2] if len(headers) >= 2 else headers * 2
    return {"const": ""} if kind == "const" else {kind: list(first)}


def _special(name: str, col: str, source: dict, headers: list[str]) -> bool:
    """The inputs of a derived column, under the grid."""
    kind = next(iter(source))
    if kind == "const":
        value = st.text_input(f"{col}: the same value on every row", str(source["const"] or ""),
                              key=f"const::{name}::{col}", max_chars=200)  # fmt: skip
        if value != source["const"]:
            source["const"] = value
            return True
        return False
    if kind == "row_key":
        picked = st.multiselect(f"{col}: an id made of these columns and a running number",
                                headers, default=[h for h in source["row_key"] if h in headers],
                                key=f"rowkey::{name}::{col}")  # fmt: skip
        if picked and picked != source["row_key"]:
            source["row_key"] = picked
            return True
        return False
    sign = SIGNS[kind]
    left, right = st.columns(2)
    parts = [p if isinstance(p, str) and p in headers else headers[0] for p in source[kind]]
    a = left.selectbox(f"{col} = this column", headers, index=headers.index(parts[0]), key=f"{kind}a::{name}::{col}")
    b = right.selectbox(f"{sign} this column", headers, index=headers.index(parts[1]), key=f"{kind}b::{name}::{col}")
    if [a, b] != source[kind]:
        source[kind] = [a, b]
        return True
    return False


def _rows(name: str, table: str, spec: dict) -> bool:
    changed = False
    ids = [c for c in TABLES[table].names if c.endswith("_id")]
    key = ids[0] if ids else None
    if key:
        group = st.checkbox(
            f"Several rows per {key} are lines of one {table[:-1]}: make one row of each "
            "(amounts summed, the first value of the rest)",
            value=spec.get("group_by") == key,
            key=f"group::{name}",
        )
        if group != (spec.get("group_by") == key):
            spec["group_by"] = key if group else None
            changed = True
    mapped = [c for c in spec.get("columns", {}) if c in TABLES[table].names]
    require = st.multiselect(
        "Leave out rows without a value in (they are counted in the report)",
        mapped,
        default=[c for c in spec.get("require", []) if c in mapped],
        key=f"require::{name}",
    )
    if require != spec.get("require", []):
        spec["require"] = require
        changed = True
    return changed


def _joins(name: str, spec: dict, raws: dict, plan: ImportPlan) -> bool:
    """Columns from another file by a key: existing joins (removable) and a form for a new one
    that previews how many rows would find a match."""
    joins = spec.setdefault("joins", [])
    changed = False
    for i, j in enumerate(list(joins)):
        cols = st.columns([8, 2])
        took = ", ".join(j.get("take") or ["every column"])
        cols[0].text(f"Joined: {took} from {j['file']} where {j['on']} = {j['other_on']}"
                     + (" (summed)" if j.get("aggregate") == "sum" else ""))  # fmt: skip
        if cols[1].button("Remove", key=f"unjoin::{name}::{i}"):
            joins.pop(i)
            changed = True
    others = [n for n in raws if n != name]
    if not others:
        return changed
    with st.popover("Add columns from another file"):
        other = st.selectbox("From file", others, key=f"jfile::{name}")
        here = st.selectbox(f"Key in {plain(name)}", raws[name].columns, key=f"jon::{name}")
        there = st.selectbox(f"Key in {plain(other)}", raws[other].columns, key=f"jother::{name}")
        hits, n = match_rate(raws[name].frame.get_column(here), raws[other].frame.get_column(there))
        st.text(f"{hits:,} of {n:,} rows ({hits / n if n else 0:.1%}) find a match")
        take = st.multiselect("Columns to take", [c for c in raws[other].columns if c != there], key=f"jtake::{name}")
        how = st.radio("Several matching rows", ["first row", "sum of numbers"], horizontal=True, key=f"jhow::{name}")
        if st.button("Add join", key=f"join::{name}", disabled=not take):
            joins.append({"file": other, "on": here, "other_on": there, "take": take,
                          "aggregate": "sum" if how == "sum of numbers" else "first"})  # fmt: skip
            changed = True
    return changed

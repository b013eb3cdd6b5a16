"""Upload exports, check how they were understood (dry run), correct the mapping, then import."""

from __future__ import annotations

import datetime as dt
import hashlib

import polars as pl
import streamlit as st

from dashboard import config, data
from dashboard.importer import ImportOptions, SourceFile, commit_import, plan_import
from dashboard.importer.mapping import DERIVED
from dashboard.importer.pipeline import ImportPlan
from metrics.schema import TABLES

NOT_MAPPED = "— not in file —"
OVERRIDES_KEY = "import_overrides"
DONE_KEY = "import_done"


def show() -> None:
    done = st.session_state.pop(DONE_KEY, None)
    if done:
        st.success(done)
    limit = config.max_upload_mb()
    files = st.file_uploader(
        "CRM exports: CSV, Excel (.xlsx) or Parquet — one file per table, several at once",
        type=["csv", "txt", "tsv", "xlsx", "parquet"],
        accept_multiple_files=True,
        max_upload_size=limit,
        key="import_files",
    )
    left, mid, right = st.columns(3)
    name = left.text_input("Dataset name", value="My CRM", key="import_name", max_chars=100)
    snapshot = mid.date_input(
        "Snapshot / as-of date (optional)",
        value=None,
        key="import_as_of",
        max_value=dt.date.today(),
        help="For exports without dates (a churn flag, a tenure), the date "
        "the export was taken. Also the dataset's as-of date.",
    )
    order = right.radio(
        "Ambiguous dates like 03/04/2024",
        ["M/D/Y", "D/M/Y"],
        horizontal=True,
        key="import_date_order",
    )
    if not files:
        st.caption(
            f"Files up to {limit} MB. Nothing is stored until you press Import; a failed "
            "import leaves every stored dataset as it was."
        )
        return
    sources = []
    for f in files:
        f.seek(0)
        sources.append(SourceFile(f.name, f.getvalue()))
    overrides = st.session_state.setdefault(OVERRIDES_KEY, {})
    options = ImportOptions(
        as_of=snapshot, prefer_dmy=order == "D/M/Y", max_bytes=limit * 2**20, overrides=overrides
    )
    plan = _plan(sources, options)
    _show_plan(plan)
    ready = plan.ok and bool(name.strip())
    st.button("Import", type="primary", disabled=not ready, key="import_commit", on_click=_commit, args=(plan, name.strip()))
    if not plan.ok:
        st.error("Fix the errors above (or correct the mapping) to import; nothing was stored.")


def _commit(plan: ImportPlan, name: str) -> None:
    """Runs before the next script run (a button callback), so it may switch the dataset picker
    to the new dataset, which a widget already drawn in this run could not."""
    existed = name in data.dataset_names()
    commit_import(plan, data.store(), name)
    st.session_state[data.DATASET_KEY] = name
    st.session_state.pop(OVERRIDES_KEY, None)
    st.session_state[DONE_KEY] = (
        f"{'Replaced' if existed else 'Imported'} dataset **{name}**: "
        + ", ".join(f"{t} {n:,}" for t, n in plan.row_counts().items())
    )


def _plan(sources: list[SourceFile], options: ImportOptions) -> ImportPlan:
    """The dry run, kept in the session while the same files and choices are on screen."""
    digest = hashlib.sha256()
    for s in sources:
        digest.update(s.name.encode() + hashlib.sha256(s.data).digest())
    digest.update(
        repr(
            (options.as_of, options.prefer_dmy, sorted(options.overrides.items(), key=str))
        ).encode()
    )
    key = digest.hexdigest()
    memo = st.session_state.get("import_plan")
    if memo and memo[0] == key:
        return memo[1]
    with st.spinner("Reading and checking the files…"):
        plan = plan_import(sources, options=options, store=data.store())
    st.session_state["import_plan"] = (key, plan)
    return plan


def _show_plan(plan: ImportPlan) -> None:
    counts = plan.row_counts()
    if counts:
        st.markdown("**Would import:** " + ", ".join(f"{t} {n:,} rows" for t, n in counts.items()))
    for fp in plan.files:
        label = fp.table if fp.role == "table" else fp.role
        with st.expander(
            f"{fp.raw.name} → {label} · {fp.raw.describe()} · {fp.raw.frame.height:,} rows",
            expanded=fp.role == "table" and not plan.ok,
        ):
            _mapping_editor(fp)
            st.dataframe(fp.raw.frame.drop("__row").head(5), hide_index=True, width="stretch")
    problems = [p for p in plan.problems]
    if problems:
        report = pl.DataFrame(
            {
                "severity": [p.severity for p in problems],
                "problem": [str(p) for p in problems],
            }
        )
        st.dataframe(
            report,
            hide_index=True,
            width="stretch",
            column_config={"problem": st.column_config.TextColumn(width="large")},
        )


def _mapping_editor(fp) -> None:
    overrides = st.session_state[OVERRIDES_KEY]
    choices = list(TABLES) + ["skip"]
    current = fp.table if fp.role == "table" and fp.table else "skip"
    table = st.selectbox(
        "Table",
        choices,
        index=choices.index(current),
        key=f"table::{fp.raw.name}",
        help=f"Mapping {fp.mapping_source}.",
    )
    if table != current:
        overrides[fp.raw.name] = {"table": table}
        st.rerun()
    if table == "skip":
        return
    headers = [NOT_MAPPED] + fp.raw.columns
    columns = list(TABLES[table].names) + list(DERIVED.get(table, {}))
    mapping = dict(fp.mapping)
    cols = st.columns(4)
    for i, col in enumerate(columns):
        required = col in TABLES[table].names and TABLES[table].column(col).required
        value = mapping.get(col, NOT_MAPPED)
        chosen = cols[i % 4].selectbox(
            f"{col}{' *' if required else ''}",
            headers,
            index=headers.index(value) if value in headers else 0,
            key=f"map::{fp.raw.name}::{table}::{col}",
        )
        if chosen != value:
            if chosen == NOT_MAPPED:
                mapping.pop(col, None)
            else:
                mapping[col] = chosen
            overrides[fp.raw.name] = {"table": table, "mapping": mapping}
            st.rerun()
    if fp.stage_columns:
        st.caption(
            "Stage-date columns turned into stage history: "
            + ", ".join(f"{src} → {stage}" for src, stage in fp.stage_columns.items())
        )

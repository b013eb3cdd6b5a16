"""Upload exports, check how they were understood (dry run), correct the mapping, then import."""

from __future__ import annotations

import datetime as dt
import hashlib
import json

import polars as pl
import streamlit as st

from dashboard import access, config, data
from dashboard.components import mapping_editor
from dashboard.importer import ImportOptions, SourceFile, commit_import, plan_import
from dashboard.importer.pipeline import ImportPlan
from dashboard.importer.recipes import Recipe, RecipeError
from dashboard.naming import BadName, check_dataset_name
from dashboard.store import StoreBusy
from dashboard.text import plain

RECIPE_KEY = "import_recipe"  # ((file names, mapping file digest), the mapping in force as JSON, its error)
DONE_KEY = "import_done"
FAILED_KEY = "import_failed"  # a commit the store refused (a name, a busy store): said on the next run
PLAN_KEY = "import_plan"  # (digest of files and choices, the dry run made of them)


def show() -> None:
    done = st.session_state.pop(DONE_KEY, None)
    if done:
        st.success(plain(done))
    failed = st.session_state.pop(FAILED_KEY, None)
    if failed:
        st.error(plain(failed))
    limit = config.max_upload_mb()
    # No type filter: a file of another kind is refused by the reader in words, naming the file,
    # where the uploader would only show an icon.
    files = st.file_uploader(
        "CRM exports: CSV or text, Excel (.xlsx) or Parquet — several files at once",
        accept_multiple_files=True,
        max_upload_size=limit,
        key="import_files",
    )
    st.caption(
        f"Files up to {limit} MB each. Nothing is stored until you press Import; a failed "
        "import leaves every stored dataset as it was."
    )
    left, mid, right = st.columns(3)
    name = left.text_input("Dataset name", value="My CRM", key="import_name", max_chars=100)
    snapshot = mid.date_input(
        "Snapshot / as-of date (optional)",
        value=None,
        key="import_as_of",
        min_value=dt.date(1900, 1, 1),
        max_value=dt.date(2100, 12, 31),
        help="For exports without dates (a churn flag, a tenure), the date "
        "the export was taken. Also the dataset's as-of date.",
    )
    order = right.radio(
        "Ambiguous dates like 03/04/2024",
        ["M/D/Y", "D/M/Y"],
        horizontal=True,
        key="import_date_order",
    )
    left, mid, right, zone = st.columns(4)
    time_zone = zone.text_input(
        "Time zone of the data", value="UTC", key="import_time_zone", max_chars=40,
        help="The clock every timestamp is read on, e.g. Europe/London or Asia/Tehran. Times with a UTC "
        "offset (and time-zone-aware columns) become times on this clock; others are read as written.",
    )  # fmt: skip
    currency = left.text_input(
        "Currency of the amounts", key="import_currency", max_chars=8,
        placeholder="detected from symbols or codes", help="An ISO code such as GBP, EUR, BRL, IRR.",
    )  # fmt: skip
    margin = mid.number_input(
        "Margin rate (gross margin ÷ revenue)", min_value=0.0, max_value=1.0, value=None, step=0.05,
        key="import_margin", placeholder="not known", help="Used where orders carry no gross margin; "
        "until it is set, margins equal revenue.",
    )  # fmt: skip
    lost_after = right.number_input(
        "Open deals count as lost after (days)", min_value=1, max_value=3650, value=None, step=30,
        key="import_lost_after", placeholder="never (lead lists: 90)",
        help="Lead lists say who was won, not who was lost: an open deal older than this at the "
        "as-of date counts as lost.",
    )  # fmt: skip
    mapping_file = st.file_uploader(
        "Mapping file (optional): the JSON the Download mapping button below gives, or "
        "--write-mapping on the command line",
        type=["json"],
        key="import_mapping_file",
    )
    if not files:
        # the last dry run (every file's text and tables) goes with the files it was made of
        st.session_state.pop(PLAN_KEY, None)
        st.session_state.pop(RECIPE_KEY, None)
        return
    sources = []
    for f in files:
        f.seek(0)
        sources.append(SourceFile(f.name, f.getvalue()))
    recipe = _recipe(sources, mapping_file)
    options = ImportOptions(
        as_of=snapshot,
        prefer_dmy=order == "D/M/Y",
        max_bytes=limit * 2**20,
        recipe=recipe,
        currency=currency.strip().upper() or None,
        margin_rate=margin,
        lost_after_days=int(lost_after) if lost_after else None,
        time_zone=time_zone.strip() or "UTC",
    )
    plan = _plan(sources, options)
    _show_plan(plan)
    try:
        check_dataset_name(name)
        ready = plan.ok
    except BadName as bad:
        st.warning(plain(str(bad)))
        ready = False
    st.button("Import", type="primary", disabled=not ready, key="import_commit", on_click=_commit, args=(plan, name.strip()))
    if not plan.ok:
        st.error("Fix the errors above (or correct the mapping) to import; nothing was stored.")


def _recipe(sources: list[SourceFile], mapping_file) -> Recipe | None:
    """The mapping in force for these files: the one edited on this page, else an uploaded
    mapping file, else None (the importer recognises the shape or guesses)."""
    given = None if mapping_file is None else hashlib.sha256(mapping_file.getvalue()).hexdigest()
    key = (tuple(sorted(s.name for s in sources)), given)  # new files or a new mapping file: start again
    state = st.session_state.get(RECIPE_KEY)
    if state is None or state[0] != key:
        mapping_editor.forget_choices()
        state = (key, None, None)
        if mapping_file is not None:
            try:
                state = (key, Recipe.from_json(json.loads(mapping_file.getvalue())).to_json(), None)
            except (ValueError, RecipeError) as exc:
                state = (key, None, f"The mapping file {mapping_file.name} cannot be used: {exc}")
        st.session_state[RECIPE_KEY] = state
    if state[2]:
        st.error(plain(state[2]), icon="⚠️")
    return Recipe.from_json(state[1]) if state[1] else None


def _commit(plan: ImportPlan, name: str) -> None:
    """Runs before the next script run (a button callback), so it may switch the dataset picker
    to the new dataset, which a widget already drawn in this run could not."""
    access.require("editor")
    existed = name in data.dataset_names()
    try:
        commit_import(plan, data.store(), name, actor=access.actor())
    except (BadName, StoreBusy) as exc:
        st.session_state[FAILED_KEY] = f"Nothing was imported: {exc}"
        return
    st.session_state[data.DATASET_KEY] = name
    st.session_state.pop(RECIPE_KEY, None)
    st.session_state.pop(PLAN_KEY, None)
    st.session_state[DONE_KEY] = (
        f"{'Replaced' if existed else 'Imported'} dataset {name}: "
        + ", ".join(f"{t} {n:,}" for t, n in plan.row_counts().items())
    )


def _plan(sources: list[SourceFile], options: ImportOptions) -> ImportPlan:
    """The dry run, kept in the session while the same files and choices are on screen."""
    digest = hashlib.sha256()
    for s in sources:
        digest.update(s.name.encode() + hashlib.sha256(s.data).digest())
    digest.update(
        repr(
            (options.as_of, options.prefer_dmy, options.currency, options.margin_rate, options.lost_after_days,
             options.time_zone, options.recipe.to_json() if options.recipe else None)
        ).encode()
    )
    key = digest.hexdigest()
    memo = st.session_state.get(PLAN_KEY)
    if memo and memo[0] == key:
        return memo[1]
    with st.spinner("Reading and checking the files…"):
        plan = plan_import(sources, options=options, store=data.store())
    st.session_state[PLAN_KEY] = (key, plan)
    return plan


def _show_plan(plan: ImportPlan) -> None:
    counts = plan.row_counts()
    if counts:
        st.text("Would import: " + ", ".join(f"{t} {n:,} rows" for t, n in counts.items()))
    recipe = plan.mapping_file()
    for fp in plan.files:
        label = fp.table if fp.role == "table" else fp.role
        source = plan.sources.get(fp.raw.name, fp.raw)
        with st.expander(
            f"{plain(fp.raw.name)} → {label} · {source.describe()} · {source.frame.height:,} rows",
            expanded=fp.role == "table" and not plan.ok,
        ):
            for p in plan.problems:
                if p.file == fp.raw.name and p.severity == "info":
                    st.text(p.message)
            if fp.raw.name in plan.sources:
                changed = mapping_editor.show(plan, fp.raw.name, recipe)
                if changed is not None:
                    key = st.session_state[RECIPE_KEY][0]
                    st.session_state[RECIPE_KEY] = (key, changed, None)
                    st.rerun()
            st.dataframe(source.frame.drop("__row").head(5), hide_index=True, width="stretch")
    st.download_button(
        "Download mapping (JSON)",
        json.dumps(recipe, indent=2, ensure_ascii=False),
        file_name="crm-mapping.json",
        mime="application/json",
        key="import_mapping_download",
        help="Give it back here or to the command line (--mapping) to import the same way.",
    )
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

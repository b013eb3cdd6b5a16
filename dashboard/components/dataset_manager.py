"""Stored datasets: which one opens by default, and deleting one (after a confirmation)."""

from __future__ import annotations

import polars as pl
import streamlit as st

from dashboard import access, data
from dashboard.store import StoreBusy
from dashboard.text import plain


def show() -> None:
    infos = data.store().list()
    if not infos:
        st.info(
            "No imported datasets yet: the dashboard runs on the bundled sample. "
            "Import your exports in the **Import files** tab."
        )
        return
    active = data.store().active_name()
    st.dataframe(
        pl.DataFrame(
            {
                "dataset": [i.name for i in infos],
                "opens by default": [i.name == active for i in infos],
                "updated (UTC)": [i.updated_at for i in infos],
                "tables": [", ".join(f"{t} {n:,}" for t, n in i.row_counts.items()) for i in infos],
                "notes": [i.warnings for i in infos],
            }
        ),
        hide_index=True,
        width="stretch",
    )
    name = st.selectbox("Dataset", [i.name for i in infos], key="manage_dataset")
    left, right = st.columns(2)
    if left.button("Open by default", key="manage_activate", help="The dataset every new visitor opens on."):
        access.require("editor")
        if not _changed(lambda: data.store().set_active(name, actor=access.actor())):
            return
        st.session_state[data.DATASET_KEY] = name
        st.rerun()
    if not access.can("admin"):
        right.caption("Deleting a dataset or restoring an earlier version needs the admin role.")
        return
    if right.button("Delete…", key="manage_delete"):
        _confirm_delete(name)
    _versions(name)


def _versions(name: str) -> None:
    """The versions an import replaced, restorable (the store keeps KEPT_VERSIONS)."""
    versions = data.store().versions(name)
    st.caption(plain(f"Versions of {name} kept (an import that replaces a dataset keeps the one it replaced):"))
    st.dataframe(
        pl.DataFrame({
            "version": [v.version for v in versions], "current": [v.current for v in versions],
            "saved (UTC)": [v.saved_at for v in versions], "by": [v.saved_by for v in versions],
            "tables": [", ".join(f"{t} {n:,}" for t, n in v.row_counts.items()) for v in versions],
        }),
        hide_index=True, width="stretch",
    )  # fmt: skip
    earlier = [v.version for v in versions if not v.current]
    if earlier:
        left, right = st.columns(2)
        version = left.selectbox("Version", earlier, key="manage_version")
        if right.button("Restore this version", key="manage_restore"):
            access.require("admin")
            if _changed(lambda: data.store().restore(name, version, actor=access.actor())):
                st.rerun()


def _changed(change) -> bool:
    """Make a change to the store; a store busy with other changes is said in words (False)."""
    try:
        change()
    except StoreBusy as busy:
        st.error(plain(str(busy)))
        return False
    return True


@st.dialog("Delete dataset")
def _confirm_delete(name: str) -> None:
    st.text(f"Delete {name}, every kept version and everything imported into it? This cannot be undone.")
    if st.button("Delete it", type="primary", key="manage_confirm_delete"):
        access.require("admin")
        if not _changed(lambda: data.store().delete(name, actor=access.actor())):
            return
        if st.session_state.get(data.DATASET_KEY) == name:
            st.session_state[data.DATASET_KEY] = data.default_dataset()
        st.rerun()

"""Stored datasets: which one opens by default, and deleting one (after a confirmation)."""

from __future__ import annotations

import polars as pl
import streamlit as st

from dashboard import data


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
    if left.button("Open by default", key="manage_activate"):
        data.store().set_active(name)
        st.session_state[data.DATASET_KEY] = name
        st.rerun()
    if right.button("Delete…", key="manage_delete"):
        _confirm_delete(name)


@st.dialog("Delete dataset")
def _confirm_delete(name: str) -> None:
    st.write(f"Delete **{name}** and everything imported into it? This cannot be undone.")
    if st.button(f"Delete {name}", type="primary", key="manage_confirm_delete"):
        data.store().delete(name)
        if st.session_state.get(data.DATASET_KEY) == name:
            st.session_state[data.DATASET_KEY] = data.default_dataset()
        st.rerun()

"""Data: what the dashboard runs on, importing your own exports, stored datasets, SQL source;
for admins also the accounts and the audit log. Each tab is drawn only for a role allowed to use
it; the actions behind them check the role again (dashboard/access.py)."""

import streamlit as st

from dashboard import access, data
from dashboard.components import (
    admin_panel,
    dataset_manager,
    dataset_overview,
    import_panel,
    settings_editor,
    sql_status,
)

st.title("Data")
dataset = data.active_dataset()
tabs = {"Active dataset": lambda: dataset_overview.show(dataset)}
if access.can("editor") and data.active_lock() is None:
    tabs |= {
        "Settings": lambda: settings_editor.show(dataset),
        "Import files": import_panel.show,
        "Datasets": dataset_manager.show,
        "SQL database": sql_status.show,
    }
if access.can("admin") and data.active_lock() is None:
    tabs |= {"Accounts": admin_panel.accounts, "Audit log": admin_panel.audit_log}
for tab, draw in zip(st.tabs(list(tabs)), tabs.values(), strict=True):
    with tab:
        draw()

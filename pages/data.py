"""Data: what the dashboard runs on, importing your own exports, stored datasets, SQL source."""

import streamlit as st

from dashboard import data
from dashboard.components import (
    dataset_manager,
    dataset_overview,
    import_panel,
    settings_editor,
    sql_status,
)

st.title("Data")
dataset = data.active_dataset()
overview, settings, upload, manage, sql = st.tabs(
    ["Active dataset", "Settings", "Import files", "Datasets", "SQL database"]
)
with overview:
    dataset_overview.show(dataset)
with settings:
    settings_editor.show(dataset)
with upload:
    import_panel.show()
with manage:
    dataset_manager.show()
with sql:
    sql_status.show()

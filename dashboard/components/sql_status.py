"""The SQL source as configured by the administrator; its URL is never shown, only its kind."""

from __future__ import annotations

import streamlit as st

from dashboard import config

HOW_TO = """
Point the dashboard at your CRM database in `.streamlit/secrets.toml` (see
`.streamlit/secrets.example.toml`) or with the `CRM_SQL_URL` environment variable:

```toml
[sql_source]
url = "postgresql+psycopg://user:password@host:5432/crm"

[sql_source.tables]
customers = "crm.customers"
orders = "SELECT id AS order_id, customer_id, created AS order_date, total AS amount FROM sales"
```
Each table is a table name or a query returning the canonical column names. The dashboard reads
each table whole (every five minutes at most), through Arrow where the database is PostgreSQL,
MySQL/MariaDB or SQLite, checks it by the same rules as an uploaded file, and filters in memory.
"""


def show() -> None:
    cfg = config.sql_source_config()
    if not cfg:
        st.info("No SQL database is configured.")
        st.markdown(HOW_TO)
        return
    st.success(
        f"Configured: **{config.describe_url(cfg['url'])}** — choose “SQL database” as the "
        "dataset in the sidebar."
    )
    st.write("Tables: " + ", ".join(f"`{t}`" for t in cfg.get("tables", {})))

"""For admins: the built-in accounts (add, change a role, remove) and the audit log."""

from __future__ import annotations

import polars as pl
import streamlit as st

from dashboard import access, config, data
from dashboard.accounts import ROLES, AccountError, Accounts
from dashboard.store import StoreBusy
from dashboard.text import plain


def accounts() -> None:
    if config.auth_configured():
        st.caption("Sign-in goes through the identity provider ([auth]); roles come from [access] roles in "
                   "secrets.toml. Built-in accounts below are not used while it is configured.")  # fmt: skip
    store = Accounts(data.store())
    listed = store.list()
    st.dataframe(
        pl.DataFrame({"account": [a.name for a in listed], "role": [a.role for a in listed],
                      "created (UTC)": [a.created_at for a in listed]},
                     schema={"account": pl.String, "role": pl.String, "created (UTC)": pl.Datetime}),
        hide_index=True, width="stretch",
    )  # fmt: skip
    with st.form("account_add", clear_on_submit=True):
        st.markdown("**Add an account**")
        left, mid, right = st.columns(3)
        name = left.text_input("Account name", max_chars=100)
        password = mid.text_input("Password (at least 10 characters)", type="password", max_chars=1024)
        role = right.selectbox("Role", ROLES)
        if st.form_submit_button("Add account"):
            _change(lambda: store.add(name, password, role, actor=access.actor()), f"Added {name} as {role}.")
    if listed:
        left, mid, right = st.columns(3)
        who = left.selectbox("Account", [a.name for a in listed], key="account_pick")
        role = mid.selectbox("New role", ROLES, key="account_role")
        if mid.button("Change role", key="account_set_role"):
            _change(lambda: store.set_role(who, role, actor=access.actor()), f"{who} is now {role}.")
        if right.button("Remove account", key="account_remove"):
            _change(lambda: store.remove(who, actor=access.actor()), f"Removed {who}.")


def _change(action, done: str) -> None:
    access.require("admin")
    try:
        action()
    except (AccountError, StoreBusy) as exc:
        st.error(plain(str(exc)))
    else:
        st.success(plain(done))


def audit_log() -> None:
    access.require("admin")
    entries = data.store().audit_log()
    st.caption("Every change: imports, settings, deletions, restores, the default dataset, accounts and locked links (newest first).")
    st.dataframe(
        pl.DataFrame({"when (UTC)": [e.at for e in entries], "who": [e.actor for e in entries],
                      "action": [e.action for e in entries], "what": [e.detail for e in entries]},
                     schema={"when (UTC)": pl.Datetime, "who": pl.String, "action": pl.String, "what": pl.String}),
        hide_index=True, width="stretch",
    )  # fmt: skip

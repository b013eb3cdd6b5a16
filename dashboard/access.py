"""Who is looking, and what they may do: the gate every run passes before any page draws.

Sign-in is required as soon as an identity provider is configured ([auth] in secrets.toml, through
Streamlit's st.login) or a built-in account exists (dashboard/accounts.py), unless [access]
anonymous = "viewer" lets people view without signing in. With neither the app is open, as for
local use, and every visitor may do everything; the production run mode (`python -m dashboard
serve`, which sets CRM_REQUIRE_SIGN_IN) refuses to serve open. A locked link (?share=, see
dashboard/sharing.py) lets whoever opens it view its slice, or needs a signed-in user when
[access] links_need_sign_in is true.

Every action that changes something calls `require(role)` on the server, whatever drew the
control: a control a role may not use is not drawn, and a crafted widget message or URL that
reaches the action anyway is refused there.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass

import streamlit as st

from dashboard import config, data
from dashboard.accounts import ROLES, Accounts, allows
from dashboard.sharing import LinkRefused, Lock, read_token
from dashboard.text import plain, shorten

USER_KEY = "_signed_in"  # the built-in account of this session (its name)
VISITOR_KEY = "_visitor"
SHARE_PARAM = "share"
TOKEN_KEY = "_share_token"  # the locked link's token this session opened with
MAX_DELAY = 30.0  # seconds a sign-in answer waits at most after failed attempts
_failures: dict[str, int] = {}  # failed sign-ins per account name, this process
_failures_lock = threading.Lock()


@dataclass(frozen=True)
class Visitor:
    name: str
    role: str
    signed_in: bool
    lock: Lock | None = None


def visitor() -> Visitor:
    return st.session_state[VISITOR_KEY]


def can(role: str) -> bool:
    return allows(visitor().role, role)


def require(role: str) -> None:
    """Refuse the action (PermissionError) unless this session's visitor has `role` or more."""
    who = st.session_state.get(VISITOR_KEY)
    if who is None or not allows(who.role, role):
        raise PermissionError(f"This needs the {role} role.")


def actor() -> str:
    """The name written to the audit log for this session's changes."""
    return visitor().name


def role_for_email(email: str | None) -> str | None:
    """[access] roles: an exact address first, then its domain ("example.com" or "@example.com")."""
    if not email:
        return None
    roles = {str(k).lower().lstrip("@"): str(v) for k, v in config.access_settings().get("roles", {}).items()}
    email = email.lower()
    role = roles.get(email) or roles.get(email.rpartition("@")[2])
    return role if role in ROLES else None


def _anonymous_role() -> str | None:
    role = config.access_settings().get("anonymous")
    return "viewer" if role == "viewer" else None  # anonymous visitors never get more than viewing


def _delay(name: str) -> None:
    """Wait after failed attempts on this name: 1, 2, 4 … up to MAX_DELAY seconds."""
    with _failures_lock:
        failures = _failures.get(name, 0)
    if failures:
        time.sleep(min(2.0 ** (failures - 1), MAX_DELAY))


def _sign_in_form(title: str | None) -> None:
    """The sign-in form: as the page (with the app's name and `title`), or inside the sidebar's
    popover (title None)."""
    where = st.container()
    if title:
        where = st.columns([1, 2, 1])[1]  # a form of a comfortable width in the middle of the page
        where.title("CRM analytics")
        where.subheader(title)
    with where.form("sign_in"):
        name = st.text_input("Account name", key="sign_in_name", max_chars=100)
        password = st.text_input("Password", type="password", key="sign_in_password", max_chars=1024)
        submitted = st.form_submit_button("Sign in", type="primary")
    if submitted:
        _delay(name)
        account = Accounts(data.store()).verify(name, password)
        if account is None:
            with _failures_lock:
                _failures[name] = _failures.get(name, 0) + 1
            where.error("The account name or the password is wrong.")
        else:
            with _failures_lock:
                _failures.pop(name, None)
            st.session_state[USER_KEY] = account.name
            st.rerun()


def sign_out() -> None:
    """End this session's sign-in (the account's own; an identity provider's through st.logout)."""
    for key in (USER_KEY, VISITOR_KEY):
        st.session_state.pop(key, None)
    if config.auth_configured():
        st.logout()


def _lock() -> Lock | None:
    """The lock of the link this session opened (checked on every run), or None. A session that
    opened a locked link stays locked: a page change or an edited address without the token
    keeps it (and it is put back in the address, so that a copied link stays locked too)."""
    token = st.query_params.get(SHARE_PARAM) or st.session_state.get(TOKEN_KEY)
    if not token:
        return None
    st.session_state[TOKEN_KEY] = token
    if st.query_params.get(SHARE_PARAM) != token:
        st.query_params[SHARE_PARAM] = token
    try:
        lock = read_token(data.store(), token)
    except LinkRefused as refused:
        st.error(plain(str(refused)), icon="🔒")
        st.stop()
    if lock.dataset not in data.dataset_names():
        st.error(plain(f"This shared link is for a dataset that is not here ({shorten(lock.dataset)}): ask for a new one."), icon="🔒")
        st.stop()
    return lock


def gate() -> Visitor:
    """The visitor of this run, set in the session; draws the sign-in and stops the run when
    nobody is signed in and nothing else lets them view."""
    lock = _lock()
    needs_sign_in_for_links = bool(config.access_settings().get("links_need_sign_in", False))
    who = _identify()
    if who is None and lock is not None and not needs_sign_in_for_links:
        who = Visitor("locked link", "viewer", signed_in=False)
    if who is None and (role := _anonymous_role()):
        who = Visitor("anonymous", role, signed_in=False)
    if who is None:
        _ask_to_sign_in()
        st.stop()
    if lock is not None:
        who = Visitor(who.name, "viewer", who.signed_in, lock)  # a locked link views, whoever opens it
    st.session_state[VISITOR_KEY] = who
    st.session_state[data.LOCK_KEY] = who.lock
    return who


#: Set only by the command line's report (python -m dashboard report), which runs the pages in
#: its own process through Streamlit's AppTest with the store's own authority; a server never sets it.
COMMAND_LINE: Visitor | None = None


def _identify() -> Visitor | None:
    """The signed-in visitor, an open app's local user, or None."""
    if COMMAND_LINE is not None:
        return COMMAND_LINE
    if config.auth_configured():
        if not st.user.is_logged_in:
            return None
        email = st.user.get("email")
        role = role_for_email(email)
        if role is None:
            st.error(plain(f"You are signed in as {shorten(email or 'an account without an e-mail address', 80)}, "
                           "which has no role here: ask an admin to add your address to [access] roles."))  # fmt: skip
            st.button("Sign out", on_click=sign_out)
            st.stop()
        return Visitor(str(email), role, signed_in=True)
    accounts = Accounts(data.store())
    if accounts.exist():
        name = st.session_state.get(USER_KEY)
        account = accounts.get(name) if name else None  # read each run: a removed account is out at once
        if account is None:
            st.session_state.pop(USER_KEY, None)
            return None
        return Visitor(account.name, account.role, signed_in=True)
    if os.environ.get("CRM_REQUIRE_SIGN_IN"):
        st.error("This dashboard runs in production mode but has no way to sign in: add an account "
                 "(python -m dashboard users add NAME --role admin) or configure [auth], then reload.")  # fmt: skip
        st.stop()
    return Visitor("local user", "admin", signed_in=False)  # open, as for local use


def _ask_to_sign_in() -> None:
    if config.auth_configured():
        st.title("CRM analytics")
        st.write("Sign in to see the dashboard.")
        st.button("Sign in", type="primary", on_click=st.login)
    else:
        _sign_in_form("Sign in")


def sidebar(who: Visitor) -> None:
    """Who is signed in, with the way out; or the way in for an anonymous visitor."""
    box = st.sidebar.container()
    if who.lock is not None:
        box.caption(plain(f"Shared view, locked to {shorten(who.lock.describe(), 200)}; it closes {who.lock.expires:%d %b %Y} UTC."))
    if who.signed_in:
        box.caption(plain(f"Signed in as {shorten(who.name, 60)} ({who.role})"))
        box.button("Sign out", on_click=sign_out, key="sign_out")
    elif who.name == "anonymous":
        with box.popover("Sign in"):
            _sign_in_form(None)

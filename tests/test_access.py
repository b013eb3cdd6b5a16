"""Sign-in, roles and locked links (issue 15), through the real store and the app in AppTest."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys

import polars as pl
import pytest
from streamlit.testing.v1 import AppTest

from dashboard import sharing
from dashboard.accounts import AccountError, Accounts
from dashboard.store import Store
from tests.conftest import APP, DATA_PAGE, ROOT

PASSWORD = "correct horse battery"


@pytest.fixture
def env(tmp_path, monkeypatch):
    """A store and a secrets file of this test's own; returns (store, secrets path)."""
    url = f"sqlite:///{tmp_path / 'store.sqlite'}"
    secrets = tmp_path / "secrets.toml"
    secrets.write_text("")
    monkeypatch.setenv("CRM_STORE_URL", url)
    monkeypatch.setenv("CRM_SECRETS_FILE", str(secrets))
    monkeypatch.delenv("CRM_SHARE_KEYS", raising=False)
    from dashboard import access, data

    data.store.clear()
    access._failures.clear()
    yield Store(url), secrets
    data.store.clear()


def _app(query: dict | None = None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120)
    for key, value in (query or {}).items():
        at.query_params[key] = value
    return at.run()


def _sign_in(at: AppTest, name: str, password: str) -> AppTest:
    at.text_input(key="sign_in_name").input(name)
    at.text_input(key="sign_in_password").input(password)
    next(b for b in at.button if b.label == "Sign in").click()
    return at.run()


def _texts(at: AppTest) -> str:
    """Every message, caption and heading on the page and in the sidebar, Markdown escapes removed."""
    kinds = [getattr(where, kind) for where in (at, at.sidebar) for kind in ("error", "warning", "info", "caption", "markdown", "title")]
    return " ".join(str(e.value) for kind in kinds for e in kind).replace("\\", "")


# ---------------------------------------------------------------- accounts


def test_accounts_keep_only_an_argon2_hash_and_check_it(store):
    accounts = Accounts(store)
    accounts.add("ana", PASSWORD, "admin")
    with store.engine.connect() as conn:
        (stored,) = conn.exec_driver_sql("SELECT password_hash FROM crm_users").one()
    assert stored.startswith("$argon2id$") and PASSWORD not in stored
    assert accounts.verify("ana", PASSWORD).role == "admin"
    assert accounts.verify("ana", PASSWORD + "x") is None
    assert accounts.verify("nobody", PASSWORD) is None


def test_account_rules_are_said_in_words(store):
    accounts = Accounts(store)
    with pytest.raises(AccountError, match="at least 10"):
        accounts.add("ana", "short", "admin")
    with pytest.raises(AccountError, match="role is one of"):
        accounts.add("ana", PASSWORD, "owner")
    accounts.add("ana", PASSWORD, "admin")
    with pytest.raises(AccountError, match="already"):
        accounts.add("ana", PASSWORD, "viewer")
    with pytest.raises(AccountError, match="only admin"):
        accounts.set_role("ana", "viewer")
    with pytest.raises(AccountError, match="only admin"):
        accounts.remove("ana")
    accounts.add("bo", PASSWORD, "admin")
    accounts.remove("ana", actor="bo")
    assert [a.name for a in accounts.list()] == ["bo"]
    assert [(e.actor, e.detail) for e in store.audit_log()][:1] == [("bo", "removed 'ana'")]


def test_the_command_line_reads_the_password_from_standard_input(tmp_path):
    url = f"sqlite:///{tmp_path / 'cli.sqlite'}"

    def cli(*args, stdin=""):
        return subprocess.run([sys.executable, "-m", "dashboard", *args], input=stdin, capture_output=True, text=True,
                              cwd=ROOT, env={"CRM_STORE_URL": url, "CRM_SECRETS_FILE": "/nonexistent", "PATH": "/usr/bin:/bin"})  # fmt: skip

    added = cli("users", "add", "ana", "--role", "editor", stdin=PASSWORD + "\n")
    assert added.returncode == 0, added.stderr
    assert PASSWORD not in added.stdout + added.stderr
    assert cli("users", "list").stdout.split("\t")[:2] == ["ana", "editor"]
    assert cli("users", "set-role", "ana", "admin").returncode == 0
    assert Accounts(Store(url)).verify("ana", PASSWORD).role == "admin"
    assert cli("users", "add", "bo", "--role", "viewer", stdin="short\n").returncode == 2
    removed = cli("users", "remove", "nobody")
    assert removed.returncode == 2 and "no account named 'nobody'" in removed.stderr


# ---------------------------------------------------------------- the gate


def test_with_no_account_the_app_is_open_as_for_local_use(env):
    at = _app()
    assert not at.exception and at.title[0].value == "Overview"
    at.switch_page(DATA_PAGE).run()
    assert [t.label for t in at.tabs] == ["Active dataset", "Settings", "Import files", "Datasets", "SQL database", "Accounts", "Audit log"]


def test_once_an_account_exists_nothing_shows_before_sign_in(env):
    store, _ = env
    Accounts(store).add("ana", PASSWORD, "viewer")
    at = _app()
    assert not at.exception
    assert [t.value for t in at.title] == ["CRM analytics"] and not at.metric and not at.sidebar.multiselect
    at = _sign_in(at, "ana", "wrong password!")
    assert "wrong" in at.error[0].value and not at.metric
    at = _sign_in(at, "ana", PASSWORD)
    assert not at.exception and at.title[0].value == "Overview" and at.metric
    assert "Signed in as ana (viewer)" in _texts(at)
    next(b for b in at.sidebar.button if b.label == "Sign out").click()
    at.run()
    assert [t.value for t in at.title] == ["CRM analytics"] and not at.metric


def test_failed_sign_ins_slow_the_next_attempt_down(env):
    import time

    store, _ = env
    Accounts(store).add("ana", PASSWORD, "viewer")
    at = _app()
    for _ in range(2):
        at = _sign_in(at, "ana", "not the password")
    started = time.perf_counter()
    at = _sign_in(at, "ana", "not the password")
    assert time.perf_counter() - started >= 2  # after two failures the answer waits 2 s


@pytest.mark.parametrize(
    "role, tabs",
    [("viewer", ["Active dataset"]),
     ("editor", ["Active dataset", "Settings", "Import files", "Datasets", "SQL database"]),
     ("admin", ["Active dataset", "Settings", "Import files", "Datasets", "SQL database", "Accounts", "Audit log"])],
)  # fmt: skip
def test_each_role_sees_the_controls_it_may_use(env, role, tabs):
    store, _ = env
    Accounts(store).add("ana", PASSWORD, role)
    if role != "admin":
        Accounts(store).add("root", PASSWORD, "admin")
    at = _sign_in(_app(), "ana", PASSWORD)
    at.switch_page(DATA_PAGE).run()
    assert not at.exception
    assert [t.label for t in at.tabs] == tabs
    if role == "viewer":
        for key in ("import_commit", "manage_delete", "manage_activate", "account_remove", "share_make"):
            with pytest.raises(KeyError):
                at.button(key=key)


def test_a_viewer_cannot_reach_an_action_through_a_replayed_widget_or_a_url(env):
    """The viewer's session is given the state an editor's import would leave (a replayed widget
    value, a crafted URL): the action itself refuses, nothing is stored."""
    from dashboard import access
    from dashboard.components import import_panel

    store, _ = env
    Accounts(store).add("vic", PASSWORD, "viewer")
    at = _sign_in(_app({"tab": "Import files"}), "vic", PASSWORD)
    at.session_state["import_name"] = "Stolen"
    at.switch_page(DATA_PAGE).run()
    assert "Import files" not in [t.label for t in at.tabs]
    # the callback behind the Import button, called in a viewer's session
    import streamlit as st

    from dashboard.components import admin_panel, share_panel

    st.session_state[access.VISITOR_KEY] = access.Visitor("vic", "viewer", True)
    try:
        with pytest.raises(PermissionError):
            import_panel._commit(None, "Stolen")
        with pytest.raises(PermissionError):  # an account change (the admin tab's action)
            admin_panel._change(lambda: Accounts(store).set_role("vic", "admin"), "done")
        with pytest.raises(PermissionError):  # a locked link
            share_panel._make("overview", "http://x", "7 days")
        with pytest.raises(PermissionError):  # the audit log
            admin_panel.audit_log()
    finally:
        del st.session_state[access.VISITOR_KEY]
    assert store.list() == [] and Accounts(store).get("vic").role == "viewer"


def test_anonymous_viewing_when_the_access_table_allows_it(env):
    store, secrets = env
    Accounts(store).add("ana", PASSWORD, "admin")
    secrets.write_text('[access]\nanonymous = "viewer"\n')
    at = _app()
    assert not at.exception and at.title[0].value == "Overview" and at.metric
    at.switch_page(DATA_PAGE).run()
    assert [t.label for t in at.tabs] == ["Active dataset"]


def test_a_locked_link_can_be_made_to_need_a_signed_in_user(env):
    store, secrets = env
    Accounts(store).add("ana", PASSWORD, "viewer")
    secrets.write_text("[access]\nlinks_need_sign_in = true\n")
    token = sharing.make_token(store, _lock())
    at = _app({"share": token})
    assert [t.value for t in at.title] == ["CRM analytics"] and not at.metric  # the sign-in form first
    at = _sign_in(at, "ana", PASSWORD)
    assert not at.exception and at.metric
    assert at.sidebar.multiselect(key="tier").options == ["Gold"]  # then the locked slice


AUTH = ('[auth]\nredirect_uri = "http://127.0.0.1:8501/oauth2callback"\ncookie_secret = "c"\nclient_id = "crm"\n'
        'client_secret = "s"\nserver_metadata_url = "http://127.0.0.1:1/.well-known/openid-configuration"\n'
        '[access.roles]\n"ana@example.com" = "editor"\n')  # fmt: skip


@pytest.mark.parametrize(
    "user, shown",
    [({"is_logged_in": False}, "sign-in button"), ({"is_logged_in": True, "email": "ana@example.com"}, "editor"),
     ({"is_logged_in": True, "email": "eve@elsewhere.net"}, "no role")],
)  # fmt: skip
def test_the_gate_with_an_identity_provider(env, user, shown):
    """[auth] configured: the provider's user (AppTest.user) is let in with the role [access] gives
    the address; one without a role, or nobody, sees no data."""
    _, secrets = env
    secrets.write_text(AUTH)
    at = AppTest.from_file(APP, default_timeout=120)
    at.user = user
    at.run()
    assert not at.exception
    if shown == "editor":
        assert at.metric and "Signed in as ana@example.com (editor)" in _texts(at)
        at.switch_page(DATA_PAGE).run()
        assert "Import files" in [t.label for t in at.tabs] and "Accounts" not in [t.label for t in at.tabs]
    else:
        assert not at.metric and not at.sidebar.multiselect
        if shown == "no role":
            assert "which has no role here" in _texts(at)
        else:
            assert [b.label for b in at.button] == ["Sign in"]


def test_roles_from_the_identity_provider_come_from_the_access_table(env):
    from dashboard import access

    _, secrets = env
    secrets.write_text('[access.roles]\n"ana@example.com" = "admin"\n"example.com" = "viewer"\n"@partner.org" = "editor"\n')
    assert access.role_for_email("Ana@Example.com") == "admin"
    assert access.role_for_email("bo@example.com") == "viewer"
    assert access.role_for_email("cy@partner.org") == "editor"
    assert access.role_for_email("eve@elsewhere.net") is None


def test_the_production_mode_refuses_to_start_open(tmp_path):
    result = subprocess.run([sys.executable, "-m", "dashboard", "serve"], capture_output=True, text=True, cwd=ROOT, timeout=60,
                            env={"CRM_STORE_URL": f"sqlite:///{tmp_path / 's.sqlite'}", "CRM_SECRETS_FILE": "/nonexistent",
                                 "PATH": "/usr/bin:/bin"})  # fmt: skip
    assert result.returncode == 2 and "needs a way to sign in" in result.stderr


# ---------------------------------------------------------------- locked links


def _lock(**kw) -> sharing.Lock:
    fields = {"dataset": "Sample CRM (bundled)", "page": "overview", "tiers": ("Gold",), "segments": (), "start": None,
              "end": None, "expires": dt.datetime.now(dt.UTC).replace(tzinfo=None) + dt.timedelta(days=7)} | kw  # fmt: skip
    return sharing.Lock(**fields)


def test_a_token_reads_back_and_every_tampering_is_refused(env, monkeypatch):
    import base64
    import json

    store, _ = env
    token = sharing.make_token(store, _lock())
    assert sharing.read_token(store, token).tiers == ("Gold",)
    # a changed tier: the payload re-encoded, the signature kept
    payload, signature = token.rsplit(".", 1)
    from itsdangerous import URLSafeSerializer

    raw = URLSafeSerializer("any").load_payload(payload.encode())  # read, as anyone can: signed, not secret
    for change in ({"t": ["Platinum"]}, {"exp": raw["exp"] + 86400 * 365}, {"d": "Other"}):
        forged = base64.urlsafe_b64encode(json.dumps(raw | change, separators=(",", ":")).encode()).decode().rstrip("=")
        with pytest.raises(sharing.LinkRefused, match="altered"):
            sharing.read_token(store, f"{forged}.{signature}")
    with pytest.raises(sharing.LinkRefused, match="expired"):
        sharing.read_token(store, token, now=dt.datetime.now(dt.UTC).replace(tzinfo=None) + dt.timedelta(days=8))
    with pytest.raises(sharing.LinkRefused, match="too long"):
        sharing.read_token(store, "x" * 100_000)
    # keys from the configuration: a link signed with a key still listed opens, one retired does not
    monkeypatch.setenv("CRM_SHARE_KEYS", "old-key")
    old = sharing.make_token(store, _lock())
    monkeypatch.setenv("CRM_SHARE_KEYS", "old-key,new-key")
    assert sharing.read_token(store, old).tiers == ("Gold",)
    monkeypatch.setenv("CRM_SHARE_KEYS", "new-key")
    with pytest.raises(sharing.LinkRefused, match="retired"):
        sharing.read_token(store, old)


def test_the_command_line_and_the_server_agree_on_the_key_without_setup(env, tmp_path):
    store, _ = env
    result = subprocess.run([sys.executable, "-m", "dashboard", "share", "--dataset", "Sample CRM (bundled)", "--tier", "Gold",
                             "--page", "funnel", "--expires", "2d", "--base-url", "https://crm.example.com"],
                            capture_output=True, text=True, cwd=ROOT, env={"CRM_STORE_URL": store.url,
                            "CRM_SECRETS_FILE": "/nonexistent", "PATH": "/usr/bin:/bin"})  # fmt: skip
    assert result.returncode == 0, result.stderr
    url = result.stdout.strip()
    assert url.startswith("https://crm.example.com/funnel?share=")
    lock = sharing.read_token(store, url.split("share=")[1])
    assert (lock.page, lock.tiers) == ("funnel", ("Gold",))
    assert store.audit_log()[0].action == "locked link"


def test_a_locked_link_shows_only_its_slice_and_the_filters_only_narrow(env, sample_tables):
    store, _ = env
    token = sharing.make_token(store, _lock(tiers=("Gold",), start=dt.date(2026, 1, 1), end=dt.date(2026, 3, 31)))
    # the link also asks for Platinum and another dataset: neither widens it
    at = _app({"share": token, "tier": ["Gold", "Platinum"], "dataset": "Other"})
    assert not at.exception
    assert at.sidebar.multiselect(key="tier").options == ["Gold"]
    assert at.sidebar.date_input(key="period").value == (dt.date(2026, 1, 1), dt.date(2026, 3, 31))
    assert "Fixed by the link: tier Gold" in _texts(at)
    with pytest.raises(KeyError):
        at.sidebar.selectbox(key="dataset")
    at.switch_page(DATA_PAGE).run()
    assert [t.label for t in at.tabs] == ["Active dataset"]


def test_a_refused_link_shows_no_data(env):
    store, _ = env
    for token, says in ((sharing.make_token(store, _lock()) + "x", "altered"),
                        (sharing.make_token(store, _lock(dataset="Gone")), "not here")):  # fmt: skip
        at = _app({"share": token})
        assert not at.exception
        assert says in at.error[0].value and not at.metric and not at.dataframe and not at.sidebar.multiselect


def test_every_download_of_a_locked_view_holds_only_its_slice(env, sample_tables, downloads):
    """Each page of a link locked to Gold: every CSV it offers that names customers names only
    Gold customers (each CSV made as a click on its button makes it)."""
    store, _ = env
    gold = set(sample_tables["customers"].filter(pl.col("tier") == "Gold").get_column("customer_id").to_list())
    token = sharing.make_token(store, _lock(tiers=("Gold",)))
    at = _app({"share": token})
    checked = 0
    for page in ["overview", "funnel", "retention", "lifetime_value", "satisfaction", "segments", "churn_risk"]:
        if page != "overview":
            at.switch_page(f"../pages/{page}.py").run()
        assert not at.exception, page
        for button in at.get("download_button"):
            if "report-" in button.proto.id:  # the page's report: made on click (tests/test_report.py)
                continue
            frame = pl.read_csv(downloads(button), infer_schema=False)
            if "customer_id" in frame.columns:
                assert set(frame.get_column("customer_id").drop_nulls().to_list()) <= gold, (page, button.proto.label)
                checked += 1
    assert checked >= 3

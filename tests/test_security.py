"""Security checks of issue 15 that no other test makes: secrets never reach a page, a URL, a log
or a download; filter values from a link are only ever values; upload names go nowhere on disk;
text from the data is never markup."""

from __future__ import annotations

import subprocess
import sys
import uuid

import polars as pl
import pytest
import sqlalchemy as sa
from streamlit.testing.v1 import AppTest

from dashboard.accounts import Accounts
from dashboard.store import Store
from tests.conftest import APP, ROOT, reachable_engine

PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
DB_PASSWORD = "Db-Pa55word-7f3e9"  # PostgreSQL here trusts 127.0.0.1: the password travels, unchecked
SHARE_KEY = "share-signing-key-91c0d7e2a4"
ACCOUNT_PASSWORD = "account-pa55word-1234"
PAGES = ["overview", "funnel", "retention", "lifetime_value", "satisfaction", "segments", "churn_risk", "data"]


@pytest.fixture
def pg_source(sample_tables):
    """The sample's tables in a schema of their own in the running PostgreSQL."""
    engine = reachable_engine(PG)
    schema = f"crm_sec_{uuid.uuid4().hex[:8]}"
    with engine.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    for name, frame in sample_tables.items():
        frame.write_database(f"{schema}.{name}", engine, if_table_exists="replace")
    yield schema
    with engine.begin() as conn:
        conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
    engine.dispose()


@pytest.fixture
def hosted(tmp_path, monkeypatch, pg_source, sample_tables):
    """A store with an admin account, a SQL source whose URL holds a password, and a share key."""
    url = f"sqlite:///{tmp_path / 'store.sqlite'}"
    secrets = tmp_path / "secrets.toml"
    tables = "\n".join(f'{name} = "{pg_source}.{name}"' for name in sample_tables)
    secrets.write_text(f'[sql_source]\nurl = "postgresql+psycopg://postgres:{DB_PASSWORD}@127.0.0.1:5432/test"\n'
                       f"[sql_source.tables]\n{tables}\n[share]\nkeys = [\"{SHARE_KEY}\"]\n")  # fmt: skip
    monkeypatch.setenv("CRM_STORE_URL", url)
    monkeypatch.setenv("CRM_SECRETS_FILE", str(secrets))
    store = Store(url)
    Accounts(store).add("ana", ACCOUNT_PASSWORD, "admin")
    with store.engine.connect() as conn:
        (hashed,) = conn.exec_driver_sql("SELECT password_hash FROM crm_users").one()
    from dashboard import data

    data.store.clear()
    yield store, [DB_PASSWORD, SHARE_KEY, ACCOUNT_PASSWORD, hashed, hashed.rsplit("$", 1)[1]]
    data.store.clear()


def _everything(at: AppTest, downloads) -> str:
    """All the app sent this run: every element's message, the URL's query, every download."""
    parts = [str(at.query_params)]

    def walk(node):
        proto = getattr(node, "proto", None)
        if proto is not None:
            parts.append(str(proto))
        for child in getattr(node, "children", {}).values():
            walk(child)

    walk(at._tree)
    for button in at.get("download_button"):
        if "report-" not in button.proto.id:
            parts.append(downloads(button).decode("utf-8", "replace"))
    return "\n".join(parts)


def test_no_secret_reaches_a_page_a_url_or_a_download(hosted, downloads):
    _, secrets = hosted
    at = AppTest.from_file(APP, default_timeout=180)
    at.query_params["dataset"] = "SQL database"
    at.run()
    at.text_input(key="sign_in_name").input("ana")
    at.text_input(key="sign_in_password").input(ACCOUNT_PASSWORD)
    next(b for b in at.button if b.label == "Sign in").click()
    at.run()
    at.button(key="share_make").click().run()  # a locked link made: the token is shown, never the key
    seen = []
    for page in PAGES:
        if page != "overview":
            at.switch_page(f"../pages/{page}.py").run()
        assert not at.exception, (page, [e.value for e in at.exception])
        seen.append(_everything(at, downloads))
    text = "\n".join(seen)
    assert "share=" in text and "postgresql 127.0.0.1:5432/test" in text  # the link, and the source named safely
    for secret in secrets:
        assert secret not in text


def test_no_secret_reaches_the_command_lines_output(hosted, tmp_path):
    store, secrets = hosted
    env = {"CRM_STORE_URL": store.url, "CRM_SECRETS_FILE": str(tmp_path / "secrets.toml"), "PATH": "/usr/bin:/bin"}
    runs = [
        subprocess.run([sys.executable, "-m", "dashboard", "users", "add", "bo", "--role", "viewer"], input=ACCOUNT_PASSWORD + "x\n",
                       capture_output=True, text=True, cwd=ROOT, env=env),
        subprocess.run([sys.executable, "-m", "dashboard", "users", "list"], capture_output=True, text=True, cwd=ROOT, env=env),
        subprocess.run([sys.executable, "-m", "dashboard", "share", "--dataset", "SQL database", "--tier", "Gold"],
                       capture_output=True, text=True, cwd=ROOT, env=env),
        subprocess.run([sys.executable, "-m", "dashboard", "report", "--dataset", "SQL database", "--format", "json", "--out",
                        str(tmp_path / "r.json")], capture_output=True, text=True, cwd=ROOT, env=env),
    ]  # fmt: skip
    assert [r.returncode for r in runs] == [0, 0, 0, 0], [r.stderr for r in runs]
    output = "\n".join(r.stdout + r.stderr for r in runs) + (tmp_path / "r.json").read_text()
    for secret in [*secrets, ACCOUNT_PASSWORD + "x"]:
        assert secret not in output
    assert "share=" in output and "added 'bo'" in output  # the runs said something


@pytest.mark.parametrize(
    "value",
    ["' OR 1=1 --", "Gold'; DROP TABLE customers; --", '"; SELECT pg_sleep(10); --', "Gold" * 30_000, "%27%20OR%201%3D1"],
)
def test_filter_values_from_a_link_are_only_values_also_on_the_sql_source(hosted, value, sample_tables):
    """SQL fragments, oversized and repeated values in ?tier= on the SQL database: refused as values
    the data does not have (named, cut, as text), never run; the page shows all customers, and the
    database still holds every table."""
    from dashboard import access

    store, _ = hosted
    access.COMMAND_LINE = access.Visitor("test", "viewer", signed_in=False)
    try:
        at = AppTest.from_file(APP, default_timeout=180)
        at.query_params.update({"dataset": "SQL database", "tier": [value, value, "Gold"]})
        at.run()
    finally:
        access.COMMAND_LINE = None
    assert not at.exception
    assert at.sidebar.multiselect(key="tier").value == ["Gold"]
    notice = " ".join(w.value for w in at.sidebar.warning)
    assert ("left out" if len(value) > 200 else "ignored") in notice and len(notice) < 600
    engine = sa.create_engine(PG)
    with engine.connect() as conn:
        names = {r[0] for r in conn.execute(sa.text("SELECT table_name FROM information_schema.tables WHERE table_schema LIKE 'crm_sec_%'"))}
    engine.dispose()
    assert set(sample_tables) <= names


def test_an_upload_name_goes_nowhere_on_disk(store, tmp_path, monkeypatch):
    """Uploads are read in memory and stored as tables in the store: a name that tries to leave its
    folder is only ever a label."""
    from dashboard.importer import SourceFile, commit_import, plan_import

    monkeypatch.chdir(tmp_path)
    name = "../../escaped/" + "x" * 10 + ".csv"
    plan = plan_import([SourceFile(name, b"customer_id,tier\nC1,Gold\n")], store=store)
    commit_import(plan, store, "Named")
    before = {p for p in tmp_path.rglob("*")}
    assert not (tmp_path.parent.parent / "escaped").exists()
    assert {p for p in tmp_path.rglob("*")} == before
    assert store.load("Named").tables["customers"].height == 1


def test_markup_in_the_data_and_names_is_shown_as_text(tmp_path, monkeypatch):
    """A dataset named like a Markdown link, whose tiers are a link and an HTML tag: no rendered
    message holds a live link, and the charts carry the escaped text."""
    from dashboard.importer import SourceFile, commit_import, plan_import

    url = f"sqlite:///{tmp_path / 'store.sqlite'}"
    monkeypatch.setenv("CRM_STORE_URL", url)
    monkeypatch.setenv("CRM_SECRETS_FILE", str(tmp_path / "none.toml"))
    from dashboard import data

    data.store.clear()
    store = Store(url)
    evil = "[Sign in again](http://evil.example)"
    customers = ("customer_id,tier\n" + "\n".join(f"C{i},{evil if i % 2 else '<a href=http://evil.example>x</a>'}" for i in range(40))).encode()
    orders = ("order_id,customer_id,order_date,amount\n" + "\n".join(f"O{i},C{i % 40},2026-0{1 + i % 6}-1{i % 9},{10 + i}" for i in range(200))).encode()
    plan = plan_import([SourceFile("customers.csv", customers), SourceFile("orders.csv", orders)], store=store)
    commit_import(plan, store, evil)
    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    for page in PAGES:
        if page != "overview":
            at.switch_page(f"../pages/{page}.py").run()
        assert not at.exception, page
        for kind in ("markdown", "caption", "info", "warning", "error", "success", "title", "subheader"):
            for where in (at, at.sidebar):
                for element in getattr(where, kind):
                    assert "](http" not in str(element.value).replace("\\]\\(", ""), (page, element.value)
        for chart in at.get("plotly_chart"):
            assert "<a href" not in chart.proto.spec, page
    data.store.clear()
    assert pl.DataFrame({"x": [1]}).height == 1

"""Streamlit AppTest: the app renders on the sample data and the Data page shows its numbers."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

APP = str(Path(__file__).resolve().parent.parent / "dashboard" / "app.py")
DATA_PAGE = "../pages/data.py"  # relative to the main script


@pytest.fixture
def app(tmp_path, monkeypatch):
    monkeypatch.setenv("CRM_STORE_URL", f"sqlite:///{tmp_path / 'store.sqlite'}")
    monkeypatch.setenv("CRM_SECRETS_FILE", str(tmp_path / "none.toml"))
    from dashboard import data

    data.store.clear()
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    at.switch_page(DATA_PAGE).run()
    return at


def test_data_page_renders_on_the_sample(app, sample_tables):
    assert not app.exception
    assert app.title[0].value == "Data"
    assert app.sidebar.selectbox[0].value == "Sample CRM (bundled)"
    counts = app.dataframe[0].value
    rows = dict(zip(counts["table"], counts["rows"], strict=True))
    assert rows["customers"] == sample_tables["customers"].height
    assert rows["orders"] == sample_tables["orders"].height


def test_sql_tab_says_how_to_configure_without_secrets(app):
    assert any("No SQL database is configured" in i.value for i in app.info)


def test_selecting_a_stored_dataset_shows_its_numbers(tmp_path, monkeypatch, realdata):
    monkeypatch.setenv("CRM_STORE_URL", f"sqlite:///{tmp_path / 's.sqlite'}")
    monkeypatch.setenv("CRM_SECRETS_FILE", str(tmp_path / "none.toml"))
    from dashboard import data
    from dashboard.importer import SourceFile, commit_import, plan_import

    data.store.clear()
    files = [SourceFile(p.name, p.read_bytes()) for p in sorted((realdata / "maven_crm").glob("*.csv"))]
    commit_import(plan_import(files, store=data.store()), data.store(), "Maven")
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    at.switch_page(DATA_PAGE).run()
    assert at.sidebar.selectbox[0].value == "Maven"  # the last import opens by default
    counts = at.dataframe[0].value
    assert dict(zip(counts["table"], counts["rows"], strict=True))["deals"] == 8_800
    at.sidebar.selectbox[0].set_value("Sample CRM (bundled)").run()
    counts = at.dataframe[0].value
    assert dict(zip(counts["table"], counts["rows"], strict=True))["deals"] != 8_800

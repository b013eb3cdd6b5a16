"""Streamlit AppTest: the app renders on the sample data and the Data page shows its numbers."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest

from tests.conftest import APP, DATA_PAGE


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


def test_upload_map_and_import_through_the_data_page(app, realdata):
    """The Data page's own flow: upload the five Maven files, see the dry run, press Import; the
    new dataset is stored, selected, and every page then runs on it."""
    from dashboard import data

    files = [(p.name, p.read_bytes(), "text/csv") for p in sorted((realdata / "maven_crm").glob("*.csv"))]
    app.file_uploader(key="import_files").set_value(files).run()
    app.text_input(key="import_name").set_value("Maven upload").run()
    assert not app.exception
    dry_run = " ".join(str(t.value) for t in app.text)
    assert "deals 8,800 rows" in dry_run
    button = app.button(key="import_commit")
    assert not button.disabled
    button.click().run()
    assert not app.exception
    assert any("Imported dataset Maven upload" in s.value.replace("\\", "") for s in app.success)
    assert "Maven upload" in data.dataset_names()
    assert data.store().load("Maven upload").tables["deals"].height == 8_800
    assert app.sidebar.selectbox[0].value == "Maven upload"
    app.switch_page("../pages/funnel.py").run()
    assert not app.exception
    app.radio(key="funnel_scope").set_value("all deals").run()
    assert app.dataframe[0].value["reached"].tolist() == [8_800, 8_300, 4_238]


def test_a_bad_upload_cannot_be_imported_and_stores_nothing(app):
    from dashboard import data

    bad = b"order_id,customer_id,order_date,amount\n1,C1,2024-01-05,12.50\n2,C1,2024-01-06,twelve\n"
    app.file_uploader(key="import_files").set_value(("orders.csv", bad, "text/csv")).run()
    assert not app.exception
    assert app.button(key="import_commit").disabled
    shown = " ".join(str(e.value) for e in app.error) + " ".join(str(df.value.to_dict()) for df in app.dataframe)
    assert "orders.csv" in shown and "amount" in shown
    assert data.store().list() == []


def test_settings_of_a_stored_dataset_are_edited_on_the_data_page(app, sample_tables):
    from dashboard import data
    from metrics.domain import Dataset
    from sample_data import sample_settings

    data.store().save(Dataset("Mine", dict(sample_tables), sample_settings()))
    app.run()
    app.sidebar.selectbox[0].set_value("Mine").run()
    app.number_input(key="settings_window").set_value(30)
    app.text_input(key="settings_tiers").set_value("Bronze > Silver > Gold")  # leaves out Platinum
    submit = next(b for b in app.get("form_submit_button") if b.label == "Save settings")
    submit.click().run()
    assert any("leaves out tiers in the data: Platinum" in e.value.replace("\\", "") for e in app.error)
    assert data.store().load("Mine").settings.churn_window_days == 90  # nothing saved
    app.text_input(key="settings_tiers").set_value("Bronze > Silver > Gold > Platinum")
    next(b for b in app.get("form_submit_button") if b.label == "Save settings").click().run()
    assert any("Settings saved" in s.value for s in app.success)
    saved = data.store().load("Mine").settings
    assert saved.churn_window_days == 30 and saved.tier_order == ["Bronze", "Silver", "Gold", "Platinum"]


def test_the_filters_follow_a_dataset_when_it_changes(app, sample_tables):
    """The sidebar's choices are read once per dataset (dashboard.data.of_active_dataset), so they
    must be read again when the dataset changes: a new tier order, then a new version whose
    customers have a tier more."""
    import dataclasses

    import polars as pl

    from dashboard import data
    from metrics.domain import Dataset
    from sample_data import sample_settings

    data.store().save(Dataset("Mine", dict(sample_tables), sample_settings()))
    app.run()
    app.sidebar.selectbox[0].set_value("Mine").run()
    assert app.sidebar.multiselect[0].options == ["Bronze", "Silver", "Gold", "Platinum"]
    reversed_order = dataclasses.replace(sample_settings(), tier_order=["Platinum", "Gold", "Silver", "Bronze"])
    data.store().update_settings("Mine", reversed_order)
    app.run()
    assert app.sidebar.multiselect[0].options == ["Platinum", "Gold", "Silver", "Bronze"]
    customers = sample_tables["customers"].with_columns(
        tier=pl.when(pl.int_range(pl.len()) == 0).then(pl.lit("Diamond")).otherwise(pl.col("tier"))
    )
    data.store().save(Dataset("Mine", dict(sample_tables, customers=customers), reversed_order))
    app.run()
    assert app.sidebar.multiselect[0].options == ["Platinum", "Gold", "Silver", "Bronze", "Diamond"]

"""The Data page's import, driven through AppTest as a user would: real export shapes recognised
and imported in one go, a mapping built on the page (a derived column, lines grouped into orders,
a join previewed by its match rate), a mapping file given back, currency and margin asked."""

from __future__ import annotations

import datetime as dt
import json

import pytest
import realshapes


def _upload(app, files: dict[str, bytes]):
    app.file_uploader(key="import_files").set_value([(n, b, "text/csv") for n, b in files.items()]).run()
    assert not app.exception
    return app


def _texts(app) -> str:
    return "\n".join(str(t.value) for t in app.text)


def _import(app, name: str):
    app.text_input(key="import_name").set_value(name).run()
    button = app.button(key="import_commit")
    assert not button.disabled, [str(e.value) for e in app.error]
    button.click().run()
    assert not app.exception
    from dashboard import data

    return data.store().load(name)


def test_online_retail_imports_in_one_go(app):
    files, facts = realshapes.online_retail()
    _upload(app, files)
    assert "recognised as order lines" in _texts(app)
    app.text_input(key="import_currency").set_value("gbp").run()
    dataset = _import(app, "Online Retail")
    assert set(dataset.tables["orders"].get_column("order_id")) == facts["orders"]
    assert dataset.settings.currency == "GBP"


def test_olist_shop_export_imports_in_one_go_with_margin(app):
    files, facts = realshapes.olist_shop()
    _upload(app, files)
    app.number_input(key="import_margin").set_value(0.3).run()
    dataset = _import(app, "Olist")
    assert dataset.tables["orders"].height == facts["orders"]
    assert dataset.tables["surveys"].height == len(facts["reviews"])
    assert dataset.settings.margin_rate == 0.3


def test_a_mapping_built_on_the_page(app):
    """Headers no synonym knows (German), amounts as quantity × price, two lines per receipt:
    B1 = 2 × 5 + 1 × 3 = 13, B2 = 4 × 2.5 = 10."""
    text = (b"Beleg;Kunde;Datum;Menge;Preis\n"
            b"B1;K1;2024-03-01;2;5\nB1;K1;2024-03-01;1;3\nB2;K2;2024-03-02;4;2,5\n")  # fmt: skip
    _upload(app, {"verkauf.csv": text})
    app.selectbox(key="table::verkauf.csv").set_value("orders").run()
    for col, header in (("order_id", "Beleg"), ("customer_id", "Kunde"), ("order_date", "Datum")):
        app.selectbox(key=f"map::verkauf.csv::orders::{col}").set_value(header).run()
    app.selectbox(key="map::verkauf.csv::orders::amount").set_value("= column × column").run()
    app.selectbox(key="producta::verkauf.csv::amount").set_value("Menge").run()
    app.selectbox(key="productb::verkauf.csv::amount").set_value("Preis").run()
    app.checkbox(key="group::verkauf.csv").check().run()
    assert not app.exception
    dataset = _import(app, "Verkauf")
    orders = dataset.tables["orders"].sort("order_id")
    assert orders.select("order_id", "amount").rows() == [("B1", 13.0), ("B2", 10.0)]


def test_an_amount_less_a_refund_built_on_the_page(app):
    """Amount = paid − refunded, an empty refund taking nothing off: O1 = 40 − 15 = 25, O2 = 30."""
    text = b"Beleg;Kunde;Datum;Bezahlt;Erstattet\nO1;K1;2024-03-01;40;15\nO2;K2;2024-03-02;30;\n"
    _upload(app, {"zahlungen.csv": text})
    app.selectbox(key="table::zahlungen.csv").set_value("orders").run()
    for col, header in (("order_id", "Beleg"), ("customer_id", "Kunde"), ("order_date", "Datum")):
        app.selectbox(key=f"map::zahlungen.csv::orders::{col}").set_value(header).run()
    app.selectbox(key="map::zahlungen.csv::orders::amount").set_value("= column − column").run()
    app.selectbox(key="differencea::zahlungen.csv::amount").set_value("Bezahlt").run()
    app.selectbox(key="differenceb::zahlungen.csv::amount").set_value("Erstattet").run()
    assert not app.exception
    dataset = _import(app, "Zahlungen")
    orders = dataset.tables["orders"].sort("order_id")
    assert orders.select("order_id", "amount").rows() == [("O1", 25.0), ("O2", 30.0)]


def test_a_join_is_previewed_by_its_match_rate_and_made_on_the_page(app):
    """Deals in one file, their owners in another keyed by deal: 2 of 3 deals find an owner."""
    deals = b"deal_id,created_date,stage\nD1,2024-01-02,Won\nD2,2024-01-05,Lead\nD3,2024-01-09,Lead\n"
    owners = b"deal,rep\nD1,Ann\nD2,Bo\n"
    _upload(app, {"deals.csv": deals, "owners.csv": owners})
    app.selectbox(key="jfile::deals.csv").set_value("owners.csv").run()
    app.selectbox(key="jon::deals.csv").set_value("deal_id").run()
    app.selectbox(key="jother::deals.csv").set_value("deal").run()
    assert "2 of 3 rows (66.7%) find a match" in _texts(app)
    app.multiselect(key="jtake::deals.csv").set_value(["rep"]).run()
    app.button(key="join::deals.csv").click().run()
    app.selectbox(key="map::deals.csv::deals::owner").set_value("rep").run()
    assert not app.exception
    dataset = _import(app, "Joined")
    owners_of = dict(dataset.tables["deals"].select("deal_id", "owner").iter_rows())
    assert owners_of == {"D1": "Ann", "D2": "Bo", "D3": None}


def test_a_mapping_file_given_back_is_used(app, tmp_path):
    text = b"who,when,paid\nc1,2024-01-02,5\nc1,2024-01-02,6\nc2,2024-01-03,7\n"
    mapping = {"files": {"pay.csv": {"table": "orders", "columns": {
        "order_id": {"row_key": ["who", "when"]}, "customer_id": "who", "order_date": "when", "amount": "paid"}}}}  # fmt: skip
    app.file_uploader(key="import_mapping_file").set_value(
        ("m.json", json.dumps(mapping).encode(), "application/json")
    ).run()
    _upload(app, {"pay.csv": text})
    dataset = _import(app, "Payments")
    assert dataset.tables["orders"].get_column("order_id").sort().to_list() == ["c1-2024-01-02-1", "c1-2024-01-02-2",
                                                                               "c2-2024-01-03-1"]  # fmt: skip


def test_a_broken_mapping_file_is_refused_in_words(app):
    app.file_uploader(key="import_mapping_file").set_value(("m.json", b'{"files": 3}', "application/json")).run()
    _upload(app, realshapes.cdnow_master_like()[0])
    assert any("m.json" in str(e.value).replace("\\", "") and "cannot be used" in str(e.value) for e in app.error)


@pytest.mark.parametrize(
    "name, escaped",
    [("[click](http://evil.example)", "\\[click\\]\\(http"), ("*bold* `code`", "\\*bold\\* \\`code\\`")],
)
def test_file_names_show_as_text(app, name, escaped):
    _upload(app, {f"{name}.csv": b"colour,size\nred,3\n"})
    assert any(e.label.startswith(escaped) for e in app.expander), [e.label for e in app.expander]


def test_uploading_a_file_of_another_kind_is_refused_in_words(app):
    _upload(app, {"photo.png": b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(200)})
    shown = " ".join(str(df.value.to_dict()) for df in app.dataframe)
    assert "photo.png" in shown and "binary" in shown
    assert app.button(key="import_commit").disabled


@pytest.mark.parametrize(
    "build, table",
    [(realshapes.cdnow_master_like, "orders"), (realshapes.olist_funnel, "deals")],
    ids=["transactions without order ids", "lead list and closed deals"],
)
def test_the_other_shapes_import_from_the_page_too(app, build, table):
    files, _ = build()
    _upload(app, files)
    assert "recognised as" in _texts(app)
    assert _import(app, "shape").tables[table].height > 0


def test_the_time_zone_is_chosen_on_the_page(app):
    body = b"order_id,customer_id,order_date,amount\nO1,C1,2024-01-31 22:00:00-05:00,10\n"
    app.text_input(key="import_time_zone").set_value("Asia/Tehran").run()
    _upload(app, {"orders.csv": body})
    dataset = _import(app, "Tehran")
    assert dataset.settings.time_zone == "Asia/Tehran"
    assert dataset.tables["orders"].get_column("order_date").to_list() == [dt.datetime(2024, 2, 1, 6, 30)]
    app.text_input(key="import_time_zone").set_value("Mars/Olympus").run()
    assert any("unknown time zone" in str(df.value.to_dict()) for df in app.dataframe)


def test_a_mapping_file_given_after_the_files_is_used(app):
    text = b"who,when,paid\nc1,2024-01-02,5\nc1,2024-01-02,6\n"
    _upload(app, {"pay.csv": text})
    mapping = {"files": {"pay.csv": {"table": "orders", "columns": {
        "order_id": {"row_key": ["who", "when"]}, "customer_id": "who", "order_date": "when", "amount": "paid"}}}}  # fmt: skip
    app.file_uploader(key="import_mapping_file").set_value(("m.json", json.dumps(mapping).encode(), "application/json")).run()
    dataset = _import(app, "Later")
    assert dataset.tables["orders"].height == 2


def test_a_workbook_of_several_sheets_imports_each_sheet(app):
    """One .xlsx with a Customers and an Orders sheet: the page shows each sheet as a file of its
    own and imports both (only the first sheet used to be read)."""
    import io

    import xlsxwriter

    buf = io.BytesIO()
    with xlsxwriter.Workbook(buf) as wb:
        for name, rows in (("Customers", [["customer_id", "tier"], ["C1", "Gold"], ["C2", "Silver"]]),
                           ("Orders", [["order_id", "customer_id", "order_date", "amount"],
                                       ["O1", "C1", "2024-03-01", 10], ["O2", "C2", "2024-03-04", 12.5]])):  # fmt: skip
            sheet = wb.add_worksheet(name)
            for r, row in enumerate(rows):
                sheet.write_row(r, 0, row)
    app.file_uploader(key="import_files").set_value(
        [("crm.xlsx", buf.getvalue(), "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")]).run()
    assert not app.exception
    dataset = _import(app, "Workbook")
    assert dataset.tables["customers"].height == 2
    assert dataset.tables["orders"].select("order_id", "amount").rows() == [("O1", 10.0), ("O2", 12.5)]

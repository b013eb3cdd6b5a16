"""Encodings, delimiters, file types, CRM header conventions, dates and numbers."""

from __future__ import annotations

import datetime as dt
import io

import polars as pl
import pytest

from dashboard.__main__ import main as cli
from dashboard.importer import ImportOptions, SourceFile, plan_import
from dashboard.importer.mapping import guess_table
from dashboard.importer.parsing import parse_datetime, parse_number

PERSIAN = "فروشگاه کتاب تهران"
CUSTOMERS = f"customer_id,name,tier\nC1,{PERSIAN},Gold\nC2,Café Münster,Silver\n"


@pytest.mark.parametrize("encoding,text", [
    ("utf-8", CUSTOMERS), ("utf-8-sig", CUSTOMERS), ("utf-16", CUSTOMERS),
    ("utf-16-le", CUSTOMERS), ("cp1256", CUSTOMERS.replace("Café Münster", "Cafe Munster")),
    ("cp1252", "customer_id,name,tier\nC1,Café Münster Straße,Gold\nC2,Crème brûlée,Silver\n"),
])
def test_encodings_come_through_intact(encoding, text, store):
    plan = plan_import([SourceFile("customers.csv", text.encode(encoding))], store=store)
    assert plan.ok, [str(p) for p in plan.errors]
    expected = [line.split(",")[1] for line in text.strip().splitlines()[1:]]
    assert plan.tables["customers"].get_column("name").to_list() == expected


@pytest.mark.parametrize("sep", [",", ";", "\t", "|"])
def test_delimiters_are_detected(sep, store):
    text = f"customer_id{sep}tier\nC1{sep}Gold\nC2{sep}Silver\n"
    plan = plan_import([SourceFile("customers.csv", text.encode())], store=store)
    assert plan.ok and plan.tables["customers"].height == 2
    assert plan.files[0].raw.delimiter == sep


def test_excel_and_parquet(store, sample_tables):
    import xlsxwriter

    buf = io.BytesIO()
    with xlsxwriter.Workbook(buf) as wb:
        ws = wb.add_worksheet()
        ws.write_row(0, 0, ["Invoice ID", "Customer ID", "Invoice Date", "Total"])
        ws.write_row(1, 0, ["I1", "C0000000", "2024-03-01", "1,200.50"])
        ws.write_row(2, 0, ["I2", "C0000001", "2024-03-02", "99"])
    pq = io.BytesIO()
    sample_tables["customers"].write_parquet(pq)
    plan = plan_import([SourceFile("customers.parquet", pq.getvalue()),
                        SourceFile("orders.xlsx", buf.getvalue())], store=store)
    assert plan.ok, [str(p) for p in plan.errors]
    assert plan.tables["orders"].get_column("amount").to_list() == [1200.5, 99.0]
    assert plan.tables["customers"].height == sample_tables["customers"].height


def test_a_persian_export_with_native_digits_and_jalali_dates(store):
    """An Iranian shop's orders as it exports them: Persian headers, Persian digits, the Arabic
    thousands separator, amounts in rials and Solar Hijri dates.
    1001: 1402/01/15 = 4 April 2023, 120,000; 1002: 1402/01/20 = 9 April 2023, 85,500;
    1003: 1402/12/29 14:30 = 19 March 2024 14:30 (the last day of 1402), 240,000.5."""
    text = ("شماره سفارش,کد مشتری,تاریخ سفارش,مبلغ کل\n"
            "۱۰۰۱,م-۱,۱۴۰۲/۰۱/۱۵,۱۲۰٬۰۰۰ ریال\n"
            "۱۰۰۲,م-۲,۱۴۰۲/۰۱/۲۰,۸۵٬۵۰۰ ریال\n"
            "۱۰۰۳,م-۱,۱۴۰۲/۱۲/۲۹ ۱۴:۳۰,۲۴۰٬۰۰۰٫۵ ریال\n")  # fmt: skip
    plan = plan_import([SourceFile("سفارش ها.csv", text.encode())], store=store)
    assert plan.ok, [str(p) for p in plan.errors]
    orders = plan.tables["orders"]
    assert orders.select("order_id", "customer_id", "amount").rows() == [
        ("1001", "م-1", 120000.0), ("1002", "م-2", 85500.0), ("1003", "م-1", 240000.5)]
    assert orders.get_column("order_date").to_list() == [
        dt.datetime(2023, 4, 4), dt.datetime(2023, 4, 9), dt.datetime(2024, 3, 19, 14, 30)]
    assert plan.settings.currency == "IRR"
    assert any("Solar Hijri (Jalali)" in str(p) and "1402/01/15 → 2023-04-04" in str(p) for p in plan.problems)


def test_a_windows_1256_export_with_arabic_letters_in_its_headers(store):
    """Windows-1256 has no Persian yeh: 'كد مشتري' is written with the Arabic kaf and yeh, and
    is the same header as 'کد مشتری'. A date the Jalali calendar lacks (1402/12/30: 1402 is not
    a leap year) is named with its row."""
    text = "شماره فاكتور,كد مشتري,تاريخ,مبلغ\n17,A,1402/01/15,10\n18,B,1402/12/30,20\n"
    plan = plan_import([SourceFile("فاكتورها.csv", text.encode("cp1256"))], store=store)
    (error,) = [str(p) for p in plan.errors]
    assert "orders.order_date" in error and "'1402/12/30'" in error and "row 3" in error
    assert plan.files[0].table == "orders"


def test_a_workbook_of_several_sheets_is_several_files(store):
    """crm.xlsx: a "Read me" sheet of text, Customers (2), Orders (3, the third without an
    amount), an empty sheet, Tickets (1). Only the first sheet used to be read, so the orders and
    tickets were lost without a word; now each sheet with data is a file of its own, and a problem
    names its sheet and row (Orders, row 4)."""
    import xlsxwriter

    buf = io.BytesIO()
    with xlsxwriter.Workbook(buf) as wb:
        wb.add_worksheet("Read me").write(0, 0, "Exported from our shop system on 2024-04-01")
        sheet = wb.add_worksheet("Customers")
        for r, row in enumerate([["customer_id", "tier"], ["C1", "Gold"], ["C2", "Silver"]]):
            sheet.write_row(r, 0, row)
        sheet = wb.add_worksheet("Orders")
        for r, row in enumerate([["order_id", "customer_id", "order_date", "amount"], ["O1", "C1", "2024-03-01", 10],
                                 ["O2", "C2", "2024-03-02", 20], ["O3", "C1", "2024-03-03", "n/a?"]]):  # fmt: skip
            sheet.write_row(r, 0, row)
        wb.add_worksheet("Sheet4")
        sheet = wb.add_worksheet("Tickets")
        for r, row in enumerate([["ticket_id", "customer_id", "created_at"], ["T1", "C2", "2024-03-05 10:00"]]):
            sheet.write_row(r, 0, row)
    plan = plan_import([SourceFile("crm.xlsx", buf.getvalue())], store=store)
    (note,) = [str(p) for p in plan.problems if "sheets with data" in str(p)]
    assert "3 sheets with data" in note and "'Customers', 'Orders', 'Tickets'" in note
    assert "left out, with no rows under a header: 'Read me'" in note
    (error,) = [str(p) for p in plan.errors]
    assert error.startswith("crm.xlsx › Orders → orders.amount") and "row 4" in error
    fixed = io.BytesIO()
    with xlsxwriter.Workbook(fixed) as wb:
        for name, rows in (("Customers", [["customer_id", "tier"], ["C1", "Gold"], ["C2", "Silver"]]),
                           ("Orders", [["order_id", "customer_id", "order_date", "amount"], ["O1", "C1", "2024-03-01", 10]]),
                           ("Tickets", [["ticket_id", "customer_id", "created_at"], ["T1", "C2", "2024-03-05 10:00"]])):  # fmt: skip
            sheet = wb.add_worksheet(name)
            for r, row in enumerate(rows):
                sheet.write_row(r, 0, row)
    plan = plan_import([SourceFile("crm.xlsx", fixed.getvalue())], store=store)
    assert plan.ok, [str(p) for p in plan.errors]
    assert {t: f.height for t, f in plan.tables.items()} == {"customers": 2, "orders": 1, "tickets": 1}


@pytest.mark.parametrize("filename,headers,table,expected", [
    ("hubspot-deals.csv", ["Record ID", "Deal Name", "Deal Stage", "Create Date", "Close Date", "Amount", "Deal owner"],
     "deals", {"deal_id": "Record ID", "stage": "Deal Stage", "created_date": "Create Date",
               "closed_date": "Close Date", "amount": "Amount", "owner": "Deal owner"}),
    ("salesforce_opportunities.csv", ["Opportunity ID", "Opportunity Name", "Account Name", "Stage", "Amount",
                                      "Close Date", "Created Date", "Opportunity Owner", "Lead Source"],
     "deals", {"deal_id": "Opportunity ID", "customer_id": "Account Name", "stage": "Stage",
               "created_date": "Created Date", "closed_date": "Close Date", "owner": "Opportunity Owner",
               "source": "Lead Source"}),
    ("My Open Opportunities 12-1-2024 3-15-07 PM.xlsx",
     ["(Do Not Modify) Opportunity", "(Do Not Modify) Row Checksum", "(Do Not Modify) Modified On", "Topic",
      "Potential Customer", "Est. Close Date", "Est. Revenue", "Status", "Status Reason", "Pipeline Phase", "Owner",
      "Created On", "Actual Close Date", "Actual Revenue"],
     "deals", {"deal_id": "(Do Not Modify) Opportunity", "customer_id": "Potential Customer", "stage": "Pipeline Phase",
               "status": "Status", "created_date": "Created On", "closed_date": "Actual Close Date",
               "amount": "Est. Revenue", "owner": "Owner"}),
    ("pipedrive.csv", ["Deal - ID", "Deal - Title", "Deal - Value", "Deal - Stage", "Deal - Status",
                       "Deal - Deal created", "Deal - Owner", "Deal - Organization"],
     "deals", {"deal_id": "Deal - ID", "amount": "Deal - Value", "stage": "Deal - Stage",
               "status": "Deal - Status", "created_date": "Deal - Deal created", "owner": "Deal - Owner",
               "customer_id": "Deal - Organization"}),
    ("deals-export.csv", ["Deal - ID", "Deal - Title", "Deal - Value", "Deal - Stage", "Deal - Status",
                          "Deal - Deal created", "Deal - Won time", "Deal - Lost time", "Deal - Deal closed on",
                          "Deal - Expected close date", "Deal - Organization"],
     "deals", {"deal_id": "Deal - ID", "status": "Deal - Status", "created_date": "Deal - Deal created",
               "closed_date": "Deal - Deal closed on", "customer_id": "Deal - Organization"}),
    ("Deals_export.csv", ["Record Id", "Deal Name", "Account Name", "Stage", "Amount", "Closing Date",
                          "Created Time", "Deal Owner", "Lead Source"],
     "deals", {"deal_id": "Record Id", "customer_id": "Account Name", "stage": "Stage",
               "closed_date": "Closing Date", "created_date": "Created Time", "owner": "Deal Owner"}),
])
def test_crm_export_headers_are_recognised(filename, headers, table, expected):
    guess = guess_table(filename, headers)
    assert guess.table == table
    assert {k: v for k, v in guess.mapping.items() if k in expected} == expected


def test_hubspot_wide_stage_dates_become_stage_history(store):
    text = (
        "Record ID,Deal Stage,Create Date,Date entered Qualified To Buy (Sales Pipeline),"
        "Date entered Closed Won (Sales Pipeline)\n"
        "1,Closed Won,2024-01-02,2024-01-05,2024-02-01\n"
        "2,Qualified To Buy,2024-01-03,2024-01-09,\n"
        "3,Closed Lost,2024-01-04,2024-01-10,\n"
    )
    plan = plan_import([SourceFile("deals.csv", text.encode())], store=store)
    assert plan.ok, [str(p) for p in plan.errors]
    h = plan.tables["stage_history"].sort("deal_id", "entered_at")
    assert h.select("deal_id", "stage").rows() == [
        ("1", "Qualified To Buy"), ("1", "Closed Won"), ("2", "Qualified To Buy"), ("3", "Qualified To Buy")]
    deals = plan.tables["deals"].sort("deal_id")
    assert deals.get_column("status").to_list() == ["won", "open", "lost"]
    assert deals.get_column("stage").to_list() == ["Closed Won", "Qualified To Buy", "Qualified To Buy"]
    assert plan.settings.stage_order == ["Qualified To Buy", "Closed Won"]


@pytest.mark.parametrize("values,expected,family", [
    (["2024-03-01", "2024-12-31 14:05:00"], [dt.datetime(2024, 3, 1), dt.datetime(2024, 12, 31, 14, 5)], "ISO"),
    (["31/01/2024", "01/02/2024"], [dt.datetime(2024, 1, 31), dt.datetime(2024, 2, 1)], "D/M/Y"),
    (["01/31/2024", "02/01/2024 3:30 PM"], [dt.datetime(2024, 1, 31), dt.datetime(2024, 2, 1, 15, 30)], "M/D/Y"),
    (["45292", "45293.5"], [dt.datetime(2024, 1, 1), dt.datetime(2024, 1, 2, 12)], "Excel serial numbers"),
])
def test_date_formats_are_decided_from_the_data(values, expected, family):
    parsed = parse_datetime(pl.Series(values))
    assert parsed.values.to_list() == expected
    assert parsed.detail == family and not parsed.bad.any()


def test_ambiguous_dates_are_reported_and_follow_the_chosen_order(store):
    text = b"order_id,customer_id,order_date,amount\nO1,C1,03/04/2024,1\nO2,C1,05/06/2024,2\n"
    customers = SourceFile("customers.csv", b"customer_id,tier\nC1,Gold\n")
    us = plan_import([customers, SourceFile("orders.csv", text)], store=store)
    eu = plan_import([customers, SourceFile("orders.csv", text)], options=ImportOptions(prefer_dmy=True),
                     store=store)
    assert us.tables["orders"].get_column("order_date")[0] == dt.datetime(2024, 3, 4)
    assert eu.tables["orders"].get_column("order_date")[0] == dt.datetime(2024, 4, 3)
    assert any("D/M/Y and as M/D/Y" in str(w) and "orders.csv" in str(w) for w in us.warnings)


@pytest.mark.parametrize("values,expected", [
    (["$1,234.50", "€ 99", "(12.00)", "USD 7"], [1234.5, 99.0, -12.0, 7.0]),
    (["1.234,50", "12,5"], [1234.5, 12.5]),
    (["1 234", "-5"], [1234.0, -5.0]),
])
def test_numbers_with_currency_and_separators(values, expected):
    assert parse_number(pl.Series(values)).values.to_list() == expected


def test_saved_mapping_is_reused_for_the_same_shape(store):
    from dashboard.importer import commit_import

    text = b"Kunde,Stufe\nC1,Gold\n"
    overrides = {"clients.csv": {"table": "customers", "mapping": {"customer_id": "Kunde", "tier": "Stufe"}}}
    first = plan_import([SourceFile("clients.csv", text)], options=ImportOptions(overrides=overrides), store=store)
    commit_import(first, store, "k")
    again = plan_import([SourceFile("kunden_neu.csv", b"Kunde,Stufe\nC7,Silver\n")], store=store)
    assert again.files[0].mapping_source == "saved"
    assert again.tables["customers"].get_column("tier").to_list() == ["Silver"]


def test_command_line_import_and_failure(tmp_path, capsys, realdata):
    url = f"sqlite:///{tmp_path / 'cli.sqlite'}"
    files = [str(p) for p in sorted((realdata / "maven_crm").glob("*.csv"))]
    assert cli(["import", *files, "--dataset", "maven", "--store", url]) == 0
    assert "deals 8,800" in capsys.readouterr().out
    bad = tmp_path / "orders.csv"
    bad.write_text("order_id,customer_id,order_date,amount\n1,C1,2024-01-01,abc\n")
    assert cli(["import", str(bad), "--dataset", "maven", "--store", url]) == 1
    err = capsys.readouterr().err
    assert "nothing was stored" in err and "orders.csv → orders.amount" in err


@pytest.mark.parametrize(
    "word, status",
    [("Closed Won", "won"), ("closedwon", "won"), ("Won", "won"), ("Closed Lost", "lost"), ("closedlost", "lost"),
     ("Closed-Lost to Competition", "lost"), ("Out-Sold", "lost"), ("Canceled", "lost"), ("deleted", "lost"),
     ("Negotiation/Review", "open")],
)  # fmt: skip
def test_outcomes_in_the_spellings_of_the_big_crms(word, status):
    """HubSpot, Salesforce, Pipedrive, Zoho and Dynamics write outcomes differently; in a stage
    column and in a status column alike, each is read as won, lost or open."""
    as_stage = f"deal_id,created_date,stage\nD1,2024-01-02,{word}\n".encode()
    as_status = f"deal_id,created_date,stage,status\nD1,2024-01-02,Proposal,{word}\n".encode()
    for body in (as_stage, as_status):
        plan = plan_import([SourceFile("deals.csv", body)])
        assert plan.tables["deals"].get_column("status").to_list() == [status], body


def test_numbered_stages_are_in_the_order_of_their_numbers():
    """Dynamics 365's pipeline phases, in the order a file happens to name them: the numbers say
    the funnel's order; lost-type stages stay out of it as ever."""
    from dashboard.importer.mapping import infer_stage_order

    assert infer_stage_order(["3-Propose", "1-Qualify", "4-Close", "2-Develop", "Lost"]) == [
        "1-Qualify", "2-Develop", "3-Propose", "4-Close"]
    assert infer_stage_order(["10. Contract", "2. Demo", "1. Intro"]) == ["1. Intro", "2. Demo", "10. Contract"]


def test_an_open_deals_close_date_is_when_it_is_expected_to_close(store):
    """Salesforce gives every opportunity a Close Date; on an open one it is the day it is expected
    to close, here 31 March 2027, after the export. It was refused as a date in the future (and
    would have moved the as-of date ahead of the data). Now it is kept as expected_close_date, the
    open deal has no closed_date, and the data end on 1 October 2026 (the open deal's creation)."""
    text = (b"Opportunity ID,Account Name,Stage,Created Date,Close Date,Amount\n"
            b"006A,Acme,Closed Won,1/5/2026,2/10/2026,1000\n006B,Beta,Closed Lost,2/1/2026,3/1/2026,500\n"
            b"006C,Acme,Proposal/Price Quote,10/1/2026,3/31/2027,700\n")  # fmt: skip
    plan = plan_import([SourceFile("opportunities.csv", text)], store=store)
    assert plan.ok, [str(p) for p in plan.errors]
    deals = plan.tables["deals"].sort("deal_id")
    assert deals.select("status", "closed_date", "expected_close_date").rows() == [
        ("won", dt.datetime(2026, 2, 10), None), ("lost", dt.datetime(2026, 3, 1), None),
        ("open", None, dt.datetime(2027, 3, 31))]  # fmt: skip
    from metrics.schema import latest_event

    assert latest_event(plan.tables) == dt.date(2026, 10, 1)
    assert any("1 open deal carries a close date" in str(p) for p in plan.problems)


def test_an_email_as_customer_id_matches_in_any_letter_case(store):
    """The customers file has ann@shop.com; an order names her Ann@Shop.com (as she typed it at
    checkout). One person: the order is hers, not dropped as an unknown customer's. Ids that are
    not emails keep their case (Salesforce's 001Ax and 001ax are two accounts)."""
    customers = b"customer_id,tier\nann@shop.com,Gold\n001Ax,Silver\n001ax,Silver\n"
    orders = b"order_id,customer_id,order_date,amount\nO1,Ann@Shop.com,2024-03-01,10\nO2,001ax,2024-03-02,5\n"
    plan = plan_import([SourceFile("customers.csv", customers), SourceFile("orders.csv", orders)], store=store)
    assert plan.ok, [str(p) for p in plan.errors]
    assert plan.tables["orders"].get_column("customer_id").to_list() == ["ann@shop.com", "001ax"]
    assert plan.tables["customers"].get_column("customer_id").to_list() == ["ann@shop.com", "001Ax", "001ax"]
    assert not any("unknown customers" in str(w) for w in plan.warnings)


def test_a_workbook_of_one_table_and_a_note_keeps_its_own_name(store):
    """A 'Read me' sheet of one line beside one table: the table is the file itself, named as
    uploaded, with its problems' rows named under that name."""
    import xlsxwriter

    buf = io.BytesIO()
    with xlsxwriter.Workbook(buf) as wb:
        wb.add_worksheet("Read me").write(0, 0, "Exported on 2024-04-01")
        sheet = wb.add_worksheet("Orders")
        for r, row in enumerate([["order_id", "customer_id", "order_date", "amount"], ["O1", "C1", "2024-03-01", 10],
                                 ["O2", "C1", "2024-03-02", "n/a?"]]):  # fmt: skip
            sheet.write_row(r, 0, row)
    plan = plan_import([SourceFile("orders.xlsx", buf.getvalue())], store=store)
    assert [f.raw.name for f in plan.files] == ["orders.xlsx"]
    (error,) = [str(p) for p in plan.errors]
    assert error.startswith("orders.xlsx → orders.amount") and "row 3" in error

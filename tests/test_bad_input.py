"""Malformed inputs: each gives a clear message naming the file (and column and rows where there
are any), and leaves the active dataset exactly as it was."""

from __future__ import annotations

import io

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from dashboard.importer import ImportOptions, SourceFile, commit_import, plan_import
from dashboard.importer.problems import ImportFailed

CUSTOMERS = b"customer_id,name,tier,signup_date\nC1,Ann,Gold,2024-01-05\nC2,Bo,Silver,2024-02-01\n"
ORDERS_HEAD = b"order_id,customer_id,order_date,amount\n"


@pytest.fixture
def active(store):
    plan = plan_import([SourceFile("customers.csv", CUSTOMERS),
                        SourceFile("orders.csv", ORDERS_HEAD + b"O1,C1,2024-01-05,10\nO2,C2,2024-02-03,20\n")],
                       store=store)
    commit_import(plan, store, "live")
    return store


def _attempt(store, files, **options):
    """Plan and try to commit into the active dataset's name; return the plan's errors."""
    before = store.load("live")
    plan = plan_import(files, options=ImportOptions(**options), store=store)
    if plan.ok:
        pytest.fail("expected errors, got none: " + "; ".join(str(p) for p in plan.problems))
    with pytest.raises(ImportFailed):
        commit_import(plan, store, "live")
    after = store.load("live")
    assert store.active_name() == "live"
    for name, frame in before.tables.items():
        assert_frame_equal(after.tables[name], frame)
    return [str(p) for p in plan.errors]


def _orders(body: bytes, name="orders.csv"):
    return [SourceFile("customers.csv", CUSTOMERS), SourceFile(name, ORDERS_HEAD + body)]


def test_empty_file(active):
    errors = _attempt(active, [SourceFile("orders.csv", b"")])
    assert errors == ["orders.csv: the file is empty"]


def test_header_only(active):
    errors = _attempt(active, [SourceFile("customers.csv", CUSTOMERS), SourceFile("orders.csv", ORDERS_HEAD)])
    assert any("orders.csv" in e and "no data rows" in e for e in errors)


def test_binary_garbage(active):
    garbage = bytes(range(256)) * 40
    errors = _attempt(active, [SourceFile("orders.csv", garbage)])
    assert any("orders.csv" in e and "binary" in e for e in errors)


def test_truncated_last_row(active):
    errors = _attempt(active, _orders(b"O1,C1,2024-01-05,10\nO2,C2,2024-0"))
    assert any("orders.csv" in e and "truncated" in e and "row 3" in e for e in errors)


def test_unclosed_quote(active):
    errors = _attempt(active, _orders(b'O1,C1,2024-01-05,10\nO2,"C2,2024-02-01,5\n'))
    assert any("orders.csv" in e and "quote opened on row 3" in e for e in errors)


def test_wrong_delimiter(active):
    body = b"order_id;customer_id;order_date;amount\nO1;C1;2024-01-05;10\n"
    errors = _attempt(active, [SourceFile("customers.csv", CUSTOMERS), SourceFile("orders.csv", body)],
                      delimiter=",")
    assert any("orders.csv" in e and "delimiter" in e and "order_id;customer_id" in e for e in errors)


def test_unknown_encoding(active):
    text = "customer_id,name,tier\nC1,東京商事,Gold\nC2,大阪物産,Silver\n" * 20
    errors = _attempt(active, [SourceFile("customers.csv", text.encode("shift_jis"))])
    assert any("customers.csv" in e and "encoding" in e for e in errors)


def test_duplicate_ids(active):
    errors = _attempt(active, _orders(b"O1,C1,2024-01-05,10\nO1,C2,2024-02-03,20\n"))
    assert any("orders.csv → orders.order_id" in e and "duplicate" in e and "rows 2, 3" in e for e in errors)


def test_orders_of_unknown_customers(active):
    errors = _attempt(active, _orders(b"O1,X9,2024-01-05,10\nO2,X8,2024-02-03,20\n"))
    assert any("orders.csv → orders.customer_id" in e and "'X9'" in e and "rows 2, 3" in e for e in errors)


def test_a_few_unknown_customers_are_dropped_with_a_warning(store):
    plan = plan_import(_orders(b"O1,C1,2024-01-05,10\nO2,C2,2024-02-03,20\nO3,X9,2024-02-03,5\n"),
                       store=store)
    assert plan.ok and plan.tables["orders"].height == 2
    assert any("dropped" in str(w) and "row 4" in str(w) for w in plan.warnings)


def test_a_few_orders_without_a_customer_are_left_out_with_their_revenue_named(store):
    """Four orders, O3 (row 4, 7.50) without a customer: three are imported, and the warning
    names the row and the 7.50 of revenue that is in no figure."""
    plan = plan_import(_orders(b"O1,C1,2024-01-05,10\nO2,C2,2024-02-03,20\nO3,,2024-02-04,7.5\nO4,C1,2024-02-05,1\n"),
                       store=store)  # fmt: skip
    assert plan.ok, [str(e) for e in plan.errors]
    assert plan.tables["orders"].get_column("order_id").to_list() == ["O1", "O2", "O4"]
    (warning,) = [str(w) for w in plan.warnings if "no customer id" in str(w) or "without a customer id" in str(w)]
    assert "orders.csv → orders.customer_id" in warning and "revenue (7.50) is in no figure" in warning
    assert "row 4" in warning


def test_orders_mostly_without_a_customer_are_refused(active):
    """Three of four orders without a customer: more likely the wrong column than guests."""
    errors = _attempt(active, _orders(b"O1,,2024-01-05,10\nO2,,2024-02-03,20\nO3,,2024-02-04,7.5\nO4,C1,2024-02-05,1\n"))
    assert any("orders.csv → orders.customer_id" in e and "required values are empty" in e and "rows 2, 3, 4" in e
               for e in errors)  # fmt: skip


def test_nps_11_and_csat_0(active):
    surveys = b"response_id,customer_id,responded_at,nps,csat\nS1,C1,2024-03-01,11,4\nS2,C2,2024-03-02,9,0\n"
    errors = _attempt(active, [SourceFile("customers.csv", CUSTOMERS), SourceFile("surveys.csv", surveys)])
    assert any("surveys.nps" in e and "11" in e and "row 2" in e for e in errors)
    assert any("surveys.csat" in e and "0" in e and "row 3" in e for e in errors)


def test_dates_after_the_as_of_date(active):
    import datetime as dt

    errors = _attempt(active, _orders(b"O1,C1,2024-01-05,10\nO2,C2,2024-09-03,20\n"),
                      as_of=dt.date(2024, 6, 30))
    assert any("orders.order_date" in e and "after the as-of date 2024-06-30" in e and "row 3" in e
               for e in errors)


def test_dates_in_the_future(active):
    errors = _attempt(active, _orders(b"O1,C1,2099-01-05,10\n"))
    assert any("orders.order_date" in e and "future" in e for e in errors)


def test_mixed_date_formats(active):
    errors = _attempt(active, _orders(b"O1,C1,2024-01-05,10\nO2,C2,2024-02-03,20\nO3,C2,13/02/2024,20\n"))
    assert any("orders.order_date" in e and "'13/02/2024'" in e and "row 4" in e for e in errors)


def test_text_in_an_amount_column(active):
    errors = _attempt(active, _orders(b"O1,C1,2024-01-05,ten\nO2,C2,2024-02-03,20\n"))
    assert any("orders.amount" in e and "'ten'" in e and "row 2" in e for e in errors)


def test_a_10_mb_single_cell(active):
    body = b"O1,C1,2024-01-05,10\n" + b'O2,C2,2024-02-03,"' + b"x" * 10_000_000 + b'"\n'
    files = [SourceFile("customers.csv", CUSTOMERS),
             SourceFile("orders.csv", b"order_id,customer_id,order_date,product\n" + body)]
    errors = _attempt(active, files)
    assert any("orders.csv" in e and "product" in e and "10,000,000" in e and "row 3" in e for e in errors)


def test_cells_that_start_a_formula_are_reported_and_neutralised_on_export(store):
    customers = b'customer_id,name,tier\nC1,"=HYPERLINK(""http://x"")",Gold\nC2,+1-2,Silver\nC3,@SUM(A1),Gold\nC4,-cmd,Gold\n'
    plan = plan_import([SourceFile("customers.csv", customers)], store=store)
    warning = next(str(w) for w in plan.warnings if "formula" in str(w))
    assert "customers.csv" in warning and "name" in warning and "rows 2, 3, 4, 5" in warning
    from dashboard.export import safe_csv

    exported = pl.read_csv(io.BytesIO(safe_csv(plan.tables["customers"])))
    assert all(v.startswith("'") for v in exported.get_column("name"))


def test_formula_cells_in_categorical_ids_are_neutralised_on_export():
    """The dashboard holds ids as Categorical (with_categorical_keys): they are text to a
    spreadsheet all the same, so they get the apostrophe too."""
    from dashboard.export import safe_csv
    from metrics.schema import with_categorical_keys

    frame = with_categorical_keys({"t": pl.DataFrame({"customer_id": ["=1+1", "C2"], "amount": [-5.0, 3.0]})})["t"]
    assert frame.schema["customer_id"] == pl.Categorical
    exported = pl.read_csv(io.BytesIO(safe_csv(frame)))
    assert exported.get_column("customer_id").to_list() == ["'=1+1", "C2"]
    assert exported.get_column("amount").to_list() == [-5.0, 3.0]  # a negative number stays a number


def test_excel_title_row_above_the_header(store):
    buf = io.BytesIO()
    import xlsxwriter

    with xlsxwriter.Workbook(buf) as wb:
        ws = wb.add_worksheet()
        ws.write_row(0, 0, ["Customer report — exported 2024-06-30"])
        ws.write_row(2, 0, ["Customer ID", "Company name", "Tier"])
        ws.write_row(3, 0, ["C1", "Ann Ltd", "Gold"])
        ws.write_row(4, 0, ["C2", "Bo plc", "Silver"])
    plan = plan_import([SourceFile("customers.xlsx", buf.getvalue())], store=store)
    assert plan.ok, [str(p) for p in plan.errors]
    assert plan.tables["customers"].get_column("customer_id").to_list() == ["C1", "C2"]
    note = next(str(p) for p in plan.problems if "title" in p.message)
    assert "customers.xlsx" in note and "rows 1, 2" in note


def test_file_larger_than_the_upload_limit(active):
    big = ORDERS_HEAD + b"O1,C1,2024-01-05,10\n" * 60_000
    errors = _attempt(active, [SourceFile("customers.csv", CUSTOMERS), SourceFile("orders.csv", big)],
                      max_bytes=1 * 2**20)
    assert any("orders.csv" in e and "upload limit of 1 MB" in e for e in errors)


def test_missing_required_column(active):
    body = b"order_id,customer_id,amount\nO1,C1,10\n"
    errors = _attempt(active, [SourceFile("customers.csv", CUSTOMERS), SourceFile("orders.csv", body)],
                      overrides={"orders.csv": {"table": "orders"}})
    assert any("orders.csv" in e and "order_date" in e and "not found" in e for e in errors)


# --- issue 11, item 3: bad input that used to get through or end in a traceback ---------------------
def _parquet(frame: pl.DataFrame) -> bytes:
    buf = io.BytesIO()
    frame.write_parquet(buf)
    return buf.getvalue()


def test_decimal_points_are_decided_from_the_whole_column(store):
    """'1.250' alone could be thousands; beside '5.5' and '10.75' it is one and a quarter."""
    plan = plan_import(_orders(b"O1,C1,2024-01-05,1.250\nO2,C2,2024-02-03,5.5\nO3,C2,2024-02-04,10.75\n"),
                       store=store)
    assert plan.tables["orders"].get_column("amount").to_list() == [1.25, 5.5, 10.75]
    assert not any("could be thousands" in str(p) for p in plan.problems)


def test_an_ambiguous_thousands_column_is_reported(store):
    plan = plan_import(_orders(b"O1,C1,2024-01-05,1.250\nO2,C2,2024-02-03,2.000\n"), store=store)
    warning = next(str(p) for p in plan.warnings if "could be thousands" in str(p))
    assert "orders.csv" in warning and "'amount'" in warning and "'1.250'" in warning


def test_mixed_decimal_commas_and_points_are_refused(active):
    errors = _attempt(active, _orders(b"O1,C1,2024-01-05,\"12,5\"\nO2,C2,2024-02-03,5.5\n"))
    assert any("orders.amount" in e and "'12,5'" in e and "row 2" in e for e in errors)


def test_negative_acquisition_cost_is_a_report_not_a_traceback(active):
    customers = b"customer_id,tier,acquisition_cost\nC1,Gold,-5\nC2,Gold,10\n"
    errors = _attempt(active, [SourceFile("customers.csv", customers)])
    assert any("customers.acquisition_cost" in e and "at least 0" in e and "row 2" in e for e in errors)


def test_negative_tenure_is_a_report(active):
    import datetime as dt

    telco = b"customerID,tenure,Churn\nC1,-3,No\nC2,12,Yes\n"
    errors = _attempt(active, [SourceFile("telco.csv", telco)], as_of=dt.date(2024, 6, 30))
    assert any("telco.csv → customers.tenure_months" in e and "negative" in e and "row 2" in e for e in errors)


def test_nested_parquet_columns_are_refused_in_words(active):
    nested_id = pl.DataFrame({"customer_id": [["C1"], ["C2"]], "tier": ["Gold", "Gold"]})
    errors = _attempt(active, [SourceFile("customers.parquet", _parquet(nested_id))])
    assert any("customers.parquet" in e and "'customer_id'" in e and "nested" in e for e in errors)
    nested_extra = pl.DataFrame({"customer_id": ["C1"], "tier": ["Gold"], "tags": [{"a": 1}]})
    errors = _attempt(active, [SourceFile("customers.parquet", _parquet(nested_extra))])
    assert any("'tags'" in e and "nested" in e for e in errors)


def test_a_column_named_like_the_importers_own_is_renamed(store):
    plan = plan_import([SourceFile("customers.csv", b"customer_id,tier,__row\nC1,Gold,x\nC2,Gold,y\n")], store=store)
    assert plan.ok, [str(p) for p in plan.errors]
    assert plan.tables["customers"].get_column("row").to_list() == ["x", "y"]
    assert any("reserved" in str(p) for p in plan.problems)


def test_a_delimiter_of_two_characters_is_refused(active):
    errors = _attempt(active, _orders(b"O1,C1,2024-01-05,10\n"), delimiter="ab")
    assert any("orders.csv" in e and "one character" in e for e in errors)


def test_an_empty_optional_date_column_does_not_block_the_import(store):
    customers = pl.DataFrame({"customer_id": ["C1", "C2"], "tier": ["Gold", "Gold"],
                              "churn_date": pl.Series([None, None], dtype=pl.Null)})  # fmt: skip
    plan = plan_import([SourceFile("customers.parquet", _parquet(customers))], store=store)
    assert plan.ok, [str(p) for p in plan.errors]
    csv_empty = plan_import([SourceFile("customers.csv", b"customer_id,tier,churn_date\nC1,Gold,\nC2,Gold,\n")],
                            store=store)
    assert csv_empty.ok


def test_times_with_offsets_become_utc_whatever_the_format(store):
    """22:00 EST on 31 January is 03:00 UTC on 1 February, from text and from Parquet alike."""
    import datetime as dt

    text = plan_import(_orders(b"O1,C1,2024-01-31 22:00:00-05:00,10\n"), store=store)
    aware = pl.DataFrame({"order_id": ["O1"], "customer_id": ["C1"], "amount": [10.0],
                          "order_date": [dt.datetime(2024, 1, 31, 22)]}).with_columns(
        pl.col("order_date").dt.replace_time_zone("America/New_York"))  # fmt: skip
    parquet = plan_import([SourceFile("customers.csv", CUSTOMERS), SourceFile("orders.parquet", _parquet(aware))],
                          store=store)
    expected = [dt.datetime(2024, 2, 1, 3, 0)]
    assert text.tables["orders"].get_column("order_date").to_list() == expected
    assert parquet.tables["orders"].get_column("order_date").to_list() == expected
    assert any("converted to UTC" in str(p) for p in text.problems)


def test_absurd_values_in_any_money_column(active):
    body = b"order_id,customer_id,order_date,amount,gross_margin\nO1,C1,2024-01-05,10,1e308\n"
    errors = _attempt(active, [SourceFile("customers.csv", CUSTOMERS), SourceFile("orders.csv", body)])
    assert any("orders.gross_margin" in e and "absurd" in e and "row 2" in e for e in errors)


@pytest.mark.parametrize("as_of, words", [("9999-12-31", "after 2100-12-31"), ("2020-01-01", "before the data")])
def test_an_as_of_date_outside_the_data_is_refused(active, as_of, words):
    import datetime as dt

    errors = _attempt(active, _orders(b"O1,C1,2024-01-05,10\n"), as_of=dt.date.fromisoformat(as_of))
    assert any(words in e for e in errors)


def test_repeated_headers_are_reported(store):
    plan = plan_import([SourceFile("customers.csv", b"customer_id,tier,tier\nC1,Gold,Silver\n")], store=store)
    assert plan.tables["customers"].get_column("tier").to_list() == ["Gold"]
    warning = next(str(p) for p in plan.warnings if "2 times" in str(p))
    assert "customers.csv" in warning and "'tier'" in warning


def test_too_many_columns_are_refused_before_reading(active):
    from dashboard.importer.reading import MAX_COLUMNS

    header = ",".join(f"c{i}" for i in range(MAX_COLUMNS + 1)).encode()
    errors = _attempt(active, [SourceFile("wide.csv", header + b"\n" + b"1," * MAX_COLUMNS + b"1\n")])
    assert any("wide.csv" in e and f"{MAX_COLUMNS + 1:,} columns" in e for e in errors)


def test_an_xlsx_that_unpacks_to_too_much_is_refused_before_reading(active, monkeypatch):
    """A zip bomb in miniature: the limit is lowered so the test file stays small; the check reads
    only the zip's directory."""
    import xlsxwriter

    from dashboard.importer import reading

    buf = io.BytesIO()
    with xlsxwriter.Workbook(buf) as wb:
        ws = wb.add_worksheet()
        for r in range(2000):
            ws.write_row(r, 0, [f"C{r}", "Gold", "x" * 50])
    monkeypatch.setattr(reading, "MAX_XLSX_PART", 100_000)
    errors = _attempt(active, [SourceFile("customers.xlsx", buf.getvalue())])
    assert any("customers.xlsx" in e and "unpacks to" in e for e in errors)


def test_mixed_line_endings_read_as_lines(store):
    body = b"order_id,customer_id,order_date,amount\r\nO1,C1,2024-01-05,10\rO2,C2,2024-02-03,20\n"
    plan = plan_import([SourceFile("customers.csv", CUSTOMERS), SourceFile("orders.csv", body)], store=store)
    assert plan.ok, [str(p) for p in plan.errors]
    assert plan.tables["orders"].height == 2


def test_an_unclosed_quote_is_reported_on_its_row(active):
    body = b'O1,C1,2024-01-05,10\nO2,"C2,2024-02-01,5\nO3,C1,2024-02-02,7\nO4,C1,2024-02-03,8\n'
    errors = _attempt(active, _orders(body))
    assert any("orders.csv" in e and "row 3" in e and "quote" in e for e in errors)


def test_a_utf16_mark_before_utf8_text_is_read_as_utf8(store):
    data = b"\xff\xfe" + CUSTOMERS
    plan = plan_import([SourceFile("customers.csv", data)], store=store)
    assert plan.ok, [str(p) for p in plan.errors]
    assert plan.tables["customers"].height == 2


def test_a_blank_header_cell_is_no_title_row(store):
    plan = plan_import([SourceFile("customers.csv", b"customer_id,tier,,segment\nC1,Gold,x,Retail\nC2,Gold,y,Retail\n")],
                       store=store)
    assert plan.ok, [str(p) for p in plan.errors]
    assert plan.tables["customers"].get_column("customer_id").to_list() == ["C1", "C2"]
    assert any("column 3 has no header" in str(p) for p in plan.problems)


def test_the_dataset_time_zone_is_one_rule_for_every_format(store):
    """Dataset clock Asia/Tehran (UTC+3:30): 22:00 EST on 31 January is 03:00 UTC, 06:30 in Tehran
    on 1 February, from text with an offset and from a tz-aware Parquet column alike; a time
    without an offset reads as written. An unknown zone is refused in words."""
    import datetime as dt

    tehran_clock = ImportOptions(time_zone="Asia/Tehran")
    text = plan_import(_orders(b"O1,C1,2024-01-31 22:00:00-05:00,10\nO2,C2,2024-02-01 09:00,5\n"), options=tehran_clock, store=store)
    aware = pl.DataFrame({"order_id": ["O1"], "customer_id": ["C1"], "amount": [10.0],
                          "order_date": [dt.datetime(2024, 1, 31, 22)]}).with_columns(
        pl.col("order_date").dt.replace_time_zone("America/New_York"))  # fmt: skip
    parquet = plan_import([SourceFile("customers.csv", CUSTOMERS), SourceFile("orders.parquet", _parquet(aware))],
                          options=tehran_clock, store=store)
    tehran = dt.datetime(2024, 2, 1, 6, 30)  # 03:00 UTC + 3:30
    assert text.tables["orders"].get_column("order_date").to_list() == [tehran, dt.datetime(2024, 2, 1, 9, 0)]
    assert parquet.tables["orders"].get_column("order_date").to_list() == [tehran]
    assert text.settings.time_zone == "Asia/Tehran"
    bad = plan_import(_orders(b"O1,C1,2024-01-05,10\n"), options=ImportOptions(time_zone="Mars/Olympus"), store=store)
    assert any("unknown time zone 'Mars/Olympus'" in str(p) for p in bad.errors)

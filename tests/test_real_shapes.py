"""Real export shapes import as downloaded (issue 11): order lines, transactions without order ids,
a lead list with a closed-deals list, a relational shop export. Each imported table is checked
against facts computed from the raw rows by the fixture builder (tests/realshapes.py), not by the
importer."""

from __future__ import annotations

import datetime as dt
import gzip
import json
from pathlib import Path

import polars as pl
import pytest
import realshapes

from dashboard.__main__ import main
from dashboard.importer import ImportOptions, SourceFile, commit_import, plan_import
from dashboard.importer.recipes import Recipe

FIXTURES = Path(__file__).parent / "fixtures"


def _plan(files: dict[str, bytes], **options):
    plan = plan_import([SourceFile(n, b) for n, b in files.items()], options=ImportOptions(**options))
    assert plan.ok, [str(p) for p in plan.errors]
    return plan


def _messages(plan) -> str:
    return "\n".join(str(p) for p in plan.problems)


@pytest.mark.parametrize("build", [realshapes.online_retail, realshapes.online_retail_xlsx], ids=["csv", "xlsx"])
def test_online_retail_order_lines_become_orders_refunds_and_customers(build):
    files, facts = build()
    plan = _plan(files)
    orders, customers = plan.tables["orders"], plan.tables["customers"]
    assert set(orders.get_column("order_id")) == facts["orders"]
    assert orders.get_column("amount").sum() == pytest.approx(facts["revenue"])
    refunds = set(orders.filter(pl.col("amount") < 0).get_column("order_id"))
    assert refunds == facts["refund_orders"] and all(r.startswith("C") for r in refunds)
    assert customers.height == facts["customers"]
    # "17850.0" in the file is customer 17850, as it is everywhere else
    assert not customers.get_column("customer_id").str.contains(r"\.").any()
    regions = dict(customers.select("customer_id", "region").iter_rows())
    assert regions == {c: facts["countries"][c] for c in regions}
    text = _messages(plan)
    assert f"{facts['dropped_lines']} of" in text and "no customer_id and were left out" in text
    assert "recognised as order lines" in text and "grouped into" in text


def test_cdnow_like_log_without_order_ids():
    files, facts = realshapes.cdnow_master_like()
    plan = _plan(files)
    orders = plan.tables["orders"]
    assert orders.height == facts["purchases"]
    assert orders.get_column("order_id").is_unique().all()
    assert orders.get_column("amount").sum() == pytest.approx(facts["revenue"])
    assert set(plan.tables["customers"].get_column("customer_id")) == facts["customers"]
    assert plan.files[0].raw.describe().startswith("CSV, UTF-8, whitespace-separated")


def test_full_cdnow_master_log_as_lifetimes_ships_it():
    """69,659 purchases of 23,570 customers (Fader, Hardie & Lee's CDNOW data), 1997-01-01 to
    1998-06-30, totalling $2,500,315.63 (sum of the file's dollar_value column)."""
    data = gzip.decompress((FIXTURES / "cdnow_master" / "CDNOW_master.txt.gz").read_bytes())
    plan = _plan({"CDNOW_master.txt": data})
    orders = plan.tables["orders"]
    assert orders.height == 69_659
    assert plan.tables["customers"].height == 23_570
    assert orders.get_column("order_date").min().date().isoformat() == "1997-01-01"
    assert orders.get_column("order_date").max().date().isoformat() == "1998-06-30"
    dollars = sum(float(line.split()[-1]) for line in data.decode().splitlines()[1:] if line.strip())
    assert dollars == pytest.approx(2_500_315.63)
    assert orders.get_column("amount").sum() == pytest.approx(dollars)


def test_olist_leads_and_closed_deals_become_a_funnel():
    files, facts = realshapes.olist_funnel()
    plan = _plan(files)
    deals = plan.tables["deals"]
    assert deals.height == facts["leads"]
    won = deals.filter(pl.col("status") == "won")
    assert won.height == facts["won"]
    assert set(won.get_column("stage")) == {"Won"}
    assert won.get_column("closed_date").is_not_null().all()
    lost = deals.filter(pl.col("status") == "lost")
    # Every lost lead carries a close date (created + the rule's days), so it falls into a period.
    assert lost.height > 0 and lost.get_column("closed_date").is_not_null().all()
    assert (lost.get_column("closed_date") - lost.get_column("created_date")).dt.total_days().unique().to_list() == [90]
    assert "count as lost" in _messages(plan) and "--lost-after" in _messages(plan)
    # The rule can be changed: with a year, fewer leads are old enough to count as lost.
    longer = _plan(files, lost_after_days=365).tables["deals"]
    assert longer.filter(pl.col("status") == "lost").height < lost.height
    assert longer.filter(pl.col("status") == "won").height == facts["won"]


def test_olist_lead_list_alone_imports_its_leads():
    files, facts = realshapes.olist_funnel()
    name = "olist_marketing_qualified_leads_dataset.csv"
    plan = _plan({name: files[name]})
    assert plan.tables["deals"].height == facts["leads"]
    assert set(plan.tables["deals"].get_column("status")) <= {"open", "lost"}


def test_olist_relational_shop_export():
    files, facts = realshapes.olist_shop()
    plan = _plan(files, currency="BRL")
    orders, customers, surveys = plan.tables["orders"], plan.tables["customers"], plan.tables["surveys"]
    assert orders.height == facts["orders"]
    assert orders.get_column("amount").sum() == pytest.approx(facts["revenue"], abs=0.01)
    # customers are people (customer_unique_id), not the per-order customer_id
    assert set(customers.get_column("customer_id")) >= facts["people"]
    assert set(orders.get_column("customer_id")) <= set(customers.get_column("customer_id"))
    assert set(surveys.get_column("response_id")) == facts["reviews"]
    assert set(surveys.filter(pl.col("csat") >= 4).get_column("response_id")) == facts["csat_4_5"]
    assert surveys.get_column("customer_id").is_in(customers.get_column("customer_id").implode()).all()
    text = _messages(plan)
    assert "1 row repeats a response_id" in text
    assert f"{facts['skipped']} rows with order_status" in text
    assert "100.0%" in text  # the match rate of each join is reported
    assert plan.settings.currency == "BRL"


def test_shopify_orders_export_as_downloaded():
    """Shopify's native orders export: a row per line item, the order's total and payment status
    on its first row only. Each paid order becomes one order worth its total less its refund."""
    files, facts = realshapes.shopify_orders()
    plan = _plan(files)
    orders, customers = plan.tables["orders"], plan.tables["customers"]
    assert set(orders.get_column("order_id")) == facts["orders"]
    assert dict(orders.select("order_id", "amount").iter_rows()) == pytest.approx(facts["amounts"])
    assert orders.get_column("amount").sum() == pytest.approx(facts["revenue"])
    assert set(customers.get_column("customer_id")) == facts["customers"]
    regions = dict(customers.select("customer_id", "region").iter_rows())
    assert regions == {c: facts["countries"][c] for c in regions}
    assert plan.settings.currency == "EUR"  # from the Currency column: the amounts carry no symbol
    assert not set(orders.columns) & set(realshapes.SHOPIFY_HEADER)  # no addresses or phone numbers are kept
    text = _messages(plan)
    assert f"{facts['lines']:,} rows hold {len(facts['orders']) + facts['guests'] + facts['not_paid']:,} orders" in text
    assert f"{facts['not_paid']} rows with Financial Status" in text
    assert f"{facts['guests']} of" in text and "no customer_id and were left out" in text
    assert "recognised as shop orders export" in text


def test_shopify_orders_with_the_shops_customers_export():
    """Both one-click exports of a Shopify admin at once: the customers are the customers export's
    people, named by email as the orders name them (its own "Customer ID" is in no order); they
    used to be added beside the customers derived from the orders, 300 phantom customers."""
    orders_files, orders_facts = realshapes.shopify_orders()
    people_files, people_facts = realshapes.shopify_customers(orders_facts)
    plan = _plan(orders_files | people_files)
    customers, orders = plan.tables["customers"], plan.tables["orders"]
    assert set(customers.get_column("customer_id")) == people_facts["customers"]
    assert dict(customers.select("customer_id", "region").iter_rows()) == people_facts["countries"]
    assert set(orders.get_column("order_id")) == orders_facts["orders"]  # every order's customer is known
    text = _messages(plan)
    assert "recognised as shop orders export (a row per line item) and its customers" in text
    assert "1 of 71 rows have no customer_id and were left out" in text  # the till customer


def test_shopify_orders_worked_by_hand():
    """Four orders, eight rows (only the columns the recipe reads, and a line item column):
    #1 two line items, total 50.00, nothing refunded        → 50.00
    #2 one line item, total 30.00, 12.50 refunded            → 30.00 − 12.50 = 17.50
    #3 voided                                                → left out
    #4 a guest without an email                              → left out
    #2 was placed at 22:00 at −05:00 on 31 January: 03:00 UTC on 1 February."""
    text = (
        "Name,Email,Financial Status,Currency,Total,Refunded Amount,Created at,Lineitem quantity,Billing Country\n"
        "#1,a@x.com,paid,USD,50.00,0.00,2024-01-10 10:00:00 -0500,1,US\n"
        "#1,a@x.com,,,,,2024-01-10 10:00:00 -0500,2,\n"
        "#2,b@x.com,partially_refunded,USD,30.00,12.50,2024-01-31 22:00:00 -0500,1,CA\n"
        "#3,a@x.com,voided,USD,99.00,0.00,2024-02-02 09:00:00 -0500,1,US\n"
        "#3,a@x.com,,,,,2024-02-02 09:00:00 -0500,1,\n"
        "#4,,paid,USD,7.00,0.00,2024-02-03 09:00:00 -0500,1,US\n"
        "#4,,,,,,2024-02-03 09:00:00 -0500,3,\n"
        "#4,,,,,,2024-02-03 09:00:00 -0500,1,\n"
    )
    plan = _plan({"orders_export.csv": text.encode()})
    orders = plan.tables["orders"].sort("order_id")
    assert orders.select("order_id", "customer_id", "amount").rows() == [("#1", "a@x.com", 50.0), ("#2", "b@x.com", 17.5)]
    assert orders.get_column("order_date").to_list() == [dt.datetime(2024, 1, 10, 15), dt.datetime(2024, 2, 1, 3)]
    assert plan.settings.currency == "USD"
    text = _messages(plan)
    assert "8 rows hold 4 orders" in text and "1 rows with Financial Status" in text and "1 of 3 rows" in text


def test_stripe_payments_export_as_downloaded():
    """Stripe's payments export: failed and fully refunded charges brought nothing, a partial
    refund is taken off, amounts are the account's (converted) currency, charges without a
    customer are left out and counted."""
    files, facts = realshapes.stripe_payments()
    plan = _plan(files)
    orders = plan.tables["orders"]
    assert set(orders.get_column("order_id")) == facts["orders"]
    assert orders.get_column("amount").sum() == pytest.approx(facts["revenue"])
    assert set(plan.tables["customers"].get_column("customer_id")) == facts["customers"]
    assert plan.settings.currency == "USD"  # the converted currency; the charges were in USD and EUR
    text = _messages(plan)
    assert "recognised as card payments export" in text
    skipped = [p for p in plan.problems if p.column in ("Captured", "Status")]
    assert sum(p.count for p in skipped) == facts["not_charged"]
    assert f"{facts['no_customer']} of" in text and "no customer_id and were left out" in text


def test_woocommerce_orders_report_as_downloaded():
    """WooCommerce Analytics → Orders → Download: "Order #", the customer's name, "Net Sales" and a
    status. It was taken for a customers file (duplicate ids) and refused. Five orders:
    1001 Completed 10.00, 1002 Processing 20.00, 1003 Cancelled 30.00, 1004 Failed 40.00,
    1005 On hold 5.50 → three sales (10 + 20 + 5.50 = 35.50), the cancelled and failed ones left
    out and named (rows 4 and 5), two customers."""
    text = ("Date,Order #,Status,Customer,Customer type,Product(s),Items sold,Coupon(s),Net Sales,Attribution\n"
            "2024-01-02,1001,Completed,Ann Smith,new,Mug,1,,10.00,Direct\n"
            "2024-01-03,1002,Processing,Bo Jones,new,\"Mug, Cup\",2,,20.00,Organic: Google\n"
            "2024-01-04,1003,Cancelled,Ann Smith,returning,Cup,1,,30.00,Direct\n"
            "2024-01-05,1004,Failed,Bo Jones,returning,Cup,1,,40.00,Direct\n"
            "2024-01-06,1005,On hold,Ann Smith,returning,Mug,1,,5.50,Direct\n")  # fmt: skip
    plan = _plan({"wc-orders-report-export-1704500000.csv": text.encode()})
    orders = plan.tables["orders"].sort("order_id")
    assert orders.select("order_id", "customer_id", "amount").rows() == [
        ("1001", "Ann Smith", 10.0), ("1002", "Bo Jones", 20.0), ("1005", "Ann Smith", 5.5)]
    assert set(plan.tables["customers"].get_column("customer_id")) == {"Ann Smith", "Bo Jones"}
    (left_out,) = [str(p) for p in plan.problems if "never a sale" in str(p)]
    assert "'Cancelled' or 'Failed'" in left_out and "rows 4, 5" in left_out


def test_zendesk_tickets_export_as_downloaded():
    """Zendesk's ticket export: the requester's id (not the name, which two people can share), the
    rating as Good / Bad / Offered / Unoffered, the minutes to the first reply instead of its time.
    T1 created 1 Mar 09:00, first reply after 90 min → 10:30, Good → 5
    T2 created 2 Mar 12:00, no reply yet                → none, Bad → 1
    T3 created 3 Mar 08:00, 1,440 min                   → 4 Mar 08:00, Offered → no answer
    T4 created 4 Mar 08:00, 5 min                       → 08:05, Unoffered → no answer
    CSAT = answers of 4–5 / answers = 1 / 2 = 50 %, Zendesk's own Good ÷ (Good + Bad)."""
    text = ("Id,Requester,Requester id,Requester email,Status,Priority,Via,Ticket type,Created at,Solved at,"
            "Satisfaction Score,First reply time in minutes,First reply time in minutes within business hours\n"
            "1,Ann Lee,381,ann@a.com,Solved,Normal,Mail,Question,2024-03-01 09:00,2024-03-01 15:00,Good,90,90\n"
            "2,Ann Lee,382,ann@b.com,Open,High,Web Widget,Incident,2024-03-02 12:00,,Bad,,\n"
            "3,Bo Ma,383,bo@c.com,Solved,Low,Chat,Question,2024-03-03 08:00,2024-03-05 08:00,Offered,1440,480\n"
            "4,Bo Ma,383,bo@c.com,Solved,Urgent,Mail,Problem,2024-03-04 08:00,2024-03-04 09:00,Unoffered,5,5\n")  # fmt: skip
    plan = _plan({"export-2024-03-31-0800-1234567.csv": text.encode()})
    tickets = plan.tables["tickets"].sort("ticket_id")
    assert tickets.get_column("customer_id").to_list() == ["381", "382", "383", "383"]
    assert tickets.get_column("csat").to_list() == [5, 1, None, None]
    assert tickets.get_column("first_response_at").to_list() == [
        dt.datetime(2024, 3, 1, 10, 30), None, dt.datetime(2024, 3, 4, 8), dt.datetime(2024, 3, 4, 8, 5)]
    from metrics import satisfaction

    assert satisfaction.csat(tickets).value == pytest.approx(50.0)
    text = _messages(plan)
    assert "'Bad' read as 1, 'Good' read as 5; 'Offered' and 'Unoffered' are no answer" in text
    assert "first_response_at of 3 tickets is created_at + the minutes to the first reply" in text
    assert "currency" not in text  # tickets carry no amounts: nothing to ask a currency for


def test_the_mapping_used_round_trips_as_a_file():
    files, _ = realshapes.olist_shop()
    first = _plan(files, currency="BRL")
    recipe = Recipe.from_json(json.loads(json.dumps(first.mapping_file())))
    again = _plan(files, currency="BRL", recipe=recipe)
    for table, frame in first.tables.items():
        assert again.tables[table].equals(frame), table


def test_the_shopify_mapping_round_trips_as_a_file():
    """first_row_of and difference survive JSON, and give the same tables back."""
    files, _ = realshapes.shopify_orders()
    first = _plan(files)
    data = json.loads(json.dumps(first.mapping_file()))
    spec = data["files"]["orders_export_1.csv"]
    assert spec["first_row_of"] == "Name" and spec["columns"]["amount"] == {"difference": ["Total", "Refunded Amount"]}
    again = _plan(files, recipe=Recipe.from_json(data))
    for table, frame in first.tables.items():
        assert again.tables[table].equals(frame), table


# --- the recipe language, feature by feature ---------------------------------------------------------
def test_recipe_constant_product_sum_coalesce_if_present_and_row_key():
    """Two lines of one invoice: 2 × 3.5 + 1 × 10 = 17; a third without a customer is dropped."""
    text = ("inv,cust,when,qty,price,fee,won\n"
            "A1,c1,2024-01-02,2,3.5,,x\nA1,c1,2024-01-02,1,10,1,\nA2,,2024-01-03,1,1,,\n")  # fmt: skip
    recipe = Recipe.from_json({"files": {"lines.csv": {
        "table": "orders",
        "columns": {"order_id": "inv", "customer_id": "cust", "order_date": "when",
                    "amount": {"product": ["qty", "price"]},
                    "gross_margin": {"coalesce": ["fee", {"sum": ["qty", "price"]}]},
                    "product": {"if_present": "won", "then": "flagged", "else": "plain"},
                    "channel": {"const": "web"}},
        "group_by": "order_id", "require": ["customer_id"]}}})  # fmt: skip
    plan = _plan({"lines.csv": text.encode()}, recipe=recipe, margin_rate=0.5)
    orders = plan.tables["orders"]
    assert orders.select("order_id", "customer_id", "amount").rows() == [("A1", "c1", 17.0)]
    # gross margin: first line has no fee → qty + price = 5.5; second has fee 1 → 5.5 + 1 = 6.5
    assert orders.get_column("gross_margin").to_list() == [6.5]
    assert orders.get_column("product").to_list() == ["flagged"]
    assert orders.get_column("lines").to_list() == [2]


def test_recipe_row_key_numbers_repeats():
    text = b"who,day,value\nc1,19970101,5\nc1,19970101,6\nc2,19970101,7\n"
    recipe = Recipe.from_json({"files": {"t.csv": {"table": "orders", "columns": {
        "order_id": {"row_key": ["who", "day"]}, "customer_id": "who", "order_date": "day", "amount": "value"}}}})  # fmt: skip
    orders = _plan({"t.csv": text}, recipe=recipe).tables["orders"]
    assert orders.get_column("order_id").to_list() == ["c1-19970101-1", "c1-19970101-2", "c2-19970101-1"]


def test_recipe_naming_a_missing_column_or_file_is_an_error_in_words():
    text = b"id,when,value\n1,2024-01-01,5\n"
    bad_column = Recipe.from_json({"files": {"t.csv": {"table": "orders", "columns": {
        "order_id": "id", "customer_id": "client", "order_date": "when", "amount": "value"}}}})  # fmt: skip
    plan = plan_import([SourceFile("t.csv", text)], options=ImportOptions(recipe=bad_column))
    assert not plan.ok
    assert any("t.csv" in str(p) and "'client'" in str(p) for p in plan.errors)
    missing_file = Recipe.from_json({"files": {"t.csv": {"table": "orders", "columns": {},
        "joins": [{"file": "people.csv", "on": "id", "other_on": "id"}]}}})  # fmt: skip
    plan = plan_import([SourceFile("t.csv", text)], options=ImportOptions(recipe=missing_file))
    assert [str(p) for p in plan.errors] == ["people.csv: the mapping names this file, but it was not uploaded"]


@pytest.mark.parametrize(
    "spec, words",
    [
        ({"files": []}, '"files" object'),
        ({"files": {"a.csv": {"table": "sales"}}}, "table 'sales' is not one of"),
        ({"files": {"a.csv": {"table": "orders", "colums": {}}}}, "unknown keys colums"),
        ({"files": {"a.csv": {"table": "orders", "joins": [{"file": "b"}]}}}, "a join"),
    ],
)
def test_malformed_mapping_files_are_refused_in_words(spec, words):
    with pytest.raises(ValueError, match=words):
        Recipe.from_json(spec)


# --- the command line ----------------------------------------------------------------------------------
def _write(tmp_path: Path, files: dict[str, bytes]) -> list[str]:
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    return [str(tmp_path / n) for n in files]


def test_cli_imports_cdnow_alone_and_round_trips_its_mapping(tmp_path, store, capsys):
    files, facts = realshapes.cdnow_master_like()
    paths = _write(tmp_path, files)
    mapping = tmp_path / "mapping.json"
    url = str(store.engine.url)
    assert main(["import", *paths, "--dataset", "cdnow", "--store", url, "--write-mapping", str(mapping),
                 "--currency", "USD"]) == 0  # fmt: skip
    first = store.load("cdnow")
    assert first.tables["orders"].height == facts["purchases"]
    assert first.settings.currency == "USD"
    assert main(["import", *paths, "--dataset", "again", "--store", url, "--mapping", str(mapping)]) == 0
    assert store.load("again").tables["orders"].equals(first.tables["orders"])


def test_cli_refuses_files_with_nothing_to_import_and_keeps_the_default(tmp_path, store, capsys):
    files, _ = realshapes.cdnow_master_like()
    url = str(store.engine.url)
    assert main(["import", *_write(tmp_path, files), "--dataset", "good", "--store", url]) == 0
    odd = _write(tmp_path, {"notes.csv": b"colour,size\nred,3\nblue,4\n"})
    assert main(["import", *odd, "--dataset", "empty", "--store", url]) == 1
    err = capsys.readouterr().err
    assert "nothing to import" in err and "notes.csv" in err
    assert "empty" not in [d.name for d in store.list()]
    assert store.active_name() == "good"


@pytest.mark.parametrize(
    "args, words",
    [
        (["--margin-rate", "1.5"], "--margin-rate"),
        (["--lost-after", "0"], "--lost-after"),
        (["--mapping", "/nonexistent/m.json"], "cannot be used"),
    ],
)
def test_cli_refuses_bad_options_in_words(tmp_path, store, capsys, args, words):
    paths = _write(tmp_path, realshapes.cdnow_master_like()[0])
    assert main(["import", *paths, "--dataset", "x", "--store", str(store.engine.url), *args]) == 2
    assert words in capsys.readouterr().err
    assert store.list() == []


def test_a_mapping_given_once_is_saved_for_files_of_that_shape(store):
    """The German receipt lines of the page test, mapped once by a mapping file; the next upload of
    the same shape (other rows) is mapped the same way without it."""
    recipe = Recipe.from_json({"files": {"verkauf.csv": {"table": "orders", "columns": {
        "order_id": "Beleg", "customer_id": "Kunde", "order_date": "Datum",
        "amount": {"product": ["Menge", "Preis"]}}, "group_by": "order_id"}}})  # fmt: skip
    first = b"Beleg;Kunde;Datum;Menge;Preis\nB1;K1;2024-03-01;2;5\nB1;K1;2024-03-01;1;3\n"
    plan = plan_import([SourceFile("verkauf.csv", first)], options=ImportOptions(recipe=recipe), store=store)
    commit_import(plan, store, "first")
    later = b"Beleg;Kunde;Datum;Menge;Preis\nB7;K2;2024-04-01;3;4\nB7;K2;2024-04-01;1;1\n"
    again = plan_import([SourceFile("verkauf_april.csv", later)], store=store)
    assert again.ok, [str(p) for p in again.errors]
    assert again.tables["orders"].select("order_id", "amount").rows() == [("B7", 13.0)]
    assert any("mapped as saved" in str(p) for p in again.problems)


SHAPES = {
    "order lines": (realshapes.online_retail, "orders"),
    "transactions without order ids": (realshapes.cdnow_master_like, "orders"),
    "lead list and closed deals": (realshapes.olist_funnel, "deals"),
    "relational shop export": (realshapes.olist_shop, "orders"),
    "shop orders export (a row per line item)": (realshapes.shopify_orders, "orders"),
    "card payments export": (realshapes.stripe_payments, "orders"),
}


@pytest.mark.parametrize("shape", SHAPES)
def test_each_shape_imports_from_the_command_line(shape, tmp_path, store, capsys):
    build, table = SHAPES[shape]
    files, _ = build()
    expected = _plan(files).tables[table].height
    assert main(["import", *_write(tmp_path, files), "--dataset", shape, "--store", str(store.engine.url)]) == 0
    assert f"recognised as {shape}" in capsys.readouterr().out
    assert store.load(shape).tables[table].height == expected > 0
    assert store.active_name() == shape


@pytest.mark.parametrize(
    "cells, currencies",
    [
        (["£12.50", "£3"], {"GBP"}),
        (["R$ 10,50", "R$ 3,00"], {"BRL"}),
        (["12 ﷼", "3 ﷼"], {"IRR"}),
        (["12.00 EUR", "3 eur"], {"EUR"}),
        (["$5", "$7"], {"USD"}),
        (["€5", "£7"], {"EUR", "GBP"}),
        (["5", "7"], set()),
    ],
)
def test_currency_detected_from_symbols_and_codes(cells, currencies):
    from dashboard.importer.parsing import detect_currency

    assert detect_currency(pl.Series(cells)) == currencies


def test_several_currencies_are_not_guessed_between():
    body = "order_id,customer_id,order_date,amount\nO1,C1,2024-01-05,€10\nO2,C1,2024-01-06,£20\n"
    plan = _plan({"orders.csv": body.encode()})
    assert plan.settings.currency == ""
    assert any("several currencies (EUR, GBP)" in str(p) for p in plan.warnings)


def test_a_currency_that_is_no_code_or_symbol_is_refused(tmp_path, store, capsys):
    paths = _write(tmp_path, realshapes.cdnow_master_like()[0])
    assert main(["import", *paths, "--dataset", "x", "--store", str(store.engine.url), "--currency", "[x](http://e)"]) == 1
    assert "currency is a code" in capsys.readouterr().err
    assert store.list() == []

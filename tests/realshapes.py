"""Fixtures in the shapes of public exports that are not in ../shared/realdata, written from their
published headers and quirks (deterministic, small). Each builder returns {file name: bytes} and
the facts a test can check against the raw rows, computed here independently of the importer.

- UCI Online Retail (order lines): InvoiceNo, StockCode, Description, Quantity, InvoiceDate
  (M/D/Y H:MM), UnitPrice, CustomerID written as a float ("17850.0"), Country; cancellations are
  invoices starting with "C" with negative quantities; about a quarter of lines have no customer.
- CDNOW master log (transactions without order ids): whitespace-separated text with a header line
  "customer_id date number_of_cds dollar_value", leading blanks, CRLF, dates YYYYMMDD.
- Olist marketing funnel: a lead list (mql_id, first_contact_date, landing_page_id, origin) and a
  closed-deals list (mql_id, …, won_date, business_segment, …).
- Olist e-commerce (relational, five files with quoted headers): orders, order items (price,
  freight_value), payments (several per order), reviews (review ids repeated across orders,
  comments with line breaks), customers (customer_id per order, customer_unique_id per person).
- Shopify "Export orders" (the native CSV): a row per line item; Name ("#1001"), Email, Financial
  Status, Currency, Total, Refunded Amount, Billing Country and the order's other own fields on its
  first row only; "Created at" with a UTC offset; guest orders without an email.
- Stripe payments export: a row per charge (id "ch_…"), "Created date (UTC)", Amount and Amount
  Refunded in the charge's currency (lower-case code), Converted Amount (Refunded) in the
  account's, Captured true/false, Status Paid / Failed / Refunded, Customer ID and Customer Email
  (both empty for a payment without a customer object).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import random


def _csv(rows: list[list], *, quote_all: bool = False, encoding: str = "utf-8") -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, quoting=csv.QUOTE_ALL if quote_all else csv.QUOTE_MINIMAL, lineterminator="\n")
    writer.writerows(rows)
    return out.getvalue().encode(encoding)


def online_retail(seed: int = 1) -> tuple[dict[str, bytes], dict]:
    rnd = random.Random(seed)
    header = ["InvoiceNo", "StockCode", "Description", "Quantity", "InvoiceDate", "UnitPrice",
              "CustomerID", "Country"]  # fmt: skip
    products = [("85123A", "WHITE HANGING HEART T-LIGHT HOLDER", 2.55), ("71053", "WHITE METAL LANTERN", 3.39),
                ("84406B", "CREAM CUPID HEARTS COAT HANGER", 2.75), ("22752", "SET 7 BABUSHKA NESTING BOXES", 7.65),
                ("21730", "GLASS STAR FROSTED T-LIGHT HOLDER", 4.25), ("POST", "POSTAGE", 18.0)]  # fmt: skip
    customers = {f"{12346 + i * 7}": rnd.choice(["United Kingdom", "France", "EIRE", "Germany"]) for i in range(12)}
    rows, facts = [header], {"orders": set(), "revenue": 0.0, "dropped_lines": 0, "refund_orders": set()}
    start = dt.datetime(2010, 12, 1, 8, 26)
    for n in range(60):
        invoice = str(536365 + n)
        cancel = n % 11 == 5
        if cancel:
            invoice = "C" + invoice
        when = start + dt.timedelta(days=n * 6, minutes=n * 13)
        customer = None if n % 4 == 3 else rnd.choice(list(customers))
        for _ in range(rnd.randint(1, 4)):
            code, desc, price = rnd.choice(products)
            qty = -rnd.randint(1, 6) if cancel else rnd.randint(1, 24)
            rows.append([invoice, code, desc, qty, f"{when.month}/{when.day}/{when.year} {when.hour}:{when.minute:02d}",
                         price, f"{customer}.0" if customer else "", customers.get(customer, "United Kingdom")])  # fmt: skip
            if customer:
                facts["orders"].add(invoice)
                facts["revenue"] += qty * price
                if cancel:
                    facts["refund_orders"].add(invoice)
            else:
                facts["dropped_lines"] += 1
    facts["customers"] = len({r[6] for r in rows[1:] if r[6]})
    facts["countries"] = {f"{c}": country for c, country in customers.items()}
    # The UCI file is Latin-1 (a "£" in some descriptions); keep that quirk.
    rows[3][2] = "DOORMAT £ SIGN"
    return {"OnlineRetail.csv": _csv(rows, encoding="latin-1")}, facts


def cdnow_master_like(seed: int = 2) -> tuple[dict[str, bytes], dict]:
    rnd = random.Random(seed)
    lines = [" customer_id  date number_of_cds  dollar_value"]
    facts = {"purchases": 0, "revenue": 0.0, "customers": set()}
    for cid in range(1, 41):
        day = dt.date(1997, 1, 1) + dt.timedelta(days=rnd.randint(0, 80))
        for _ in range(rnd.randint(1, 4)):
            cds, value = rnd.randint(1, 5), round(rnd.uniform(5, 80), 2)
            lines.append(f" {cid:05d} {day:%Y%m%d}  {cds}   {value:.2f}")
            facts["purchases"] += 1
            facts["revenue"] += value
            facts["customers"].add(f"{cid:05d}")
            if rnd.random() < 0.3:  # several purchases on one day, as in the real log
                continue
            day += dt.timedelta(days=rnd.randint(1, 200))
            if day > dt.date(1998, 6, 30):
                break
    return {"CDNOW_master.txt": ("\r\n".join(lines) + "\r\n").encode()}, facts


def olist_funnel(seed: int = 3) -> tuple[dict[str, bytes], dict]:
    rnd = random.Random(seed)
    leads = [["mql_id", "first_contact_date", "landing_page_id", "origin"]]
    won = [["mql_id", "seller_id", "sdr_id", "sr_id", "won_date", "business_segment", "lead_type",
            "lead_behaviour_profile", "has_company", "has_gtin", "average_stock", "business_type",
            "declared_product_catalog_size", "declared_monthly_revenue"]]  # fmt: skip
    facts = {"leads": 400, "won": 0}
    for i in range(400):
        mql = f"{rnd.getrandbits(128):032x}"
        first = dt.date(2017, 6, 14) + dt.timedelta(days=rnd.randint(0, 350))
        origin = rnd.choice(["organic_search", "paid_search", "social", "unknown", "direct_traffic", ""])
        leads.append([mql, first.isoformat(), f"{rnd.getrandbits(128):032x}", origin])
        if i % 9 == 0:
            when = dt.datetime.combine(first, dt.time(10)) + dt.timedelta(days=rnd.randint(1, 60), seconds=rnd.randint(0, 80000))
            won.append([mql, f"{rnd.getrandbits(128):032x}", f"{rnd.getrandbits(128):032x}", f"sr{rnd.randint(1, 5)}",
                        when.strftime("%Y-%m-%d %H:%M:%S"), rnd.choice(["pet", "home_decor", "car_accessories"]),
                        rnd.choice(["online_medium", "industry"]), rnd.choice(["cat", "eagle", ""]), "", "", "",
                        rnd.choice(["reseller", "manufacturer"]), "", "0"])  # fmt: skip
            facts["won"] += 1
    return {
        "olist_marketing_qualified_leads_dataset.csv": _csv(leads),
        "olist_closed_deals_dataset.csv": _csv(won),
    }, facts


def olist_shop(seed: int = 4) -> tuple[dict[str, bytes], dict]:
    rnd = random.Random(seed)
    people = [f"{rnd.getrandbits(128):032x}" for _ in range(30)]
    customers = [["customer_id", "customer_unique_id", "customer_zip_code_prefix", "customer_city", "customer_state"]]
    orders = [["order_id", "customer_id", "order_status", "order_purchase_timestamp", "order_approved_at",
               "order_delivered_carrier_date", "order_delivered_customer_date", "order_estimated_delivery_date"]]  # fmt: skip
    items = [["order_id", "order_item_id", "product_id", "seller_id", "shipping_limit_date", "price", "freight_value"]]
    payments = [["order_id", "payment_sequential", "payment_type", "payment_installments", "payment_value"]]
    reviews = [["review_id", "order_id", "review_score", "review_comment_title", "review_comment_message",
                "review_creation_date", "review_answer_timestamp"]]  # fmt: skip
    facts = {"orders": 0, "revenue": 0.0, "people": set(), "reviews": set(), "skipped": 0, "csat_4_5": set()}
    state = {p: rnd.choice(["SP", "RJ", "MG", "RS"]) for p in people}
    repeated_review = None
    for n in range(80):
        person = rnd.choice(people)
        order_id, cust_id = f"{rnd.getrandbits(128):032x}", f"{rnd.getrandbits(128):032x}"
        customers.append([cust_id, person, f"{rnd.randint(1000, 99999):05d}", "sao paulo", state[person]])
        status = "canceled" if n % 20 == 7 else rnd.choice(["delivered", "delivered", "shipped", "invoiced"])
        when = dt.datetime(2017, 1, 5, 9) + dt.timedelta(days=n * 8, minutes=n * 37)
        ts = when.strftime("%Y-%m-%d %H:%M:%S")
        orders.append([order_id, cust_id, status, ts, ts, "", "", (when + dt.timedelta(days=20)).strftime("%Y-%m-%d 00:00:00")])
        total = 0.0
        for k in range(rnd.randint(1, 3)):
            price, freight = round(rnd.uniform(10, 300), 2), round(rnd.uniform(5, 40), 2)
            items.append([order_id, k + 1, f"p{rnd.randint(1, 50)}", "s1", ts, f"{price:.2f}", f"{freight:.2f}"])
            total += price + freight
        # payments split the total: a voucher and a card, as Olist records them
        voucher = round(min(total, 20.0), 2) if n % 5 == 0 else 0.0
        if voucher:
            payments.append([order_id, 2, "voucher", 1, f"{voucher:.2f}"])
        payments.append([order_id, 1, "credit_card", rnd.randint(1, 8), f"{total - voucher:.2f}"])
        if status == "canceled":
            facts["skipped"] += 1
        else:
            facts["orders"] += 1
            facts["revenue"] += round(total - voucher, 2) + voucher
            facts["people"].add(person)
        if n % 3 != 2:
            review_id = f"{rnd.getrandbits(128):032x}"
            if n == 10:
                repeated_review = review_id
            if n == 13 and repeated_review:  # Olist repeats a review id across orders
                review_id = repeated_review
            score = rnd.randint(1, 5)
            comment = "Chegou antes do prazo.\nRecomendo!" if score >= 4 else ""
            reviews.append([review_id, order_id, score, "", comment, when.strftime("%Y-%m-%d 00:00:00"), ts])
            if review_id not in facts["reviews"]:
                facts["reviews"].add(review_id)
                if score >= 4:
                    facts["csat_4_5"].add(review_id)
    return {
        "olist_customers_dataset.csv": _csv(customers, quote_all=True),
        "olist_orders_dataset.csv": _csv(orders, quote_all=True),
        "olist_order_items_dataset.csv": _csv(items, quote_all=True),
        "olist_order_payments_dataset.csv": _csv(payments, quote_all=True),
        "olist_order_reviews_dataset.csv": _csv(reviews, quote_all=True),
    }, facts


def online_retail_xlsx(seed: int = 1) -> tuple[dict[str, bytes], dict]:
    """The same lines as the UCI original is published: an .xlsx with numeric invoice numbers
    (text for cancellations), real date cells and CustomerID as a number."""
    import xlsxwriter

    files, facts = online_retail(seed)
    rows = list(csv.reader(io.StringIO(files["OnlineRetail.csv"].decode("latin-1"))))
    buf = io.BytesIO()
    with xlsxwriter.Workbook(buf) as wb:
        ws = wb.add_worksheet("Online Retail")
        when = wb.add_format({"num_format": "m/d/yy h:mm"})
        ws.write_row(0, 0, rows[0])
        for i, r in enumerate(rows[1:], start=1):
            ws.write(i, 0, int(r[0]) if r[0].isdigit() else r[0])
            ws.write_row(i, 1, r[1:3])
            ws.write_number(i, 3, int(r[3]))
            ws.write_datetime(i, 4, dt.datetime.strptime(r[4], "%m/%d/%Y %H:%M"), when)
            ws.write_number(i, 5, float(r[5]))
            if r[6]:
                ws.write_number(i, 6, float(r[6]))
            ws.write(i, 7, r[7])
    return {"Online Retail.xlsx": buf.getvalue()}, facts


SHOPIFY_HEADER = (
    "Name,Email,Financial Status,Paid at,Fulfillment Status,Fulfilled at,Accepts Marketing,Currency,Subtotal,Shipping,"
    "Taxes,Total,Discount Code,Discount Amount,Shipping Method,Created at,Lineitem quantity,Lineitem name,Lineitem price,"
    "Lineitem compare at price,Lineitem sku,Lineitem requires shipping,Lineitem taxable,Lineitem fulfillment status,"
    "Billing Name,Billing Street,Billing Address1,Billing Address2,Billing Company,Billing City,Billing Zip,"
    "Billing Province,Billing Country,Billing Phone,Shipping Name,Shipping Street,Shipping Address1,Shipping Address2,"
    "Shipping Company,Shipping City,Shipping Zip,Shipping Province,Shipping Country,Shipping Phone,Notes,"
    "Note Attributes,Cancelled at,Payment Method,Payment Reference,Refunded Amount,Vendor,Outstanding Balance,"
    "Employee,Location,Device ID,Id,Tags,Risk Level,Source,Lineitem discount,Tax 1 Name,Tax 1 Value,Tax 2 Name,"
    "Tax 2 Value,Tax 3 Name,Tax 3 Value,Tax 4 Name,Tax 4 Value,Tax 5 Name,Tax 5 Value,Phone,Receipt Number,Duties,"
    "Billing Province Name,Shipping Province Name,Payment ID,Payment Terms Name,Next Payment Due At,Payment References"
).split(",")


def shopify_orders(seed: int = 8, n: int = 240) -> tuple[dict[str, bytes], dict]:
    rnd = random.Random(seed)
    buyers = {f"buyer{i}@example.com": rnd.choice(["FR", "BE", "DE", "NL"]) for i in range(60)}
    rows = [SHOPIFY_HEADER]
    facts = {"orders": set(), "revenue": 0.0, "customers": set(), "guests": 0, "not_paid": 0, "lines": 0,
             "countries": buyers, "amounts": {}}  # fmt: skip
    start = dt.datetime(2024, 1, 3, 9, 0)
    for k in range(n):
        name = f"#{1001 + k}"
        created = start + dt.timedelta(hours=k * 14 + rnd.randint(0, 10), minutes=rnd.randint(0, 59))
        email = rnd.choice(list(buyers)) if k % 13 != 6 else ""  # a guest at the till leaves no email
        items = [(rnd.randint(1, 3), f"Product {rnd.randint(1, 40)}", rnd.choice([9.90, 14.50, 34.90, 59.00]))
                 for _ in range(rnd.randint(1, 4))]  # fmt: skip
        subtotal = round(sum(q * p for q, _, p in items), 2)
        taxes = round(subtotal * 0.2, 2)
        total = round(subtotal + 4.90 + taxes, 2)
        status = rnd.choices(["paid", "refunded", "partially_refunded", "pending", "voided"], [80, 6, 6, 4, 4])[0]
        refunded = {"refunded": total, "partially_refunded": round(total / 4, 2)}.get(status, 0.0)
        stamp = f"{created:%Y-%m-%d %H:%M:%S} +0100"
        for j, (qty, product, price) in enumerate(items):
            row = dict.fromkeys(SHOPIFY_HEADER, "")
            row |= {"Name": name, "Email": email, "Created at": stamp, "Lineitem quantity": qty, "Lineitem name": product,
                    "Lineitem price": f"{price:.2f}", "Lineitem requires shipping": "true", "Lineitem taxable": "true",
                    "Lineitem fulfillment status": "fulfilled", "Lineitem discount": "0.00"}  # fmt: skip
            if j == 0:  # the order's own fields, on its first row only
                row |= {"Financial Status": status, "Paid at": stamp if status != "pending" else "",
                        "Fulfillment Status": "fulfilled", "Accepts Marketing": "yes", "Currency": "EUR",
                        "Subtotal": f"{subtotal:.2f}", "Shipping": "4.90", "Taxes": f"{taxes:.2f}", "Total": f"{total:.2f}",
                        "Discount Amount": "0.00", "Billing Country": buyers.get(email, "FR"),
                        "Cancelled at": stamp if status == "voided" else "", "Payment Method": "Shopify Payments",
                        "Refunded Amount": f"{refunded:.2f}", "Outstanding Balance": "0.00", "Id": str(5400000000000 + k),
                        "Risk Level": "Low", "Source": rnd.choice(["web", "pos"]), "Tax 1 Name": "TVA 20%",
                        "Tax 1 Value": f"{taxes:.2f}"}  # fmt: skip
            rows.append([row[h] for h in SHOPIFY_HEADER])
            facts["lines"] += 1
        if status in ("refunded", "voided"):
            facts["not_paid"] += 1
        elif not email:
            facts["guests"] += 1
        else:
            facts["orders"].add(name)
            facts["customers"].add(email)
            facts["revenue"] += total - refunded
            facts["amounts"][name] = round(total - refunded, 2)
    return {"orders_export_1.csv": _csv(rows)}, facts


def shopify_customers(orders_facts: dict) -> tuple[dict[str, bytes], dict]:
    """Shopify's customers export beside its orders: "Customer ID" written with a leading
    apostrophe (so that Excel keeps it as text), the email, the default address's country code;
    the shop's buyers, 10 people who never ordered, and one without an email (a till customer)."""
    header = ["Customer ID", "First Name", "Last Name", "Email", "Accepts Email Marketing", "Default Address Company",
              "Default Address City", "Default Address Country Code", "Phone", "Total Spent", "Total Orders", "Tags"]  # fmt: skip
    people = dict(orders_facts["countries"]) | {f"subscriber{i}@example.com": "FR" for i in range(10)}
    rows = [header] + [[f"'{7000000000 + i}", f"First{i}", f"Last{i}", email, "yes", "", "Paris", country, "", "0.00", 0, ""]
                       for i, (email, country) in enumerate(people.items())]  # fmt: skip
    rows.append(["'7999999999", "Till", "Customer", "", "no", "", "", "FR", "+33 1 00 00 00 00", "0.00", 0, ""])
    return {"customers_export.csv": _csv(rows)}, {"customers": set(people), "countries": people}


STRIPE_HEADER = ("id,Created date (UTC),Amount,Amount Refunded,Currency,Captured,Converted Amount,"
                 "Converted Amount Refunded,Converted Currency,Decline Reason,Description,Fee,Refunded date (UTC),"
                 "Statement Descriptor,Status,Seller Message,Taxes On Fee,Card ID,Customer ID,Customer Description,"
                 "Customer Email,Invoice ID,Transfer").split(",")  # fmt: skip


def stripe_payments(seed: int = 9, n: int = 300) -> tuple[dict[str, bytes], dict]:
    rnd = random.Random(seed)
    rows = [STRIPE_HEADER]
    facts = {"orders": set(), "revenue": 0.0, "customers": set(), "no_customer": 0, "not_charged": 0}
    when = dt.datetime(2024, 1, 2, 8)
    for i in range(n):
        when += dt.timedelta(minutes=rnd.randint(60, 900))
        customer = f"cus_{rnd.randint(1, 50):014d}" if i % 17 != 3 else ""
        price, currency = rnd.choice([(9.0, "usd"), (29.0, "usd"), (25.0, "eur")])
        converted = price if currency == "usd" else round(price * 1.08, 2)  # the account settles in USD
        status = "Failed" if i % 19 == 4 else rnd.choices(["Paid", "Refunded", "Partial"], [90, 5, 5])[0]
        share = {"Refunded": 1.0, "Partial": 0.5}.get(status, 0.0)
        status = "Paid" if status == "Partial" else status
        charge = f"ch_3Ox{i:016x}"
        rows.append([charge, f"{when:%Y-%m-%d %H:%M:%S}", f"{price:.2f}", f"{price * share:.2f}", currency,
                     "false" if status == "Failed" else "true", f"{converted:.2f}", f"{converted * share:.2f}", "usd",
                     "card_declined" if status == "Failed" else "", "Subscription update", f"{converted * 0.029 + 0.3:.2f}",
                     f"{when + dt.timedelta(days=2):%Y-%m-%d %H:%M:%S}" if share else "", "ACME", status, "", "0.00",
                     f"card_{i}", customer, "", f"{customer[-4:]}@example.com" if customer else "", f"in_{i}", ""])  # fmt: skip
        if status in ("Failed", "Refunded"):
            facts["not_charged"] += 1
        elif not customer:
            facts["no_customer"] += 1
        else:
            facts["orders"].add(charge)
            facts["customers"].add(customer)
            facts["revenue"] += converted * (1 - share)
    return {"unified_payments.csv": _csv(rows)}, facts

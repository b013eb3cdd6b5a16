"""Export shapes recognised by their headers, each turned into a recipe (see recipes.py).

The plain importer maps one file to one table, header by header. Real exports are often shaped
otherwise; these are recognised here, and the recipe each writes is shown to the user (and can be
downloaded, changed and given back as a mapping file):
- order lines: one row per product line of an invoice (quantity × unit price), cancellations as
  negative lines, lines without a customer (UCI Online Retail, most shop systems);
- transactions without an order id: customer, date and value only (the CDNOW log);
- a lead list plus a closed-deals list joined by the lead id (the Olist marketing funnel);
- a relational shop export: orders, customers with an id per order and an id per person, payments,
  order items and reviews (Olist e-commerce);
- a shop's orders export with a row per line item, the order's own fields (total, payment status,
  refunded amount) on its first row only (Shopify's "Export orders"), with the shop's customers
  export beside it when given;
- a card-payments export: a row per charge, captured or not, with the amount refunded and the
  amount converted to the account's currency (Stripe's payments export).
"""

from __future__ import annotations

from dashboard.importer.mapping import find_header, guess_mapping, normalise
from dashboard.importer.reading import RawFile
from dashboard.importer.recipes import FileRecipe, Join, Recipe
from dashboard.importer.vocabulary import CURRENCY_HEADERS, NOT_A_SALE, ORDER_STATUS_HEADERS

QUANTITY = ("quantity", "qty", "units", "number of items", "number of cds", "quantity ordered")
UNIT_PRICE = ("unit price", "unitprice", "price each", "price per unit", "item price", "price")
LINE_ORDER_ID = ("invoice no", "invoice", "invoice number", "invoice id", "order id", "order number")
LEAD_ID = ("mql id", "lead id", "leadid")
LEAD_DATE = ("first contact date", "first contact", "lead date", "created date", "create date")
WON_DATE = ("won date", "won at", "won on", "date won", "closed won date")
LEAD_SOURCE = ("origin", "lead source", "source", "channel")
PERSON_ID = ("customer unique id", "person id", "unique customer id", "customer uid")
REVIEW_SCORE = ("review score", "rating", "score", "stars")
REVIEW_ID = ("review id", "response id", "feedback id")
PAYMENT_VALUE = ("payment value", "amount paid", "payment amount")
ITEM_PRICE = ("price", "item price")
FREIGHT = ("freight value", "shipping", "freight", "shipping cost")
PURCHASE_DATE = ("order purchase timestamp", "order date", "purchase date", "created at")
REGION = ("country", "region", "state", "customer state")
LINE_ITEM = ("lineitem quantity", "lineitem name", "lineitem price")
PAYMENT_STATUS = ("financial status", "payment status")
SHOP_ORDER_KEY = ("name", "order id", "order number")
SHOP_CUSTOMER = ("email", "customer email")
REFUNDED = ("refunded amount", "amount refunded")
SHOP_PEOPLE = ("total spent", "accepts email marketing", "accepts marketing")  # a shop's customers export
#: A shop order with one of these payment statuses was not bought: never a sale (voided,
#: expired…), or refunded in full (Shopify's "refunded": its total less its refund is nothing).
NOT_PAID = [*NOT_A_SALE, "refunded"]
#: A charge with one of these statuses brought no money: it failed, or was refunded in full.
NOT_CHARGED = ["failed", "refunded"]
#: Open leads not won within this many days of their first contact count as lost (changeable).
LEAD_LOST_AFTER_DAYS = 90


def _find(raw: RawFile, names: tuple[str, ...]) -> str | None:
    """The file's header for the first of `names` it has (normalised comparison)."""
    return find_header(raw.columns, names)


def recognise(raws: list[RawFile]) -> Recipe | None:
    """A recipe for the files when they have one of the shapes above, else None."""
    for rule in (_shop_orders, _card_payments, _relational_shop, _leads, _order_lines, _transactions_without_ids):
        recipe = rule(raws)
        if recipe is not None:
            return recipe
    return None


def _shop_orders(raws: list[RawFile]) -> Recipe | None:
    """Orders from the first row of each: its total less what was refunded, by the customer's
    email (guest orders without one are left out, counted); orders not paid are left out."""
    files = {}
    for raw in raws:
        status, key = _find(raw, PAYMENT_STATUS), _find(raw, SHOP_ORDER_KEY)
        total, created = _find(raw, ("total",)), _find(raw, ("created at", "order date"))
        email = _find(raw, SHOP_CUSTOMER)
        if not (_find(raw, LINE_ITEM) and status and key and total and created and email):
            continue
        refunded = _find(raw, REFUNDED)
        columns = {
            "order_id": key,
            "customer_id": email,
            "order_date": created,
            "amount": {"difference": [total, refunded]} if refunded else total,
        }
        if currency := _find(raw, CURRENCY_HEADERS):
            columns["currency"] = currency
        region = _find(raw, ("billing country", "shipping country"))
        files[raw.name] = FileRecipe(
            "orders",
            columns,
            first_row_of=key,
            require=["customer_id"],
            skip_values={status: NOT_PAID},
            customers={"region": region} if region else {},
            keep_extra=False,  # addresses and phone numbers stay out of the store
        )
    if not files:
        return None
    # The shop's customers export beside it: its people, by the email the orders name them by
    # (its own "Customer ID" appears in no order), instead of customers derived from the orders.
    people = next((r for r in raws if r.name not in files and _find(r, SHOP_CUSTOMER) and _find(r, SHOP_PEOPLE)), None)
    if people is not None:
        for recipe in files.values():
            recipe.customers = None
        columns = {"customer_id": _find(people, SHOP_CUSTOMER)}
        if region := _find(people, ("default address country code", "country code", "country")):
            columns["region"] = region
        files[people.name] = FileRecipe("customers", columns, require=["customer_id"], unique="customer_id",
                                        keep_extra=False)  # fmt: skip
    return Recipe(files, "shop orders export (a row per line item)" + (" and its customers" if people else ""))


def _card_payments(raws: list[RawFile]) -> Recipe | None:
    """Each charge captured and not refunded in full is an order worth its amount less what was
    refunded, in the account's currency where the export converts it; charges without a customer
    are left out, counted."""
    files = {}
    for raw in raws:
        charge, captured = _find(raw, ("id", "charge id")), _find(raw, ("captured",))
        created = _find(raw, ("created date", "created"))
        customer = [h for h in (_find(raw, ("customer id",)), _find(raw, SHOP_CUSTOMER)) if h]
        converted = _find(raw, ("converted amount",))
        amount, refunded, currency = (
            (converted, _find(raw, ("converted amount refunded",)), _find(raw, ("converted currency",)))
            if converted else (_find(raw, ("amount",)), _find(raw, ("amount refunded",)), _find(raw, ("currency",)))
        )  # fmt: skip
        if not (charge and captured and created and customer and amount and refunded):
            continue
        columns = {
            "order_id": charge,
            "customer_id": customer[0] if len(customer) == 1 else {"coalesce": customer},
            "order_date": created,
            "amount": {"difference": [amount, refunded]},
        }
        if currency:
            columns["currency"] = currency
        skip = {captured: ["false"]}
        if status := _find(raw, ("status",)):
            skip[status] = NOT_CHARGED
        files[raw.name] = FileRecipe("orders", columns, require=["customer_id"], skip_values=skip,
                                     customers={}, keep_extra=False)  # fmt: skip
    return Recipe(files, "card payments export") if files else None


def _order_lines(raws: list[RawFile]) -> Recipe | None:
    files = {}
    for raw in raws:
        qty, price = _find(raw, QUANTITY), _find(raw, UNIT_PRICE)
        invoice = _find(raw, LINE_ORDER_ID)
        mapping = guess_mapping("orders", raw.columns)
        if not (qty and price and invoice and "customer_id" in mapping and "order_date" in mapping):
            continue
        if qty == price:
            continue
        columns = {
            "order_id": invoice,
            "customer_id": mapping["customer_id"],
            "order_date": mapping["order_date"],
            "amount": {"product": [qty, price]},
        }
        region = _find(raw, REGION)
        files[raw.name] = FileRecipe(
            "orders",
            columns,
            group_by="order_id",
            require=["customer_id"],
            customers={"region": region} if region else {},
        )
    return Recipe(files, "order lines") if files else None


def _transactions_without_ids(raws: list[RawFile]) -> Recipe | None:
    files = {}
    for raw in raws:
        mapping = guess_mapping("orders", raw.columns)
        if "order_id" in mapping or not {"customer_id", "order_date", "amount"} <= set(mapping):
            continue
        if _find(raw, LINE_ORDER_ID) or normalise(mapping["customer_id"]) not in (
            "customer id",
            "customerid",
            "customer",
            "client id",
        ):
            continue
        columns = {c: mapping[c] for c in ("customer_id", "order_date", "amount")}
        columns["order_id"] = {"row_key": [mapping["customer_id"], mapping["order_date"]]}
        files[raw.name] = FileRecipe("orders", columns, customers={})
    return Recipe(files, "transactions without order ids") if files else None


def _leads(raws: list[RawFile]) -> Recipe | None:
    leads = [r for r in raws if _find(r, LEAD_ID) and _find(r, LEAD_DATE) and not _find(r, WON_DATE)]
    if len(leads) != 1:
        return None
    lead = leads[0]
    lead_id = _find(lead, LEAD_ID)
    won = next(
        (r for r in raws if r is not lead and _find(r, WON_DATE) and lead_id in r.columns), None
    )
    columns = {"deal_id": lead_id, "created_date": _find(lead, LEAD_DATE)}
    if source := _find(lead, LEAD_SOURCE):
        columns["source"] = source
    joins = []
    if won is not None:
        won_date = _find(won, WON_DATE)
        joins.append(Join(won.name, lead_id, lead_id))
        columns |= {
            "stage": {"if_present": won_date, "then": "Won", "else": "Lead"},
            "status": {"if_present": won_date, "then": "won", "else": "open"},
            "closed_date": won_date,
        }
        rep = next((h for h in ("sr_id", "sales_rep", "owner", "sdr_id") if h in won.columns), None)
        if rep:
            columns["owner"] = rep
        segment = next((h for h in ("business_segment", "segment") if h in won.columns), None)
        if segment:
            columns["segment"] = segment
    else:
        columns |= {"stage": {"const": "Lead"}, "status": {"const": "open"}}
    return Recipe(
        {lead.name: FileRecipe("deals", columns, joins=joins, unique="deal_id")},
        "lead list" + (" and closed deals" if won is not None else ""),
        open_lost_after_days=LEAD_LOST_AFTER_DAYS,
    )


def _relational_shop(raws: list[RawFile]) -> Recipe | None:
    people = next((r for r in raws if _find(r, PERSON_ID) and "customer_id" in _ids(r)), None)
    orders = next(
        (r for r in raws if {"order_id", "customer_id"} <= _ids(r) and _find(r, PURCHASE_DATE)),
        None,
    )
    if people is None or orders is None:
        return None
    person = _find(people, PERSON_ID)
    cust_key, order_key = _header(people, "customer_id"), _header(orders, "order_id")
    order_cust = _header(orders, "customer_id")
    files: dict[str, FileRecipe] = {}
    joins = [Join(people.name, order_cust, cust_key, [person])]
    amount_sources: list = []
    payments = next((r for r in raws if _find(r, PAYMENT_VALUE) and "order_id" in _ids(r)), None)
    if payments is not None:
        pay = _find(payments, PAYMENT_VALUE)
        joins.append(Join(payments.name, order_key, _header(payments, "order_id"), [pay], "sum"))
        amount_sources.append(pay)
    items = next(
        (
            r
            for r in raws
            if r not in (orders, payments) and _find(r, ITEM_PRICE) and "order_id" in _ids(r)
        ),
        None,
    )
    if items is not None:
        price, freight = _find(items, ITEM_PRICE), _find(items, FREIGHT)
        take = [price] + ([freight] if freight else [])
        joins.append(Join(items.name, order_key, _header(items, "order_id"), take, "sum"))
        amount_sources.append({"sum": [price, freight]} if freight else price)
    if not amount_sources:
        return None
    amount = amount_sources[0] if len(amount_sources) == 1 else {"coalesce": amount_sources}
    status = _find(orders, ORDER_STATUS_HEADERS)
    files[orders.name] = FileRecipe(
        "orders",
        {
            "order_id": order_key,
            "customer_id": person,
            "order_date": _find(orders, PURCHASE_DATE),
            "amount": amount,
        },
        joins=joins,
        skip_values={status: list(NOT_A_SALE)} if status else {},
    )
    region = _find(people, REGION)
    files[people.name] = FileRecipe(
        "customers",
        {"customer_id": person} | ({"region": region} if region else {}),
        group_by="customer_id",
    )
    reviews = next((r for r in raws if _find(r, REVIEW_SCORE) and _find(r, REVIEW_ID)), None)
    if reviews is not None and "order_id" in _ids(reviews):
        columns = {
            "response_id": _find(reviews, REVIEW_ID),
            "customer_id": person,
            "responded_at": _find(reviews, ("review creation date", "review date", "created at"))
            or _find(reviews, ("review answer timestamp",)),
            "csat": _find(reviews, REVIEW_SCORE),
        }
        if comment := _find(reviews, ("review comment message", "comment", "review text")):
            columns["comment"] = comment
        files[reviews.name] = FileRecipe(
            "surveys",
            columns,
            joins=[
                Join(orders.name, _header(reviews, "order_id"), order_key, [order_cust]),
                Join(people.name, order_cust, cust_key, [person]),
            ],
            unique="response_id",
        )
    return Recipe(files, "relational shop export")


def _ids(raw: RawFile) -> set[str]:
    return {normalise(h).replace(" ", "_") for h in raw.columns} & {"order_id", "customer_id"}


def _header(raw: RawFile, canonical: str) -> str:
    return next(h for h in raw.columns if normalise(h).replace(" ", "_") == canonical)

"""The words the importer knows: header synonyms per canonical column (with the default export
headers of HubSpot, Salesforce, Pipedrive and Zoho), file-name hints, funnel stage names with
their rank, and the words for won and lost. Data, kept apart from the logic that uses it."""

from __future__ import annotations

import re

# Pseudo-columns the importer understands besides the canonical ones: they are turned into
# canonical data (a churn flag and tenure into churn_date and signup_date for snapshot exports;
# a helpdesk's minutes to the first reply into first_response_at).
DERIVED = {
    "customers": {"churned": "yes/no churn flag", "tenure_months": "months as a customer"},
    "tickets": {"first_response_minutes": "minutes from creation to the first reply"},
}

# Satisfaction ratings written as words (Zendesk: Good / Bad, and Offered / Unoffered for a
# ticket whose requester did not answer) on the 1–5 scale: a good rating counts as satisfied (5),
# a bad one as not (1), so CSAT is the share rated good, as the helpdesk reports it.
RATING_WORDS = {"good": 5, "bad": 1, "satisfied": 5, "very satisfied": 5, "unsatisfied": 1, "dissatisfied": 1,
                "very dissatisfied": 1}  # fmt: skip
NO_RATING_WORDS = ("offered", "unoffered", "not offered", "not_offered")


# A column naming each row's currency (Shopify's orders, Salesforce's multi-currency reports).
CURRENCY_HEADERS = ("currency", "currency code", "currency iso code", "opportunity currency",
                    "deal currency code", "order currency")  # fmt: skip

# An order's status column, and the statuses (lower case) of an order that was never a sale:
# cancelled, failed, never paid, voided, declined, expired, a draft or deleted. A refunded order
# is not among them: it was a sale, and its amount says how much of it stands.
ORDER_STATUS_HEADERS = ("order status", "status", "financial status", "payment status")
NOT_A_SALE = ("cancelled", "canceled", "failed", "pending payment", "voided", "declined", "expired",
              "draft", "trash", "unavailable", "abandoned")  # fmt: skip

SYNONYMS: dict[str, dict[str, list[str]]] = {
    "customers": {
        "customer_id": [
            "customer id",
            "customerid",
            "customer",
            "client id",
            "account id",
            "account",
            "contact id",
            "company id",
            "record id",
            "id",
            "account name",
            "company name",
            "company",
            "organization",
            "organisation",
        ],
        "name": [
            "name",
            "customer name",
            "full name",
            "contact name",
            "account name",
            "company name",
            "company",
            "organization name",
        ],
        "tier": [
            "tier",
            "customer tier",
            "level",
            "loyalty tier",
            "membership",
            "plan tier",
            "account tier",
            "customer level",
            "rating",
            "account rating",
        ],
        "segment": [
            "segment",
            "industry",
            "sector",
            "market segment",
            "customer segment",
            "vertical",
        ],
        "region": [
            "region",
            "country",
            "territory",
            "office location",
            "billing country",
            "country region",
            "state",
            "location",
            "geo",
        ],
        "acquisition_channel": [
            "acquisition channel",
            "channel",
            "lead source",
            "source",
            "original source",
            "original traffic source",
            "utm source",
        ],
        "signup_date": [
            "signup date",
            "sign up date",
            "created date",
            "create date",
            "created time",
            "customer since",
            "start date",
            "join date",
            "became a customer date",
            "first purchase date",
            "account created",
        ],
        "acquisition_cost": ["acquisition cost", "cac", "cost of acquisition", "cost"],
        "churn_date": [
            "churn date",
            "churned date",
            "end date",
            "cancellation date",
            "cancelled date",
            "contract end date",
            "closed date",
        ],
        "churned": ["churn", "churned", "is churned", "exited", "attrition", "cancelled"],
        "tenure_months": ["tenure", "tenure months", "months as customer", "customer tenure"],
    },
    "orders": {
        "order_id": [
            "order id",
            "orderid",
            "order number",
            "order",  # WooCommerce's "Order #"
            "invoice id",
            "invoice number",
            "invoice no",
            "transaction id",
            "invoice",
            "id",
            "record id",
        ],
        "customer_id": [
            "customer id",
            "customerid",
            "customer",
            "client id",
            "account id",
            "contact id",
            "account name",
            "customer name",
        ],
        "order_date": [
            "order date",
            "date",
            "invoice date",
            "transaction date",
            "purchase date",
            "created at",
            "created date",
            "order time",
            "invoicedate",
        ],
        "amount": [
            "amount",
            "total",
            "revenue",
            "order total",
            "sales",
            "value",
            "total amount",
            "net amount",
            "price",
            "order value",
            "grand total",
            "dollar value",
            "purchase amount",
            "spend",
            "net sales",
            "total sales",
        ],
        "gross_margin": ["gross margin", "margin", "profit", "gross profit"],
        "product": ["product", "product name", "item", "sku", "description", "stockcode"],
    },
    "deals": {
        "deal_id": [
            "deal id",
            "opportunity id",
            "opportunity",
            "record id",
            "id",
            "deal",
            "deal - id",
            "opportunity number",
        ],
        "customer_id": [
            "account",
            "account name",
            "company",
            "company name",
            "customer id",
            "customer",
            "organization",
            "deal - organization",
            "associated company",
            "account id",
            "organization name",
            "potential customer",  # Dynamics 365
        ],
        "created_date": [
            "created date",
            "create date",
            "created time",
            "created at",
            "deal created",
            "deal - deal created",
            "creation date",
            "created on",
        ],
        "stage": [
            "stage",
            "deal stage",
            "dealstage",
            "opportunity stage",
            "pipeline stage",
            "deal - stage",
            "sales stage",
            "pipeline phase",  # Dynamics 365: "1-Qualify", "2-Develop", …
        ],
        "status": ["status", "deal status", "deal - status", "outcome", "won lost", "result"],
        "closed_date": [
            "close date",
            "closed date",
            "closing date",
            "close time",
            "closed at",
            "deal - close date",
            "deal closed on",  # Pipedrive's "Deal - Deal closed on", won or lost: before its "Won time"
            "closed on",
            "won time",
            "actual close date",
        ],
        "amount": [
            "amount",
            "deal value",
            "value",
            "close value",
            "deal amount",
            "opportunity amount",
            "deal - value",
            "expected revenue",
            "revenue",
            "est revenue",  # Dynamics 365's "Est. Revenue"
            "estimated revenue",
        ],
        "owner": [
            "owner",
            "deal owner",
            "opportunity owner",
            "sales agent",
            "sales rep",
            "salesperson",
            "assigned to",
            "deal - owner",
            "hubspot owner",
            "rep",
        ],
        "source": ["lead source", "source", "deal source", "original source", "origin"],
        "tier": ["tier", "customer tier"],
        "segment": ["segment", "industry", "sector"],
        "region": ["region", "territory", "regional office", "country"],
    },
    "stage_history": {
        "deal_id": ["deal id", "opportunity id", "deal", "opportunity"],
        "stage": ["stage", "to stage", "new stage", "stage name", "deal stage"],
        "entered_at": [
            "entered at",
            "entered",
            "date entered",
            "changed at",
            "stage date",
            "timestamp",
            "date",
            "created date",
        ],
    },
    "tickets": {
        "ticket_id": ["ticket id", "case id", "case number", "ticket number", "id", "record id"],
        "customer_id": [
            "customer id",
            "customer",
            "account",
            "account name",
            "contact id",
            "requester id",
            "requester",
            "company",
            "associated company",
        ],
        "created_at": [
            "created at",
            "create date",
            "created date",
            "opened",
            "date opened",
            "created time",
            "opened date",
        ],
        "first_response_at": [
            "first response at",
            "first response",
            "first reply at",
            "first response date",
            "first agent reply date",
        ],
        "resolved_at": [
            "resolved at",
            "closed date",
            "close date",
            "resolved",
            "date closed",
            "solved at",
            "resolution date",
        ],
        "channel": ["channel", "source", "case origin", "origin", "via"],
        "category": ["category", "type", "case type", "ticket type", "reason", "case reason"],
        "priority": ["priority", "ticket priority", "case priority", "urgency"],
        "csat": ["csat", "satisfaction", "satisfaction rating", "satisfaction score", "csat score", "rating"],
        "first_response_minutes": ["first reply time in minutes", "first response time in minutes"],
    },
    "surveys": {
        "response_id": ["response id", "survey id", "id", "submission id", "record id"],
        "customer_id": ["customer id", "customer", "account", "contact id", "respondent", "email"],
        "responded_at": [
            "responded at",
            "response date",
            "submitted at",
            "date",
            "created at",
            "submission date",
            "timestamp",
        ],
        "nps": [
            "nps",
            "nps score",
            "likelihood to recommend",
            "recommend",
            "score",
            "how likely are you to recommend us",
        ],
        "csat": ["csat", "satisfaction", "csat score", "satisfaction score"],
        "ces": ["ces", "effort", "customer effort", "ces score", "effort score"],
        "comment": ["comment", "comments", "feedback", "verbatim", "text", "reason"],
    },
    "interactions": {
        "interaction_id": [
            "interaction id",
            "activity id",
            "engagement id",
            "id",
            "record id",
            "task id",
            "call id",
        ],
        "customer_id": [
            "customer id",
            "customer",
            "account",
            "account name",
            "contact id",
            "company",
            "associated company",
            "related to",
        ],
        "occurred_at": [
            "occurred at",
            "date",
            "activity date",
            "timestamp",
            "created at",
            "activity date time",
            "due date",
            "start time",
        ],
        "channel": ["channel", "type", "activity type", "engagement type", "medium"],
        "direction": ["direction", "call direction", "inbound outbound"],
        "owner": ["owner", "assigned to", "activity owner", "user", "rep"],
    },
}


# Persian headers, as Iranian shop and accounting systems export them (after the English ones).
PERSIAN_SYNONYMS = {
    "customers": {"customer_id": ["کد مشتری", "شناسه مشتری", "مشتری"], "name": ["نام مشتری", "نام"],
                  "tier": ["سطح مشتری", "سطح"], "region": ["منطقه", "استان"]},
    "orders": {"order_id": ["شماره سفارش", "کد سفارش", "شماره فاکتور"], "customer_id": ["کد مشتری", "شناسه مشتری", "مشتری"],
               "order_date": ["تاریخ سفارش", "تاریخ فاکتور", "تاریخ"], "amount": ["مبلغ کل", "جمع کل", "مبلغ"]},
}  # fmt: skip
for _table, _columns in PERSIAN_SYNONYMS.items():
    for _column, _words in _columns.items():
        SYNONYMS[_table][_column] = SYNONYMS[_table].get(_column, []) + _words

FILENAME_HINTS: dict[str, list[str]] = {
    "customers": ["customer", "account", "compan", "contact", "client", "churn", "member", "مشتری"],
    "orders": ["order", "transaction", "invoice", "purchase", "sales_data", "payments", "سفارش", "فاکتور"],
    "deals": ["deal", "opportunit", "pipeline", "lead"],
    "stage_history": ["stage_history", "stagehistory", "history", "stage_changes"],
    "tickets": ["ticket", "case", "support", "helpdesk"],
    "surveys": ["survey", "nps", "feedback", "csat", "responses"],
    "interactions": ["interaction", "activit", "engagement", "calls", "emails", "meetings"],
}


# Common funnel vocabulary with a rank: stage order for exports whose stages are not the default.
STAGE_RANKS: dict[str, float] = {
    "lead": 0,
    "new": 0,
    "subscriber": 0,
    "prospect": 0.5,
    "prospecting": 0.5,
    "appointment scheduled": 1,
    "contacted": 1.5,
    "engaging": 2,
    "engaged": 2,
    "qualification": 2,
    "qualified": 2,
    "qualified to buy": 2,
    "discovery": 2.5,
    "needs analysis": 3,
    "value proposition": 3.2,
    "id decision makers": 3.4,
    "perception analysis": 3.6,
    "presentation scheduled": 3.8,
    "demo": 3.8,
    "proposal": 4,
    "proposal price quote": 4,
    "quote": 4,
    "proposal made": 4,
    "decision maker bought in": 4.5,
    "negotiation": 5,
    "negotiation review": 5,
    "contract sent": 5.5,
    "commit": 6,
    "verbal": 6,
    "won": 9,
    "closed won": 9,
    "closedwon": 9,
    "deal won": 9,
}


# Outcomes as HubSpot ("Closed Won", "closedlost"), Salesforce ("Closed Lost"), Pipedrive (status
# won / lost / deleted), Zoho ("Closed-Lost to Competition") and Dynamics (status reason "Out-Sold",
# "Canceled") write them.
WON_WORDS = re.compile(r"\bwon\b|closedwon|\bwin\b", re.I)


LOST_WORDS = re.compile(
    r"\blost\b|\blose\b|closedlost|\bdisqualified\b|\bdead\b|\bdeleted\b|\bout-?sold\b|\bcancell?ed\b", re.I
)

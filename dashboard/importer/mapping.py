"""Which canonical table a file is, and which of its columns is which canonical column.

Detected from header names and synonyms, including the default export headers of HubSpot,
Salesforce, Pipedrive and Zoho; the user confirms or corrects the result, and a confirmed mapping
is saved under the file's *shape* (its set of headers) and reused for the next upload of that shape.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from metrics.schema import TABLES

# Pseudo-columns the importer understands besides the canonical ones: they are turned into
# canonical data (a churn flag and tenure into churn_date and signup_date for snapshot exports).
DERIVED = {
    "customers": {"churned": "yes/no churn flag", "tenure_months": "months as a customer"},
}

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
        ],
        "status": ["status", "deal status", "deal - status", "outcome", "won lost", "result"],
        "closed_date": [
            "close date",
            "closed date",
            "closing date",
            "close time",
            "closed at",
            "deal - close date",
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
        "csat": ["csat", "satisfaction", "satisfaction rating", "csat score", "rating"],
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

FILENAME_HINTS: dict[str, list[str]] = {
    "customers": ["customer", "account", "compan", "contact", "client", "churn", "member"],
    "orders": ["order", "transaction", "invoice", "purchase", "sales_data", "payments"],
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


def normalise(header: str) -> str:
    """'Deal - Close Date' → 'deal close date'; 'customerID' → 'customer id'."""
    h = re.sub(r"(?<=[a-z])(?=[A-Z])", " ", header.strip())
    h = re.sub(r"\(.*?\)", " ", h)
    h = re.sub(r"[^0-9a-zA-Z\u0600-\u06FF]+", " ", h).strip().lower()
    return re.sub(r"\s+", " ", h)


def _norm_synonyms() -> dict[str, dict[str, list[str]]]:
    return {
        t: {c: [normalise(s) for s in syns] for c, syns in cols.items()}
        for t, cols in SYNONYMS.items()
    }


_NORMALISED = _norm_synonyms()


def shape_key(headers: list[str]) -> str:
    """A stable key for a file's shape: the sorted set of normalised header names."""
    joined = "\x1f".join(sorted(normalise(h) for h in headers))
    return hashlib.sha256(joined.encode()).hexdigest()[:32]


@dataclass
class TableGuess:
    table: str | None
    mapping: dict[str, str]  # canonical (or derived) column → source header
    score: float


def guess_mapping(table: str, headers: list[str]) -> dict[str, str]:
    """Best source header for each canonical column: exact name, then synonyms in priority order.
    A source header is used for one canonical column only (the earlier in the contract wins)."""
    by_norm: dict[str, str] = {}
    for h in headers:
        by_norm.setdefault(normalise(h), h)
    for prefix in ("deal ", "opportunity ", "ticket ", "contact ", "company ", "order "):
        for h in headers:
            n = normalise(h)
            if n.startswith(prefix):
                by_norm.setdefault(n.removeprefix(prefix), h)
    mapping: dict[str, str] = {}
    used: set[str] = set()
    columns = list(TABLES[table].names) + list(DERIVED.get(table, {}))
    for col in columns:
        options = [normalise(col)] + _NORMALISED[table].get(col, [])
        for opt in options:
            src = by_norm.get(opt)
            if src and src not in used:
                mapping[col] = src
                used.add(src)
                break
    return mapping


def guess_table(filename: str, headers: list[str]) -> TableGuess:
    """The canonical table a file most likely holds, or table=None when none fits."""
    name = filename.lower()
    best = TableGuess(None, {}, 0.0)
    for table, spec in TABLES.items():
        mapping = guess_mapping(table, headers)
        required = [c.name for c in spec.columns if c.required]
        derivable = {"status", "created_date"} if table == "deals" else set()
        if table == "customers":
            derivable = {"tier"}
        missing = [c for c in required if c not in mapping and c not in derivable]
        if missing:
            continue
        score = sum(
            2.0 if spec.column(c).required else 1.0 for c in mapping if c in spec.names
        ) + sum(0.5 for c in mapping if c not in spec.names)
        if any(hint in name for hint in FILENAME_HINTS[table]):
            score += 3.0
        if table in name:
            score += 2.0
        if score > best.score:
            best = TableGuess(table, mapping, score)
    return best


def table_named_in(filename: str) -> str | None:
    """The canonical table a file name spells out (orders.csv, Deals export.xlsx), if any."""
    stem = normalise(filename.rsplit(".", 1)[0])
    for table in TABLES:
        if re.search(rf"\b{table.replace('_', ' ')}\b", stem) or stem.startswith(table.rstrip("s")):
            return table
    return None


def _stem(word: str) -> str:
    w = normalise(word)
    for suffix in ("ing", "ment", "ed", "e", "s"):
        if w.endswith(suffix) and len(w) - len(suffix) >= 4:
            return w[: -len(suffix)]
    return w


STAGE_STEMS = {_stem(s): s for s in STAGE_RANKS}


def stage_date_columns(
    headers: list[str], mapping: dict[str, str], stages: list[str] | None = None
) -> dict[str, str]:
    """Wide stage-date columns → the stage they record entering.

    'Date entered Qualified To Buy (Sales Pipeline)' → 'Qualified To Buy';
    'engage_date' → 'Engaging' when the data has a stage 'Engaging' (matched by word stem)."""
    known = {_stem(s): s for s in (stages or [])}
    used = set(mapping.values())
    out: dict[str, str] = {}
    for h in headers:
        if h in used:
            continue
        n = normalise(h)
        m = re.match(r"^(?:date entered|entered|became an?) (.+)$", n)
        if m:  # HubSpot: the stage name follows, in the export's own spelling
            original = re.sub(r"(?i)^\s*(date entered|entered|became an?)\s+", "", h)
            out[h] = known.get(_stem(m.group(1)), re.sub(r"\s*\(.*\)\s*$", "", original).strip())
            continue
        m = re.match(r"^(.+?) (?:date|at|time|on)$", n)
        if m and m.group(1) not in (
            "close",
            "closed",
            "create",
            "created",
            "closing",
            "last modified",
            "modified",
            "updated",
        ):
            stem = _stem(m.group(1))
            if stem in known:
                out[h] = known[stem]
            elif stem in STAGE_STEMS:
                out[h] = STAGE_STEMS[stem].title()
    return out


def infer_stage_order(
    stages: list[str], median_entered: dict[str, float] | None = None
) -> list[str]:
    """Stages in funnel order; lost-type stages are outcomes, not steps, and are left out.

    Known vocabulary decides first; unknown stages fall back to when deals entered them (median
    entered_at from stage history, ranked between the known stages); unknown stages without
    history go just before the won stage, in the order the data names them."""
    median_entered = median_entered or {}
    steps = [s for s in dict.fromkeys(stages) if s and not LOST_WORDS.search(s)]

    def rank(s: str) -> tuple[float, float]:
        n = normalise(s)
        if n in STAGE_RANKS:
            return (STAGE_RANKS[n], 0.0)
        if WON_WORDS.search(s):
            return (9.0, 0.0)
        return (median_entered.get(s, 7.0), 0.0)

    return sorted(steps, key=rank)


def derive_status(stage: str) -> str:
    if WON_WORDS.search(stage or ""):
        return "won"
    if LOST_WORDS.search(stage or ""):
        return "lost"
    return "open"

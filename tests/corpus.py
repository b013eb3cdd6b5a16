"""A corpus of dataset shapes every page must render on (issue 12): real exports as downloaded
(../shared/realdata and the fixtures of tests/realshapes.py, imported through the importer) and
generated odd shapes (deals only, one day, a handful of customers, no costs, lost deals without
close dates). `build(store)` imports them all into a store and returns their names."""

from __future__ import annotations

import datetime as dt
import gzip
import random
from pathlib import Path

import realshapes

from dashboard.importer import ImportOptions, SourceFile, commit_import, plan_import
from dashboard.store import Store

FIXTURES = Path(__file__).parent / "fixtures"
REALDATA = Path(__file__).resolve().parent.parent.parent / "shared" / "realdata"

HUBSPOT_STAGES = ["Appointment Scheduled", "Qualified To Buy", "Presentation Scheduled",
                  "Decision Maker Bought-In", "Contract Sent"]  # fmt: skip
SALESFORCE_STAGES = ["Prospecting", "Qualification", "Needs Analysis", "Proposal/Price Quote",
                     "Negotiation/Review"]  # fmt: skip


def hubspot_deals(n: int = 800, seed: int = 5) -> dict[str, bytes]:
    """HubSpot's default deal export: Record ID, Deal Name, Deal Stage with "Closed Won" and
    "Closed Lost", Create Date, Close Date (empty on lost deals), Amount, Deal owner."""
    rnd = random.Random(seed)
    lines = ["Record ID,Deal Name,Deal Stage,Create Date,Close Date,Amount,Deal owner"]
    start = dt.datetime(2023, 1, 2, 9, 30)
    for i in range(n):
        created = start + dt.timedelta(days=rnd.randint(0, 600), minutes=rnd.randint(0, 600))
        roll = rnd.random()
        if roll < 0.12 and created < start + dt.timedelta(days=560):
            stage, closed = "Closed Won", min(created + dt.timedelta(days=rnd.randint(5, 90)), start + dt.timedelta(days=600))
        elif roll < 0.6:
            stage, closed = "Closed Lost", None
        else:
            stage, closed = rnd.choice(HUBSPOT_STAGES), None
        amount = f"{rnd.randint(5, 400) * 100}" if rnd.random() < 0.9 else ""
        close = f"{closed:%Y-%m-%d %H:%M}" if closed else ""
        lines.append(f"{9000000 + i},Deal {i},{stage},{created:%Y-%m-%d %H:%M},{close},{amount},Owner {rnd.randint(1, 6)}")
    return {"hubspot-crm-exports-all-deals-2024-06-30.csv": ("\n".join(lines) + "\n").encode()}


def salesforce_opportunities(n: int = 900, seed: int = 6) -> dict[str, bytes]:
    """Salesforce's opportunity report: Opportunity ID, Opportunity Name, Account Name, Stage,
    Created Date and Close Date as M/D/Y, Amount with a currency symbol and thousands."""
    rnd = random.Random(seed)
    lines = ["Opportunity ID,Opportunity Name,Account Name,Stage,Created Date,Close Date,Amount"]
    for i in range(n):
        created = dt.date(2022, 3, 1) + dt.timedelta(days=rnd.randint(0, 700))
        roll = rnd.random()
        if roll < 0.25:
            stage = "Closed Won"
        elif roll < 0.55:
            stage = "Closed Lost"
        else:
            stage = rnd.choice(SALESFORCE_STAGES)
        close = created + dt.timedelta(days=rnd.randint(10, 120))
        amount = f'"${rnd.randint(1, 90) * 1000:,}.00"'
        lines.append(f"006{i:012d},Opp {i},Account {rnd.randint(1, 60)},{stage},"
                     f"{created.month}/{created.day}/{created.year},{close.month}/{close.day}/{close.year},{amount}")  # fmt: skip
    return {"salesforce_opportunities.csv": ("\n".join(lines) + "\n").encode()}


def one_day(seed: int = 7) -> dict[str, bytes]:
    """Everything on one day: 40 customers, one order each, one tier."""
    rows = ["order_id,customer_id,order_date,amount"]
    rows += [f"O{i},C{i % 40},2024-05-17,{10 + i}" for i in range(60)]
    customers = ["customer_id,tier"] + [f"C{i},Gold" for i in range(40)]
    return {"customers.csv": "\n".join(customers).encode() + b"\n", "orders.csv": "\n".join(rows).encode() + b"\n"}


def handful() -> dict[str, bytes]:
    """Three customers, five orders, two tiers, a refund."""
    return {
        "customers.csv": b"customer_id,tier,segment\nA,Gold,Retail\nB,Silver,Retail\nC,Silver,Online\n",
        "orders.csv": b"order_id,customer_id,order_date,amount\n1,A,2023-01-05,120\n2,A,2023-03-09,80\n"
        b"3,B,2023-02-11,40\n4,C,2023-06-30,55\n5,A,2023-04-01,-20\n",
    }


def shapes() -> dict[str, tuple[dict[str, bytes], dict]]:
    """Every dataset of the corpus: name → (files, import options)."""
    corpus: dict[str, tuple[dict[str, bytes], dict]] = {
        "Online Retail": (realshapes.online_retail()[0], {"currency": "GBP"}),
        "CDNOW master": ({"CDNOW_master.txt": gzip.decompress(
            (FIXTURES / "cdnow_master" / "CDNOW_master.txt.gz").read_bytes())}, {"currency": "USD"}),  # fmt: skip
        "Olist funnel": (realshapes.olist_funnel()[0], {}),
        "Olist shop": (realshapes.olist_shop()[0], {"currency": "BRL"}),
        "Shopify orders": (realshapes.shopify_orders()[0], {}),
        "HubSpot deals": (hubspot_deals(), {}),
        "Salesforce opportunities": (salesforce_opportunities(), {}),
        "One day": (one_day(), {}),
        "Handful": (handful(), {}),
    }
    if REALDATA.is_dir():
        maven = {p.name: p.read_bytes() for p in sorted((REALDATA / "maven_crm").glob("*.csv"))}
        corpus["Maven CRM"] = (maven, {})
        telco = REALDATA / "telco_churn" / "Telco-Customer-Churn.csv"
        corpus["Telco"] = ({telco.name: telco.read_bytes()}, {"as_of": dt.date(2018, 1, 31)})
    return corpus


def build(store: Store) -> list[str]:
    names = []
    for name, (files, options) in shapes().items():
        plan = plan_import([SourceFile(n, b) for n, b in files.items()], options=ImportOptions(**options), store=store)
        assert plan.ok, (name, [str(p) for p in plan.errors])
        commit_import(plan, store, name, activate=False)
        names.append(name)
    return names

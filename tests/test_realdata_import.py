"""Real public exports through the same path as a user's upload (../shared/realdata/README.md)."""

from __future__ import annotations

import datetime as dt

import polars as pl

from dashboard.importer import ImportOptions, SourceFile, commit_import, plan_import


def _files(folder):
    return [SourceFile(p.name, p.read_bytes()) for p in sorted(folder.glob("*.csv"))]


def test_maven_crm_all_five_files(realdata, store):
    plan = plan_import(_files(realdata / "maven_crm"), store=store)
    assert plan.ok, [str(p) for p in plan.errors]
    commit_import(plan, store, "maven")
    deals = store.load("maven").tables["deals"]
    assert deals.height == 8_800
    status = dict(deals.group_by("status").len().iter_rows())
    assert status == {"won": 4_238, "lost": 2_473, "open": 1_589 + 500}
    settings = store.load("maven").settings
    assert settings.stage_order == ["Prospecting", "Engaging", "Won"]
    # reached: Prospecting every deal; Engaging = has an engage_date (history) or is won
    history = store.load("maven").tables["stage_history"]
    engaged = set(history.filter(pl.col("stage") == "Engaging").get_column("deal_id"))
    won = set(deals.filter(pl.col("status") == "won").get_column("deal_id"))
    assert len(engaged | won) == 8_300
    assert len(won) == 4_238
    # lost deals record the last stage they reached, not the outcome
    assert set(deals.filter(pl.col("status") == "lost").get_column("stage")) == {"Engaging"}
    # the lookups enriched the deals; the GTXPro / GTX Pro quirk is reported, not hidden
    assert {"manager", "regional_office", "series"} <= set(deals.columns)
    assert any("GTXPro" in p.message for p in plan.warnings)
    assert any(p.file == "data_dictionary.csv" and "left out" in p.message for p in plan.problems)
    customers = store.load("maven").tables["customers"]
    assert customers.height == 85 and set(customers.get_column("tier")) == {"Unassigned"}


def test_telco_churn_snapshot(realdata, store):
    raw = (realdata / "telco_churn" / "Telco-Customer-Churn.csv").read_bytes()
    no_date = plan_import([SourceFile("Telco-Customer-Churn.csv", raw)], store=store)
    assert not no_date.ok and "snapshot" in str(no_date.errors[0])
    as_of = dt.date(2018, 1, 31)
    plan = plan_import([SourceFile("Telco-Customer-Churn.csv", raw)],
                       options=ImportOptions(as_of=as_of), store=store)
    assert plan.ok, [str(p) for p in plan.errors]
    c = plan.tables["customers"]
    assert c.height == 7_043
    assert c.get_column("churn_date").is_not_null().sum() == 1_869
    assert c.get_column("churn_date").drop_nulls().unique().to_list() == [as_of]
    # tenure 0 → signed up in the snapshot month; tenure 72 → six years earlier
    first = c.filter(pl.col("customer_id") == "7590-VHVEG").row(0, named=True)
    assert first["signup_date"] == dt.date(2017, 12, 31)  # tenure 1 month
    assert "contract" in c.columns  # extra columns are kept as segment dimensions

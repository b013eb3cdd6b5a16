"""Reports (issue 15): the KPIs as JSON equal the Overview's cards for the same filters; the page as
HTML, PDF and PNG from the command line, with the page's own charts, the filters and definitions."""

from __future__ import annotations

import datetime as dt
import json
import shutil
import subprocess
import sys

import pytest
from streamlit.testing.v1 import AppTest

from dashboard.report import JSON_KPIS, PageReport, render, to_html
from metrics.domain import Filters, Period, Slice
from tests.conftest import APP, ROOT, require

SAMPLE = "Sample CRM (bundled)"


def _cli(tmp_path, *args) -> subprocess.CompletedProcess:
    env = {"CRM_STORE_URL": f"sqlite:///{tmp_path / 'store.sqlite'}", "CRM_SECRETS_FILE": "/nonexistent", "PATH": "/usr/bin:/bin",
           "HOME": str(tmp_path)}  # fmt: skip
    return subprocess.run([sys.executable, "-m", "dashboard", "report", *args], capture_output=True, text=True, cwd=ROOT,
                          env=env, timeout=600)  # fmt: skip


@pytest.fixture
def env(tmp_path, monkeypatch):
    monkeypatch.setenv("CRM_STORE_URL", f"sqlite:///{tmp_path / 'store.sqlite'}")
    monkeypatch.setenv("CRM_SECRETS_FILE", str(tmp_path / "none.toml"))
    from dashboard import data

    data.store.clear()
    yield
    data.store.clear()


def test_the_json_kpis_are_the_overview_cards_for_the_same_filters(env, tmp_path):
    from dashboard.components.kpi_cards import format_value

    out = tmp_path / "kpis.json"
    result = _cli(tmp_path, "--dataset", SAMPLE, "--tier", "Gold", "--tier", "Silver", "--from", "2026-01-01", "--to", "2026-03-31",
                  "--compare", "year", "--format", "json", "--out", str(out))  # fmt: skip
    assert result.returncode == 0, result.stderr
    report = json.loads(out.read_text())
    assert report["dataset"] == SAMPLE and report["as_of"] == "2026-06-30"
    assert report["period"] == {"start": "2026-01-01", "end": "2026-03-31"} and report["filters"]["tier"] == ["Gold", "Silver"]
    assert set(report["kpis"]) >= {"revenue", "active_customers", "new_customers", "churn_rate", "net_revenue_retention",
                                   "average_ltv", "win_rate", "nps", "csat", "median_first_response_hours"}  # fmt: skip
    at = AppTest.from_file(APP, default_timeout=120)
    at.query_params.update({"tier": ["Gold", "Silver"], "period": ["2026-01-01", "2026-03-31"], "compare": "year"})
    at.run()
    assert not at.exception
    from metrics.kpis import CATALOGUE

    shown = {m.label.split(" (")[0]: m.value for m in at.metric}
    for name, key in JSON_KPIS.items():
        spec = CATALOGUE[key]
        kpi = type("K", (), {"unit": spec.unit})()
        assert shown[spec.label] == format_value(kpi, report["kpis"][name], "USD"), name


@pytest.mark.parametrize("fmt, magic", [("html", b"<!doctype html>"), ("pdf", b"%PDF-"), ("png", b"\x89PNG\r\n\x1a\n")])
def test_a_page_report_holds_the_pages_charts_filters_and_definitions(env, tmp_path, fmt, magic):
    if fmt != "html":  # kaleido draws the charts with the installed Chromium
        require(shutil.which("chromium") is not None, "Chromium is not installed (apt-get install chromium)")
    out = tmp_path / f"funnel.{fmt}"
    result = _cli(tmp_path, "--dataset", SAMPLE, "--page", "funnel", "--tier", "Gold", "--format", fmt, "--out", str(out))
    assert result.returncode == 0, result.stderr
    content = out.read_bytes()
    assert content.startswith(magic)
    # the page in the app draws as many charts as the report holds
    at = AppTest.from_file(APP, default_timeout=120)
    at.query_params["tier"] = ["Gold"]
    at.run()
    at.switch_page("../pages/funnel.py").run()
    drawn = len(at.get("plotly_chart"))
    assert f"({fmt}, {drawn} charts)" in result.stdout and drawn >= 3
    if fmt == "html":
        text = content.decode()
        assert "Sample CRM (bundled) · tier Gold · 01 Apr 2026 – 30 Jun 2026 · data as of 30 Jun 2026" in text
        assert "won / (won + lost) deals closed in the period" in text  # a KPI's definition
        assert "deals reaching a stage / deals reaching the stage before it" in text  # the page's own
        assert text.count('class="plotly-graph-div"') == drawn
        assert "<script src=" not in text and "<script type=\"text/javascript\" src=" not in text  # plotly.js inline: opens offline


def test_report_text_from_the_data_is_escaped(sample_tables):
    from dashboard import charts
    from metrics.domain import Dataset

    name = '<script>alert("x")</script>'
    figure = charts.bars(__import__("polars").DataFrame({"tier": ['<img src=x onerror=alert(1)>'], "v": [1]}), x="tier", y="v")
    filters = Filters(Slice(), Period(dt.date(2026, 4, 1), dt.date(2026, 6, 30)), "previous", dt.date(2026, 6, 30))
    report = PageReport("Overview", name, name, filters, "USD", Dataset(name, dict(sample_tables)), [figure])
    text = to_html(report).decode()
    assert "<script>alert" not in text and "<img src=x" not in text
    assert "&lt;script&gt;alert" in text


def test_a_report_without_a_currency_says_so_once_and_prefixes_no_amount(sample_tables):
    """A dataset whose amounts name no currency: the report's KPIs are plain numbers, its header
    says the currency is not set, and the JSON has no currency (null), not a phrase."""
    from metrics.domain import Dataset
    from metrics.kpis import Kpi, Overview

    filters = Filters(Slice(), Period(dt.date(2026, 4, 1), dt.date(2026, 6, 30)), "previous", dt.date(2026, 6, 30))
    report = PageReport("Overview", "summary", "No currency", filters, "", Dataset("No currency", dict(sample_tables)), [])
    overview = Overview(filters.period, filters.period)
    overview.kpis.append(Kpi("revenue", "Revenue", "currency", 4_790_000.0, 1_000.0))
    report.__dict__["overview"] = overview  # the cached KPIs, as if computed
    text = to_html(report).decode()
    assert "currency not set" in text and "4,790,000" in text and "currency not set 4" not in text
    assert json.loads(render(report, "json"))["currency"] is None


def test_an_unknown_tier_or_dataset_is_refused_in_words(tmp_path):
    result = _cli(tmp_path, "--dataset", SAMPLE, "--tier", "Diamond", "--format", "json", "--out", str(tmp_path / "x.json"))
    assert result.returncode == 2 and "no tier 'Diamond'" in result.stderr
    result = _cli(tmp_path, "--dataset", "Nope", "--format", "json", "--out", str(tmp_path / "x.json"))
    assert result.returncode == 2 and "no dataset named 'Nope'" in result.stderr
    assert not (tmp_path / "x.json").exists()


def test_a_page_that_cannot_be_computed_says_why_in_its_report(tmp_path):
    from dashboard.importer import SourceFile, commit_import, plan_import
    from dashboard.store import Store

    store = Store(f"sqlite:///{tmp_path / 'store.sqlite'}")
    plan = plan_import([SourceFile("customers.csv", b"customer_id,tier\nC1,Gold\nC2,Silver\n")], store=store)
    commit_import(plan, store, "Only customers")
    out = tmp_path / "retention.html"
    result = _cli(tmp_path, "--dataset", "Only customers", "--page", "retention", "--format", "html", "--out", str(out))
    assert result.returncode == 0, result.stderr
    text = out.read_text()
    assert "This page needs the orders table" in text and "This page draws no chart for this data." in text

"""Reports that travel: a page as a self-contained HTML file, a PDF or a PNG, and the Overview's
KPIs as JSON — each with the dataset, the filters, the as-of date and every KPI's definition.

The figures are the page's own (collected as the page draws them, see charts.collecting). HTML
embeds them interactive with plotly.js inline, so the file opens offline. The PDF is that
content as an HTML template through WeasyPrint (it lays out text, tables and page breaks from
plain HTML and CSS, runs no browser and is packaged for Debian, where Chromium's print-to-PDF
would need a browser session per report), with the figures as SVG from kaleido (Plotly's
exporter, which drives the installed Chromium offline). The PNG stacks the figures' images under
a header drawn with Pillow.
"""

from __future__ import annotations

import base64
import datetime as dt
import html
import io
import tempfile
import textwrap
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from metrics.domain import Dataset, Filters
from metrics.kpis import Kpi, Overview, value_text

#: The JSON report's names for the Overview's KPIs (metrics.kpis keys).
JSON_KPIS = {
    "revenue": "revenue", "active_customers": "active_customers", "new_customers": "new_customers",
    "churn_rate": "churn_rate", "net_revenue_retention": "nrr", "average_ltv": "avg_ltv", "ltv_cac": "ltv_cac",
    "win_rate": "win_rate", "nps": "nps", "csat": "csat", "median_first_response_hours": "first_response",
}  # fmt: skip
FORMATS = {"html": "text/html", "pdf": "application/pdf", "png": "image/png", "json": "application/json"}

#: What each page's figures mean, in the words of METRICS.md (the definitions the metrics follow
#: and their tests pin); the Overview's are its KPIs' own.
PAGE_DEFINITIONS: dict[str, list[tuple[str, str]]] = {
    "Funnel": [
        ("Reached a stage", "deals whose furthest stage is that stage or a later one"),
        ("Step conversion", "deals reaching a stage / deals reaching the stage before it"),
        ("Overall conversion", "deals reaching a stage / deals reaching the first stage"),
        ("Win rate", "won / (won + lost) among deals closed in the period; open deals do not count"),
        ("Average deal size", "mean amount of won deals"),
        ("Sales cycle", "median days from created to closed, over won deals"),
        ("Weighted pipeline", "Σ amount of open deals × the historical probability of winning from their stage"),
        ("Sales velocity", "open deals × win rate × average deal size / average cycle length, per day"),
        ("Time in stage", "days from entering a stage to entering the next one"),
    ],
    "Retention": [
        ("Cohort", "customers by the calendar month of their first order; period p = months since then"),
        ("Customer retention", "customers of a cohort with an order in month p / cohort size"),
        ("Revenue retention", "a cohort's revenue in month p / its revenue in its first month"),
        ("Active, lapsed", "active on a day with a purchase in the churn window up to it and no churn date by then; "
                           "lapsed the day after the last purchase + the window"),
        ("Monthly churn rate", "customers active on the day before a month who lapse during it / those active then"),
        ("Survival", "Kaplan–Meier estimate of lifetime in days from the first order, 95% band (Greenwood)"),
    ],
    "Lifetime value": [
        ("Historical value", "Σ gross margin per customer to the as-of date"),
        ("Predictive CLV", "BG/NBD for future purchases × Gamma-Gamma for their value, over 12 months, discounted 1% a month"),
        ("P(alive)", "the BG/NBD probability that a customer is still active; averaged over repeat buyers"),
        ("CLV:CAC, LTV:CAC", "mean CLV (or LTV) on margin / mean acquisition cost"),
    ],
    "Satisfaction": [
        ("NPS", "% promoters (9–10) − % detractors (0–6)"),
        ("CSAT", "responses of 4 or 5 / all responses (1–5 scale)"),
        ("CES", "responses of 5 or more / all responses (1–7 scale)"),
        ("First response time", "first response − ticket created; open tickets censored, not dropped"),
        ("SLA compliance", "tickets answered within the first-response target of their priority / tickets"),
        ("Complaints per 100", "complaint tickets per 100 active customers, per month"),
    ],
    "Segments": [
        ("RFM", "recency (days since the last purchase), frequency (purchases), monetary (total amount), "
                "scored 1–5 by quintile and named by the common R/F-M map"),
        ("Clusters", "k-means on standardised log(1 + R, F, M), k chosen by silhouette"),
        ("Portfolio", "margin against the cost to serve (tickets × cost per ticket)"),
        ("Contacts per sale", "interactions / won deals, by segment"),
    ],
    "Churn risk": [
        ("Risk", "the chance that a customer active at the as-of date lapses within the next 90 days, from a "
                 "gradient-boosting model checked on a later cutoff than it was trained on"),
    ],
}  # fmt: skip


@dataclass
class PageReport:
    title: str
    summary: str  # dataset · slice · period · as-of, as the page header says it
    dataset: str
    filters: Filters
    currency: str  # the code or symbol of the amounts, "" when the dataset names none
    dataset_frames: Dataset  # the data the page was computed from (a locked link's slice included)
    figures: list = field(default_factory=list)  # plotly figures, in the order the page drew them
    notes: list[str] = field(default_factory=list)  # what the page said instead of a figure it could not draw
    made: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC).replace(microsecond=0, tzinfo=None))

    @cached_property
    def overview(self) -> Overview | None:
        """The Overview's KPIs for these filters, computed when a report is made (None: this data
        has no customers table)."""
        from dashboard.views import Missing, compute

        try:
            return compute("overview", self.dataset_frames, self.filters).overview
        except Missing:
            return None


def kpis_json(report: PageReport) -> dict:
    """dataset, as_of, period, filters and the KPIs (a number or null), as the Overview shows them."""
    f = report.filters
    values = {}
    for name, key in JSON_KPIS.items():
        kpi = next((k for k in report.overview.kpis if k.key == key), None) if report.overview else None
        values[name] = None if kpi is None or kpi.value is None else float(kpi.value)
    return {
        "dataset": report.dataset, "as_of": f.as_of.isoformat(),
        "period": {"start": f.period.start.isoformat(), "end": f.period.end.isoformat()},
        "comparison": f.comparison,
        "filters": {"tier": list(f.slice.tiers), "segment": list(f.slice.segments), "region": list(f.slice.regions),
                    "channel": list(f.slice.channels)},
        "currency": report.currency or None, "kpis": values,
    }  # fmt: skip


def _kpi_rows(report: PageReport) -> list[tuple[str, str, str, str]]:
    """(label, value, comparison value, definition) of every KPI, as text."""
    if report.overview is None:
        return []
    rows = []
    for kpi in report.overview.kpis:
        money = report.currency if kpi.unit == "currency" else ""
        definition = kpi.definition or kpi.note
        rows.append((kpi.label, _value(kpi, kpi.value, money), _value(kpi, kpi.previous, money), definition))
    return rows


def _value(kpi: Kpi, value: float | None, currency: str) -> str:
    return "—" if value is None else value_text(kpi.unit, value, currency)


def _document(report: PageReport, figures_html: list[str]) -> str:
    e = html.escape
    kpis = "".join(f"<tr><td>{e(a)}</td><td class=n>{e(b)}</td><td class=n>{e(c)}</td><td>{e(d)}</td></tr>"
                   for a, b, c, d in _kpi_rows(report))  # fmt: skip
    comparison = report.overview.comparison.label() if report.overview else "—"
    table = (f"<h2>Key figures</h2><table><tr><th>KPI</th><th>value</th><th>comparison ({e(comparison)})</th>"
             f"<th>definition</th></tr>{kpis}</table>") if kpis else "<p>No KPI can be computed from this data.</p>"  # fmt: skip
    charts = "".join(f"<div class=fig>{f}</div>" for f in figures_html)
    notes = "".join(f"<p class=meta>{e(note)}</p>" for note in report.notes)
    terms = PAGE_DEFINITIONS.get(report.title, [])
    glossary = ("<h2>How this page's figures are made</h2><table>" + "".join(
        f"<tr><td>{e(name)}</td><td>{e(text)}</td></tr>" for name, text in terms) + "</table>") if terms else ""  # fmt: skip
    return f"""<!doctype html><html lang=en><head><meta charset=utf-8><title>{e(report.title)} · {e(report.dataset)}</title>
<style>body{{font-family:Inter,"Segoe UI",Helvetica,Arial,sans-serif;color:#0f172a;margin:24px;max-width:1100px}}
h1{{margin-bottom:4px}} .meta{{color:#475569;font-size:13px}} table{{border-collapse:collapse;font-size:12px;width:100%}}
td,th{{border-bottom:1px solid #e2e8f0;padding:4px 6px;text-align:left;vertical-align:top}} td.n{{text-align:right;white-space:nowrap}}
.fig{{page-break-inside:avoid;margin:12px 0}} .fig img{{width:100%}} @page{{size:A4;margin:14mm}}</style></head><body>
<h1>{e(report.title)}</h1><p class=meta>{e(report.summary)}</p>
<p class=meta>Made {report.made:%d %b %Y %H:%M} UTC · currency {e(report.currency or "not set")} · comparison with {e(report.filters.comparison)} period</p>
{table}{glossary}<h2>Charts</h2>{notes}{charts or "<p>This page draws no chart for this data.</p>"}</body></html>"""


def to_html(report: PageReport) -> bytes:
    """Self-contained: plotly.js inline once, every figure interactive, no network needed."""
    parts = [fig.to_html(full_html=False, include_plotlyjs=i == 0, config={"displaylogo": False})
             for i, fig in enumerate(report.figures)]  # fmt: skip
    return _document(report, parts).encode("utf-8")


def _images(figures: list, fmt: str, width: int = 1000, height: int = 420) -> list[bytes]:
    """The figures as images, through one kaleido browser session for all of them."""
    if not figures:
        return []
    import plotly.io as pio

    with tempfile.TemporaryDirectory() as folder:
        paths = [Path(folder) / f"figure-{i}.{fmt}" for i in range(len(figures))]
        pio.write_images(figures, paths, format=fmt, width=width, height=height)
        return [p.read_bytes() for p in paths]


def to_pdf(report: PageReport) -> bytes:
    import weasyprint

    images = [f'<img alt="" src="data:image/svg+xml;base64,{base64.b64encode(svg).decode()}">' for svg in _images(report.figures, "svg")]
    return weasyprint.HTML(string=_document(report, images)).write_pdf()


def to_png(report: PageReport, width: int = 1000) -> bytes:
    """The header and the KPIs as text, then each figure, one under the other."""
    from PIL import Image, ImageDraw, ImageFont

    def face(size: int):
        try:  # DejaVu has the dashes, × and currency signs the labels use; Pillow's own font lacks them
            return ImageFont.truetype("DejaVuSans.ttf", size)
        except OSError:
            return ImageFont.load_default(size=size)

    font, small = face(16), face(13)
    lines = [(report.title, face(24)), (report.summary, small)]
    for label, value, previous, definition in _kpi_rows(report):
        lines.append((f"{label}: {value} (comparison {previous})", font))
        lines += [(part, small) for part in textwrap.wrap(definition, width=130, initial_indent="    ", subsequent_indent="    ")]
    for name, text in PAGE_DEFINITIONS.get(report.title, []):  # wrapped to the image's width
        lines += [(part, small) for part in textwrap.wrap(f"{name}: {text}", width=120)]
    header_height = 20 + sum(34 if f is lines[0][1] else 22 for _, f in lines)
    figures = [Image.open(io.BytesIO(png)) for png in _images(report.figures, "png", width=width)]
    canvas = Image.new("RGB", (width, header_height + sum(f.height for f in figures) + 10), "white")
    draw = ImageDraw.Draw(canvas)
    y = 12
    for text, face in lines:
        draw.text((16, y), text, fill="#0f172a", font=face)
        y += 34 if face is lines[0][1] else 22
    y = header_height
    for figure in figures:
        canvas.paste(figure, (0, y))
        y += figure.height
    out = io.BytesIO()
    canvas.save(out, format="PNG", optimize=True)
    return out.getvalue()


def render(report: PageReport, fmt: str) -> bytes:
    import json

    if fmt == "json":
        return (json.dumps(kpis_json(report), indent=2, ensure_ascii=False) + "\n").encode("utf-8")
    return {"html": to_html, "pdf": to_pdf, "png": to_png}[fmt](report)

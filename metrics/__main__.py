"""The metrics from the command line, on a folder of canonical Parquet tables (the bundled sample by
default) — the same functions the dashboard and a notebook call.

    python -m metrics kpis      [--data DIR] [--as-of 2026-06-30] [--start 2026-04-01]
    python -m metrics funnel    [--data DIR] [--stages Lead Qualified Proposal Negotiation Won]
    python -m metrics retention | ltv | satisfaction | segments | churn

Prints tables as text (or CSV with --csv).
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from pathlib import Path

import polars as pl

from metrics import btyd, churn, funnel, kpis, retention, satisfaction, segments
from metrics.schema import DEFAULT_STAGE_ORDER, TABLES, latest_event, with_categorical_keys


def _load(folder: Path) -> dict[str, pl.DataFrame]:
    tables = {n: pl.read_parquet(folder / f"{n}.parquet") for n in TABLES if (folder / f"{n}.parquet").exists()}
    if "customers" not in tables:
        raise SystemExit(f"{folder}: no customers.parquet (one Parquet file per canonical table expected)")
    return with_categorical_keys(tables)


def _show(title: str, frame: pl.DataFrame, as_csv: bool) -> None:
    print(f"# {title}")
    if as_csv:
        sys.stdout.write(frame.write_csv())
    else:
        with pl.Config(tbl_rows=40, tbl_cols=12, tbl_width_chars=140):
            print(frame)
    print()


def _rate(name: str, rate) -> pl.DataFrame:
    return pl.DataFrame([{"metric": name, **rate.as_dict()}])


def main(argv: list[str] | None = None) -> int:
    from sample_data import DEFAULT_DIR

    p = argparse.ArgumentParser(prog="python -m metrics", description=__doc__.split("\n\n")[0])
    p.add_argument("family", choices=["kpis", "funnel", "retention", "ltv", "satisfaction", "segments", "churn"])
    p.add_argument("--data", type=Path, default=DEFAULT_DIR, help="folder with <table>.parquet files")
    p.add_argument("--as-of", type=dt.date.fromisoformat, help="default: the latest event in the data")
    p.add_argument("--start", type=dt.date.fromisoformat, help="period start for kpis (default: 3 months before)")
    p.add_argument("--stages", nargs="+", default=list(DEFAULT_STAGE_ORDER))
    p.add_argument("--csv", action="store_true", help="CSV instead of text tables")
    args = p.parse_args(argv)
    tables = _load(args.data)
    as_of = args.as_of or latest_event(tables)
    out = args.csv
    if args.family == "kpis":
        start = args.start or (as_of - dt.timedelta(days=90))
        result = kpis.overview(tables, period=kpis.Period(start, as_of))
        frame = pl.DataFrame([
            {"kpi": k.label, "value": k.value, "previous": k.previous, "change": k.change,
             "p_value": k.p_value, "beyond_noise": k.beyond_noise} for k in result.kpis
        ])  # fmt: skip
        _show(f"KPIs {result.period.label()} vs {result.comparison.label()}", frame, out)
        for sentence in kpis.top_changes(result) or [kpis.why_no_changes(result)]:
            print("-", sentence)
    elif args.family == "funnel":
        _show("funnel", funnel.stage_funnel(tables["deals"], stages=args.stages, stage_history=tables.get("stage_history")), out)
        _show("win rate", _rate("win rate", funnel.win_rate(tables["deals"])), out)
    elif args.family == "retention":
        _show("cohort retention", retention.cohort_retention(tables["orders"], as_of=as_of), out)
        _show("monthly churn", retention.monthly_churn(tables["orders"], as_of=as_of, customers=tables["customers"]), out)
    elif args.family == "ltv":
        summary = btyd.rfm_summary(tables["orders"], as_of=as_of)
        bg, gg = btyd.fit_bgnbd(summary), btyd.fit_gamma_gamma(summary)
        print(f"BG/NBD r={bg.r:.6f} alpha={bg.alpha:.6f} a={bg.a:.6f} b={bg.b:.6f} LL={bg.log_likelihood:.2f}")
        print(f"Gamma-Gamma p={gg.p:.4f} q={gg.q:.4f} gamma={gg.v:.4f} ({gg.excluded} customers excluded)\n")
        _show("predicted 12-month CLV", btyd.predict_clv(summary, bg, gg).sort("clv", descending=True), out)
    elif args.family == "satisfaction":
        surveys = tables["surveys"]
        frame = pl.concat([_rate("NPS", satisfaction.nps(surveys)), _rate("CSAT", satisfaction.csat(surveys)),
                           _rate("CES", satisfaction.ces(surveys))])  # fmt: skip
        _show("satisfaction", frame, out)
        if "tickets" in tables:
            _show("first response and resolution (hours)", satisfaction.response_times(tables["tickets"], as_of=as_of, by="priority"), out)
    elif args.family == "segments":
        _show("RFM segments", segments.segment_summary(segments.rfm_segments(tables["orders"], as_of=as_of)), out)
    else:
        model = churn.train_churn_model(tables, as_of=as_of)
        if model.refused:
            print(model.refused)
            return 1
        print(f"ROC AUC {model.auc:.3f} (recency alone {model.baseline_auc:.3f}); top-decile precision "
              f"{model.top_decile_precision:.2f} (recency alone {model.baseline_top_decile_precision:.2f})\n")  # fmt: skip
        _show("customers most at risk", model.scores.head(25).select("customer_id", "risk", "drivers"), out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

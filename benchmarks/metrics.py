"""Metric-family benchmarks (issue 3) on generated data: median wall time and peak memory of each
family, each family in its own child process so peaks do not mix. Loading the Parquet files is
not timed (the dashboard loads a dataset once and caches it); casting its keys to Categorical,
which the dashboard does once per loaded dataset too, is timed on its own ("prepare_keys").
The children's allocator keeps the memory it frees, as the dashboard's server's does
(dashboard.preload.keep_freed_memory).

    python -m benchmarks.metrics [--customers 1000000] [--data DIR] [--repeat 3]

Without --data a dataset of --customers customers is generated first (seed 1).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

AS_OF = dt.date(2026, 6, 30)
PERIOD_START = dt.date(2026, 4, 1)  # the dashboard's default period: the last full quarter
STAGES = ["Lead", "Qualified", "Proposal", "Negotiation", "Won"]


def _families(tables):
    """Each family: everything issue 3 lists for it (what its dashboard page asks for, and more)."""
    import polars as pl

    from metrics import activity, btyd, churn, funnel, kpis, ltv, retention, satisfaction, segments
    from metrics.deal_history import deal_history
    from metrics.purchase_days import purchase_days
    from metrics.threads import one_blas_thread

    orders, customers = tables["orders"], tables["customers"]
    summary = {}

    def funnel_family():
        deals, history = tables["deals"], deal_history(tables["stage_history"])  # as the page: sorted by deal once
        reach = funnel.furthest_stage(deals, stages=STAGES, stage_history=history).collect()  # as the page: once
        funnel.stage_funnel(reach, stages=STAGES)
        funnel.stage_funnel(reach, stages=STAGES, by="tier")
        funnel.win_rate(deals)
        funnel.win_rate_by(deals, by="tier")
        funnel.deal_summary(deals, start=PERIOD_START, end=AS_OF)  # deal size, cycle, velocity
        funnel.pipeline(reach, stages=STAGES)
        funnel.time_in_stage(history, stages=STAGES)
        funnel.win_rate_by_month(deals, end=AS_OF)  # as the page

    def retention_family():
        days = purchase_days(orders, as_of=AS_OF)  # as the page: once for the cohorts, spells and backtest
        per_tier = retention.cohort_retention(orders, as_of=AS_OF, basis="both", customers=customers, by="tier", days=days)
        retention.pooled(per_tier, by="tier", basis="both")  # the page's two heatmaps; per tier: its curves
        status = retention.churn_status(orders, as_of=AS_OF, customers=customers, days=days)  # as the page: once
        spells = activity.spells(days, as_of=AS_OF, customers=customers)
        retention.monthly_churn(orders, as_of=AS_OF, customers=customers, spells=spells)
        retention.churn_backtest(days, as_of=AS_OF, customers=customers, spells=spells)
        life = retention.lifetimes_table(orders, as_of=AS_OF, customers=customers, by="tier", status=status)
        retention.survival(orders, as_of=AS_OF, customers=customers, by="tier", lifetimes=life)
        retention.survival_logrank(orders, as_of=AS_OF, customers=customers, lifetimes=life)
        retention.repeat_purchase_rate(orders)

    def ltv_fit():
        if "rfm" not in summary:  # the summary is prepared once, outside the timing of the fit
            summary["rfm"] = btyd.rfm_summary(orders, as_of=AS_OF)
        return lambda: (btyd.fit_bgnbd(summary["rfm"]), btyd.fit_gamma_gamma(summary["rfm"]))

    def value_to_date():
        value = ltv.historical_value(orders, as_of=AS_OF)
        ltv.ltv_cac(value, customers, by="tier")
        ltv.ltv_cac(value, customers, by="acquisition_channel")

    def ltv_family():
        calibration_end = AS_OF - dt.timedelta(days=182)
        # as the page (dashboard.views.lifetime_value): the value to date and the backtest in a
        # second thread beside the model fits, on one BLAS thread; the purchase days (the page's
        # context computes them once for the summaries, the backtest and the spells) are found
        # while the value to date is summed
        with one_blas_thread(), ThreadPoolExecutor(max_workers=1) as pool:
            to_date = pool.submit(value_to_date)
            days = purchase_days(orders, as_of=AS_OF)
            # as the page: the three summaries (model, holdout check, backtest) from one pass
            calibration, rfm, earlier = btyd.rfm_summaries(days, as_of=[calibration_end, AS_OF, btyd.backtest_date(AS_OF)])
            backtest = pool.submit(btyd.clv_backtest, orders, as_of=AS_OF, summary=earlier)
            model = btyd.validated_model(calibration, rfm, calibration_end=calibration_end, observation_end=AS_OF)  # fits, CLV, check
            # as the page: a model per group with enough repeat buyers
            btyd.clv_by_groups(rfm, customers, by=["tier", "acquisition_channel"], pooled=model["clv"],
                               pooled_model=model["bgnbd"], pooled_spend=model["gamma_gamma"])  # fmt: skip
            to_date.result(), backtest.result()
        spells = activity.spells(days, as_of=AS_OF, customers=customers)  # once for both
        ltv.simple_ltv(orders, start=PERIOD_START, end=AS_OF, customers=customers, spells=spells)
        ltv.acquisition_vs_retention_cost(orders, customers, start=PERIOD_START, end=AS_OF, tickets=tables["tickets"],
                                          interactions=tables["interactions"], cost_per_ticket=25.0, cost_per_interaction=5.0,
                                          spells=spells)  # fmt: skip

    def satisfaction_family():
        surveys, tickets = tables["surveys"], tables["tickets"]
        satisfaction.nps(surveys)
        satisfaction.csat(surveys)
        satisfaction.ces(surveys)
        satisfaction.nps_by(surveys, period="1mo")
        satisfaction.response_times(tickets, as_of=AS_OF, by="priority")
        satisfaction.sla_compliance(tickets, as_of=AS_OF, by="channel")
        days = purchase_days(orders, as_of=AS_OF)  # as the page: the purchase days and spells it shares
        spells = activity.spells(days, as_of=AS_OF, customers=customers)
        satisfaction.complaints_per_100(tickets, orders, as_of=AS_OF, customers=customers, spells=spells)
        satisfaction.retention_by_nps_group(surveys, orders, as_of=AS_OF, customers=customers, days=days)

    def segments_family():
        rfm = segments.rfm_segments(orders, as_of=AS_OF)
        segments.segment_summary(rfm)
        segments.clusters(rfm)
        segments.portfolio(orders, as_of=AS_OF, tickets=tables["tickets"], cost_per_ticket=25.0)
        won = tables["deals"].filter(pl.col("status") == "won")
        segments.contacts_per_sale(tables["interactions"], sales=won, segments=rfm)

    def kpis_family():
        period = kpis.Period(PERIOD_START, AS_OF)
        result = kpis.overview(tables, period=period)
        kpis.monthly_series(tables, end=AS_OF, spells=result.spells)  # as the page

    def churn_family():
        churn.train_churn_model(tables, as_of=AS_OF)

    return {
        "prepare_keys": None,  # with_categorical_keys, see child()
        "funnel": funnel_family,
        "retention": retention_family,
        "ltv_fit_bgnbd_gamma_gamma": ltv_fit,
        "ltv": ltv_family,
        "satisfaction": satisfaction_family,
        "segments": segments_family,
        "kpis": kpis_family,
        "churn": churn_family,
    }


def child(family: str, data: Path, repeat: int) -> None:
    from metrics.schema import with_categorical_keys
    from sample_data import load_tables

    raw = load_tables(data)
    if family == "prepare_keys":
        job = lambda: with_categorical_keys(raw)  # noqa: E731
    else:
        job = _families(with_categorical_keys(raw))[family]
    if family == "ltv_fit_bgnbd_gamma_gamma":
        job = job()  # prepares the RFM summary untimed, returns the fit
    runs = []
    for _ in range(repeat):
        started = time.perf_counter()
        job()
        runs.append(time.perf_counter() - started)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"median_s": statistics.median(runs), "runs_s": runs, "peak_mb": peak_mb}))


def main() -> None:
    from dashboard.preload import keep_freed_memory

    keep_freed_memory()  # the families' child processes allocate as the dashboard's server does
    p = argparse.ArgumentParser()
    p.add_argument("--customers", type=int, default=1_000_000)
    p.add_argument("--data", type=Path)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--only", nargs="*")
    p.add_argument("--child")
    args = p.parse_args()
    if args.child:
        child(args.child, args.data, args.repeat)
        return
    with tempfile.TemporaryDirectory() as tmp:
        data = args.data
        if data is None:
            data = Path(tmp) / "data"
            subprocess.run([sys.executable, "-m", "sample_data.generate", "--customers", str(args.customers),
                            "--seed", "1", "--out", str(data), "--quiet"], check=True, stdout=subprocess.DEVNULL)  # fmt: skip
        import polars as pl

        sizes = {t: pl.scan_parquet(f).select(pl.len()).collect().item() for t in ("customers", "orders")
                 for f in [data / f"{t}.parquet"]}  # fmt: skip
        results = {"data": sizes}
        for family in args.only or list(_families({"orders": None, "customers": None})):
            proc = subprocess.run([sys.executable, "-m", "benchmarks.metrics", "--child", family, "--data", str(data),
                                   "--repeat", str(args.repeat)], capture_output=True, text=True)  # fmt: skip
            if proc.returncode:
                results[family] = {"error": proc.stderr[-2000:]}
            else:
                results[family] = json.loads(proc.stdout.strip().splitlines()[-1])
            print(family, results[family], file=sys.stderr, flush=True)
        print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()

"""Scale benchmarks (issue 2): generating 1,000,000 customers and importing a 1,000,000-row
orders CSV: reading, mapping, parsing and validating it (the plan), then writing it to the
embedded SQLite store in one transaction (the commit). Reports the median wall time and the peak memory of each run
(each run is a fresh child process, so peaks do not mix).

    python -m benchmarks.run [--customers 1000000] [--orders 1000000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CHILD_IMPORT = """
import json, resource, sys, tempfile, time
from pathlib import Path
from dashboard.importer import ImportOptions, SourceFile, commit_import, plan_import
from dashboard.store import Store
started = time.perf_counter()
files = [SourceFile(p.name, p.read_bytes()) for p in map(Path, sys.argv[1:])]
plan = plan_import(files, options=ImportOptions())
assert plan.ok, [str(p) for p in plan.errors]
planned = time.perf_counter()
store = Store("sqlite:///" + tempfile.mkdtemp() + "/store.sqlite")
commit_import(plan, store, "bench")
committed = time.perf_counter()
assert store.load("bench").tables["orders"].height == plan.row_counts()["orders"]
print(json.dumps({"plan_s": planned - started, "commit_s": committed - planned,
                  "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def _run(cmd: list[str]) -> tuple[float, float, str]:
    """Wall seconds, peak RSS (MB, the largest child so far) and stdout of one child process."""
    started = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - started
    if proc.returncode:
        raise SystemExit(proc.stderr[-3000:])
    peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # max over children so far
    return wall, peak_kb / 1024, proc.stdout


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--customers", type=int, default=1_000_000)
    p.add_argument("--orders", type=int, default=1_000_000)
    p.add_argument("--repeat", type=int, default=3)
    args = p.parse_args()
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "gen"
        walls, peaks = [], []
        for _ in range(args.repeat):
            w, m, _ = _run([sys.executable, "-m", "sample_data.generate", "--customers",
                         str(args.customers), "--seed", "1", "--out", str(out), "--quiet"])
            walls.append(w)
            peaks.append(m)
        results["generate"] = {"customers": args.customers, "median_s": statistics.median(walls),
                               "runs_s": walls, "peak_mb": max(peaks)}
        import polars as pl

        orders = pl.scan_parquet(out / "orders.parquet").head(args.orders).collect()
        ids = orders.get_column("customer_id").unique()
        customers = pl.scan_parquet(out / "customers.parquet").filter(
            pl.col("customer_id").is_in(ids.implode())).collect()
        csv_dir = Path(tmp) / "csv"
        csv_dir.mkdir()
        orders.write_csv(csv_dir / "orders.csv")
        customers.write_csv(csv_dir / "customers.csv")
        runs = []
        for _ in range(args.repeat):
            _, _, out = _run([sys.executable, "-c", CHILD_IMPORT, str(csv_dir / "customers.csv"),
                              str(csv_dir / "orders.csv")])
            runs.append(json.loads(out.strip().splitlines()[-1]))
        results["import_csv"] = {
            "orders": orders.height, "customers": customers.height,
            "plan_median_s": statistics.median(r["plan_s"] for r in runs),
            "commit_to_store_median_s": statistics.median(r["commit_s"] for r in runs),
            "total_median_s": statistics.median(r["plan_s"] + r["commit_s"] for r in runs),
            "runs": runs, "peak_mb": max(r["peak_mb"] for r in runs),
        }  # fmt: skip
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()

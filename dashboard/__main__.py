"""Command line: python -m dashboard import FILE... --dataset NAME [--mapping FILE.json] [--dry-run]

Same code path as the Data page: plan (read, map, convert, validate), then commit atomically.
Exits 1 and prints the report when the import has errors (an import with no usable data is one);
nothing stored changes then.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from pathlib import Path

from dashboard import config
from dashboard.importer import ImportFailed, ImportOptions, import_paths
from dashboard.importer.recipes import Recipe, RecipeError
from dashboard.store import Store


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dashboard")
    sub = parser.add_subparsers(dest="command", required=True)
    imp = sub.add_parser("import", help="import CRM export files as a dataset")
    imp.add_argument("files", nargs="+", type=Path)
    imp.add_argument("--dataset", required=True, help="dataset name (replaced if it exists)")
    imp.add_argument("--dry-run", action="store_true", help="check and report, store nothing")
    imp.add_argument("--as-of", type=dt.date.fromisoformat, help="as-of / snapshot date")
    imp.add_argument("--encoding", help="force a text encoding (default: detected)")
    imp.add_argument("--delimiter", help="force a CSV delimiter (default: detected)")
    imp.add_argument("--day-first", action="store_true", help="read ambiguous dates as D/M/Y")
    imp.add_argument("--mapping", type=Path, help="a mapping file (JSON) saying what each file is")
    imp.add_argument(
        "--write-mapping", type=Path, help="write the mapping used (recognised or given) to this file"
    )
    imp.add_argument("--currency", help="currency code of the amounts (default: detected)")
    imp.add_argument("--time-zone", default="UTC", help="the dataset's clock, e.g. Europe/London (default: UTC)")
    imp.add_argument("--margin-rate", type=float, help="gross margin as a share of revenue, 0–1")
    imp.add_argument(
        "--lost-after", type=int, metavar="DAYS", help="open deals older than this count as lost"
    )
    imp.add_argument("--store", help="store URL (default: CRM_STORE_URL or the SQLite file)")
    sub.add_parser("datasets", help="list stored datasets")
    args = parser.parse_args(argv)

    store = Store(getattr(args, "store", None) or config.store_url())
    if args.command == "datasets":
        for info in store.list():
            counts = ", ".join(f"{t} {n:,}" for t, n in info.row_counts.items())
            print(f"{info.name}\t{info.updated_at:%Y-%m-%d %H:%M}\t{counts}")
        return 0

    missing = [str(p) for p in args.files if not p.is_file()]
    if missing:
        print(f"error: no such file: {', '.join(missing)}", file=sys.stderr)
        return 2
    if args.margin_rate is not None and not 0 <= args.margin_rate <= 1:
        print("error: --margin-rate is a share of revenue between 0 and 1", file=sys.stderr)
        return 2
    if args.lost_after is not None and args.lost_after < 1:
        print("error: --lost-after is a number of days, at least 1", file=sys.stderr)
        return 2
    try:
        recipe = Recipe.from_json(json.loads(args.mapping.read_text())) if args.mapping else None
    except (OSError, ValueError, RecipeError) as exc:
        print(f"error: the mapping file {args.mapping} cannot be used: {exc}", file=sys.stderr)
        return 2
    options = ImportOptions(
        as_of=args.as_of,
        encoding=args.encoding,
        delimiter=args.delimiter,
        prefer_dmy=args.day_first,
        max_bytes=config.max_upload_mb() * 2**20,
        recipe=recipe,
        currency=args.currency,
        margin_rate=args.margin_rate,
        lost_after_days=args.lost_after,
        time_zone=args.time_zone,
    )
    try:
        plan = import_paths(args.files, args.dataset, store, options, dry_run=args.dry_run)
    except ImportFailed as exc:
        print(f"import of {args.dataset!r} failed; nothing was stored:", file=sys.stderr)
        for problem in exc.problems:
            print(f"  {problem.severity:<7} {problem}", file=sys.stderr)
        return 1
    for problem in plan.problems:
        print(f"  {problem.severity:<7} {problem}")
    if args.write_mapping:
        args.write_mapping.write_text(json.dumps(plan.mapping_file(), indent=2) + "\n")
        print(f"mapping written to {args.write_mapping}")
    counts = ", ".join(f"{t} {n:,}" for t, n in plan.row_counts().items())
    verb = "would import" if args.dry_run else "imported"
    print(f"{verb} {args.dataset!r}: {counts}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Command line: python -m dashboard import FILE... --dataset NAME [--mapping FILE.json] [--dry-run]

Same code path as the Data page: plan (read, map, convert, validate), then commit atomically.
Exits 1 and prints the report when the import has errors (an import with no usable data is one);
nothing stored changes then.

Also: `datasets` (list), `users add|list|remove|set-role|set-password` (built-in accounts; a
password is read from standard input, never an argument), `share` (print a locked link),
`report` (a page as HTML, PDF or PNG, or the KPIs as JSON) and `serve` (the production run mode:
refuses to start without a way to sign in).
"""

from __future__ import annotations

import argparse
import datetime as dt
import getpass
import json
import os
import sys
from pathlib import Path

from dashboard import config
from dashboard.accounts import ROLES, AccountError, Accounts
from dashboard.importer import ImportFailed, ImportOptions, import_paths
from dashboard.importer.recipes import Recipe, RecipeError
from dashboard.naming import SAMPLE, SQL, BadName, check_dataset_name
from dashboard.page_list import SHAREABLE
from dashboard.sharing import PAGES, Lock, link, make_token, parse_duration
from dashboard.store import LOCAL, Store


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
    users = sub.add_parser("users", help="built-in accounts (sign-in without an identity provider)")
    users_sub = users.add_subparsers(dest="action", required=True)
    add = users_sub.add_parser("add", help="add an account; the password is read from standard input")
    add.add_argument("name")
    add.add_argument("--role", choices=ROLES, required=True)
    users_sub.add_parser("list", help="list accounts and roles")
    users_sub.add_parser("remove", help="remove an account").add_argument("name")
    set_role = users_sub.add_parser("set-role", help="change an account's role")
    set_role.add_argument("name")
    set_role.add_argument("role", choices=ROLES)
    users_sub.add_parser("set-password", help="a new password, read from standard input").add_argument("name")
    share = _view_arguments(sub.add_parser("share", help="print a locked link: a view fixed to a slice of one dataset"),
                            "the link is locked to")  # fmt: skip
    share.add_argument("--expires", default="7d", help="how long the link opens: 12h, 7d, 2w (default 7d)")
    share.add_argument("--base-url", default="http://localhost:8501", help="the dashboard's address")
    rep = _view_arguments(sub.add_parser("report", help="a page (html, pdf, png) or the Overview's KPIs (json) as a file, "
                                         "for scheduled snapshots"), "to include, default all")  # fmt: skip
    rep.add_argument("--compare", choices=["previous", "year"], default="previous")
    rep.add_argument("--format", choices=["html", "pdf", "png", "json"], required=True)
    rep.add_argument("--out", type=Path, required=True)
    serve = sub.add_parser("serve", help="run the dashboard for a team: sign-in required, on 0.0.0.0")
    serve.add_argument("--port", type=int, default=8501)
    serve.add_argument("--base-url-path", default="", help="the path behind a reverse proxy, e.g. crm")
    args = parser.parse_args(argv)

    store = Store(getattr(args, "store", None) or config.store_url())
    if args.command == "users":
        return _users(args, store)
    if args.command == "share":
        return _share(args, store)
    if args.command == "serve":
        return _serve(args, store)
    if args.command == "report":
        return _report(args, store)
    if args.command == "datasets":
        for info in store.list():
            counts = ", ".join(f"{t} {n:,}" for t, n in info.row_counts.items())
            print(f"{info.name}\t{info.updated_at:%Y-%m-%d %H:%M}\t{counts}")
        return 0

    try:
        args.dataset = check_dataset_name(args.dataset)
    except BadName as exc:
        print(f"error: --dataset: {exc}", file=sys.stderr)
        return 2
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


def _view_arguments(parser: argparse.ArgumentParser, what: str) -> argparse.ArgumentParser:
    """The options that say a view: dataset, page, tiers, segments, period."""
    parser.add_argument("--dataset", required=True)
    parser.add_argument("--page", default="overview", choices=list(PAGES))
    parser.add_argument("--tier", action="append", default=[], help=f"a tier {what} (repeat for several)")
    parser.add_argument("--segment", action="append", default=[], help=f"a segment {what} (repeatable)")
    parser.add_argument("--from", dest="start", type=dt.date.fromisoformat, help="first day of the period")
    parser.add_argument("--to", dest="end", type=dt.date.fromisoformat, help="last day of the period")
    return parser


def _password() -> str:
    """A password from standard input: asked twice at a terminal, else the first line."""
    if sys.stdin.isatty():
        first, second = getpass.getpass("Password: "), getpass.getpass("Again: ")
        if first != second:
            raise AccountError("The two passwords differ.")
        return first
    return sys.stdin.readline().rstrip("\r\n")


def _users(args, store: Store) -> int:
    accounts = Accounts(store)
    try:
        if args.action == "list":
            for account in accounts.list():
                print(f"{account.name}\t{account.role}\t{account.created_at:%Y-%m-%d %H:%M}")
        elif args.action == "add":
            accounts.add(args.name, _password(), args.role)
            print(f"added {args.name!r} as {args.role}")
        elif args.action == "remove":
            accounts.remove(args.name)
            print(f"removed {args.name!r}")
        elif args.action == "set-role":
            accounts.set_role(args.name, args.role)
            print(f"{args.name!r} is now {args.role}")
        elif args.action == "set-password":
            accounts.set_password(args.name, _password())
            print(f"new password set for {args.name!r}")
    except AccountError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


def _dataset_exists(store: Store, name: str) -> bool:
    """Whether the app has a dataset of this name (stored, the bundled sample, or the SQL source
    when one is configured); says so on standard error when not."""
    if name in {info.name for info in store.list()} | {SAMPLE} | ({SQL} if config.sql_source_config() else set()):
        return True
    print(f"error: no dataset named {name!r} (python -m dashboard datasets lists them)", file=sys.stderr)
    return False


def _share(args, store: Store) -> int:
    if not _dataset_exists(store, args.dataset):
        return 2
    try:
        expires = dt.datetime.now(dt.UTC).replace(tzinfo=None) + parse_duration(args.expires)
        lock = Lock(args.dataset, args.page, tuple(args.tier), tuple(args.segment), args.start, args.end, expires)
        url = link(args.base_url, make_token(store, lock), args.page)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    store.record(LOCAL, "locked link", f"dataset {lock.dataset!r}, {lock.describe()}, until {lock.expires:%Y-%m-%d %H:%M} UTC")
    print(url)
    return 0


def _report(args, store: Store) -> int:
    """The page as the app draws it for these filters: run through Streamlit's AppTest in this
    process (the same scripts, views and charts), its figures and header taken from what it drew."""
    from dashboard import data, filters
    from dashboard.report import PageReport, render
    from metrics.domain import Filters, Period, Slice
    from metrics.slicing import dimension_values

    if not _dataset_exists(store, args.dataset):
        return 2
    dataset = data.open_dataset(args.dataset, store)
    for flag, column, chosen in (("--tier", "tier", args.tier), ("--segment", "segment", args.segment)):
        unknown = sorted(set(chosen) - set(dimension_values(dataset.tables, column)))
        if unknown:
            print(f"error: {flag}: the dataset has no {column} {', '.join(map(repr, unknown))}", file=sys.stderr)
            return 2
    as_of = filters.dataset_as_of(dataset)
    start, end = filters.default_period(as_of, filters._earliest(dataset, as_of))
    start, end = args.start or start, args.end or end
    if not start <= end <= as_of:
        print(f"error: the period {start} – {end} must end by the as-of date {as_of} and start before it ends", file=sys.stderr)
        return 2
    chosen = Filters(Slice(tuple(args.tier), tuple(args.segment)), Period(start, end), args.compare, as_of)
    figures, title, summary, notes = [], SHAREABLE[args.page].title, "", []
    if args.format != "json":
        figures, title, summary, notes = _draw_page(args, chosen)
    settings_currency = dataset.settings.currency_code()  # as the app's report: a code or nothing
    report = PageReport(title, summary or f"{args.dataset} · {chosen.period.label()} · data as of {as_of:%d %b %Y}", args.dataset,
                        chosen, settings_currency, dataset, figures, notes)  # fmt: skip
    args.out.write_bytes(render(report, args.format))
    print(f"wrote {args.out} ({args.format}, {len(figures)} charts)")
    return 0


def _draw_page(args, chosen) -> tuple[list, str, str, list[str]]:
    import plotly.graph_objects as go
    from streamlit.testing.v1 import AppTest

    from dashboard import access

    access.COMMAND_LINE = access.Visitor("command line", "viewer", signed_in=False)
    at = AppTest.from_file(str(config.PROJECT_ROOT / "dashboard" / "app.py"), default_timeout=900)
    at.query_params.update({"dataset": args.dataset, "tier": list(chosen.slice.tiers), "segment": list(chosen.slice.segments),
                            "period": [chosen.period.start.isoformat(), chosen.period.end.isoformat()], "compare": chosen.comparison})  # fmt: skip
    at.run()
    if args.page != "overview":
        at.switch_page(f"../pages/{args.page}.py").run()
    if at.exception:
        raise SystemExit(f"error: the page failed: {at.exception[0].value}")
    figures = [go.Figure(json.loads(chart.proto.spec)) for chart in at.get("plotly_chart")]
    title = at.title[0].value if at.title else SHAREABLE[args.page].title
    summary = at.caption[0].value.replace("\\", "") if at.caption else ""
    notes = [str(i.value).replace("\\", "").replace("**", "") for i in at.info]  # e.g. why the page cannot be computed
    return figures, title, summary, notes


def _serve(args, store: Store) -> int:
    """Replace this process with `streamlit run` in production settings, after checking that
    nobody can open the dashboard without signing in (or an allowed anonymous viewing)."""
    if not (config.auth_configured() or Accounts(store).exist()):
        print("error: the production mode needs a way to sign in: add an account first "
              "(python -m dashboard users add NAME --role admin) or configure [auth] in secrets.toml", file=sys.stderr)  # fmt: skip
        return 2
    server = config.PROJECT_ROOT / "dashboard" / "server.py"  # the app, loaded and prepared as the server starts
    command = [sys.executable, "-m", "streamlit", "run", str(server), "--server.address", "0.0.0.0",
               "--server.port", str(args.port), "--server.headless", "true", "--server.fileWatcherType", "none",
               "--server.enableXsrfProtection", "true",
               "--server.enableCORS", "true", "--client.showErrorDetails", "none", "--client.toolbarMode", "viewer",
               "--browser.gatherUsageStats", "false", "--server.baseUrlPath", args.base_url_path]  # fmt: skip
    if config.secrets_path().exists():  # st.login reads Streamlit's secrets: the same file as the app's own settings
        command += ["--secrets.files", str(config.secrets_path())]
    os.environ["CRM_REQUIRE_SIGN_IN"] = "1"  # the app itself refuses to serve open, should the accounts go
    os.execv(sys.executable, command)
    return 0  # not reached


if __name__ == "__main__":
    raise SystemExit(main())

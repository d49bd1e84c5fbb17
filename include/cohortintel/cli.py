"""Command line: ``cohortintel demo`` sets everything up and runs the DAG through Airflow.

Subcommands:
  demo         find or start PostgreSQL, load the Online Retail data into a source
               database, run the monthly DAG for every month, print the summary
  summary      print the summary of what the warehouse contains now
  run-month    run every step of one month in this process, without Airflow
  rebuild-cohorts  rebuild the cohort marts from every loaded transaction
  project-retention  project retention and flag at-risk cohorts as of one month
  airflow-env  print shell ``export`` lines that point Airflow at this project
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import threading
from pathlib import Path

from cohortintel import db, report, source
from cohortintel.config import DEFAULT_DATABASE_PREFIX, Settings
from cohortintel.environment import DatabaseNames, airflow_environment
from cohortintel.months import add_months, parse_month
from cohortintel.postgres_server import (
    PostgresServer,
    drop_database,
    ensure_database,
    find_or_start,
    is_reachable,
)
from cohortintel.publish import chart_dir

log = logging.getLogger("cohortintel.cli")


def _server() -> PostgresServer:
    return find_or_start(os.environ.get("COHORTINTEL_POSTGRES_URL"))


def _names() -> DatabaseNames:
    prefix = os.environ.get("COHORTINTEL_DATABASE_PREFIX", DEFAULT_DATABASE_PREFIX).strip()
    return DatabaseNames.with_prefix(prefix)


def prepare_databases(
    server: PostgresServer,
    names: DatabaseNames,
    data_path: Path,
    reload: bool,
    monthly_sales_path: Path | None = None,
    reload_monthly_sales: bool = False,
) -> None:
    """Create the three databases, load the source unless it is loaded, migrate the warehouse.

    With ``monthly_sales_path``, the monthly sales series of that folder are
    loaded too, unless the source already contains them.

    Loading the source anew also empties the warehouse and removes old charts,
    because results of other source data would mix with the new ones.
    """
    for name in (names.source, names.warehouse, names.airflow):
        ensure_database(server, name)
    source_dsn = server.database_dsn(names.source)
    settings = Settings.from_env()
    existing = source.source_row_count(source_dsn, settings.source_table)
    if reload or not existing:
        if not data_path.is_file():
            problem = "is a folder, not a file" if data_path.is_dir() else "not found"
            raise FileNotFoundError(
                f"Online Retail data {data_path} {problem}; pass the CSV (or .csv.gz) path with --data."
            )
        print(
            f"cohortintel: loading {data_path} into {names.source}.{settings.source_table}",
            flush=True,
        )
        rows = source.load_online_retail(
            source_dsn, data_path, settings.source_table, allow_empty=False
        )
        print(f"cohortintel: loaded {rows:,} source rows", flush=True)
        drop_database(server, names.warehouse)
        ensure_database(server, names.warehouse)
        shutil.rmtree(settings.output_dir / "charts", ignore_errors=True)
        print(
            f"cohortintel: emptied the warehouse {names.warehouse} and removed old charts, "
            f"so results come from the new source data only",
            flush=True,
        )
    else:
        print(
            f"cohortintel: source table {settings.source_table} already contains {existing:,} rows "
            f"(use --data FILE to load another file, or --reload-source for the default file)",
            flush=True,
        )
    applied = db.migrate(server.database_dsn(names.warehouse))
    if applied:
        print(f"cohortintel: applied warehouse migrations {', '.join(applied)}", flush=True)
    if monthly_sales_path is not None:
        prepare_monthly_sales(
            server, names, settings, monthly_sales_path, reload or reload_monthly_sales
        )


def prepare_monthly_sales(
    server: PostgresServer,
    names: DatabaseNames,
    settings: Settings,
    folder: Path,
    reload: bool,
) -> None:
    """Load the monthly sales series into the source unless they are loaded already.

    Loading them anew replaces every series of the source table, so a folder of
    one's own is forecast alone. It also empties the warehouse's monthly series and
    forecasts, because forecasts of other series data would mix with the new ones.
    """
    source_dsn = server.database_dsn(names.source)
    table = settings.monthly_sales_table
    existing = source.source_row_count(source_dsn, table)
    if existing and not reload:
        print(
            f"cohortintel: monthly sales table {table} already contains {existing:,} rows "
            f"(use --monthly-sales-data FOLDER to load other series)",
            flush=True,
        )
        return
    print(f"cohortintel: loading the monthly sales series of {folder} into {table}", flush=True)
    counts = source.load_monthly_sales(source_dsn, folder, table, replace=True)
    with db.transaction(server.database_dsn(names.warehouse)) as cur:
        cur.execute(
            "truncate marts.sales_monthly, marts.monthly_forecast_model,"
            " marts.monthly_sales_forecast, staging.monthly_forecast_model,"
            " staging.monthly_sales_forecast"
        )
    print(
        f"cohortintel: loaded {len(counts)} monthly series ({sum(counts.values()):,} months) "
        f"and emptied the warehouse's monthly forecasts",
        flush=True,
    )


def run_child(command: list[str], **popen_arguments: object) -> subprocess.CompletedProcess:
    """Run a child process to its end, passing a SIGTERM of this process on to it.

    Python's default SIGTERM action ends this process at once and leaves the
    child running, for example a supervisor stopping the demo mid-run. Ctrl-C
    needs no forwarding, because the terminal signals the whole process group.
    """
    with subprocess.Popen(command, **popen_arguments) as child:
        # Signal handlers can only be set in the main thread.
        forwarding = threading.current_thread() is threading.main_thread()
        previous = None
        if forwarding:
            previous = signal.signal(
                signal.SIGTERM, lambda signum, frame: child.send_signal(signum)
            )
        try:
            stdout, _ = child.communicate()
        finally:
            if forwarding:
                signal.signal(signal.SIGTERM, previous)
    return subprocess.CompletedProcess(command, child.returncode, stdout)


def run_airflow(env: dict[str, str], *args: str, verbose: bool = False) -> None:
    """Run a command with the Airflow environment; show its output only when it fails."""
    result = run_child(
        list(args),
        env={**os.environ, **env},
        stdout=None if verbose else subprocess.PIPE,
        stderr=None if verbose else subprocess.STDOUT,
        text=True,
    )
    if result.returncode != 0:
        if result.stdout:
            sys.stderr.write(result.stdout[-20000:])
        raise subprocess.CalledProcessError(result.returncode, list(args))


# A Python exception as a log line shows it: "DataQualityError: ...", "psycopg2.errors.X: ...".
_EXCEPTION_LINE = re.compile(r"(?:^|\s)(?:[A-Za-z_][\w.]*\.)?[A-Z]\w*(?:Error|Exception): ")


def first_error_lines(lines: list[str], following: int = 8) -> list[str]:
    """Return the first exception line of a log and up to ``following`` lines after it.

    Task failures run into later output of other tasks, so the last lines of
    the log often miss the error itself.
    """
    for index, line in enumerate(lines):
        if _EXCEPTION_LINE.search(line):
            return lines[index : index + 1 + following]
    return []


def check_within_source(option: str, month: str | None, data_first: str, data_last: str) -> None:
    """Raise ValueError when ``month`` (YYYY-MM) lies outside the source data's months.

    A month without source rows would only fail its data-quality check, after
    other branches of the run had already published.
    """
    if month is not None and not data_first <= month <= data_last:
        raise ValueError(
            f"{option} {month} is outside the source data, which covers {data_first} to "
            f"{data_last}; choose a month in that range."
        )


def source_months(source_dsn: str, settings: Settings) -> tuple[str, str]:
    """Return the first and last month (YYYY-MM) that the Online Retail source table covers."""
    with db.transaction(source_dsn) as cur:
        cur.execute(
            db.sql.SQL("select min(invoice_date), max(invoice_date) from {}").format(
                db.identifier(settings.source_table)
            )
        )
        first, last = cur.fetchone()
    if first is None:
        raise SystemExit(
            f"cohortintel: source table {settings.source_table} is empty; nothing to run."
        )
    return f"{first:%Y-%m}", f"{last:%Y-%m}"


def command_demo(args: argparse.Namespace) -> int:
    if args.first and args.last and args.first > args.last:
        raise ValueError(
            f"--first {args.first} is after --last {args.last}; give the earlier month first."
        )
    server = _server()
    names = _names()
    where = "embedded PostgreSQL" if server.embedded else "PostgreSQL"
    print(f"cohortintel: using {where} at {db.redact_dsn(server.admin_dsn)}", flush=True)
    data_path = Path(args.data) if args.data else source.DEFAULT_ONLINE_RETAIL_CSV
    monthly_path: Path | None = source.DEFAULT_MONTHLY_SALES_DIR
    if args.monthly_sales_data:
        monthly_path = Path(args.monthly_sales_data)
    elif not monthly_path.is_dir():
        print(
            f"cohortintel: no monthly sales series at {monthly_path}, so the monthly forecast "
            f"has nothing to do; pass a folder with --monthly-sales-data",
            flush=True,
        )
        monthly_path = None
    # A file or folder named on the command line is always loaded, so it is never ignored.
    prepare_databases(
        server,
        names,
        data_path,
        reload=args.reload_source or bool(args.data),
        monthly_sales_path=monthly_path,
        reload_monthly_sales=bool(args.monthly_sales_data),
    )
    settings = Settings.from_env()
    data_first, data_last = source_months(server.database_dsn(names.source), settings)
    first = args.first or data_first
    last = args.last or data_last
    if first > last:
        raise ValueError(f"--first {first} is after --last {last}; give the earlier month first.")
    for option, month in (("--first", args.first), ("--last", args.last)):
        check_within_source(option, month, data_first, data_last)
    env = airflow_environment(server, names)
    # Fail fast in the demo: a retry would wait the production retry delay.
    env["COHORTINTEL_TASK_RETRIES"] = os.environ.get("COHORTINTEL_TASK_RETRIES", "0")
    print("cohortintel: migrating the Airflow metadata database", flush=True)
    run_airflow(env, sys.executable, "-m", "airflow", "db", "migrate", verbose=args.verbose)
    print(
        f"cohortintel: running the DAG cohort_monthly through Airflow for {first} to {last}",
        flush=True,
    )
    log_path = settings.output_dir / "logs" / "demo_airflow.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("w", encoding="utf-8") as log_file:
        result = run_child(
            [sys.executable, "-m", "cohortintel.airflow_runner", first, last],
            env={**os.environ, **env},
            stdout=None if args.verbose else log_file,
            stderr=None if args.verbose else subprocess.STDOUT,
            text=True,
        )
    if result.returncode < 0:
        # The runner ended on a signal, usually a SIGTERM passed on by run_child.
        signal_name = signal.Signals(-result.returncode).name
        print(
            f"cohortintel: the DAG runs stopped on {signal_name}. Airflow's output is in "
            f"{log_path}. Running the command again is safe: each month's run replaces that "
            f"month's rows.",
            file=sys.stderr,
        )
        return 128 - result.returncode
    if result.returncode != 0:
        if not args.verbose:
            lines = log_path.read_text(encoding="utf-8", errors="replace").splitlines()
            sys.stderr.write("\n".join(lines[-60:]) + "\n")
            errors = first_error_lines(lines)
            if errors:
                sys.stderr.write("cohortintel: the first error in Airflow's output:\n")
                sys.stderr.write("\n".join(errors) + "\n")
        print(
            f"cohortintel: the DAG run failed; the whole Airflow output is in {log_path}.",
            file=sys.stderr,
        )
        return result.returncode
    print(f"cohortintel: Airflow's task logs of these runs are in {log_path}", flush=True)
    print(_summary_text(server, names, settings, parse_month(last)))
    return 0


def _summary_text(
    server: PostgresServer,
    names: DatabaseNames,
    settings: Settings,
    through_month: dt.date | None = None,
) -> str:
    """Return the summary of the warehouse, or of the runs up to ``through_month``."""
    warehouse_dsn = server.database_dsn(names.warehouse)
    last_month = through_month
    if last_month is None:
        with db.transaction(warehouse_dsn) as cur:
            cur.execute("select max(occurred_month) from core.transactions")
            (last_month,) = cur.fetchone()
    charts = sorted(chart_dir(settings, last_month).glob("*.png")) if last_month else []
    return report.summary(
        server.database_dsn(names.source),
        warehouse_dsn,
        settings.source_table,
        charts,
        settings.output_dir / "data_docs" / f"{last_month:%Y-%m}" / "index.html"
        if last_month
        else None,
        through_month,
    )


def command_summary(args: argparse.Namespace) -> int:
    print(_summary_text(_server(), _names(), Settings.from_env()))
    return 0


def command_run_month(args: argparse.Namespace) -> int:
    """Run every step of one month in this process, without Airflow, for debugging."""
    from cohortintel.customer_risk import score_customers
    from cohortintel.monthly_sales import (
        copy_monthly_sales,
        fit_monthly_series,
        publish_monthly_forecasts,
    )
    from cohortintel.months import month_start, parse_month
    from cohortintel.pipeline import forecast_sales, run_month
    from cohortintel.publish import render_charts
    from cohortintel.retention import project_retention

    server = _server()
    names = _names()
    settings = Settings.from_env()
    source_dsn = server.database_dsn(names.source)
    warehouse_dsn = server.database_dsn(names.warehouse)
    month = parse_month(args.month)
    if not is_reachable(source_dsn) or not is_reachable(warehouse_dsn):
        raise ConnectionError(
            f"The databases {names.source} and {names.warehouse} are missing or unreachable; "
            f"run `cohortintel demo` (or `make demo`) once to create them, with the same "
            f"COHORTINTEL_DATABASE_PREFIX."
        )
    check_within_source("month", f"{month:%Y-%m}", *source_months(source_dsn, settings))
    db.migrate(warehouse_dsn)
    run_id = f"cli__{month:%Y-%m}"
    counts = run_month(source_dsn, warehouse_dsn, month, settings, run_id)
    project_retention(warehouse_dsn, month, run_id)
    score_customers(warehouse_dsn, month, run_id)
    interval = (
        month_start(month, settings.business_timezone),
        month_start(add_months(month, 1), settings.business_timezone),
    )
    forecast_sales(warehouse_dsn, month, settings, run_id, interval)
    for series_id in copy_monthly_sales(source_dsn, warehouse_dsn, month, settings, run_id):
        fit_monthly_series(warehouse_dsn, series_id, month, settings, run_id, interval)
    publish_monthly_forecasts(warehouse_dsn, month)
    charts = render_charts(warehouse_dsn, month, settings)
    print(
        f"cohortintel: {month:%Y-%m} done: {counts['rows_read']:,} rows read, "
        f"{counts['rows_accepted']:,} accepted, {counts['rows_quarantined']:,} quarantined; "
        f"charts: {', '.join(charts) or 'none'}"
    )
    return 0


def command_rebuild_cohorts(args: argparse.Namespace) -> int:
    from cohortintel.cohorts import build_cohorts

    counts = build_cohorts(_server().database_dsn(_names().warehouse), Settings.from_env())
    print(
        f"cohortintel: rebuilt the cohort marts: {counts['cohorts']} cohorts, "
        f"{counts['cells']} cells in marts.cohort_cell"
    )
    return 0


def command_project_retention(args: argparse.Namespace) -> int:
    from cohortintel.months import parse_month
    from cohortintel.retention import project_retention

    month = parse_month(args.month)
    counts = project_retention(
        _server().database_dsn(_names().warehouse), month, f"cli__{month:%Y-%m}"
    )
    if counts["as_of_month"] is None:
        print(f"cohortintel: no month up to {month:%Y-%m} is closed; nothing projected")
        return 0
    print(
        f"cohortintel: projected retention as of {counts['as_of_month'][:7]}: "
        f"{counts['segments_projected']} segments, {counts['rows_projected']} projected cells "
        f"in marts.retention_projection, {counts['at_risk_cohorts']} at-risk flags in "
        "marts.retention_at_risk"
    )
    return 0


def command_airflow_env(args: argparse.Namespace) -> int:
    server = _server()
    names = _names()
    for name in (names.source, names.warehouse, names.airflow):
        ensure_database(server, name)
    env = airflow_environment(server, names)
    settings = Settings.from_env()
    source_dsn = server.database_dsn(names.source)
    if not os.environ.get("COHORTINTEL_END_MONTH") and source.source_row_count(
        source_dsn, settings.source_table
    ):
        # Stop the schedule at the demo data's last month, so unpausing the DAG
        # backfills the data instead of failing on every empty month since.
        env["COHORTINTEL_END_MONTH"] = source_months(source_dsn, settings)[1]
    for key, value in env.items():
        print(f"export {key}={shlex.quote(value)}")
    return 0


def _month_argument(text: str) -> str:
    try:
        return f"{parse_month(text):%Y-%m}"
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cohortintel", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser(
        "demo", help="load the Online Retail data and run every month through Airflow"
    )
    demo.add_argument(
        "--data",
        help=(
            "Online Retail CSV or .csv.gz to load into the source database, replacing what it "
            f"contains and emptying the warehouse (default: {source.DEFAULT_ONLINE_RETAIL_CSV}, "
            "loaded only when the source table is empty)"
        ),
    )
    demo.add_argument(
        "--monthly-sales-data",
        metavar="FOLDER",
        help=(
            "folder of monthly sales CSV files (one series per file, columns period,value) to "
            "load into the source database in place of every series there, emptying the monthly "
            f"forecasts (default: {source.DEFAULT_MONTHLY_SALES_DIR}, loaded only when the "
            "monthly sales table is empty)"
        ),
    )
    demo.add_argument(
        "--first",
        type=_month_argument,
        help="first month to run, YYYY-MM (default: the data's first month)",
    )
    demo.add_argument(
        "--last",
        type=_month_argument,
        help="last month to run, YYYY-MM (default: the data's last month)",
    )
    demo.add_argument(
        "--reload-source",
        action="store_true",
        help="load the source table again from --data or the default file",
    )
    demo.add_argument("--verbose", action="store_true", help="show Airflow's task logs")
    demo.set_defaults(handler=command_demo)
    commands.add_parser("summary", help="print the summary of the warehouse").set_defaults(
        handler=command_summary
    )
    run = commands.add_parser(
        "run-month",
        help="run every step of one month in this process, without Airflow (for debugging)",
    )
    run.add_argument("month", type=_month_argument, help="month to run, YYYY-MM")
    run.set_defaults(handler=command_run_month)
    commands.add_parser(
        "rebuild-cohorts",
        help="rebuild the cohort marts from every loaded transaction (after changing segments)",
    ).set_defaults(handler=command_rebuild_cohorts)
    project = commands.add_parser(
        "project-retention",
        help="project retention and flag at-risk cohorts as of the newest closed month up to MONTH",
    )
    project.add_argument("month", type=_month_argument, help="run month, YYYY-MM")
    project.set_defaults(handler=command_project_retention)
    commands.add_parser(
        "airflow-env", help="print export lines for the Airflow environment"
    ).set_defaults(handler=command_airflow_env)
    return parser


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    args = build_parser().parse_args(argv)
    command = " ".join(argv if argv is not None else sys.argv[1:])
    try:
        return args.handler(args)
    except (ValueError, OSError, ConnectionError) as error:
        # Bad input or a missing file: the message names the fix, and a traceback adds nothing.
        print(f"cohortintel: error: {error}", file=sys.stderr)
        return 2
    except RuntimeError as error:
        # The pipeline's own failures (data quality, extract, load) explain themselves;
        # other runtime errors keep their traceback.
        if type(error).__module__.startswith("cohortintel."):
            print(
                f"cohortintel: {command} failed: {type(error).__name__}: {error}",
                file=sys.stderr,
            )
            return 1
        raise
    except subprocess.CalledProcessError as error:
        print(
            f"cohortintel: error: {' '.join(error.cmd)} exited with {error.returncode}",
            file=sys.stderr,
        )
        return 1


if __name__ == "__main__":
    sys.exit(main())

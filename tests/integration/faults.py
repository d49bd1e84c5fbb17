"""A small multi-month Online Retail source, warehouse snapshots and tools to inject faults.

Faults are placed with real locks: the test holds a lock that a pipeline step
needs, waits until that step's backend is seen waiting on it in
pg_stat_activity, and then kills the backend or the worker process.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import subprocess
import sys
import time
from pathlib import Path

import psycopg2
import psycopg2.extensions

from cohortintel import db
from cohortintel.config import PROJECT_ROOT, Settings
from cohortintel.months import month_range
from cohortintel.pipeline import run_month
from cohortintel.source import load_online_retail

HEADER = "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country"
# Line ids follow the file order, starting at 1.
LINES = [
    "536001,10001,MUG,2,2011-05-10 10:00:00,1.50,100,United Kingdom",  # 1: May
    "536002,10002,LAMP,1,2011-06-02 11:00:00,9.95,100,United Kingdom",  # 2: June, returning
    "536003,10003,CANDLE,4,2011-06-03 12:00:00,2.10,200,France",  # 3: June, new customer
    "536004,10004,BROKEN,1,2011-06-04 13:00:00,-5.00,300,United Kingdom",  # 4: negative price
    "536005,10005,TEAPOT,1,2011-07-05 09:00:00,12.00,200,France",  # 5: July
    "536005,10005,TEAPOT,1,2011-07-05 09:00:00,12.00,200,France",  # 6: exact duplicate of 5
    "536006,10006,CLOCK,3,2011-07-06 15:00:00,4.25,400,Germany",  # 7: July, new customer
    "C536007,10002,LAMP,-1,2011-07-07 16:00:00,9.95,100,United Kingdom",  # 8: return
    "536008,10007,VASE,2,2011-08-08 10:00:00,6.00,300,United Kingdom",  # 9: August
    "536009,10008,TRAY,5,2011-08-09 10:00:00,1.20,500,United Kingdom",  # 10: August, new
    "536010,10009,BELL,1,2011-09-01 10:00:00,3.00,500,United Kingdom",  # 11: September
]
# A late July line that arrives after July was loaded once.
LATE_JULY_LINE = ("536011", "10010", "BOWL", 2, "2011-07-20 10:00:00", 3.50, 600, "Spain")
JUNE, JULY, AUGUST = dt.date(2011, 6, 1), dt.date(2011, 7, 1), dt.date(2011, 8, 1)
# One bad line in three in June is far above the production limit of 5%.
SETTINGS = dataclasses.replace(Settings(), max_quarantine_share=0.5)

# Tables compared row by row, with the columns that only hold wall-clock times left out.
SNAPSHOT_TABLES = {
    "core.transactions": ("loaded_at",),
    "quarantine.transactions": ("quarantined_at",),
    "ops.batch_report": ("reported_at",),
    "core.customer_month": (),
    "marts.customer_cohort": (),
    "marts.cohort_cell": (),
    "ops.loaded_month": ("loaded_at",),
}
RUN_ID_COLUMNS = ("run_id", "loaded_by_run_id")

# Runs one month of the data path in a separate worker process.
RUN_MONTH_SCRIPT = """
import dataclasses, datetime as dt, sys
from cohortintel.config import Settings
from cohortintel.pipeline import run_month

settings = dataclasses.replace(Settings(), max_quarantine_share=0.5)
run_month(sys.argv[1], sys.argv[2], dt.date.fromisoformat(sys.argv[3]), settings, sys.argv[4])
print("run finished", flush=True)
"""

TIMEOUT_SECONDS = 120


def write_source(make_database, tmp_path: Path, lines: list[str] = LINES) -> str:
    """Create a source database holding ``lines`` as an Online Retail table."""
    path = tmp_path / f"retail_{len(lines)}.csv"
    path.write_text("\n".join([HEADER, *lines]) + "\n", encoding="utf-8")
    dsn = make_database("source")
    load_online_retail(dsn, path)
    return dsn


def add_late_july_line(source_dsn: str) -> None:
    with db.transaction(source_dsn) as cur:
        cur.execute(
            "insert into public.invoice_lines (invoice_no, stock_code, description, quantity,"
            " invoice_date, unit_price, customer_id, country)"
            " values (%s, %s, %s, %s, %s, %s, %s, %s)",
            LATE_JULY_LINE,
        )


def run_id_for(month: dt.date) -> str:
    return f"run__{month:%Y-%m}"


def run_months(source_dsn: str, warehouse_dsn: str, months: list[dt.date]) -> None:
    """Run the data path for each month in the given order, each with its month's run id."""
    for month in months:
        run_month(source_dsn, warehouse_dsn, month, SETTINGS, run_id_for(month))


def clean_run(make_database, source_dsn: str, months: list[dt.date] | None = None) -> str:
    """Run the months in order on a fresh warehouse without faults; return its connection string."""
    warehouse = make_database("clean")
    db.migrate(warehouse)
    run_months(source_dsn, warehouse, months or month_range(JUNE, AUGUST))
    return warehouse


def snapshot(dsn: str, without_run_ids: bool = False) -> dict[str, list]:
    """Return every row of the compared tables as sorted JSON text."""
    tables = {}
    with db.transaction(dsn) as cur:
        for table, skipped in SNAPSHOT_TABLES.items():
            columns = list(skipped) + (list(RUN_ID_COLUMNS) if without_run_ids else [])
            cur.execute(
                db.sql.SQL(
                    "select (to_jsonb(t) - %s::text[])::text from {} as t order by 1"
                ).format(db.identifier(table)),
                (columns,),
            )
            tables[table] = [row[0] for row in cur.fetchall()]
    return tables


def admin_connection(admin_dsn: str) -> psycopg2.extensions.connection:
    conn = psycopg2.connect(admin_dsn, application_name="cohortintel-test-fault")
    conn.autocommit = True
    return conn


def wait_for_blocked_backends(
    admin_dsn: str, dsn: str, query_start: str, count: int = 1
) -> list[int]:
    """Wait until ``count`` backends of ``dsn``'s database wait on a lock in a query starting so.

    ``query_start`` is matched case-insensitively after leading comments and
    whitespace are stripped, so it names the statement the backend is in.
    Returns the backends' pids.
    """
    dbname = psycopg2.extensions.parse_dsn(dsn)["dbname"]
    deadline = time.monotonic() + TIMEOUT_SECONDS
    conn = admin_connection(admin_dsn)
    try:
        with conn.cursor() as cur:
            while time.monotonic() < deadline:
                cur.execute(
                    "select pid from pg_stat_activity where datname = %s"
                    " and wait_event_type = 'Lock' and application_name like 'cohortintel%%'"
                    " and regexp_replace(query, '^(\\s|--[^\\n]*\\n)*', '') ilike %s",
                    (dbname, query_start + "%"),
                )
                pids = [row[0] for row in cur.fetchall()]
                if len(pids) >= count:
                    return pids
                time.sleep(0.05)
    finally:
        conn.close()
    raise TimeoutError(
        f"Fewer than {count} backends of {dbname} waited on a lock in a query starting with "
        f"{query_start!r} "
        f"within {TIMEOUT_SECONDS} s."
    )


def wait_for_backend_exit(admin_dsn: str, pid: int) -> None:
    deadline = time.monotonic() + TIMEOUT_SECONDS
    conn = admin_connection(admin_dsn)
    try:
        with conn.cursor() as cur:
            while time.monotonic() < deadline:
                cur.execute("select 1 from pg_stat_activity where pid = %s", (pid,))
                if cur.fetchone() is None:
                    return
                time.sleep(0.05)
    finally:
        conn.close()
    raise TimeoutError(f"Backend {pid} was still running after {TIMEOUT_SECONDS} s.")


def start_worker(source_dsn: str, warehouse_dsn: str, month: dt.date, run_id: str):
    """Start a worker process that runs ``month`` the way the command line does."""
    include = str(PROJECT_ROOT / "include")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([include, str(PROJECT_ROOT)])}
    return subprocess.Popen(
        [
            sys.executable,
            "-c",
            RUN_MONTH_SCRIPT,
            source_dsn,
            warehouse_dsn,
            month.isoformat(),
            run_id,
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )

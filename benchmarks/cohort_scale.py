"""Time the cohort data path on synthetic transactions of 1M and 10M rows.

For each size the script generates transactions in the Online Retail format
(``cohortintel.synthetic``), loads them into a source database and measures,
each approach in its own subprocess so that its peak memory is its own:

- ``backfill``: extract, validate, load and cohort refresh for every month
  but the last, as the DAG's tasks run them (called directly, without Airflow);
- ``incremental``: the same for the last month, as the next scheduled run
  would do (its look-back month is unchanged, so it is skipped);
- ``rerun``: the last month once more, replacing what the previous run loaded;
- ``vacuum``: ``vacuum analyze`` of the fact table, as autovacuum would run
  between monthly runs, so that the next two read the same table;
- ``rebuild``: one full rebuild of the cohort marts from core.transactions;
- ``handwritten``: one hand-written SQL statement that computes the active
  customers per cohort and month straight from the transactions;
- ``pandas``: every source row read into pandas and grouped in memory;
- ``scan``: ``select count(*)`` over the source table and over one month of it.

Usage: python benchmarks/cohort_scale.py --rows 1000000 --rows 10000000
The databases (prefix ``cohortintel_bench_scale``) are dropped at the end.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PREFIX = "cohortintel_bench_scale"

HANDWRITTEN_MATRIX = """
with
purchases as (
    select customer_id, occurred_month
    from core.transactions
    where line_kind = 'purchase' and customer_id is not null
),
first_purchase as (
    select customer_id, min(occurred_month) as cohort_month
    from purchases
    group by customer_id
),
customer_months as (
    select distinct customer_id, occurred_month
    from purchases
)
select
    first_purchase.cohort_month,
    (extract(year from age(customer_months.occurred_month, first_purchase.cohort_month)) * 12
        + extract(month from age(customer_months.occurred_month, first_purchase.cohort_month)))::int
        as months_since_first_purchase,
    count(*) as active_customers
from customer_months
inner join first_purchase using (customer_id)
group by 1, 2
"""


def _settings():
    from cohortintel.config import Settings

    return Settings()


def _run_months(source_dsn: str, warehouse_dsn: str, months: list) -> dict:
    from cohortintel.pipeline import STEPS, run_month

    settings = _settings()
    seconds = dict.fromkeys(STEPS, 0.0)
    for month in months:
        run_month(source_dsn, warehouse_dsn, month, settings, "bench", seconds)
    seconds["total"] = sum(seconds.values())
    return seconds


def _source_months(source_dsn: str) -> list:
    import psycopg2

    from cohortintel.months import month_range

    conn = psycopg2.connect(source_dsn)
    with conn.cursor() as cur:
        cur.execute(
            "select min(invoice_date)::date, max(invoice_date)::date from public.invoice_lines"
        )
        first, last = cur.fetchone()
    conn.close()
    return month_range(first.replace(day=1), last.replace(day=1))


def child_backfill(source_dsn: str, warehouse_dsn: str) -> dict:
    return _run_months(source_dsn, warehouse_dsn, _source_months(source_dsn)[:-1])


def child_incremental(source_dsn: str, warehouse_dsn: str) -> dict:
    return _run_months(source_dsn, warehouse_dsn, _source_months(source_dsn)[-1:])


def child_rerun(source_dsn: str, warehouse_dsn: str) -> dict:
    return _run_months(source_dsn, warehouse_dsn, _source_months(source_dsn)[-1:])


def child_vacuum(source_dsn: str, warehouse_dsn: str) -> dict:
    """Vacuum and analyze the fact table, as autovacuum would between monthly runs."""
    import psycopg2

    conn = psycopg2.connect(warehouse_dsn)
    conn.autocommit = True
    started = time.perf_counter()
    with conn.cursor() as cur:
        cur.execute("vacuum analyze core.transactions")
    seconds = time.perf_counter() - started
    conn.close()
    return {"total": seconds}


def child_rebuild(source_dsn: str, warehouse_dsn: str) -> dict:
    from cohortintel.cohorts import build_cohorts

    started = time.perf_counter()
    build_cohorts(warehouse_dsn, _settings())
    return {"total": time.perf_counter() - started}


def child_handwritten(source_dsn: str, warehouse_dsn: str) -> dict:
    import psycopg2

    conn = psycopg2.connect(warehouse_dsn)
    started = time.perf_counter()
    with conn.cursor() as cur:
        cur.execute(HANDWRITTEN_MATRIX)
        cells = len(cur.fetchall())
    seconds = time.perf_counter() - started
    conn.close()
    return {"total": seconds, "cells": cells}


def child_pandas(source_dsn: str, warehouse_dsn: str) -> dict:
    import pandas as pd
    import psycopg2
    from naive_pandas import purchase_lines

    started = time.perf_counter()
    buffer = io.BytesIO()
    conn = psycopg2.connect(source_dsn)
    with conn.cursor() as cur:
        cur.copy_expert(
            "copy public.invoice_lines to stdout with (format csv, header true)", buffer
        )
    conn.close()
    buffer.seek(0)
    frame = pd.read_csv(
        buffer, dtype={"invoice_no": str, "stock_code": str, "customer_id": "Int64"}
    )
    del buffer
    read_seconds = time.perf_counter() - started

    started = time.perf_counter()
    purchases = purchase_lines(frame)
    month_index = (
        pd.to_datetime(purchases["invoice_date"]).dt.year * 12
        + pd.to_datetime(purchases["invoice_date"]).dt.month
    )
    activity = pd.DataFrame(
        {"customer_id": purchases["customer_id"], "month": month_index}
    ).drop_duplicates()
    activity["cohort"] = activity.groupby("customer_id")["month"].transform("min")
    activity["offset"] = activity["month"] - activity["cohort"]
    matrix = activity.groupby(["cohort", "offset"]).size()
    group_seconds = time.perf_counter() - started
    return {
        "read": read_seconds,
        "group": group_seconds,
        "total": read_seconds + group_seconds,
        "cells": len(matrix),
    }


def child_scan(source_dsn: str, warehouse_dsn: str) -> dict:
    import psycopg2

    months = _source_months(source_dsn)
    conn = psycopg2.connect(source_dsn)
    with conn.cursor() as cur:
        started = time.perf_counter()
        cur.execute("select count(*) from public.invoice_lines")
        rows = cur.fetchone()[0]
        full = time.perf_counter() - started

        last = months[-1]
        started = time.perf_counter()
        cur.execute(
            "select count(*) from public.invoice_lines where invoice_date >= %s and invoice_date < %s",
            (last, last.replace(year=last.year + (last.month == 12), month=last.month % 12 + 1)),
        )
        month_rows = cur.fetchone()[0]
        month = time.perf_counter() - started
    conn.close()
    return {"total": full, "rows": rows, "month_scan": month, "month_rows": month_rows}


CHILDREN = {
    "backfill": child_backfill,
    "incremental": child_incremental,
    "rerun": child_rerun,
    "vacuum": child_vacuum,
    "rebuild": child_rebuild,
    "handwritten": child_handwritten,
    "pandas": child_pandas,
    "scan": child_scan,
}


def run_child(mode: str, source_dsn: str, warehouse_dsn: str) -> dict:
    started = time.perf_counter()
    completed = subprocess.run(
        [sys.executable, __file__, "--child", mode, source_dsn, warehouse_dsn],
        capture_output=True,
        text=True,
    )
    if completed.returncode != 0:
        raise RuntimeError(f"benchmark step {mode} failed:\n{completed.stderr[-4000:]}")
    result = json.loads(completed.stdout.strip().splitlines()[-1])
    result["wall"] = time.perf_counter() - started
    return result


def measure_size(rows: int, skip_pandas: bool) -> dict:
    from cohortintel import db, source
    from cohortintel.environment import DatabaseNames
    from cohortintel.postgres_server import drop_database, ensure_database, find_or_start
    from cohortintel.synthetic import SyntheticConfig, write_transactions_file

    server = find_or_start(os.environ.get("COHORTINTEL_POSTGRES_URL"))
    names = DatabaseNames.with_prefix(f"{PREFIX}_{rows}")
    source_dsn = server.database_dsn(names.source)
    warehouse_dsn = server.database_dsn(names.warehouse)
    results: dict = {"target_rows": rows}
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "transactions.csv"
        started = time.perf_counter()
        results["rows_generated"] = write_transactions_file(SyntheticConfig(rows=rows), path)
        results["generate_seconds"] = time.perf_counter() - started
        ensure_database(server, names.source)
        ensure_database(server, names.warehouse)
        try:
            started = time.perf_counter()
            source.load_online_retail(source_dsn, path)
            results["source_load_seconds"] = time.perf_counter() - started
            path.unlink()
            db.migrate(warehouse_dsn)
            # The vacuum after the backfill gives the rebuild and the hand-written
            # statement the same table to read, visibility map included.
            modes = [
                "scan",
                "backfill",
                "incremental",
                "rerun",
                "vacuum",
                "handwritten",
                "rebuild",
            ]
            if not skip_pandas:
                modes.append("pandas")
            for mode in modes:
                print(f"  {rows:,} rows: {mode}", file=sys.stderr, flush=True)
                results[mode] = run_child(mode, source_dsn, warehouse_dsn)
            conn_result = run_child("scan", source_dsn, warehouse_dsn)
            results["scan_after"] = conn_result
        finally:
            drop_database(server, names.source)
            drop_database(server, names.warehouse)
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--rows", type=int, action="append", help="target rows; repeat for several sizes"
    )
    parser.add_argument("--skip-pandas", action="store_true", help="leave out the pandas approach")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        mode, source_dsn, warehouse_dsn = args.child
        result = CHILDREN[mode](source_dsn, warehouse_dsn)
        # ru_maxrss is in kilobytes on Linux.
        result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(json.dumps(result))
        return 0
    print(f"machine: {platform.node()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    all_results = [measure_size(rows, args.skip_pandas) for rows in args.rows or [1_000_000]]
    print(json.dumps(all_results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

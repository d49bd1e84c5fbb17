"""Time the pipeline's data path on the Online Retail data, side by side with the naive way.

Each approach runs in its own subprocess so that its peak memory (max RSS)
is its own:

- ``pipeline``: extract, validate, load and build the cohort marts for every
  month, exactly as the DAG's tasks do, but called directly (no Airflow).
- ``pandas``: read every source row into pandas and compute the same cohort
  matrix in memory, the way a notebook would.
- ``scan``: one ``select count(*)`` over the source table, the floor for any
  approach that reads every row.

Usage: python benchmarks/data_path.py [--data PATH] [--repeat N]
The databases are created with the prefix ``cohortintel_bench`` on the server
at COHORTINTEL_POSTGRES_URL (default 127.0.0.1:5432) and dropped at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

BENCH_PREFIX = "cohortintel_bench"


def run_pipeline(source_dsn: str, warehouse_dsn: str) -> dict:
    from cohortintel.cohorts import build_cohorts
    from cohortintel.config import Settings
    from cohortintel.months import month_range, parse_month
    from cohortintel.pipeline import STEPS, run_month

    settings = Settings()
    steps = dict.fromkeys(STEPS, 0.0)
    for month in month_range(parse_month("2010-12"), parse_month("2011-12")):
        run_month(source_dsn, warehouse_dsn, month, settings, "bench", steps)

    # One more rebuild over the whole loaded year: the SQL counterpart of the
    # pandas approach, which also computes the matrix once from every row.
    started = time.perf_counter()
    build_cohorts(warehouse_dsn, settings)
    steps["cohorts_once"] = time.perf_counter() - started
    return steps


def run_pandas(source_dsn: str) -> dict:
    import pandas as pd
    import psycopg2
    from naive_pandas import purchase_lines

    started = time.perf_counter()
    conn = psycopg2.connect(source_dsn)
    with conn.cursor() as cur:
        cur.execute("select * from public.invoice_lines")
        columns = [column.name for column in cur.description]
        frame = pd.DataFrame(cur.fetchall(), columns=columns)
    conn.close()
    read_seconds = time.perf_counter() - started

    started = time.perf_counter()
    purchases = purchase_lines(frame)
    months = purchases["invoice_date"].dt.to_period("M")
    activity = pd.DataFrame(
        {"customer_id": purchases["customer_id"], "month": months}
    ).drop_duplicates()
    first = activity.groupby("customer_id")["month"].min().rename("cohort")
    activity = activity.join(first, on="customer_id")
    activity["offset"] = (activity["month"] - activity["cohort"]).apply(lambda delta: delta.n)
    matrix = activity.groupby(["cohort", "offset"])["customer_id"].nunique().unstack()
    sizes = matrix[0]
    matrix.div(sizes, axis=0)
    group_seconds = time.perf_counter() - started
    return {"read": read_seconds, "group": group_seconds, "cohort_2010_12": int(sizes.iloc[0])}


def run_scan(source_dsn: str) -> dict:
    import psycopg2

    conn = psycopg2.connect(source_dsn)
    started = time.perf_counter()
    with conn.cursor() as cur:
        cur.execute("select count(*) from public.invoice_lines")
        rows = cur.fetchone()[0]
    seconds = time.perf_counter() - started
    conn.close()
    return {"scan": seconds, "rows": rows}


def child(mode: str, source_dsn: str, warehouse_dsn: str) -> None:
    """Run one approach and print its timings and peak memory as JSON."""
    if mode == "pipeline":
        result = run_pipeline(source_dsn, warehouse_dsn)
    elif mode == "pandas":
        result = run_pandas(source_dsn)
    else:
        result = run_scan(source_dsn)
    # ru_maxrss is in kilobytes on Linux.
    result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(result))


def measure(mode: str, source_dsn: str, warehouse_dsn: str) -> dict:
    started = time.perf_counter()
    output = subprocess.run(
        [sys.executable, __file__, "--child", mode, source_dsn, warehouse_dsn],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    result = json.loads(output.strip().splitlines()[-1])
    result["wall"] = time.perf_counter() - started
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", help="Online Retail CSV (default: the shared data set)")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each approach (default: 3)")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return 0

    from cohortintel import db, source
    from cohortintel.environment import DatabaseNames
    from cohortintel.postgres_server import drop_database, ensure_database, find_or_start

    server = find_or_start(os.environ.get("COHORTINTEL_POSTGRES_URL"))
    names = DatabaseNames.with_prefix(BENCH_PREFIX)
    data = Path(args.data) if args.data else source.DEFAULT_ONLINE_RETAIL_CSV
    ensure_database(server, names.source)
    source_dsn = server.database_dsn(names.source)
    warehouse_dsn = server.database_dsn(names.warehouse)
    try:
        rows = source.load_online_retail(source_dsn, data)
        results: dict[str, list[dict]] = {"pipeline": [], "pandas": [], "scan": []}
        for _ in range(args.repeat):
            drop_database(server, names.warehouse)
            ensure_database(server, names.warehouse)
            db.migrate(warehouse_dsn)
            # Interleave the approaches so that machine noise hits all of them alike.
            for mode in ("scan", "pandas", "pipeline"):
                results[mode].append(measure(mode, source_dsn, warehouse_dsn))
    finally:
        drop_database(server, names.source)
        drop_database(server, names.warehouse)
    report(rows, results)
    return 0


def report(rows: int, results: dict[str, list[dict]]) -> None:
    def median(mode: str, key: str) -> float:
        return statistics.median(run[key] for run in results[mode])

    pipeline_work = median("pipeline", "wall")
    pandas_work = median("pandas", "wall")
    print(f"machine: {platform.node()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    print(f"source rows: {rows:,}; median of {len(results['scan'])} runs each")
    print(f"scan (select count(*)):        {median('scan', 'scan'):8.3f} s")
    for step in ("extract", "validate", "load", "cohorts"):
        print(f"pipeline {step:<10}            {median('pipeline', step):8.2f} s (13 monthly runs)")
    print(
        f"pipeline wall (process):       {pipeline_work:8.2f} s, peak RSS {median('pipeline', 'peak_rss_mb'):.0f} MB"
    )
    print(
        f"pandas read + group:           {median('pandas', 'read'):8.2f} s + {median('pandas', 'group'):.2f} s,"
        f" wall {pandas_work:.2f} s, peak RSS {median('pandas', 'peak_rss_mb'):.0f} MB"
    )
    print(f"pandas December 2010 cohort:   {results['pandas'][0]['cohort_2010_12']}")
    print(f"pipeline wall / pandas wall:   {pipeline_work / pandas_work:8.2f}")
    sql_once = median("pipeline", "cohorts_once")
    pandas_once = median("pandas", "read") + median("pandas", "group")
    print(f"one SQL cohort rebuild:        {sql_once:8.2f} s")
    print(f"pandas read + group / SQL:     {pandas_once / sql_once:8.2f}")


if __name__ == "__main__":
    sys.exit(main())

"""Backtest the retention projection on the Online Retail data against the plain baseline.

The data path (``cohortintel.pipeline.run_month``, as the DAG runs it) loads the
data month by month. After each month the cohort counts of ``marts.cohort_cell``
are kept as they were then, so every backtest origin uses only the counts a run of
that month read. The main origin hides the last 3 closed months: the counts as of
the 4th-last closed month are projected 3 months ahead with the projection
(``cohortintel.projection``) and with the baseline (each month's size-weighted
average over the cohorts that lived it), and both are scored on the active rate
of the hidden cells (``cohortintel.retention_backtest``). Earlier origins are
scored the same way for comparison.

Usage: python benchmarks/retention_backtest.py [--data PATH] [--hidden-months N]
The databases are created with the prefix ``cohortintel_bench_retention`` on the
server at COHORTINTEL_POSTGRES_URL (default 127.0.0.1:5432) and dropped at the end.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
import warnings
from pathlib import Path

import pandas as pd

from cohortintel import db
from cohortintel.config import Settings
from cohortintel.months import add_months, month_range
from cohortintel.postgres_server import drop_database, ensure_database, find_or_start
from cohortintel.projection import ProjectionSettings
from cohortintel.retention_backtest import score_backtest
from cohortintel.retention_model import RetentionModelWarning
from cohortintel.source import DEFAULT_ONLINE_RETAIL_CSV, load_online_retail

PREFIX = "cohortintel_bench_retention"
CELL_COLUMNS = (
    "segment_type",
    "segment",
    "cohort_month",
    "months_since_first_purchase",
    "cohort_size",
    "active_customers",
    "unbounded_active_customers",
)


def snapshot_cells(warehouse_dsn: str, as_of_month) -> pd.DataFrame:
    with db.transaction(warehouse_dsn) as cur:
        cur.execute(
            f"select {', '.join(CELL_COLUMNS)} from marts.cohort_cell where activity_month <= %s",
            (as_of_month,),
        )
        return pd.DataFrame(cur.fetchall(), columns=list(CELL_COLUMNS))


def closed_months(warehouse_dsn: str) -> list:
    with db.transaction(warehouse_dsn) as cur:
        cur.execute("select month from ops.month_status where is_complete order by month")
        return [row[0] for row in cur.fetchall()]


def build_snapshots(source_dsn: str, warehouse_dsn: str) -> tuple[dict, list]:
    """Run every source month through the data path; return the cells after each closed month."""
    from cohortintel.pipeline import run_month

    settings = Settings()
    with db.transaction(source_dsn) as cur:
        cur.execute("select min(invoice_date), max(invoice_date) from public.invoice_lines")
        first, last = cur.fetchone()
    snapshots = {}
    for month in month_range(first.date().replace(day=1), last.date().replace(day=1)):
        run_month(source_dsn, warehouse_dsn, month, settings, "backtest")
        if month in closed_months(warehouse_dsn):
            snapshots[month] = snapshot_cells(warehouse_dsn, month)
    return snapshots, closed_months(warehouse_dsn)


def score_origin(snapshots: dict, origin, truth_month, hidden_months: int, settings) -> list[dict]:
    observed_all = snapshots[origin]
    actual_all = snapshots[truth_month]
    results = []
    for (segment_type, segment), observed in observed_all.groupby(["segment_type", "segment"]):
        customers = observed.loc[observed["months_since_first_purchase"] == 0, "cohort_size"].sum()
        if customers < settings.min_customers:
            continue
        actual = actual_all[
            (actual_all["segment_type"] == segment_type) & (actual_all["segment"] == segment)
        ]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RetentionModelWarning)
            score = score_backtest(
                observed,
                actual,
                origin,
                hidden_months,
                settle_months=settings.settle_months,
                cohort_prior=settings.cohort_prior,
            )
        results.append(
            {
                "origin": f"{origin:%Y-%m}",
                "segment": f"{segment_type}={segment}",
                "cells": len(score.cells),
                "mae": score.mean_absolute_error,
                "baseline_mae": score.baseline_mean_absolute_error,
                "weighted": score.weighted_absolute_error,
                "baseline_weighted": score.baseline_weighted_absolute_error,
                "coverage_80": score.coverage_80,
                "coverage_95": score.coverage_95,
            }
        )
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--data", default=str(DEFAULT_ONLINE_RETAIL_CSV), help="Online Retail CSV or .csv.gz"
    )
    parser.add_argument(
        "--hidden-months",
        type=int,
        default=3,
        help="closed months hidden from the projection (default 3)",
    )
    parser.add_argument(
        "--extra-origins",
        type=int,
        default=3,
        help="earlier origins scored for comparison (default 3)",
    )
    args = parser.parse_args()
    data = Path(args.data)
    if not data.is_file():
        raise SystemExit(f"Online Retail data {data} not found; pass the CSV path with --data.")

    server = find_or_start(os.environ.get("COHORTINTEL_POSTGRES_URL"))
    source_name, warehouse_name = f"{PREFIX}_source", f"{PREFIX}_warehouse"
    for name in (source_name, warehouse_name):
        drop_database(server, name)
        ensure_database(server, name)
    try:
        source_dsn = server.database_dsn(source_name)
        warehouse_dsn = server.database_dsn(warehouse_name)
        load_online_retail(source_dsn, data)
        db.migrate(warehouse_dsn)
        started = time.perf_counter()
        snapshots, closed = build_snapshots(source_dsn, warehouse_dsn)
        load_seconds = time.perf_counter() - started
    finally:
        for name in (source_name, warehouse_name):
            drop_database(server, name)

    truth_month = closed[-1]
    settings = ProjectionSettings.from_env()
    main_origin = add_months(truth_month, -args.hidden_months)
    origins = [add_months(main_origin, -k) for k in range(args.extra_origins, -1, -1)]
    started = time.perf_counter()
    results = []
    for origin in origins:
        if origin in snapshots:
            results += score_origin(snapshots, origin, truth_month, args.hidden_months, settings)
    score_seconds = time.perf_counter() - started

    print(f"Python {platform.python_version()} on {platform.machine()}, {os.cpu_count()} CPUs")
    print(
        f"Last closed month {truth_month:%Y-%m}; {args.hidden_months} months hidden after each origin"
    )
    print(
        f"Data path for every month: {load_seconds:.0f} s; projections and scores: {score_seconds:.1f} s"
    )
    print(
        "origin   segment                        cells  MAE model  MAE baseline"
        "  wMAE model  wMAE baseline  cover 80  cover 95"
    )
    for row in results:
        marker = " (main)" if row["origin"] == f"{main_origin:%Y-%m}" else ""
        print(
            f"{row['origin']}  {row['segment']:<30} {row['cells']:>5}  {row['mae']:>9.4f}"
            f"  {row['baseline_mae']:>12.4f}  {row['weighted']:>10.4f}  {row['baseline_weighted']:>13.4f}"
            f"  {row['coverage_80']:>8.1%}  {row['coverage_95']:>8.1%}{marker}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())

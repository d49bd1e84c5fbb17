"""Keep the cohort marts up to date in SQL, touching only what changed months affect.

A refresh of some months aggregates their transactions into
``core.customer_month`` (once per month), recomputes the cohort of every
customer those months touch, and rebuilds only the cohorts whose members were
touched. Untouched cohorts just gain zero cells for months they have newly
lived. A full rebuild is a refresh of every loaded month on empty tables, so
both paths run the same SQL and must give the same tables.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable

import psycopg2.extensions

from cohortintel import db
from cohortintel.config import Settings
from cohortintel.months import month_range

log = logging.getLogger(__name__)


def _loaded_months(cur: psycopg2.extensions.cursor) -> list[dt.date]:
    # min and max come from the index; months between them without rows are harmless.
    cur.execute("select min(occurred_month), max(occurred_month) from core.transactions")
    first, last = cur.fetchone()
    return month_range(first, last) if first else []


def _months_to_refresh(cur: psycopg2.extensions.cursor, months: Iterable[dt.date]) -> list[dt.date]:
    """Add months known to the warehouse but never aggregated, such as after a migration."""
    cur.execute(
        "select month from ops.month_status"
        " except select month from core.aggregated_month order by 1"
    )
    pending = {row[0] for row in cur.fetchall()}
    return sorted(set(months) | pending)


def _vacuum_transactions(warehouse_dsn: str) -> None:
    """Vacuum core.transactions so that a full rebuild reads its aggregate index alone.

    An index-only scan visits the table for every page not marked all-visible.
    Vacuum marks the pages loaded since autovacuum last ran, so its cost
    follows what changed, not the table's size.
    """
    conn = db.connect(warehouse_dsn)
    try:
        conn.autocommit = True  # VACUUM cannot run inside a transaction block
        with conn.cursor() as cur:
            cur.execute("vacuum core.transactions")
    finally:
        conn.close()


def refresh_cohorts(
    warehouse_dsn: str,
    months: Iterable[dt.date] | None,
    settings: Settings,
) -> dict[str, int]:
    """Refresh the cohort marts for ``months`` (None rebuilds everything) in one transaction."""
    if months is None:
        _vacuum_transactions(warehouse_dsn)
    with db.transaction(warehouse_dsn) as cur:
        cur.execute("select pg_advisory_xact_lock(hashtext('marts.cohort_cell'))")
        # Enough sort and hash memory for the aggregates of a full rebuild of tens
        # of millions of rows. The setting ends with this transaction.
        cur.execute("set local work_mem = '256MB'")
        # generate_series makes the planner overestimate the cell count a
        # thousandfold, which switches on JIT compilation costing about half a
        # second per statement on this work, more than the statements themselves.
        cur.execute("set local jit = off")
        if months is None:
            cur.execute(
                "truncate core.customer_month, core.aggregated_month,"
                " marts.customer_cohort, marts.cohort_cell"
            )
            refresh = _loaded_months(cur)
        else:
            refresh = _months_to_refresh(cur, months)
        cur.execute("select max(occurred_month) from core.transactions")
        (last_month,) = cur.fetchone()
        cur.execute(
            "create temporary table touched_customer (customer_id text primary key) on commit drop"
        )
        cur.execute(
            "create temporary table touched_cohort (cohort_month date primary key) on commit drop"
        )
        cur.execute(
            "create temporary table last_active_change (segment_type text, segment text,"
            " cohort_month date, old_last_active_month date, new_last_active_month date,"
            " customers bigint) on commit drop"
        )
        params = {
            "months": refresh,
            "last_month": last_month,
            "segment_by_country": settings.segment_column == "country",
            "all_months": months is None,
        }
        db.execute_file(cur, "cohorts/refresh_customer_months.sql", params)
        # Autovacuum never analyzes temporary tables, and the new month's rows are
        # not in the statistics yet: without this the planner expects one row
        # each and picks nested loops that run for minutes.
        cur.execute("analyze core.customer_month, touched_customer")
        db.execute_file(cur, "cohorts/refresh_customer_cohorts.sql", params)
        cur.execute("analyze touched_cohort, last_active_change")
        cur.execute("select count(*) from touched_customer")
        (customers,) = cur.fetchone()
        cur.execute("select count(*) from touched_cohort")
        (cohorts,) = cur.fetchone()
        if last_month is None:
            cur.execute("truncate marts.cohort_cell")
        else:
            db.execute_file(cur, "cohorts/refresh_cohort_cells.sql", params)
        cur.execute("select count(*), count(distinct cohort_month) from marts.cohort_cell")
        cells, all_cohorts = cur.fetchone()
    with db.transaction(warehouse_dsn) as cur:
        cur.execute("analyze core.customer_month, marts.customer_cohort")
    if all_cohorts == 0:
        log.warning("No purchases with a customer id are loaded, so the cohort tables are empty.")
    log.info(
        "Refreshed cohorts for %s: %s customers and %s of %s cohorts touched; marts.cohort_cell has %s cells",
        ", ".join(f"{month:%Y-%m}" for month in refresh) or "no month",
        customers,
        cohorts,
        all_cohorts,
        cells,
    )
    return {
        "months_refreshed": len(refresh),
        "customers_touched": customers,
        "cohorts_touched": cohorts,
        "cohorts": all_cohorts,
        "cells": cells,
    }


def build_cohorts(warehouse_dsn: str, settings: Settings | None = None) -> dict[str, int]:
    """Rebuild the cohort marts from every loaded transaction."""
    return refresh_cohorts(warehouse_dsn, None, settings or Settings.from_env())

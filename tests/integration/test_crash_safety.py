"""Crashes, concurrent runs and out-of-order backfills leave the warehouse as a clean run does.

Each fault is injected against the real server: a lock held by the test
stops a step at a known statement, and the test then terminates the step's
backend or SIGKILLs its worker process. The warehouse is then compared row
by row with a fresh warehouse that ran the same months without faults.
"""

from __future__ import annotations

import concurrent.futures
import datetime as dt
import os
import signal

import psycopg2
import psycopg2.errors
import pytest

from cohortintel.cohorts import refresh_cohorts
from cohortintel.extract import extract_batch
from cohortintel.load import LoadInterruptedError, load_batch
from cohortintel.months import month_range
from cohortintel.validate import validate_batch
from tests.integration.faults import (
    AUGUST,
    JULY,
    JUNE,
    SETTINGS,
    TIMEOUT_SECONDS,
    add_late_july_line,
    admin_connection,
    clean_run,
    run_id_for,
    run_months,
    snapshot,
    start_worker,
    wait_for_backend_exit,
    wait_for_blocked_backends,
    write_source,
)
from tests.integration.helpers import fetch

pytestmark = pytest.mark.postgres

# Where a lock held by the test stops the load: the statement the load waits in,
# and the lock that holds it there.
LOAD_STOPS = {
    # The first statement of replace_months.sql, before anything is deleted.
    "before_delete": (
        "select pg_advisory_xact_lock(hashtext('core.transactions'))",
        "select pg_advisory_lock(hashtext('core.transactions'))",
    ),
    # After the month was deleted and inserted again and the batch report written.
    "before_commit": (
        "insert into ops.loaded_month",
        "lock table ops.loaded_month in share mode",
    ),
}


@pytest.fixture
def source_dsn(make_database, tmp_path) -> str:
    return write_source(make_database, tmp_path)


def july_row_count(dsn: str) -> tuple[int, int]:
    return fetch(
        dsn,
        "select count(*), count(distinct source_row_id) from core.transactions"
        " where occurred_month = %s",
        (JULY,),
    )[0]


@pytest.mark.parametrize("stop", sorted(LOAD_STOPS))
def test_killed_load_connection_keeps_month(
    stop, source_dsn, warehouse_dsn, make_database, postgres_server
):
    run_months(source_dsn, warehouse_dsn, [JUNE, JULY])
    before = snapshot(warehouse_dsn)
    add_late_july_line(source_dsn)
    run_id = run_id_for(JULY)
    batch = extract_batch(source_dsn, warehouse_dsn, JULY, SETTINGS, run_id)
    first = dt.date.fromisoformat(batch.window_first_month)
    validation = validate_batch(warehouse_dsn, batch.staging_table, JULY, first, SETTINGS, run_id)
    load_args = (
        warehouse_dsn,
        batch.staging_table,
        JULY,
        first,
        validation["quarantined_by_rule"],
        SETTINGS,
        run_id,
        batch.source_digests,
    )

    query_start, lock_statement = LOAD_STOPS[stop]
    holder = psycopg2.connect(warehouse_dsn)
    admin = admin_connection(postgres_server.admin_dsn)
    try:
        with holder.cursor() as cur:
            cur.execute(lock_statement)
        with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
            load = pool.submit(load_batch, *load_args)
            (pid,) = wait_for_blocked_backends(
                postgres_server.admin_dsn, warehouse_dsn, query_start
            )
            with admin.cursor() as cur:
                cur.execute("select pg_terminate_backend(%s)", (pid,))
            with pytest.raises(LoadInterruptedError) as caught:
                load.result(timeout=TIMEOUT_SECONDS)
    finally:
        holder.rollback()
        holder.close()
        admin.close()

    message = str(caught.value)
    assert "2011-07 to 2011-07" in message
    assert "warehouse connection was lost" in message
    assert "Rerun the month" in message or "rerun the month" in message
    assert isinstance(caught.value.__cause__, psycopg2.OperationalError)
    assert snapshot(warehouse_dsn) == before

    load_batch(*load_args)
    refresh_cohorts(warehouse_dsn, month_range(first, JULY), SETTINGS)
    assert july_row_count(warehouse_dsn) == (4, 4)
    assert snapshot(warehouse_dsn) == snapshot(clean_run(make_database, source_dsn, [JUNE, JULY]))


# Where a SIGKILL of the worker lands: the statement it waits in, the lock that
# holds it there, and whether the load was committed before.
WORKER_STOPS = {
    "load": ("insert into ops.loaded_month", "lock table ops.loaded_month in share mode", False),
    "refresh": (
        "delete from marts.cohort_cell",
        "lock table marts.cohort_cell in share mode",
        True,
    ),
}


@pytest.mark.parametrize("stop", sorted(WORKER_STOPS))
def test_killed_worker_rerun_matches_clean(
    stop, source_dsn, warehouse_dsn, make_database, postgres_server
):
    run_months(source_dsn, warehouse_dsn, [JUNE])
    june_only = snapshot(warehouse_dsn)
    query_start, lock_statement, load_committed = WORKER_STOPS[stop]

    holder = psycopg2.connect(warehouse_dsn)
    worker = None
    try:
        with holder.cursor() as cur:
            cur.execute(lock_statement)
        worker = start_worker(source_dsn, warehouse_dsn, JULY, run_id_for(JULY))
        (pid,) = wait_for_blocked_backends(postgres_server.admin_dsn, warehouse_dsn, query_start)
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait(timeout=TIMEOUT_SECONDS)
    finally:
        holder.rollback()
        holder.close()
        if worker is not None and worker.poll() is None:
            os.kill(worker.pid, signal.SIGKILL)
            worker.wait(timeout=TIMEOUT_SECONDS)
    # The orphaned backend finishes its statement, finds its client gone and rolls back.
    wait_for_backend_exit(postgres_server.admin_dsn, pid)

    assert worker.returncode == -signal.SIGKILL
    after_crash = snapshot(warehouse_dsn)
    marts = ("core.customer_month", "marts.customer_cohort", "marts.cohort_cell")
    for table in marts:
        assert after_crash[table] == june_only[table], table
    if load_committed:
        assert july_row_count(warehouse_dsn) == (3, 3)
        # Clearing only the failed cohort task is enough once the load is committed.
        refresh_cohorts(warehouse_dsn, [JUNE, JULY], SETTINGS)
    else:
        # The validate step committed July's quarantine rows before the load started.
        assert [row for row in after_crash.pop("quarantine.transactions") if "2011-07" in row]
        june_only.pop("quarantine.transactions")
        assert after_crash == june_only
        run_months(source_dsn, warehouse_dsn, [JULY])
    assert snapshot(warehouse_dsn) == snapshot(clean_run(make_database, source_dsn, [JUNE, JULY]))


@pytest.mark.parametrize("run_ids", [("run__2011-07", "run__2011-07"), ("run__a", "run__b")])
def test_concurrent_runs_of_month_match_clean(
    run_ids, source_dsn, warehouse_dsn, make_database, postgres_server
):
    run_months(source_dsn, warehouse_dsn, [JUNE])
    # Both workers stop at their first read of the source and then start together.
    holder = psycopg2.connect(source_dsn)
    workers = []
    try:
        with holder.cursor() as cur:
            cur.execute("lock table public.invoice_lines in access exclusive mode")
        workers = [start_worker(source_dsn, warehouse_dsn, JULY, run_id) for run_id in run_ids]
        wait_for_blocked_backends(postgres_server.admin_dsn, source_dsn, "select", count=2)
        holder.commit()
        outputs = [worker.communicate(timeout=TIMEOUT_SECONDS)[0] for worker in workers]
    finally:
        holder.rollback()
        holder.close()
        for worker in workers:
            if worker.poll() is None:
                os.kill(worker.pid, signal.SIGKILL)
                worker.wait(timeout=TIMEOUT_SECONDS)

    for worker, output in zip(workers, outputs, strict=True):
        assert worker.returncode == 0, output[-3000:]
    assert july_row_count(warehouse_dsn) == (3, 3)
    clean = clean_run(make_database, source_dsn, [JUNE, JULY])
    if run_ids[0] == run_ids[1]:
        assert snapshot(warehouse_dsn) == snapshot(clean)
        return
    # Each run keeps its own batch report; everything else has one copy.
    after = snapshot(warehouse_dsn, without_run_ids=True)
    expected = snapshot(clean, without_run_ids=True)
    july_report = [
        row for row in expected.pop("ops.batch_report") if '"batch_month": "2011-07-01"' in row
    ]
    reports = after.pop("ops.batch_report")
    assert [row for row in reports if '"batch_month": "2011-07-01"' in row] == july_report * 2
    assert after == expected


BACKFILL_ORDERS = {
    "newest_first": [AUGUST, JULY, JUNE],
    "middle_first": [JULY, AUGUST, JUNE],
    "rerun_after_later": [JUNE, JULY, AUGUST, JUNE, JULY],
}


@pytest.mark.parametrize("order", sorted(BACKFILL_ORDERS))
def test_backfill_order_matches_in_order_run(order, source_dsn, warehouse_dsn, make_database):
    run_months(source_dsn, warehouse_dsn, BACKFILL_ORDERS[order])
    after = snapshot(warehouse_dsn, without_run_ids=True)
    expected = snapshot(clean_run(make_database, source_dsn), without_run_ids=True)
    # Batch windows depend on the order (look-back months already loaded are
    # skipped), so the per-run reports differ; every other table must not.
    del after["ops.batch_report"], expected["ops.batch_report"]
    assert after == expected

    reports = fetch(
        warehouse_dsn,
        "select batch_month, rows_read, rows_accepted, rows_quarantined from ops.batch_report",
    )
    assert {row[0] for row in reports} == {JUNE, JULY, AUGUST}
    for month, rows_read, rows_accepted, rows_quarantined in reports:
        assert rows_read == rows_accepted + rows_quarantined, month
    # Every source line of May to August is loaded or quarantined exactly once.
    loaded = fetch(warehouse_dsn, "select source_row_id from core.transactions order by 1")
    quarantined = fetch(
        warehouse_dsn, "select source_row_id, rule from quarantine.transactions order by 1"
    )
    assert [row[0] for row in loaded] == [1, 2, 3, 5, 7, 8, 9, 10]
    assert quarantined == [(4, "unit_price_valid"), (6, "duplicate_row")]

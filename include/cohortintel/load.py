"""Load a validated batch into the clean fact table, replacing its months atomically."""

from __future__ import annotations

import datetime as dt
import json
import logging

import psycopg2

from cohortintel import db
from cohortintel.config import Settings

log = logging.getLogger(__name__)


class ReconciliationError(RuntimeError):
    """Rows read do not equal rows accepted plus rows quarantined."""


class LoadInterruptedError(RuntimeError):
    """The warehouse connection was lost while the load's transaction was open."""


def load_batch(
    warehouse_dsn: str,
    staging_table: str,
    batch_month: dt.date,
    window_first_month: dt.date,
    quarantined_by_rule: dict[str, int],
    settings: Settings,
    run_id: str,
    source_digests: dict[str, str] | None = None,
) -> dict[str, int]:
    """Replace the window's months in ``core.transactions`` and record the run's row counts.

    ``source_digests`` (month to digest, from the extract) are stored with the
    load in ``ops.loaded_month``, so a later run can skip unchanged months.
    """
    params = {
        "batch_month": batch_month,
        "window_first_month": window_first_month,
        "business_timezone": settings.business_timezone,
        "return_prefix": settings.return_order_prefix,
        "adjustment_prefix": settings.adjustment_order_prefix,
        "run_id": run_id,
        "quarantined_by_rule": json.dumps(quarantined_by_rule, sort_keys=True),
    }
    try:
        counts = _replace_months(warehouse_dsn, staging_table, params, source_digests)
    except psycopg2.OperationalError as error:
        raise LoadInterruptedError(
            f"Loading {window_first_month:%Y-%m} to {batch_month:%Y-%m} from {staging_table} into "
            f"core.transactions failed because the warehouse connection was lost: "
            f"{str(error).strip().splitlines()[0]}. The load is one transaction, so these months "
            f"hold either their previous rows or the whole batch; rerun the month, which "
            f"replaces them again."
        ) from error
    rows_read, rows_accepted, rows_quarantined, rows_without_customer = counts
    # Fresh statistics keep the cohort refresh on hash aggregates right after a
    # bulk load, before autovacuum would get to the table.
    with db.transaction(warehouse_dsn) as cur:
        cur.execute("analyze core.transactions")
    log.info(
        "Loaded %s to %s into core.transactions: %s rows read, %s accepted, %s quarantined, "
        "%s without a customer id (kept for sales, left out of cohorts)",
        f"{window_first_month:%Y-%m}",
        f"{batch_month:%Y-%m}",
        rows_read,
        rows_accepted,
        rows_quarantined,
        rows_without_customer,
    )
    return {
        "rows_read": rows_read,
        "rows_accepted": rows_accepted,
        "rows_quarantined": rows_quarantined,
        "rows_without_customer": rows_without_customer,
    }


def _replace_months(
    warehouse_dsn: str,
    staging_table: str,
    params: dict,
    source_digests: dict[str, str] | None,
) -> tuple[int, int, int, int]:
    """Replace the months and write the batch report and the digests in one transaction."""
    first, last = params["window_first_month"], params["batch_month"]
    with db.transaction(warehouse_dsn) as cur:
        db.execute_file(cur, "load/replace_months.sql", params, staging_table=staging_table)
        db.execute_file(cur, "load/batch_report.sql", params, staging_table=staging_table)
        counts = cur.fetchone()
        rows_read, rows_accepted, rows_quarantined, _ = counts
        if rows_read != rows_accepted + rows_quarantined:
            # Rolls the load back: something other than this batch wrote to these months.
            raise ReconciliationError(
                f"Batch {staging_table} read {rows_read} rows but {rows_accepted} were accepted "
                f"and {rows_quarantined} quarantined; the load was rolled back. Check for another "
                f"writer of core.transactions in {first:%Y-%m} to {last:%Y-%m}."
            )
        for month, digest in (source_digests or {}).items():
            cur.execute(
                "insert into ops.loaded_month (month, source_rows, source_digest, loaded_by_run_id)"
                " values (%s, %s, %s, %s) on conflict (month) do update set"
                " source_rows = excluded.source_rows, source_digest = excluded.source_digest,"
                " loaded_by_run_id = excluded.loaded_by_run_id, loaded_at = now()",
                (month, int(digest.split(":", 1)[0]), digest, params["run_id"]),
            )
    return counts

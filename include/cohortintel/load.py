"""Load a validated batch into the clean fact table, replacing its months atomically."""

from __future__ import annotations

import datetime as dt
import json
import logging

from cohortintel import db
from cohortintel.config import Settings

log = logging.getLogger(__name__)


class ReconciliationError(RuntimeError):
    """Rows read do not equal rows accepted plus rows quarantined."""


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
    with db.transaction(warehouse_dsn) as cur:
        db.execute_file(cur, "load/replace_months.sql", params, staging_table=staging_table)
        db.execute_file(cur, "load/batch_report.sql", params, staging_table=staging_table)
        rows_read, rows_accepted, rows_quarantined, rows_without_customer = cur.fetchone()
        if rows_read != rows_accepted + rows_quarantined:
            # Rolls the load back: something other than this batch wrote to these months.
            raise ReconciliationError(
                f"Batch {staging_table} read {rows_read} rows but {rows_accepted} were accepted "
                f"and {rows_quarantined} quarantined; the load was rolled back. Check for another "
                f"writer of core.transactions in {window_first_month:%Y-%m} to {batch_month:%Y-%m}."
            )
        for month, digest in (source_digests or {}).items():
            cur.execute(
                "insert into ops.loaded_month (month, source_rows, source_digest, loaded_by_run_id)"
                " values (%s, %s, %s, %s) on conflict (month) do update set"
                " source_rows = excluded.source_rows, source_digest = excluded.source_digest,"
                " loaded_by_run_id = excluded.loaded_by_run_id, loaded_at = now()",
                (month, int(digest.split(":", 1)[0]), digest, run_id),
            )
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

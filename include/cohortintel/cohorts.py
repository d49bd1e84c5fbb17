"""Build the cohort marts from the clean fact table, in SQL."""

from __future__ import annotations

import logging

from cohortintel import db

log = logging.getLogger(__name__)


def build_cohorts(warehouse_dsn: str) -> dict[str, int]:
    """Rebuild ``marts.customer_cohort`` and ``marts.cohort_retention`` in one transaction.

    NOTE: this recomputes every cohort from ``core.transactions`` on each run,
    which is simple and idempotent but reads the whole fact table.
    """
    with db.transaction(warehouse_dsn) as cur:
        cur.execute("select pg_advisory_xact_lock(hashtext('marts.cohort_retention'))")
        db.execute_file(cur, "cohorts/customer_cohort.sql")
        customers = cur.rowcount
        db.execute_file(cur, "cohorts/cohort_retention.sql")
        cells = cur.rowcount
        cur.execute("select count(distinct cohort_month) from marts.cohort_retention")
        (cohorts,) = cur.fetchone()
    if customers == 0:
        log.warning("No purchases with a customer id are loaded, so the cohort tables are empty.")
    log.info(
        "Built marts.customer_cohort (%s customers) and marts.cohort_retention (%s cells, %s cohorts)",
        customers,
        cells,
        cohorts,
    )
    return {"customers": customers, "cells": cells, "cohorts": cohorts}

"""The monthly data path without the scheduler: extract, validate, load, refresh cohorts.

The DAG runs these steps as separate tasks. This module chains them in one
process for the command line, the benchmarks and the tests, so all of them
call exactly the functions the tasks call. ``forecast_sales`` does the same for
the sales series: it builds them, fits each one with the function of the mapped
fit task, and publishes the month.
"""

from __future__ import annotations

import datetime as dt
import logging
import time

from cohortintel.cohorts import refresh_cohorts
from cohortintel.config import Settings
from cohortintel.extract import extract_batch
from cohortintel.load import load_batch
from cohortintel.months import month_range
from cohortintel.validate import validate_batch

log = logging.getLogger(__name__)

STEPS = ("extract", "validate", "load", "cohorts")


def run_month(
    source_dsn: str,
    warehouse_dsn: str,
    month: dt.date,
    settings: Settings,
    run_id: str,
    seconds: dict[str, float] | None = None,
) -> dict[str, int]:
    """Run the data path for ``month`` and return the load's row counts.

    When ``seconds`` is given, each step's duration is added to it under its
    name in ``STEPS``.
    """
    timings = seconds if seconds is not None else {}

    started = time.perf_counter()
    batch = extract_batch(source_dsn, warehouse_dsn, month, settings, run_id)
    timings["extract"] = timings.get("extract", 0.0) + time.perf_counter() - started

    started = time.perf_counter()
    first = dt.date.fromisoformat(batch.window_first_month)
    result = validate_batch(warehouse_dsn, batch.staging_table, month, first, settings, run_id)
    timings["validate"] = timings.get("validate", 0.0) + time.perf_counter() - started

    started = time.perf_counter()
    counts = load_batch(
        warehouse_dsn,
        batch.staging_table,
        month,
        first,
        result["quarantined_by_rule"],
        settings,
        run_id,
        batch.source_digests,
    )
    timings["load"] = timings.get("load", 0.0) + time.perf_counter() - started

    started = time.perf_counter()
    refresh_cohorts(warehouse_dsn, month_range(first, month), settings)
    timings["cohorts"] = timings.get("cohorts", 0.0) + time.perf_counter() - started
    return counts


def forecast_sales(
    warehouse_dsn: str,
    month: dt.date,
    settings: Settings,
    run_id: str,
    data_interval: tuple[dt.datetime, dt.datetime],
) -> dict[str, object]:
    """Build the sales series, fit each one as the DAG's mapped task does, and publish the month.

    Returns the per-series results of ``fit_series`` and the forecast rows published.
    """
    # Imported here, so the data path above does not load statsmodels.
    from cohortintel.publish import publish_forecasts
    from cohortintel.sales import fit_series, prepare_sales_series

    series_ids = prepare_sales_series(warehouse_dsn, month, settings)
    fits = [
        fit_series(warehouse_dsn, series_id, month, settings, run_id, data_interval)
        for series_id in series_ids
    ]
    rows = publish_forecasts(warehouse_dsn, month, settings.sales_grain)
    return {"series": fits, "forecast_rows": rows}

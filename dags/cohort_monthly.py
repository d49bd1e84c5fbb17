"""
### Monthly cohort retention and sales forecast pipeline

Owns one calendar month of the business time zone per run (a data-interval
timetable, midnight to midnight), extracts that month plus the look-back
months from the source order system, validates them with Great Expectations,
replaces them in `core.transactions`, rebuilds the cohort marts, projects
every cohort's retention and flags at-risk cohorts, rebuilds the sales series
of the transactions (total and the top countries, at the configured grain),
forecasts each series in its own mapped task (`fit_sales_forecast`, named by
the series id) and publishes the forecasts and charts of the month together.

Next to those series it forecasts the external monthly sales series
(`COHORTINTEL_MONTHLY_SALES_TABLE` in the source database): `copy_monthly_sales`
copies their closed months, `fit_monthly_forecast` runs once per series (a
mapped task named by the series id), warm-started from the series' newest
earlier model, and `publish_monthly_forecasts` publishes every series of the
month in one transaction and sends a warning when an earlier forecast missed
far beyond its backtest error.

This file only wires tasks. The logic lives in `include/cohortintel` (Python)
and `include/sql` (one SQL file per step); the README lists the settings and
the tables written. Tasks pass table names and month keys through XCom, never
data. A task's final failure sends an alert (docs/alerts.md), and data-quality
warnings send rate-limited warning alerts.
"""

from __future__ import annotations

import datetime as dt

import pendulum
from airflow.sdk import (
    Asset,
    AsyncCallback,
    CronDataIntervalTimetable,
    DeadlineAlert,
    DeadlineReference,
    dag,
    get_current_context,
    task,
)

from cohortintel.airflow_alerts import FailureNotifier, notify_deadline_missed
from cohortintel.config import Settings

SETTINGS = Settings.from_env()

COHORT_RETENTION = Asset(
    name="cohortintel_cohort_retention", uri="cohortintel://warehouse/marts/cohort_retention"
)
SALES_FORECAST = Asset(
    name="cohortintel_sales_forecast", uri="cohortintel://warehouse/marts/sales_forecast"
)
MONTHLY_SALES_FORECAST = Asset(
    name="cohortintel_monthly_sales_forecast",
    uri="cohortintel://warehouse/marts/monthly_sales_forecast",
)


def _dsn(conn_id: str) -> str:
    from airflow.sdk import BaseHook

    from cohortintel.db import dsn_from_parts

    conn = BaseHook.get_connection(conn_id)
    return dsn_from_parts(conn.host, conn.port, conn.login, conn.password, conn.schema)


def _run_month() -> dt.date:
    from cohortintel.months import month_of_interval

    context = get_current_context()
    return month_of_interval(
        context["data_interval_start"], context["data_interval_end"], SETTINGS.business_timezone
    )


def _run_id() -> str:
    return get_current_context()["run_id"]


def _send_at_risk_warnings(as_of_month: dt.date) -> None:
    """Send one warning per at-risk cohort; a task failure is not warranted."""
    from cohortintel.airflow_alerts import send_warning_alert
    from cohortintel.alerts import at_risk_warning
    from cohortintel.at_risk import at_risk_cohorts

    for row in at_risk_cohorts(_dsn(SETTINGS.warehouse_conn_id), as_of_month):
        alert = at_risk_warning(row, _run_id())
        send_warning_alert(alert.key, alert.fields["summary"], alert.fields["details"])


def _data_interval() -> tuple[dt.datetime, dt.datetime]:
    context = get_current_context()
    return context["data_interval_start"], context["data_interval_end"]


def _send_warnings(warnings: list[tuple[str, str, dict]]) -> int:
    """Send each (alert key, summary, details) warning and return how many were sent."""
    from cohortintel.airflow_alerts import send_warning_alert

    for key, summary, details in warnings:
        send_warning_alert(key, summary, details)
    return len(warnings)


def _send_monthly_error_warnings(as_of_month: dt.date) -> int:
    """Send one warning per series whose forecast of the month missed far beyond its backtest."""
    from cohortintel.monthly_sales import error_warnings, realised_errors_outside_band

    factor = SETTINGS.monthly_error_alert_factor
    rows = realised_errors_outside_band(_dsn(SETTINGS.warehouse_conn_id), as_of_month, factor)
    return _send_warnings(error_warnings(rows, factor, _run_id()))


def _send_sales_error_warnings(as_of_month: dt.date) -> int:
    """Send one warning per sales series whose forecast of a period ending this month missed far."""
    from cohortintel.sales import sales_error_warnings, sales_errors_outside_band

    factor = SETTINGS.monthly_error_alert_factor
    rows = sales_errors_outside_band(
        _dsn(SETTINGS.warehouse_conn_id), as_of_month, SETTINGS.sales_grain, factor
    )
    return _send_warnings(sales_error_warnings(rows, factor, _run_id()))


def _send_validation_warnings(batch: dict, result: dict) -> None:
    from cohortintel.airflow_alerts import send_warning_alert

    for rule in result["warnings"]:
        send_warning_alert(
            key=f"cohort_monthly.validate_transactions:{rule}",
            summary=f"Data-quality rule {rule} failed for {batch['batch_month'][:7]}",
            details={
                "run_id": _run_id(),
                "quarantined_rows": result["quarantined_by_rule"].get(rule, 0),
                "results": "ops.validation_result where run_id is the run above",
                "rejected_rows": "quarantine.transactions where run_id is the run above",
            },
        )


@dag(
    dag_id="cohort_monthly",
    schedule=CronDataIntervalTimetable("0 0 1 * *", timezone=SETTINGS.business_timezone),
    start_date=pendulum.datetime(
        SETTINGS.start_month.year, SETTINGS.start_month.month, 1, tz=SETTINGS.business_timezone
    ),
    end_date=(
        pendulum.datetime(
            SETTINGS.end_month.year, SETTINGS.end_month.month, 1, tz=SETTINGS.business_timezone
        )
        if SETTINGS.end_month
        else None
    ),
    catchup=True,
    max_active_runs=1,
    # A run still going this long after it was queued sends one warning alert.
    deadline=(
        DeadlineAlert(
            reference=DeadlineReference.DAGRUN_QUEUED_AT,
            interval=dt.timedelta(minutes=SETTINGS.run_deadline_minutes),
            callback=AsyncCallback(
                notify_deadline_missed, kwargs={"minutes": SETTINGS.run_deadline_minutes}
            ),
        )
        if SETTINGS.run_deadline_minutes
        else None
    ),
    doc_md=__doc__,
    tags=["cohortintel"],
    default_args={
        "owner": "data-engineering",
        "retries": SETTINGS.task_retries,
        "retry_delay": dt.timedelta(seconds=SETTINGS.retry_delay_seconds),
        # Retries back off exponentially (multiplier 2, with Airflow's jitter) up to
        # an hour, so a source that is down for a while is not hammered.
        "retry_exponential_backoff": 2.0,
        "max_retry_delay": dt.timedelta(hours=1),
        # One alert per final failure; attempts that Airflow retries send none.
        "on_failure_callback": FailureNotifier(),
    },
)
def cohort_monthly():
    @task
    def migrate_warehouse() -> list[str]:
        from cohortintel.db import migrate

        return migrate(_dsn(SETTINGS.warehouse_conn_id))

    @task
    def extract_transactions() -> dict:
        from cohortintel.extract import extract_batch

        batch = extract_batch(
            _dsn(SETTINGS.source_conn_id),
            _dsn(SETTINGS.warehouse_conn_id),
            _run_month(),
            SETTINGS,
            _run_id(),
        )
        return batch.to_xcom()

    @task
    def validate_transactions(batch: dict) -> dict:
        from airflow.sdk.exceptions import AirflowFailException

        from cohortintel.validate import DataQualityError, validate_batch

        try:
            result = validate_batch(
                _dsn(SETTINGS.warehouse_conn_id),
                batch["staging_table"],
                dt.date.fromisoformat(batch["batch_month"]),
                dt.date.fromisoformat(batch["window_first_month"]),
                SETTINGS,
                _run_id(),
            )
        except DataQualityError as error:
            # Bad data stays bad on a retry, so fail at once and alert.
            raise AirflowFailException(str(error)) from error
        _send_validation_warnings(batch, result)
        return {**batch, "quarantined_by_rule": result["quarantined_by_rule"]}

    @task
    def load_transactions(batch: dict) -> dict:
        from cohortintel.load import load_batch

        counts = load_batch(
            _dsn(SETTINGS.warehouse_conn_id),
            batch["staging_table"],
            dt.date.fromisoformat(batch["batch_month"]),
            dt.date.fromisoformat(batch["window_first_month"]),
            batch["quarantined_by_rule"],
            SETTINGS,
            _run_id(),
            batch.get("source_digests"),
        )
        return {
            "table": "core.transactions",
            "batch_month": batch["batch_month"],
            "window_first_month": batch["window_first_month"],
            **counts,
        }

    @task
    def build_cohort_tables(loaded: dict) -> dict:
        from cohortintel.cohorts import refresh_cohorts
        from cohortintel.months import month_range

        months = month_range(
            dt.date.fromisoformat(loaded["window_first_month"]),
            dt.date.fromisoformat(loaded["batch_month"]),
        )
        counts = refresh_cohorts(_dsn(SETTINGS.warehouse_conn_id), months, SETTINGS)
        return {"table": "marts.cohort_cell", **counts}

    @task
    def score_customer_risk(cohorts: dict) -> dict:
        from cohortintel.customer_risk import score_customers

        return score_customers(_dsn(SETTINGS.warehouse_conn_id), _run_month(), _run_id())

    @task
    def project_retention(cohorts: dict) -> dict:
        from cohortintel.retention import project_retention as project

        counts = project(_dsn(SETTINGS.warehouse_conn_id), _run_month(), _run_id())
        if counts["at_risk_cohorts"]:
            _send_at_risk_warnings(dt.date.fromisoformat(counts["as_of_month"]))
        return counts

    @task
    def build_sales_series() -> list[str]:
        from cohortintel.sales import prepare_sales_series

        return prepare_sales_series(_dsn(SETTINGS.warehouse_conn_id), _run_month(), SETTINGS)

    # The template reads the expanded argument, so each map index shows its series id.
    @task(map_index_template="{{ task.op_kwargs['series_id'] }}")
    def fit_sales_forecast(series_id: str) -> dict:
        from cohortintel.sales import fit_series

        return fit_series(
            _dsn(SETTINGS.warehouse_conn_id),
            series_id,
            _run_month(),
            SETTINGS,
            _run_id(),
            _data_interval(),
        )

    # none_failed: with no series the mapped task is skipped, and the month is
    # still published (empty), so a rerun without series removes older rows.
    @task(outlets=[COHORT_RETENTION, SALES_FORECAST], trigger_rule="none_failed")
    def publish_results() -> dict:
        from cohortintel.publish import publish_forecasts, render_charts

        month = _run_month()
        warehouse = _dsn(SETTINGS.warehouse_conn_id)
        rows = publish_forecasts(warehouse, month, SETTINGS.sales_grain)
        charts = render_charts(warehouse, month, SETTINGS)
        warnings = _send_sales_error_warnings(month)
        return {
            "as_of_month": month.isoformat(),
            "forecast_rows": rows,
            "charts": charts,
            "error_warnings": warnings,
        }

    @task
    def copy_monthly_sales() -> list[str]:
        from cohortintel.monthly_sales import copy_monthly_sales as copy

        return copy(
            _dsn(SETTINGS.source_conn_id),
            _dsn(SETTINGS.warehouse_conn_id),
            _run_month(),
            SETTINGS,
            _run_id(),
        )

    # The template reads the expanded argument, so each map index shows its series id.
    @task(map_index_template="{{ task.op_kwargs['series_id'] }}")
    def fit_monthly_forecast(series_id: str) -> dict:
        from cohortintel.monthly_sales import fit_monthly_series

        return fit_monthly_series(
            _dsn(SETTINGS.warehouse_conn_id),
            series_id,
            _run_month(),
            SETTINGS,
            _run_id(),
            _data_interval(),
        )

    # none_failed: with no series the mapped task is skipped, and the month is
    # still published (empty), so a rerun without series removes older rows.
    @task(outlets=[MONTHLY_SALES_FORECAST], trigger_rule="none_failed")
    def publish_monthly_forecasts() -> dict:
        from cohortintel.monthly_sales import publish_monthly_forecasts as publish

        month = _run_month()
        counts = publish(_dsn(SETTINGS.warehouse_conn_id), month)
        warnings = _send_monthly_error_warnings(month)
        return {"as_of_month": month.isoformat(), **counts, "error_warnings": warnings}

    migrated = migrate_warehouse()
    batch = extract_transactions()
    migrated >> batch
    loaded = load_transactions(validate_transactions(batch))
    cohorts = build_cohort_tables(loaded)
    projected = project_retention(cohorts)
    scored = score_customer_risk(cohorts)
    series = build_sales_series()
    loaded >> series
    fitted = fit_sales_forecast.expand(series_id=series)
    [projected, scored, fitted] >> publish_results()
    monthly_series = copy_monthly_sales()
    migrated >> monthly_series
    fit_monthly_forecast.expand(series_id=monthly_series) >> publish_monthly_forecasts()


cohort_monthly()

"""The read-only BI role reads the marts and nothing else."""

from __future__ import annotations

import psycopg2
import psycopg2.errors
import psycopg2.extensions
import pytest

pytestmark = pytest.mark.postgres


def run_as(dsn: str, statement: str) -> None:
    conn = psycopg2.connect(dsn)
    try:
        with conn.cursor() as cur:
            cur.execute(statement)
    finally:
        conn.rollback()
        conn.close()


@pytest.mark.parametrize(
    "view",
    [
        "marts.cohort_retention",
        "marts.cohort_retention_matrix",
        "marts.retention_curve",
        "marts.sales_forecast",
        "marts.forecast_model",
        "marts.sales_daily",
        "marts.sales_period",
        "marts.retention_projection",
        "marts.retention_at_risk",
        "marts.sales_monthly",
        "marts.monthly_forecast_model",
        "marts.monthly_sales_forecast",
        "marts.monthly_forecast_error",
        "marts.sales_forecast_error",
    ],
)
def test_reader_selects_marts(reader_dsn, view):
    run_as(reader_dsn, f"select * from {view} limit 1")


@pytest.mark.parametrize(
    "table",
    [
        "core.transactions",
        "quarantine.transactions",
        "staging.forecast_model",
        "staging.monthly_forecast_model",
        "ops.batch_report",
    ],
)
def test_reader_denied_outside_marts(reader_dsn, table):
    with pytest.raises(psycopg2.errors.InsufficientPrivilege):
        run_as(reader_dsn, f"select * from {table} limit 1")


def test_reader_cannot_write_marts(reader_dsn):
    with pytest.raises(psycopg2.errors.InsufficientPrivilege):
        run_as(reader_dsn, "delete from marts.cohort_cell")


@pytest.mark.parametrize(
    "table",
    [
        "core.customer_month",
        "core.aggregated_month",
        "quarantine.transactions",
        "ops.validation_result",
        "ops.loaded_month",
        "ops.month_status",
        "ops.alert_log",
        "staging.sales_forecast",
    ],
)
def test_reader_denied_other_tables(reader_dsn, table):
    with pytest.raises(psycopg2.errors.InsufficientPrivilege):
        run_as(reader_dsn, f"select * from {table} limit 1")


@pytest.mark.parametrize(
    "statement",
    [
        "insert into marts.customer_cohort (customer_id, cohort_month) values ('x', '2011-01-01')",
        "update marts.cohort_cell set revenue = 0",
        "truncate marts.sales_daily",
        "drop view marts.cohort_retention",
        "create table marts.reader_table (id int)",
        "create table staging.reader_table (id int)",
    ],
)
def test_reader_cannot_change_marts(reader_dsn, statement):
    with pytest.raises(psycopg2.errors.InsufficientPrivilege):
        run_as(reader_dsn, statement)

"""Identifiers from configuration are validated, values are bound, and no password leaks.

The password tests run the pipeline as a login role with a password that
each test creates on the local server and drops afterwards, and they read
every log record and exception message the runs produce.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import os
import uuid

import psycopg2
import psycopg2.extensions
import pytest

from cohortintel import db
from cohortintel.config import ConfigError, Settings
from cohortintel.extract import ExtractError, extract_batch
from cohortintel.validate import validate_batch
from tests.integration.faults import JULY, JUNE, SETTINGS, run_id_for, run_months, write_source
from tests.integration.helpers import fetch
from tests.listeners import closed_port

pytestmark = pytest.mark.postgres

MALICIOUS_TABLES = [
    "public.invoice_lines; drop table public.canary",
    'public.invoice_lines"; drop table public.canary; --',
    "public.invoice_lines --",
    "public.invoice_lines union select * from public.canary",
    "catalog.public.invoice_lines",
]


@pytest.fixture
def source_dsn(make_database, tmp_path) -> str:
    dsn = write_source(make_database, tmp_path)
    with db.transaction(dsn) as cur:
        cur.execute("create table public.canary (id int)")
    return dsn


def canary_exists(dsn: str) -> bool:
    return fetch(dsn, "select to_regclass('public.canary') is not null")[0][0]


@pytest.mark.parametrize("table", MALICIOUS_TABLES)
def test_malicious_source_table_setting_rejected(table, monkeypatch):
    monkeypatch.setenv("COHORTINTEL_SOURCE_TABLE", table)
    with pytest.raises(ConfigError) as caught:
        Settings.from_env()
    assert repr(table) in str(caught.value)
    assert "COHORTINTEL_SOURCE_TABLE" in str(caught.value)


@pytest.mark.parametrize("table", MALICIOUS_TABLES)
def test_malicious_source_table_runs_nothing(table, source_dsn, warehouse_dsn):
    # Settings built in code skip from_env(); the quoting in the SQL layer still rejects them.
    settings = dataclasses.replace(SETTINGS, source_table=table)
    with pytest.raises(ConfigError) as caught:
        extract_batch(source_dsn, warehouse_dsn, JULY, settings, "run-1")
    assert "Invalid SQL identifier" in str(caught.value)
    assert canary_exists(source_dsn)
    assert fetch(
        warehouse_dsn,
        "select count(*) from pg_tables where schemaname = 'staging'"
        " and tablename like 'transactions%%'",
    ) == [(0,)]
    assert fetch(warehouse_dsn, "select count(*) from ops.month_status") == [(0,)]


def test_mapping_file_outside_sql_folder_rejected(source_dsn, warehouse_dsn):
    settings = dataclasses.replace(SETTINGS, extract_sql="../../pyproject.toml")
    with pytest.raises(ConfigError) as caught:
        extract_batch(source_dsn, warehouse_dsn, JULY, settings, "run-1")
    assert "is outside" in str(caught.value)


def test_setting_values_bound_as_parameters(source_dsn, warehouse_dsn):
    currency = "GB'P); drop table public.canary; --"
    settings = dataclasses.replace(
        SETTINGS,
        currency=currency,
        accepted_currencies=(currency,),
        return_order_prefix="C'; drop table core.transactions; --",
    )
    run_months_with(source_dsn, warehouse_dsn, settings)
    assert canary_exists(source_dsn)
    assert fetch(warehouse_dsn, "select distinct currency from core.transactions") == [(currency,)]
    # The odd prefix matches no order, so the return line is no longer a return.
    assert fetch(
        warehouse_dsn, "select line_kind from core.transactions where order_id = 'C536007'"
    ) == [("other",)]


def run_months_with(source_dsn: str, warehouse_dsn: str, settings: Settings) -> None:
    from cohortintel.pipeline import run_month

    run_month(source_dsn, warehouse_dsn, JULY, settings, run_id_for(JULY))


@pytest.fixture
def password_role(postgres_server):
    """Create a login role with a password; yield its name and password, then drop it."""
    role = f"cohortintel_test_login_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    password = f"Pw-{uuid.uuid4().hex}"
    admin = psycopg2.connect(postgres_server.admin_dsn)
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(
            db.sql.SQL("create role {} login password %s").format(db.sql.Identifier(role)),
            (password,),
        )
    yield role, password
    with admin.cursor() as cur:
        cur.execute(db.sql.SQL("drop owned by {}").format(db.sql.Identifier(role)))
        cur.execute(db.sql.SQL("drop role {}").format(db.sql.Identifier(role)))
    admin.close()


def with_login(dsn: str, role: str, password: str) -> str:
    parts = psycopg2.extensions.parse_dsn(dsn)
    parts.update(user=role, password=password)
    return psycopg2.extensions.make_dsn(**parts)


def with_closed_port(dsn: str) -> str:
    parts = psycopg2.extensions.parse_dsn(dsn)
    parts.update(host="127.0.0.1", port=str(closed_port()))
    return psycopg2.extensions.make_dsn(**parts)


def assert_password_absent(password: str, caplog, error: BaseException | None = None) -> None:
    for message in (record.getMessage() for record in caplog.records):
        assert password not in message
    while error is not None:
        assert password not in str(error)
        assert password not in repr(error)
        error = error.__cause__ or error.__context__


@pytest.fixture
def login_databases(password_role, source_dsn, warehouse_dsn, make_database):
    """Return source and warehouse connection strings that log in with the role's password."""
    role, password = password_role
    with db.transaction(source_dsn) as cur:
        cur.execute(
            db.sql.SQL("grant select on public.invoice_lines to {}").format(db.sql.Identifier(role))
        )
    warehouse = make_database("login_warehouse")
    dbname = psycopg2.extensions.parse_dsn(warehouse)["dbname"]
    admin_warehouse = psycopg2.connect(warehouse)
    admin_warehouse.autocommit = True
    with admin_warehouse.cursor() as cur:
        cur.execute(
            db.sql.SQL("alter database {} owner to {}").format(
                db.sql.Identifier(dbname), db.sql.Identifier(role)
            )
        )
    admin_warehouse.close()
    login_warehouse = with_login(warehouse, role, password)
    db.migrate(login_warehouse)
    return with_login(source_dsn, role, password), login_warehouse, password


def test_run_with_password_logs_no_password(login_databases, caplog):
    source, warehouse, password = login_databases
    caplog.set_level(logging.DEBUG)
    run_months(source, warehouse, [JUNE, JULY])
    assert fetch(warehouse, "select count(*) from core.transactions") == [(6,)]
    assert len(caplog.records) > 10
    assert_password_absent(password, caplog)


def test_unreachable_source_error_names_connection(login_databases, caplog):
    source, warehouse, password = login_databases
    unreachable = with_closed_port(source)
    port = psycopg2.extensions.parse_dsn(unreachable)["port"]
    caplog.set_level(logging.DEBUG)
    with pytest.raises(ExtractError) as caught:
        extract_batch(unreachable, warehouse, JULY, SETTINGS, "run-1")
    message = str(caught.value)
    dbname = psycopg2.extensions.parse_dsn(source)["dbname"]
    assert f"127.0.0.1:{port}" in message
    assert repr(dbname) in message
    assert "'cohortintel_source'" in message
    assert "Connection refused" in message
    assert isinstance(caught.value.__cause__, psycopg2.OperationalError)
    assert password not in message
    assert_password_absent(password, caplog, caught.value)


def test_unreachable_warehouse_in_validation_hides_password(login_databases, caplog):
    source, warehouse, password = login_databases
    batch = extract_batch(source, warehouse, JULY, SETTINGS, "run-1")
    unreachable = with_closed_port(warehouse)
    caplog.set_level(logging.DEBUG)
    # Great Expectations raises its own TestConnectionError around the driver's error.
    with pytest.raises(Exception, match="Connection refused") as caught:
        validate_batch(
            unreachable, batch.staging_table, JULY, dt.date(2011, 7, 1), SETTINGS, "run-1"
        )
    assert_password_absent(password, caplog, caught.value)

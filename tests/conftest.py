"""Shared fixtures: a real PostgreSQL server and throw-away databases on it.

Tests use the server at COHORTINTEL_POSTGRES_URL (default
postgresql://postgres@127.0.0.1:5432/postgres) and start the embedded one when
it is unreachable, exactly like the demo. Every database a test creates has a
name starting with ``cohortintel_test_`` and is dropped afterwards.
"""

from __future__ import annotations

import atexit
import itertools
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg2
import psycopg2.extensions
import pytest

from cohortintel import db
from cohortintel.config import PROJECT_ROOT
from cohortintel.postgres_server import (
    PostgresServer,
    drop_database,
    ensure_database,
    find_or_start,
)

# Tests that build Settings() write charts and GX Data Docs to the default output
# folder. Point it at a folder of the test run, so the demo's output is never touched.
TEST_OUTPUT_DIR = Path(tempfile.mkdtemp(prefix="cohortintel_test_output_"))
os.environ["COHORTINTEL_OUTPUT_DIR"] = str(TEST_OUTPUT_DIR)
atexit.register(shutil.rmtree, TEST_OUTPUT_DIR, ignore_errors=True)

SHARED_DATA = PROJECT_ROOT.parent / "shared" / "data"
ONLINE_RETAIL_CSV = SHARED_DATA / "online_retail" / "online_retail.csv.gz"

_counter = itertools.count()


@pytest.fixture(scope="session")
def postgres_server() -> PostgresServer:
    return find_or_start(os.environ.get("COHORTINTEL_POSTGRES_URL"))


@pytest.fixture
def make_database(postgres_server: PostgresServer) -> Iterator:
    """Return a function that creates an empty database and returns its connection string."""
    created: list[str] = []

    def create(purpose: str = "db") -> str:
        name = f"cohortintel_test_{purpose}_{os.getpid()}_{next(_counter)}_{uuid.uuid4().hex[:6]}"
        ensure_database(postgres_server, name)
        created.append(name)
        return postgres_server.database_dsn(name)

    yield create
    for name in created:
        drop_database(postgres_server, name)


@pytest.fixture
def warehouse_dsn(make_database) -> str:
    """An empty warehouse database with every migration applied."""
    dsn = make_database("warehouse")
    db.migrate(dsn)
    return dsn


@pytest.fixture
def reader_dsn(warehouse_dsn: str, postgres_server: PostgresServer) -> Iterator[str]:
    """Connection string of a throw-away login in the cohortintel_reader role."""
    role = f"cohortintel_test_reader_{os.getpid()}_{next(_counter)}"
    admin = psycopg2.connect(postgres_server.admin_dsn)
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(
            db.sql.SQL("create role {} login in role cohortintel_reader").format(
                db.sql.Identifier(role)
            )
        )
    parts = psycopg2.extensions.parse_dsn(warehouse_dsn)
    parts["user"] = role
    parts.pop("password", None)
    yield psycopg2.extensions.make_dsn(**parts)
    with admin.cursor() as cur:
        cur.execute(db.sql.SQL("drop role {}").format(db.sql.Identifier(role)))
    admin.close()


@pytest.fixture(scope="session")
def online_retail_csv() -> Path:
    if not ONLINE_RETAIL_CSV.is_file():
        pytest.fail(
            f"The Online Retail data is missing at {ONLINE_RETAIL_CSV}; the tests read it from there."
        )
    return ONLINE_RETAIL_CSV

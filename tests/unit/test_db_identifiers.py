"""Identifiers from configuration are validated and quoted; connection strings are redacted."""

from __future__ import annotations

import pytest

from cohortintel import db
from cohortintel.config import ConfigError


@pytest.mark.parametrize("name", ["public.x; drop table y", "a.b.c", "1table", "", "bad-name"])
def test_invalid_identifier_rejected(name):
    with pytest.raises(ConfigError):
        db.identifier(name)


def test_qualified_identifier_split_into_parts():
    assert db.identifier("staging.transactions_2011_01").strings == (
        "staging",
        "transactions_2011_01",
    )


def test_sql_file_outside_folder_rejected():
    with pytest.raises(ConfigError):
        db.read_sql("../../pyproject.toml")


def test_missing_sql_file_named():
    with pytest.raises(ConfigError) as caught:
        db.read_sql("extract/nope.sql")
    assert "extract/nope.sql" in str(caught.value)


def test_redacted_dsn_has_no_password():
    dsn = db.dsn_from_parts("127.0.0.1", 5432, "etl", "s3cret", "warehouse")
    assert "s3cret" in dsn
    assert "s3cret" not in db.redact_dsn(dsn)
    assert "dbname=warehouse" in db.redact_dsn(dsn)

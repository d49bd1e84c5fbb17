"""Settings and the retention triangle of the results API."""

from __future__ import annotations

import datetime as dt

import pytest

from cohortintel.api import ApiSettings, retention_triangle
from cohortintel.config import ConfigError


def cell(cohort: str, since: int, size: int, rate: float) -> dict:
    return {
        "cohort_month": dt.date.fromisoformat(cohort),
        "months_since_first_purchase": since,
        "cohort_size": size,
        "retention_rate": rate,
    }


def test_triangle_leaves_unlived_months_empty():
    rows = retention_triangle(
        [
            cell("2011-02-01", 0, 80, 1.0),
            cell("2011-01-01", 1, 200, 0.3),
            cell("2011-01-01", 0, 200, 1.0),
            cell("2011-01-01", 2, 200, 0.0),
        ]
    )
    assert [(row.cohort_month.month, row.cohort_size, row.rates) for row in rows] == [
        (1, 200, [1.0, 0.3, 0.0]),
        (2, 80, [1.0, None, None]),
    ]


def test_triangle_of_no_cells_is_empty():
    assert retention_triangle([]) == []


def test_settings_default_to_warehouse_connection(monkeypatch):
    monkeypatch.delenv("COHORTINTEL_API_CONN_ID", raising=False)
    monkeypatch.delenv("COHORTINTEL_API_STATEMENT_TIMEOUT_MS", raising=False)
    assert ApiSettings.from_env() == ApiSettings(conn_id="", statement_timeout_ms=5000)


@pytest.mark.parametrize("raw", ["0", "-5", "five", "1.5"])
def test_settings_reject_bad_timeout(monkeypatch, raw):
    monkeypatch.setenv("COHORTINTEL_API_STATEMENT_TIMEOUT_MS", raw)
    with pytest.raises(ConfigError, match="COHORTINTEL_API_STATEMENT_TIMEOUT_MS") as error:
        ApiSettings.from_env()
    assert repr(raw) in str(error.value)

"""Alerts that read or write the warehouse: data-quality details and the warning rate limit."""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path

import pytest

from cohortintel.alerts import (
    failure_alert,
    find_data_quality_error,
    read_failed_rules,
    send_warning,
    warning_alert,
)
from cohortintel.config import Settings
from cohortintel.extract import extract_batch
from cohortintel.notify import WebhookChannel, send_alert
from cohortintel.source import load_online_retail
from cohortintel.validate import DataQualityError, validate_batch
from tests.integration.helpers import fetch
from tests.listeners import closed_port, start_http

pytestmark = pytest.mark.postgres

HEADER = "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country"
# Three July rows, two of them with a negative price, so two thirds are quarantined.
LINES = [
    "536365,85123A,HEART,6,2011-07-01 10:00:00,2.55,17850,United Kingdom",
    "536366,71053,LANTERN,6,2011-07-02 10:00:00,-3.39,17850,United Kingdom",
    "536367,71054,LANTERN,6,2011-07-03 10:00:00,-3.39,17851,United Kingdom",
]
JULY = dt.date(2011, 7, 1)
RUN_ID = "manual__2011-08-01T00:00:00+00:00"


@pytest.fixture
def http():
    listener = start_http()
    yield listener
    listener.stop()


@pytest.fixture
def source_dsn(make_database, tmp_path: Path) -> str:
    path = tmp_path / "retail.csv"
    path.write_text("\n".join([HEADER, *LINES]) + "\n", encoding="utf-8")
    dsn = make_database("source")
    load_online_retail(dsn, path)
    return dsn


def failed_validation(source_dsn: str, warehouse_dsn: str) -> DataQualityError:
    settings = dataclasses.replace(Settings(), lookback_months=0, max_quarantine_share=0.05)
    batch = extract_batch(source_dsn, warehouse_dsn, JULY, settings, RUN_ID)
    with pytest.raises(DataQualityError) as caught:
        validate_batch(warehouse_dsn, batch.staging_table, JULY, JULY, settings, RUN_ID)
    return caught.value


def test_failed_rules_read_back(source_dsn, warehouse_dsn):
    failed_validation(source_dsn, warehouse_dsn)
    rules = read_failed_rules(warehouse_dsn, RUN_ID, JULY)
    assert [rule.rule for rule in rules] == ["quarantine_share_within_limit"]
    assert rules[0].unexpected_count == 2
    assert rules[0].element_count == 3
    assert rules[0].severity == "critical"


def test_failed_rules_of_other_run_empty(source_dsn, warehouse_dsn):
    failed_validation(source_dsn, warehouse_dsn)
    assert read_failed_rules(warehouse_dsn, "another-run", JULY) == []


def test_data_quality_alert_names_rules(source_dsn, warehouse_dsn, http):
    error = failed_validation(source_dsn, warehouse_dsn)
    try:
        raise RuntimeError(str(error)) from error
    except RuntimeError as task_error:
        context = {
            "ti": None,
            "run_id": RUN_ID,
            "data_interval_start": dt.datetime(2011, 6, 30, 23, tzinfo=dt.UTC),
            "data_interval_end": dt.datetime(2011, 7, 31, 23, tzinfo=dt.UTC),
            "exception": task_error,
        }
    assert find_data_quality_error(context["exception"]) is error
    alert = failure_alert(context, JULY, read_failed_rules(warehouse_dsn, RUN_ID, JULY))
    send_alert(alert, [WebhookChannel(url=http.url)], timeout=5)

    assert len(http.requests) == 1
    body = http.requests[0].json()
    assert body["month"] == "2011-07"
    assert body["run_id"] == RUN_ID
    assert [rule["rule"] for rule in body["failed_rules"]] == ["quarantine_share_within_limit"]
    assert body["failed_rules"][0]["unexpected_count"] == 2
    assert body["failed_rules"][0]["element_count"] == 3
    assert body["validation_result"]["table"] == "ops.validation_result"
    assert body["validation_result"]["run_id"] == RUN_ID
    assert body["quarantine_table"] == "quarantine.transactions"
    assert "- quarantine_share_within_limit: 2 unexpected of 3 rows" in body["text"]


def at_risk_warning():
    return warning_alert(
        "cohort_monthly.at_risk:2011-03", "Cohort 2011-03 is below its band", {"month": "2011-07"}
    )


def test_warning_sent_once_per_period(warehouse_dsn, http):
    channels = [WebhookChannel(url=http.url)]
    sent = [
        send_warning(warehouse_dsn, at_risk_warning(), channels, period_seconds=3600, timeout=5)
        for _ in range(3)
    ]
    assert sent == [True, False, False]
    assert len(http.requests) == 1
    assert http.requests[0].json()["severity"] == "warning"
    log_rows = fetch(
        warehouse_dsn,
        "select alert_key, sent_count, suppressed_count, last_sent_at is not null"
        " from ops.alert_log",
    )
    assert log_rows == [("cohort_monthly.at_risk:2011-03", 1, 2, True)]


def test_warning_after_period_reports_repeats(warehouse_dsn, http):
    channels = [WebhookChannel(url=http.url)]
    send_warning(warehouse_dsn, at_risk_warning(), channels, period_seconds=3600, timeout=5)
    send_warning(warehouse_dsn, at_risk_warning(), channels, period_seconds=3600, timeout=5)
    # A period of zero means the last send is always old enough.
    assert send_warning(warehouse_dsn, at_risk_warning(), channels, period_seconds=0, timeout=5)
    assert len(http.requests) == 2
    assert http.requests[1].json()["suppressed_since_last_sent"] == 1
    assert "1 repeats were not sent" in http.requests[1].json()["text"]


def test_warning_keys_limited_separately(warehouse_dsn, http):
    channels = [WebhookChannel(url=http.url)]
    other = warning_alert("cohort_monthly.at_risk:2011-04", "Cohort 2011-04 is low", {})
    assert send_warning(warehouse_dsn, at_risk_warning(), channels, 3600, timeout=5)
    assert send_warning(warehouse_dsn, other, channels, 3600, timeout=5)
    assert len(http.requests) == 2


def test_undelivered_warning_not_recorded(warehouse_dsn, http):
    dead = [WebhookChannel(url=f"http://127.0.0.1:{closed_port()}/")]
    assert not send_warning(warehouse_dsn, at_risk_warning(), dead, 3600, timeout=5)
    assert fetch(warehouse_dsn, "select count(*) from ops.alert_log") == [(0,)]
    # The next call with a working channel is not held back by the failed one.
    assert send_warning(warehouse_dsn, at_risk_warning(), [WebhookChannel(url=http.url)], 3600, 5)
    assert len(http.requests) == 1

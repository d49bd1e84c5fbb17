"""The failure callback reports what failed and where to look."""

from __future__ import annotations

import datetime as dt
import logging
from types import SimpleNamespace

from cohortintel.alerts import (
    FailedRule,
    at_risk_warning,
    describe_failure,
    failure_alert,
    find_data_quality_error,
    log_task_failure,
    run_month,
    warning_alert,
)
from cohortintel.validate import DataQualityError

CONTEXT = {
    "task_instance": SimpleNamespace(
        dag_id="cohort_monthly", task_id="validate_transactions", try_number=3
    ),
    "run_id": "scheduled__2011-07-01T00:00:00+00:00",
    "data_interval_start": "2011-06-30T23:00:00+00:00",
    "data_interval_end": "2011-07-31T23:00:00+00:00",
    "exception": RuntimeError("rule batch_not_empty failed"),
}


def test_description_names_task_run_and_error():
    text = describe_failure(CONTEXT)
    assert "cohort_monthly.validate_transactions" in text
    assert "scheduled__2011-07-01T00:00:00+00:00" in text
    assert "RuntimeError: rule batch_not_empty failed" in text
    assert "ops.validation_result" in text


def test_description_without_exception():
    text = describe_failure({**CONTEXT, "exception": None})
    assert "no exception recorded" in text


def test_failure_logged_once_at_error(caplog):
    with caplog.at_level(logging.ERROR, logger="cohortintel.alerts"):
        log_task_failure(CONTEXT)
    assert len(caplog.records) == 1
    assert caplog.records[0].levelno == logging.ERROR


def test_description_has_no_doubled_period():
    text = describe_failure({**CONTEXT, "exception": RuntimeError("Rows were quarantined.")})
    assert ".." not in text


LONDON_JULY = {
    "task_instance": SimpleNamespace(
        dag_id="cohort_monthly",
        task_id="validate_transactions",
        try_number=3,
        max_tries=2,
        log_url="http://localhost:8080/dags/cohort_monthly/runs/r1/tasks/validate_transactions",
    ),
    "run_id": "scheduled__2011-07-01T00:00:00+00:00",
    "data_interval_start": dt.datetime(2011, 6, 30, 23, tzinfo=dt.UTC),
    "data_interval_end": dt.datetime(2011, 7, 31, 23, tzinfo=dt.UTC),
    "exception": RuntimeError("Data-quality check of 2011-07 failed"),
}
RULES = [
    FailedRule("batch_not_empty", "critical", None, None, "0", None),
    FailedRule("quarantine_share_within_limit", "critical", 40, 100, "40.0000%", None),
]


def test_run_month_from_london_interval():
    assert run_month(LONDON_JULY, "Europe/London") == dt.date(2011, 7, 1)


def test_run_month_of_odd_interval_is_none():
    week = {**LONDON_JULY, "data_interval_end": dt.datetime(2011, 7, 7, 23, tzinfo=dt.UTC)}
    assert run_month(week, "Europe/London") is None


def test_failure_alert_fields():
    alert = failure_alert(LONDON_JULY, dt.date(2011, 7, 1))
    assert alert.severity == "failure"
    assert alert.key == "cohort_monthly.validate_transactions"
    assert alert.fields["dag_id"] == "cohort_monthly"
    assert alert.fields["task_id"] == "validate_transactions"
    assert alert.fields["run_id"] == "scheduled__2011-07-01T00:00:00+00:00"
    assert alert.fields["data_interval"] == {
        "start": "2011-06-30T23:00:00+00:00",
        "end": "2011-07-31T23:00:00+00:00",
    }
    assert alert.fields["month"] == "2011-07"
    assert alert.fields["try_number"] == 3
    assert alert.fields["tries"] == 3
    assert alert.fields["error"] == "RuntimeError: Data-quality check of 2011-07 failed"
    assert alert.fields["log_url"].endswith("/tasks/validate_transactions")
    assert alert.fields["failed_rules"] == []


def test_failure_alert_text():
    text = failure_alert(LONDON_JULY, dt.date(2011, 7, 1)).text
    assert "Task cohort_monthly.validate_transactions failed on try 3 of 3" in text
    assert "Month: 2011-07" in text
    assert "Log: http://localhost:8080/dags/cohort_monthly/" in text


def test_failure_alert_lists_rules():
    alert = failure_alert(LONDON_JULY, dt.date(2011, 7, 1), RULES)
    assert "- batch_not_empty: observed 0" in alert.text
    assert "- quarantine_share_within_limit: 40 unexpected of 100 rows" in alert.text
    assert "ops.validation_result where run_id = " in alert.text
    assert "quarantine.transactions" in alert.text
    assert [rule["rule"] for rule in alert.fields["failed_rules"]] == [
        "batch_not_empty",
        "quarantine_share_within_limit",
    ]
    assert alert.fields["failed_rules"][1]["unexpected_count"] == 40
    assert alert.fields["failed_rules"][1]["element_count"] == 100
    assert alert.fields["validation_result"] == {
        "table": "ops.validation_result",
        "run_id": "scheduled__2011-07-01T00:00:00+00:00",
        "batch_month": "2011-07-01",
    }
    assert alert.fields["quarantine_table"] == "quarantine.transactions"


def test_long_error_is_cut():
    context = {**LONDON_JULY, "exception": RuntimeError("x" * 10_000)}
    error = failure_alert(context, None).fields["error"]
    assert len(error) < 2100
    assert error.endswith("[cut; the task log has the whole error]")


def test_data_quality_error_found_as_cause():
    try:
        try:
            raise DataQualityError("batch_not_empty failed")
        except DataQualityError as error:
            raise RuntimeError("task failed") from error
    except RuntimeError as outer:
        found = find_data_quality_error(outer)
    assert isinstance(found, DataQualityError)


def test_other_error_is_not_data_quality():
    assert find_data_quality_error(ValueError("bad")) is None
    assert find_data_quality_error(None) is None


def test_warning_alert_content():
    alert = warning_alert("k1", "Cohort 2011-03 is at risk", {"retention_rate": 0.12})
    assert alert.severity == "warning"
    assert alert.subject == "[cohortintel] WARNING Cohort 2011-03 is at risk"
    assert alert.text.splitlines() == ["Cohort 2011-03 is at risk", "retention_rate: 0.12"]
    assert alert.fields["details"] == {"retention_rate": 0.12}


def test_at_risk_warning_names_cohort_rates_and_evidence():
    row = {
        "as_of_month": dt.date(2011, 11, 1),
        "segment_type": "country",
        "segment": "France",
        "cohort_month": dt.date(2011, 3, 1),
        "rule": "below_projected_band",
        "activity_month": dt.date(2011, 11, 1),
        "cohort_size": 40,
        "observed_rate": 0.05,
        "expected_rate": 0.2125,
        "band_lower": 0.125,
        "band_upper": 0.3,
        "shortfall": 0.075,
    }
    alert = at_risk_warning(row, "scheduled__2011-12-01")
    assert alert.severity == "warning"
    assert alert.key == "cohort_monthly.at_risk:country:France:2011-03:below_projected_band"
    assert alert.fields["summary"] == (
        "Cohort 2011-03 (France) is at risk: active rate 5.0% in 2011-11 against 21.2% "
        "expected (band 12.5% to 30.0%), rule below_projected_band"
    )
    assert alert.fields["details"] == {
        "run_id": "scheduled__2011-12-01",
        "as_of_month": "2011-11",
        "shortfall": 0.075,
        "cohort_size": 40,
        "evidence": "marts.retention_at_risk",
    }

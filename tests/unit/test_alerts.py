"""The failure callback reports what failed and where to look."""

from __future__ import annotations

import logging
from types import SimpleNamespace

from cohortintel.alerts import describe_failure, log_task_failure

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

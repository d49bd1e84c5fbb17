"""Failure and warning alerts of the pipeline's tasks: what to say and when to send it.

The functions read only the plain keys of Airflow's task context, so this
module does not import Airflow and can be tested without it. Delivery lives in
``cohortintel.notify``; ``cohortintel.airflow_alerts`` connects both to Airflow.

Failure alerts go out once per final failure of a task, because Airflow runs
``on_failure_callback`` only when no retry is left. Warning alerts are
rate-limited per key through the table ``ops.alert_log``.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from cohortintel.notify import Alert, Channel, send_alert

log = logging.getLogger("cohortintel.alerts")

VALIDATION_RESULT_TABLE = "ops.validation_result"
QUARANTINE_TABLE = "quarantine.transactions"
# Long tracebacks or SQL texts are cut so that an e-mail or chat message stays readable.
MAX_ERROR_CHARS = 2000


def describe_failure(context: dict[str, Any]) -> str:
    """Return a one-paragraph description of a failed task: what, when and where to look."""
    task_instance = context.get("task_instance") or context.get("ti")
    dag_id = getattr(task_instance, "dag_id", None) or getattr(context.get("dag"), "dag_id", "?")
    task_id = getattr(task_instance, "task_id", "?")
    try_number = getattr(task_instance, "try_number", "?")
    run_id = context.get("run_id", "?")
    start = context.get("data_interval_start")
    end = context.get("data_interval_end")
    error = context.get("exception")
    error_text = (
        f"{type(error).__name__}: {str(error).rstrip('.')}"
        if error is not None
        else "no exception recorded"
    )
    return (
        f"Task {dag_id}.{task_id} failed on try {try_number} of run {run_id} "
        f"(data interval {start} to {end}). Error: {error_text}. "
        f"Look at the task log in the Airflow UI (Dag {dag_id}, run {run_id}, task {task_id}); "
        f"data-quality results are in ops.validation_result."
    )


def log_task_failure(context: dict[str, Any]) -> None:
    """Log a task's final failure at ERROR level (Airflow calls this once retries are used up)."""
    log.error("%s", describe_failure(context))


@dataclass(frozen=True)
class FailedRule:
    """A critical data-quality rule that failed, as stored in ops.validation_result."""

    rule: str
    severity: str
    unexpected_count: int | None
    element_count: int | None
    observed_value: str | None
    exception_message: str | None

    def describe(self) -> str:
        """Return one line: the rule, its counts where the rule has any, and the observed value."""
        if self.exception_message:
            return f"{self.rule}: the check itself raised an error: {self.exception_message}"
        if self.unexpected_count is None:
            # Table-level rules such as a row count report only an observed value.
            return f"{self.rule}: observed {self.observed_value}"
        return (
            f"{self.rule}: {self.unexpected_count} unexpected of {self.element_count} rows, "
            f"observed {self.observed_value}"
        )


def find_data_quality_error(error: BaseException | None) -> BaseException | None:
    """Return the DataQualityError behind ``error`` (itself, its cause or context), if any."""
    from cohortintel.validate import DataQualityError

    seen: set[int] = set()
    while error is not None and id(error) not in seen:
        if isinstance(error, DataQualityError):
            return error
        seen.add(id(error))
        error = error.__cause__ or error.__context__
    return None


def read_failed_rules(warehouse_dsn: str, run_id: str, batch_month: dt.date) -> list[FailedRule]:
    """Read the critical rules that failed in the run's validation of ``batch_month``."""
    from cohortintel import db

    with db.transaction(warehouse_dsn) as cur:
        cur.execute(
            "select rule, severity, unexpected_count, element_count, observed_value,"
            " exception_message from ops.validation_result"
            " where run_id = %s and batch_month = %s and severity = 'critical' and not success"
            " order by rule",
            (run_id, batch_month),
        )
        return [FailedRule(*row) for row in cur.fetchall()]


def _iso(value: Any) -> str | None:
    if value is None:
        return None
    return value.isoformat() if hasattr(value, "isoformat") else str(value)


def run_month(context: Mapping[str, Any], business_timezone: str) -> dt.date | None:
    """Return the month of the run's data interval, or None when the interval is not one month."""
    from cohortintel.months import month_of_interval

    start = context.get("data_interval_start")
    end = context.get("data_interval_end")
    if not isinstance(start, dt.datetime) or not isinstance(end, dt.datetime):
        return None
    try:
        return month_of_interval(start, end, business_timezone)
    except ValueError:
        return None


def _error_text(error: BaseException | None) -> str:
    if error is None:
        return "no exception recorded"
    text = f"{type(error).__name__}: {error}".strip()
    if len(text) > MAX_ERROR_CHARS:
        text = text[:MAX_ERROR_CHARS] + " [cut; the task log has the whole error]"
    return text


def failure_alert(
    context: Mapping[str, Any],
    month: dt.date | None,
    failed_rules: Sequence[FailedRule] = (),
) -> Alert:
    """Build the alert of a task's final failure from Airflow's task context.

    ``failed_rules`` are the critical data-quality rules of the run that failed;
    when there are any, the alert names the tables that contain the full
    result and the rejected rows.
    """
    task_instance = context.get("task_instance") or context.get("ti")
    dag_id = getattr(task_instance, "dag_id", None) or getattr(context.get("dag"), "dag_id", "?")
    task_id = getattr(task_instance, "task_id", "?")
    try_number = getattr(task_instance, "try_number", None)
    max_tries = getattr(task_instance, "max_tries", None)
    tries = None if max_tries is None else max_tries + 1
    run_id = str(context.get("run_id", "?"))
    start = _iso(context.get("data_interval_start"))
    end = _iso(context.get("data_interval_end"))
    month_text = f"{month:%Y-%m}" if month else None
    error_text = _error_text(context.get("exception"))
    log_url = getattr(task_instance, "log_url", None)

    subject = f"[cohortintel] FAILED {dag_id}.{task_id}" + (
        f" for {month_text}" if month_text else ""
    )
    lines = [
        f"Task {dag_id}.{task_id} failed on try {try_number or '?'} of {tries or '?'}; "
        f"Airflow does not retry it again.",
        f"Run: {run_id}",
        f"Month: {month_text or 'unknown'} (data interval {start} to {end})",
        f"Error: {error_text}",
    ]
    validation_result = None
    if failed_rules:
        validation_result = {
            "table": VALIDATION_RESULT_TABLE,
            "run_id": run_id,
            "batch_month": month.isoformat() if month else None,
        }
        lines.append(f"Failed data-quality rules ({len(failed_rules)}):")
        lines.extend(f"- {rule.describe()}" for rule in failed_rules)
        lines.append(
            f"Full results: {VALIDATION_RESULT_TABLE} where run_id = {json.dumps(run_id)}"
            + (f" and batch_month = '{month.isoformat()}'" if month else "")
            + f"; rejected rows: {QUARANTINE_TABLE} where run_id = {json.dumps(run_id)}."
        )
    lines.append(
        f"Log: {log_url}"
        if log_url
        else f"Log: the task log in the Airflow UI (Dag {dag_id}, run {run_id}, task {task_id})"
    )
    fields = {
        "dag_id": dag_id,
        "task_id": task_id,
        "run_id": run_id,
        "data_interval": {"start": start, "end": end},
        "month": month_text,
        "try_number": try_number,
        "tries": tries,
        "error": error_text,
        "log_url": log_url,
        "failed_rules": [asdict(rule) for rule in failed_rules],
        "validation_result": validation_result,
        "quarantine_table": QUARANTINE_TABLE if failed_rules else None,
    }
    return Alert(
        severity="failure",
        key=f"{dag_id}.{task_id}",
        subject=subject,
        text="\n".join(lines),
        fields=fields,
    )


def warning_alert(key: str, summary: str, details: Mapping[str, Any]) -> Alert:
    """Build a warning alert: ``summary`` is one line, ``details`` are listed below it."""
    lines = [summary, *(f"{name}: {value}" for name, value in details.items())]
    return Alert(
        severity="warning",
        key=key,
        subject=f"[cohortintel] WARNING {summary}",
        text="\n".join(lines),
        fields={"summary": summary, "details": dict(details)},
    )


def at_risk_warning(row: Mapping[str, Any], run_id: str) -> Alert:
    """Build the warning for one row of marts.retention_at_risk.

    The key names the segment, cohort and rule, so each at-risk cohort is rate
    limited on its own.
    """
    cohort = f"{row['cohort_month']:%Y-%m}"
    summary = (
        f"Cohort {cohort} ({row['segment']}) is at risk: active rate "
        f"{row['observed_rate']:.1%} in {row['activity_month']:%Y-%m} against "
        f"{row['expected_rate']:.1%} expected (band {row['band_lower']:.1%} to "
        f"{row['band_upper']:.1%}), rule {row['rule']}"
    )
    return warning_alert(
        f"cohort_monthly.at_risk:{row['segment_type']}:{row['segment']}:{cohort}:{row['rule']}",
        summary,
        {
            "run_id": run_id,
            "as_of_month": f"{row['as_of_month']:%Y-%m}",
            "shortfall": round(float(row["shortfall"]), 4),
            "cohort_size": row["cohort_size"],
            "evidence": "marts.retention_at_risk",
        },
    )


def send_warning(
    warehouse_dsn: str,
    alert: Alert,
    channels: Sequence[Channel],
    period_seconds: int,
    timeout: float,
    secrets: Iterable[str] = (),
) -> bool:
    """Send a warning unless one with the same key was sent within ``period_seconds``.

    ``ops.alert_log`` keeps when each key was last sent. Its row stays locked
    while the alert is sent, so concurrent tasks with the same key send it once.
    When every channel fails, nothing is recorded and the next call tries again.
    Returns whether the warning was sent.
    """
    from cohortintel import db

    if not channels:
        log.info("No alert channel is configured; the warning %s is only logged.", alert.key)
        return False
    with db.transaction(warehouse_dsn) as cur:
        cur.execute(
            "insert into ops.alert_log (alert_key) values (%s) on conflict (alert_key) do nothing",
            (alert.key,),
        )
        cur.execute(
            "select last_sent_at, suppressed_count,"
            " last_sent_at > now() - make_interval(secs => %s)"
            " from ops.alert_log where alert_key = %s for update",
            (period_seconds, alert.key),
        )
        last_sent_at, suppressed_count, is_recent = cur.fetchone()
        if is_recent:
            cur.execute(
                "update ops.alert_log set suppressed_count = suppressed_count + 1"
                " where alert_key = %s",
                (alert.key,),
            )
            log.info(
                "Not sending the warning %s again: it was sent at %s, less than %s s ago.",
                alert.key,
                last_sent_at,
                period_seconds,
            )
            return False
        if suppressed_count:
            alert = Alert(
                severity=alert.severity,
                key=alert.key,
                subject=alert.subject,
                text=f"{alert.text}\n({suppressed_count} repeats were not sent since {last_sent_at}.)",
                fields={**alert.fields, "suppressed_since_last_sent": suppressed_count},
            )
        failed = send_alert(alert, channels, timeout, secrets)
        if len(failed) == len(channels):
            # Leaves the key unrecorded so that the next call tries again.
            cur.connection.rollback()
            return False
        cur.execute(
            "update ops.alert_log set last_sent_at = now(), sent_count = sent_count + 1,"
            " suppressed_count = 0, last_subject = %s where alert_key = %s",
            (alert.subject, alert.key),
        )
    return True

"""Connect the alerts to Airflow: channels from Airflow connections, and the failure notifier.

Only DAG files import this module. It and ``cohortintel.airflow_runner`` are
the two modules of the package that import Airflow; the message content and
the delivery live in ``cohortintel.alerts`` and ``cohortintel.notify``.

Attach ``FailureNotifier()`` as ``on_failure_callback``, in a DAG's
``default_args`` or on one task. Airflow 3.3 runs that callback in the task's
process once the task has failed for good. An attempt that will be retried
runs ``on_retry_callback`` instead, so each final failure sends one alert.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import zoneinfo
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from airflow.sdk import BaseHook, BaseNotifier
from airflow.sdk.exceptions import AirflowNotFoundException

from cohortintel.config import ConfigError, Settings
from cohortintel.notify import Channel, SlackWebhookChannel, SmtpChannel, WebhookChannel

log = logging.getLogger("cohortintel.alerts")

_TRUE = ("1", "true", "yes", "on")
SLACK_WEBHOOK_HOST = "hooks.slack.com/services"


def _flag(extras: Mapping[str, Any], name: str) -> bool:
    value = extras.get(name, False)
    return value if isinstance(value, bool) else str(value).strip().lower() in _TRUE


def connection_url(conn: Any, default_host: str = "") -> str:
    """Return the URL of an HTTP connection: ``host`` with or without scheme, plus ``port``.

    A host without a scheme takes the connection's ``schema`` field as the
    scheme (Airflow's HTTP connections keep it there), else https.
    """
    host = (conn.host or default_host).strip()
    if not host:
        raise ConfigError(f"Connection {conn.conn_id!r} has no host; set it to the webhook URL.")
    if "://" not in host:
        host = f"{conn.schema or 'https'}://{host}"
    parts = urlsplit(host)
    if conn.port and not parts.port:
        parts = parts._replace(netloc=f"{parts.netloc}:{conn.port}")
    return urlunsplit(parts)


def smtp_channel(conn: Any, settings: Settings) -> SmtpChannel:
    """Build the e-mail channel from an SMTP connection: host, port, login, password, extras."""
    if not conn.host:
        raise ConfigError(f"Connection {conn.conn_id!r} has no host; set it to the SMTP server.")
    extras = conn.extra_dejson
    use_ssl = _flag(extras, "ssl")
    return SmtpChannel(
        host=conn.host,
        port=int(conn.port or (465 if use_ssl else 25)),
        sender=extras.get("from_email") or settings.alert_email_from,
        recipients=settings.alert_email_to,
        login=conn.login or None,
        password=conn.password or None,
        use_ssl=use_ssl,
        use_starttls=_flag(extras, "starttls"),
        name=f"smtp (connection {conn.conn_id})",
    )


def slack_channel(conn: Any) -> SlackWebhookChannel:
    """Build the Slack-style channel the way the Slack provider reads its webhook connections.

    The password is the webhook URL, or only its token path ``T…/B…/…``
    appended to the host (default ``hooks.slack.com/services``) and scheme
    (default https), as in apache-airflow-providers-slack 9.x.
    """
    password = (conn.password or "").strip()
    if password.startswith(("http://", "https://")):
        return SlackWebhookChannel(url=password, name=f"slack (connection {conn.conn_id})")
    url = connection_url(conn, default_host=SLACK_WEBHOOK_HOST)
    if password:
        url = f"{url.rstrip('/')}/{password.lstrip('/')}"
    return SlackWebhookChannel(url=url, name=f"slack (connection {conn.conn_id})")


def webhook_channel(conn: Any) -> WebhookChannel:
    """Build the plain webhook: URL from ``host``, basic auth from login and password, extra headers."""
    headers = conn.extra_dejson.get("headers") or {}
    if not isinstance(headers, dict):
        raise ConfigError(
            f"Connection {conn.conn_id!r} has extra 'headers' of type {type(headers).__name__}; "
            f'use an object such as {{"Authorization": "Bearer ..."}}.'
        )
    return WebhookChannel(
        url=connection_url(conn),
        login=conn.login or None,
        password=conn.password or None,
        headers={str(name): str(value) for name, value in headers.items()},
        name=f"webhook (connection {conn.conn_id})",
    )


def build_channels(settings: Settings) -> list[Channel]:
    """Resolve the configured alert connections into channels.

    A connection that is missing or unusable is logged and left out, so the
    other channels still receive the alert.
    """
    builders = (
        (settings.alert_smtp_conn_id, lambda conn: smtp_channel(conn, settings)),
        (settings.alert_slack_conn_id, slack_channel),
        (settings.alert_webhook_conn_id, webhook_channel),
    )
    channels: list[Channel] = []
    for conn_id, build in builders:
        if not conn_id:
            continue
        try:
            channels.append(build(BaseHook.get_connection(conn_id)))
        except (AirflowNotFoundException, ConfigError, ValueError) as error:
            log.error(
                "Alert channel of connection %s is not usable and is skipped: %s", conn_id, error
            )
    return channels


def connection_passwords(settings: Settings) -> list[str]:
    """Return the passwords of the source and warehouse connections, to redact from alerts."""
    passwords = []
    for conn_id in (settings.source_conn_id, settings.warehouse_conn_id):
        try:
            password = BaseHook.get_connection(conn_id).password
        except AirflowNotFoundException:
            continue
        if password:
            passwords.append(password)
    return passwords


def warehouse_dsn(settings: Settings) -> str:
    from cohortintel.db import dsn_from_parts

    conn = BaseHook.get_connection(settings.warehouse_conn_id)
    return dsn_from_parts(conn.host, conn.port, conn.login, conn.password, conn.schema)


def send_failure_alert(context: Mapping[str, Any], settings: Settings) -> list[str]:
    """Log the task's final failure and send its alert; return the channels that failed."""
    import psycopg2

    from cohortintel.alerts import (
        failure_alert,
        find_data_quality_error,
        log_task_failure,
        read_failed_rules,
        run_month,
    )
    from cohortintel.notify import send_alert

    log_task_failure(dict(context))
    channels = build_channels(settings)
    if not channels:
        return []
    month = run_month(context, settings.business_timezone)
    failed_rules = []
    if month and find_data_quality_error(context.get("exception")):
        try:
            failed_rules = read_failed_rules(
                warehouse_dsn(settings), str(context.get("run_id")), month
            )
        except (psycopg2.Error, AirflowNotFoundException) as error:
            log.warning(
                "Reading the failed rules from ops.validation_result failed: %s. "
                "The alert carries the error text only.",
                str(error).strip(),
            )
    alert = failure_alert(context, month, failed_rules)
    return send_alert(
        alert, channels, settings.alert_timeout_seconds, connection_passwords(settings)
    )


def send_warning_alert(key: str, summary: str, details: Mapping[str, Any]) -> bool:
    """Send a rate-limited warning through the configured channels; return whether it was sent.

    Warnings with the same ``key`` go out at most once per
    ``COHORTINTEL_ALERT_WARNING_PERIOD_SECONDS``. The last send time of each key
    is in ops.alert_log of the warehouse.
    """
    import psycopg2

    from cohortintel.alerts import send_warning, warning_alert

    settings = Settings.from_env()
    log.warning("%s (%s)", summary, key)
    channels = build_channels(settings)
    if not channels:
        return False
    try:
        return send_warning(
            warehouse_dsn(settings),
            warning_alert(key, summary, details),
            channels,
            settings.alert_warning_period_seconds,
            settings.alert_timeout_seconds,
            connection_passwords(settings),
        )
    except psycopg2.Error as error:
        # A warning does not stop the run, so neither does its bookkeeping.
        log.error("Could not check ops.alert_log for the warning %s, not sent: %s", key, error)
        return False


class FailureNotifier(BaseNotifier):
    """Send one alert per final task failure to the channels of the COHORTINTEL_ALERT_* settings."""

    def notify(self, context: Any) -> None:
        try:
            send_failure_alert(context, Settings.from_env())
        except Exception:
            # The task has already failed with its own error, which Airflow records.
            # A broken alert must not replace that error, so it is only logged here.
            log.exception(
                "Sending the failure alert of %s failed; the task's own error is above.",
                getattr(context.get("ti"), "task_id", "?"),
            )


def send_deadline_warning(context: Mapping[str, Any], minutes: int) -> bool:
    """Send a warning that a Dag run has not finished ``minutes`` after it was queued.

    ``context`` is what Airflow hands a deadline callback: the Dag run as JSON
    under "dag_run" and the deadline under "deadline".
    """
    settings = Settings.from_env()
    run = context.get("dag_run") or {}
    dag_id = run.get("dag_id", "?")
    run_id = run.get("dag_run_id") or run.get("run_id") or "?"
    month = "?"
    if run.get("data_interval_start"):
        start = dt.datetime.fromisoformat(str(run["data_interval_start"]))
        month = f"{start.astimezone(zoneinfo.ZoneInfo(settings.business_timezone)):%Y-%m}"
    deadline = (context.get("deadline") or {}).get("deadline_time")
    return send_warning_alert(
        key=f"{dag_id}.deadline:{run_id}",
        summary=(
            f"Run {run_id} of {dag_id} for {month} has not finished {minutes} minutes "
            f"after it was queued"
        ),
        details={
            "deadline": str(deadline) if deadline else None,
            "queued_at": run.get("queued_at"),
            "state": run.get("state"),
            "where_to_look": (
                f"Airflow UI, Dag {dag_id}, run {run_id}: the tasks still running or queued "
                f"and their logs"
            ),
        },
    )


async def notify_deadline_missed(
    context: Mapping[str, Any] | None = None, minutes: int = 0, **_: Any
) -> None:
    """Warn that a monthly run missed its deadline; Airflow's triggerer awaits this."""
    # Sending blocks on sockets and the warehouse, so it runs off the event loop.
    await asyncio.to_thread(send_deadline_warning, context or {}, minutes)

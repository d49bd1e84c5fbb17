"""The alert channels deliver to real SMTP and HTTP listeners and report failed deliveries."""

from __future__ import annotations

import base64
import logging

import pytest

from cohortintel.notify import (
    Alert,
    SlackWebhookChannel,
    SmtpChannel,
    WebhookChannel,
    send_alert,
)
from tests.listeners import SilentListener, closed_port, start_http, start_smtp

PASSWORD = "s3cret-Pa55word"
ALERT = Alert(
    severity="failure",
    key="cohort_monthly.validate_transactions",
    subject="[cohortintel] FAILED cohort_monthly.validate_transactions for 2011-07",
    text="Task cohort_monthly.validate_transactions failed on try 3 of 3.\nRun: manual__1",
    fields={"dag_id": "cohort_monthly", "task_id": "validate_transactions", "month": "2011-07"},
)


@pytest.fixture
def smtp():
    listener = start_smtp()
    yield listener
    listener.stop()


@pytest.fixture
def http():
    listener = start_http()
    yield listener
    listener.stop()


def smtp_channel(port: int, **overrides) -> SmtpChannel:
    parameters = {
        "host": "127.0.0.1",
        "port": port,
        "sender": "cohortintel@example.com",
        "recipients": ("oncall@example.com", "data@example.com"),
        "login": "alerts",
        "password": PASSWORD,
        **overrides,
    }
    return SmtpChannel(**parameters)


def test_smtp_sends_one_mail(smtp):
    failed = send_alert(ALERT, [smtp_channel(smtp.port)], timeout=5)
    assert failed == []
    assert len(smtp.mails) == 1
    mail = smtp.mails[0]
    assert mail.message["Subject"] == ALERT.subject
    assert mail.message["From"] == "cohortintel@example.com"
    assert mail.recipients == ["oncall@example.com", "data@example.com"]
    assert "failed on try 3 of 3" in mail.message.get_content()


def test_smtp_logs_in_without_leaking_password(smtp):
    send_alert(ALERT, [smtp_channel(smtp.port)], timeout=5)
    mail = smtp.mails[0]
    assert (mail.auth_login, mail.auth_password) == ("alerts", PASSWORD)
    assert PASSWORD.encode() not in mail.raw


def test_slack_posts_text_field(http):
    channel = SlackWebhookChannel(url=f"{http.url}/services/T000/B000/XXXX")
    failed = send_alert(ALERT, [channel], timeout=5)
    assert failed == []
    assert len(http.requests) == 1
    request = http.requests[0]
    assert request.path == "/services/T000/B000/XXXX"
    assert request.headers["Content-Type"] == "application/json"
    body = request.json()
    assert list(body) == ["text"]
    assert ALERT.subject in body["text"]
    assert "Run: manual__1" in body["text"]


def test_webhook_posts_structured_fields(http):
    channel = WebhookChannel(url=f"{http.url}/alerts", login="alerts", password=PASSWORD)
    send_alert(ALERT, [channel], timeout=5)
    assert len(http.requests) == 1
    request = http.requests[0]
    body = request.json()
    assert body["severity"] == "failure"
    assert body["dag_id"] == "cohort_monthly"
    assert body["task_id"] == "validate_transactions"
    assert body["month"] == "2011-07"
    assert body["text"] == ALERT.text
    expected_auth = base64.b64encode(f"alerts:{PASSWORD}".encode()).decode()
    assert request.headers["Authorization"] == f"Basic {expected_auth}"
    assert PASSWORD.encode() not in request.body


def test_webhook_sends_extra_headers(http):
    channel = WebhookChannel(url=http.url, headers={"X-Api-Key": "k-123456"})
    send_alert(ALERT, [channel], timeout=5)
    assert http.requests[0].headers["X-Api-Key"] == "k-123456"


def test_secret_in_error_text_redacted(smtp, http):
    # The task's error happens to quote the SMTP password and the Slack token.
    leaky = Alert(
        severity="failure",
        key="k",
        subject="subject",
        text=f"Error: login alerts:{PASSWORD} refused; posted to /services/T000/B000/XXXX",
        fields={"error": f"password={PASSWORD}", "nested": [{"token": "T000/B000/XXXX"}]},
    )
    channels = [
        smtp_channel(smtp.port),
        SlackWebhookChannel(url=f"{http.url}/services/T000/B000/XXXX"),
        WebhookChannel(url=f"{http.url}/plain"),
    ]
    assert send_alert(leaky, channels, timeout=5) == []
    assert PASSWORD.encode() not in smtp.mails[0].raw
    assert "***" in smtp.mails[0].message.get_content()
    for request in http.requests:
        assert PASSWORD.encode() not in request.body
        assert b"T000/B000/XXXX" not in request.body


def test_extra_secret_redacted(http):
    alert = Alert("failure", "k", "subject", "dsn password=warehouse-pw-1", {})
    send_alert(alert, [WebhookChannel(url=http.url)], timeout=5, secrets=["warehouse-pw-1"])
    assert b"warehouse-pw-1" not in http.requests[0].body


def test_refused_connection_logged_not_raised(caplog, http):
    dead = smtp_channel(closed_port(), name="smtp (connection alert_smtp)")
    live = WebhookChannel(url=http.url, name="webhook (connection alert_webhook)")
    with caplog.at_level(logging.INFO, logger="cohortintel.notify"):
        failed = send_alert(ALERT, [dead, live], timeout=5)
    assert failed == ["smtp (connection alert_smtp)"]
    # The channel after the dead one still gets the alert.
    assert len(http.requests) == 1
    errors = [record for record in caplog.records if record.levelno == logging.ERROR]
    assert len(errors) == 1
    assert "smtp (connection alert_smtp)" in errors[0].getMessage()
    assert "ConnectionRefusedError" in errors[0].getMessage()
    assert PASSWORD not in caplog.text


def test_silent_listener_times_out(caplog):
    silent = SilentListener()
    try:
        channel = WebhookChannel(url=f"http://127.0.0.1:{silent.port}/", name="webhook")
        with caplog.at_level(logging.ERROR, logger="cohortintel.notify"):
            failed = send_alert(ALERT, [channel], timeout=0.5)
    finally:
        silent.stop()
    assert failed == ["webhook"]
    assert "timed out" in caplog.text


def test_http_error_status_is_failure(caplog):
    listener = start_http(status=500)
    try:
        with caplog.at_level(logging.ERROR, logger="cohortintel.notify"):
            failed = send_alert(ALERT, [SlackWebhookChannel(url=listener.url)], timeout=5)
    finally:
        listener.stop()
    assert failed == ["slack"]
    assert "HTTP Error 500" in caplog.text


def test_malformed_url_is_failure(caplog):
    with caplog.at_level(logging.ERROR, logger="cohortintel.notify"):
        failed = send_alert(ALERT, [WebhookChannel(url="127.0.0.1:9/hook")], timeout=5)
    assert failed == ["webhook"]
    assert "does not start with http" in caplog.text


def test_slack_url_not_in_repr():
    channel = SlackWebhookChannel(url="https://hooks.slack.com/services/T000/B000/XXXX")
    assert "XXXX" not in repr(channel)

"""Airflow connections become alert channels with the expected addresses and credentials."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

# Runs in a fresh interpreter with its own AIRFLOW_HOME, because Airflow reads
# its configuration at import; the connections are real airflow.sdk objects.
BUILD_CHANNELS = textwrap.dedent(
    """
    import dataclasses, json
    from airflow.sdk import Connection
    from cohortintel.airflow_alerts import slack_channel, smtp_channel, webhook_channel
    from cohortintel.config import ConfigError, Settings

    settings = dataclasses.replace(Settings(), alert_email_to=("oncall@example.com",))
    facts = {}
    facts["slack_token"] = slack_channel(Connection(
        conn_id="s1", conn_type="http", host="https://hooks.example.com/services",
        password="T1/B1/abc")).url
    facts["slack_default_host"] = slack_channel(Connection(
        conn_id="s2", conn_type="http", password="T1/B1/abc")).url
    facts["slack_full_url"] = slack_channel(Connection(
        conn_id="s3", conn_type="http", host="ignored.example.com",
        password="http://127.0.0.1:8080/hook/T1")).url
    webhook = webhook_channel(Connection(
        conn_id="w1", conn_type="http", host="alerts.example.com/in", schema="http", port=8081,
        login="bot", password="pw-123456", extra=json.dumps({"headers": {"X-Api-Key": "k1"}})))
    facts["webhook"] = [webhook.url, webhook.login, webhook.password, dict(webhook.headers)]
    facts["webhook_repr_has_password"] = "pw-123456" in repr(webhook)
    try:
        webhook_channel(Connection(conn_id="w2", conn_type="http", host="h", extra='{"headers": [1]}'))
    except ConfigError as error:
        facts["bad_headers"] = str(error)
    try:
        webhook_channel(Connection(conn_id="w3", conn_type="http"))
    except ConfigError as error:
        facts["no_host"] = str(error)
    smtp = smtp_channel(Connection(
        conn_id="m1", conn_type="smtp", host="mail.example.com", login="u", password="p-123456",
        extra=json.dumps({"ssl": "true"})), settings)
    facts["smtp"] = [smtp.host, smtp.port, smtp.use_ssl, smtp.use_starttls, list(smtp.recipients)]
    facts["smtp_repr_has_password"] = "p-123456" in repr(smtp)
    print(json.dumps(facts))
    """
)


@pytest.fixture(scope="module")
def facts(tmp_path_factory) -> dict:
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(tmp_path_factory.mktemp("airflow_home")),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
    }
    result = subprocess.run(
        [sys.executable, "-c", BUILD_CHANNELS],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-5000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_slack_token_appended_to_host(facts):
    assert facts["slack_token"] == "https://hooks.example.com/services/T1/B1/abc"


def test_slack_default_host(facts):
    assert facts["slack_default_host"] == "https://hooks.slack.com/services/T1/B1/abc"


def test_slack_full_url_in_password(facts):
    assert facts["slack_full_url"] == "http://127.0.0.1:8080/hook/T1"


def test_webhook_url_auth_and_headers(facts):
    assert facts["webhook"] == [
        "http://alerts.example.com:8081/in",
        "bot",
        "pw-123456",
        {"X-Api-Key": "k1"},
    ]
    assert facts["webhook_repr_has_password"] is False


def test_webhook_bad_headers_rejected(facts):
    assert "extra 'headers' of type list" in facts["bad_headers"]


def test_webhook_without_host_rejected(facts):
    assert "'w3' has no host" in facts["no_host"]


def test_smtp_ssl_default_port(facts):
    assert facts["smtp"] == ["mail.example.com", 465, True, False, ["oncall@example.com"]]
    assert facts["smtp_repr_has_password"] is False

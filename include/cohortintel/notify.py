"""Deliver alerts by SMTP e-mail, Slack-style incoming webhook or plain JSON webhook.

The channels take plain parameters (host, port, login, password, URL), so this
module does not import Airflow; ``cohortintel.airflow_alerts`` builds them from
Airflow connections. Delivery errors (refused connections, timeouts, HTTP and
SMTP errors, malformed URLs) are logged with the channel and the reason and
not raised, because an alert that cannot be sent must not hide the failure it
reports.
"""

from __future__ import annotations

import base64
import http.client
import json
import logging
import smtplib
import urllib.request
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from email.message import EmailMessage
from typing import Any, Protocol

log = logging.getLogger(__name__)

REDACTED = "***"
# Errors a channel raises when the listener is down, slow or rejects the alert.
# smtplib.SMTPException, urllib's URLError and HTTPError and TimeoutError are
# all OSError subclasses; urllib raises ValueError for a malformed URL.
DELIVERY_ERRORS = (OSError, http.client.HTTPException, ValueError)


@dataclass(frozen=True)
class Alert:
    """One alert: the subject line, the plain-text body and the structured fields."""

    severity: str  # "failure" or "warning"
    key: str  # identifies the event, e.g. "cohort_monthly.validate_transactions"
    subject: str
    text: str
    fields: Mapping[str, Any] = field(default_factory=dict)

    def payload(self) -> dict[str, Any]:
        """Return the JSON body of the plain webhook: the fields plus severity, subject and text."""
        return {
            "severity": self.severity,
            "alert_key": self.key,
            "subject": self.subject,
            **self.fields,
            "text": self.text,
        }


class Channel(Protocol):
    """A destination for alerts."""

    name: str

    def send(self, alert: Alert, timeout: float) -> None: ...

    def secrets(self) -> tuple[str, ...]: ...


@dataclass(frozen=True)
class SmtpChannel:
    """E-mail through an SMTP server; ``use_ssl`` is SMTPS, ``use_starttls`` upgrades after EHLO."""

    host: str
    port: int
    sender: str
    recipients: tuple[str, ...]
    login: str | None = None
    password: str | None = field(default=None, repr=False)
    use_ssl: bool = False
    use_starttls: bool = False
    name: str = "smtp"

    def send(self, alert: Alert, timeout: float) -> None:
        message = EmailMessage()
        message["Subject"] = alert.subject
        message["From"] = self.sender
        message["To"] = ", ".join(self.recipients)
        message.set_content(alert.text)
        client_class = smtplib.SMTP_SSL if self.use_ssl else smtplib.SMTP
        with client_class(self.host, self.port, timeout=timeout) as client:
            if self.use_starttls:
                client.starttls()
            if self.login:
                client.login(self.login, self.password or "")
            client.send_message(message)

    def secrets(self) -> tuple[str, ...]:
        return (self.password,) if self.password else ()


@dataclass(frozen=True)
class SlackWebhookChannel:
    """A Slack-style incoming webhook, which takes a JSON object with a ``text`` field.

    The URL is itself the credential, so it is kept out of ``repr`` and logs.
    """

    url: str = field(repr=False)
    name: str = "slack"

    def send(self, alert: Alert, timeout: float) -> None:
        post_json(self.url, {"text": f"*{alert.subject}*\n{alert.text}"}, {}, timeout)

    def secrets(self) -> tuple[str, ...]:
        # The token is the end of the path, which an error text may quote without the host.
        segments = _url_path(self.url).split("/")
        suffixes = ("/".join(segments[start:]) for start in range(len(segments)))
        return (self.url, *(suffix for suffix in suffixes if suffix))


@dataclass(frozen=True)
class WebhookChannel:
    """A plain HTTP endpoint that receives the alert's structured fields as JSON."""

    url: str = field(repr=False)
    login: str | None = None
    password: str | None = field(default=None, repr=False)
    headers: Mapping[str, str] = field(default_factory=dict, repr=False)
    name: str = "webhook"

    def send(self, alert: Alert, timeout: float) -> None:
        headers = dict(self.headers)
        if self.login:
            token = base64.b64encode(f"{self.login}:{self.password or ''}".encode()).decode()
            headers["Authorization"] = f"Basic {token}"
        post_json(self.url, alert.payload(), headers, timeout)

    def secrets(self) -> tuple[str, ...]:
        return tuple(value for value in (self.password, *self.headers.values()) if value)


def post_json(
    url: str, body: Mapping[str, Any], headers: Mapping[str, str], timeout: float
) -> None:
    """POST ``body`` as JSON; urllib raises HTTPError for a response status of 400 or more."""
    if not url.startswith(("http://", "https://")):
        raise ValueError("the webhook URL does not start with http:// or https://")
    request = urllib.request.Request(
        url,
        data=json.dumps(body, default=str).encode("utf-8"),
        headers={"Content-Type": "application/json", **headers},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:
        response.read()


def _url_path(url: str) -> str:
    """Return the path and query of a URL, which carry the token of a Slack webhook."""
    after_scheme = url.split("://", 1)[-1]
    _, _, path = after_scheme.partition("/")
    return path


def redact(text: str, secrets: Iterable[str]) -> str:
    """Replace every occurrence of each non-empty secret in ``text`` with ``***``."""
    # Longest first, so a secret that contains another is replaced whole.
    for secret in sorted({s for s in secrets if s}, key=len, reverse=True):
        text = text.replace(secret, REDACTED)
    return text


def _redact_value(value: Any, secrets: Sequence[str]) -> Any:
    if isinstance(value, str):
        return redact(value, secrets)
    if isinstance(value, Mapping):
        return {key: _redact_value(item, secrets) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_redact_value(item, secrets) for item in value]
    return value


def redact_alert(alert: Alert, secrets: Sequence[str]) -> Alert:
    """Return the alert with every secret removed from its subject, text and fields."""
    return replace(
        alert,
        subject=redact(alert.subject, secrets),
        text=redact(alert.text, secrets),
        fields=_redact_value(dict(alert.fields), secrets),
    )


def send_alert(
    alert: Alert,
    channels: Sequence[Channel],
    timeout: float,
    secrets: Iterable[str] = (),
) -> list[str]:
    """Send the alert through every channel and return the names of the channels that failed.

    ``secrets`` are removed from the alert before it leaves, together with the
    channels' own credentials. A channel that fails is logged at ERROR with its
    name and the reason, and the other channels are still tried.
    """
    known_secrets = [*secrets, *(secret for channel in channels for secret in channel.secrets())]
    safe_alert = redact_alert(alert, known_secrets)
    failed = []
    for channel in channels:
        try:
            channel.send(safe_alert, timeout)
        except DELIVERY_ERRORS as error:
            reason = redact(f"{type(error).__name__}: {error}", known_secrets)
            log.error(
                "Sending the %s alert %s through %s failed: %s. The alert was: %s",
                alert.severity,
                alert.key,
                channel.name,
                reason,
                safe_alert.subject,
            )
            failed.append(channel.name)
        else:
            log.info("Sent the %s alert %s through %s", alert.severity, alert.key, channel.name)
    return failed

"""Real SMTP and HTTP listeners on 127.0.0.1 that record what the alert channels send.

Each listener binds a free port, serves from a daemon thread and keeps every
message it receives, so a test can count and read them.
"""

from __future__ import annotations

import base64
import email
import email.policy
import http.server
import json
import socket
import socketserver
import threading
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any


@dataclass
class ReceivedMail:
    """One message the SMTP listener accepted, with the envelope and the AUTH it saw."""

    mail_from: str
    recipients: list[str]
    raw: bytes
    message: EmailMessage
    auth_login: str | None = None
    auth_password: str | None = None


class _SmtpHandler(socketserver.StreamRequestHandler):
    """A minimal SMTP dialogue: EHLO, AUTH PLAIN, MAIL, RCPT, DATA, RSET, NOOP, QUIT."""

    server: _SmtpServer

    def reply(self, line: str) -> None:
        self.wfile.write(line.encode("ascii") + b"\r\n")

    def handle(self) -> None:
        self.reply("220 127.0.0.1 test listener ready")
        mail_from, recipients = "", []
        auth: tuple[str | None, str | None] = (None, None)
        while True:
            line = self.rfile.readline()
            if not line:
                return
            command = line.decode("ascii", errors="replace").rstrip("\r\n")
            verb, _, argument = command.partition(" ")
            verb = verb.upper()
            if verb == "EHLO":
                self.wfile.write(b"250-127.0.0.1\r\n250-AUTH PLAIN\r\n250 8BITMIME\r\n")
            elif verb == "HELO":
                self.reply("250 127.0.0.1")
            elif verb == "AUTH":
                mechanism, _, initial = argument.partition(" ")
                if mechanism.upper() != "PLAIN" or not initial:
                    self.reply("504 only AUTH PLAIN with an initial response")
                    continue
                _, login, password = base64.b64decode(initial).decode("utf-8").split("\0")
                auth = (login, password)
                self.reply("235 authenticated")
            elif verb == "MAIL":
                mail_from, recipients = argument.split(":", 1)[1].strip(" <>"), []
                self.reply("250 sender ok")
            elif verb == "RCPT":
                recipients.append(argument.split(":", 1)[1].strip(" <>"))
                self.reply("250 recipient ok")
            elif verb == "DATA":
                self.reply("354 end with <CRLF>.<CRLF>")
                raw = self._read_data()
                message = email.message_from_bytes(raw, policy=email.policy.default)
                self.server.record(ReceivedMail(mail_from, recipients, raw, message, *auth))
                self.reply("250 queued")
            elif verb in ("RSET", "NOOP"):
                self.reply("250 ok")
            elif verb == "QUIT":
                self.reply("221 bye")
                return
            else:
                self.reply(f"502 {verb} not implemented")

    def _read_data(self) -> bytes:
        lines = []
        while True:
            line = self.rfile.readline()
            if line in (b".\r\n", b".\n", b""):
                break
            # Undo the dot-stuffing of RFC 5321, section 4.5.2.
            lines.append(line[1:] if line.startswith(b"..") else line)
        return b"".join(lines)


class _SmtpServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _SmtpHandler)
        self.mails: list[ReceivedMail] = []
        self._lock = threading.Lock()

    def record(self, mail: ReceivedMail) -> None:
        with self._lock:
            self.mails.append(mail)


@dataclass
class ReceivedRequest:
    """One POST the HTTP listener received."""

    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class _HttpHandler(http.server.BaseHTTPRequestHandler):
    server: _HttpServer

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", 0))
        body = self.rfile.read(length)
        self.server.record(ReceivedRequest(self.path, dict(self.headers.items()), body))
        self.send_response(self.server.status)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, format: str, *args: Any) -> None:
        """Keep the test output quiet; the requests are recorded instead."""


class _HttpServer(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, status: int) -> None:
        super().__init__(("127.0.0.1", 0), _HttpHandler)
        self.status = status
        self.requests: list[ReceivedRequest] = []
        self._lock = threading.Lock()

    def record(self, request: ReceivedRequest) -> None:
        with self._lock:
            self.requests.append(request)


@dataclass
class Listener:
    """A running listener: its port and what it received."""

    server: socketserver.BaseServer
    thread: threading.Thread = field(repr=False)

    @property
    def port(self) -> int:
        return self.server.server_address[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def mails(self) -> list[ReceivedMail]:
        return list(self.server.mails)

    @property
    def requests(self) -> list[ReceivedRequest]:
        return list(self.server.requests)

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()


def _start(server: socketserver.BaseServer) -> Listener:
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return Listener(server, thread)


def start_smtp() -> Listener:
    return _start(_SmtpServer())


def start_http(status: int = 200) -> Listener:
    return _start(_HttpServer(status))


def closed_port() -> int:
    """Return a port on 127.0.0.1 that nothing listens on, so a connection is refused."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class SilentListener:
    """A TCP listener that accepts connections and never replies, so clients time out."""

    def __init__(self) -> None:
        self.socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.socket.bind(("127.0.0.1", 0))
        self.socket.listen(8)
        self.port = self.socket.getsockname()[1]

    def stop(self) -> None:
        self.socket.close()

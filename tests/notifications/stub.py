"""A local HTTP receiver standing in for customers' webhook endpoints (127.0.0.1 only)."""

from __future__ import annotations

import socketserver
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """Answers each request with the next scripted (status, headers, body); 200 when empty."""

    url: str
    received: list[Received] = field(default_factory=list)
    script: list[tuple[int, dict[str, str], bytes]] = field(default_factory=list)
    delay_first: float = 0.0

    def answer(self, status: int, headers: dict[str, str] | None = None, body: bytes = b"") -> None:
        self.script.append((status, headers or {}, body))


class _Server(ThreadingHTTPServer):
    request_queue_size = 64  # a delivery batch's 16 sending threads connect at once


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state: dict[str, Any] = {}

    class Handler(BaseHTTPRequestHandler):
        # Keep-alive like the providers' real endpoints: a pooled sender reuses its connection.
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            body = self.rfile.read(length)
            rx: Receiver = state["receiver"]
            first = not rx.received
            rx.received.append(
                Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body)
            )
            if first and rx.delay_first:
                time.sleep(rx.delay_first)
            status, headers, payload = rx.script.pop(0) if rx.script else (200, {}, b"ok")
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("content-length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args: Any) -> None:
            pass

    server = _Server(("127.0.0.1", 0), Handler)
    state["receiver"] = Receiver(url=f"http://127.0.0.1:{server.server_port}/hooks")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state["receiver"]
    server.shutdown()
    server.server_close()


# --- A local SMTP server standing in for the mail relay ------------------------------------------


@dataclass
class Mail:
    sender: str
    recipients: list[str]
    data: bytes


@dataclass
class SmtpSink:
    """Accepts mail like a relay; RCPT for an address starting `refused` is a 550, and
    `data_reply` replaces the DATA answer (e.g. `451 try later`)."""

    port: int
    mails: list[Mail] = field(default_factory=list)
    connections: int = 0
    data_reply: str = "250 queued"


class _SmtpHandler(socketserver.StreamRequestHandler):
    def handle(self) -> None:
        sink: SmtpSink = self.server.sink  # type: ignore[attr-defined]
        sink.connections += 1
        sender, recipients = "", list[str]()
        self._reply("220 sink ESMTP")
        while line := self.rfile.readline():
            command = line.decode("ascii", "replace").strip()
            verb = command[:4].upper()
            if verb in ("EHLO", "HELO"):
                self._reply("250-sink\r\n250 8BITMIME" if verb == "EHLO" else "250 sink")
            elif verb == "MAIL":
                sender, recipients = command.split(":", 1)[1].strip(" <>"), []
                self._reply("250 ok")
            elif verb == "RCPT":
                address = command.split(":", 1)[1].strip(" <>")
                if address.startswith("refused"):
                    self._reply("550 no such user")
                    continue
                recipients.append(address)
                self._reply("250 ok")
            elif verb == "DATA":
                self._reply("354 go ahead")
                data = b""
                while (chunk := self.rfile.readline()) not in (b".\r\n", b""):
                    data += chunk[1:] if chunk.startswith(b"..") else chunk
                if sink.data_reply.startswith("250"):
                    sink.mails.append(Mail(sender, recipients, data))
                self._reply(sink.data_reply)
            elif verb == "QUIT":
                self._reply("221 bye")
                return
            else:  # RSET, NOOP
                self._reply("250 ok")

    def _reply(self, text: str) -> None:
        self.wfile.write(f"{text}\r\n".encode())


class _SmtpServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


@pytest.fixture
def smtp_sink(settings: Any) -> Iterator[SmtpSink]:
    """Django's SMTP backend pointed at a local sink; the kept connection is dropped after."""
    from notifications import channels

    server = _SmtpServer(("127.0.0.1", 0), _SmtpHandler)
    sink = SmtpSink(port=server.server_address[1])
    server.sink = sink  # type: ignore[attr-defined]
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", sink.port
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield sink
    channels._drop_mail_connection()
    channels._local.templates = {}
    server.shutdown()
    server.server_close()

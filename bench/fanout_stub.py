"""Local stub providers for `bench/fanout.py`: one asyncio process, loopback only.

    .venv/bin/python bench/fanout_stub.py --http-port 0 --smtp-port 0 [--latency-ms 0]

* HTTP (Slack, Teams and member webhooks, customer webhook endpoints): answers every POST
  `200 ok` (after `--latency-ms`), HTTP/1.1 with keep-alive, and records the receive time
  (`time.time()`, the wall clock every process on the box shares) and the path, which names the
  recipient (`/slack/<org>/<n>`, `/teams/<org>/<n>`, `/hook/<org>/<n>`, `/wh/<org>/<n>`).
* SMTP sink (e-mail through Django's SMTP backend): EHLO/HELO, MAIL, RCPT, DATA, RSET, NOOP,
  QUIT; records the end of DATA once per recipient as `email/<org>/<n>` (from `r<n>@<org>…`).
* Control, on the HTTP port: `POST /_reset` forgets the receipts; `GET /_wait?count=N&timeout=S`
  answers when N receipts arrived (or after S seconds) with every receipt since the reset, plus
  the number of TCP connections and requests seen (to show whether senders reuse connections).

Prints `STUB_READY {"http": port, "smtp": port}` on stdout once both listen. Nothing here
touches the database or Django: it only stands in for the providers' side of the wire.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import time
from urllib.parse import parse_qs, urlsplit

LOOPBACK = "127.0.0.1"


class Receipts:
    def __init__(self) -> None:
        self.items: list[tuple[float, str]] = []
        self.http_connections = 0
        self.http_requests = 0
        self.smtp_connections = 0
        self.smtp_messages = 0
        self.changed = asyncio.Event()

    def add(self, key: str) -> None:
        self.items.append((time.time(), key))
        self.changed.set()

    def reset(self) -> None:
        self.items.clear()
        self.http_connections = self.http_requests = 0
        self.smtp_connections = self.smtp_messages = 0

    def document(self) -> dict[str, object]:
        return {
            "count": len(self.items),
            "receipts": self.items,
            "http_connections": self.http_connections,
            "http_requests": self.http_requests,
            "smtp_connections": self.smtp_connections,
            "smtp_messages": self.smtp_messages,
        }


RECEIPTS: Receipts
LATENCY = 0.0


def _response(status: str, body: bytes, content_type: str = "text/plain") -> bytes:
    head = (
        f"HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


async def _wait(query: dict[str, list[str]]) -> bytes:
    count = int(query.get("count", ["0"])[0])
    deadline = time.monotonic() + float(query.get("timeout", ["60"])[0])
    while len(RECEIPTS.items) < count:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        RECEIPTS.changed.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(RECEIPTS.changed.wait(), remaining)
    return json.dumps(RECEIPTS.document()).encode()


async def handle_http(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    RECEIPTS.http_connections += 1
    try:
        while True:
            try:
                head = await reader.readuntil(b"\r\n\r\n")
            except (asyncio.IncompleteReadError, ConnectionError):
                return
            lines = head.decode("latin-1").split("\r\n")
            method, target, _version = [*lines[0].split(" ", 2), "", ""][:3]
            headers = {}
            for line in lines[1:]:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
            length = int(headers.get("content-length", "0") or 0)
            if length:
                await reader.readexactly(length)
            parts = urlsplit(target)
            if parts.path == "/_reset":
                RECEIPTS.reset()
                writer.write(_response("200 OK", b"reset"))
            elif parts.path == "/_wait":
                body = await _wait(parse_qs(parts.query))
                writer.write(_response("200 OK", body, "application/json"))
            elif method == "POST":
                RECEIPTS.http_requests += 1
                if LATENCY:
                    await asyncio.sleep(LATENCY)
                RECEIPTS.add(parts.path.lstrip("/"))
                writer.write(_response("200 OK", b"ok"))
            else:
                writer.write(_response("404 Not Found", b"not found"))
            await writer.drain()
            if headers.get("connection", "").lower() == "close":
                return
    finally:
        with contextlib.suppress(Exception):
            writer.close()


async def handle_smtp(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    RECEIPTS.smtp_connections += 1
    recipients: list[str] = []

    def reply(line: str) -> None:
        writer.write(f"{line}\r\n".encode())

    try:
        reply("220 fanout-stub ESMTP")
        await writer.drain()
        while True:
            try:
                raw = await reader.readuntil(b"\r\n")
            except (asyncio.IncompleteReadError, ConnectionError):
                return
            line = raw.decode("latin-1").rstrip("\r\n")
            verb = line[:4].upper()
            if verb in ("EHLO", "HELO"):
                reply("250 fanout-stub")
            elif verb == "MAIL":
                recipients.clear()
                reply("250 OK")
            elif verb == "RCPT":
                address = line.partition(":")[2].strip().strip("<>")
                recipients.append(address)
                reply("250 OK")
            elif verb == "DATA":
                reply("354 End data with <CR><LF>.<CR><LF>")
                await writer.drain()
                await reader.readuntil(b"\r\n.\r\n")
                if LATENCY:
                    await asyncio.sleep(LATENCY)
                RECEIPTS.smtp_messages += 1
                for address in recipients:
                    local, _, domain = address.partition("@")
                    org = domain.split(".", 1)[0]
                    RECEIPTS.add(f"email/{org}/{local.removeprefix('r')}")
                recipients.clear()
                reply("250 OK queued")
            elif verb == "RSET":
                recipients.clear()
                reply("250 OK")
            elif verb == "NOOP":
                reply("250 OK")
            elif verb == "QUIT":
                reply("221 Bye")
                await writer.drain()
                return
            else:
                reply("502 Command not implemented")
            await writer.drain()
    finally:
        with contextlib.suppress(Exception):
            writer.close()


async def main(http_port: int, smtp_port: int) -> None:
    global RECEIPTS
    RECEIPTS = Receipts()
    http = await asyncio.start_server(handle_http, LOOPBACK, http_port, backlog=1024, limit=1 << 20)
    smtp = await asyncio.start_server(handle_smtp, LOOPBACK, smtp_port, backlog=1024, limit=1 << 20)
    ports = {
        "http": http.sockets[0].getsockname()[1],
        "smtp": smtp.sockets[0].getsockname()[1],
    }
    print("STUB_READY " + json.dumps(ports), flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    async with http, smtp:
        await stop.wait()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--http-port", type=int, default=0)
    parser.add_argument("--smtp-port", type=int, default=0)
    parser.add_argument("--latency-ms", type=float, default=0.0)
    args = parser.parse_args()
    LATENCY = args.latency_ms / 1000
    asyncio.run(main(args.http_port, args.smtp_port))

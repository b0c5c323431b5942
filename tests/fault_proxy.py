"""A flaky object store: an HTTP proxy on loopback in front of the S3 server that answers a
seeded share of requests with 5xx, resets connections (before or after the request reached
the store) or delays them, and can fail everything for a while (an outage).

The job reaches the store only through it (its --s3_endpoint_url); the tests' own checks
talk to the store directly.
"""
from __future__ import annotations

import contextlib
import http.client
import http.server
import random
import socket
import struct
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from typing import Iterator

from tests.servers import S3_REGION, S3Server

_ERRORS = (
    (500, "InternalError", "We encountered an internal error. Please try again."),
    (503, "SlowDown", "Please reduce your request rate."),
    (503, "ServiceUnavailable", "Service is unable to handle request."),
)


@dataclass
class Faults:
    """Shares of requests that fail each way; `seed` makes a run repeatable."""

    errors: float = 0.0  # a 5xx answer; the request never reaches the store
    resets: float = 0.0  # the connection reset, half before and half after the store acted
    delays: float = 0.0  # answered `delay_s` late
    delay_s: float = 1.0
    seed: int = 0
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(
        ("requests", "errors", "resets", "resets_after", "delays", "outage"), 0))
    _outage_until: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self._random = random.Random(self.seed)

    def outage(self, seconds: float) -> None:
        """Every request fails (503) for the next `seconds`."""
        self._outage_until = time.monotonic() + seconds

    def draw(self) -> str:
        with self._lock:
            self.counts["requests"] += 1
            if time.monotonic() < self._outage_until:
                self.counts["outage"] += 1
                return "outage"
            roll = self._random.random()
            for kind, share in (("errors", self.errors), ("resets", self.resets), ("delays", self.delays)):
                if roll < share:
                    self.counts[kind] += 1
                    return kind
                roll -= share
            return "pass"

    def coin(self) -> bool:
        with self._lock:
            return self._random.random() < 0.5


@dataclass(frozen=True)
class FlakyS3:
    endpoint: str
    faults: Faults

    @property
    def options(self) -> list[str]:
        return [f"--s3_endpoint_url={self.endpoint}", "--s3_access_key_id=test",
                "--s3_secret_access_key=test", f"--s3_region_name={S3_REGION}"]


def _reset(sock: socket.socket) -> None:
    """Close with RST rather than FIN: what a dropped connection looks like to the client."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.close()


@contextlib.contextmanager
def flaky_s3(store: S3Server, faults: Faults) -> Iterator[FlakyS3]:
    target = urllib.parse.urlsplit(store.endpoint)

    class Proxy(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _handle(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            fault = faults.draw()
            if fault in ("errors", "outage"):
                status, code, message = faults._random.choice(_ERRORS) if fault == "errors" else _ERRORS[2]
                payload = (f"<?xml version='1.0' encoding='UTF-8'?><Error><Code>{code}</Code>"
                           f"<Message>{message}</Message></Error>").encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/xml")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
                return
            reset_after = fault == "resets" and faults.coin()
            if reset_after:
                faults.counts["resets_after"] += 1
            if fault == "resets" and not reset_after:
                self.close_connection = True
                _reset(self.connection)
                return
            if fault == "delays":
                time.sleep(faults.delay_s)
            upstream = http.client.HTTPConnection(target.hostname, target.port, timeout=60)
            try:
                upstream.request(self.command, self.path, body=body or None, headers=dict(self.headers.items()))
                answer = upstream.getresponse()
                data = answer.read()
            finally:
                upstream.close()
            if reset_after:  # the store acted; the client hears half an answer, then a reset
                self.wfile.write(f"HTTP/1.1 {answer.status} {answer.reason}\r\nContent-Length: {len(data)}\r\n".encode())
                self.wfile.flush()
                self.close_connection = True
                _reset(self.connection)
                return
            self.send_response(answer.status, answer.reason)
            for name, value in answer.getheaders():
                if name.lower() not in ("transfer-encoding", "connection", "content-length", "server", "date"):
                    self.send_header(name, value)
            # A HEAD answer has no body but tells the object's length.
            length = answer.getheader("Content-Length") if self.command == "HEAD" else None
            self.send_header("Content-Length", length or str(len(data)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)

        do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _handle  # noqa: N815 (http.server's names)

        def log_message(self, *args) -> None:
            pass

    class Server(http.server.ThreadingHTTPServer):
        def handle_error(self, request, client_address) -> None:
            pass  # a client that drops a kept-alive connection is no news

    server = Server(("127.0.0.1", 0), Proxy)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name="flaky-s3", daemon=True)
    thread.start()
    try:
        yield FlakyS3(f"http://127.0.0.1:{server.server_address[1]}", faults)
    finally:
        server.shutdown()
        server.server_close()

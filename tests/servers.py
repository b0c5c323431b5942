"""Real servers the tests start on loopback and always stop: an S3 endpoint (moto's
standalone server) and small HTTP servers with hostile behaviours."""
from __future__ import annotations

import contextlib
import http.server
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass
from typing import Callable, Iterator

S3_REGION = "us-east-1"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass(frozen=True)
class S3Server:
    endpoint: str

    @property
    def options(self) -> list[str]:
        """The job's own flags for this server: Beam's S3 filesystem options."""
        return [f"--s3_endpoint_url={self.endpoint}", "--s3_access_key_id=test",
                "--s3_secret_access_key=test", f"--s3_region_name={S3_REGION}"]

    def client(self):
        """A boto3 client for the tests' own setup and checks (never for the job)."""
        import boto3

        return boto3.client("s3", endpoint_url=self.endpoint, aws_access_key_id="test",
                            aws_secret_access_key="test", region_name=S3_REGION)


@contextlib.contextmanager
def s3_server() -> Iterator[S3Server]:
    """moto's standalone S3 server as a subprocess on a free loopback port."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    endpoint = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=1).close()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("moto's S3 server did not start") from None
                time.sleep(0.2)
        yield S3Server(endpoint)
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


Handler = Callable[[http.server.BaseHTTPRequestHandler], None]


@contextlib.contextmanager
def http_server(routes: dict[str, Handler], host: str = "127.0.0.1") -> Iterator[str]:
    """A threading HTTP server answering GET by path from `routes` (404 otherwise); yields
    its base URL. `routes` may be changed while it runs."""

    class RouteHandler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            path = urllib.request.unquote(self.path)
            if path in routes:
                routes[path](self)
            else:
                self.send_error(404)

        def log_message(self, *args) -> None:
            pass

    server = http.server.ThreadingHTTPServer((host, 0), RouteHandler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://{host}:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def serve_bytes(data: bytes, length: int | None = None) -> Handler:
    """200 with `data`, announcing `length` bytes (default: the true length)."""

    def handle(request: http.server.BaseHTTPRequestHandler) -> None:
        request.send_response(200)
        request.send_header("Content-Length", str(len(data) if length is None else length))
        request.end_headers()
        request.wfile.write(data)
        request.wfile.flush()
        request.close_connection = True

    return handle


def redirect_to(location: str) -> Handler:
    def handle(request: http.server.BaseHTTPRequestHandler) -> None:
        request.send_response(302)
        request.send_header("Location", location)
        request.send_header("Content-Length", "0")
        request.end_headers()

    return handle


def endless_body(request: http.server.BaseHTTPRequestHandler) -> None:
    """Bytes without end and without a length, until the client hangs up."""
    request.send_response(200)
    request.end_headers()
    chunk = b"\0" * 65536
    with contextlib.suppress(OSError):
        while True:
            request.wfile.write(chunk)


def trickle(interval_s: float) -> Handler:
    """One byte every interval_s: each read succeeds, the download never ends."""

    def handle(request: http.server.BaseHTTPRequestHandler) -> None:
        request.send_response(200)
        request.send_header("Content-Length", "100000")
        request.end_headers()
        with contextlib.suppress(OSError):
            for _ in range(100000):
                request.wfile.write(b"x")
                request.wfile.flush()
                time.sleep(interval_s)

    return handle

"""Real servers the tests start on loopback and always stop: an S3 endpoint (moto's
standalone server) and small HTTP servers with hostile behaviours."""
from __future__ import annotations

import contextlib
import http.server
import os
import signal
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


def _wait_for_port(port: int, process: subprocess.Popen, what: str, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{what} did not start") from None
            time.sleep(0.2)


def _stop(process: subprocess.Popen) -> None:
    """Stop a service and the processes it started (its own process group)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


@dataclass(frozen=True)
class WorkerPool:
    """Beam's SDK worker pool: starts a separate SDK harness process for each job."""

    port: int
    process: subprocess.Popen


@contextlib.contextmanager
def worker_pool(folder: str) -> Iterator[WorkerPool]:
    """Beam's worker pool as a process group started in `folder` (not the launcher's), with
    this Python first on PATH (it starts workers with the `python` it finds) and nothing of
    the job's options in its environment."""
    port = free_port()
    env = {**os.environ, "PATH": f"{os.path.dirname(sys.executable)}{os.pathsep}{os.environ['PATH']}"}
    env = {k: v for k, v in env.items() if not k.startswith(("AWS_", "PIPELINE_OPTIONS"))}
    process = subprocess.Popen(
        [sys.executable, "-m", "apache_beam.runners.worker.worker_pool_main", f"--service_port={port}"],
        cwd=folder, env=env, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        _wait_for_port(port, process, "Beam's worker pool")
        yield WorkerPool(port, process)
    finally:
        _stop(process)


@dataclass(frozen=True)
class JobService:
    """Beam's local job service, the protocol Flink's and Spark's job servers speak."""

    port: int
    pool: WorkerPool

    def options(self, pool: WorkerPool | None = None) -> list[str]:
        """The job's flags to run on this service with SDK workers from `pool`."""
        return ["--runner=PortableRunner", f"--job_endpoint=localhost:{self.port}",
                "--environment_type=EXTERNAL", f"--environment_config=localhost:{(pool or self.pool).port}"]


@contextlib.contextmanager
def job_service(folder: str) -> Iterator[JobService]:
    """The job service and a worker pool, both started in `folder`, always stopped."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "apache_beam.runners.portability.local_job_service_main", f"--port={port}"],
        cwd=folder, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        _wait_for_port(port, process, "Beam's job service")
        with worker_pool(folder) as pool:
            yield JobService(port, pool)
    finally:
        _stop(process)

"""http(s) inputs that survive a blip: a real loopback server answering 503 with
Retry-After, 429, or resetting the connection before it serves the image."""
from __future__ import annotations

import http.server
import time

import pytest

from pipeline.run import run
from tests.conftest import read_jsonl
from tests.servers import http_server, serve_bytes
from tests.test_buckets import png
from transforms.http_fetch import DownloadTimeoutError, HTTPStatusError, URLNotAllowedError, fetch_url


def failing_first(times: int, failure, then) -> tuple:
    """A handler that fails `times` times (failure(request)), then serves; and its request log."""
    seen: list[float] = []

    def handle(request: http.server.BaseHTTPRequestHandler) -> None:
        seen.append(time.monotonic())
        if len(seen) <= times:
            failure(request)
        else:
            then(request)

    return handle, seen


def status(code: int, retry_after: str | None = None):
    def answer(request: http.server.BaseHTTPRequestHandler) -> None:
        request.send_response(code)
        if retry_after is not None:
            request.send_header("Retry-After", retry_after)
        request.send_header("Content-Length", "0")
        request.end_headers()

    return answer


def reset(request: http.server.BaseHTTPRequestHandler) -> None:
    """Close the connection without a word: the client sees a reset or a remote disconnect."""
    request.close_connection = True
    request.connection.shutdown(2)


IMAGE = png(3)


@pytest.mark.parametrize("failure", [status(503, "1"), status(429), status(502), reset],
                         ids=["503-retry-after", "429", "502", "reset"])
def test_a_passing_failure_is_asked_again(failure):
    handler, seen = failing_first(1, failure, serve_bytes(IMAGE))
    with http_server({"/a.png": handler}) as base:
        assert fetch_url(f"{base}/a.png", 10**6, 30, allow_private=True) == IMAGE
    assert len(seen) == 2
    if failure is not reset and seen[1] - seen[0] < 0.2:
        pytest.fail("no wait between the tries")


def test_retry_after_is_honoured():
    handler, seen = failing_first(1, status(503, "2"), serve_bytes(IMAGE))
    with http_server({"/a.png": handler}) as base:
        fetch_url(f"{base}/a.png", 10**6, 30, allow_private=True)
    assert 1.9 <= seen[1] - seen[0] < 5


@pytest.mark.parametrize("code", [404, 403])
def test_a_final_answer_is_not_asked_again(code):
    handler, seen = failing_first(10, status(code), serve_bytes(IMAGE))
    with http_server({"/a.png": handler}) as base, pytest.raises(HTTPStatusError, match=str(code)):
        fetch_url(f"{base}/a.png", 10**6, 30, allow_private=True)
    assert len(seen) == 1


def test_a_refused_private_address_is_not_asked_again():
    handler, seen = failing_first(0, status(503), serve_bytes(IMAGE))
    with http_server({"/a.png": handler}) as base, pytest.raises(URLNotAllowedError):
        fetch_url(f"{base}/a.png", 10**6, 30, allow_private=False)
    assert seen == []  # refused on the connected address: no request was ever sent


def test_attempts_and_waiting_are_bounded():
    handler, seen = failing_first(100, status(503), serve_bytes(IMAGE))
    with http_server({"/a.png": handler}) as base:
        started = time.monotonic()
        with pytest.raises(HTTPStatusError, match="503"):
            fetch_url(f"{base}/a.png", 10**6, 30, allow_private=True, retries=2)
        assert len(seen) == 3 and time.monotonic() - started < 5
        seen.clear()
        # A Retry-After beyond the deadline ends the download now, not after the wait.
        handler_far, seen_far = failing_first(100, status(503, "100"), serve_bytes(IMAGE))
    with http_server({"/b.png": handler_far}) as base:
        started = time.monotonic()
        with pytest.raises(DownloadTimeoutError, match="http_timeout=5"):
            fetch_url(f"{base}/b.png", 10**6, 5, allow_private=True)
        assert len(seen_far) == 1 and time.monotonic() - started < 2


def test_a_job_over_blipping_urls_dreams_every_input_once(tmp_path):
    routes, logs = {}, {}
    for i, failure in enumerate([status(503, "1"), status(429), reset]):
        routes[f"/{i}.png"], logs[i] = failing_first(1, failure, serve_bytes(png(i)))
    with http_server(routes) as base:
        manifest = tmp_path / "urls.txt"
        manifest.write_text("".join(f"{base}/{i}.png\n" for i in range(3)))
        out = tmp_path / "out"
        summary = run([f"--input_list={manifest}", f"--output={out}", "--allow_private_urls",
                       "--runner=FnApiRunner", "--iterations=1", "--octaves=1"])
    assert (summary.dreamed, summary.failed) == (3, 0)
    assert len(read_jsonl(out / "metadata.jsonl")) == 3
    assert all(len(log) == 2 for log in logs.values())

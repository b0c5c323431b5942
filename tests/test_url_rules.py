"""http(s) inputs cannot be turned against the worker: real loopback servers, real sockets."""
from __future__ import annotations

import io
import time

import numpy as np
import pytest
from PIL import Image

from pipeline.run import run
from tests.conftest import read_jsonl
from tests.servers import endless_body, http_server, redirect_to, serve_bytes, trickle
from transforms.http_fetch import (
    DownloadTimeoutError,
    HTTPStatusError,
    InputTooLargeError,
    ShortBodyError,
    URLNotAllowedError,
    check_address,
    fetch_url,
)


def png_bytes() -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.random.default_rng(1).integers(0, 256, (40, 48, 3), dtype=np.uint8)).save(buffer, "PNG")
    return buffer.getvalue()


@pytest.mark.parametrize("address", [
    "127.0.0.1", "::1", "169.254.169.254", "10.1.2.3", "172.16.0.1", "192.168.1.1", "100.64.0.1",
    "0.0.0.0", "fe80::1", "fd00::1", "::ffff:127.0.0.1", "224.0.0.1",
])
def test_non_global_addresses_are_refused_unless_allowed(address):
    with pytest.raises(URLNotAllowedError):
        check_address(address, allow_private=False)
    check_address(address, allow_private=True)


def test_global_addresses_pass():
    for address in ("8.8.8.8", "2606:4700:4700::1111", "::ffff:8.8.8.8"):
        check_address(address, allow_private=False)


def test_a_loopback_url_is_refused_before_any_request_and_fetched_when_allowed():
    requests = []

    def count(request):
        requests.append(request.path)
        serve_bytes(b"image")(request)

    with http_server({"/x.png": count}) as base:
        with pytest.raises(URLNotAllowedError, match="--allow_private_urls"):
            fetch_url(f"{base}/x.png", 1000, 5)
        assert requests == []  # refused on the connected address, before a byte was sent
        assert fetch_url(f"{base}/x.png", 1000, 5, allow_private=True) == b"image"


def test_only_http_and_https_and_at_most_five_redirects():
    routes = {}
    with http_server(routes) as base:
        routes["/to-file"] = redirect_to("file:///etc/passwd")
        routes["/to-ftp"] = redirect_to("ftp://example.com/x.png")
        for i in range(7):
            routes[f"/hop{i}"] = redirect_to(f"/hop{i + 1}")
        routes["/hop7"] = serve_bytes(b"far")
        routes["/hop2-ok"] = redirect_to("/hop5")
        with pytest.raises(URLNotAllowedError, match="only http"):
            fetch_url(f"{base}/to-file", 1000, 5, allow_private=True)
        with pytest.raises(URLNotAllowedError, match="only http"):
            fetch_url(f"{base}/to-ftp", 1000, 5, allow_private=True)
        with pytest.raises(URLNotAllowedError, match="more than 5 redirects"):
            fetch_url(f"{base}/hop0", 1000, 5, allow_private=True)
        assert fetch_url(f"{base}/hop2", 1000, 5, allow_private=True) == b"far"  # 5 hops
    with pytest.raises(URLNotAllowedError, match="only http"):
        fetch_url("file:///etc/passwd", 1000, 5, allow_private=True)


def test_a_redirect_to_a_private_address_is_refused(monkeypatch):
    """The first server is taken as public (its address is allowed by hand), the redirect
    target on another loopback address is checked like any other address."""
    import transforms.http_fetch as http_fetch

    real_check = http_fetch.check_address
    monkeypatch.setattr(http_fetch, "check_address",
                        lambda address, allow: None if address == "127.0.0.1" else real_check(address, allow))
    hit = []
    with http_server({"/secret": lambda r: (hit.append(1), serve_bytes(b"metadata")(r))}, "127.0.0.2") as inner:
        with http_server({"/x.png": redirect_to(f"{inner}/secret")}) as outer:
            with pytest.raises(URLNotAllowedError, match="127.0.0.2"):
                fetch_url(f"{outer}/x.png", 1000, 5)
    assert hit == []


def test_endless_trickling_and_short_bodies_end_as_errors():
    with http_server({"/endless": endless_body, "/trickle": trickle(0.2),
                      "/short": serve_bytes(b"12345", length=10), "/big": serve_bytes(b"x" * 5000)}) as base:
        with pytest.raises(InputTooLargeError):
            fetch_url(f"{base}/endless", 100_000, 10, allow_private=True)
        with pytest.raises(InputTooLargeError):  # refused on the announced length
            fetch_url(f"{base}/big", 1000, 10, allow_private=True)
        started = time.monotonic()
        with pytest.raises(DownloadTimeoutError):  # each byte comes within any read timeout
            fetch_url(f"{base}/trickle", 1_000_000, 1.5, allow_private=True)
        assert time.monotonic() - started < 3
        with pytest.raises(ShortBodyError, match="5 of 10"):
            fetch_url(f"{base}/short", 1000, 5, allow_private=True)
        with pytest.raises(HTTPStatusError, match="404"):
            fetch_url(f"{base}/absent", 1000, 5, allow_private=True)


def test_non_ascii_url_paths_are_fetched():
    with http_server({"/été/ça va.png": serve_bytes(b"accents")}) as base:
        assert fetch_url(f"{base}/été/ça va.png", 1000, 5, allow_private=True) == b"accents"


def test_the_job_refuses_loopback_urls_by_default_and_accounts_for_each(tmp_path):
    image = png_bytes()
    routes = {"/a.png": serve_bytes(image), "/trickle.png": trickle(0.2),
              "/short.png": serve_bytes(image[:100], length=len(image))}
    with http_server(routes) as base:
        manifest = tmp_path / "urls.txt"
        manifest.write_text("\n".join(f"{base}{path}" for path in routes) + "\n")
        common = [f"--input_list={manifest}", "--runner=FnApiRunner", "--octaves=1",
                  "--iterations=1", "--http_timeout=2"]
        refused = run([*common, f"--output={tmp_path / 'refused'}"])
        allowed = run([*common, f"--output={tmp_path / 'allowed'}", "--allow_private_urls"])
    errors = read_jsonl(tmp_path / "refused" / "errors.jsonl")
    assert refused.failed == 3 and {e["error_type"] for e in errors} == {"URLNotAllowedError"}
    assert {e["stage"] for e in errors} == {"read"}
    errors = {e["uri"].rsplit("/", 1)[1]: e for e in read_jsonl(tmp_path / "allowed" / "errors.jsonl")}
    assert (allowed.dreamed, allowed.failed) == (1, 2)
    assert errors["trickle.png"]["error_type"] == "DownloadTimeoutError"
    assert errors["short.png"]["error_type"] == "ShortBodyError"

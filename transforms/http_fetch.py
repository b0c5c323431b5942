"""Download an http(s) URL so that it cannot be turned against the worker.

Only http and https, at most MAX_REDIRECTS redirects (each to http(s) again), one deadline
for the whole download, a byte cap, and by default no connection to a loopback, link-local
(the cloud metadata server), private or otherwise non-global address. The address is checked
on the socket actually connected, so a DNS answer cannot change between check and use.

A passing failure (429, 5xx, a reset or refused connection) is asked again, at most
`retries` times, waiting as urllib3's `Retry` decides (exponential backoff with jitter, or
the server's Retry-After), always within the same deadline; a 404, a refused address or an
oversized body is final.
"""
from __future__ import annotations

import http.client
import ipaddress
import socket
import time
import urllib.parse
from typing import Any

from urllib3.exceptions import MaxRetryError, ProtocolError
from urllib3.util.retry import Retry

MAX_REDIRECTS = 5
DEFAULT_HTTP_RETRIES = 3
BACKOFF_FACTOR = 0.5  # seconds before the first retry; then doubled, up to 8 s, with jitter
# Answers worth asking again: a timeout, rate limits, a server's passing trouble.
TRANSIENT_STATUS = (408, 429, 500, 502, 503, 504)
_REDIRECTS = (301, 302, 303, 307, 308)
_USER_AGENT = "beam-deepdream/0.1"
_CHUNK = 1 << 20
# Characters kept as they are in a path or query; everything else (spaces, non-ASCII) is
# percent-encoded, existing %XX escapes included as they are.
_PATH_SAFE = "/%!$&'()*+,;=:@~-._"


class URLNotAllowedError(ValueError):
    """The URL, a redirect or the address it reaches is not one this job may fetch."""


class HTTPStatusError(IOError):
    """The server answered with an error status."""

    def __init__(self, message: str, status: int = 0, headers: Any = None) -> None:
        super().__init__(message)
        self.status = status
        self.headers = headers if headers is not None else {}

    def get_redirect_location(self) -> bool:  # read by urllib3's Retry, as a response
        return False


class ShortBodyError(IOError):
    """The body ended before the length the server announced."""


class DownloadTimeoutError(TimeoutError):
    """The whole download took longer than its deadline."""


class InputTooLargeError(ValueError):
    """The input has more bytes than --max_bytes."""


def is_url(uri: str) -> bool:
    return uri.lower().startswith(("http://", "https://"))


def check_address(address: str, allow_private: bool) -> None:
    """Refuse a peer address that is not globally routable, unless private ones are allowed."""
    if allow_private:
        return
    ip = ipaddress.ip_address(address.split("%", 1)[0])  # drop an IPv6 zone id
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if not ip.is_global or ip.is_multicast:
        raise URLNotAllowedError(
            f"address {ip} is loopback, link-local, private or reserved (--allow_private_urls permits it)"
        )


def _checked_connector(allow_private: bool):
    """socket.create_connection that refuses the peer before a byte is sent to it."""

    def connect(address, timeout=None, source_address=None, **kwargs):
        sock = socket.create_connection(address, timeout, source_address, **kwargs)
        try:
            check_address(sock.getpeername()[0], allow_private)
        except BaseException:
            sock.close()
            raise
        return sock

    return connect


def _split(url: str) -> tuple[str, str, int | None, str]:
    """(scheme, ASCII host, port, request target) of an http(s) URL, percent-encoded."""
    parts = urllib.parse.urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise URLNotAllowedError(f"only http(s) URLs may be fetched, not {scheme or 'no'} scheme: {url}")
    if not parts.hostname:
        raise URLNotAllowedError(f"URL without a host: {url}")
    try:
        host = parts.hostname.encode("idna").decode("ascii") if not parts.hostname.isascii() else parts.hostname
    except UnicodeError as exc:
        raise URLNotAllowedError(f"host of {url} is not a valid name: {exc}") from None
    target = urllib.parse.quote(parts.path or "/", safe=_PATH_SAFE)
    if parts.query:
        target += "?" + urllib.parse.quote(parts.query, safe=_PATH_SAFE + "?")
    return scheme, host, parts.port, target


def _remaining(deadline: float, url: str, timeout_s: float) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise DownloadTimeoutError(f"{url}: download took longer than http_timeout={timeout_s:g}s")
    return left


def _read_body(response: http.client.HTTPResponse, sock_owner: http.client.HTTPConnection,
               url: str, max_bytes: int, deadline: float, timeout_s: float) -> bytes:
    announced = response.getheader("Content-Length")
    if announced is not None and announced.isdigit() and int(announced) > max_bytes:
        raise InputTooLargeError(f"{url} is larger than max_bytes={max_bytes}")
    chunks, size = [], 0
    while True:
        if sock_owner.sock is not None:  # each read may wait only what is left of the deadline
            sock_owner.sock.settimeout(_remaining(deadline, url, timeout_s))
        try:
            chunk = response.read1(_CHUNK)
        except TimeoutError:
            raise DownloadTimeoutError(f"{url}: download took longer than http_timeout={timeout_s:g}s") from None
        except http.client.IncompleteRead as exc:
            raise ShortBodyError(f"{url}: body ended after {size + len(exc.partial)} bytes") from None
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
        if size > max_bytes:
            raise InputTooLargeError(f"{url} is larger than max_bytes={max_bytes}")
        _remaining(deadline, url, timeout_s)
    if announced is not None and announced.isdigit() and size < int(announced):
        raise ShortBodyError(f"{url}: body ended after {size} of {announced} announced bytes")
    return b"".join(chunks)


def retry_policy(retries: int) -> Retry:
    """urllib3's policy for the attempts after the first."""
    return Retry(total=retries, connect=retries, read=retries, status=retries, other=0, redirect=False,
                 backoff_factor=BACKOFF_FACTOR, backoff_max=8.0, backoff_jitter=0.25,
                 status_forcelist=TRANSIENT_STATUS, respect_retry_after_header=True, raise_on_status=False)


def fetch_url(url: str, max_bytes: int, timeout_s: float, allow_private: bool = False,
              retries: int = DEFAULT_HTTP_RETRIES) -> bytes:
    """The body of `url`, following up to MAX_REDIRECTS http(s) redirects and asking again
    after passing failures (see retry_policy), all within timeout_s."""
    deadline = time.monotonic() + timeout_s
    retry = retry_policy(retries)
    while True:
        failure: Exception
        try:
            return _fetch_once(url, max_bytes, timeout_s, allow_private, deadline)
        except HTTPStatusError as exc:
            if exc.status not in TRANSIENT_STATUS:
                raise
            failure, answer, error = exc, exc, None
        except (ConnectionError, http.client.RemoteDisconnected, http.client.BadStatusLine) as exc:
            failure, answer, error = exc, None, ProtocolError(str(exc) or type(exc).__name__, exc)
        try:
            retry = retry.increment("GET", url, response=answer, error=error)  # type: ignore[arg-type]
        except MaxRetryError:
            raise failure from None
        wait = retry.get_retry_after(answer) if answer is not None else None  # type: ignore[arg-type]
        # urllib3 asks the first time again at once; a rate limit wants a pause: 0.5, 1, 2, ... s.
        wait = max(retry.get_backoff_time(), BACKOFF_FACTOR) if wait is None else wait
        if wait >= deadline - time.monotonic():
            raise DownloadTimeoutError(
                f"{url}: {failure}; the next try would come after http_timeout={timeout_s:g}s") from None
        time.sleep(wait)


def _fetch_once(url: str, max_bytes: int, timeout_s: float, allow_private: bool, deadline: float) -> bytes:
    for _ in range(MAX_REDIRECTS + 1):
        scheme, host, port, target = _split(url)
        kind = http.client.HTTPSConnection if scheme == "https" else http.client.HTTPConnection
        connection = kind(host, port, timeout=_remaining(deadline, url, timeout_s))
        connection._create_connection = _checked_connector(allow_private)  # type: ignore[attr-defined]
        try:
            try:
                connection.request("GET", target, headers={"User-Agent": _USER_AGENT})
                response = connection.getresponse()
            except TimeoutError:
                raise DownloadTimeoutError(f"{url}: no answer within http_timeout={timeout_s:g}s") from None
            if response.status in _REDIRECTS:
                location = response.getheader("Location")
                if not location:
                    raise HTTPStatusError(f"HTTP Error {response.status} without a Location: {url}", response.status)
                url = urllib.parse.urljoin(url, location)
                continue
            if response.status != 200:
                raise HTTPStatusError(f"HTTP Error {response.status}: {response.reason} ({url})",
                                      response.status, response.headers)
            return _read_body(response, connection, url, max_bytes, deadline, timeout_s)
        finally:
            connection.close()
    raise URLNotAllowedError(f"more than {MAX_REDIRECTS} redirects, last to {url}")

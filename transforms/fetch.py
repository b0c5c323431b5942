"""Read one input's bytes from any Beam filesystem or an http(s) URL, with a size cap."""
from __future__ import annotations

from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

from transforms.http_fetch import DEFAULT_HTTP_RETRIES, InputTooLargeError, fetch_url, is_url
from transforms.noise_input import is_noise

DEFAULT_MAX_BYTES = 200 * 1024 * 1024
DEFAULT_HTTP_TIMEOUT_S = 60.0

__all__ = ["DEFAULT_HTTP_RETRIES", "InputTooLargeError", "is_local", "is_url", "read_bytes"]


def is_local(uri: str) -> bool:
    """A path on this machine's disk (a noise: input is no file at all)."""
    return FileSystems.get_scheme(uri) in (None, "file") and not is_noise(uri)


_CHUNK = 1 << 20


def _read_capped(stream, uri: str, max_bytes: int) -> bytes:
    # In chunks: read(max_bytes + 1) would reserve a max_bytes buffer for every small file.
    chunks, size = [], 0
    while chunk := stream.read(min(_CHUNK, max_bytes + 1 - size)):
        chunks.append(chunk)
        size += len(chunk)
        if size > max_bytes:
            raise InputTooLargeError(f"{uri} is larger than max_bytes={max_bytes}")
    return b"".join(chunks)


def read_bytes(uri: str, max_bytes: int = DEFAULT_MAX_BYTES, timeout_s: float = DEFAULT_HTTP_TIMEOUT_S,
               allow_private_urls: bool = False, http_retries: int = DEFAULT_HTTP_RETRIES) -> bytes:
    """All of the input's bytes; never more than max_bytes are held.

    http(s) URLs go through `fetch_url` (Beam has no HTTP filesystem): one deadline of
    timeout_s for the whole download, global addresses only unless allow_private_urls.
    """
    if is_url(uri):
        return fetch_url(uri, max_bytes, timeout_s, allow_private_urls, http_retries)
    # UNCOMPRESSED: a file named *.gz is an input to decode, not to inflate.
    with FileSystems.open(uri, compression_type=CompressionTypes.UNCOMPRESSED) as stream:
        return _read_capped(stream, uri, max_bytes)

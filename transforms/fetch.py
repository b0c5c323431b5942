"""Read one input's bytes from any Beam filesystem or an http(s) URL, with a size cap."""
from __future__ import annotations

import urllib.request

from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

DEFAULT_MAX_BYTES = 200 * 1024 * 1024
DEFAULT_HTTP_TIMEOUT_S = 30.0
_USER_AGENT = "beam-deepdream/0.1 (+https://github.com/)"


class InputTooLargeError(ValueError):
    """The input has more bytes than --max_bytes."""


def is_local(uri: str) -> bool:
    return FileSystems.get_scheme(uri) in (None, "file")


def is_url(uri: str) -> bool:
    return uri.lower().startswith(("http://", "https://"))


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


def read_bytes(uri: str, max_bytes: int = DEFAULT_MAX_BYTES,
               timeout_s: float = DEFAULT_HTTP_TIMEOUT_S) -> bytes:
    """All of the input's bytes; never more than max_bytes are held."""
    if is_url(uri):
        # Beam has no HTTP filesystem: a bounded GET, with a timeout on connect and each read.
        request = urllib.request.Request(uri, headers={"User-Agent": _USER_AGENT})
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            return _read_capped(response, uri, max_bytes)
    # UNCOMPRESSED: a file named *.gz is an input to decode, not to inflate.
    with FileSystems.open(uri, compression_type=CompressionTypes.UNCOMPRESSED) as stream:
        return _read_capped(stream, uri, max_bytes)

"""Stage a weights or model file given as any Beam filesystem URI to local disk, once per worker."""
from __future__ import annotations

import os
import posixpath
import tempfile
import uuid

from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

from transforms.fetch import is_local
from transforms.naming import short_hash

_STAGING_DIR = os.path.join(tempfile.gettempdir(), "beam-deepdream-weights")


def stage_weights(uri: str | None) -> str | None:
    """A local path for `uri` (None stays None: the model's default source)."""
    if uri is None or is_local(uri):
        if uri is not None and not os.path.isfile(uri):
            raise FileNotFoundError(f"{uri!r}: no such file")
        return uri
    local = os.path.join(_STAGING_DIR, f"{short_hash(uri)}-{posixpath.basename(uri)}")
    if not os.path.isfile(local):
        os.makedirs(_STAGING_DIR, exist_ok=True)
        partial = f"{local}.{uuid.uuid4().hex}.tmp"
        with FileSystems.open(uri, compression_type=CompressionTypes.UNCOMPRESSED) as src:
            with open(partial, "wb") as dst:
                while chunk := src.read(1 << 24):
                    dst.write(chunk)
        os.replace(partial, local)  # concurrent stagers each rename a complete copy
    return local

"""Write each dreamed image atomically, then emit its metadata record."""
from __future__ import annotations

import json
import os
import re
import uuid
from typing import Any, Callable, Iterable, Mapping

from apache_beam.io.filesystems import FileSystems

from transforms.elements import DreamedImage
from transforms.fetch import is_local
from transforms.imaging import encode_image, extension
from transforms.records import metadata_record
from transforms.resume import input_key, record_path
from transforms.settings_stamp import stamp_text, with_input_mask
from transforms.stages import FallibleStage

# Temporaries of write_atomically: the only '*.tmp' files start-up cleanup may delete.
TEMP_SUFFIX_BYTES = len(".deepdream-0123456789abcdef.tmp")
TEMP_NAME = re.compile(r"\.deepdream-[0-9a-f]{16}\.tmp$")


class OutsideOutputError(OSError):
    """A write would land outside --output (a symbolic link inside it points elsewhere)."""


def check_inside(path: str, root: str) -> None:
    """Local disk: refuse a path whose folder resolves, through links, outside `root`."""
    real_root = os.path.realpath(root)
    folder = os.path.realpath(os.path.dirname(path))
    if folder != real_root and not folder.startswith(real_root.rstrip(os.sep) + os.sep):
        raise OutsideOutputError(f"{path!r} resolves to {folder!r}, outside the output {root!r}")


def write_atomically(path: str, data: bytes, root: str | None = None) -> None:
    """No reader ever sees a partial file at `path`; with `root`, no link inside it carries
    the write outside it.

    Local disk: write a temporary sibling, then rename over the final name. Object stores
    (gs://, s3://) publish an object only when its upload completes, so the final name is
    written once, directly.
    """

    def write_into(target: str) -> None:
        with FileSystems.create(target) as f:
            f.write(data)

    _publish(path, root, write_into)


def publish_file(local_path: str, path: str, root: str | None = None, chunk: int = 1 << 22) -> None:
    """write_atomically for a finished local file, copied in chunks: memory follows a
    chunk, not the file (a dreamed video)."""

    def write_into(target: str) -> None:
        with open(local_path, "rb") as source, FileSystems.create(target) as sink:
            while block := source.read(chunk):
                sink.write(block)

    _publish(path, root, write_into)


def _publish(path: str, root: str | None, write_into: Callable[[str], None]) -> None:
    if not is_local(path):
        write_into(path)
        return
    if root is not None:
        check_inside(path, root)
    partial = f"{path}.deepdream-{uuid.uuid4().hex[:16]}.tmp"
    try:
        write_into(partial)
        FileSystems.rename([partial], [path])
    except BaseException:
        if FileSystems.exists(partial):
            FileSystems.delete([partial])
        raise


class WriteDream(FallibleStage):
    stage, outcome = "write", "written"

    def __init__(
        self, output_dir: str, image_format: str, quality: int,
        jobs: Mapping[str, Mapping[str, Any]], settings_keys: Mapping[str, str],
        stamps: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> None:
        """`jobs` and `settings_keys`: the metadata settings and key of each recipe name;
        `stamps`: what each recipe's images carry (settings_stamp; None: nothing)."""
        super().__init__()
        self._output_dir = output_dir
        self._format = image_format
        self._quality = quality
        self._jobs = {name: dict(job) for name, job in jobs.items()}
        self._settings_keys = dict(settings_keys)
        self._stamps = {name: dict(stamp) for name, stamp in (stamps or {}).items()}

    def uri_of(self, element: DreamedImage) -> str:
        return element.decoded.source.uri

    def run(self, element: DreamedImage) -> Iterable[dict[str, Any]]:
        stem, preset = element.decoded.source.stem, element.decoded.source.recipe
        path = FileSystems.join(self._output_dir, stem + extension(self._format))
        stamp = stamp_text(with_input_mask(self._stamps.get(preset), element.decoded.source.mask),
                           element.decoded.source.uri)
        write_atomically(path, encode_image(element.result.image, self._format, self._quality, stamp),
                         self._output_dir)
        source = element.decoded.source
        job = {**self._jobs[preset], **({"mask": source.mask} if source.mask else {})}
        record = metadata_record(element, path, job, input_key(self._settings_keys[preset], source.mask))
        # The record goes last: its presence tells a rerun that this input is finished.
        write_atomically(record_path(self._output_dir, stem), json.dumps(record).encode("utf-8"),
                         self._output_dir)
        yield record

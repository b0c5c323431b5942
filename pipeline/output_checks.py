"""Launch-time check that the output location takes writes, before any image is dreamed."""
from __future__ import annotations

import logging
import os
import uuid

from apache_beam.io.filesystems import FileSystems

from pipeline.config import ConfigError, one_line
from transforms.fetch import is_local

PROBE_DIR = ".deepdream"


def check_output_writable(output_dir: str) -> None:
    """Write and delete a small probe object: a missing bucket, a denied write or a
    read-only directory stops the job here instead of after hours of dreaming."""
    probe = FileSystems.join(output_dir, PROBE_DIR, f"probe-{uuid.uuid4().hex[:16]}")
    created = _missing_folders(os.path.dirname(probe)) if is_local(output_dir) else []
    # Filesystems log their own failures (S3's as bare ERROR lines); ours is the one to show.
    logging.disable(logging.ERROR)
    try:
        with FileSystems.create(probe) as f:
            f.write(b"beam-deepdream write probe\n")
        FileSystems.delete([probe])
    except Exception as exc:  # any filesystem's way of saying no
        raise ConfigError(f"--output {output_dir!r} is not writable: {_first_cause(exc)}") from None
    finally:
        logging.disable(logging.NOTSET)
        for folder in created:  # a job that stops at a later check leaves no trace
            try:
                os.rmdir(folder)
            except OSError:
                break


def _missing_folders(folder: str) -> list[str]:
    """The folders, deepest first, that writing into `folder` would create."""
    missing = []
    folder = os.path.abspath(folder)
    while not os.path.exists(folder):
        missing.append(folder)
        parent = os.path.dirname(folder)
        if parent == folder:
            break
        folder = parent
    return missing


def _first_cause(exc: BaseException) -> str:
    """Beam wraps the store's error (BeamIOError with a dict of causes): show the cause."""
    causes = getattr(exc, "exception_details", None)
    if isinstance(causes, dict) and causes:
        exc = next(iter(causes.values()))
    return one_line(exc, 200)

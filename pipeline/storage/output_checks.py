"""Launch-time check that the output location takes writes, before any image is dreamed."""
from __future__ import annotations

import logging
import os
import re
import uuid
from typing import Sequence

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


# Names the job may write under --output: its images and sequences (animations keep their
# container, the rest are MP4), per-frame Parquet, the result files, frame folders, records.
_OUTPUT_PROBES = (
    "x.gif", "x.png", "x.webp", "x.mp4", "x.frames.parquet", "metadata.jsonl", "metadata.parquet",
    "errors.jsonl", "sequences.jsonl", "report.html", "x_frames/000001.png", "sub/x.png",
    ".deepdream/records/x.json", ".deepdream/segments/x/00000/000001.png",
)


def glob_regex(pattern: str) -> re.Pattern[str]:
    """A Beam file pattern as a regex: '**' crosses folders, '*' and '?' do not."""
    parts, i = [], 0
    while i < len(pattern):
        if pattern.startswith("**", i):
            parts.append(".*")
            i += 2
        elif pattern[i] == "*":
            parts.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            parts.append("[^/]")
            i += 1
        elif pattern[i] == "[" and "]" in pattern[i + 1:]:
            end = pattern.index("]", i + 1)
            parts.append("[" + pattern[i + 1:end].replace("!", "^", 1) + "]")
            i = end + 1
        else:
            parts.append(re.escape(pattern[i]))
            i += 1
    return re.compile("".join(parts) + r"\Z")


def check_output_outside_inputs(patterns: Sequence[str], folders: Sequence[str], output: str,
                                image_extension: str) -> None:
    """Refuse an output that an input pattern would read back: a rerun would dream the
    job's own images, records and result files (or report them as failed inputs)."""
    root = output.rstrip("/")
    probes = [f"{root}/{name}" for name in (*_OUTPUT_PROBES, "x" + image_extension)]
    for option, pattern in [*(("--input", p) for p in patterns), *(("--sequence", p) for p in folders)]:
        regex = glob_regex(pattern.rstrip("/") + ("/*" if option == "--sequence" else ""))
        hit = next((probe for probe in probes if regex.match(probe)), None)
        if hit is not None:
            raise ConfigError(
                f"{option} {pattern!r} would read this job's own output back ({hit[len(root) + 1:]!r} "
                f"under --output {output!r}): choose an --output outside what the pattern matches"
            )

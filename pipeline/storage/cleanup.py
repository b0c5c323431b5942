"""Remove what an interrupted earlier run of this job left half-done in the output.

Only names this job's own writers make are touched: `<file>.deepdream-<16 hex>.tmp` from
`write_atomically`, and Beam's `beam-temp-<sink file>-<32 hex>` folders of this job's three
sink files, and on S3 the multipart uploads a failed writer left open under the output. A
user's own `notes.tmp` or `beam-temp-x` stays. Call it only while holding the output's lease,
so that no live job's temporaries are taken.
"""
from __future__ import annotations

import os
import re

from apache_beam.io.filesystems import FileSystems
from apache_beam.options.pipeline_options import PipelineOptions

from transforms.fetch import is_local
from transforms.write import TEMP_NAME

SINK_FILES = ("metadata.jsonl", "metadata.parquet", "sequences.jsonl", "errors.jsonl")
_SINK_TEMP_DIR = re.compile(r"beam-temp-({})-[0-9a-f]{{32}}".format("|".join(map(re.escape, SINK_FILES))))


def _relative(output_dir: str, path: str) -> str:
    return path[len(output_dir):].lstrip("/\\") if path.startswith(output_dir) else path


def remove_stale_temporaries(output_dir: str, options: PipelineOptions | None = None) -> int:
    """Delete leftovers of a killed or failed run of this job; returns how many (files and
    open uploads)."""
    output_dir = output_dir.rstrip("/\\") if len(output_dir) > 1 else output_dir
    patterns = [
        FileSystems.join(output_dir, "**.deepdream-*.tmp"),
        FileSystems.join(output_dir, "beam-temp-*", "**"),
    ]
    found = {m.path for result in FileSystems.match(patterns) for m in result.metadata_list}
    stale = sorted(
        path for path in found
        if TEMP_NAME.search(os.path.basename(path))
        or _SINK_TEMP_DIR.fullmatch(re.split(r"[/\\]", _relative(output_dir, path))[0])
    )
    if stale:
        FileSystems.delete(stale)
    if is_local(output_dir) and os.path.isdir(output_dir):
        # Object stores have no directories; on local disk the sink's empty ones remain.
        sink_dirs = [e.path for e in os.scandir(output_dir)
                     if _SINK_TEMP_DIR.fullmatch(e.name) and e.is_dir(follow_symlinks=False)]
        if sink_dirs:
            FileSystems.delete(sink_dirs)
    aborted = 0
    if FileSystems.get_scheme(output_dir) == "s3":
        from pipeline.storage.s3 import abort_open_uploads

        aborted = abort_open_uploads(output_dir, options or PipelineOptions())
    return len(stale) + aborted

"""Remove what an interrupted earlier run left half-done in the output directory."""
from __future__ import annotations

import os

from apache_beam.io.filesystems import FileSystems

from transforms.fetch import is_local

# Temporary files of atomic image/record writes, and WriteToText's temporary directories.
_TEMP_FILES = "**.tmp"
_SINK_TEMP_DIRS = "beam-temp-*"


def remove_stale_temporaries(output_dir: str) -> int:
    """Delete leftovers of a killed run; returns how many files. One job per output at a time."""
    patterns = [
        FileSystems.join(output_dir, _TEMP_FILES),
        FileSystems.join(output_dir, _SINK_TEMP_DIRS, "**"),
    ]
    stale = sorted({m.path for result in FileSystems.match(patterns) for m in result.metadata_list})
    if stale:
        FileSystems.delete(stale)
    if is_local(output_dir) and os.path.isdir(output_dir):
        # Object stores have no directories; on local disk the sink's empty ones remain.
        sink_dirs = [e.path for e in os.scandir(output_dir) if e.name.startswith("beam-temp-")]
        if sink_dirs:
            FileSystems.delete(sink_dirs)
    return len(stale)

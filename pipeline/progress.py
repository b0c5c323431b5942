"""A live progress line for local runs: images finished, rate and ETA.

Runners do not expose live counters to the launcher, so this watches what a finished image
leaves behind: its record in OUTPUT/.deepdream/records (local outputs only).
"""
from __future__ import annotations

import os
import sys
import threading
import time
from typing import TextIO

from transforms.resume import RECORDS_DIR


def _count_records(root: str) -> int:
    return sum(len(files) for _, _, files in os.walk(root))


class ProgressLine:
    """Prints 'N/TOTAL images done, R/s, ETA' every `interval` seconds while running."""

    def __init__(self, output_dir: str, total: int | None, stream: TextIO = sys.stderr,
                 interval: float = 2.0) -> None:
        self._root = os.path.join(output_dir, RECORDS_DIR)
        self._total = total
        self._stream = stream
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> ProgressLine:
        # The baseline (records an earlier run left) is taken before the job starts.
        self._started, self._at_start = time.monotonic(), _count_records(self._root)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._stream.write("\n")

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            done = _count_records(self._root)
            rate = (done - self._at_start) / (time.monotonic() - self._started)
            line = f"{done}/{self._total if self._total is not None else '?'} images done, {rate:.2f}/s"
            if self._total is not None and rate > 0:
                line += f", ETA {max(self._total - done, 0) / rate:.0f} s"
            self._stream.write(f"\r{line}   ")
            self._stream.flush()

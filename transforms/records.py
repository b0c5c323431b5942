"""The elements passed between pipeline steps, and the records the job writes. No Beam here."""
from __future__ import annotations

import traceback
from typing import Any, NamedTuple

import numpy as np

from transforms.dream.engine import DreamResult


class InputFile(NamedTuple):
    uri: str
    stem: str  # output path relative to --output, without extension
    # The recipe it is dreamed with: a manifest row's own preset, else None until
    # CheckPreset puts the job's there; every later step finds it set.
    preset: str | None = None


class ImageBytes(NamedTuple):
    source: InputFile
    data: bytes


class ImageToDream(NamedTuple):
    source: InputFile
    rgb: np.ndarray  # uint8 HxWx3, as it will be dreamed (after any --max_size downscale)
    source_format: str
    source_mode: str
    source_width: int
    source_height: int


class DreamedImage(NamedTuple):
    decoded: ImageToDream
    result: DreamResult
    device: str  # where the ascent ran, e.g. "GPU:0 (NVIDIA L4)" or "CPU:0"
    worker: str  # host:pid of the worker process that dreamed it
    tile_size: int = 0  # tiles it was dreamed in (0: whole), automatic ones included


def error_record(uri: str, step: str, exc: BaseException) -> dict[str, Any]:
    """One line of errors.jsonl: which input, which step, what went wrong."""
    return {
        "uri": uri,
        "step": step,
        "error_type": type(exc).__name__,
        "message": str(exc) or repr(exc),
        "traceback": "".join(traceback.format_exception_only(type(exc), exc)).strip(),
    }

"""The elements passed between pipeline stages (in flight, never written). No Beam here."""
from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

import numpy as np

from transforms.frames import SequenceInfo

if TYPE_CHECKING:  # the engine imports TensorFlow: the report and the launcher need not
    from transforms.dream.engine import DreamResult


class InputFile(NamedTuple):
    uri: str
    stem: str  # output path relative to --output, without extension
    # The recipe it is dreamed with: a manifest row's own preset, else None until
    # CheckPreset puts the job's there; every later step finds it set.
    preset: str | None = None
    folder: bool = False  # a folder of frames (--sequence), one sequence
    mask: str | None = None  # a manifest row's own mask (its `mask` column), else the recipe's

    @property
    def recipe(self) -> str:
        """The name of the recipe this input is dreamed with (stages after CheckPreset)."""
        if self.preset is None:
            raise ValueError(f"{self.uri}: no recipe chosen yet (CheckPreset comes first)")
        return self.preset


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


class SequenceToDream(NamedTuple):
    source: InputFile
    info: SequenceInfo


class Segment(NamedTuple):
    """Frames start <= i < stop of a sequence, dreamed on one worker after `warmup` earlier
    frames (dreamed, then dropped) so that the cut does not show."""

    source: InputFile
    info: SequenceInfo
    number: int  # counted from 0
    start: int
    stop: int
    total: int  # segments in the sequence


class DreamedSegment(NamedTuple):
    segment: Segment
    frames: tuple[dict, ...]  # one record per frame: index, losses, occluded, seconds
    resumed: bool  # finished by an earlier run with the same settings
    device: str
    worker: str
    error: str | None = None  # why the segment failed ("ErrorType: message")
    warm_frames: tuple[int, ...] = ()  # warm-up frames kept, to cross-fade into the segment before

"""Dream a sequence of frames in order, each starting from the one before (temporal.py).

Streams: one input frame in, one dreamed frame out; only the previous input and dream are
held, so memory follows a frame, not the sequence. No Beam here.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Iterable, Iterator

import numpy as np

from transforms.dream.engine import Dreamer, DreamResult
from transforms.dream.params import DreamParams
from transforms.dream.temporal import TemporalParams, start_frame


@dataclass(frozen=True)
class DreamedFrame:
    index: int  # in the sequence (after --frame_step), counted from 0
    result: DreamResult
    occluded: float  # fraction of pixels whose carried change was dropped (0 for a first frame)
    warm: bool  # started from the previous frame's dream


def dream_frames(
    dreamer: Dreamer,
    frames: Iterable[tuple[int, np.ndarray]],
    params: DreamParams,
    temporal: TemporalParams = TemporalParams(),
    warm_iterations: int | None = None,
) -> Iterator[DreamedFrame]:
    """(index, uint8 HxWx3 frame) in order -> DreamedFrame each. Frames after the first,
    once warm, take `warm_iterations` steps per octave (None: params.iterations)."""
    warm_params = params if warm_iterations is None else dataclasses.replace(params, iterations=warm_iterations)
    previous_input: np.ndarray | None = None
    previous_dream: np.ndarray | None = None
    for index, frame in frames:
        start, occluded = start_frame(previous_input, previous_dream, frame, temporal)
        warm = previous_dream is not None and temporal.temporal != "none" and temporal.blend > 0
        # Seeded per frame, so a segment dreamed on its own matches the same frames of one run.
        frame_params = dataclasses.replace(warm_params if warm else params, seed=params.seed + index)
        result = dreamer.dream(start, frame_params)
        previous_input, previous_dream = frame, result.image
        yield DreamedFrame(index, result, occluded, warm)
